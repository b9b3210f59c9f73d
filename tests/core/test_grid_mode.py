"""Grid modes and the quarter-hour peak cap (issue 23): the pure parts and their properties.

The model the properties check is the engine's own (as in test_phase_limits.py): a battery
commanded p W lowers the grid by 0.975 p while discharging and raises it by 1.045 p while
charging; a phase carries ``base - effect`` after the plan.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
import math
from typing import Any
from zoneinfo import ZoneInfo

from hypothesis import assume, given, settings as hyp_settings, strategies as st
import pytest

from custom_components.marstek_strategy.core import grid_mode, peak_cap
from custom_components.marstek_strategy.core.engine import grid_without_batteries, views_of
from custom_components.marstek_strategy.core.grid_mode import (
    MAX_LENGTH,
    Ending,
    GridMode,
    GridRequest,
    Limit,
    ended,
    problem,
    request,
    steer,
    target,
)
from custom_components.marstek_strategy.core.model import (
    BatteryReading,
    Mode,
    PhaseLimits,
    Plan,
    Reason,
    Strategy,
    StrategySettings,
)
from custom_components.marstek_strategy.core.peak_cap import QUARTER_S, PeakMeter
from custom_components.marstek_strategy.core.phase_limits import effect_w

D, C = 0.975, 1.045
NOW = datetime(2027, 1, 14, 17, 3, 20, tzinfo=UTC)
BRUSSELS = ZoneInfo("Europe/Brussels")
FUSE_25A = PhaseLimits.from_fuse(25.0)
LIMIT_W = FUSE_25A.import_w  # 5175 W each way


def _battery(phase: str | None, phase_w: float, soc: float = 60.0, **kw: Any) -> BatteryReading:
    values: dict[str, Any] = {
        "soc": soc,
        "charge_cutoff": 100.0,
        "discharge_cutoff": 12.0,
        "max_charge_w": 2500,
        "max_discharge_w": 2500,
        "phase_w": phase_w,
        "phase": phase,
    }
    values.update(kw)
    return BatteryReading(**values)


def _effect(plan: Plan, fleet: list[BatteryReading], phase: str | None = "all") -> float:
    return sum(
        effect_w(s.mode, s.power_w, D, C)
        for s, b in zip(plan.setpoints, fleet, strict=True)
        if phase in ("all", b.phase)
    )


# --------------------------------------------------------------------------------------------
# Requests: validation, ends, persistence


def test_request_is_bounded_in_length() -> None:
    """Every request ends within MAX_LENGTH; a duration or a time shortens it."""
    assert request(GridMode.CHARGE, NOW, power_w=2000).until == NOW + MAX_LENGTH
    assert request(GridMode.HOLD, NOW, duration=timedelta(hours=2)).until == NOW + timedelta(
        hours=2
    )
    at = NOW + timedelta(minutes=30)
    assert request(GridMode.DISCHARGE, NOW, power_w=1, until=at).until == at
    assert request(GridMode.ZERO, NOW, power_w=5) == GridRequest()


@pytest.mark.parametrize(
    ("mode", "kwargs", "key"),
    [
        (GridMode.CHARGE, {}, "power_required"),
        (GridMode.DISCHARGE, {"power_w": 0}, "power_required"),
        (GridMode.CHARGE, {"power_w": -5}, "power_out_of_range"),
        (GridMode.CHARGE, {"power_w": 20001}, "power_out_of_range"),
        (GridMode.CHARGE, {"power_w": math.nan}, "power_out_of_range"),
        (GridMode.CHARGE, {"power_w": 1, "until": NOW}, "end_in_past"),
        (GridMode.CHARGE, {"power_w": 1, "until": NOW.replace(tzinfo=None)}, "end_in_past"),
        (GridMode.CHARGE, {"power_w": 1, "until": NOW + timedelta(hours=25)}, "end_too_far"),
        (GridMode.CHARGE, {"power_w": 1, "duration": timedelta(0)}, "duration_out_of_range"),
        (GridMode.CHARGE, {"power_w": 1, "duration": timedelta(days=2)}, "duration_out_of_range"),
        (
            GridMode.CHARGE,
            {"power_w": 1, "duration": timedelta(hours=1), "target_soc": 80},
            "one_end_only",
        ),
        (GridMode.CHARGE, {"power_w": 1, "target_soc": 101}, "target_soc_out_of_range"),
        (GridMode.HOLD, {"target_soc": 50}, "hold_takes_no_target_soc"),
        (GridMode.ZERO, {"duration": timedelta(hours=1)}, "zero_takes_no_end"),
        (GridMode.ZERO, {"power_w": 100}, "zero_takes_no_end"),
    ],
)
def test_invalid_requests(mode: GridMode, kwargs: dict[str, Any], key: str) -> None:
    """Each kind of invalid input has its own message key."""
    assert problem(mode, NOW, **kwargs) == key


@pytest.mark.parametrize(
    ("mode", "kwargs"),
    [
        (GridMode.ZERO, {}),
        (GridMode.HOLD, {}),
        (GridMode.HOLD, {"until": NOW + timedelta(hours=3)}),
        (GridMode.CHARGE, {"power_w": 3000, "target_soc": 90}),
        (GridMode.DISCHARGE, {"power_w": 20000, "duration": timedelta(hours=24)}),
    ],
)
def test_valid_requests(mode: GridMode, kwargs: dict[str, Any]) -> None:
    assert problem(mode, NOW, **kwargs) is None


def test_ends() -> None:
    """A request ends at its time, or at its target state of charge in its direction."""
    charge = request(GridMode.CHARGE, NOW, power_w=2000, target_soc=80)
    assert ended(charge, NOW, 79.9) is None
    assert ended(charge, NOW, None) is None  # no state of charge known: runs on to its time
    assert ended(charge, NOW, 80.0) is Ending.TARGET_SOC
    assert ended(charge, NOW + MAX_LENGTH, 10.0) is Ending.TIME
    discharge = request(GridMode.DISCHARGE, NOW, power_w=2000, target_soc=30)
    assert ended(discharge, NOW, 31.0) is None
    assert ended(discharge, NOW, 30.0) is Ending.TARGET_SOC
    assert ended(GridRequest(), NOW + timedelta(days=400), 0.0) is None
    assert ended(GridRequest(GridMode.HOLD), NOW, 50.0) is Ending.TIME  # no end: over
    assert grid_mode.fleet_soc([None, 40.0, math.nan, 60.0]) == 50.0
    assert grid_mode.fleet_soc([None]) is None


@given(
    mode=st.sampled_from(list(GridMode)),
    power=st.floats(0, 20000),
    minutes=st.one_of(st.none(), st.integers(1, 3000)),
    target_soc=st.one_of(st.none(), st.floats(0, 100)),
)
def test_a_request_survives_the_store_and_always_ends(
    mode: GridMode, power: float, minutes: int | None, target_soc: float | None
) -> None:
    """Stored and loaded it is the same request; a mode other than zero ends by MAX_LENGTH."""
    if mode is GridMode.HOLD:
        target_soc = None
    assume(power > 0 or mode not in (GridMode.CHARGE, GridMode.DISCHARGE))  # power_required
    duration = None if minutes is None else timedelta(minutes=minutes)
    made = request(mode, NOW, power_w=power, duration=duration, target_soc=target_soc)
    assert GridRequest.from_dict(made.as_dict()) == made
    if mode is not GridMode.ZERO:
        assert made.until is not None
        assert made.until <= NOW + MAX_LENGTH
        assert ended(made, NOW + MAX_LENGTH, None) is Ending.TIME


@pytest.mark.parametrize(
    "data",
    [
        None,
        "charge",
        {},
        {"mode": "boost", "until": NOW.isoformat()},
        {"mode": "charge", "power_w": 100},  # no end: never runs on
        {"mode": "charge", "power_w": 100, "until": "tomorrow"},
        {"mode": "charge", "power_w": 100, "until": "2027-01-14T17:00:00"},  # naive
        {"mode": "charge", "power_w": -1, "until": NOW.isoformat()},
        {"mode": "charge", "power_w": "nan", "until": NOW.isoformat()},
        {"mode": "charge", "power_w": 1, "until": NOW.isoformat(), "target_soc": 140},
        {"mode": "charge", "power_w": [1], "until": NOW.isoformat()},
    ],
)
def test_a_broken_store_is_zero(data: Any) -> None:
    assert GridRequest.from_dict(data) == GridRequest()


# --------------------------------------------------------------------------------------------
# Targets


def test_targets_per_mode() -> None:
    """What each mode asks of the batteries, for a house importing 800 W."""
    house = 800.0

    def ask(mode: GridMode, power: float = 0.0, *, soak: bool = True) -> float:
        current = GridRequest(mode, power, NOW + MAX_LENGTH, soak=soak)
        return house - target(current, house, 0.0).grid_w  # + = discharge

    assert ask(GridMode.ZERO) == 800.0
    assert ask(GridMode.CHARGE, 2000) == -2000.0
    assert ask(GridMode.DISCHARGE, 1500) == 1500.0
    assert ask(GridMode.HOLD) == 0.0
    house = -1200.0  # exporting: hold soaks it up unless told not to
    assert ask(GridMode.HOLD) == -1200.0
    assert ask(GridMode.HOLD, soak=False) == 0.0


@given(
    mode=st.sampled_from(list(GridMode)),
    power=st.floats(0, 20000),
    house=st.floats(-15000, 15000),
    zero_target=st.floats(-1000, 1000),
    allowed=st.one_of(st.none(), st.floats(0, 20000)),
    soak=st.booleans(),
)
def test_target_properties(  # noqa: PLR0917
    mode: GridMode,
    power: float,
    house: float,
    zero_target: float,
    allowed: float | None,
    soak: bool,
) -> None:
    """The cap always holds; under it, each mode asks exactly its own."""
    current = GridRequest(mode, power, NOW + MAX_LENGTH, soak=soak)
    goal = target(current, house, zero_target, allowed)
    if allowed is not None:
        assert goal.grid_w <= allowed
    ask = house - goal.grid_w  # + = discharge
    if goal.capped:
        assert goal.grid_w == allowed
        return
    if mode is GridMode.CHARGE:
        assert ask == pytest.approx(-power)
    elif mode is GridMode.DISCHARGE:
        assert ask == pytest.approx(power)
    elif mode is GridMode.HOLD:
        assert ask <= 0  # never a discharge unless the cap asks for one
        if not soak:
            assert ask == 0
    else:
        assert goal.grid_w == zero_target


# --------------------------------------------------------------------------------------------
# The engine under a grid mode


fleets = st.lists(
    st.tuples(
        st.sampled_from(["L1", "L2", "L3"]),
        st.floats(5, 100),
        st.sampled_from([0, 800, 2500]),
        st.sampled_from([0, 800, 2500]),
    ),
    min_size=1,
    max_size=4,
)


@hyp_settings(max_examples=150, deadline=None)
@given(
    fleet_spec=fleets,
    house=st.tuples(*(st.floats(-6000, 6000) for _ in range(3))),
    mode=st.sampled_from(list(GridMode)),
    power=st.floats(0, 12000),
    strategy=st.sampled_from(list(Strategy)),
    feed_in=st.sampled_from([0.0, 2000.0]),
    allowed=st.one_of(st.none(), st.floats(0, 8000)),
)
def test_every_mode_keeps_every_limit(  # noqa: PLR0917
    fleet_spec: list[tuple[str, float, int, int]],
    house: tuple[float, float, float],
    mode: GridMode,
    power: float,
    strategy: Strategy,
    feed_in: float,
    allowed: float | None,
) -> None:
    """No phase beyond its fuse or feed-in limit (unless the house alone is), caps and
    cutoffs kept; hold never discharges, charge never discharges, discharge never charges,
    unless the peak cap asks; the peak cap holds where the batteries can carry it.
    """
    limits = PhaseLimits.from_fuse(25.0, feed_in)
    settings = StrategySettings(strategy=strategy, phase_limits=limits)
    by_phase = dict(zip(("L1", "L2", "L3"), house, strict=True))
    fleet = [
        _battery(phase, by_phase[phase], soc=soc, max_charge_w=mc, max_discharge_w=md)
        for phase, soc, mc, md in fleet_spec
    ]
    grid = sum(house)
    current = GridRequest(mode, power, NOW + MAX_LENGTH)
    steered = steer(
        current,
        grid,
        fleet,
        Plan.all_stop(len(fleet)),
        settings,
        zero_target_w=0.0,
        import_allowed_w=allowed,
    )
    plan = steered.plan
    assert steered.house_w == pytest.approx(grid)  # nothing runs yet
    for setpoint, battery in zip(plan.setpoints, fleet, strict=True):
        if setpoint.mode is Mode.CHARGE:
            assert setpoint.power_w <= battery.max_charge_w
            assert battery.soc < battery.charge_cutoff
        if setpoint.mode is Mode.DISCHARGE:
            assert setpoint.power_w <= battery.max_discharge_w
            assert battery.soc > battery.discharge_cutoff
    for phase, base in by_phase.items():
        after = base - _effect(plan, fleet, phase)
        assert after <= max(base, limits.import_w) + 1e-6
        assert after >= min(base, -limits.export_w) - 1e-6
    ask = steered.house_w - steered.target.grid_w
    if not steered.target.capped:
        if mode in (GridMode.HOLD, GridMode.CHARGE):
            assert plan.mode is not Mode.DISCHARGE
        if mode is GridMode.DISCHARGE:
            assert plan.mode is not Mode.CHARGE
    if ask > 0:
        assert plan.mode is not Mode.CHARGE
    if allowed is not None and plan.mode is Mode.CHARGE:
        assert grid - _effect(plan, fleet) <= allowed + 2.0  # never lifts the cap (whole W)


@pytest.mark.parametrize("strategy", list(Strategy))
def test_charge_at_the_requested_power(strategy: Strategy) -> None:
    """Charge 3000 W with three batteries: the fleet draws 3000 W, the house's load aside."""
    fleet = [_battery(phase, 300.0) for phase in ("L1", "L2", "L3")]
    settings = StrategySettings(strategy=strategy, phase_limits=FUSE_25A)
    current = request(GridMode.CHARGE, NOW, power_w=3000)
    steered = steer(current, 900.0, fleet, Plan.all_stop(3), settings, zero_target_w=0.0)
    assert steered.plan.mode is Mode.CHARGE
    assert -_effect(steered.plan, fleet) == pytest.approx(3000, abs=5)
    assert steered.limit is Limit.NONE
    if strategy is Strategy.EFFICIENCY:
        assert {s.reason for s in steered.plan.setpoints} <= {
            Reason.EFFICIENCY_SPLIT,
            Reason.CAPPED_BY_MAX,
            Reason.IDLE,
        }


