"""Learn one battery's conversion efficiency and power correction from its own readings.

Pure: nothing here imports Home Assistant, so the integration and the benchmark run the same
code. The board reports the AC power at the inverter (positive while discharging) and the DC
power at the battery (positive while charging); on steady samples their ratio is the
conversion efficiency at that AC power:

* charging: efficiency = DC / |AC| (watts reaching the cells per watt taken from the wall);
* discharging: efficiency = |AC| / |DC| (watts at the wall per watt taken from the cells).

Samples are binned by AC power around the rows of the default table. A bin keeps its most
recent samples (so a drifting battery is followed), rejects outliers against its median, and
counts as measured from ``MIN_SAMPLES`` on. The learned table blends each row from the
default to the measured median as evidence grows (weight ``n / (n + BLEND_SAMPLES)``, n the
samples accepted so far, not only those in the window, so a well-known bin ends at the
measurement), so one odd reading never swings the strategy. A bin without evidence of its own
moves with its nearest measured bin (same direction): a battery a few points worse everywhere
is learned everywhere from the powers it runs at.

The correction factor is learned the same way: delivered |AC| per commanded watt, blended
from the seed's fixed factor. ``to_dict``/``from_dict`` give a JSON form for a ``Store``.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
import math
from statistics import median
from typing import Any, Final

from .model import DEFAULT_EFFICIENCY_TABLE, EfficiencyTable, Mode

WINDOW: Final = 60  # most recent samples kept per bin (older ones age out: drift)
MIN_SAMPLES: Final = 10  # a bin counts as measured from this many accepted samples
BLEND_SAMPLES: Final = 20  # weight of the measured median: n / (n + BLEND_SAMPLES)
MIN_EFFICIENCY: Final = 0.2  # a ratio outside (MIN_EFFICIENCY, 1] is not a real efficiency
OUTLIER_FLOOR: Final = 0.03  # never reject closer than this to the bin's median
OUTLIER_MADS: Final = 4.0  # reject beyond this many median absolute deviations
MIN_FACTOR_W: Final = 100  # correction factors are learned from commands of at least this
FACTOR_RANGE: Final = (0.8, 1.25)  # a delivered/commanded ratio outside this is rejected
MAX_COUNT: Final = 100_000  # accepted samples counted per bin (the weight saturates)
STORAGE_VERSION: Final = 2

#: The seed's fixed correction factors: commanded W per grid W, by mode.
SEED_FACTORS: Final = {Mode.CHARGE: 0.957, Mode.DISCHARGE: 1.026}

_DIRECTIONS: Final = (Mode.CHARGE, Mode.DISCHARGE)


@dataclass(frozen=True, slots=True)
class Sample:
    """One steady reading of a running battery (the caller judges steadiness)."""

    mode: Mode  # the mode it was commanded
    commanded_w: int  # the power it was commanded (> 0)
    ac_w: float  # AC power at the inverter, positive while discharging
    dc_w: float  # DC power at the battery, positive while charging


def efficiency_of(sample: Sample) -> float | None:
    """Return the conversion efficiency a sample shows, or None when it shows none."""
    values = (sample.ac_w, sample.dc_w)
    if not all(math.isfinite(value) for value in values):
        return None
    if sample.mode is Mode.CHARGE and sample.ac_w < 0 < sample.dc_w:
        ratio = sample.dc_w / -sample.ac_w
    elif sample.mode is Mode.DISCHARGE and sample.dc_w < 0 < sample.ac_w:
        ratio = sample.ac_w / -sample.dc_w
    else:
        return None  # stopped, idle or signs that contradict the mode
    return ratio if _efficiency_ok(ratio) else None


def _efficiency_ok(value: float) -> bool:
    """Return whether value is a real conversion efficiency: in (MIN_EFFICIENCY, 1]."""
    return MIN_EFFICIENCY < value <= 1.0


def _ratio_ok(value: float) -> bool:
    """Return whether value is a plausible delivered/commanded ratio: in FACTOR_RANGE."""
    return FACTOR_RANGE[0] <= value <= FACTOR_RANGE[1]


def _row_index(table: EfficiencyTable, ac_w: float) -> int:
    """Return the row whose power is nearest to ac_w (the bin it falls in)."""
    return min(range(len(table)), key=lambda i: (abs(table[i][0] - ac_w), i))


class _Window:
    """The most recent accepted values of one bin, with outlier rejection."""

    __slots__ = ("count", "values")

    def __init__(self, values: Sequence[float] = (), count: int = 0) -> None:
        self.values: deque[float] = deque(values, maxlen=WINDOW)
        self.count = min(MAX_COUNT, max(count, len(self.values)))  # accepted, ever

    def add(self, value: float) -> bool:
        """Add value unless it is an outlier against the bin; return whether it was kept."""
        if len(self.values) >= MIN_SAMPLES // 2:
            middle = median(self.values)
            spread = median(abs(v - middle) for v in self.values)
            if abs(value - middle) > max(OUTLIER_MADS * spread, OUTLIER_FLOOR):
                return False
        self.values.append(value)
        self.count = min(MAX_COUNT, self.count + 1)
        return True

    @property
    def weight(self) -> float:
        """Return how much the measured median counts (0 until MIN_SAMPLES in the window)."""
        if len(self.values) < MIN_SAMPLES:
            return 0.0
        return self.count / (self.count + BLEND_SAMPLES)

    def blend(self, default: float) -> float:
        """Return default moved toward the measured median by the bin's weight."""
        weight = self.weight
        return default if weight == 0.0 else weight * median(self.values) + (1 - weight) * default


