"""The Marstek multi-battery strategy integration."""

from __future__ import annotations

from functools import partial
from typing import Final

from homeassistant.const import Platform
from homeassistant.core import HassJob, HomeAssistant
from homeassistant.helpers import config_validation as cv
from homeassistant.helpers.start import async_at_started
from homeassistant.helpers.typing import ConfigType

from .adapters.batteries import battery_configs
from .adapters.learned import async_remove_stores
from .adapters.loop_options import options_issue
from .adapters.storage import EntryStore, async_remove_store
from .card import async_register_card
from .const import DOMAIN, LOGGER
from .coordinator import MarstekConfigEntry, MarstekCoordinator, MarstekData
from .core.readings import Settings
from .repairs import async_delete_issues
from .services import async_setup_services

__all__ = ["MarstekConfigEntry", "MarstekData"]

CONFIG_SCHEMA = cv.config_entry_only_config_schema(DOMAIN)

PLATFORMS: list[Platform] = [
    Platform.BUTTON,
    Platform.NUMBER,
    Platform.SELECT,
    Platform.SENSOR,
    Platform.SWITCH,
]


async def async_setup(hass: HomeAssistant, config: ConfigType) -> bool:
    """Register the services (set_grid_mode), which work on any loaded hub."""
    async_setup_services(hass)
    return True


async def async_setup_entry(hass: HomeAssistant, entry: MarstekConfigEntry) -> bool:
    """Set up the strategy hub: the store, the entities, then the loop once started.

    The settings come from the entry's store; only where nothing is stored yet (an entry
    made before the store) do the entities restore them from their last state.
    """
    await async_register_card(hass)
    store = EntryStore(hass, entry.entry_id, entry.title)
    await store.async_load()
    settings = store.settings or Settings()
    coordinator = MarstekCoordinator(hass, entry, settings, store)
    await coordinator.learned.async_load()
    entry.runtime_data = MarstekData(coordinator, settings, store)
    await hass.config_entries.async_forward_entry_setups(entry, PLATFORMS)
    coordinator.async_settings_restored()
    entry.runtime_data.save_settings()

    entry.async_on_unload(entry.add_update_listener(_async_update_listener))
    entry.async_on_unload(coordinator.async_watch_registry())
    entry.async_on_unload(coordinator.async_track_states())
    # Stop the batteries before the integrations (ESPHome among them) shut down.
    entry.async_on_unload(
        hass.async_add_shutdown_job(
            HassJob(partial(_async_stop_batteries, coordinator), "marstek_strategy stop batteries")
        )
    )

    # The running quarter hour and the grid mode are written when Home Assistant stops.
    entry.async_on_unload(
        hass.async_add_shutdown_job(HassJob(store.async_save, "marstek_strategy save store"))
    )

    async def _async_started(_hass: HomeAssistant) -> None:
        coordinator.repairs.async_check_missing()  # removed while this entry was not loaded
        await coordinator.async_start()

    # The LilyGo entities may not exist yet while Home Assistant starts.
    entry.async_on_unload(async_at_started(hass, _async_started))
    return True


#: The batteries whose stop not taken at a closing was said (hass.data): said once until a
#: closing finds the stop made, not again at each reload while the board stays offline.
_STOP_NOT_TAKEN_SAID: Final = f"{DOMAIN}_stop_not_taken_said"


async def _async_stop_batteries(coordinator: MarstekCoordinator) -> None:
    """Close the loop with its stops made; name each battery whose stop could not be made.

    Nothing runs after this to show it in a sensor: the stop is kept in the store and made
    when the integration runs again, and until then that battery may go on running.
    """
    await coordinator.async_stop_batteries()
    pending = {
        b.subentry_id: b.title
        for b in coordinator.targets
        if b.subentry_id in coordinator.lifecycle.pending
    }
    said: set[str] = coordinator.hass.data.setdefault(_STOP_NOT_TAKEN_SAID, set())
    said.intersection_update(pending)  # a stop made since: said again next time
    if titles := [title for subentry_id, title in pending.items() if subentry_id not in said]:
        said.update(pending)
        LOGGER.warning(
            "Closing, and a stop was not taken (the board does not answer): %s may go on "
            "charging or discharging; the stop is kept and made as soon as the integration "
            "runs again and the board answers",
            ", ".join(sorted(titles)),
        )


async def _async_update_listener(hass: HomeAssistant, entry: MarstekConfigEntry) -> None:
    """Reload on new options, reconfiguration and added or removed batteries."""
    # A removed battery's learned losses go with it (the others are saved on unload); a store
    # that cannot be removed never holds up the reload, which stops the removed battery.
    try:
        await entry.runtime_data.coordinator.learned.async_remove_missing(
            battery.subentry_id for battery in battery_configs(entry)
        )
    except Exception:
        LOGGER.exception("Removing a removed battery's learned losses failed")
    await hass.config_entries.async_reload(entry.entry_id)


async def async_unload_entry(hass: HomeAssistant, entry: MarstekConfigEntry) -> bool:
    """Stop every battery, then unload the entities."""
    try:
        await _async_stop_batteries(entry.runtime_data.coordinator)
    except Exception:
        LOGGER.exception("Stopping the batteries failed while unloading")
    try:  # the running quarter hour goes with the store (a reload keeps counting it)
        await entry.runtime_data.store.async_save()
    except Exception:
        LOGGER.exception("Saving the store failed while unloading")
    entry.runtime_data.store.close()  # a call still queued writes nothing over the next entry
    try:  # learned losses not written never hold up the unload
        await entry.runtime_data.coordinator.learned.async_save()
    except Exception:
        LOGGER.exception("Saving the learned losses failed while unloading")
    return await hass.config_entries.async_unload_platforms(entry, PLATFORMS)


async def async_remove_entry(hass: HomeAssistant, entry: MarstekConfigEntry) -> None:
    """Remove the entry's repair issues and its store with it."""
    async_delete_issues(hass, entry.entry_id)
    options_issue(hass, entry, ())  # withdrawn: nothing left to fix
    await async_remove_store(hass, entry.entry_id)
    await async_remove_stores(hass, entry.subentries)
