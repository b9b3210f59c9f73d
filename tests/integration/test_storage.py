"""The entry's store: settings and pending stops, and what a broken store does."""

from __future__ import annotations

from datetime import timedelta
import json
from typing import Any

from homeassistant.config_entries import ConfigEntryState
from homeassistant.core import HomeAssistant
from homeassistant.helpers import issue_registry as ir
from homeassistant.util import dt as dt_util
from hypothesis import given, settings as hyp_settings, strategies as st
from pytest_homeassistant_custom_component.common import async_fire_time_changed

from custom_components.marstek_strategy.adapters.batteries import BatteryConfig
from custom_components.marstek_strategy.adapters.storage import (
    EntryStore,
    async_remove_store,
    read_store,
    settings_from_dict,
)
from custom_components.marstek_strategy.const import DOMAIN, Role
from custom_components.marstek_strategy.core.readings import Participation, Settings
from tests.conftest import LilyGoFleet, P1Meter, make_hub_entry


def test_settings_from_a_broken_store_fall_back_to_the_defaults() -> None:
    settings = settings_from_dict(
        {
            "enabled": False,
            "strategy": "no such strategy",
            "grid_target_w": "nan",
            "batteries": {
                "a": {"charge_cutoff": 30, "discharge_cutoff": 50, "participation": "bogus"},
                "b": {"max_charge_w": "abc", "participation": "charge_only"},
            },
        }
    )
    assert settings.enabled is False
    assert settings.strategy == "priority"
    assert settings.grid_target_w == 0.0
    battery_a = settings.batteries["a"]
    assert (battery_a.charge_cutoff, battery_a.discharge_cutoff) == (100.0, 12.0)
    assert battery_a.participation is Participation.AUTO
    assert settings.batteries["b"].max_charge_w == 2500
    assert settings.batteries["b"].participation is Participation.CHARGE_ONLY


async def test_store_round_trip_and_broken_items(
    hass: HomeAssistant, hass_storage: dict[str, Any]
) -> None:
    store = EntryStore(hass, "entry1")
    await store.async_load()
    assert store.settings is None
    assert store.pending == {}
    battery = BatteryConfig("sub1", "bat1", "L2", {Role.SOC: "sensor.soc"}, "select.mode")
    await store.async_save_pending([battery])
    stored = hass_storage[f"{DOMAIN}.entry1"]["data"]
    stored["pending"].append({"title": "no id"})  # a broken item is skipped
    again = EntryStore(hass, "entry1")
    await again.async_load()
    assert again.pending == {"sub1": battery}
    assert again.pending["sub1"].work_mode == "select.mode"
    await async_remove_store(hass, "entry1")
    assert f"{DOMAIN}.entry1" not in hass_storage


async def test_a_corrupt_store_is_ignored(
    hass: HomeAssistant, hass_storage: dict[str, Any]
) -> None:
    hass_storage[f"{DOMAIN}.entry2"] = {"version": 99, "key": "x", "data": {}}
    store = EntryStore(hass, "entry2")
    await store.async_load()  # a newer version than we know: logged, defaults used
    assert store.settings is None


# --------------------------------------------------------------------------------------------
# Issue 18.4: a store damaged in one item keeps the rest, names what it dropped, and the entry
# still loads and makes its pending stops.

JSON = st.recursive(
    st.none() | st.booleans() | st.floats() | st.integers() | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner),
    max_leaves=20,
)
GOOD_PENDING = {
    "subentry_id": "sub1",
    "title": "bat1",
    "phase": "L1",
    "entities": {"soc_entity": "sensor.soc"},
    "work_mode": None,
}


def _document(settings: Any, batteries: Any, pending: list[Any]) -> dict[str, Any]:
    return {
        "settings": settings
        if settings is not None
        else {"enabled": True, "strategy": "equal", "batteries": batteries},
        "pending": pending,
    }


@hyp_settings(max_examples=300, deadline=None)
@given(data=JSON)
def test_any_json_reads_without_raising(data: Any) -> None:
    """Whatever the store holds, reading it never raises; what it cannot read is named."""
    settings, pending, dropped, _request, _peak = read_store(data)
    assert data is None or isinstance(data, dict) or dropped == ["store"]
    assert all(isinstance(battery, BatteryConfig) for battery in pending.values())
    assert settings is None or isinstance(settings, Settings)


@hyp_settings(max_examples=300, deadline=None)
@given(item=JSON, batteries=JSON, settings=st.none() | JSON)
def test_a_damaged_item_drops_itself_only(item: Any, batteries: Any, settings: Any) -> None:
    """A good pending stop next to any damaged one is kept, and a damaged item is named."""
    data = _document(settings, batteries, [GOOD_PENDING, item])
    _settings, pending, dropped, _request, _peak = read_store(data)
    assert pending["sub1"] == BatteryConfig.from_dict(GOOD_PENDING)
    if not isinstance(item, dict):
        assert "pending[1]" in dropped
    if settings is None and batteries is not None and not isinstance(batteries, dict):
        assert "settings.batteries" in dropped


