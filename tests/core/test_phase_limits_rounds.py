"""The phase rounds' faster parts give exactly what their first, slower forms gave (issue 22).

``within_limits`` plans once more for each phase limit passed, so its own work and the split's
are paid three or four times in such a call. The faster forms here (``measure`` without a
``dataclasses.replace`` per battery, ``_with_caps`` without ``replace``, the bounded family's
ranking by a stable sort, ``hull_split``'s tie table looked up for members only) must not
change a plan: each is checked against its first form, kept below as the reference, on random
fleets with binding limits, unknown phases, currents and one-phase fleets, and whole plans are
checked with the references swapped in.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import astuple, replace
import math
from typing import Any

from hypothesis import given, settings as hyp_settings, strategies as st
import pytest

from custom_components.marstek_strategy.core import efficiency, engine, phase_limits
from custom_components.marstek_strategy.core.efficiency import _LEAST_SHARE_W, _Fleet
from custom_components.marstek_strategy.core.model import (
    DEFAULT_EFFICIENCY_TABLE,
    BatteryReading,
    Cycle,
    Mode,
    PhaseLimits,
    Plan,
    Reason,
    Setpoint,
    Strategy,
    StrategySettings,
)
from custom_components.marstek_strategy.core.phase_limits import Measured, effect_w


def measure_first(
    batteries: Sequence[BatteryReading],
    previous: Sequence[tuple[Mode, int]],
    factors: tuple[float, float],
) -> dict[str, Measured]:
    """``phase_limits.measure`` as first written: a ``replace`` per battery."""
    found: dict[str, Measured] = {}
    for index, battery in enumerate(batteries):
        key = battery.phase or ""
        effect = effect_w(*previous[index], *factors)
        rise = (0.0, 0.0)
        if not phase_limits._takes_part(battery):
            effect = 0.0
            rise = battery.rise_w or rise
        elif battery.delivered_w is not None and math.isfinite(battery.delivered_w):
            effect = battery.delivered_w
        if (known := found.get(key)) is None:
            found[key] = Measured(battery.phase_w, battery.phase_a, effect, (index,), rise)
        else:
            found[key] = replace(
                known,
                power_w=battery.phase_w,
                current_a=battery.phase_a,
                delivered_w=known.delivered_w + effect,
                members=(*known.members, index),
                rise_w=(known.rise_w[0] + rise[0], known.rise_w[1] + rise[1]),
            )
    return found


def with_caps_first(cycle: Cycle, caps: Sequence[int], reason: Reason) -> Cycle:
    """``phase_limits._with_caps`` as first written (``dataclasses.replace``)."""
    excluded = tuple(
        reason if old is None and cap <= 0 < was else old
        for old, cap, was in zip(cycle.excluded, caps, cycle.caps, strict=True)
    )
    kept = tuple(min(k, cap) for k, cap in zip(cycle.kept, caps, strict=True))
    return replace(cycle, caps=tuple(caps), excluded=excluded, kept=kept)


#: The fleet's own family (every choice tried below ``_MAX_SETS``: unchanged code).
FAMILY = _Fleet.family


def family_first(
    fleet: _Fleet, curves: Sequence[Any], total: int, first: int | None
) -> list[tuple[int, ...]]:
    """``_Fleet.family``'s bounded family as first written: (W per W, rank, i) tuples sorted.

    Falls back to the fleet's own family where every choice is tried (unchanged code).
    """
    order, caps, kinds = fleet.order, fleet.caps, fleet.kinds
    groups: dict[int, list[int]] = {}
    for i in order:
        groups.setdefault(kinds[i], []).append(i)
    if math.prod(len(group) + 1 for group in groups.values()) <= efficiency._MAX_SETS:
        return FAMILY(fleet, curves, total, first)
    largest = sorted((caps[i] for i in order), reverse=True)
    fewest = next((k for k in range(1, len(order) + 1) if sum(largest[:k]) >= total), len(order))
    most = max(fewest, -(-total // _LEAST_SHARE_W))
    sets: list[tuple[int, ...]] = []
    rank, arrays = fleet.rank, fleet.arrays
    for k in range(fewest, min(most, len(order)) + 1):
        share = -(-total // k)
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
            option = tuple([i for i in order if i in chosen])
            if option not in sets:
                sets.append(option)
    if order not in sets:
        sets.append(order)
    return sets


def hull_split_first(fleet: _Fleet, total: float, members: set[int]) -> dict[int, float]:
    """``_Fleet.hull_split`` as first written (the tie table looked up for every member)."""
    powers = dict.fromkeys(members, 0.0)
    left = float(total)
    who, parts, ends, skip = fleet.who, fleet.parts, fleet.ends, 0
    if not ends:
        if left > 0:
            for i, part in zip(who, parts, strict=True):
                if i in powers:
                    if left <= part:
                        powers[i] += left
                        break
                    powers[i] += part
                    left -= part
        return powers
    for position, i in enumerate(who if left > 0 else ()):
        if position < skip or i not in powers:
            continue
        end = ends.get(position)
        if end is not None:
            group = [q for q in range(position, end) if who[q] in powers]
            if len(group) > 1:
                skip = end
                lengths = [parts[q] for q in group]
                length = sum(lengths)
                if length <= left:
                    for q in group:
                        powers[who[q]] += parts[q]
                    left -= length
                    if left <= 0:
                        break
                    continue
                shares = efficiency.water_fill(left, lengths)
                for q, share in zip(group, shares, strict=True):
                    powers[who[q]] += share
                break
        part = parts[position]
        if left <= part:
            powers[i] += left
            break
        powers[i] += part
        left -= part
    return powers


def table_of(index: int) -> tuple[tuple[float, float, float], ...]:
    """A battery's own table (as the engine bench's distinct tables)."""
    drop, shift = 0.007 * index, 1.0 + 0.03 * index
    return tuple(
        (round(ac * shift, 1), charge - drop, discharge - drop)
        for ac, charge, discharge in DEFAULT_EFFICIENCY_TABLE
    )


def _same(a: object, b: object) -> bool:
    """Return whether a and b are equal, a NaN equal to a NaN."""
    if isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b):
        return True
    if isinstance(a, tuple) and isinstance(b, tuple):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b, strict=True))
    return a == b


PHASE_W = st.one_of(st.floats(-9000, 9000), st.just(math.nan))
CURRENT = st.one_of(st.none(), st.floats(-45, 45), st.just(math.nan))


@st.composite
def cases(draw: st.DrawFn) -> tuple[float, list[BatteryReading], Plan, StrategySettings]:
    """A cycle's inputs: 1-8 batteries over 1-3 phases (or none), limits that often bind."""
    names = draw(st.sampled_from([("L1",), ("L1", "L2"), ("L1", "L2", "L3"), (None, "L1")]))
    power = {name: draw(PHASE_W) for name in names}
    current = {name: draw(CURRENT) for name in names}
    distinct = draw(st.booleans())
    batteries = []
    for index in range(draw(st.integers(1, 8))):
        name = draw(st.sampled_from(names))
        batteries.append(
            BatteryReading(
                soc=draw(st.one_of(st.floats(0, 100), st.just(math.nan))),
                charge_cutoff=100.0,
                discharge_cutoff=draw(st.sampled_from([10.0, 12.0, 20.0])),
                max_charge_w=draw(st.sampled_from([2500, 1200, 800, 0])),
                max_discharge_w=draw(st.integers(0, 2500)),
                phase_w=power[name] if name is not None else draw(PHASE_W),
                available=draw(st.booleans()) or draw(st.booleans()),
                efficiency_table=table_of(index) if distinct else None,
                phase=name,
                delivered_w=draw(st.one_of(st.none(), st.floats(-2500, 2500))),
                phase_a=current[name] if name is not None else None,
                rise_w=draw(st.one_of(st.none(), st.tuples(st.floats(-500, 0), st.floats(0, 800)))),
            )
        )
    mode = draw(st.sampled_from([Mode.CHARGE, Mode.DISCHARGE, Mode.STOP]))
    setpoints = tuple(
        Setpoint(mode, watts) if mode is not Mode.STOP and watts > 0 else Setpoint(Mode.STOP, 0)
        for watts in draw(st.lists(st.integers(0, 2500), min_size=len(batteries), max_size=8))[
            : len(batteries)
        ]
    )
    limits = draw(
        st.sampled_from(
            [
                PhaseLimits.from_fuse(10.0),
                PhaseLimits.from_fuse(16.0),
                PhaseLimits.from_fuse(16.0, feed_in_w=800.0),
                PhaseLimits(import_w=2500.0, export_w=1500.0, margin_w=100.0),
            ]
        )
    )
    settings = StrategySettings(
        strategy=draw(st.sampled_from([Strategy.EFFICIENCY, Strategy.PRIORITY, Strategy.EQUAL])),
        phase_limits=limits,
    )
    return draw(st.floats(-15000, 15000)), batteries, Plan(mode, setpoints), settings


