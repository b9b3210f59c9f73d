"""Pure energy bookkeeping: what each battery charged and discharged, the loss, the saving.

The batteries' AC power (W, positive = discharging) is integrated over time, each value
holding until the next (what a sampled power meter shows). The conversion loss applies the
engine's loss model (``efficiency.loss_w``) to the actual powers; the saving is the loss an even
split of the same power over the same batteries would have had, minus the actual loss.
Nothing here imports Home Assistant.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Final

from .efficiency import loss_w, water_fill
from .model import DEFAULT_EFFICIENCY_TABLE, EfficiencyTable, Mode

WS_PER_KWH: Final = 3_600_000.0
MAX_GAP_S: Final = 600.0  # a longer silence (Home Assistant stopped) is not integrated


@dataclass(frozen=True, slots=True)
class Sample:
    """One battery's AC power now (None: unknown) and its most W each way."""

    power_w: float | None
    max_charge_w: int = 2500
    max_discharge_w: int = 2500


def interval_loss_w(
    powers: Mapping[str, Sample], table: EfficiencyTable = DEFAULT_EFFICIENCY_TABLE
) -> tuple[float, float]:
    """Return the modelled loss (W) of the actual powers and of an even split of them.

    Each direction is split evenly over the batteries whose power is known, within their
    maximum for that direction (beyond their sum, the actual powers count as the split).
    """
    actual = 0.0
    even = 0.0
    known = [sample for sample in powers.values() if sample.power_w is not None]
    for mode, sign in ((Mode.DISCHARGE, 1.0), (Mode.CHARGE, -1.0)):
        watts = [max(0.0, sign * (sample.power_w or 0.0)) for sample in known]
        total = sum(watts)
        if total <= 0:
            continue
        loss = sum(loss_w(mode, w, table) for w in watts)
        actual += loss
        caps = [
            float(max(0, s.max_discharge_w if mode is Mode.DISCHARGE else s.max_charge_w))
            for s in known
        ]
        if sum(caps) < total:
            even += loss
            continue
        even += sum(loss_w(mode, share, table) for share in water_fill(total, caps))
    return actual, even


@dataclass(slots=True)
class EnergyMeter:
    """Counters in kWh: charged and discharged per battery and in total, loss and saving today."""

    table: EfficiencyTable = DEFAULT_EFFICIENCY_TABLE
    charged: dict[str, float] = field(default_factory=dict)
    discharged: dict[str, float] = field(default_factory=dict)
    loss_today: float = 0.0
    saved_today: float = 0.0
    day: date | None = None
    # The hub's own totals: every battery's increments added up as they come. Not the sum of
    # the counters that exist now: a removed battery, or one whose counter is disabled, must
    # not lower a total (the recorder would take the drop for a meter reset).
    total_charged: float = 0.0
    total_discharged: float = 0.0
    _last: datetime | None = None
    _samples: dict[str, Sample] = field(default_factory=dict)

    def advance(self, now: datetime, today: date) -> None:
        """Count the powers held since the last call up to now; a new day resets today's."""
        if self.day is not None and today != self.day:
            self.loss_today = self.saved_today = 0.0
        self.day = today
        last, self._last = self._last, now
        if last is None:
            return
        seconds = (now - last).total_seconds()
        if not 0 < seconds <= MAX_GAP_S:
            return
        for key, sample in self._samples.items():
            if sample.power_w is None:
                continue
            kwh = abs(sample.power_w) * seconds / WS_PER_KWH
            if sample.power_w > 0:
                self.discharged[key] = self.discharged.get(key, 0.0) + kwh
                self.total_discharged += kwh
            elif sample.power_w < 0:
                self.charged[key] = self.charged.get(key, 0.0) + kwh
                self.total_charged += kwh
        actual, even = interval_loss_w(self._samples, self.table)
        self.loss_today += actual * seconds / WS_PER_KWH
        self.saved_today += (even - actual) * seconds / WS_PER_KWH

    def set(self, key: str, sample: Sample) -> None:
        """Take a battery's power from now on (call advance first)."""
        self._samples[key] = sample
