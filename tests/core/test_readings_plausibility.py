"""Pure plausibility, units and liveness of the inputs (readings.py)."""

from __future__ import annotations

import math

from hypothesis import given, strategies as st

from custom_components.marstek_strategy.core.readings import (
    Cause,
    MeterSample,
    ReportClock,
    from_watts,
    implausible,
    judge_meter,
    meter_limit_w,
    phases_disagree,
    to_watts,
)

STALE = 30.0
FUSE = 25.0


def _phases(l1: float, l2: float, l3: float, ages: tuple[float | None, ...] = (0, 0, 0)):
    return {
        phase: MeterSample(f"sensor.{phase.lower()}", str(value), "W", age)
        for phase, value, age in zip(("L1", "L2", "L3"), (l1, l2, l3), ages, strict=True)
    }


def _total(value: float | str, age: float | None = 0.0, unit: str | None = "W") -> MeterSample:
    return MeterSample("sensor.total", str(value), unit, age)


def test_units() -> None:
    assert to_watts(1.5, "kW") == 1500
    assert to_watts(1500, "W") == 1500
    assert to_watts(1500, None) == 1500
    assert to_watts(1, "%") is None
    assert from_watts(1500, "kW") == 1.5
    assert from_watts(1500, None) == 1500
    assert from_watts(1500, "A") is None


@given(st.floats(-1e6, 1e6), st.sampled_from(["mW", "W", "kW", "MW"]))
def test_units_round_trip(watts: float, unit: str) -> None:
    native = from_watts(watts, unit)
    assert native is not None
    back = to_watts(native, unit)
    assert back is not None
    assert math.isclose(back, watts, rel_tol=1e-9, abs_tol=1e-9)


def test_limit_and_implausible() -> None:
    assert meter_limit_w(25, 3) == 3 * 230 * 25 * 1.5
    assert implausible(-1e12, FUSE, 3)
    assert not implausible(-17_000, FUSE, 3)  # full feed-in of a 3 x 25 A connection
    assert implausible(9000, FUSE, 1)  # one 25 A phase cannot carry 9 kW


def test_judge_meter_single_phase() -> None:
    assert judge_meter(_total(-1200), {}, STALE, FUSE).grid_w == -1200
    assert judge_meter(_total(1.2, unit="kW"), {}, STALE, FUSE).grid_w == 1200
    assert judge_meter(_total(-1e12), {}, STALE, FUSE).cause is Cause.METER_IMPLAUSIBLE
    assert judge_meter(_total("abc"), {}, STALE, FUSE).cause is Cause.METER_INVALID
    assert judge_meter(_total(5, unit="A"), {}, STALE, FUSE).cause is Cause.METER_INVALID
    assert judge_meter(_total("unavailable"), {}, STALE, FUSE).cause is Cause.METER_UNAVAILABLE
    missing = MeterSample("sensor.total", None)
    assert judge_meter(missing, {}, STALE, FUSE).cause is Cause.METER_MISSING
    # Without phase sensors nothing vouches for a silent total.
    assert judge_meter(_total(0, age=31), {}, STALE, FUSE).cause is Cause.METER_STALE
    assert judge_meter(_total(0, age=None), {}, STALE, FUSE).cause is Cause.METER_STALE


def test_judge_meter_three_phases() -> None:
    verdict = judge_meter(_total(900), _phases(300, 300, 300), STALE, FUSE)
    assert verdict.cause is None
    assert verdict.phase_w == {"L1": 300, "L2": 300, "L3": 300}
    assert not verdict.disagree
    # defect 5: total +3000 W, every phase -1000 W
    verdict = judge_meter(_total(3000), _phases(-1000, -1000, -1000), STALE, FUSE)
    assert verdict.cause is None
    assert verdict.disagree
    # one phase beyond its fuse
    verdict = judge_meter(_total(900), _phases(1e9, 300, 300), STALE, FUSE)
    assert verdict.cause is Cause.METER_IMPLAUSIBLE
    assert verdict.entity_id == "sensor.l1"


