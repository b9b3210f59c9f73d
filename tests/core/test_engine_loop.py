"""The engine and the loop policy together on an ideal plant: they settle and hold still."""

from __future__ import annotations

from hypothesis import given, settings as hyp_settings, strategies as st
import pytest

from custom_components.marstek_strategy.core.control import (
    Commanded,
    LoopSettings,
    decide,
    plan_from_commanded,
)
from custom_components.marstek_strategy.core.engine import (
    BatteryReading,
    Mode,
    Plan,
    Strategy,
    StrategySettings,
    allocate,
)


def grid_after(house_w: float, plan: Plan, settings: StrategySettings) -> float:
    """Grid power once the batteries deliver what the direction factors promise."""
    grid = house_w
    for setpoint in plan.setpoints:
        if setpoint.mode is Mode.DISCHARGE:
            grid -= setpoint.power_w / settings.discharge_factor
        elif setpoint.mode is Mode.CHARGE:
            grid += setpoint.power_w / settings.charge_factor
    return grid


fleets = st.lists(
    st.builds(
        BatteryReading,
        soc=st.floats(20, 80),
        charge_cutoff=st.just(100.0),
        discharge_cutoff=st.just(12.0),
        max_charge_w=st.sampled_from([800, 1250, 2500]),
        max_discharge_w=st.sampled_from([800, 2500]),
        phase_w=st.sampled_from([0.0, 300.0, -200.0]),
    ),
    min_size=1,
    max_size=6,
)


@pytest.mark.parametrize("strategy", list(Strategy))
@hyp_settings(max_examples=60, deadline=None)
@given(fleet=fleets, house_w=st.floats(-8000, 8000))
def test_constant_load_settles_and_holds(
    strategy: Strategy, fleet: list[BatteryReading], house_w: float
) -> None:
    settings = StrategySettings(strategy=strategy)
    commanded = tuple(Commanded() for _ in fleet)
    has_rs485 = [True] * len(fleet)
    plan = plan_from_commanded(commanded)
    writes_per_cycle = []
    for _ in range(6):
        plan = allocate(grid_after(house_w, plan, settings), fleet, plan, settings)
        decision = decide(plan, commanded, has_rs485, 0.0, LoopSettings())
        commanded = decision.commanded
        writes_per_cycle.append(len(decision.writes))
    assert writes_per_cycle[-3:] == [0, 0, 0], writes_per_cycle
    derived = plan_from_commanded(commanded)
    assert [(s.mode, s.power_w) for s in derived.setpoints] == [
        (s.mode, s.power_w) for s in plan.setpoints
    ]
    assert writes_per_cycle[0] > 0 or plan.mode is Mode.STOP
    grid = grid_after(house_w, plan, settings)
    capacity_left = any(
        s.power_w < (b.max_discharge_w if grid > 0 else b.max_charge_w)
        for s, b in zip(plan.setpoints, fleet, strict=True)
    )
    if capacity_left:
        assert abs(grid) < settings.dead_band_w + 2
