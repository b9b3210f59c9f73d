"""Tests of the efficiency split's per-cap slopes and hulls (derived from each curve's)."""

from __future__ import annotations

from collections.abc import Sequence
from itertools import pairwise
import math

from hypothesis import example, given, settings as hyp_settings, strategies as st

from custom_components.marstek_strategy.core import efficiency
from custom_components.marstek_strategy.core.efficiency import _Fleet
from custom_components.marstek_strategy.core.engine import (
    DEFAULT_EFFICIENCY_TABLE,
    EfficiencyTable,
    Mode,
    _curve,
)

ODD_TABLE = tuple(
    (ac * 1.07 + 0.4, charge - 0.02, discharge - 0.03)
    for ac, charge, discharge in DEFAULT_EFFICIENCY_TABLE
)


def slopes_directly(
    loss: Sequence[float], bends: Sequence[int]
) -> tuple[list[float], list[float], list[float], list[float]]:
    """``_Curve.slopes_to`` as it was first written: every extreme from the capped bends."""
    ys = [loss[b] for b in bends]
    last = len(bends) - 1
    line = [(ys[k + 1] - ys[k]) / (bends[k + 1] - bends[k]) for k in range(last)]
    rise_at = [
        min([line[k], *((ys[j] - ys[k]) / (bends[j] - bends[k]) for j in range(k + 2, last + 1))])
        for k in range(last)
    ]
    rise_at.append(math.inf)
    fall_at = [-math.inf]
    fall_at += [
        max([line[k - 1], *((ys[k] - ys[j]) / (bends[k] - bends[j]) for j in range(k - 1))])
        for k in range(1, last + 1)
    ]
    rise_in: list[float] = []
    fall_in: list[float] = []
    for k in range(last):
        rise = fall = line[k]
        if bends[k + 1] - bends[k] >= 2:
            for w in (bends[k] + 1, bends[k + 1] - 1):
                y = ys[k] + line[k] * (w - bends[k])
                rise = min([rise, *((ys[j] - y) / (bends[j] - w) for j in range(k + 2, last + 1))])
                fall = max([fall, *((y - ys[j]) / (w - bends[j]) for j in range(k))])
        rise_in.append(rise)
        fall_in.append(fall)
    return rise_at, fall_at, rise_in, fall_in


def moves_directly(
    bends: Sequence[int],
    slopes: tuple[list[float], list[float], list[float], list[float]],
    power: int,
) -> tuple[float, float]:
    """(rise, fall) at power from ``slopes_directly``'s lists: at a bend, or in a stretch."""
    k = max(k for k, bend in enumerate(bends) if bend <= power)
    if bends[k] == power:
        return slopes[0][k], slopes[1][k]
    return slopes[2][k], slopes[3][k]


def hull_directly(curve: efficiency._Curve, cap: int) -> tuple[tuple[float, float], ...]:
    """``_Curve.hull`` as it was first written: the monotone chain over all points to cap."""
    points = [(0.0, curve.at(curve.xs[0]))]
    points += [(x, curve.at(x)) for x in curve.xs if 0 < x < cap]
    points.append((float(cap), curve.at(cap)))
    hull: list[tuple[float, float]] = []
    for point in points:
        while len(hull) >= 2 and efficiency._cross(hull[-2], hull[-1], point) <= 0:
            hull.pop()
        hull.append(point)
    return tuple((b[0] - a[0], (b[1] - a[1]) / (b[0] - a[0])) for a, b in pairwise(hull))


@st.composite
def any_tables(draw: st.DrawFn) -> EfficiencyTable:
    """A table of 1 to 10 rows anywhere in 1..3000 W, efficiencies 0.5..0.99 (learned-like)."""
    xs = draw(st.lists(st.integers(10, 30000), min_size=1, max_size=10, unique=True))
    efficiencies = st.floats(0.5, 0.99)
    return tuple(sorted((x / 10, draw(efficiencies), draw(efficiencies)) for x in xs))


@st.composite
def rough_tables(draw: st.DrawFn) -> EfficiencyTable:
    """A table with rows that may share a power, lie in a line or on whole watts."""
    xs = draw(st.lists(st.sampled_from([63, 100, 125, 250, 250, 400.5, 1000]), min_size=1))
    efficiencies = st.sampled_from([0.5, 0.8, 0.9, 0.95])
    return tuple(sorted((float(x), draw(efficiencies), draw(efficiencies)) for x in xs))


