"""Edges an outside tester probes: out-of-range stores, services and lifecycle corners."""

from __future__ import annotations

from datetime import timedelta
from types import SimpleNamespace
from typing import Any
from unittest.mock import patch

from homeassistant.config_entries import ConfigEntryState
from homeassistant.const import EVENT_HOMEASSISTANT_STOP
from homeassistant.core import HomeAssistant
from homeassistant.exceptions import HomeAssistantError
from homeassistant.helpers import entity_registry as er, issue_registry as ir
from homeassistant.util import dt as dt_util
import pytest
from pytest_homeassistant_custom_component.common import async_fire_time_changed

from custom_components.marstek_strategy.const import (
    CONF_KEEPALIVE,
    CONF_STALE_TIMEOUT,
    DEFAULT_STALE_TIMEOUT,
    DOMAIN,
    SERVICE_SET_GRID_MODE,
    Role,
)
from tests.conftest import FakeBattery, Hub, LilyGoFleet, P1Meter, make_hub_entry


async def _hub_on_store(
    hass: HomeAssistant,
    lilygo_fleet: LilyGoFleet,
    p1_meter: P1Meter,
    freezer: Any,
    hass_storage: dict[str, Any],
    *,
    settings: dict[str, Any],
) -> Hub:
    """A hub with one battery whose store holds settings (as if written by hand or a bug)."""
    bat1 = await lilygo_fleet.add_battery("lilygo-bat1", soc=60)
    p1_meter.set(0)
    entry = make_hub_entry(p1_meter, [(bat1, "L1")])
    hass_storage[f"{DOMAIN}.{entry.entry_id}"] = {
        "version": 2,
        "minor_version": 1,
        "key": f"{DOMAIN}.{entry.entry_id}",
        "data": {"settings": settings, "pending": []},
    }
    entry.add_to_hass(hass)
    hub = Hub(hass, entry, p1_meter, lilygo_fleet, freezer)
    assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()
    hub.cycles.append(dt_util.utcnow())
    await hub.tick(0)
    return hub


async def test_a_stored_grid_target_out_of_range_never_exports(
    hass: HomeAssistant,
    lilygo_fleet: LilyGoFleet,
    p1_meter: P1Meter,
    freezer: Any,
    hass_storage: dict[str, Any],
) -> None:
    """A grid target of -1 MW in the store is dropped (named), not aimed at: no discharge."""
    hub = await _hub_on_store(
        hass, lilygo_fleet, p1_meter, freezer, hass_storage, settings={"grid_target_w": -1e6}
    )
    await hub.tick(20, grid=0, step=2)
    (bat1,) = lilygo_fleet.batteries.values()
    assert bat1.state(Role.FORCIBLE_MODE) != "discharge"
    assert float(hub.state("number", "grid_target")) == 0
    issue = ir.async_get(hass).async_get_issue(DOMAIN, f"store_damaged_{hub.entry.entry_id}")
    assert issue is not None
    assert issue.translation_placeholders is not None
    assert issue.translation_placeholders["dropped"] == "settings.grid_target_w"


def _store_raises() -> Any:
    """Every write of a Home Assistant store raises.

    Home Assistant's Store logs a failed file write itself (WriteError) but lets any other
    error through: an OSError making the .storage folder (a read-only file system), an
    executor that refuses work while Home Assistant stops.
    """

    async def _fail(*_args: Any, **_kwargs: Any) -> None:
        raise OSError(30, "Read-only file system")

    return patch("homeassistant.helpers.storage.Store.async_save", _fail)


async def _discharging(lilygo_fleet: LilyGoFleet, make_hub: Any) -> tuple[Hub, FakeBattery]:
    bat1 = await lilygo_fleet.add_battery("lilygo-bat1", soc=80)
    hub: Hub = await make_hub([(bat1, "L1")], grid=1500)
    await hub.tick(12, grid=1500, step=2)
    assert bat1.state(Role.FORCIBLE_MODE) == "discharge"
    return hub, bat1


async def test_unload_stops_the_battery_when_the_store_cannot_be_written(
    hass: HomeAssistant, lilygo_fleet: LilyGoFleet, make_hub: Any
) -> None:
    """A store that raises never keeps the unload from making its stop (keeping it comes second)."""
    hub, bat1 = await _discharging(lilygo_fleet, make_hub)
    with _store_raises():
        assert await hass.config_entries.async_unload(hub.entry.entry_id)
        await hass.async_block_till_done()
    assert bat1.state(Role.FORCIBLE_MODE) == "stop"
    assert float(bat1.state(Role.DISCHARGE_POWER)) == 0


