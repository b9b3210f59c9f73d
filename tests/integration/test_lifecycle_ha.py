"""The lifecycle through Home Assistant: pending stops, settings and dry run across start-up,
reload, restart and unload (issue 8, defects 1, 7, 10; issue 10, dry run)."""

from __future__ import annotations

from typing import Any

from homeassistant.core import Context, HomeAssistant
from homeassistant.helpers import device_registry as dr, entity_registry as er
import pytest

from custom_components.marstek_strategy.const import (
    CONF_DRY_RUN,
    CONF_STOP_BEHAVIOR,
    DOMAIN,
    NEW_HUB_OPTIONS,
    Role,
)
from tests.compat import device_by_identifier
from tests.conftest import FakeBattery, Hub, LilyGoFleet, P1Meter, make_hub_entry


def _stopped(battery: FakeBattery) -> bool:
    return (
        battery.state(Role.FORCIBLE_MODE) == "stop"
        and float(battery.state(Role.CHARGE_POWER)) == 0
        and float(battery.state(Role.DISCHARGE_POWER)) == 0
    )


async def _switch(hass: HomeAssistant, hub: Hub, service: str) -> None:
    await hass.services.async_call(
        "switch", service, {"entity_id": hub.entity_id("switch", "strategy_enabled")}, blocking=True
    )


async def _reload(hass: HomeAssistant, hub: Hub) -> None:
    assert await hass.config_entries.async_reload(hub.entry.entry_id)
    await hass.async_block_till_done()
    await hub.tick(0)


async def test_stop_pending_while_off_survives_a_reload(
    hass: HomeAssistant, lilygo_fleet: LilyGoFleet, make_hub: Any
) -> None:
    """Defect 1: switched off while the board is offline; reloaded; the board comes back."""
    bat1 = await lilygo_fleet.add_battery("lilygo-bat1", soc=80)
    hub: Hub = await make_hub([(bat1, "L1")], grid=800)
    assert bat1.state(Role.FORCIBLE_MODE) == "discharge"
    bat1.set_available(False)
    await _switch(hass, hub, "turn_off")
    await _reload(hass, hub)
    await hub.tick(13, grid=800, step=6.5)
    bat1.set_available(True)  # back, still discharging as it was left
    await hub.tick(6.5, grid=800, step=6.5)
    assert _stopped(bat1)
    assert hub.state("sensor", "status") == "disabled"
    lilygo_fleet.clear_writes()
    await _reload(hass, hub)  # the stop was made: nothing is pending any more
    await hub.tick(30, grid=800, step=6.5)
    assert lilygo_fleet.writes == []


async def test_stop_of_a_battery_removed_while_offline_is_made_when_it_is_back(
    hass: HomeAssistant, lilygo_fleet: LilyGoFleet, make_hub: Any
) -> None:
    """Defect 1: a battery removed while its board was offline is stopped once it is back."""
    bat1 = await lilygo_fleet.add_battery("lilygo-bat1", soc=80)
    bat2 = await lilygo_fleet.add_battery("lilygo-bat2", soc=70)
    hub: Hub = await make_hub([(bat1, "L1"), (bat2, "L1")], grid=1500)
    await hub.tick(12, grid=1500, step=12)
    assert bat2.state(Role.FORCIBLE_MODE) == "discharge"
    bat2.set_available(False)
    assert hass.config_entries.async_remove_subentry(hub.entry, hub.subentry_id(bat2))
    await hass.async_block_till_done()
    await hub.tick(13, grid=1500, step=6.5)
    bat2.set_available(True)
    await hub.tick(6.5, grid=1500, step=6.5)
    assert _stopped(bat2)
    assert bat1.state(Role.FORCIBLE_MODE) == "discharge"  # the others run on
    lilygo_fleet.clear_writes()
    await hub.tick(30, grid=1500, step=6.5)
    assert not bat2.writes  # stopped once, then no longer driven


