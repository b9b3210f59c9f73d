"""Pure allocation engine: readings, the plan in force and settings give the next plan.

Nothing here imports Home Assistant: the integration and the benchmark run this same code.

One cycle (``allocate``):

1. The plan in force is clamped to each battery's current limits (a plan derived after a
   restart may hold anything).
2. The demand in grid watts is the grid power plus what the batteries deliver now: each
   commanded watt counts as ``discharge_release_factor`` (0.975) grid watts while
   discharging and ``charge_release_factor`` (1.045) while charging. These are the inverses of
   the direction factors, so released power comes back as the same commanded watts. A battery
   whose reading has ``delivered_w`` (the estimate of ``inflight.py``) counts that instead.
3. Positive demand means discharge, otherwise charge. The commanded total is the demand times
   ``discharge_factor`` (1.026) or ``-charge_factor`` (0.957), rounded to whole watts: this is
   the *corrected demand*.
4. When no battery keeps running in that mode (start, mode change, or the running ones can
   run no more) and the corrected demand is under ``dead_band_w``, every battery stops. A
   running battery released near its cutoff still counts as running (as in the seed).
5. The strategy spreads the corrected demand over the batteries that may run, never above a
   battery's maximum for the mode (tapered near full) and never at or beyond its cutoff:

   * ``priority``: the seed's steps (seed-strategy.md) on any fleet, its defects fixed;
   * ``equal``: the demand split evenly over every battery that may run;
   * ``efficiency``: the set of batteries and the split with the least modelled conversion
     loss (``loss_w``, ``optimal_split``: each battery's table, else the measured one,
     interpolated; an idle battery's standby counts), keeping the seed's release and behind
     rules, with hysteresis on the running set. Its cost is bounded: per-table whole-watt
     loss arrays built once, a bounded family of sets, pairwise refinement of the best few.

6. With ``phase_limits`` in the settings, no phase may exceed its fuse or feed-in limit: the
   strategy plans again with lower caps where a phase would (``phase_limits.within_limits``).

Setpoints are whole watts; the result only depends on the arguments.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from itertools import pairwise, product
import math

from .phase_limits import PhaseLimits, within_limits


class Mode(StrEnum):
    """A battery's forced mode; the values are the LilyGo select's options."""

    CHARGE = "charge"
    DISCHARGE = "discharge"
    STOP = "stop"


class Strategy(StrEnum):
    """How the demand is spread over the batteries."""

    PRIORITY = "priority"
    EQUAL = "equal"
    EFFICIENCY = "efficiency"


class Reason(StrEnum):
    """Why a battery got its setpoint (machine readable, translated by the integration)."""

    UNAVAILABLE = "unavailable"  # stopped: no valid readings
    NOT_ALLOWED = "not_allowed"  # stopped: participation forbids this direction
    AT_CUTOFF = "at_cutoff"  # stopped: at or beyond its cutoff for the direction
    DEAD_BAND = "dead_band"  # stopped: demand too small to start
    IDLE = "idle"  # stopped: not needed
    RUNNING = "running"  # running on the demand
    STARTED_FOR_PHASE = "started_for_phase"  # started on the phase in greatest need
    STARTED_BY_PHASE = "started_for_phase"  # alias (the earlier name)
    NEAR_CUTOFF = "near_cutoff"  # within the release margin: served last
    BEHIND_PRIORITY = "behind_priority"  # left behind: catches up first
    HELD_BACK = "held_back"  # held back while another battery catches up
    MERGED_SMALL = "merged_small"  # a small setpoint merged with a larger one
    CAPPED_BY_TAPER = "capped_by_taper"  # at the charge taper's limit near full
    TAPER = "capped_by_taper"  # alias (the earlier name)
    CAPPED_BY_MAX = "capped_by_max"  # at its maximum for the mode
    EFFICIENCY_SPLIT = "efficiency_split"  # its share of the least-loss split
    EQUAL_SHARE = "equal_share"  # its share of the even split
    LIMITED_BY_PHASE = "limited_by_phase"  # its phase's fuse or feed-in limit (phase_limits)


#: Rows of (AC W, charge efficiency, discharge efficiency), sorted by AC power.
type EfficiencyTable = tuple[tuple[float, float, float], ...]

#: Measured AC efficiency of a Venus E (marstek-facts.md): charge efficiency is DC/AC,
#: discharge efficiency AC/DC, both against the AC power at the wall.
DEFAULT_EFFICIENCY_TABLE: EfficiencyTable = (
    (63.0, 0.603, 0.750),
    (125.0, 0.772, 0.738),
    (250.0, 0.885, 0.856),
    (375.0, 0.922, 0.885),
    (500.0, 0.938, 0.898),
    (750.0, 0.949, 0.909),
    (1000.0, 0.955, 0.912),
    (1500.0, 0.954, 0.909),
    (2000.0, 0.950, 0.901),
    (2500.0, 0.944, 0.893),
)


@dataclass(frozen=True, slots=True)
class BatteryReading:
    """What one battery looks like to the engine this cycle."""

    soc: float
    charge_cutoff: float
    discharge_cutoff: float
    max_charge_w: int
    max_discharge_w: int
    phase_w: float
    available: bool = True
    allow_charge: bool = True
    allow_discharge: bool = True
    efficiency_table: EfficiencyTable | None = None  # None: the settings' table
    phase: str | None = None  # the phase's name; None: batteries with equal phase_w share one
    delivered_w: float | None = None  # AC W it delivers at the meter's sample (+ = discharging,
    # inflight.py); None: its command in force counts as delivered (the seed's assumption)
    phase_a: float | None = None  # its phase's current (A, signed as phase_w; phase_limits);
    # None: no current sensor; not a number: the sensor cannot be used (nobody there raises)
    rise_w: tuple[float, float] | None = None  # a battery that takes no part: the least and
    # most it may still raise its phase's grid power by, from what the meter saw (W; negative:
    # lower it; inflight.rise_range); None: (0, 0), it goes on as the meter shows it


@dataclass(frozen=True, slots=True)
class Setpoint:
    """One battery's command: power_w is whole watts, 0 exactly when mode is stop."""

    mode: Mode
    power_w: int
    reason: Reason = Reason.IDLE


