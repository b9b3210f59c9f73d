"""What each battery was told has one owner (adapters/told.py): the others ask it to change."""

from __future__ import annotations

from typing import Any

from homeassistant.core import HomeAssistant

from custom_components.marstek_strategy.adapters.told import Told, as_told
from custom_components.marstek_strategy.const import CONF_DRY_RUN
from custom_components.marstek_strategy.core.control import Commanded
from custom_components.marstek_strategy.core.model import Mode, Plan, Reason, Setpoint
from tests.conftest import Hub, LilyGoFleet


async def test_told_owns_the_batteries_and_the_orphans(
    hass: HomeAssistant, lilygo_fleet: LilyGoFleet, make_hub: Any
) -> None:
    """Read on first use; a write, an adoption or a hand change go through its methods only."""
    bat1 = await lilygo_fleet.add_battery("lilygo-bat1", mode="discharge", discharge_power=300)
    bat2 = await lilygo_fleet.add_battery("lilygo-bat2", mode="charge", charge_power=400)
    hub: Hub = await make_hub([(bat1, "L1"), (bat2, "L1")], grid=None, options={CONF_DRY_RUN: True})
    battery, orphan = hub.coordinator.batteries
    told = Told(hub.coordinator.reader, [battery], [orphan])
    assert told.commanded is None
    assert told.now()[0].mode is Mode.DISCHARGE
    assert told.now()[0].discharge_w == 300
    both = told.with_orphans()  # the orphan read from its entities for a round of stops
    assert [c.mode for c in both] == [Mode.DISCHARGE, Mode.CHARGE]
    told.written(1, Commanded(Mode.STOP))  # a stop of the orphan went through
    assert told.at(1) == Commanded(Mode.STOP)
    assert len(told.now()) == 1  # the batteries' list holds the batteries only
    told.adopt(0, Commanded(Mode.CHARGE, charge_w=50))
    assert told.at(0) == Commanded(Mode.CHARGE, charge_w=50)
    assert not told.take_changed()
    told.changed_by_hand(0)  # taken as its entities say, and the next plan starts from it
    assert told.at(0).mode is Mode.DISCHARGE
    assert told.take_changed()
    assert not told.take_changed()
    told.forget()
    assert told.commanded is None


async def test_the_coordinator_hands_out_a_copy(
    hass: HomeAssistant, lilygo_fleet: LilyGoFleet, make_hub: Any
) -> None:
    """Nobody outside Told changes what was told through the list the coordinator shows."""
    bat1 = await lilygo_fleet.add_battery("lilygo-bat1", soc=80)
    hub: Hub = await make_hub([(bat1, "L1")], grid=600)
    await hub.tick(12, grid=600, step=12)
    shown = hub.coordinator.commanded
    assert shown is not None
    assert shown[0].mode is Mode.DISCHARGE
    shown[0] = Commanded()
    assert hub.coordinator.told.at(0).mode is Mode.DISCHARGE


def test_as_told_keeps_a_plan_its_numbers_take() -> None:
    """A plan whose powers each number takes comes back as it is; others rounded down."""
    plan = Plan(
        Mode.DISCHARGE,
        (Setpoint(Mode.DISCHARGE, 123, Reason.RUNNING), Setpoint(Mode.STOP, 0, Reason.IDLE)),
    )
    assert as_told(plan, lambda _i, _mode, power: power) is plan
    stepped = as_told(plan, lambda _i, _mode, power: power // 50 * 50)
    assert [s.power_w for s in stepped.setpoints] == [100, 0]
    assert stepped.setpoints[0].reason is Reason.RUNNING