@pytest.mark.parametrize("unloaded", [False, True])
async def test_pending_stop_of_a_removed_battery_follows_renames(
    hass: HomeAssistant, lilygo_fleet: LilyGoFleet, make_hub: Any, *, unloaded: bool
) -> None:
    """Issue 18.3: a battery removed while offline, whose entities are then renamed (with the
    entry loaded, or while it is not): its stop goes to the new ids once the board is back.

    Renames were followed for configured batteries only: the stop went to ids that no longer
    existed, for ever, while the battery discharged.
    """
    bat1 = await lilygo_fleet.add_battery("lilygo-bat1", soc=80)
    bat2 = await lilygo_fleet.add_battery("lilygo-bat2", soc=70)
    hub: Hub = await make_hub([(bat1, "L1"), (bat2, "L1")], grid=1500)
    await hub.tick(12, grid=1500, step=12)
    assert bat2.state(Role.FORCIBLE_MODE) == "discharge"
    bat2.set_available(False)
    assert hass.config_entries.async_remove_subentry(hub.entry, hub.subentry_id(bat2))
    await hass.async_block_till_done()
    await hub.tick(6.5, grid=1500, step=6.5)
    if unloaded:
        assert await hass.config_entries.async_unload(hub.entry.entry_id)
    registry = er.async_get(hass)
    for role in (Role.FORCIBLE_MODE, Role.CHARGE_POWER, Role.DISCHARGE_POWER, Role.RS485_MODE):
        old = bat2.entity_ids[role]
        registry.async_update_entity(old, new_entity_id=f"{old}_renamed")
    await hass.async_block_till_done()
    if unloaded:
        assert await hass.config_entries.async_setup(hub.entry.entry_id)
        await hass.async_block_till_done()
    bat2.set_available(True)
    await hub.tick(13, grid=1500, step=6.5)
    assert bat2.entity_ids[Role.FORCIBLE_MODE].endswith("_renamed")
    assert _stopped(bat2)
    assert not hub.entry.runtime_data.store.pending


async def test_stops_that_fail_when_home_assistant_stops_are_stored(
    hass: HomeAssistant, lilygo_fleet: LilyGoFleet, make_hub: Any
) -> None:
    """Defect 1: Home Assistant stops while the boards are offline; the store keeps the stops."""
    bat1 = await lilygo_fleet.add_battery("lilygo-bat1", soc=80)
    bat2 = await lilygo_fleet.add_battery("lilygo-bat2", soc=80)
    hub: Hub = await make_hub([(bat1, "L1"), (bat2, "L1")], grid=1500)
    await hub.tick(12, grid=1500, step=12)
    bat1.set_available(False)
    bat2.set_available(False)
    await hass.async_stop()  # Home Assistant stops: both stops fail
    assert bat1.state(Role.FORCIBLE_MODE) == "unavailable"
    stored = hub.entry.runtime_data.store.pending
    assert set(stored) == {hub.subentry_id(bat1), hub.subentry_id(bat2)}


