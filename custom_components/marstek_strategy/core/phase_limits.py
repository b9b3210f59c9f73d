"""Pure per-phase limits: keep every phase's grid power within its fuse and feed-in limit.

Nothing here imports Home Assistant (nor, at run time, the engine that calls it).

The model is the engine's own: a battery commanded ``p`` W while discharging lowers its phase's
grid power by ``p * discharge_release_factor``, while charging raises it by
``p * charge_release_factor``. So for the phase of a group of batteries:

* without the batteries, the phase would carry ``base = measured + what they deliver now``
  (the plan in force, as the engine clamps it);
* after the plan it carries ``base - effect(new plan)``, which must stay within
  ``-export_w .. import_w``.

With one mode per cycle that is one budget per phase: the most commanded W the phase's
batteries may run this cycle (``phase_budget``). ``within_limits`` runs the strategy, and when a
phase's batteries would exceed its budget it caps them (the largest setpoints keep theirs
first) and runs the strategy again with those caps, so the demand the phase cannot take moves
to batteries on other phases, or is not met: the net-zero goal yields to the limit.

A battery that takes no part (unavailable, taken out by the read-back) is controlled by nobody:
none of its power counts as released headroom, whatever its in-flight estimate says. The meter
shows what it did at the sample; what it may still do (go on, stop, reach the target of a
command still in force: ``BatteryReading.rise_w``) is taken at its worst for each direction's
limit.

A phase whose power is not a number (its sensor is stale or unavailable) lets none of its
batteries raise their power: each may keep at most what it runs now in this mode.

A phase with a current sensor (``BatteryReading.phase_a``, in A, signed as the phase power) is
judged on its current for the fuse, which is rated in A, and on its power as without one: the
stricter budget counts, so a current that the power contradicts never allows more. The current
and the batteries' W meet at ``volts * POWER_FACTOR`` W per A (``watts_of_amps``), so
``|I after| <= fuse A`` is the same budget arithmetic on ``I * volts * POWER_FACTOR`` against
``fuse_w``. The feed-in limit (a grid code's W) stays on the phase's power. A current that is
not a number (its sensor stale, unavailable or in no unit of current) lets none of the phase's
batteries raise their power, as an unknown power does.

A phase already beyond its limit without the batteries (a house load alone above the fuse)
cannot be brought back by batteries running the other way; the plan then never makes it worse
than stopping them (its budget is 0 in that direction).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
import math
from typing import TYPE_CHECKING, Any, cast

from .model import Cycle, PhaseLimits

if TYPE_CHECKING:
    from .model import Allocation, BatteryReading, Mode, Reason


def effect_w(mode: Mode, power_w: float, discharge_factor: float, charge_factor: float) -> float:
    """Return how much a battery lowers its phase's grid power (W; negative while charging)."""
    if mode == "discharge":
        return power_w * discharge_factor
    if mode == "charge":
        return -power_w * charge_factor
    return 0.0


def phase_budget(
    mode: Mode, base_w: float, limits: PhaseLimits, discharge_factor: float, charge_factor: float
) -> int:
    """Return the most commanded W a phase's batteries may run in mode (whole W, >= 0).

    base_w is the phase's grid power without its batteries (positive = import).
    """
    if mode == "discharge":
        most = (base_w + limits.export_w - limits.margin_w) / discharge_factor
    elif mode == "charge":
        most = (limits.import_w - limits.margin_w - base_w) / charge_factor
    else:
        return 0
    return max(0, math.floor(most))


def _floor(most: float) -> int:
    """Return most as whole W, at least 0 (an infinite limit: effectively none)."""
    return max(0, math.floor(min(most, 1e12)))


def current_budget(
    mode: Mode, base_w: float, base_a_w: float, limits: PhaseLimits, factors: tuple[float, float]
) -> int:
    """Return a phase's budget (commanded W) from its current for the fuse, power for feed-in.

    base_w is the phase's power without its batteries, base_a_w its current without them as
    W (``watts_of_amps``; positive = import).
    """
    fuse_w = limits.import_w if limits.fuse_w is None else limits.fuse_w
    feed_in_w = limits.export_w if limits.feed_in_w is None else limits.feed_in_w
    margin = limits.margin_w
    discharge_factor, charge_factor = factors
    if mode == "discharge":
        fuse = (base_a_w + fuse_w - margin) / discharge_factor
        feed_in = (base_w + feed_in_w - margin) / discharge_factor
        return _floor(min(fuse, feed_in))
    if mode == "charge":
        return _floor((fuse_w - margin - base_a_w) / charge_factor)
    return 0