async def test_shutdown_stops_the_battery_when_the_store_cannot_be_written(
    hass: HomeAssistant, lilygo_fleet: LilyGoFleet, make_hub: Any
) -> None:
    hub, bat1 = await _discharging(lilygo_fleet, make_hub)
    with _store_raises():
        hass.bus.async_fire(EVENT_HOMEASSISTANT_STOP)
        await hass.async_block_till_done()
        await hub.coordinator.async_stop_batteries()  # the shutdown job (the test hass
        await hass.async_block_till_done()  # does not run them on the event)
    assert bat1.state(Role.FORCIBLE_MODE) == "stop"


async def test_switching_off_stops_at_once_when_the_store_cannot_be_written(
    hass: HomeAssistant,
    lilygo_fleet: LilyGoFleet,
    make_hub: Any,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """The switch turns off and the stop is made in that same call, store or not."""
    hub, bat1 = await _discharging(lilygo_fleet, make_hub)
    switch = hub.entity_id("switch", "strategy_enabled")
    with _store_raises():
        await hass.services.async_call("switch", "turn_off", {"entity_id": switch}, blocking=True)
        await hass.async_block_till_done()
        assert bat1.state(Role.FORCIBLE_MODE) == "stop"
        assert hass.states.get(switch).state == "off"  # type: ignore[union-attr]
        await hub.tick(10, grid=1500, step=2)
    assert caplog.text.count("Could not keep the pending stops in the store") == 1
    # the store writes again: the next stop owed is kept, and that is said once
    await hass.services.async_call("switch", "turn_on", {"entity_id": switch}, blocking=True)
    await hub.tick(12, grid=1500, step=2)
    await hass.services.async_call("switch", "turn_off", {"entity_id": switch}, blocking=True)
    assert caplog.text.count("The pending stops are kept in the store again") == 1


async def test_a_grid_mode_that_cannot_be_stored_gets_a_translated_error(
    hass: HomeAssistant, lilygo_fleet: LilyGoFleet, make_hub: Any, hass_storage: dict[str, Any]
) -> None:
    """A store that raises: the call fails with a clear, translated error, nothing changes."""
    bat1 = await lilygo_fleet.add_battery("lilygo-bat1", soc=50)
    hub: Hub = await make_hub([(bat1, "L1")])
    before = float(hub.state("number", "requested_power"))
    with _store_raises(), pytest.raises(HomeAssistantError) as raised:
        await hass.services.async_call(
            DOMAIN,
            SERVICE_SET_GRID_MODE,
            {"mode": "charge", "power": 2000, "duration": {"minutes": 30}},
            blocking=True,
            return_response=True,
        )
    assert raised.value.translation_domain == DOMAIN
    assert raised.value.translation_key == "grid_mode_not_stored"
    assert "Read-only file system" in str(raised.value.translation_placeholders)
    await hub.tick(4, grid=0, step=2)
    assert hub.state("select", "grid_mode") == "zero"
    assert float(hub.state("number", "requested_power")) == before
    assert bat1.state(Role.FORCIBLE_MODE) != "charge"
    with _store_raises(), pytest.raises(HomeAssistantError) as raised:
        await hass.services.async_call(
            "select",
            "select_option",
            {"entity_id": hub.entity_id("select", "grid_mode"), "option": "discharge"},
            blocking=True,
        )
    assert raised.value.translation_key == "grid_mode_not_stored"
    store = hub.entry.runtime_data.store
    await store.async_save()  # what unload does: the refused request must not reach the disk
    assert hass_storage[f"{DOMAIN}.{hub.entry.entry_id}"]["data"]["grid_mode"]["mode"] == "zero"


async def test_a_store_of_a_newer_version_still_makes_its_pending_stops(
    hass: HomeAssistant,
    lilygo_fleet: LilyGoFleet,
    p1_meter: P1Meter,
    hass_storage: dict[str, Any],
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Back on an older release (a downgrade): what its reader understands is kept, the
    pending stop above all; before, the whole store was dropped and the battery ran on."""
    bat1 = await lilygo_fleet.add_battery("lilygo-bat1", mode="discharge", discharge_power=800)
    entry = make_hub_entry(p1_meter, [])
    hass_storage[f"{DOMAIN}.{entry.entry_id}"] = {
        "version": 3,
        "minor_version": 1,
        "key": f"{DOMAIN}.{entry.entry_id}",
        "data": {
            "settings": {"enabled": True, "grid_target_w": 50, "a_new_key": [1, 2]},
            "pending": [
                {
                    "subentry_id": "removed",
                    "title": bat1.name,
                    "phase": "L1",
                    "entities": {
                        **{r.value: e for r, e in bat1.entity_ids.items()},
                        "a_new_role_entity": "sensor.lilygo_bat1_something_new",
                    },
                    "a_new_field": {"x": 1},
                }
            ],
            "a_new_item": True,
        },
    }
    entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()
    async_fire_time_changed(hass, dt_util.utcnow() + timedelta(seconds=1))
    await hass.async_block_till_done()
    assert bat1.state(Role.FORCIBLE_MODE) == "stop"
    assert entry.runtime_data.settings.grid_target_w == 50
    assert "newer version" in caplog.text
    # the role this release does not know is named, the stop made without it
    assert entry.runtime_data.store.dropped == ["pending[0].entities"]


async def test_keepalive_goes_on_when_the_wall_clock_steps_back(
    lilygo_fleet: LilyGoFleet, make_hub: Any
) -> None:
    """NTP sets the clock an hour back: the keep-alive (RS485 enable, the setpoints again)
    still comes every period. It counted on the wall clock and paused for the hour: long
    enough for a firmware that drops RS485 control after 90 s to run its battery by itself.
    """
    bat1 = await lilygo_fleet.add_battery("lilygo-bat1", soc=60)
    hub: Hub = await make_hub([(bat1, "L1")], grid=0, options={CONF_KEEPALIVE: 30})
    await hub.tick(35, grid=0, step=0.5)
    # The integration's wall clock steps back an hour; the loop's timers and the monotonic
    # clock go on (the test's freezer would move those too).
    stepped = SimpleNamespace(utcnow=lambda: dt_util.utcnow() - timedelta(hours=1), now=dt_util.now)
    with (
        patch("custom_components.marstek_strategy.coordinator.dt_util", stepped),
        patch("custom_components.marstek_strategy.adapters.stops.dt_util", stepped, create=True),
    ):
        lilygo_fleet.clear_writes()
        await hub.tick(95, grid=0, step=0.5)
    values = [(w.role, w.value) for w in bat1.writes]
    assert values.count((Role.RS485_MODE, "enable")) >= 2


async def test_pending_stop_follows_a_rename_when_the_store_raises(
    hass: HomeAssistant, lilygo_fleet: LilyGoFleet, make_hub: Any
) -> None:
    """A battery removed while offline, its entities renamed while the store raises: the
    entry still reloads onto the new ids (the registry ids kept with the stop lead there)
    and the stop is made once the board is back. The failed save ended the rename's task
    before its reload: the stop went to ids that no longer existed."""
    bat1 = await lilygo_fleet.add_battery("lilygo-bat1", soc=80)
    bat2 = await lilygo_fleet.add_battery("lilygo-bat2", soc=70)
    hub: Hub = await make_hub([(bat1, "L1"), (bat2, "L1")], grid=1500)
    await hub.tick(12, grid=1500, step=12)
    assert bat2.state(Role.FORCIBLE_MODE) == "discharge"
    bat2.set_available(False)
    assert hass.config_entries.async_remove_subentry(hub.entry, hub.subentry_id(bat2))
    await hass.async_block_till_done()
    await hub.tick(6.5, grid=1500, step=6.5)
    registry = er.async_get(hass)
    with _store_raises():
        for role in (Role.FORCIBLE_MODE, Role.CHARGE_POWER, Role.DISCHARGE_POWER):
            old = bat2.entity_ids[role]
            registry.async_update_entity(old, new_entity_id=f"{old}_renamed")
        await hass.async_block_till_done()
    bat2.set_available(True)
    await hub.tick(13, grid=1500, step=6.5)
    assert bat2.entity_ids[Role.FORCIBLE_MODE].endswith("_renamed")
    assert bat2.state(Role.FORCIBLE_MODE) == "stop"
    assert float(bat2.state(Role.DISCHARGE_POWER)) == 0


async def test_removing_the_hub_names_a_stop_it_could_not_make(
    hass: HomeAssistant, lilygo_fleet: LilyGoFleet, make_hub: Any, caplog: pytest.LogCaptureFixture
) -> None:
    """The hub removed while a board is offline: nothing is left to make the stop later, so
    the log says which battery may still run (its store went silently before)."""
    bat1 = await lilygo_fleet.add_battery("lilygo-bat1", soc=80)
    hub: Hub = await make_hub([(bat1, "L1")], grid=1500)
    await hub.tick(12, grid=1500, step=12)
    assert bat1.state(Role.FORCIBLE_MODE) == "discharge"
    bat1.set_available(False)
    assert await hass.config_entries.async_remove(hub.entry.entry_id)
    await hass.async_block_till_done()
    warnings = [
        r.getMessage()
        for r in caplog.records
        if r.levelname == "WARNING" and "could not be stopped" in r.getMessage()
    ]
    assert len(warnings) == 1
    assert bat1.name in warnings[0]


async def test_an_option_of_the_wrong_type_still_loads_and_makes_the_pending_stop(
    hass: HomeAssistant,
    lilygo_fleet: LilyGoFleet,
    p1_meter: P1Meter,
    hass_storage: dict[str, Any],
    caplog: pytest.LogCaptureFixture,
) -> None:
    """An entry whose stored options were damaged (a hand edit, an old release's spelling)."""
    bat1 = await lilygo_fleet.add_battery("lilygo-bat1", mode="discharge", discharge_power=800)
    entry = make_hub_entry(p1_meter, [], options={CONF_STALE_TIMEOUT: "thirty"})
    hass_storage[f"{DOMAIN}.{entry.entry_id}"] = {
        "version": 2,
        "minor_version": 1,
        "key": f"{DOMAIN}.{entry.entry_id}",
        "data": {
            "pending": [
                {
                    "subentry_id": "removed",
                    "title": bat1.name,
                    "phase": "L1",
                    "entities": {r.value: e for r, e in bat1.entity_ids.items()},
                }
            ]
        },
    }
    entry.add_to_hass(hass)
    await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()
    async_fire_time_changed(hass, dt_util.utcnow() + timedelta(seconds=1))
    await hass.async_block_till_done()
    assert entry.state is ConfigEntryState.LOADED
    assert bat1.state(Role.FORCIBLE_MODE) == "stop"
    assert entry.runtime_data.coordinator.options.stale_s == DEFAULT_STALE_TIMEOUT
    assert entry.runtime_data.coordinator.options.dry_run  # drives nothing on it
    assert caplog.text.count("Stored options stale_timeout are not usable") == 1
    issue = ir.async_get(hass).async_get_issue(DOMAIN, f"options_damaged_{entry.entry_id}")
    assert issue is not None
    assert issue.translation_placeholders == {"name": entry.title, "options": "stale_timeout"}
    hass.config_entries.async_update_entry(  # saved in the form: the issue goes
        entry, options={**entry.options, CONF_STALE_TIMEOUT: 30}
    )
    await hass.config_entries.async_reload(entry.entry_id)
    await hass.async_block_till_done()
    assert ir.async_get(hass).async_get_issue(DOMAIN, f"options_damaged_{entry.entry_id}") is None


async def test_a_newer_learned_store_is_no_damage(
    hass: HomeAssistant,
    lilygo_fleet: LilyGoFleet,
    p1_meter: P1Meter,
    hass_storage: dict[str, Any],
) -> None:
    """A learner from a newer release (rolled back) starts afresh without a repair issue, on
    every Home Assistant version (2026 refused it before the migration: "damaged")."""
    bat = await lilygo_fleet.add_battery("lilygo-bat1")
    entry = make_hub_entry(p1_meter, [(bat, "L1")])
    (subentry_id,) = entry.subentries
    key = f"{DOMAIN}.learned.{subentry_id}"
    hass_storage[key] = {"version": 99, "key": key, "data": {"version": 99}}
    entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()
    assert ir.async_get(hass).async_get_issue(DOMAIN, f"learned_damaged_{subentry_id}") is None


async def test_removing_the_hub_withdraws_its_damaged_options_issue(
    hass: HomeAssistant, lilygo_fleet: LilyGoFleet, p1_meter: P1Meter
) -> None:
    await lilygo_fleet.add_battery("lilygo-bat1")
    entry = make_hub_entry(p1_meter, [], options={CONF_KEEPALIVE: True})
    entry.add_to_hass(hass)
    await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()
    issue_id = f"options_damaged_{entry.entry_id}"
    assert ir.async_get(hass).async_get_issue(DOMAIN, issue_id) is not None
    await hass.config_entries.async_remove(entry.entry_id)
    await hass.async_block_till_done()
    assert ir.async_get(hass).async_get_issue(DOMAIN, issue_id) is None


async def test_a_pending_stop_whose_save_failed_is_kept_once_the_store_writes_again(
    hass: HomeAssistant,
    lilygo_fleet: LilyGoFleet,
    make_hub: Any,
    hass_storage: dict[str, Any],
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A stop that cannot be made (its writes fail) while the store raises: once the store
    writes again it is saved at the next cycle (before, only when the pending stops changed
    or another save happened to come), so a restart does not forget it."""
    hub, bat1 = await _discharging(lilygo_fleet, make_hub)
    bat1.fail_writes = set(Role)
    switch = hub.entity_id("switch", "strategy_enabled")
    with _store_raises():
        await hass.services.async_call("switch", "turn_off", {"entity_id": switch}, blocking=True)
        await hass.async_block_till_done()
    assert hub.coordinator.stops.save_failed
    await hub.tick(7, grid=0, step=0.5)  # the store writes again; the stop is still owed
    assert not hub.coordinator.stops.save_failed
    assert caplog.text.count("The pending stops are kept in the store again") == 1
    stored = hass_storage[f"{DOMAIN}.{hub.entry.entry_id}"]["data"]["pending"]
    assert [item["subentry_id"] for item in stored] == [hub.coordinator.batteries[0].subentry_id]