@hyp_settings(max_examples=200, deadline=None)
@given(cut=st.integers(min_value=0, max_value=10_000))
def test_truncated_json_reads_what_it_can(cut: int) -> None:
    """A store file cut short: either no JSON at all (the whole store is dropped by the
    loader) or a JSON value whose every readable item is kept."""
    text = json.dumps(_document(None, {"a": {"charge_cutoff": 90}}, [GOOD_PENDING] * 2))
    try:
        data = json.loads(text[: cut % (len(text) + 1)])
    except json.JSONDecodeError:
        return
    read_store(data)  # never raises


async def test_null_batteries_and_a_non_mapping_item_keep_the_rest(
    hass: HomeAssistant, hass_storage: dict[str, Any]
) -> None:
    """`settings.batteries` = null and one pending item not a mapping: set-up raised before."""
    hass_storage[f"{DOMAIN}.entry3"] = {
        "version": 1,
        "minor_version": 1,
        "key": f"{DOMAIN}.entry3",
        "data": {
            "settings": {"enabled": False, "strategy": "equal", "batteries": None},
            "pending": [GOOD_PENDING, "not a mapping"],
        },
    }
    store = EntryStore(hass, "entry3", "Hub")
    await store.async_load()
    assert store.settings is not None
    assert (store.settings.enabled, store.settings.strategy) == (False, "equal")
    assert list(store.pending) == ["sub1"]
    assert store.dropped == ["settings.batteries", "pending[1]"]
    issue = ir.async_get(hass).async_get_issue(DOMAIN, "store_damaged_entry3")
    assert issue is not None
    assert issue.translation_placeholders == {
        "name": "Hub",
        "dropped": "settings.batteries, pending[1]",
    }


async def test_a_damaged_store_still_makes_its_pending_stops(
    hass: HomeAssistant,
    lilygo_fleet: LilyGoFleet,
    p1_meter: P1Meter,
    hass_storage: dict[str, Any],
) -> None:
    """The entry loads on a store with a damaged item, and makes the stop it kept."""
    bat1 = await lilygo_fleet.add_battery("lilygo-bat1", mode="discharge", discharge_power=800)
    entry = make_hub_entry(p1_meter, [])
    hass_storage[f"{DOMAIN}.{entry.entry_id}"] = {
        "version": 1,
        "minor_version": 1,
        "key": f"{DOMAIN}.{entry.entry_id}",
        "data": {
            "settings": {"enabled": True, "batteries": {"x": 3}},
            "pending": [
                {
                    "subentry_id": "removed",
                    "title": bat1.name,
                    "phase": "L1",
                    "entities": {r.value: e for r, e in bat1.entity_ids.items()},
                },
                None,
            ],
        },
    }
    entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()
    assert entry.state is ConfigEntryState.LOADED
    # The first cycle is scheduled (START_DELAY_S) once Home Assistant has started: let it
    # come (without this the test passed or failed by the run's timing).
    async_fire_time_changed(hass, dt_util.utcnow() + timedelta(seconds=1))
    await hass.async_block_till_done()
    assert bat1.state(Role.FORCIBLE_MODE) == "stop"
    assert ir.async_get(hass).async_get_issue(DOMAIN, f"store_damaged_{entry.entry_id}")


def test_a_stored_value_outside_its_entity_range_is_dropped_and_named() -> None:
    """A store is no way past the entities' ranges: each such value is named, the rest kept."""
    dropped: list[str] = []
    settings = settings_from_dict(
        {
            "grid_target_w": -1e6,
            "requested_power_w": True,
            "batteries": {
                "a": {
                    "charge_cutoff": 150,
                    "discharge_cutoff": -5,
                    "max_charge_w": -2500,
                    "max_discharge_w": "800",
                    "participation": "bogus",
                },
                "b": {"charge_cutoff": 30, "discharge_cutoff": 50, "max_charge_w": 1200},
            },
        },
        dropped,
    )
    assert (settings.grid_target_w, settings.requested_power_w) == (0.0, 1000.0)
    battery_a, battery_b = settings.batteries["a"], settings.batteries["b"]
    assert (battery_a.charge_cutoff, battery_a.discharge_cutoff) == (100.0, 12.0)
    assert (battery_a.max_charge_w, battery_a.max_discharge_w) == (2500, 2500)
    assert (battery_b.charge_cutoff, battery_b.discharge_cutoff) == (100.0, 12.0)
    assert battery_b.max_charge_w == 1200
    assert dropped == [
        "settings.grid_target_w",
        "settings.requested_power_w",
        "settings.batteries.a.charge_cutoff",
        "settings.batteries.a.discharge_cutoff",
        "settings.batteries.a.max_charge_w",
        "settings.batteries.a.max_discharge_w",
        "settings.batteries.a.participation",
        "settings.batteries.b.cutoffs",
    ]
