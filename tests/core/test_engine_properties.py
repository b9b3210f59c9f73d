"""Property tests of the allocation engine over random fleets of 1 to 8 batteries.

Every strategy must keep these invariants. "Corrected demand" below is exactly what the
engine promises to command:

* demand (grid W) = grid_w + 0.975 * each discharging commanded W - 1.045 * each charging
  commanded W of the plan in force, after clamping each setpoint to 0..its max for its mode
  (taper included; a plan of another length counts as all stop);
* positive demand: discharge, corrected = round(demand * 1.026);
  otherwise charge, corrected = round(-demand * 0.957).

From an all-stop plan (demand = grid_w) the total commanded is min(corrected, what the eligible
batteries can take), or every battery stops when corrected is under the 30 W dead band.
"""

from __future__ import annotations

from hypothesis import given, settings as hyp_settings, strategies as st
import pytest

from custom_components.marstek_strategy.core.engine import (
    BatteryReading,
    Mode,
    Plan,
    Reason,
    Setpoint,
    Strategy,
    StrategySettings,
    allocate,
)

PHASES = (-1500.0, -300.0, 0.0, 250.0, 900.0, 2000.0)


@st.composite
def batteries(draw: st.DrawFn) -> BatteryReading:
    bottom = draw(st.integers(min_value=0, max_value=40))
    top = draw(st.integers(min_value=60, max_value=100))
    return BatteryReading(
        soc=draw(st.floats(min_value=0, max_value=100, allow_nan=False)),
        charge_cutoff=float(top),
        discharge_cutoff=float(bottom),
        max_charge_w=draw(st.integers(min_value=0, max_value=2500)),
        max_discharge_w=draw(st.integers(min_value=0, max_value=2500)),
        phase_w=draw(st.sampled_from(PHASES) | st.floats(-5000, 5000)),
        available=draw(st.booleans() | st.just(True)),
        allow_charge=draw(st.booleans() | st.just(True)),
        allow_discharge=draw(st.booleans() | st.just(True)),
    )


fleets = st.lists(batteries(), min_size=1, max_size=8)
grids = st.floats(min_value=-12000, max_value=12000, allow_nan=False)
setpoints = st.builds(
    Setpoint,
    st.sampled_from(Mode),
    st.integers(min_value=-100, max_value=6000),
)


@st.composite
def cases(draw: st.DrawFn) -> tuple[float, list[BatteryReading], Plan]:
    fleet = draw(fleets)
    size = draw(st.sampled_from([len(fleet), len(fleet), len(fleet), len(fleet) + 1]))
    previous = draw(
        st.just(Plan.all_stop(len(fleet)))
        | st.builds(
            Plan,
            st.sampled_from(Mode),
            st.tuples(*[setpoints] * size),
        )
    )
    return draw(grids), fleet, previous


def cap(battery: BatteryReading, mode: Mode, settings: StrategySettings) -> int:
    """The most battery may take in mode (the taper from 95 % while charging)."""
    if mode is Mode.CHARGE:
        limit = battery.max_charge_w
        if battery.soc >= settings.taper_soc_pct:
            limit = min(limit, settings.taper_w)
        return limit
    return battery.max_discharge_w


def eligible(battery: BatteryReading, mode: Mode, settings: StrategySettings) -> bool:
    if not battery.available or cap(battery, mode, settings) <= 0:
        return False
    if mode is Mode.CHARGE:
        return battery.allow_charge and battery.soc < battery.charge_cutoff
    return battery.allow_discharge and battery.soc > battery.discharge_cutoff


def corrected(
    grid_w: float,
    fleet: list[BatteryReading],
    previous: Plan,
    s: StrategySettings | None = None,
) -> tuple[Mode, int]:
    """The corrected demand as the module docstring defines it (factors from s)."""
    s = s or StrategySettings()
    demand = grid_w
    if len(previous.setpoints) == len(fleet):
        for battery, setpoint in zip(fleet, previous.setpoints, strict=True):
            if setpoint.mode is Mode.STOP or not battery.available:
                continue  # an unavailable battery's power is in the meter already
            power = min(max(0, setpoint.power_w), cap(battery, setpoint.mode, s))
            if setpoint.mode is Mode.DISCHARGE:
                demand += power * s.discharge_release_factor
            else:
                demand -= power * s.charge_release_factor
    if demand > 0:
        return Mode.DISCHARGE, round(demand * s.discharge_factor)
    return Mode.CHARGE, round(-demand * s.charge_factor)


ALL = pytest.mark.parametrize("strategy", list(Strategy))