@dataclass(frozen=True, slots=True)
class Plan:
    """The commands for every battery, in input order, and the overall mode."""

    mode: Mode
    setpoints: tuple[Setpoint, ...]

    @classmethod
    def all_stop(cls, count: int) -> Plan:
        """Return the plan that stops every battery."""
        return cls(Mode.STOP, tuple(Setpoint(Mode.STOP, 0) for _ in range(count)))

    @property
    def total_w(self) -> int:
        """Return the sum of the commanded powers (W)."""
        return sum(setpoint.power_w for setpoint in self.setpoints)


@dataclass(frozen=True, slots=True)
class StrategySettings:
    """Every number of the strategy; defaults are the seed's values.

    Margins are percentage points of state of charge, powers whole watts.
    """

    strategy: Strategy = Strategy.PRIORITY
    release_margin_pct: float = 15.0  # within this of the cutoff: released, served last
    behind_margin_pct: float = 10.0  # within this of the opposite cutoff: left behind
    dead_band_w: int = 30  # do not start for a corrected demand below this
    merge_below_w: int = 500  # a setpoint below this is merged with a larger one
    taper_soc_pct: float = 95.0  # from this state of charge ...
    taper_w: int = 1250  # ... charge at most this
    discharge_factor: float = 1.026  # commanded W per grid W of import to cover
    charge_factor: float = 0.957  # commanded W per grid W of export to absorb
    discharge_release_factor: float = 0.975  # grid W per commanded discharge W
    charge_release_factor: float = 1.045  # grid W per commanded charge W
    efficiency_table: EfficiencyTable = field(default=DEFAULT_EFFICIENCY_TABLE)
    hysteresis_w: float = 5.0  # efficiency: W of modelled loss a change of set must save
    standby_w: float = 7.0  # efficiency: W an idle battery draws (counted in a set's cost)
    join_w: int = 250  # efficiency: most W a battery joining running ones starts with
    phase_limits: PhaseLimits | None = None  # per-phase fuse and feed-in limits; None: none


# --------------------------------------------------------------------------------------
# One cycle's view of the fleet
# --------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Cycle:
    """What every strategy works from: the mode, each battery's limits and kept power."""

    mode: Mode
    total_w: int  # corrected demand in commanded W for this mode
    batteries: tuple[BatteryReading, ...]
    caps: tuple[int, ...]  # max W this cycle (0 = may not run)
    excluded: tuple[Reason | None, ...]  # why a battery may not run at all
    kept: tuple[int, ...]  # power kept from the plan in force (same mode, clamped)
    settings: StrategySettings

    @property
    def eligible(self) -> tuple[int, ...]:
        """Return the indexes of the batteries that may run in this mode."""
        return tuple(i for i, reason in enumerate(self.excluded) if reason is None)


def _is_valid(battery: BatteryReading) -> bool:
    """Return whether a reading is usable (available and finite)."""
    isfinite = math.isfinite
    return (
        battery.available
        and isfinite(battery.soc)
        and isfinite(battery.charge_cutoff)
        and isfinite(battery.discharge_cutoff)
    )


def _is_finite(value: float | None) -> bool:
    """Return whether value is a finite number (not None)."""
    return value is not None and math.isfinite(value)


def max_w(battery: BatteryReading, mode: Mode, settings: StrategySettings) -> int:
    """Return the most a battery may take in mode this cycle (taper applied), at least 0."""
    if mode is Mode.CHARGE:
        limit = battery.max_charge_w
        if battery.soc >= settings.taper_soc_pct:
            limit = min(limit, settings.taper_w)
    elif mode is Mode.DISCHARGE:
        limit = battery.max_discharge_w
    else:
        limit = 0
    return max(0, int(limit))


def to_cutoff(battery: BatteryReading, mode: Mode) -> float:
    """Return the points of state of charge left before the cutoff of mode."""
    if mode is Mode.CHARGE:
        return battery.charge_cutoff - battery.soc
    return battery.soc - battery.discharge_cutoff


def to_opposite(battery: BatteryReading, mode: Mode) -> float:
    """Return the points of state of charge from the cutoff opposite to mode."""
    if mode is Mode.CHARGE:
        return battery.soc - battery.discharge_cutoff
    return battery.charge_cutoff - battery.soc


def exclusion(battery: BatteryReading, mode: Mode, settings: StrategySettings) -> Reason | None:
    """Return why battery may not run in mode at all, or None when it may."""
    if not _is_valid(battery):
        return Reason.UNAVAILABLE
    allowed = battery.allow_charge if mode is Mode.CHARGE else battery.allow_discharge
    if not allowed or max_w(battery, mode, settings) <= 0:
        return Reason.NOT_ALLOWED
    if to_cutoff(battery, mode) <= 0:
        return Reason.AT_CUTOFF
    return None


def _previous_powers(
    batteries: Sequence[BatteryReading],
    previous: Plan,
    settings: StrategySettings,
    valid: Sequence[bool] | None = None,
) -> tuple[tuple[Mode, int], ...]:
    """Return the plan in force per battery, clamped to 0..max for its mode.

    A plan of another length (batteries added or removed) counts as all stop. So does the
    setpoint of a battery without valid readings: whatever it really does (a board that drops
    out may keep its last setpoint) the meter already shows, so its power is not released.
    valid: each battery's ``_is_valid``, when the caller has it.
    """
    if len(previous.setpoints) != len(batteries):
        return tuple((Mode.STOP, 0) for _ in batteries)
    if valid is None:
        valid = [_is_valid(battery) for battery in batteries]
    result: list[tuple[Mode, int]] = []
    for battery, setpoint, ok in zip(batteries, previous.setpoints, valid, strict=True):
        if not ok:
            result.append((Mode.STOP, 0))
            continue
        power = min(max(0, int(setpoint.power_w)), max_w(battery, setpoint.mode, settings))
        result.append((setpoint.mode, power) if power > 0 else (Mode.STOP, 0))
    return tuple(result)


def demand_w(
    grid_w: float, powers: Sequence[tuple[Mode, int]], settings: StrategySettings
) -> float:
    """Return the grid power without the batteries (W, positive = they should discharge)."""
    delivered = 0.0
    for mode, power in powers:
        if mode is Mode.DISCHARGE:
            delivered += power * settings.discharge_release_factor
        elif mode is Mode.CHARGE:
            delivered -= power * settings.charge_release_factor
    return grid_w + delivered