def test_silent_phase_vouched_by_live_ones() -> None:
    """Defect 8: one constant phase that never reports, the others live and agreeing."""
    phases = _phases(-400, 250, 150, ages=(0, 0, 3600))
    verdict = judge_meter(_total(0), phases, STALE, FUSE)
    assert verdict.cause is None
    assert verdict.vouched == "sensor.l3"
    # ... but not when it contradicts them (it is then stuck, not constant)
    phases = _phases(-400, 250, 1500, ages=(0, 0, 3600))
    verdict = judge_meter(_total(0), phases, STALE, FUSE)
    assert verdict.cause is Cause.METER_STALE
    assert verdict.entity_id == "sensor.l3"
    # two silent entities: stale
    phases = _phases(-400, 250, 150, ages=(0, 3600, 3600))
    assert judge_meter(_total(0), phases, STALE, FUSE).cause is Cause.METER_STALE
    # a silent total vouched by three live phases
    verdict = judge_meter(_total(0, age=3600), _phases(-400, 250, 150), STALE, FUSE)
    assert verdict.vouched == "sensor.total"


@given(
    st.lists(st.floats(-8000, 8000), min_size=3, max_size=3),
    st.floats(-20_000, 20_000),
    st.integers(0, 3),
)
def test_never_acts_on_a_silent_entity_that_contradicts(
    phase_w: list[float], total_w: float, silent: int
) -> None:
    """Whatever the values: a usable verdict has a total that agrees with its phases."""
    ages = [0.0, 0.0, 0.0, 0.0]
    ages[silent] = 3600.0
    phases = _phases(*phase_w, ages=tuple(ages[1:]))
    verdict = judge_meter(_total(total_w, age=ages[0]), phases, STALE, FUSE)
    if verdict.cause is None and verdict.vouched is not None:
        assert not phases_disagree(total_w, phase_w)
    if verdict.cause is None:
        assert abs(verdict.grid_w) <= meter_limit_w(FUSE, 3)


def test_report_clock_is_monotonic() -> None:
    clock = ReportClock()
    assert clock.age("sensor.x", 10.0) is None
    clock.seed("sensor.x", 100.0, 12.0)
    assert clock.age("sensor.x", 100.0) == 12.0
    clock.seed("sensor.x", 100.0, 0.0)  # a seed never overrides what is known
    assert clock.age("sensor.x", 100.0) == 12.0
    clock.report("sensor.x", 150.0)
    assert clock.age("sensor.x", 160.0) == 10.0
    # a state stamped in the future (the wall clock stepped back): live for at most the timeout
    clock.seed("sensor.y", 100.0, -3600.0)
    assert clock.age("sensor.y", 100.0 + STALE + 1) == STALE + 1


def test_report_clock_keeps_our_refreshes_apart() -> None:
    """One clock: a report our refresh caused dates the value, never the meter's liveness."""
    clock = ReportClock()
    clock.seed("sensor.grid", 100.0, 5.0)
    assert clock.age("sensor.grid", 100.0) == clock.latest_age("sensor.grid", 100.0) == 5.0
    clock.report("sensor.grid", 110.0, own=True)  # homeassistant.update_entity of a dead meter
    assert clock.age("sensor.grid", 112.0) == 17.0
    assert clock.latest_age("sensor.grid", 112.0) == 2.0
    clock.report("sensor.grid", 120.0)  # the meter by itself
    assert clock.age("sensor.grid", 121.0) == clock.latest_age("sensor.grid", 121.0) == 1.0
    assert clock.latest_age("sensor.ac", 121.0) is None


@given(st.floats(0, 1e6), st.floats(0, 1e6))
def test_report_clock_age_never_negative(reported: float, now: float) -> None:
    clock = ReportClock()
    clock.report("sensor.x", reported)
    age = clock.age("sensor.x", now)
    assert age is not None
    assert age >= 0
