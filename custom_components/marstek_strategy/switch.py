"""Switch: the strategy on or off (restored across restarts)."""

from __future__ import annotations

from typing import Any

from homeassistant.components.switch import SwitchEntity
from homeassistant.const import STATE_OFF
from homeassistant.core import HomeAssistant
from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback
from homeassistant.helpers.restore_state import RestoreEntity

from .coordinator import MarstekConfigEntry, MarstekCoordinator
from .core.readings import Settings
from .entity import MarstekHubEntity

PARALLEL_UPDATES = 0


async def async_setup_entry(
    hass: HomeAssistant,
    entry: MarstekConfigEntry,
    async_add_entities: AddConfigEntryEntitiesCallback,
) -> None:
    """Add the strategy switch."""
    runtime = entry.runtime_data
    async_add_entities([StrategySwitch(runtime.coordinator, runtime.settings)])


class StrategySwitch(MarstekHubEntity, SwitchEntity, RestoreEntity):
    """Runs the strategy; off stops every battery once and then writes nothing."""

    def __init__(self, coordinator: MarstekCoordinator, settings: Settings) -> None:
        """Set up the switch."""
        super().__init__(coordinator, "strategy_enabled")
        self._settings = settings

    async def async_added_to_hass(self) -> None:
        """Restore on or off (on when never set)."""
        await super().async_added_to_hass()
        if self.coordinator.config_entry.runtime_data.settings_stored:
            return  # the store has it (restore state only for an entry made before the store)
        last = await self.async_get_last_state()
        if last is not None and last.state == STATE_OFF:
            self._settings.enabled = False

    @property
    def is_on(self) -> bool:
        """Return whether the strategy runs."""
        return self._settings.enabled

    async def async_turn_on(self, **kwargs: Any) -> None:
        """Run the strategy from the next cycle, which starts now."""
        await self._async_set(enabled=True)

    async def async_turn_off(self, **kwargs: Any) -> None:
        """Stop every battery now and leave them alone."""
        await self._async_set(enabled=False)

    async def _async_set(self, *, enabled: bool) -> None:
        if self._settings.enabled == enabled:
            return
        self._settings.enabled = enabled
        self.coordinator.config_entry.runtime_data.save_settings()
        self.async_write_ha_state()
        await self.coordinator.async_cycle_now()