def _budget(
    mode: Mode, phase: Measured, limits: PhaseLimits, factors: tuple[float, float]
) -> int | None:
    """Return one phase's budget in mode from what it measures; None where it is unknown."""
    if not math.isfinite(phase.power_w):
        return None
    # What the batteries that take no part may still do: the worst for this mode's limit.
    rise = phase.rise_w[0] if mode == "discharge" else phase.rise_w[1]
    if not math.isfinite(rise):
        return 0
    base_w = phase.power_w + phase.delivered_w + rise
    if phase.current_a is None:
        return phase_budget(mode, base_w, limits, *factors)
    if not math.isfinite(phase.current_a):
        return None
    base_a_w = limits.watts_of_amps(phase.current_a) + phase.delivered_w + rise
    # The stricter of current and power: a current that the power contradicts (a sensor of
    # another phase, a reactive load signed as export) never allows more than the power does.
    return min(
        current_budget(mode, base_w, base_a_w, limits, factors),
        phase_budget(mode, base_w, limits, *factors),
    )


def _phase_key(cycle: Cycle, index: int) -> str:
    """Return the name of battery index's phase; batteries without one share the grid's."""
    return cycle.batteries[index].phase or ""


def budgets(
    cycle: Cycle, previous: Sequence[tuple[Mode, int]], limits: PhaseLimits
) -> dict[str, int | None]:
    """Return each phase's budget in the cycle's mode; None where its power is unknown."""
    settings = cycle.settings
    factors = (settings.discharge_release_factor, settings.charge_release_factor)
    return {
        key: _budget(cycle.mode, phase, limits, factors)
        for key, phase in measure(cycle.batteries, previous, factors).items()
    }


@dataclass(frozen=True, slots=True)
class Measured:
    """One phase as its batteries see it: power (W), current (A; None: no sensor), members."""

    power_w: float
    current_a: float | None
    delivered_w: float  # what its batteries deliver now (grid W, + = lowering the phase)
    members: tuple[int, ...]
    rise_w: tuple[float, float] = (0.0, 0.0)  # what those taking no part may still add (W)


def measure(
    batteries: Sequence[BatteryReading],
    previous: Sequence[tuple[Mode, int]],
    factors: tuple[float, float],
) -> dict[str, Measured]:
    """Return each phase (by name; "" for batteries without one) as its batteries read it."""
    # per phase: [power, current, delivered, members, rise discharge, rise charge], the
    # sums in battery order (one object per phase at the end, not one per battery)
    found: dict[str, list[Any]] = {}
    discharge_factor, charge_factor = factors
    for index, battery in enumerate(batteries):
        key = battery.phase or ""
        mode, power = previous[index]
        if mode == "discharge":  # effect_w, inline
            effect = power * discharge_factor
        elif mode == "charge":
            effect = -power * charge_factor
        else:
            effect = 0.0
        rise = (0.0, 0.0)
        if not _takes_part(battery):
            # Nobody controls it: none of its power is headroom; what it may still do is
            # its rise (the meter already shows what it did at the sample).
            effect = 0.0
            rise = battery.rise_w or rise
        elif battery.delivered_w is not None and math.isfinite(battery.delivered_w):
            effect = battery.delivered_w  # its estimate: what is still on its way is not there
        known = found.get(key)
        if known is None:
            found[key] = [battery.phase_w, battery.phase_a, effect, [index], *rise]
        else:  # the last battery's reading of the phase counts, as before
            known[0], known[1] = battery.phase_w, battery.phase_a
            known[2] += effect
            known[3].append(index)
            known[4] += rise[0]
            known[5] += rise[1]
    return {
        key: Measured(power, current, delivered, tuple(members), (rise_d, rise_c))
        for key, (power, current, delivered, members, rise_d, rise_c) in found.items()
    }


