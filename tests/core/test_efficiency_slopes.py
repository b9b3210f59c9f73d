"""Tests of the efficiency split's per-cap slopes (worked out from each curve's) and caches."""

from __future__ import annotations

from collections.abc import Sequence
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


@st.composite
def any_tables(draw: st.DrawFn) -> EfficiencyTable:
    """A table of 1 to 10 rows anywhere in 1..3000 W, efficiencies 0.5..0.99 (learned-like)."""
    xs = draw(st.lists(st.integers(10, 30000), min_size=1, max_size=10, unique=True))
    efficiencies = st.floats(0.5, 0.99)
    return tuple(sorted((x / 10, draw(efficiencies), draw(efficiencies)) for x in xs))


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
    """The slopes a cap gets from its curve's are exactly (bit for bit) those worked out
    directly from the capped bends, for caps below, on, between and above the table's rows
    and in any order (fails when the secant to cap or the stretch below cap is left out)."""
    curve = _curve(mode, table)
    for cap in caps:
        direct = slopes_directly(curve.array(cap), curve.bends_to(cap))
        assert curve.slopes_to(cap) == direct


def test_a_curve_keeps_a_bounded_number_of_caps() -> None:
    """Caps that change every call (a moving max power, phase budgets) do not grow a curve's
    bends, hulls and slopes without end: at most ``_MAX_CAPS`` each, the newest kept."""
    curve = _curve(Mode.CHARGE, ODD_TABLE)
    caps = range(700, 2500, 10)
    for cap in caps:
        curve.bends_to(cap)
        curve.hull(cap)
        curve.slopes_to(cap)
    for cache in (curve.bends, curve.hulls, curve.slopes):
        assert len(cache) == efficiency._MAX_CAPS
        assert caps[-1] in cache
    again = curve.slopes_to(caps[0])  # dropped before: worked out anew, the same
    assert again == slopes_directly(curve.array(caps[0]), curve.bends_to(caps[0]))


def test_refine_works_out_slopes_only_for_the_batteries_it_pairs() -> None:
    """A fleet's slopes are worked out when ``refine`` pairs running batteries, for those
    only: a split that runs one battery, or stopped ones, costs none."""
    efficiency._SHAPES.clear()
    curves = [_curve(Mode.DISCHARGE, DEFAULT_EFFICIENCY_TABLE), _curve(Mode.DISCHARGE, ODD_TABLE)]
    curves.append(curves[0])
    fleet = _Fleet(range(3), curves, [2500, 1800, 900], [0.0] * 3)
    assert fleet.slopes == {}
    fleet.refine({0: 1200, 1: 0, 2: 0})
    assert fleet.slopes == {}
    fleet.refine({0: 1200, 1: 700, 2: 0})
    assert set(fleet.slopes) == {0, 1}
    assert fleet.slopes[1] == curves[1].slopes_to(1800)
    efficiency._SHAPES.clear()
