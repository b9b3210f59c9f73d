"""The meter-age rules the benchmark measures (bench only, never shipped to users).

``ramp_w`` carries a ramp of the house's demand in progress forward to now; ``early_cycle``
runs a cycle as soon as the meter shows that the demand moved. Measured on the simulator
(``bench/learn.py``), neither is in the integration's loop; they live here beside the
controllers that use them (``controllers/inflight_ctl.py``).
"""

from __future__ import annotations

from dataclasses import dataclass
import math
from typing import TYPE_CHECKING, Final

if TYPE_CHECKING:
    from custom_components.marstek_strategy.core.inflight import InFlight


# ----------------------------------------------------------------------------- the meter's age
#
# A cycle reads the meter's last completed sample: the house's demand of up to a second (a 5 s
# meter: up to five) ago. Measured on the simulator, that age is what separates the loop from
# the ideal reaction at the same cycle (a perfect, instantaneous meter); a perfect estimate of
# the batteries closes nothing of it. Two rules address it: ``ramp_w`` carries a ramp in
# progress (a cloud's edge, a heat pump starting) forward to now, at the same cycle times;
# ``early_cycle`` runs a cycle as soon as the meter shows that the demand moved (more cycles).

#: Samples ``ramp_w`` looks at (the latest and the two before it).
RAMP_SAMPLES: Final = 3


@dataclass(frozen=True, slots=True)
class RampRule:
    """When the house's demand counts as ramping, and how far the ramp is carried forward.

    A ramp: both slopes between the last three samples have the same sign, are each above
    ``min_slope_w_s`` and within ``max_ratio`` of each other (a step or a spike gives one
    large slope and one small one: no ramp). It is carried to ``now + lead_s``, at most
    ``max_ahead_s`` past the latest sample. Samples further apart than ``max_gap_s`` (a meter
    polled every 5 s) give no ramp: over 10 s a slope is too old to carry forward (measured:
    it costs more than it gains).
    """

    min_slope_w_s: float = 20.0
    max_ratio: float = 2.0
    lead_s: float = 0.5
    max_ahead_s: float = 2.0
    max_gap_s: float = 2.0


def ramp_w(
    samples: tuple[tuple[float, float], ...], now_s: float, rule: RampRule | None = None
) -> float:
    """Return the W to add to the latest demand sample for a ramp in progress (0.0: none).

    samples: (time s, house demand W) of the meter's last ``RAMP_SAMPLES`` samples, oldest
    first, each demand the grid reading plus the batteries' modelled AC power at that time
    (``house_demand_w``). Fewer samples, equal times or no ramp give 0.0.
    """
    rule = rule or RampRule()
    if len(samples) < RAMP_SAMPLES:
        return 0.0
    (t0, d0), (t1, d1), (t2, d2) = samples[-RAMP_SAMPLES:]
    if not all(map(math.isfinite, (t0, t1, t2, d0, d1, d2, now_s))):
        return 0.0
    if not (t0 < t1 < t2) or t2 - t0 > 2.0 * rule.max_gap_s or t2 - t1 > rule.max_gap_s:
        return 0.0
    before = (d1 - d0) / (t1 - t0)
    latest = (d2 - d1) / (t2 - t1)
    if before * latest <= 0.0 or min(abs(before), abs(latest)) <= rule.min_slope_w_s:
        return 0.0
    if not 1.0 / rule.max_ratio <= latest / before <= rule.max_ratio:
        return 0.0
    ahead = min(max(0.0, now_s + rule.lead_s - t2), rule.max_ahead_s)
    return ahead * (before + latest) / 2.0


def house_demand_w(grid_w: float, at_s: float, batteries: tuple[InFlight, ...]) -> float:
    """Return the house's demand at a meter sample: grid W plus every battery's model at at_s.

    The model alone (no AC reading): ``ramp_w`` uses differences only, and a reading's
    offset is the same for every sample.
    """
    return grid_w + sum(battery.model_w(at_s) for battery in batteries)


class MeterSamples:
    """The grid meter's last samples (time of the sample s, W), newest last."""

    __slots__ = ("_samples",)

    def __init__(self) -> None:
        """Start empty."""
        self._samples: list[tuple[float, float]] = []

    def add(self, at_s: float, grid_w: float) -> None:
        """Record a sample; one not newer than the latest, or not finite, is ignored."""
        if not (math.isfinite(at_s) and math.isfinite(grid_w)):
            return
        if self._samples and at_s <= self._samples[-1][0]:
            return
        self._samples.append((at_s, grid_w))
        del self._samples[:-RAMP_SAMPLES]

    def demands(self, batteries: tuple[InFlight, ...]) -> tuple[tuple[float, float], ...]:
        """Return (time, house demand W) of the kept samples, for ``ramp_w``."""
        return tuple((at, house_demand_w(w, at, batteries)) for at, w in self._samples)


@dataclass(frozen=True, slots=True)
class EarlyRule:
    """When the meter may bring the next cycle forward (an option: it adds cycles)."""

    threshold_w: float = 300.0  # the house's demand moved by more than this since the cycle
    min_gap_s: float = 2.0  # never sooner than this after the previous cycle


def early_cycle(
    now_s: float,
    *,
    last_cycle_s: float,
    settle_until_s: float,
    demand_w: float,
    cycle_demand_w: float,
    rule: EarlyRule | None = None,
) -> bool:
    """Return whether to run a cycle now, before the regular one.

    demand_w: the house's demand now (meter + ``InFlight.delivered_w``); cycle_demand_w: the
    same when the last cycle ran. Never while settling after a start (until settle_until_s)
    nor sooner than ``min_gap_s`` after the last cycle.
    """
    rule = rule or EarlyRule()
    if now_s < settle_until_s or now_s - last_cycle_s < rule.min_gap_s:
        return False
    moved = demand_w - cycle_demand_w
    return math.isfinite(moved) and abs(moved) > rule.threshold_w