async def test_restart_makes_the_stored_pending_stops(
    hass: HomeAssistant,
    lilygo_fleet: LilyGoFleet,
    p1_meter: P1Meter,
    *,
    freezer: Any,
    hass_storage: dict[str, Any],
    hass_admin_user: Any,
) -> None:
    """After a restart the stored pending stops are made, unless a person drove that battery."""
    bat1 = await lilygo_fleet.add_battery("lilygo-bat1", mode="discharge", discharge_power=800)
    bat2 = await lilygo_fleet.add_battery("lilygo-bat2", mode="discharge", discharge_power=500)
    entry = make_hub_entry(p1_meter, [(bat1, "L1"), (bat2, "L1")])
    ids = [sub.subentry_id for sub in entry.subentries.values()]
    hass_storage[f"{DOMAIN}.{entry.entry_id}"] = {
        "version": 1,
        "minor_version": 1,
        "key": f"{DOMAIN}.{entry.entry_id}",
        "data": {
            "settings": {"enabled": False, "strategy": "priority", "grid_target_w": 0.0},
            "pending": [
                {
                    "subentry_id": subentry_id,
                    "title": battery.name,
                    "phase": "L1",
                    "entities": {r.value: e for r, e in battery.entity_ids.items()},
                }
                for subentry_id, battery in zip(ids, (bat1, bat2), strict=True)
            ],
        },
    }
    bat2.set_available(False)
    entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()
    hub = Hub(hass, entry, p1_meter, lilygo_fleet, freezer)
    await hub.tick(0)
    assert _stopped(bat1)  # the stop the last run could not make
    assert hub.state("switch", "strategy_enabled") == "off"  # from the store
    bat2.set_available(True)
    for service, data in (
        ("number", {"entity_id": bat2.entity_ids[Role.DISCHARGE_POWER], "value": 300}),
        ("select", {"entity_id": bat2.entity_ids[Role.FORCIBLE_MODE], "option": "discharge"}),
    ):
        await hass.services.async_call(
            service,
            "set_value" if service == "number" else "select_option",
            data,
            blocking=True,
            context=Context(user_id=hass_admin_user.id),
        )
    await hass.async_block_till_done()
    await hub.tick(20, grid=0, step=6.5)
    assert bat2.state(Role.FORCIBLE_MODE) == "discharge"  # a person drives it: left alone
    assert float(bat2.state(Role.DISCHARGE_POWER)) == 300
    assert hub.state("sensor", "status") == "disabled"


async def test_old_forcible_setpoint_with_rs485_disabled_is_not_taken_as_running(
    hass: HomeAssistant, lilygo_fleet: LilyGoFleet, make_hub: Any
) -> None:
    """Defect 7: RS485 control off, an old charge 2500 W shown; the grid is balanced."""
    bat1 = await lilygo_fleet.add_battery(
        "lilygo-bat1", soc=50, mode="charge", charge_power=2500, rs485="disable"
    )
    hub: Hub = await make_hub([(bat1, "L1")], grid=0)
    await hub.tick(20, grid=0, step=6.5)
    assert ("rs485_mode_entity", "enable") not in [(w.role.value, w.value) for w in bat1.writes]
    assert 2500 not in bat1.values(Role.CHARGE_POWER)
    assert bat1.state(Role.FORCIBLE_MODE) != "charge" or bat1.state(Role.RS485_MODE) == "disable"
    assert hub.state("sensor", "setpoint_mode", bat1) == "stop"


async def test_settings_survive_a_disabled_entity_and_device(
    hass: HomeAssistant, lilygo_fleet: LilyGoFleet, make_hub: Any
) -> None:
    """Defect 10: settings are the integration's, not its entities' restore state."""
    bat1 = await lilygo_fleet.add_battery("lilygo-bat1", soc=80)
    hub: Hub = await make_hub([(bat1, "L1")], grid=0)
    participation = hub.entity_id("select", "participation", bat1)
    await hass.services.async_call(
        "select",
        "select_option",
        {"entity_id": participation, "option": "charge_only"},
        blocking=True,
    )
    await hass.services.async_call(
        "number",
        "set_value",
        {"entity_id": hub.entity_id("number", "charge_cutoff", bat1), "value": 90},
        blocking=True,
    )
    await hass.services.async_call(
        "number",
        "set_value",
        {"entity_id": hub.entity_id("number", "grid_target"), "value": 50},
        blocking=True,
    )
    await _switch(hass, hub, "turn_off")
    registry = er.async_get(hass)
    for entity_id in (participation, hub.entity_id("switch", "strategy_enabled")):
        registry.async_update_entity(entity_id, disabled_by=er.RegistryEntryDisabler.USER)
    await hass.async_block_till_done()
    await _reload(hass, hub)
    settings = hub.entry.runtime_data.settings
    assert settings.batteries[hub.subentry_id(bat1)].participation == "charge_only"
    assert settings.batteries[hub.subentry_id(bat1)].charge_cutoff == 90
    assert settings.grid_target_w == 50
    assert settings.enabled is False
    # the battery's device disabled as a whole
    device = device_by_identifier(hass, (DOMAIN, hub.subentry_id(bat1)))
    assert device is not None
    dr.async_get(hass).async_update_device(device.id, disabled_by=dr.DeviceEntryDisabler.USER)
    await hass.async_block_till_done()
    await _reload(hass, hub)
    settings = hub.entry.runtime_data.settings
    assert settings.batteries[hub.subentry_id(bat1)].charge_cutoff == 90
    assert settings.enabled is False