def test_charge_never_lifts_a_phase_above_its_fuse() -> None:
    """A heat pump on L1 leaves 1000 W under the fuse: the battery there charges that."""
    fleet = [_battery("L1", LIMIT_W - 1000.0), _battery("L1", LIMIT_W - 1000.0)]
    settings = StrategySettings(strategy=Strategy.EFFICIENCY, phase_limits=FUSE_25A)
    current = request(GridMode.CHARGE, NOW, power_w=5000)
    steered = steer(current, LIMIT_W - 1000.0, fleet, Plan.all_stop(2), settings, zero_target_w=0.0)
    after = LIMIT_W - 1000.0 - _effect(steered.plan, fleet)
    assert after <= LIMIT_W - FUSE_25A.margin_w + 1e-6
    assert steered.plan.mode is Mode.CHARGE
    assert steered.limit is Limit.PHASE_LIMIT


def test_the_phase_views_come_with_the_plan() -> None:
    """steer returns the phases' views the plan was made with (none without phase limits)."""
    fleet = [_battery("L1", LIMIT_W - 1000.0), _battery("L1", LIMIT_W - 1000.0)]
    settings = StrategySettings(strategy=Strategy.EFFICIENCY, phase_limits=FUSE_25A)
    current = request(GridMode.CHARGE, NOW, power_w=5000)
    steered = steer(current, LIMIT_W - 1000.0, fleet, Plan.all_stop(2), settings, zero_target_w=0.0)
    assert steered.phases == views_of(fleet, Plan.all_stop(2), settings)
    assert steered.phases["L1"].batteries == (0, 1)
    assert steered.phases["L1"].charge_budget_w is not None
    unlimited = StrategySettings(strategy=Strategy.EFFICIENCY, phase_limits=None)
    assert steer(current, 0.0, fleet, Plan.all_stop(2), unlimited, zero_target_w=0.0).phases == {}


