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
     interpolated; an idle battery's standby counts, and each start from stop its cost over
     its payback, ``start_penalty_w``), keeping the seed's release and behind rules, with
     hysteresis on the running set. Its cost is bounded: per-table whole-watt
     loss arrays built once, a bounded family of sets, pairwise refinement of the best few.

6. With ``phase_limits`` in the settings, no phase may exceed its fuse or feed-in limit: the
   strategy plans again with lower caps where a phase would (``phase_limits.within_limits``).

Setpoints are whole watts; the result only depends on the arguments.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
import math

from .efficiency import (
    Candidate,
    _curve,
    _Fleet,
    _options,
    even_split,
    loss_w,
    optimal_split,
    split_loss_w,
    water_fill,
)
from .model import (
    DEFAULT_EFFICIENCY_TABLE,
    Allocation,
    BatteryReading,
    Cycle,
    EfficiencyTable,
    Mode,
    Plan,
    Reason,
    Setpoint,
    Strategy,
    StrategySettings,
)
from .phase_limits import PhaseView, views, within_limits

# The least-loss split lives in efficiency.py; the engine stays its entry point.
__all__ = [
    "DEFAULT_EFFICIENCY_TABLE",
    "Candidate",
    "EfficiencyTable",
    "loss_w",
    "optimal_split",
    "split_loss_w",
    "water_fill",
]


def _is_valid(battery: BatteryReading) -> bool:
    """Return whether a reading is usable (``BatteryReading.usable``)."""
    return battery.usable


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


def views_of(
    batteries: Sequence[BatteryReading], previous: Plan, settings: StrategySettings
) -> dict[str, PhaseView]:
    """Return the phases' views for a cycle's readings and plan in force (none: no limits)."""
    if settings.phase_limits is None:
        return {}
    factors = (settings.discharge_release_factor, settings.charge_release_factor)
    in_force = _previous_powers(batteries, previous, settings)
    return views(batteries, in_force, settings.phase_limits, factors)


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
    for battery, ok in zip(batteries, valid, strict=True):  # why it may not run, and its max_w()
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
# efficiency: the least modelled conversion loss (the split itself is in efficiency.py)
# --------------------------------------------------------------------------------------


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
    leaves idle, ``start_penalty_w`` for each battery it starts from stop and
    ``stop_share`` of that for each running one it stops: a start (relay, inverter, wear,
    seconds of lag) must pay for itself, so a small saving starts nothing. Each battery
    has its own table (its reading's, else the settings'). Ties go to fewer batteries,
    then to the set earlier in order. Hysteresis: the set running now stays while it
    carries the demand and no other set costs less by more than ``hysteresis_w``. In a
    steady cycle (demand within ``steady_w`` of the running set's) a start pays
    ``steady_start_share`` of its cost (off by default).
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
    kept = cycle.kept
    start_w = start_penalty_w(settings)
    if abs(demand - sum(kept[i] for i in now)) < settings.steady_w:
        start_w *= settings.steady_start_share  # the demand held: a start likely pays back

    def score(chosen: tuple[int, ...]) -> float:
        """Return a set's modelled loss plus its starts' cost spread over their payback."""
        starts = sum(1 for i in chosen if kept[i] == 0)
        stops = sum(1 for i in now if i not in chosen)
        return options[chosen][1] + start_w * (starts + settings.stop_share * stops)

    best = min(options, key=lambda c: (score(c), len(c), [rank[i] for i in c]))
    if now in options and score(now) <= score(best) + settings.hysteresis_w:
        best = now
    return options[best][0]


def start_penalty_w(settings: StrategySettings) -> float:
    """Return the W of modelled loss one start from stop must save (its cost over payback)."""
    cost, payback = settings.start_cost_wh, settings.start_payback_s
    if not (math.isfinite(cost) and math.isfinite(payback)) or cost <= 0 or payback <= 0:
        return 0.0
    return cost * 3600.0 / payback


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


def grid_without_batteries(
    grid_w: float,
    batteries: Sequence[BatteryReading],
    previous: Plan,
    settings: StrategySettings,
) -> float:
    """Return the grid power without the batteries (W), as ``allocate`` counts it.

    ``allocate(grid_w - target, ...)`` covers this less target: the grid modes
    (grid_mode.py) choose the target from it.
    """
    valid = [_is_valid(battery) for battery in batteries]
    powers = _previous_powers(batteries, previous, settings, valid)
    delivered = [
        b.delivered_w if ok and _is_finite(b.delivered_w) else None
        for b, ok in zip(batteries, valid, strict=True)
    ]
    assumed = [p if d is None else (Mode.STOP, 0) for p, d in zip(powers, delivered, strict=True)]
    return demand_w(grid_w, assumed, settings) + sum(d for d in delivered if d is not None)


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
