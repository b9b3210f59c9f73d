"""Switch: off stops every battery once, then writes nothing; on resumes."""

from __future__ import annotations

from typing import Any

from homeassistant.core import HomeAssistant, State
from pytest_homeassistant_custom_component.common import mock_restore_cache

from custom_components.marstek_strategy.const import Role
from tests.conftest import Hub, LilyGoFleet, P1Meter, make_hub_entry


async def _switch(hass: HomeAssistant, hub: Hub, service: str) -> None:
    await hass.services.async_call(
        "switch",
        service,
        {"entity_id": hub.entity_id("switch", "strategy_enabled")},
        blocking=True,
    )


async def test_off_stops_once_then_writes_nothing(
    hass: HomeAssistant, lilygo_fleet: LilyGoFleet, make_hub: Any
) -> None:
    bat1 = await lilygo_fleet.add_battery("lilygo-bat1", soc=80)
    bat2 = await lilygo_fleet.add_battery("lilygo-bat2", soc=80)
    hub: Hub = await make_hub([(bat1, "L1"), (bat2, "L1")], grid=1500)
    assert bat1.state(Role.FORCIBLE_MODE) == "discharge"
    lilygo_fleet.clear_writes()
    await _switch(hass, hub, "turn_off")
    await hass.async_block_till_done()
    assert hub.state("switch", "strategy_enabled") == "off"
    assert hub.state("sensor", "status") == "disabled"
    assert hub.state("sensor", "reason", bat1) == "disabled"
    for battery in (bat1, bat2):
        assert battery.state(Role.FORCIBLE_MODE) == "stop"
        assert float(battery.state(Role.DISCHARGE_POWER)) == 0
    assert {w.value for w in lilygo_fleet.writes} == {"stop", 0}
    lilygo_fleet.clear_writes()
    await hub.tick(60, grid=1500, step=6.5)
    assert lilygo_fleet.writes == []
    await _switch(hass, hub, "turn_off")  # already off: nothing
    # unload while off: it drives nothing, so it writes nothing
    await hass.config_entries.async_unload(hub.entry.entry_id)
    assert lilygo_fleet.writes == []


async def test_on_resumes_at_once(
    hass: HomeAssistant, lilygo_fleet: LilyGoFleet, make_hub: Any
) -> None:
    bat1 = await lilygo_fleet.add_battery("lilygo-bat1", soc=80)
    hub: Hub = await make_hub([(bat1, "L1")], grid=800)
    await _switch(hass, hub, "turn_off")
    await hub.tick(6.5, grid=800, step=6.5)
    assert bat1.state(Role.FORCIBLE_MODE) == "stop"
    await _switch(hass, hub, "turn_on")
    await hass.async_block_till_done()
    assert bat1.state(Role.FORCIBLE_MODE) == "discharge"
    assert hub.state("sensor", "status") == "settling"


async def test_restored_off_leaves_batteries_alone(
    hass: HomeAssistant, lilygo_fleet: LilyGoFleet, p1_meter: P1Meter, make_hub: Any
) -> None:
    """Off before a restart: the batteries are someone else's business, nothing written."""
    bat1 = await lilygo_fleet.add_battery("lilygo-bat1", soc=80, mode="charge", charge_power=500)
    mock_restore_cache(hass, [State("switch.marstek_strategy_strategy_active", "off")])
    hub: Hub = await make_hub([(bat1, "L1")], grid=800)
    await hub.tick(30, grid=800, step=6.5)
    assert lilygo_fleet.writes == []
    assert hub.state("sensor", "status") == "disabled"
    assert bat1.state(Role.FORCIBLE_MODE) == "charge"


async def test_switch_before_start_waits_for_the_first_cycle(
    hass: HomeAssistant, lilygo_fleet: LilyGoFleet, p1_meter: P1Meter
) -> None:
    from homeassistant.core import CoreState

    bat1 = await lilygo_fleet.add_battery("lilygo-bat1", soc=80)
    hass.set_state(CoreState.starting)
    entry = make_hub_entry(p1_meter, [(bat1, "L1")])
    entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()
    await hass.services.async_call(
        "switch",
        "turn_off",
        {"entity_id": "switch.marstek_strategy_strategy_active"},
        blocking=True,
    )
    assert entry.runtime_data.coordinator.data is None
    assert lilygo_fleet.writes == []
    hass.set_state(CoreState.running)


async def test_off_before_start_stops_the_batteries_once_started(
    hass: HomeAssistant, lilygo_fleet: LilyGoFleet, p1_meter: P1Meter, freezer: Any
) -> None:
    """Switched off (from on) while Home Assistant starts: the first cycle stops, as off does.

    Only a switch restored off means the batteries were left alone before the restart.
    """
    from homeassistant.const import EVENT_HOMEASSISTANT_STARTED
    from homeassistant.core import CoreState

    bat1 = await lilygo_fleet.add_battery(
        "lilygo-bat1", soc=80, mode="discharge", discharge_power=500
    )
    p1_meter.set(0)
    hass.set_state(CoreState.starting)
    entry = make_hub_entry(p1_meter, [(bat1, "L1")])
    entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()
    await hass.services.async_call(
        "switch",
        "turn_off",
        {"entity_id": "switch.marstek_strategy_strategy_active"},
        blocking=True,
    )
    assert lilygo_fleet.writes == []
    hass.set_state(CoreState.running)
    hass.bus.async_fire(EVENT_HOMEASSISTANT_STARTED)
    await hass.async_block_till_done()
    hub = Hub(hass, entry, p1_meter, lilygo_fleet, freezer)
    await hub.tick(0)
    assert hub.state("sensor", "status") == "disabled"
    assert bat1.state(Role.FORCIBLE_MODE) == "stop"
    assert float(bat1.state(Role.DISCHARGE_POWER)) == 0
    lilygo_fleet.clear_writes()
    await hub.tick(30, grid=0, step=6.5)
    assert lilygo_fleet.writes == []