def test_discharge_never_exports_past_the_feed_in_limit() -> None:
    """Discharge 5000 W on one phase with a 2000 W feed-in limit: at most 2000 W go out."""
    limits = PhaseLimits.from_fuse(25.0, 2000.0)
    fleet = [_battery("L1", 0.0), _battery("L1", 0.0)]
    settings = StrategySettings(strategy=Strategy.EQUAL, phase_limits=limits)
    current = request(GridMode.DISCHARGE, NOW, power_w=5000)
    steered = steer(current, 0.0, fleet, Plan.all_stop(2), settings, zero_target_w=0.0)
    assert -_effect(steered.plan, fleet) >= -(2000.0 - limits.margin_w) - 1e-6
    assert steered.limit is Limit.PHASE_LIMIT


def test_limits_named() -> None:
    """The cap, then the phase, then the batteries' own limits are named."""
    fleet = [_battery(None, 0.0, max_charge_w=1000)]
    settings = StrategySettings(strategy=Strategy.PRIORITY)
    current = request(GridMode.CHARGE, NOW, power_w=3000)
    assert (
        steer(current, 0.0, fleet, Plan.all_stop(1), settings, zero_target_w=0.0).limit
        is Limit.BATTERIES
    )
    capped = steer(
        current, 0.0, fleet, Plan.all_stop(1), settings, zero_target_w=0.0, import_allowed_w=500.0
    )
    assert capped.limit is Limit.PEAK_CAP
    assert -_effect(capped.plan, fleet) <= 500.0
    assert (
        steer(GridRequest(), 0.0, fleet, Plan.all_stop(1), settings, zero_target_w=0.0).limit
        is Limit.NONE
    )