async def test_dry_run_plans_from_what_the_batteries_do(
    hass: HomeAssistant, lilygo_fleet: LilyGoFleet, make_hub: Any
) -> None:
    """Issue 10: the dry-run plan is what the live strategy writes in the same situation."""
    bat1 = await lilygo_fleet.add_battery("lilygo-bat1", soc=80)
    bat2 = await lilygo_fleet.add_battery("lilygo-bat2", soc=70)
    hub: Hub = await make_hub([(bat1, "L1"), (bat2, "L1")], grid=1500, options={CONF_DRY_RUN: True})
    await hub.tick(6.5 * 4, grid=1500, step=6.5)  # nothing written: the grid stays at 1500 W
    assert lilygo_fleet.writes == []
    planned = {
        battery.name: (
            hub.state("sensor", "setpoint_mode", battery),
            hub.state("sensor", "setpoint_power", battery),
        )
        for battery in (bat1, bat2)
    }
    hass.config_entries.async_update_entry(
        hub.entry, options={**hub.entry.options, CONF_DRY_RUN: False}
    )
    await hass.async_block_till_done()
    await hub.tick(0)
    live = {
        battery.name: (
            battery.state(Role.FORCIBLE_MODE),
            str(int(float(battery.state(Role.DISCHARGE_POWER)))),
        )
        for battery in (bat1, bat2)
    }
    assert planned == live
    assert planned["lilygo-bat1"][0] == "discharge"


async def test_hand_back_releases_control_when_switched_off_and_unloaded(
    hass: HomeAssistant, lilygo_fleet: LilyGoFleet, make_hub: Any
) -> None:
    """The "hand back" stop behaviour: stop, 0 W, RS485 disable, User Work Mode anti-feed."""
    bat1 = await lilygo_fleet.add_battery("lilygo-bat1", soc=80)
    hub: Hub = await make_hub([(bat1, "L1")], grid=800, options={CONF_STOP_BEHAVIOR: "hand_back"})
    assert bat1.state(Role.FORCIBLE_MODE) == "discharge"
    await _switch(hass, hub, "turn_off")
    assert _stopped(bat1)
    assert bat1.state(Role.RS485_MODE) == "disable"
    kinds = [(r.kind.value, r.value, r.result) for r in hub.coordinator.write_log]
    assert ("work_mode", "anti-feed", "ok") in kinds
    assert hub.state("sensor", "status") == "handed_back"
    lilygo_fleet.clear_writes()
    await hub.tick(30, grid=800, step=6.5)
    await hass.config_entries.async_unload(hub.entry.entry_id)
    assert lilygo_fleet.writes == []  # handed back: left alone, also when unloaded
    # loaded again while on: unloading hands back what it drives
    await _switch_on_and_reload(hass, hub)
    assert bat1.state(Role.FORCIBLE_MODE) == "discharge"
    await hass.config_entries.async_unload(hub.entry.entry_id)
    assert _stopped(bat1)
    assert bat1.state(Role.RS485_MODE) == "disable"


@pytest.mark.parametrize(
    ("options", "written"),
    [(["manual", "anti_feed", "ai"], "anti_feed"), (["Manual", "Anti Feed"], "Anti Feed")],
)
async def test_hand_back_matches_the_boards_spelling(
    hass: HomeAssistant,
    lilygo_fleet: LilyGoFleet,
    make_hub: Any,
    options: list[str],
    written: str,
) -> None:
    """Issue 18.7: a User Work Mode select spelling the option otherwise gets it written."""
    bat1 = await lilygo_fleet.add_battery("lilygo-bat1", soc=80)
    _work_mode_options(bat1, options)
    hub: Hub = await make_hub([(bat1, "L1")], grid=800, options={CONF_STOP_BEHAVIOR: "hand_back"})
    await _switch(hass, hub, "turn_off")
    kinds = [(r.kind.value, r.value, r.result) for r in hub.coordinator.write_log]
    assert ("work_mode", written, "ok") in kinds
    assert hub.state("sensor", "status") == "handed_back"


