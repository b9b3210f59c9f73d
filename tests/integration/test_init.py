"""Setup, unload, reload, Home Assistant start and stop, removed and renamed entities."""

from __future__ import annotations

from typing import Any

from homeassistant.config_entries import ConfigEntryState
from homeassistant.const import EVENT_HOMEASSISTANT_STARTED
from homeassistant.core import Context, CoreState, HomeAssistant
from homeassistant.helpers import (
    device_registry as dr,
    entity_registry as er,
    issue_registry as ir,
)

from custom_components.marstek_strategy.const import CONF_INTERVAL, DOMAIN, Role
from tests.conftest import FakeBattery, Hub, LilyGoFleet, P1Meter, make_hub_entry


def _stopped(battery: FakeBattery) -> bool:
    return (
        battery.state(Role.FORCIBLE_MODE) == "stop"
        and float(battery.state(Role.CHARGE_POWER)) == 0
        and float(battery.state(Role.DISCHARGE_POWER)) == 0
    )


async def _two_running(lilygo_fleet: LilyGoFleet, make_hub: Any) -> Hub:
    bat1 = await lilygo_fleet.add_battery("lilygo-bat1", soc=80)
    bat2 = await lilygo_fleet.add_battery("lilygo-bat2", soc=70)
    hub: Hub = await make_hub([(bat1, "L1"), (bat2, "L1")], grid=1500)
    await hub.tick(12, grid=1500, step=12)
    assert bat1.state(Role.FORCIBLE_MODE) == "discharge"
    assert bat2.state(Role.FORCIBLE_MODE) == "discharge"
    return hub


async def test_setup_devices_and_entities(
    hass: HomeAssistant, lilygo_fleet: LilyGoFleet, make_hub: Any
) -> None:
    """A hub device, and per battery its own device (not the ESPHome one)."""
    bat1 = await lilygo_fleet.add_battery("lilygo-bat1")
    hub: Hub = await make_hub([(bat1, "L1")])
    assert hub.entry.state is ConfigEntryState.LOADED
    dev_reg = dr.async_get(hass)
    devices = dr.async_entries_for_config_entry(dev_reg, hub.entry.entry_id)
    assert sorted(device.name for device in devices) == [
        "Marstek strategy",
        "lilygo-bat1 strategy",
    ]
    # The ESPHome device is not one of the entry's devices (never added to it).
    assert bat1.device_id not in {device.id for device in devices}
    assert dev_reg.async_get(bat1.device_id) is not None
    ent_reg = er.async_get(hass)
    entities = er.async_entries_for_config_entry(ent_reg, hub.entry.entry_id)
    assert len(entities) == 29  # with the learned efficiency sensor and its forget button, the
    # grid mode select, requested power number, quarter-hour and month peak sensors
    battery_entities = [e for e in entities if e.config_subentry_id == hub.subentry_id(bat1)]
    assert len(battery_entities) == 14
    assert all(e.unique_id.startswith(hub.subentry_id(bat1)) for e in battery_entities)
    assert all(e.has_entity_name for e in entities)
    assert hub.entity_id("switch", "strategy_enabled") == "switch.marstek_strategy_strategy_active"
    assert hub.entity_id("number", "charge_cutoff", bat1) == (
        "number.lilygo_bat1_strategy_charge_cutoff"
    )


async def test_unload_stops_every_battery(
    hass: HomeAssistant, lilygo_fleet: LilyGoFleet, make_hub: Any
) -> None:
    hub = await _two_running(lilygo_fleet, make_hub)
    assert await hass.config_entries.async_unload(hub.entry.entry_id)
    assert hub.entry.state is ConfigEntryState.NOT_LOADED
    assert all(_stopped(b) for b in lilygo_fleet.batteries.values())
    lilygo_fleet.clear_writes()
    await hub.tick(30, grid=1500)
    assert lilygo_fleet.writes == []  # no cycle after unload


async def test_unload_survives_a_failing_stop(
    hass: HomeAssistant, lilygo_fleet: LilyGoFleet, make_hub: Any
) -> None:
    hub = await _two_running(lilygo_fleet, make_hub)
    hub.coordinator.batteries.clear()  # a broken state: the stop raises
    assert await hass.config_entries.async_unload(hub.entry.entry_id)


async def test_home_assistant_stop_stops_every_battery(
    hass: HomeAssistant, lilygo_fleet: LilyGoFleet, make_hub: Any
) -> None:
    hub = await _two_running(lilygo_fleet, make_hub)
    await hass.async_stop()
    assert all(_stopped(b) for b in lilygo_fleet.batteries.values())
    assert hub.entry.state is ConfigEntryState.LOADED  # stopped before unloading anything