@hyp_settings(max_examples=150, deadline=None)
@example(Mode.DISCHARGE, DEFAULT_EFFICIENCY_TABLE, [0, 1, 2, 63, 64, 125, 126, 2499, 2500, 3000])
@example(Mode.CHARGE, ODD_TABLE, [1, 67, 68, 69, 70, 71, 800, 2676, 2677, 2678, 3100])
@given(
    mode=st.sampled_from([Mode.CHARGE, Mode.DISCHARGE]),
    table=st.one_of(st.sampled_from([DEFAULT_EFFICIENCY_TABLE, ODD_TABLE]), any_tables()),
    caps=st.lists(st.integers(0, 3100), min_size=1, max_size=8),
)
def test_slopes_per_cap_are_those_worked_out_directly(
    mode: Mode, table: EfficiencyTable, caps: list[int]
) -> None:
    """How the loss moves from a power within a cap (``_Curve.moves``) is exactly (bit for
    bit) what the slopes worked out directly from the capped bends say, at every bend and on
    both sides of it, for caps below, on, between and above the table's rows and in any
    order (fails when the secant to cap or the stretch below cap is left out)."""
    curve = _curve(mode, table)
    for cap in caps:
        bends = curve.bends_to(cap)
        direct = slopes_directly(curve.array(cap), bends)
        powers = {p for bend in bends for p in (bend - 1, bend, bend + 1) if 1 <= p <= cap}
        for power in sorted(powers):
            assert curve.moves(cap, power) == moves_directly(bends, direct, power)


@hyp_settings(max_examples=200, deadline=None)
@example(Mode.DISCHARGE, DEFAULT_EFFICIENCY_TABLE, [1, 2, 62, 63, 64, 125, 1000, 2500, 3000])
@example(Mode.CHARGE, ODD_TABLE, [3100, 68, 1, 800, 2676, 2677])
@given(
    mode=st.sampled_from([Mode.CHARGE, Mode.DISCHARGE]),
    table=st.one_of(
        st.sampled_from([DEFAULT_EFFICIENCY_TABLE, ODD_TABLE]), any_tables(), rough_tables()
    ),
    caps=st.lists(st.integers(1, 3100), min_size=1, max_size=8),
)
def test_hull_per_cap_is_the_one_worked_out_directly(
    mode: Mode, table: EfficiencyTable, caps: list[int]
) -> None:
    """A cap's hull, taken from the curve's monotone chain over all its rows, is exactly (bit
    for bit) the hull worked out from the points below cap and cap's, for any cap and order,
    on tables with rows on one line or at one power (fails when cap's point pops too few or
    too many of the chain's points, or the chain is not the stack after the last point)."""
    curve = _curve(mode, table)
    for cap in caps:
        assert curve.hull(cap) == hull_directly(curve, cap)


def test_a_fleet_keeps_every_batterys_hull_segments_sorted() -> None:
    """The fleet's segments are its batteries' hulls at their caps, sorted by slope."""
    efficiency._SHAPES.clear()
    curves = [_curve(Mode.CHARGE, DEFAULT_EFFICIENCY_TABLE), _curve(Mode.CHARGE, ODD_TABLE)]
    caps = [1234, 2677]
    fleet = _Fleet(range(2), curves, caps, [0.0] * 2)
    hulls = [(slope, i, length) for i in range(2) for length, slope in curves[i].hull(caps[i])]
    assert list(zip(fleet.slopes, fleet.who, fleet.parts, strict=True)) == sorted(hulls)
    efficiency._SHAPES.clear()


def test_a_curve_keeps_a_bounded_number_of_caps() -> None:
    """Caps that change every call (a moving max power, phase budgets) do not grow a curve's
    slopes at cap without end: at most ``_MAX_CAPS``, the newest kept."""
    curve = _curve(Mode.CHARGE, ODD_TABLE)
    caps = range(700, 2500, 10)
    for cap in caps:
        curve.moves(cap, cap - 1)
    assert len(curve.tops) == efficiency._MAX_CAPS
    assert caps[-1] in curve.tops
    bends = curve.bends_to(caps[0])  # dropped before: worked out anew, the same
    direct = slopes_directly(curve.array(caps[0]), bends)
    assert curve.moves(caps[0], 699) == moves_directly(bends, direct, 699)