def _takes_part(battery: BatteryReading) -> bool:
    """Return whether the plan controls battery (``BatteryReading.usable``)."""
    return battery.usable


@dataclass(frozen=True, slots=True)
class PhaseView:
    """One phase for diagnostics: what it measures and the most its batteries may run."""

    power_w: float
    current_a: float | None
    charge_budget_w: int | None  # commanded W its batteries may charge (None: unknown)
    discharge_budget_w: int | None  # commanded W its batteries may discharge
    batteries: tuple[int, ...]


def views(
    batteries: Sequence[BatteryReading],
    previous: Sequence[tuple[Mode, int]],
    limits: PhaseLimits,
    factors: tuple[float, float],
) -> dict[str, PhaseView]:
    """Return each phase's measurements and its budgets in both modes (import and export)."""
    charge, discharge = cast("Mode", "charge"), cast("Mode", "discharge")
    return {
        key: PhaseView(
            phase.power_w,
            phase.current_a,
            _budget(charge, phase, limits, factors),
            _budget(discharge, phase, limits, factors),
            phase.members,
        )
        for key, phase in measure(batteries, previous, factors).items()
    }


def _cap_phase(members: Sequence[int], powers: Sequence[int], caps: list[int], budget: int) -> None:
    """Cap members so they run at most budget together.

    The budget goes to the largest setpoints first, each up to its cap: few batteries run
    the phase's share (a small setpoint loses most), and the strategy splits it again.
    """
    left = budget
    for index in sorted(members, key=lambda i: (-powers[i], i)):
        caps[index] = min(caps[index], left)
        left -= caps[index]


def _with_caps(cycle: Cycle, caps: Sequence[int], reason: Reason) -> Cycle:
    """Return cycle with lower caps; a battery capped to 0 may not run (for reason)."""
    excluded = tuple(
        reason if old is None and cap <= 0 < was else old
        for old, cap, was in zip(cycle.excluded, caps, cycle.caps, strict=True)
    )
    kept = tuple(min(k, cap) for k, cap in zip(cycle.kept, caps, strict=True))
    # the constructor, not dataclasses.replace (several µs a round)
    return Cycle(
        cycle.mode, cycle.total_w, cycle.batteries, tuple(caps), excluded, kept, cycle.settings
    )


def within_limits(
    cycle: Cycle,
    strategy: Callable[[Cycle], Allocation],
    previous: Sequence[tuple[Mode, int]],
    reason: Reason,
) -> Allocation:
    """Run strategy on cycle so that no phase exceeds its limits; reason marks who was capped.

    previous is the plan in force per battery (mode, W), clamped as the engine clamps it.
    Without limits in the settings this is the strategy alone. Each round caps at least one
    more phase, so the strategy runs at most once per phase plus once.
    """
    limits = cycle.settings.phase_limits
    if limits is None:
        return strategy(cycle)
    budget = budgets(cycle, previous, limits)
    phases: dict[str, list[int]] = {}
    for index in range(len(cycle.batteries)):
        phases.setdefault(_phase_key(cycle, index), []).append(index)
    caps = list(cycle.caps)
    limited: set[int] = set()
    for key, members in phases.items():
        if budget[key] is None:  # unknown phase power: nobody there raises its power
            for index in members:
                if cycle.kept[index] < caps[index]:
                    caps[index] = cycle.kept[index]
                    limited.add(index)
    current = _with_caps(cycle, caps, reason) if limited else cycle
    powers, reasons = strategy(current)
    for _ in range(len(phases)):
        over = [
            key
            for key, members in phases.items()
            if (most := budget[key]) is not None and sum(powers[i] for i in members) > most
        ]
        if not over:
            break
        for key in over:
            members = phases[key]
            before = [caps[i] for i in members]
            _cap_phase(members, powers, caps, budget[key] or 0)
            limited.update(i for i, was in zip(members, before, strict=True) if caps[i] < was)
        current = _with_caps(cycle, caps, reason)
        powers, reasons = strategy(current)
    powers = [min(power, cap) for power, cap in zip(powers, caps, strict=True)]
    reasons = list(reasons)
    for index in limited:
        if powers[index] >= caps[index]:
            reasons[index] = reason
    return powers, reasons