async def test_removing_a_battery_stops_it(
    hass: HomeAssistant, lilygo_fleet: LilyGoFleet, make_hub: Any
) -> None:
    hub = await _two_running(lilygo_fleet, make_hub)
    bat1, bat2 = lilygo_fleet.batteries.values()
    subentry_id = hub.subentry_id(bat2)
    assert hass.config_entries.async_remove_subentry(hub.entry, subentry_id)
    await hass.async_block_till_done()
    await hub.tick(0)
    assert _stopped(bat2)
    assert hub.entry.state is ConfigEntryState.LOADED
    ent_reg = er.async_get(hass)
    assert not [
        e
        for e in er.async_entries_for_config_entry(ent_reg, hub.entry.entry_id)
        if e.config_subentry_id == subentry_id
    ]
    assert (DOMAIN, subentry_id) not in {
        identifier
        for device in dr.async_entries_for_config_entry(dr.async_get(hass), hub.entry.entry_id)
        for identifier in device.identifiers
    }
    lilygo_fleet.clear_writes()
    await hub.tick(30, grid=1500)
    assert not bat2.writes  # no longer driven
    assert bat1.state(Role.FORCIBLE_MODE) == "discharge"


async def test_options_change_reloads(
    hass: HomeAssistant, lilygo_fleet: LilyGoFleet, make_hub: Any
) -> None:
    bat1 = await lilygo_fleet.add_battery("lilygo-bat1")
    hub: Hub = await make_hub([(bat1, "L1")])
    before = hub.coordinator
    hass.config_entries.async_update_entry(
        hub.entry, options={**hub.entry.options, CONF_INTERVAL: 8.0}
    )
    await hass.async_block_till_done()
    assert hub.coordinator is not before
    assert hub.coordinator.interval_s == 8.0


async def test_waits_for_home_assistant_to_start(
    hass: HomeAssistant,
    lilygo_fleet: LilyGoFleet,
    p1_meter: P1Meter,
    freezer: Any,
    hass_admin_user: Any,
) -> None:
    """While Home Assistant starts, the LilyGo entities may be missing: no cycle yet."""
    bat1 = await lilygo_fleet.add_battery("lilygo-bat1", soc=80)
    p1_meter.set(600)
    hass.set_state(CoreState.starting)
    entry = make_hub_entry(p1_meter, [(bat1, "L1")])
    entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()
    assert entry.runtime_data.coordinator.data is None
    assert lilygo_fleet.writes == []
    # a person changing a battery meanwhile is fine: the first cycle reads it as it is
    await hass.services.async_call(
        "number",
        "set_value",
        {"entity_id": bat1.entity_ids[Role.DISCHARGE_POWER], "value": 300},
        blocking=True,
        context=Context(user_id=hass_admin_user.id),
    )
    await hass.async_block_till_done()
    lilygo_fleet.clear_writes()
    hass.set_state(CoreState.running)
    hass.bus.async_fire(EVENT_HOMEASSISTANT_STARTED)
    await hass.async_block_till_done()
    hub = Hub(hass, entry, p1_meter, lilygo_fleet, freezer)
    await hub.tick(0)
    assert entry.runtime_data.coordinator.data is not None
    assert bat1.state(Role.FORCIBLE_MODE) == "discharge"


async def test_removed_entity_raises_repair_issue(
    hass: HomeAssistant, lilygo_fleet: LilyGoFleet, make_hub: Any
) -> None:
    bat1 = await lilygo_fleet.add_battery("lilygo-bat1", soc=80)
    hub: Hub = await make_hub([(bat1, "L1")], grid=600)
    ent_reg = er.async_get(hass)
    entity_id = bat1.entity_ids[Role.SOC]
    entry = ent_reg.async_get(entity_id)
    assert entry is not None
    issue_id = f"entity_removed_{hub.entry.entry_id}_{entity_id}"
    issues = ir.async_get(hass)
    ent_reg.async_remove(entity_id)
    await hass.async_block_till_done()
    issue = issues.async_get_issue(DOMAIN, issue_id)
    assert issue is not None
    assert issue.translation_key == "entity_removed"
    assert issue.translation_placeholders == {"entity_id": entity_id, "name": "lilygo-bat1"}
    # the battery takes no part meanwhile
    hass.states.async_remove(entity_id)
    await hub.tick(12, grid=600, step=12)
    assert hub.coordinator.data.batteries[hub.subentry_id(bat1)].problem == "entity_missing"
    assert _stopped(bat1) or bat1.state(Role.FORCIBLE_MODE) == "stop"
    # it comes back: the issue goes
    ent_reg.async_get_or_create(
        "sensor",
        entry.platform,
        entry.unique_id,
        suggested_object_id=entity_id.split(".")[1],
        config_entry=lilygo_fleet.entry,
    )
    await hass.async_block_till_done()
    assert issues.async_get_issue(DOMAIN, issue_id) is None


async def test_removed_meter_entity_names_the_hub(
    hass: HomeAssistant, lilygo_fleet: LilyGoFleet, make_hub: Any
) -> None:
    bat1 = await lilygo_fleet.add_battery("lilygo-bat1", soc=80)
    hub: Hub = await make_hub([(bat1, "L1")], phase_count=3)
    ent_reg = er.async_get(hass)
    ent_reg.async_remove(hub.meter.phases[0])
    await hass.async_block_till_done()
    issue = ir.async_get(hass).async_get_issue(
        DOMAIN, f"entity_removed_{hub.entry.entry_id}_{hub.meter.phases[0]}"
    )
    assert issue is not None
    assert issue.translation_placeholders["name"] == "Marstek strategy"