@hyp_settings(max_examples=300, deadline=None)
@given(cases())
def test_measure_is_the_first_form(
    case: tuple[float, list[BatteryReading], Plan, StrategySettings],
) -> None:
    """Each phase's power, current, delivered W, members and rise are those summed first."""
    _, batteries, plan, settings = case
    previous = engine._previous_powers(batteries, plan, settings)
    factors = (settings.discharge_release_factor, settings.charge_release_factor)
    new = phase_limits.measure(batteries, previous, factors)
    old = measure_first(batteries, previous, factors)
    assert list(new) == list(old)
    assert all(_same(astuple(new[key]), astuple(old[key])) for key in old)


@hyp_settings(max_examples=300, deadline=None)
@given(cases(), st.data())
def test_with_caps_is_the_first_form(
    case: tuple[float, list[BatteryReading], Plan, StrategySettings], data: st.DataObject
) -> None:
    """A cycle with lower caps is the one ``dataclasses.replace`` gave."""
    grid, batteries, plan, settings = case
    valid = [engine._is_valid(battery) for battery in batteries]
    previous = engine._previous_powers(batteries, plan, settings, valid)
    cycle = engine._cycle(grid, batteries, previous, valid, settings)
    caps = [data.draw(st.integers(0, cap)) for cap in cycle.caps]
    reason = Reason.LIMITED_BY_PHASE
    assert phase_limits._with_caps(cycle, caps, reason) == with_caps_first(cycle, caps, reason)