async def test_on_takes_over_what_was_done_by_hand(
    hass: HomeAssistant, lilygo_fleet: LilyGoFleet, make_hub: Any
) -> None:
    """Switched on again, the loop starts from what the batteries do, not from stop."""
    bat1 = await lilygo_fleet.add_battery("lilygo-bat1", soc=50)
    hub: Hub = await make_hub([(bat1, "L1")], grid=0)
    await _switch(hass, hub, "turn_off")
    # by hand: charge at 500 W (the meter then reads balanced)
    await hass.services.async_call(
        "number",
        "set_value",
        {"entity_id": bat1.entity_ids[Role.CHARGE_POWER], "value": 500},
        blocking=True,
    )
    await hass.services.async_call(
        "select",
        "select_option",
        {"entity_id": bat1.entity_ids[Role.FORCIBLE_MODE], "option": "charge"},
        blocking=True,
    )
    await hub.tick(6.5, grid=0, step=6.5)
    await _switch(hass, hub, "turn_on")
    await hass.async_block_till_done()
    assert hub.state("sensor", "setpoint_mode", bat1) == "charge"
    assert hub.state("sensor", "setpoint_power", bat1) == "-500"
    assert bat1.state(Role.FORCIBLE_MODE) == "charge"


async def test_off_retries_a_stop_that_failed(
    hass: HomeAssistant, lilygo_fleet: LilyGoFleet, make_hub: Any
) -> None:
    bat1 = await lilygo_fleet.add_battery("lilygo-bat1", soc=80)
    hub: Hub = await make_hub([(bat1, "L1")], grid=800)
    bat1.fail_writes.add(Role.FORCIBLE_MODE)
    await _switch(hass, hub, "turn_off")
    assert bat1.state(Role.FORCIBLE_MODE) == "discharge"
    assert float(bat1.state(Role.DISCHARGE_POWER)) == 0
    await hub.tick(6.5, grid=800, step=6.5)
    assert bat1.state(Role.FORCIBLE_MODE) == "discharge"
    bat1.fail_writes.clear()
    await hub.tick(6.5, grid=800, step=6.5)
    assert bat1.state(Role.FORCIBLE_MODE) == "stop"
    lilygo_fleet.clear_writes()
    await hub.tick(60, grid=800, step=6.5)
    assert lilygo_fleet.writes == []


async def test_unload_while_off_with_a_stop_pending_stops(
    hass: HomeAssistant, lilygo_fleet: LilyGoFleet, make_hub: Any
) -> None:
    bat1 = await lilygo_fleet.add_battery("lilygo-bat1", soc=80)
    hub: Hub = await make_hub([(bat1, "L1")], grid=800)
    bat1.fail_writes.add(Role.FORCIBLE_MODE)
    await _switch(hass, hub, "turn_off")
    bat1.fail_writes.clear()
    await hass.config_entries.async_unload(hub.entry.entry_id)
    assert bat1.state(Role.FORCIBLE_MODE) == "stop"


async def test_pending_stop_leaves_a_battery_driven_by_hand_alone(
    hass: HomeAssistant, lilygo_fleet: LilyGoFleet, make_hub: Any, hass_admin_user: Any
) -> None:
    """Off with one battery's stop still pending: a person then starting another battery by
    hand is not overridden (off writes nothing but the stop that did not go through)."""
    from homeassistant.core import Context

    bat1 = await lilygo_fleet.add_battery("lilygo-bat1", soc=80)
    bat2 = await lilygo_fleet.add_battery("lilygo-bat2", soc=80)
    hub: Hub = await make_hub([(bat1, "L1"), (bat2, "L1")], grid=1500)
    bat2.fail_writes.add(Role.FORCIBLE_MODE)
    await _switch(hass, hub, "turn_off")
    assert bat1.state(Role.FORCIBLE_MODE) == "stop"
    assert bat2.state(Role.FORCIBLE_MODE) == "discharge"  # its stop is pending
    for service, data in (
        ("number", {"entity_id": bat1.entity_ids[Role.DISCHARGE_POWER], "value": 300}),
        ("select", {"entity_id": bat1.entity_ids[Role.FORCIBLE_MODE], "option": "discharge"}),
    ):
        await hass.services.async_call(
            service,
            "set_value" if service == "number" else "select_option",
            data,
            blocking=True,
            context=Context(user_id=hass_admin_user.id),
        )
    await hub.tick(6.5 * 3, grid=0, step=6.5)
    assert bat1.state(Role.FORCIBLE_MODE) == "discharge"
    assert float(bat1.state(Role.DISCHARGE_POWER)) == 300
    # unloading stops what is pending, not what the person drives
    bat2.fail_writes.clear()
    await hass.config_entries.async_unload(hub.entry.entry_id)
    assert bat2.state(Role.FORCIBLE_MODE) == "stop"
    assert bat1.state(Role.FORCIBLE_MODE) == "discharge"