async def test_hand_back_to_a_board_without_the_option_is_no_pending_stop(
    hass: HomeAssistant, lilygo_fleet: LilyGoFleet, make_hub: Any, caplog: Any
) -> None:
    """Issue 18.7: a board without any anti-feed option: stop, 0 W, 0 W and RS485 disable are
    written once, the missing option is said once, and nothing stays pending (it was written
    again every cycle, 40 writes a minute, the status `stopping` for ever)."""
    bat1 = await lilygo_fleet.add_battery("lilygo-bat1", soc=80)
    _work_mode_options(bat1, ["manual", "ai"])
    hub: Hub = await make_hub([(bat1, "L1")], grid=800, options={CONF_STOP_BEHAVIOR: "hand_back"})
    await _switch(hass, hub, "turn_off")
    assert _stopped(bat1)
    assert bat1.state(Role.RS485_MODE) == "disable"
    assert hub.state("sensor", "status") == "handed_back"
    lilygo_fleet.clear_writes()
    await hub.tick(60, grid=800, step=6.5)
    assert lilygo_fleet.writes == []
    assert not hub.coordinator.lifecycle.pending
    assert caplog.text.count("has no option 'anti-feed'") == 1


def _work_mode_options(battery: FakeBattery, options: list[str]) -> None:
    """Give the battery's User Work Mode select other options (another connector's)."""
    select = next(e for e in battery.extras if e.unique_id.endswith("user_work_mode"))
    select._attr_options = options
    select._attr_current_option = options[0]
    select.async_write_ha_state()


async def _switch_on_and_reload(hass: HomeAssistant, hub: Hub) -> None:
    assert await hass.config_entries.async_setup(hub.entry.entry_id)
    await hass.async_block_till_done()
    await hub.tick(0)
    await _switch(hass, hub, "turn_on")
    await hub.tick(12, grid=800, step=6.5)


async def test_new_hub_starts_in_dry_run(
    hass: HomeAssistant, lilygo_fleet: LilyGoFleet, make_hub: Any
) -> None:
    """Issue 10: a hub made by the flow writes nothing until the user turns dry run off."""
    bat1 = await lilygo_fleet.add_battery("lilygo-bat1", soc=80)
    hub: Hub = await make_hub([(bat1, "L1")], grid=800, options=dict(NEW_HUB_OPTIONS))
    await hub.tick(30, grid=800, step=6.5)
    assert lilygo_fleet.writes == []
    assert hub.state("sensor", "status") == "dry_run"
    await hass.config_entries.async_unload(hub.entry.entry_id)
    assert lilygo_fleet.writes == []


async def test_switch_on_does_not_take_an_old_setpoint_without_rs485_control_as_running(
    hass: HomeAssistant, lilygo_fleet: LilyGoFleet, make_hub: Any
) -> None:
    """Defect 7 on switch-on: while off, the board dropped RS485 control (app, reboot)."""
    bat1 = await lilygo_fleet.add_battery("lilygo-bat1", soc=50)
    hub: Hub = await make_hub([(bat1, "L1")], grid=0)
    await _switch(hass, hub, "turn_off")
    bat1.set(Role.RS485_MODE, "disable")
    bat1.set(Role.CHARGE_POWER, 2500)
    bat1.set(Role.FORCIBLE_MODE, "charge")
    lilygo_fleet.clear_writes()
    await _switch(hass, hub, "turn_on")
    await hub.tick(20, grid=0, step=6.5)
    assert "enable" not in bat1.values(Role.RS485_MODE)
    assert 2500 not in bat1.values(Role.CHARGE_POWER)
    assert hub.state("sensor", "setpoint_mode", bat1) == "stop"