async def test_entity_removed_while_unloaded_raises_the_issue_at_setup(
    hass: HomeAssistant, lilygo_fleet: LilyGoFleet, make_hub: Any
) -> None:
    """Issue 18.5: an entity removed while the entry is disabled (or Home Assistant restarts)
    sent its registry event to nobody; the battery stayed out for ever without a word."""
    bat1 = await lilygo_fleet.add_battery("lilygo-bat1", soc=80)
    hub: Hub = await make_hub([(bat1, "L1")], grid=600)
    assert await hass.config_entries.async_unload(hub.entry.entry_id)
    entity_id = bat1.entity_ids[Role.AC_POWER]
    er.async_get(hass).async_remove(entity_id)
    hass.states.async_remove(entity_id)
    await hass.async_block_till_done()
    issue_id = f"entity_removed_{hub.entry.entry_id}_{entity_id}"
    assert ir.async_get(hass).async_get_issue(DOMAIN, issue_id) is None
    assert await hass.config_entries.async_setup(hub.entry.entry_id)
    await hass.async_block_till_done()
    issue = ir.async_get(hass).async_get_issue(DOMAIN, issue_id)
    assert issue is not None
    assert issue.translation_placeholders == {"entity_id": entity_id, "name": "lilygo-bat1"}


async def test_stale_issue_cleared_at_setup(
    hass: HomeAssistant, lilygo_fleet: LilyGoFleet, p1_meter: P1Meter, make_hub: Any
) -> None:
    bat1 = await lilygo_fleet.add_battery("lilygo-bat1", soc=80)
    entity_id = bat1.entity_ids[Role.SOC]
    entry = make_hub_entry(p1_meter, [(bat1, "L1")])
    issue_id = f"entity_removed_{entry.entry_id}_{entity_id}"
    ir.async_create_issue(
        hass,
        DOMAIN,
        issue_id,
        is_fixable=False,
        severity=ir.IssueSeverity.ERROR,
        translation_key="entity_removed",
    )
    entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()
    assert ir.async_get(hass).async_get_issue(DOMAIN, issue_id) is None


async def test_renamed_entity_is_followed(
    hass: HomeAssistant, lilygo_fleet: LilyGoFleet, make_hub: Any
) -> None:
    bat1 = await lilygo_fleet.add_battery("lilygo-bat1", soc=80)
    hub: Hub = await make_hub([(bat1, "L1")], grid=600)
    ent_reg = er.async_get(hass)
    ent_reg.async_update_entity(bat1.entity_ids[Role.SOC], new_entity_id="sensor.bat1_soc")
    ent_reg.async_update_entity(hub.meter.grid, new_entity_id="sensor.grid_power")
    await hass.async_block_till_done()
    subentry = hub.entry.subentries[hub.subentry_id(bat1)]
    assert subentry.data[Role.SOC] == "sensor.bat1_soc"
    assert hub.entry.data["grid_sensor"] == "sensor.grid_power"
    assert hub.entry.state is ConfigEntryState.LOADED
    await hub.tick(12, step=12)
    hub.meter.set(600)
    await hub.tick(6.5, step=6.5)
    assert hub.coordinator.data.batteries[hub.subentry_id(bat1)].problem is None
    assert hub.coordinator.reader.grid_sensor == "sensor.grid_power"


async def test_issues_go_with_the_battery_and_the_entry(
    hass: HomeAssistant, lilygo_fleet: LilyGoFleet, make_hub: Any
) -> None:
    bat1 = await lilygo_fleet.add_battery("lilygo-bat1", soc=80)
    bat2 = await lilygo_fleet.add_battery("lilygo-bat2", soc=80)
    hub: Hub = await make_hub([(bat1, "L1"), (bat2, "L1")])
    ent_reg = er.async_get(hass)
    issues = ir.async_get(hass)
    for battery in (bat1, bat2):
        ent_reg.async_remove(battery.entity_ids[Role.SOC])
    await hass.async_block_till_done()
    prefix = f"entity_removed_{hub.entry.entry_id}_"
    assert len([i for d, i in issues.issues if d == DOMAIN and i.startswith(prefix)]) == 2
    # the battery goes: so does its issue; the other stays
    assert hass.config_entries.async_remove_subentry(hub.entry, hub.subentry_id(bat2))
    await hass.async_block_till_done()
    left = [i for d, i in issues.issues if d == DOMAIN and i.startswith(prefix)]
    assert left == [f"{prefix}{bat1.entity_ids[Role.SOC]}"]
    # the entry goes: so do all its issues
    assert await hass.config_entries.async_remove(hub.entry.entry_id)
    await hass.async_block_till_done()
    assert not [i for d, i in issues.issues if d == DOMAIN]
