"""The meter-age rules of bench/inflight_rules.py: a ramp carried forward, and an early cycle."""

from __future__ import annotations

import math

from hypothesis import given, strategies as st
import pytest

from bench.inflight_rules import (
    RAMP_SAMPLES,
    EarlyRule,
    MeterSamples,
    RampRule,
    early_cycle,
    house_demand_w,
    ramp_w,
)
from custom_components.marstek_strategy.core.engine import Mode
from custom_components.marstek_strategy.core.inflight import InFlight

RULE = RampRule()


def test_a_steady_ramp_is_carried_to_now_plus_the_lead() -> None:
    samples = ((9.5, 1000.0), (10.5, 1100.0), (11.5, 1200.0))
    # now 12.0: carried from 11.5 to 12.5, one second at 100 W/s
    assert ramp_w(samples, 12.0) == pytest.approx(100.0)
    falling = tuple((t, -w) for t, w in samples)
    assert ramp_w(falling, 12.0) == pytest.approx(-100.0)


def test_the_carry_is_capped() -> None:
    samples = ((9.5, 0.0), (10.5, 100.0), (11.5, 200.0))
    assert ramp_w(samples, 30.0) == pytest.approx(100.0 * RULE.max_ahead_s)
    assert ramp_w(samples, 5.0) == 0.0  # a sample newer than now: nothing to carry


@pytest.mark.parametrize(
    "samples",
    [
        ((9.5, 1000.0), (10.5, 1000.0), (11.5, 2000.0)),  # a step: one slope, the other 0
        ((9.5, 1000.0), (10.5, 2000.0), (11.5, 1000.0)),  # a spike: slopes of opposite sign
        ((9.5, 1000.0), (10.5, 1010.0), (11.5, 1020.0)),  # noise-sized slopes
        ((9.5, 1000.0), (10.5, 1100.0), (11.5, 1500.0)),  # slopes 100 and 400: not one ramp
        ((0.0, 1000.0), (5.0, 1500.0), (10.0, 2000.0)),  # a 5 s meter: too far apart
        ((9.5, 1000.0), (10.5, 1100.0)),  # too few samples
        ((9.5, 1000.0), (9.5, 1100.0), (11.5, 1200.0)),  # equal times
        ((9.5, 1000.0), (10.5, math.nan), (11.5, 1200.0)),  # not a number
    ],
)
def test_no_ramp_gives_nothing(samples: tuple[tuple[float, float], ...]) -> None:
    assert ramp_w(samples, 12.0) == 0.0


@given(
    st.lists(st.floats(-5000, 5000), min_size=RAMP_SAMPLES, max_size=RAMP_SAMPLES),
    st.floats(0.0, 10.0),
)
def test_the_carry_follows_the_ramp_and_is_bounded(demands: list[float], late: float) -> None:
    """Never against the ramp's direction, never more than max_ahead_s of the mean slope."""
    samples = tuple((10.5 + i, w) for i, w in enumerate(demands))
    carry = ramp_w(samples, 12.5 + late)
    latest, before = demands[2] - demands[1], demands[1] - demands[0]
    assert abs(carry) <= RULE.max_ahead_s * (abs(latest) + abs(before)) / 2 + 1e-6
    if carry:
        assert carry * latest > 0
        assert carry * before > 0


def test_house_demand_adds_the_batteries_model() -> None:
    battery = InFlight()
    battery.command(0.0, Mode.DISCHARGE, 1000.0)
    later = battery.model_w(60.0)
    assert later == pytest.approx(975.0)
    assert house_demand_w(-200.0, 60.0, (battery, InFlight())) == pytest.approx(-200.0 + later)
    assert house_demand_w(-200.0, 60.0, ()) == -200.0


def test_meter_samples_keep_the_latest_in_order() -> None:
    samples = MeterSamples()
    for at in (0.5, 1.5, 1.5, 0.5, 2.5, math.nan, 3.5):
        samples.add(at, at * 100.0)
    samples.add(4.5, math.inf)
    assert samples.demands(()) == ((1.5, 150.0), (2.5, 250.0), (3.5, 350.0))
    battery = InFlight(delivered_w=300.0)
    assert samples.demands((battery,))[0] == (1.5, 450.0)


def test_an_early_cycle_needs_a_move_a_gap_and_no_settling() -> None:
    rule = EarlyRule(threshold_w=300.0, min_gap_s=2.0)

    def early(last: float, settle: float, demand: float, before: float) -> bool:
        return early_cycle(
            10.0,
            last_cycle_s=last,
            settle_until_s=settle,
            demand_w=demand,
            cycle_demand_w=before,
            rule=rule,
        )

    assert early(7.0, 0.0, 1400.0, 1000.0)
    assert early(7.0, 0.0, 600.0, 1000.0)
    assert not early(7.0, 0.0, 1200.0, 1000.0)  # moved too little
    assert not early(8.5, 0.0, 1400.0, 1000.0)  # too soon after the cycle
    assert not early(7.0, 12.0, 1400.0, 1000.0)  # settling after a start
    assert not early(7.0, 0.0, 1400.0, math.nan)  # no demand of the last cycle
    assert early_cycle(  # the default rule
        10.0,
        last_cycle_s=-math.inf,
        settle_until_s=-math.inf,
        demand_w=1400.0,
        cycle_demand_w=1000.0,
    )
