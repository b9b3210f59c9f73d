"""The entry's store: settings and pending stops, and what a broken store does."""

from __future__ import annotations

from typing import Any

from homeassistant.core import HomeAssistant

from custom_components.marstek_strategy.adapters.batteries import BatteryConfig
from custom_components.marstek_strategy.adapters.storage import (
    EntryStore,
    async_remove_store,
    settings_from_dict,
)
from custom_components.marstek_strategy.const import DOMAIN, Role
from custom_components.marstek_strategy.core.readings import Participation


def test_settings_from_a_broken_store_fall_back_to_the_defaults() -> None:
    settings = settings_from_dict(
        {
            "enabled": False,
            "strategy": "no such strategy",
            "grid_target_w": "nan",
            "batteries": {
                "a": {"charge_cutoff": 10, "discharge_cutoff": 50, "participation": "bogus"},
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