def corrected_w(demand: float, settings: StrategySettings) -> tuple[Mode, int]:
    """Return the direction and the commanded watts that cover demand (grid W)."""
    if demand > 0:
        return Mode.DISCHARGE, round(demand * settings.discharge_factor)
    return Mode.CHARGE, round(-demand * settings.charge_factor)


def _cycle(
    grid_w: float,
    batteries: Sequence[BatteryReading],
    powers: Sequence[tuple[Mode, int]],
    valid: Sequence[bool],
    settings: StrategySettings,
) -> Cycle:
    """Return the cycle's view: mode, corrected demand, limits and kept powers.

    powers is the plan in force as ``_previous_powers`` clamps it, valid each battery's
    ``_is_valid``.
    """
    delivered = [
        b.delivered_w if ok and _is_finite(b.delivered_w) else None
        for b, ok in zip(batteries, valid, strict=True)
    ]
    assumed = [p if d is None else (Mode.STOP, 0) for p, d in zip(powers, delivered, strict=True)]
    demand = demand_w(grid_w, assumed, settings) + sum(d for d in delivered if d is not None)
    mode, total = corrected_w(demand, settings)
    excluded_list: list[Reason | None] = []
    caps_list: list[int] = []
    for battery, ok in zip(batteries, valid, strict=True):  # as exclusion() and max_w()
        reason: Reason | None = Reason.UNAVAILABLE
        cap = 0
        if ok:
            cap = max_w(battery, mode, settings)
            allowed = battery.allow_charge if mode is Mode.CHARGE else battery.allow_discharge
            if not allowed or cap <= 0:
                reason = Reason.NOT_ALLOWED
            elif to_cutoff(battery, mode) <= 0:
                reason = Reason.AT_CUTOFF
            else:
                reason = None
        excluded_list.append(reason)
        caps_list.append(0 if reason is not None else cap)
    excluded, caps = tuple(excluded_list), tuple(caps_list)
    mode_changed = any(m not in (mode, Mode.STOP) for m, _ in powers)
    kept = tuple(
        0 if mode_changed or m is not mode else min(power, cap)
        for (m, power), cap in zip(powers, caps, strict=True)
    )
    return Cycle(mode, total, tuple(batteries), caps, excluded, kept, settings)


# --------------------------------------------------------------------------------------
# Building blocks shared by the strategies
# --------------------------------------------------------------------------------------


type Allocation = tuple[list[int], list[Reason]]


def fill(order: Sequence[int], caps: Sequence[int], powers: list[int], amount: int) -> int:
    """Add amount to powers in order, each up to its cap; return what is left."""
    for index in order:
        if amount <= 0:
            break
        step = min(amount, caps[index] - powers[index])
        if step > 0:
            powers[index] += step
            amount -= step
    return amount


def drain(order: Sequence[int], powers: list[int], amount: int) -> None:
    """Take amount from powers in order, each down to 0."""
    for index in order:
        if amount <= 0:
            break
        step = min(amount, powers[index])
        powers[index] -= step
        amount -= step


def even_split(total: int, members: Sequence[int], caps: Sequence[int]) -> dict[int, int]:
    """Split total as evenly as caps allow over members (water filling, whole watts).

    Members that cannot take an even share get their cap; the rest is shared again. Odd
    watts go to the earliest members.
    """
    shares: dict[int, int] = {}
    open_members = sorted(members, key=lambda i: (caps[i], i))
    left = total
    while open_members:
        share = left // len(open_members)
        smallest = open_members[0]
        if caps[smallest] <= share:
            shares[smallest] = caps[smallest]
            left -= caps[smallest]
            open_members.pop(0)
            continue
        extra = left - share * len(open_members)
        for position, index in enumerate(sorted(open_members)):
            shares[index] = share + (1 if position < extra else 0)
        left = 0
        break
    return shares


# --------------------------------------------------------------------------------------
# priority: the seed's strategy, generalised and fixed
# --------------------------------------------------------------------------------------


def _released(cycle: Cycle) -> tuple[dict[int, Reason], set[int]]:
    """Return the batteries released this cycle (with why) and those left behind.

    Near cutoff: within the release margin of the cutoff. Behind: not near its cutoff and
    within the behind margin of the opposite cutoff. Held back, while any is behind: more
    than the release margin from the opposite cutoff. Near and held back are released:
    they take only what the others cannot.
    """
    settings = cycle.settings
    mode = cycle.mode
    released = {
        i: Reason.NEAR_CUTOFF
        for i in cycle.eligible
        if to_cutoff(cycle.batteries[i], mode) <= settings.release_margin_pct
    }
    others = [i for i in cycle.eligible if i not in released]
    behind = {
        i for i in others if to_opposite(cycle.batteries[i], mode) <= settings.behind_margin_pct
    }
    if behind:
        for i in others:
            far = to_opposite(cycle.batteries[i], mode) > settings.release_margin_pct
            if far and i not in behind:  # behind wins when the margins overlap
                released[i] = Reason.HELD_BACK
    return released, behind


def _phase(cycle: Cycle, index: int) -> float:
    """Return the grid power on battery index's phase; 0 when it is not a number."""
    phase = cycle.batteries[index].phase_w
    return phase if math.isfinite(phase) else 0.0


def _phase_key(cycle: Cycle, index: int) -> str | float:
    """Return what identifies battery index's phase: its name, else its phase power."""
    battery = cycle.batteries[index]
    return battery.phase if battery.phase is not None else _phase(cycle, index)


def _phase_order(cycle: Cycle, candidates: Sequence[int], powers: list[int], amount: int) -> int:
    """Start candidates on the phase in greatest need, each up to its cap; return the rest.

    Need is import while discharging and export while charging. Batteries on the same phase
    (the same name; without one, the same phase power) share it: what one is given lowers
    that phase's need for the next. Ties break by battery order.
    """
    sign = 1.0 if cycle.mode is Mode.DISCHARGE else -1.0
    factor = (
        cycle.settings.discharge_release_factor
        if cycle.mode is Mode.DISCHARGE
        else cycle.settings.charge_release_factor
    )
    given: dict[str | float, float] = {}
    waiting = list(candidates)
    while waiting and amount > 0:
        needs = {i: sign * _phase(cycle, i) - given.get(_phase_key(cycle, i), 0.0) for i in waiting}
        best = max(waiting, key=lambda i: (needs[i], -i))
        waiting.remove(best)
        step = min(amount, cycle.caps[best])
        powers[best] = step
        amount -= step
        key = _phase_key(cycle, best)
        given[key] = given.get(key, 0.0) + step * factor
    return amount