def test_refine_works_out_slopes_only_for_the_batteries_it_pairs() -> None:
    """A cap's slopes are worked out when ``refine`` pairs running batteries, for those
    only: a split that runs one battery, or stopped ones, costs none."""
    efficiency._SHAPES.clear()
    curves = [_curve(Mode.DISCHARGE, DEFAULT_EFFICIENCY_TABLE), _curve(Mode.DISCHARGE, ODD_TABLE)]
    curves.append(curves[0])
    caps = [2501, 1801, 901]
    for curve, cap in zip(curves, caps, strict=True):
        curve.tops.pop(cap, None)
    fleet = _Fleet(range(3), curves, caps, [0.0] * 3)
    fleet.refine({0: 1200, 1: 0, 2: 0})
    assert all(cap not in curve.tops for curve, cap in zip(curves, caps, strict=True))
    fleet.refine({0: 0, 1: 700, 2: 600})
    assert 1801 in curves[1].tops
    assert 901 in curves[2].tops
    assert 2501 not in curves[0].tops
    efficiency._SHAPES.clear()


def hull_split_directly(fleet: _Fleet, total: float, members: set[int]) -> dict[int, float]:
    """``_Fleet.hull_split`` as it was first written: the members' segments, tied ones found
    by walking them (slopes within 1e-12 of a group's first share it evenly)."""
    segments = sorted(
        (slope, i, length) for i in members for length, slope in fleet.curves[i].hull(fleet.caps[i])
    )
    powers = dict.fromkeys(members, 0.0)
    left = float(total)
    position, count = 0, len(segments)
    while position < count and left > 0:
        slope, i, part = segments[position]
        end = position + 1
        while end < count and segments[end][0] - slope <= 1e-12:
            end += 1
        if end == position + 1:
            step = left if left < part else part
            powers[i] += step
            left -= step
            position = end
            continue
        group = segments[position:end]
        position = end
        length = sum([segment[2] for segment in group])
        if length <= left:
            for _, j, piece in group:
                powers[j] += piece
            left -= length
        else:
            shares = efficiency.water_fill(left, [segment[2] for segment in group])
            for (_, j, _), share in zip(group, shares, strict=True):
                powers[j] += share
            left = 0.0
    return powers


@hyp_settings(max_examples=200, deadline=None)
@example(Mode.DISCHARGE, [0, 0, 0, 0], [2500, 2500, 2500, 800], [1, 0, 1, 1], 3000)
@example(Mode.CHARGE, [0, 1, 0, 2], [900, 2677, 900, 1500], [1, 1, 1, 0], 2000)
@given(
    mode=st.sampled_from([Mode.CHARGE, Mode.DISCHARGE]),
    kinds=st.lists(st.integers(0, 2), min_size=1, max_size=8),
    caps=st.lists(st.sampled_from([63, 125, 800, 900, 1500, 2500, 2677]), min_size=8, max_size=8),
    chosen=st.lists(st.booleans(), min_size=8, max_size=8),
    total=st.integers(0, 20000),
)
def test_hull_split_shares_ties_as_worked_out_directly(
    mode: Mode, kinds: list[int], caps: list[int], chosen: list[bool], total: int
) -> None:
    """The hull split over a set, walked on the fleet's segments with their tie windows
    (``_Fleet.ends``), is bit for bit the split worked out from the set's own segments, with
    batteries sharing tables and caps (tied slopes, shared evenly) and sets that leave some
    of a tie out (fails when a window is taken from the fleet instead of the set)."""
    efficiency._SHAPES.clear()
    tables = [DEFAULT_EFFICIENCY_TABLE, ODD_TABLE, ODD_TABLE[:4]]
    count = len(kinds)
    curves = [_curve(mode, tables[kind]) for kind in kinds]
    fleet = _Fleet(range(count), curves, caps[:count], [0.0] * count)
    members = {i for i in range(count) if chosen[i]} or {0}
    got = fleet.hull_split(total, members)
    want = hull_split_directly(fleet, total, members)
    assert list(got.items()) == list(want.items())
    efficiency._SHAPES.clear()