def test_not_a_number_stops_every_battery() -> None:
    """A grid power that is not a number stops the fleet in every mode."""
    fleet = [_battery(None, 0.0)]
    settings = StrategySettings()
    for mode in GridMode:
        current = GridRequest(mode, 1000.0, NOW + MAX_LENGTH)
        plan = steer(
            current,
            math.nan,
            fleet,
            Plan.all_stop(1),
            settings,
            zero_target_w=0.0,
            import_allowed_w=100.0,
        ).plan
        assert plan.mode is Mode.STOP


def test_the_house_counts_what_runs() -> None:
    """The grid without the batteries adds back what the plan in force delivers."""
    fleet = [_battery(None, 0.0)]
    settings = StrategySettings()
    running = steer(
        request(GridMode.DISCHARGE, NOW, power_w=1000),
        800.0,
        fleet,
        Plan.all_stop(1),
        settings,
        zero_target_w=0.0,
    ).plan
    house = grid_without_batteries(-200.0, fleet, running, settings)
    assert house == pytest.approx(-200.0 + running.setpoints[0].power_w * D)


# --------------------------------------------------------------------------------------------
# The peak meter


def _quarter(start: datetime, watts: list[float]) -> PeakMeter:
    meter = PeakMeter()
    step = QUARTER_S / len(watts)
    for k, value in enumerate(watts):
        meter = meter.update(start + timedelta(seconds=k * step), value)
    return meter.update(start + timedelta(seconds=QUARTER_S), 0.0)