def _merge_small(cycle: Cycle, powers: list[int], reasons: list[Reason]) -> None:
    """Merge the smallest setpoint under merge_below_w with the highest other one.

    The small one moves onto the highest when that stays within its cap; otherwise the two
    are split as evenly as their caps allow. Only running batteries take part, so power
    never moves onto a battery at its cutoff. As in the seed, a battery released near its
    cutoff may be raised by the split (measured: refusing that costs more loss than the
    few starts and stops it saves).
    """
    running = [i for i, power in enumerate(powers) if power > 0]
    if len(running) < 2:
        return
    small = min(running, key=lambda i: (powers[i], -i))
    if powers[small] >= cycle.settings.merge_below_w:
        return
    high = max((i for i in running if i != small), key=lambda i: (powers[i], -i))
    together = powers[small] + powers[high]
    if together <= cycle.caps[high]:
        powers[high], powers[small] = together, 0
        reasons[small] = Reason.MERGED_SMALL
        return
    shares = even_split(together, (high, small), cycle.caps)
    powers[high], powers[small] = shares[high], shares[small]
    reasons[small] = reasons[high] = Reason.MERGED_SMALL


def _priority(cycle: Cycle) -> Allocation:
    """Spread the corrected demand the seed's way (steps A to D of seed-strategy.md)."""
    released, behind = _released(cycle)
    powers = [0 if i in released else power for i, power in enumerate(cycle.kept)]
    reasons = [Reason.RUNNING if power > 0 else Reason.IDLE for power in powers]
    for i, reason in released.items():
        reasons[i] = reason
    for i in behind:
        reasons[i] = Reason.BEHIND_PRIORITY
    delta = cycle.total_w - sum(powers)
    running = [i for i, power in enumerate(powers) if power > 0]
    if delta < 0:
        drain(sorted(running, key=lambda i: (powers[i], -i)), powers, -delta)
    else:
        delta = fill(sorted(running, key=lambda i: (-powers[i], i)), cycle.caps, powers, delta)
        idle = [i for i in cycle.eligible if powers[i] == 0]
        if not behind:
            by_phase = [i for i in idle if i not in released]
            before = list(powers)
            delta = _phase_order(cycle, by_phase, powers, delta)
            for i in by_phase:
                if powers[i] > before[i]:
                    reasons[i] = Reason.STARTED_BY_PHASE
        idle = [i for i in cycle.eligible if powers[i] == 0]
        direction = 1 if cycle.mode is Mode.CHARGE else -1
        idle.sort(key=lambda i: (direction * cycle.batteries[i].soc, i))
        fill(idle, cycle.caps, powers, delta)
    _merge_small(cycle, powers, reasons)
    return powers, reasons


# --------------------------------------------------------------------------------------
# equal: the demand split evenly
# --------------------------------------------------------------------------------------


def _equal(cycle: Cycle) -> Allocation:
    """Split the corrected demand evenly over every battery that may run."""
    shares = even_split(cycle.total_w, cycle.eligible, cycle.caps)
    powers = [shares.get(i, 0) for i in range(len(cycle.batteries))]
    reasons = [Reason.RUNNING if power > 0 else Reason.IDLE for power in powers]
    return powers, reasons


# --------------------------------------------------------------------------------------
# efficiency: the least modelled conversion loss
# --------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Candidate:
    """A battery that may take part in a split: its most W, its table and its idle draw."""

    max_w: int
    table: EfficiencyTable = DEFAULT_EFFICIENCY_TABLE
    standby_w: float = 0.0  # W it draws while idle; counted when a set leaves it out


#: Whole watts every loss array covers from the start (extended for larger caps).
_ARRAY_W = 2500
#: Sets of batteries tried exhaustively up to this many; beyond, a bounded family.
_MAX_SETS = 16
#: How many of the most promising sets get the exact pairwise refinement.
_REFINED = 3
#: Bounded family only: sets whose batteries would run below this on average are not tried
#: (on the measured table only the 63 W row makes two batteries at under 400 W lose less
#: than one, by at most a few W).
_LEAST_SHARE_W = 400


class _Curve:
    """One table's loss curve for one mode, built once: rows, whole-watt array, bends, hulls.

    ``loss[w]`` is the loss at w whole watts (``loss[0]`` = 0, stopped), computed with the
    same arithmetic as ``at``; lookups in the hot path index it and hash nothing.
    """

    __slots__ = ("_bends", "bends", "hulls", "loss", "xs", "ys")

    def __init__(self, mode: Mode, table: EfficiencyTable) -> None:
        rows = sorted(table)
        if not rows:
            raise ValueError("efficiency table is empty")
        self.xs = [float(row[0]) for row in rows]
        if mode is Mode.CHARGE:
            self.ys = [ac * (1.0 - charge) for ac, charge, _ in rows]
        else:
            self.ys = [ac * (1.0 / discharge - 1.0) for ac, _, discharge in rows]
        bends = {1}
        for x in self.xs:
            if x >= 1:
                bends.update((math.floor(x), math.ceil(x)))
        self._bends = sorted(bends)
        self.bends: dict[int, tuple[int, ...]] = {}
        self.hulls: dict[int, tuple[tuple[float, float], ...]] = {}
        self.loss: list[float] = [0.0]
        self._extend(_ARRAY_W)

    def at(self, ac_w: float) -> float:
        """Return the loss (W) of a running battery at ac_w > 0 AC watts (interpolated)."""
        xs, ys = self.xs, self.ys
        if ac_w <= xs[0]:
            return ys[0]
        if ac_w >= xs[-1]:
            return ys[-1] * ac_w / xs[-1]
        i = bisect_right(xs, ac_w)
        return ys[i - 1] + (ys[i] - ys[i - 1]) * (ac_w - xs[i - 1]) / (xs[i] - xs[i - 1])

    def _extend(self, cap: int) -> None:
        """Extend ``loss`` to cover 0..cap whole watts (segment by segment, as ``at``)."""
        xs, ys, loss = self.xs, self.ys, self.loss
        start = len(loss)
        low = min(cap + 1, max(start, math.floor(xs[0]) + 1))
        loss.extend(ys[0] for _ in range(start, low))  # up to the first row: fixed cost
        for i in range(1, len(xs)):
            x0, x1, y0, y1 = xs[i - 1], xs[i], ys[i - 1], ys[i]
            high = min(cap + 1, math.ceil(x1) if x1 != math.floor(x1) else int(x1))
            high = max(high, len(loss))
            loss.extend(y0 + (y1 - y0) * (w - x0) / (x1 - x0) for w in range(len(loss), high))
        loss.extend(ys[-1] * w / xs[-1] for w in range(len(loss), cap + 1))

    def array(self, cap: int) -> list[float]:
        """Return the loss array, covering at least 0..cap."""
        if cap >= len(self.loss):
            self._extend(cap)
        return self.loss

    def bends_to(self, cap: int) -> tuple[int, ...]:
        """Return the whole watts in 1..cap where the curve bends or ends (ascending)."""
        bends = self.bends.get(cap)
        if bends is None:
            bends = self.bends[cap] = (*(b for b in self._bends if b < cap), cap)
        return bends

    def hull(self, cap: int) -> tuple[tuple[float, float], ...]:
        """Return the lower convex hull of the running loss on (0, cap] as segments.

        Each segment is (length W, W of loss per W); the slopes rise strictly.
        """
        segments = self.hulls.get(cap)
        if segments is None:
            points = [(0.0, self.at(self.xs[0]))]  # just above 0 W: the fixed cost
            points += [(x, self.at(x)) for x in self.xs if 0 < x < cap]
            points.append((float(cap), self.at(cap)))
            hull: list[tuple[float, float]] = []
            for point in points:
                while len(hull) >= 2 and _cross(hull[-2], hull[-1], point) <= 0:
                    hull.pop()
                hull.append(point)
            segments = tuple(
                (b[0] - a[0], (b[1] - a[1]) / (b[0] - a[0])) for a, b in pairwise(hull)
            )
            self.hulls[cap] = segments
        return segments