def _blend_row(windows: Sequence[_Window], defaults: Sequence[float]) -> list[float]:
    """Return each bin's learned value; a bin without evidence follows its nearest measured one.

    The nearest measured bin (ties: the lower power) lends its weighted offset from the
    default; the result stays a plausible efficiency.
    """
    learned = [window.blend(default) for window, default in zip(windows, defaults, strict=True)]
    measured = [i for i, window in enumerate(windows) if window.weight > 0.0]
    if not measured:
        return learned
    for i, window in enumerate(windows):
        if window.weight == 0.0:
            nearest = min(measured, key=lambda j: (abs(j - i), j))
            value = defaults[i] + learned[nearest] - defaults[nearest]
            learned[i] = min(1.0, max(MIN_EFFICIENCY + 0.01, value))
    return learned


class BatteryLearner:
    """What one battery's readings have shown so far: efficiency per bin, correction factor."""

    def __init__(self, default_table: EfficiencyTable = DEFAULT_EFFICIENCY_TABLE) -> None:
        self.default_table = tuple(sorted(default_table))
        self._bins: dict[Mode, list[_Window]] = {
            mode: [_Window() for _ in self.default_table] for mode in _DIRECTIONS
        }
        self._ratios: dict[Mode, _Window] = {mode: _Window() for mode in _DIRECTIONS}
        self.rejected = 0  # samples refused as implausible or outliers

    def observe(self, sample: Sample) -> bool:
        """Learn from a steady sample; return whether anything was learned from it."""
        if sample.mode not in _DIRECTIONS or sample.commanded_w <= 0:
            return False
        efficiency = efficiency_of(sample)
        learned = False
        if efficiency is not None:
            index = _row_index(self.default_table, abs(sample.ac_w))
            learned = self._bins[sample.mode][index].add(efficiency)
        if sample.commanded_w >= MIN_FACTOR_W and math.isfinite(sample.ac_w):
            ratio = abs(sample.ac_w) / sample.commanded_w
            if _ratio_ok(ratio):
                learned = self._ratios[sample.mode].add(ratio) or learned
        if not learned:
            self.rejected += 1
        return learned

    def table(self) -> EfficiencyTable:
        """Return the efficiency table to decide on: the default blended with what was seen."""
        rows = self.default_table
        charge = _blend_row(self._bins[Mode.CHARGE], [row[1] for row in rows])
        discharge = _blend_row(self._bins[Mode.DISCHARGE], [row[2] for row in rows])
        return tuple((row[0], charge[i], discharge[i]) for i, row in enumerate(rows))

    def efficiency_at(self, mode: Mode, ac_w: float) -> float | None:
        """Return the learned table's efficiency for mode at ac_w (its nearest row)."""
        if mode not in _DIRECTIONS:
            return None
        row = self.table()[_row_index(self.default_table, abs(ac_w))]
        return row[1] if mode is Mode.CHARGE else row[2]

    def measured_share(self, mode: Mode | None = None) -> float:
        """Return how much of the curve is measured (0..1): the bins' mean blend weight."""
        modes = _DIRECTIONS if mode is None else (mode,)
        weights = [window.weight for m in modes for window in self._bins[m]]
        return sum(weights) / len(weights)

    def factor(self, mode: Mode) -> float:
        """Return commanded W per grid W for mode: the seed's factor blended with the seen one."""
        seed = SEED_FACTORS[mode]
        window = self._ratios[mode]
        weight = window.weight
        if weight == 0.0:
            return seed
        return weight * (1.0 / median(window.values)) + (1 - weight) * seed

    def factor_weight(self, mode: Mode) -> float:
        """Return how much the learned factor of mode counts (0 until MIN_SAMPLES ratios)."""
        return self._ratios[mode].weight

    def samples(self, mode: Mode) -> tuple[int, ...]:
        """Return the accepted sample count of each bin for mode (for diagnostics)."""
        return tuple(len(window.values) for window in self._bins[mode])

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON form of what was learned (for a Store and diagnostics)."""
        return {
            "version": STORAGE_VERSION,
            "powers": [row[0] for row in self.default_table],
            "bins": {m.value: [list(w.values) for w in self._bins[m]] for m in _DIRECTIONS},
            "counts": {m.value: [w.count for w in self._bins[m]] for m in _DIRECTIONS},
            "ratios": {m.value: list(self._ratios[m].values) for m in _DIRECTIONS},
            "ratio_counts": {m.value: self._ratios[m].count for m in _DIRECTIONS},
        }

    @classmethod
    def from_dict(
        cls, data: Mapping[str, Any], default_table: EfficiencyTable = DEFAULT_EFFICIENCY_TABLE
    ) -> BatteryLearner:
        """Return the learner data describes; a fresh one when it does not fit the table."""
        return read_stored(data, default_table)[0]

    def _fill(self, data: Mapping[str, Any]) -> None:
        """Take the bins and ratios of data (same version and table); raise where damaged."""
        for mode in _DIRECTIONS:
            bins = data["bins"][mode.value]
            counts = [int(count) for count in data["counts"][mode.value]]
            if len(bins) != len(self.default_table) or len(counts) != len(bins):
                raise ValueError("bins do not fit the table")
            self._bins[mode] = [
                _Window(_plausible(values, _efficiency_ok), count)
                for values, count in zip(bins, counts, strict=True)
            ]
            self._ratios[mode] = _Window(
                _plausible(data["ratios"][mode.value], _ratio_ok),
                int(data["ratio_counts"][mode.value]),
            )


def read_stored(
    data: Any, default_table: EfficiencyTable = DEFAULT_EFFICIENCY_TABLE
) -> tuple[BatteryLearner, bool]:
    """Return the learner a Store's data describes, and whether that data was damaged.

    Nothing stored (None), another version of the learner or another table is no damage:
    the learner starts afresh by design. Data that is not a mapping, has no version, or
    whose items cannot be read is damaged: a fresh learner too, but the user is told.
    """
    if data is None:
        return BatteryLearner(default_table), False
    if not isinstance(data, Mapping) or "version" not in data:
        return BatteryLearner(default_table), True
    if data["version"] != STORAGE_VERSION:
        return BatteryLearner(default_table), False
    learner = BatteryLearner(default_table)
    try:
        if list(data["powers"]) != [row[0] for row in default_table]:
            return learner, False
        learner._fill(data)
    except (KeyError, TypeError, ValueError, OverflowError):
        return BatteryLearner(default_table), True
    return learner, False


def _plausible(values: Sequence[Any], ok: Callable[[float], bool]) -> list[float]:
    """Return the stored values ``observe`` could have kept (ok); raise on non-numbers.

    A value outside (a hand edit, damage) is dropped: an efficiency near 0 gave the engine a
    table of 0.0.
    """
    numbers = [float(value) for value in values]
    return [value for value in numbers if math.isfinite(value) and ok(value)]