def check_invariants(plan: Plan, fleet: list[BatteryReading], settings: StrategySettings) -> None:
    assert len(plan.setpoints) == len(fleet)
    running = {s.mode for s in plan.setpoints if s.mode is not Mode.STOP}
    assert len(running) <= 1, "one battery charging while another discharges"
    assert plan.mode is (running.pop() if running else Mode.STOP)
    for battery, setpoint in zip(fleet, plan.setpoints, strict=True):
        assert isinstance(setpoint.power_w, int)
        assert isinstance(setpoint.reason, Reason)
        assert (setpoint.power_w == 0) is (setpoint.mode is Mode.STOP)
        assert setpoint.power_w >= 0
        if setpoint.mode is Mode.STOP:
            continue
        assert setpoint.power_w <= cap(battery, setpoint.mode, settings)
        assert eligible(battery, setpoint.mode, settings)
        if setpoint.mode is Mode.CHARGE:
            assert battery.soc < battery.charge_cutoff
            assert battery.allow_charge
            assert setpoint.power_w <= battery.max_charge_w
        else:
            assert battery.soc > battery.discharge_cutoff
            assert battery.allow_discharge
            assert setpoint.power_w <= battery.max_discharge_w
    for battery, setpoint in zip(fleet, plan.setpoints, strict=True):
        if not battery.available:
            assert setpoint == Setpoint(Mode.STOP, 0, Reason.UNAVAILABLE)


@ALL
@hyp_settings(max_examples=300, deadline=None)
@given(case=cases())
def test_invariants_hold_for_any_input(
    strategy: Strategy, case: tuple[float, list[BatteryReading], Plan]
) -> None:
    grid_w, fleet, previous = case
    settings = StrategySettings(strategy=strategy)
    check_invariants(allocate(grid_w, fleet, previous, settings), fleet, settings)


@ALL
@hyp_settings(max_examples=300, deadline=None)
@given(fleet=fleets, grid_w=grids)
def test_from_all_stop_total_is_the_corrected_demand_capped(
    strategy: Strategy, fleet: list[BatteryReading], grid_w: float
) -> None:
    settings = StrategySettings(strategy=strategy)
    previous = Plan.all_stop(len(fleet))
    plan = allocate(grid_w, fleet, previous, settings)
    mode, demand = corrected(grid_w, fleet, previous)
    if demand < settings.dead_band_w:
        assert plan.mode is Mode.STOP
        assert all(
            s.reason in (Reason.DEAD_BAND, Reason.UNAVAILABLE, Reason.NOT_ALLOWED, Reason.AT_CUTOFF)
            for s in plan.setpoints
        )
        return
    capacity = sum(cap(b, mode, settings) for b in fleet if eligible(b, mode, settings))
    assert plan.total_w == min(demand, capacity)
    assert plan.mode in (mode, Mode.STOP)


@ALL
@hyp_settings(max_examples=300, deadline=None)
@given(case=cases())
def test_from_any_plan_total_is_the_corrected_demand_capped_or_dead_band(
    strategy: Strategy, case: tuple[float, list[BatteryReading], Plan]
) -> None:
    grid_w, fleet, previous = case
    settings = StrategySettings(strategy=strategy)
    plan = allocate(grid_w, fleet, previous, settings)
    mode, demand = corrected(grid_w, fleet, previous)
    capacity = sum(cap(b, mode, settings) for b in fleet if eligible(b, mode, settings))
    if plan.total_w == 0 and demand < settings.dead_band_w:
        return  # all stop inside the dead band (allowed when nothing keeps running)
    assert plan.total_w == min(demand, capacity)


@ALL
@hyp_settings(max_examples=200, deadline=None)
@given(case=cases())
def test_deterministic(strategy: Strategy, case: tuple[float, list[BatteryReading], Plan]) -> None:
    grid_w, fleet, previous = case
    settings = StrategySettings(strategy=strategy)
    first = allocate(grid_w, fleet, previous, settings)
    assert allocate(grid_w, tuple(fleet), previous, settings) == first
    assert allocate(grid_w, fleet, previous, settings) == first


@st.composite
def any_settings(draw: st.DrawFn) -> StrategySettings:
    """Settings anywhere in their sane ranges, margins overlapping or not."""
    factor = st.floats(min_value=0.9, max_value=1.1)
    return StrategySettings(
        strategy=draw(st.sampled_from(Strategy)),
        release_margin_pct=draw(st.floats(min_value=0, max_value=40)),
        behind_margin_pct=draw(st.floats(min_value=0, max_value=40)),
        dead_band_w=draw(st.integers(min_value=0, max_value=300)),
        merge_below_w=draw(st.integers(min_value=0, max_value=1500)),
        taper_soc_pct=draw(st.floats(min_value=50, max_value=100)),
        taper_w=draw(st.integers(min_value=0, max_value=2500)),
        discharge_factor=draw(factor),
        charge_factor=draw(factor),
        discharge_release_factor=draw(factor),
        charge_release_factor=draw(factor),
        hysteresis_w=draw(st.floats(min_value=0, max_value=200)),
        join_w=draw(st.integers(min_value=0, max_value=2500)),
    )


@hyp_settings(max_examples=400, deadline=None)
@given(case=cases(), settings=any_settings())
def test_invariants_and_total_hold_for_any_settings(
    case: tuple[float, list[BatteryReading], Plan], settings: StrategySettings
) -> None:
    grid_w, fleet, previous = case
    plan = allocate(grid_w, fleet, previous, settings)
    check_invariants(plan, fleet, settings)
    mode, demand = corrected(grid_w, fleet, previous, settings)
    capacity = sum(cap(b, mode, settings) for b in fleet if eligible(b, mode, settings))
    if plan.total_w == 0 and demand < settings.dead_band_w:
        return
    assert plan.total_w == min(demand, capacity)