_CURVES: dict[tuple[int, Mode], tuple[EfficiencyTable, _Curve]] = {}
_BY_VALUE: dict[tuple[Mode, EfficiencyTable], _Curve] = {}


def _curve(mode: Mode, table: EfficiencyTable) -> _Curve:
    """Return table's curve for mode: found by the table's identity, hashed only when new."""
    key = (id(table), mode)
    hit = _CURVES.get(key)
    if hit is not None and hit[0] is table:
        return hit[1]
    curve = _BY_VALUE.get((mode, table))
    if curve is None:
        if len(_BY_VALUE) >= 64:
            _BY_VALUE.clear()
        curve = _BY_VALUE[(mode, table)] = _Curve(mode, table)
    if len(_CURVES) >= 256:
        _CURVES.clear()
    _CURVES[key] = (table, curve)  # holding the table keeps its id from being reused
    return curve


def loss_w(mode: Mode, ac_w: float, table: EfficiencyTable = DEFAULT_EFFICIENCY_TABLE) -> float:
    """Return the modelled conversion loss (W) of one battery running at ac_w AC watts.

    Charge loss is AC * (1 - efficiency), discharge loss AC * (1 / efficiency - 1), linear
    between the table's rows; below the first row a running inverter costs the first row's
    loss, above the last row the efficiency holds. 0 when stopped (ac_w <= 0 or mode stop).
    Stable API: the benchmark's bounds use it (the simulator models loss the same way).
    """
    if mode is Mode.STOP or ac_w <= 0:
        return 0.0
    curve = _curve(mode, table)
    if isinstance(ac_w, int) and ac_w < len(curve.loss):
        return curve.loss[ac_w]
    return curve.at(ac_w)


def split_loss_w(mode: Mode, powers: Sequence[float], candidates: Sequence[Candidate]) -> float:
    """Return the modelled loss (W) of running candidates at powers (AC W), idle ones' standby."""
    return sum(
        loss_w(mode, power, candidate.table) if power > 0 else candidate.standby_w
        for power, candidate in zip(powers, candidates, strict=True)
    )


def _cross(o: tuple[float, float], a: tuple[float, float], b: tuple[float, float]) -> float:
    """Return the z of (a - o) x (b - o): positive for a counter-clockwise turn."""
    return (a[0] - o[0]) * (b[1] - o[1]) - (a[1] - o[1]) * (b[0] - o[0])


def water_fill(total: float, caps: Sequence[float]) -> list[float]:
    """Split total as evenly as caps allow (floats; more than their sum: the caps).

    Stable API: energy.py splits the actual power evenly with it for the saving.
    """
    shares = [0.0] * len(caps)
    waiting = sorted(range(len(caps)), key=lambda i: caps[i])
    left = total
    while waiting:
        share = left / len(waiting)
        if caps[waiting[0]] <= share:
            index = waiting.pop(0)
            shares[index] = caps[index]
            left -= caps[index]
            continue
        for index in waiting:
            shares[index] = share
        break
    return shares


#: Per batteries (index, curve, cap): their arrays, bends, sorted hull segments and the
#: pairs ``_Fleet.refine`` found it cannot improve, with the two numbers that pack a pair's
#: (i, j, power i, power j) into one int (all of it depends only on the key). The pairs are
#: ints in a dict so that the garbage collector never walks them.
type _Shape = tuple[
    dict[int, list[float]],
    dict[int, tuple[int, ...]],
    list[tuple[float, int, float]],
    dict[int, None],
    int,
    int,
]
_SHAPES: dict[tuple[tuple[int, _Curve, int], ...], _Shape] = {}
#: Most shapes kept, and most settled pairs per shape (then it starts again).
_MAX_SHAPES = 128
_MAX_SETTLED = 2048