def test_a_quarter_hour_average() -> None:
    """3 kW for half a quarter and export for the rest: 1.5 kW (export does not offset)."""
    start = datetime(2027, 1, 14, 17, 0, tzinfo=BRUSSELS)
    meter = _quarter(start, [3000.0] * 10 + [-2000.0] * 10)
    assert meter.last_quarter_w == pytest.approx(1500.0)
    assert meter.month_peak_w == pytest.approx(1500.0)
    assert meter.month_peak_at == start.astimezone(UTC)
    assert meter.month == "2027-01"


def test_running_average_and_projection() -> None:
    start = datetime(2027, 1, 14, 17, 0, tzinfo=BRUSSELS)
    meter = PeakMeter().update(start, 2000.0)
    assert meter.running_w(start) is None
    later = start + timedelta(seconds=30)
    meter = meter.update(later, 1000.0)
    assert meter.running_w(later) == pytest.approx(2000.0)
    assert meter.projected_w(later) == pytest.approx((2000 * 30 + 1000 * 870) / 900)
    assert meter.peak_w(later) == pytest.approx((2000 * 30 + 1000 * 870) / 900)


def test_a_reading_that_is_not_a_number_is_not_counted() -> None:
    """The reading before it holds on (at most MAX_GAP_S)."""
    start = datetime(2027, 1, 14, 17, 0, tzinfo=BRUSSELS)
    meter = PeakMeter().update(start, 1000.0).update(start + timedelta(seconds=10), math.nan)
    assert meter.last_w == 1000.0
    meter = meter.update(start + timedelta(seconds=20), 0.0)
    assert meter.running_w(start + timedelta(seconds=20)) == pytest.approx(1000.0)


