"""The P1 meter as Home Assistant sees it: per-phase and total power sampled every second.

A DSMR 5 meter sends a telegram every second; HA's HomeWizard integration polls every 5 s. A
reading taken at time ``t`` returns the last sample of a completed poll period, in whole watts.
"""

from __future__ import annotations

from array import array
import math


class Meter:
    """Per-second samples of the grid power (W, positive = import) per phase and in total."""

    def __init__(self, seconds: int, phases: int = 3, poll_s: float = 1.0) -> None:
        self.poll_s = poll_s
        self.phases = tuple(array("d", bytes(8 * seconds)) for _ in range(phases))
        self.total = array("d", bytes(8 * seconds))
        self.count = 0  # samples recorded so far

    def record(self, phase_w: list[float]) -> None:
        """Store the sample of the second that just ended."""
        k = self.count
        total = 0.0
        for ph, watts in enumerate(phase_w):
            self.phases[ph][k] = watts
            total += watts
        self.total[k] = total
        self.count = k + 1

    def _index(self, t: float) -> int:
        """Index of the sample HA holds at time t (-1: none yet)."""
        completed = min(self.count, math.floor(t + 1e-9))  # seconds fully recorded by t
        if self.poll_s > 1.0:
            completed = math.floor(math.floor(completed / self.poll_s) * self.poll_s)
        return completed - 1

    def read_total(self, t: float) -> float:
        k = self._index(t)
        return float(round(self.total[k])) if k >= 0 else 0.0

    def read_phase(self, phase: int, t: float) -> float:
        k = self._index(t)
        return float(round(self.phases[phase][k])) if k >= 0 else 0.0