class _Fleet:
    """One split problem, indexed by battery: caps, arrays, bends and all hull segments.

    ``segments`` holds every battery's hull segments sorted by slope (kept in ``_SHAPES``
    for the same batteries, curves and caps); a set's hull split walks it and skips the
    batteries outside the set.
    """

    __slots__ = (
        "arrays",
        "bends",
        "bits",
        "caps",
        "idle",
        "order",
        "rank",
        "segments",
        "settled",
        "width",
    )

    def __init__(
        self,
        order: Sequence[int],
        curves: Sequence[_Curve],
        caps: Sequence[int],
        idle: Sequence[float],
    ) -> None:
        self.order = tuple(order)
        self.caps = caps
        self.idle = idle
        self.rank = {i: position for position, i in enumerate(order)}
        key = tuple((i, curves[i], caps[i]) for i in sorted(self.order))
        shape = _SHAPES.get(key)
        if shape is None:
            if len(_SHAPES) >= _MAX_SHAPES:
                _SHAPES.clear()
            arrays = {i: curves[i].array(caps[i]) for i in order}
            bends = {i: curves[i].bends_to(caps[i]) for i in order}
            segments = sorted(
                (slope, i, length) for i in order for length, slope in curves[i].hull(caps[i])
            )
            bits = max((caps[i] for i in order), default=0).bit_length()  # a power < 2**bits
            width = max(order, default=0) + 1  # an index < width
            shape = _SHAPES[key] = (arrays, bends, segments, {}, bits, width)
        self.arrays, self.bends, self.segments, self.settled, self.bits, self.width = shape
        if len(self.settled) > _MAX_SETTLED:
            self.settled.clear()

    def hull_split(self, total: float, members: set[int]) -> dict[int, float]:
        """Return the split of total over members that is optimal on their loss hulls.

        Segments are taken cheapest slope first (equal marginal loss); equal slopes share
        evenly, so identical batteries get equal power.
        """
        powers = dict.fromkeys(members, 0.0)
        segments = self.segments  # all batteries': the walk skips the others
        left = float(total)
        position, count = 0, len(segments)
        while position < count and left > 0:
            slope, i, part = segments[position]
            if i not in members:
                position += 1
                continue
            end = position + 1
            while end < count and segments[end][0] - slope <= 1e-12:
                end += 1
            if end == position + 1:  # no tie: the common case
                step = min(part, left)
                powers[i] += step
                left -= step
                position = end
                continue
            group = [segment for segment in segments[position:end] if segment[1] in members]
            position = end
            if len(group) == 1:
                step = min(part, left)
                powers[i] += step
                left -= step
                continue
            length = sum(segment[2] for segment in group)
            if length <= left:
                for _, j, piece in group:
                    powers[j] += piece
                left -= length
            else:
                shares = water_fill(left, [segment[2] for segment in group])
                for (_, j, _), share in zip(group, shares, strict=True):
                    powers[j] += share
                left = 0.0
        return powers

    def whole(self, powers: dict[int, float], total: int) -> dict[int, int]:
        """Round powers to whole watts within 0..cap that add up to total."""
        caps, floor = self.caps, math.floor
        whole = {i: min(caps[i], max(0, floor(power))) for i, power in powers.items()}
        left = total - sum(whole.values())
        if left <= 0:
            return whole
        order = sorted(
            (i for i, power in powers.items() if power > 0),
            key=lambda i: (whole[i] - powers[i], i),
        )
        while left > 0:  # rounds of one watt each to those below their cap, in order
            below = [i for i in order if whole[i] < caps[i]]
            if not below:
                break
            for i in below[:left]:
                whole[i] += 1
            left -= min(left, len(below))
        return whole

    def loss(self, powers: dict[int, int]) -> float:
        """Return the modelled loss of the running batteries plus the idle ones' draw."""
        arrays, idle, get = self.arrays, self.idle, powers.get
        return sum([arrays[i][p] if (p := get(i, 0)) > 0 else idle[i] for i in self.order])

    def split(self, total: int, chosen: tuple[int, ...]) -> dict[int, int]:
        """Return the hull optimum of total over chosen, in whole watts (not yet refined)."""
        total = min(total, sum(map(self.caps.__getitem__, chosen)))
        return self.whole(self.hull_split(total, set(chosen)), total)

    def best_split(
        self,
        total: int,
        chosen: tuple[int, ...],
        hull: dict[int, int],
        hull_loss: float | None = None,
    ) -> dict[int, int]:
        """Return the better of hull and the even split over chosen, refined onto the bends.

        hull_loss: ``loss(hull)`` when the caller has it.
        """
        total = min(total, sum(map(self.caps.__getitem__, chosen)))
        even = even_split(total, chosen, self.caps)
        if hull_loss is None:
            hull_loss = self.loss(hull)
        return self.refine(even if self.loss(even) < hull_loss else hull)

    def refine(self, powers: dict[int, int]) -> dict[int, int]:
        """Improve a split by moving power between two running batteries onto a bend.

        On whole watts the loss curves are linear between their bends, so an optimum has
        all running batteries but one on a bend (or at 1 W or their max). Moving pairs onto
        bends finds the exact optimum for two batteries and repairs the convex-hull split
        where a curve is not convex. Array lookups only; at most three passes.

        A pair's move depends only on its two powers, so a pair at powers already found
        not to improve (``settled``, shared by every set of this fleet) is skipped.
        """
        powers = dict(powers)
        running = [i for i, power in powers.items() if power > 0]
        if len(running) < 2:
            return powers
        arrays, bends, caps, settled = self.arrays, self.bends, self.caps, self.settled
        bits, width = self.bits, self.width
        for _ in range(3):
            improved = False
            for i in running:
                li, bi, row = arrays[i], bends[i], i * width
                for j in running:
                    if i == j:
                        continue
                    pi, pj = powers[i], powers[j]
                    pair_key = (row + j) << bits  # (i, j, pi, pj) as one int
                    if (((pair_key | pi) << bits) | pj) in settled:
                        continue
                    lj, pair = arrays[j], pi + pj
                    bar = li[pi] + lj[pj] - 1e-9  # a move must cost less than this
                    # the bends x of i with 1 <= pair - x <= the cap of j
                    for x in bi[bisect_left(bi, pair - caps[j]) : bisect_left(bi, pair)]:
                        cost = li[x] + lj[pair - x]
                        if cost < bar:
                            powers[i], powers[j], bar, improved = x, pair - x, cost - 1e-9, True
                    settled[(((pair_key | powers[i]) << bits) | powers[j])] = None
            if not improved:
                break
        return powers

    def family(
        self, curves: Sequence[_Curve], total: int, first: int | None
    ) -> list[tuple[int, ...]]:
        """Return the sets of batteries worth trying for total, each in order.

        Batteries are interchangeable only when both table and cap match, so of those only
        the first few in order run. Up to ``_MAX_SETS`` sets every such choice is tried;
        beyond, for each size the batteries cheapest per W at that size's share, and the
        first in order (a bounded family, sizes from the fewest that may carry total to
        ``ceil(total / _LEAST_SHARE_W)``). All of order is always tried. A set holds
        ``first`` when given (the battery behind).
        """
        order, caps = self.order, self.caps
        classes: dict[tuple[_Curve, int], list[int]] = {}
        for i in order:
            classes.setdefault((curves[i], caps[i]), []).append(i)
        largest = sorted((caps[i] for i in order), reverse=True)
        fewest = next(
            (k for k in range(1, len(order) + 1) if sum(largest[:k]) >= total), len(order)
        )
        most = max(fewest, -(-total // _LEAST_SHARE_W))
        sets: list[tuple[int, ...]] = []
        groups = list(classes.values())
        if math.prod(len(group) + 1 for group in groups) <= _MAX_SETS:
            for counts in product(*(range(len(group) + 1) for group in groups)):
                if not any(counts):
                    continue
                chosen = {i for group, k in zip(groups, counts, strict=True) for i in group[:k]}
                if first is None or first in chosen:
                    sets.append(tuple(i for i in order if i in chosen))
        else:
            rank, arrays = self.rank, self.arrays
            for k in range(fewest, min(most, len(order)) + 1):
                share = -(-total // k)
                # cheapest per W at the share (ties by rank, which is unique)
                keyed = sorted(
                    [
                        (arrays[i][watts] / watts, rank[i], i)
                        for i in order
                        for watts in (min(caps[i], share),)
                    ]
                )
                for ranked in ([entry[2] for entry in keyed], order):
                    chosen = set(ranked[:k])
                    if first is not None and first not in chosen:
                        chosen = {*ranked[: k - 1], first}
                    option = tuple(i for i in order if i in chosen)
                    if option not in sets:
                        sets.append(option)
        if order not in sets:
            sets.append(order)
        return sets


def _options(
    fleet: _Fleet,
    curves: Sequence[_Curve],
    total: int,
    *,
    first: int | None = None,
    keep: tuple[int, ...] = (),
) -> dict[tuple[int, ...], tuple[dict[int, int], float]]:
    """Return the most promising sets that carry total, each with its split and set cost.

    The cost is the modelled loss of the running batteries plus the idle draw of the
    batteries of the fleet that stay idle. Every set of the family that carries total (and
    all of the fleet) is split; the ``_REFINED`` cheapest, and ``keep`` when it carries
    total, are refined and returned.
    """
    order, caps, rank = fleet.order, fleet.caps, fleet.rank
    sets = fleet.family(curves, total, first)
    if keep and keep not in sets and (first is None or first in keep):
        sets.append(keep)
    rough: dict[tuple[int, ...], tuple[dict[int, int], float]] = {}
    everyone, cap_of = len(order), caps.__getitem__
    for chosen in sets:
        if len(chosen) < everyone and sum(map(cap_of, chosen)) < total:
            continue
        powers = fleet.split(total, chosen)
        rough[chosen] = (powers, fleet.loss(powers))
    ranked = sorted(rough, key=lambda c: (rough[c][1], len(c), [rank[i] for i in c]))
    picked = ranked[:_REFINED]
    if keep in rough and keep not in picked:
        picked.append(keep)
    options: dict[tuple[int, ...], tuple[dict[int, int], float]] = {}
    for chosen in picked:
        powers = fleet.best_split(total, chosen, *rough[chosen])
        options[chosen] = (powers, fleet.loss(powers))
    return options


def optimal_split(demand_w: int, candidates: Sequence[Candidate], mode: Mode) -> tuple[int, ...]:
    """Return the loss-minimal split of demand_w (whole W) over candidates; 0 = stays idle.

    Delivers min(demand_w, sum of max_w) in mode (charge or discharge). Candidates with the
    same table and max are interchangeable (the earlier runs first); an idle candidate costs
    its ``standby_w``. The least cost wins, then the fewest batteries. Within a set: the
    better of the equal-marginal-loss (convex hull) optimum and the even split, refined
    onto the bends. Stable API: the benchmark's bounds use it.
    """
    result = [0] * len(candidates)
    usable = [i for i, candidate in enumerate(candidates) if candidate.max_w > 0]
    total = min(int(demand_w), sum(candidates[i].max_w for i in usable))
    if total <= 0:
        return tuple(result)
    curves = [_curve(mode, candidate.table) for candidate in candidates]
    caps = [max(0, candidate.max_w) for candidate in candidates]
    fleet = _Fleet(usable, curves, caps, [candidate.standby_w for candidate in candidates])
    options = _options(fleet, curves, total)
    rank = fleet.rank
    best = min(options, key=lambda c: (options[c][1], len(c), [rank[i] for i in c]))
    for i, power in options[best][0].items():
        result[i] = power
    return tuple(result)


def _preference(cycle: Cycle, indexes: Sequence[int], first: set[int]) -> list[int]:
    """Order batteries: those in first, then running, then by state of charge.

    Highest state of charge first while discharging, lowest first while charging; ties by
    battery order.
    """
    direction = 1 if cycle.mode is Mode.CHARGE else -1
    return sorted(
        indexes,
        key=lambda i: (i not in first, cycle.kept[i] == 0, direction * cycle.batteries[i].soc, i),
    )


def _least_loss(
    cycle: Cycle, order: Sequence[int], demand: int, first: int | None = None
) -> dict[int, int]:
    """Run the set of batteries with the least modelled loss that carries demand.

    The cost of a set counts the standby (``standby_w``) of the batteries of order it
    leaves idle. Each battery has its own table (its reading's, else the settings'). Ties
    go to fewer batteries, then to the set earlier in order. Hysteresis: the set running
    now stays while it carries the demand and no other set saves more than
    ``hysteresis_w``.
    """
    if not order or demand <= 0:
        return {}
    settings = cycle.settings
    count = len(cycle.batteries)
    curves = [
        _curve(cycle.mode, battery.efficiency_table or settings.efficiency_table)
        for battery in cycle.batteries
    ]
    fleet = _Fleet(order, curves, cycle.caps, [settings.standby_w] * count)
    now = tuple(i for i in order if cycle.kept[i] > 0)
    options = _options(fleet, curves, demand, first=first, keep=now)
    rank = fleet.rank
    best = min(options, key=lambda c: (options[c][1], len(c), [rank[i] for i in c]))
    if now in options and options[now][1] <= options[best][1] + settings.hysteresis_w:
        best = now
    return options[best][0]


def _ease_in(cycle: Cycle, powers: dict[int, int]) -> None:
    """Start a battery that joins running ones at no more than ``join_w``.

    A battery starting from stop takes seconds longer to deliver than a running one takes
    to change, so the running ones carry the demand (as evenly as their caps allow) while
    it starts; the loss-minimal split follows in the next cycle, when all of them run.
    """
    new = [i for i, power in powers.items() if power > 0 and cycle.kept[i] == 0]
    old = [i for i, power in powers.items() if power > 0 and cycle.kept[i] > 0]
    if not new or not old:
        return
    total = sum(powers.values())
    shares = [powers.get(i, 0) for i in range(len(cycle.batteries))]
    eased = [0] * len(cycle.batteries)
    for i in new:
        eased[i] = min(shares[i], cycle.settings.join_w)
    carried = even_split(total - sum(eased), old, cycle.caps)
    for i in old:
        eased[i] = carried[i]
    fill(new, shares, eased, total - sum(eased))  # what the running ones cannot carry
    powers.update({i: eased[i] for i in (*new, *old)})


def _efficiency(cycle: Cycle) -> Allocation:
    """Spread the corrected demand with the least modelled conversion loss.

    Keeps the priority rules: batteries near their cutoff (and, while one is behind, those
    far from the opposite cutoff) only take what the others cannot; batteries behind come
    first. The number of batteries running changes only when that saves more than
    ``hysteresis_w`` of modelled loss.
    """
    released, behind = _released(cycle)
    primary = _preference(cycle, [i for i in cycle.eligible if i not in released], behind)
    secondary = _preference(cycle, list(released), set())
    powers = [0] * len(cycle.batteries)
    reasons = [Reason.IDLE] * len(cycle.batteries)
    capacity = sum(cycle.caps[i] for i in primary)
    if cycle.total_w <= capacity:
        lead = min(behind, key=primary.index) if behind else None
        shares = _least_loss(cycle, primary, cycle.total_w, lead)
        _ease_in(cycle, shares)
    else:
        shares = {i: cycle.caps[i] for i in primary}
        shares.update(_least_loss(cycle, secondary, cycle.total_w - capacity))
    for i, power in shares.items():
        powers[i] = power
        reasons[i] = Reason.RUNNING
    for i in behind:
        reasons[i] = Reason.BEHIND_PRIORITY
    for i, reason in released.items():
        reasons[i] = reason
    return powers, reasons


STRATEGIES: dict[Strategy, Callable[[Cycle], Allocation]] = {
    Strategy.PRIORITY: _priority,
    Strategy.EQUAL: _equal,
    Strategy.EFFICIENCY: _efficiency,
}


# --------------------------------------------------------------------------------------
# The plan
# --------------------------------------------------------------------------------------


#: Reasons a stopped battery keeps; any other becomes ``idle``.
_STOP_REASONS = frozenset(
    {
        Reason.NEAR_CUTOFF,
        Reason.HELD_BACK,
        Reason.MERGED_SMALL,
        Reason.DEAD_BAND,
        Reason.LIMITED_BY_PHASE,
    }
)


def _plan(cycle: Cycle, powers: Sequence[int], reasons: Sequence[Reason]) -> Plan:
    """Return the plan for powers, enforcing caps and exclusions as a last guard."""
    setpoints: list[Setpoint] = []
    for i, (power, reason) in enumerate(zip(powers, reasons, strict=True)):
        excluded = cycle.excluded[i]
        watts = 0 if excluded is not None else min(max(0, power), cycle.caps[i])
        if watts <= 0:
            stopped = excluded or (reason if reason in _STOP_REASONS else Reason.IDLE)
            setpoints.append(Setpoint(Mode.STOP, 0, stopped))
            continue
        setpoints.append(Setpoint(cycle.mode, watts, _running_reason(cycle, i, watts, reason)))
    mode = cycle.mode if any(s.power_w > 0 for s in setpoints) else Mode.STOP
    return Plan(mode, tuple(setpoints))


#: A running battery's reasons that say only "it runs": what decided its power says more.
_PLAIN_REASONS = frozenset({Reason.RUNNING, Reason.STARTED_FOR_PHASE})
#: The reason a running battery's share gets from the strategy that split the demand.
_SPLIT_REASONS = {Strategy.EFFICIENCY: Reason.EFFICIENCY_SPLIT, Strategy.EQUAL: Reason.EQUAL_SHARE}


def _running_reason(cycle: Cycle, index: int, watts: int, reason: Reason) -> Reason:
    """Return what decided a running battery's power: a cap, the split, else reason."""
    cap = cycle.caps[index]
    if cycle.mode is Mode.CHARGE and watts == cap < cycle.batteries[index].max_charge_w:
        return Reason.CAPPED_BY_TAPER
    if reason not in _PLAIN_REASONS and reason is not Reason.MERGED_SMALL:
        return reason  # near cutoff, behind: why it is served as it is
    if watts == cap:
        return Reason.CAPPED_BY_MAX
    if reason is Reason.RUNNING:
        return _SPLIT_REASONS.get(cycle.settings.strategy, reason)
    return reason


def stopped(batteries: Sequence[BatteryReading], reason: Reason) -> Plan:
    """Return the all-stop plan, with reason for every battery that has no worse one."""
    return Plan(
        Mode.STOP,
        tuple(
            Setpoint(Mode.STOP, 0, reason if _is_valid(battery) else Reason.UNAVAILABLE)
            for battery in batteries
        ),
    )


def allocate(
    grid_w: float,
    batteries: Sequence[BatteryReading],
    previous: Plan,
    settings: StrategySettings,
) -> Plan:
    """Return the next plan for grid_w (W, positive = import, corrected by the target).

    A grid power that is not a finite number stops every battery.
    """
    if not math.isfinite(grid_w):
        return stopped(batteries, Reason.IDLE)
    valid = [_is_valid(battery) for battery in batteries]
    previous_powers = _previous_powers(batteries, previous, settings, valid)
    cycle = _cycle(grid_w, batteries, previous_powers, valid, settings)
    if sum(cycle.kept) == 0 and cycle.total_w < settings.dead_band_w:
        reasons = [r if r is not None else Reason.DEAD_BAND for r in cycle.excluded]
        return _plan(cycle, [0] * len(batteries), reasons)
    strategy = STRATEGIES[settings.strategy]
    powers, reasons = within_limits(cycle, strategy, previous_powers, Reason.LIMITED_BY_PHASE)
    return _plan(cycle, powers, reasons)