def test_a_gap_counts_at_most_a_minute() -> None:
    """A reading holds for MAX_GAP_S: a restart does not count its whole gap."""
    start = datetime(2027, 1, 14, 17, 0, tzinfo=BRUSSELS)
    meter = PeakMeter().update(start, 0.0).update(start + timedelta(seconds=1), 4000.0)
    meter = meter.update(start + timedelta(minutes=14), 0.0)
    assert meter.running_w(start + timedelta(minutes=14)) == pytest.approx(
        4000.0 * 60 / 61, rel=1e-6
    )
    meter = meter.update(start + timedelta(hours=1), 0.0)  # several quarters later
    assert meter.month_peak_w == pytest.approx(4000.0 * 60 / 900)
    assert meter.last_quarter_w == 0.0


def test_the_month_starts_again() -> None:
    """The month's peak resets on the first of the month, local time."""
    start = datetime(2027, 1, 31, 23, 0, tzinfo=BRUSSELS)
    meter = _quarter(start, [5000.0] * 20)
    assert meter.month_peak_w == pytest.approx(5000.0)
    meter = _continue(meter, start + timedelta(minutes=15), [1000.0] * 20)
    assert meter.month_peak_w == pytest.approx(5000.0)
    meter = _continue(meter, datetime(2027, 2, 1, 0, 0, tzinfo=BRUSSELS), [2000.0] * 20)
    assert meter.month == "2027-02"
    assert meter.month_peak_w == pytest.approx(2000.0)


def _continue(meter: PeakMeter, start: datetime, watts: list[float]) -> PeakMeter:
    step = QUARTER_S / len(watts)
    for k, value in enumerate(watts):
        meter = meter.update(start + timedelta(seconds=k * step), value)
    return meter.update(start + timedelta(seconds=QUARTER_S), 0.0)


def test_the_store_keeps_the_meter() -> None:
    start = datetime(2027, 1, 14, 17, 0, tzinfo=BRUSSELS)
    meter = _quarter(start, [3000.0] * 20).update(start + timedelta(minutes=16), 800.0)
    kept = PeakMeter.from_dict(meter.as_dict())
    assert kept.month_peak_w == meter.month_peak_w
    assert kept.energy_j == meter.energy_j
    assert kept.last == meter.last
    for broken in (None, {"energy_j": "x"}, {"energy_j": -1}, {"last": "2027-01-01T00:00"}):
        assert PeakMeter.from_dict(broken) == PeakMeter()


@hyp_settings(max_examples=200, deadline=None)
@given(
    cap=st.floats(1000, 8000),
    offset=st.integers(0, 899),
    steps=st.lists(st.tuples(st.floats(0.5, 12.0), st.floats(-5000, 20000)), max_size=300),
)
def test_import_within_the_allowance_keeps_every_quarter_under_the_cap(
    cap: float, offset: int, steps: list[tuple[float, float]]
) -> None:
    """Readings that never exceed the allowance at their time keep every quarter under cap.

    Each step's power (what the house would import) is cut to the allowance, as the grid
    modes' target does; the meter integrates what was read.
    """
    now = datetime(2027, 1, 14, 16, 0, tzinfo=UTC) + timedelta(seconds=offset)
    meter = PeakMeter()
    for seconds, wanted in steps:
        allowed = meter.allowed_w(now, cap)
        meter = meter.update(now, min(wanted, allowed))
        now += timedelta(seconds=seconds)
    meter = meter.update(now, 0.0).update(now + timedelta(seconds=QUARTER_S), 0.0)
    assert meter.month_peak_w <= cap - peak_cap.MARGIN_W + 1e-6