@hyp_settings(max_examples=300, deadline=None)
@given(
    st.lists(st.tuples(st.integers(0, 7), st.integers(1, 2500)), min_size=1, max_size=8),
    st.integers(1, 20000),
    st.sampled_from([Mode.CHARGE, Mode.DISCHARGE]),
    st.data(),
)
def test_the_bounded_family_is_the_first_form(
    batteries: list[tuple[int, int]], total: int, mode: Mode, data: st.DataObject
) -> None:
    """The sets tried, in order, are those the tuple sort gave (ties by rank included)."""
    curves = [efficiency._curve(mode, table_of(table)) for table, _ in batteries]
    caps = [cap for _, cap in batteries]
    order = data.draw(st.permutations(range(len(batteries))))
    first = data.draw(st.one_of(st.none(), st.sampled_from(order)))
    fleet = _Fleet(order, curves, caps, [7.0] * len(batteries))
    assert fleet.family(curves, total, first) == family_first(fleet, curves, total, first)


@hyp_settings(max_examples=300, deadline=None)
@given(
    st.lists(st.tuples(st.integers(0, 7), st.integers(1, 2500)), min_size=1, max_size=8),
    st.one_of(st.floats(-100, 25000), st.just(math.nan), st.integers(-5, 25000)),
    st.sampled_from([Mode.CHARGE, Mode.DISCHARGE]),
    st.data(),
)
def test_hull_split_is_the_first_form(
    batteries: list[tuple[int, int]], total: float, mode: Mode, data: st.DataObject
) -> None:
    """Each member's power, and the order of the result, are those of the first form."""
    curves = [efficiency._curve(mode, table_of(table)) for table, _ in batteries]
    fleet = _Fleet(range(len(batteries)), curves, [cap for _, cap in batteries], [7.0] * 8)
    members = set(data.draw(st.lists(st.sampled_from(range(len(batteries))), min_size=1)))
    new = fleet.hull_split(total, members)
    assert list(new.items()) == list(hull_split_first(fleet, total, members).items())


def plan_first(case: tuple[float, list[BatteryReading], Plan, StrategySettings]) -> Plan:
    """Return the plan of case with the first forms swapped in."""
    with pytest.MonkeyPatch.context() as patched:
        patched.setattr(phase_limits, "measure", measure_first)
        patched.setattr(phase_limits, "_with_caps", with_caps_first)
        patched.setattr(_Fleet, "family", family_first)
        patched.setattr(_Fleet, "hull_split", hull_split_first)
        return engine.allocate(*case)


@hyp_settings(max_examples=400, deadline=None)
@given(cases())
def test_plans_are_those_of_the_first_forms(
    case: tuple[float, list[BatteryReading], Plan, StrategySettings],
) -> None:
    """A chain of three cycles, phase powers moving: every plan is the first forms' plan."""
    grid, batteries, plan, settings = case
    old = new = plan
    for step in range(3):
        old = plan_first((grid, batteries, old, settings))
        new = engine.allocate(grid, batteries, new, settings)
        assert new == old
        grid -= 0.9 * sum(s.power_w for s in new.setpoints) * (1 if step % 2 else -1)
        batteries = [replace(b, phase_w=b.phase_w + 700.0 * (step - 1)) for b in batteries]