@given(cap=st.floats(1000, 8000), used=st.floats(0, 1e7), second=st.integers(0, QUARTER_S - 1))
def test_the_allowance(cap: float, used: float, second: int) -> None:
    """Never negative; the budget over the time left (at least HORIZON_S)."""
    start = datetime(2027, 1, 14, 16, 0, tzinfo=UTC)
    meter = PeakMeter(quarter=start, energy_j=used, month="2027-01")
    now = start + timedelta(seconds=second)
    allowed = meter.allowed_w(now, cap)
    assume(math.isfinite(allowed))
    left = max(QUARTER_S - second, peak_cap.HORIZON_S)
    # the seconds before now that no reading covers count as imported at the cap
    budget = (cap - 100) * (QUARTER_S - second) - used
    assert allowed == pytest.approx(max(0.0, budget / left))
    assert PeakMeter().allowed_w(now, cap) == pytest.approx(
        (cap - 100) * (QUARTER_S - second) / left
    )


@pytest.mark.parametrize(
    ("mode", "allowed", "shifted"),
    [
        (GridMode.ZERO, None, True),
        (GridMode.ZERO, 5000.0, True),  # a cap above the zero target does not set the goal
        (GridMode.ZERO, -500.0, False),  # the peak cap sets the goal
        (GridMode.CHARGE, None, False),
        (GridMode.DISCHARGE, None, False),
        (GridMode.HOLD, None, False),
    ],
)
def test_the_least_change_serves_the_zero_mode_only(
    mode: GridMode, allowed: float | None, shifted: bool
) -> None:
    """The meter pace's shift moves the demand in the zero mode only; the house stays read.

    A shift of +600 W on a 1,000 W import is a demand of 1,600 W; in another mode, or under
    a peak cap that sets the goal, the plan is the one without the shift.
    """
    fleet = [_battery(phase, 300.0) for phase in ("L1", "L2", "L3")]
    settings = StrategySettings(strategy=Strategy.EFFICIENCY)
    power = 1500.0 if mode in (GridMode.CHARGE, GridMode.DISCHARGE) else 0.0
    current = GridRequest(mode, power, None if mode is GridMode.ZERO else NOW + MAX_LENGTH)

    def plan(shift: float) -> Any:
        return steer(
            current,
            1000.0,
            fleet,
            Plan.all_stop(3),
            settings,
            zero_target_w=0.0,
            import_allowed_w=allowed,
            least_change_w=shift,
        )

    with_shift, without = plan(600.0), plan(0.0)
    assert with_shift.house_w == without.house_w == pytest.approx(1000.0)
    assert with_shift.target == without.target
    if shifted:
        assert _effect(with_shift.plan, fleet) == pytest.approx(1600.0, abs=20.0)
        assert _effect(without.plan, fleet) == pytest.approx(1000.0, abs=20.0)
    else:
        assert with_shift.plan == without.plan


@pytest.mark.parametrize(("allowed", "shift"), [(200.0, -600.0), (0.0, -600.0), (200.0, -100.0)])
def test_the_least_change_plans_no_import_above_the_peak_cap(allowed: float, shift: float) -> None:
    """The meter pace's shift holds a plan only as far as the peak cap allows the import.

    With the cap above the zero target it does not set the goal, and the estimate's plan
    imports the target (0 W); a shift of -600 W (the batteries may deliver more than
    estimated) planned 600 W of import, past the 200 W (or 0 W) the cap allows now, on
    every report while the range stayed open. A shift within the allowance is kept.
    """
    fleet = [_battery(phase, 300.0) for phase in ("L1", "L2", "L3")]
    settings = StrategySettings(strategy=Strategy.EFFICIENCY)
    steered = steer(
        GridRequest(GridMode.ZERO, 0.0, None),
        1000.0,
        fleet,
        Plan.all_stop(3),
        settings,
        zero_target_w=0.0,
        import_allowed_w=allowed,
        least_change_w=shift,
    )
    assert not steered.target.capped
    imported = steered.house_w - _effect(steered.plan, fleet)
    assert imported == pytest.approx(min(-shift, allowed), abs=20.0)
