"""Selects: the hub's strategy and each battery's participation (restored across restarts)."""

from __future__ import annotations

from homeassistant.components.select import SelectEntity, SelectEntityDescription
from homeassistant.const import EntityCategory
from homeassistant.core import HomeAssistant
from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback
from homeassistant.helpers.restore_state import RestoreEntity

from .coordinator import BatteryConfig, MarstekConfigEntry, MarstekCoordinator
from .core.model import Strategy
from .core.readings import BatterySettings, Participation, Settings
from .entity import MarstekBatteryEntity, MarstekHubEntity

PARALLEL_UPDATES = 0

STRATEGY = SelectEntityDescription(
    key="strategy",
    options=[strategy.value for strategy in Strategy],
)
PARTICIPATION = SelectEntityDescription(
    key="participation",
    options=[participation.value for participation in Participation],
    entity_category=EntityCategory.CONFIG,
)


async def async_setup_entry(
    hass: HomeAssistant,
    entry: MarstekConfigEntry,
    async_add_entities: AddConfigEntryEntitiesCallback,
) -> None:
    """Add the strategy select and each battery's participation select."""
    coordinator = entry.runtime_data.coordinator
    settings = entry.runtime_data.settings
    async_add_entities([StrategySelect(coordinator, settings)])
    for battery in coordinator.batteries:
        async_add_entities(
            [ParticipationSelect(coordinator, battery, settings.batteries[battery.subentry_id])],
            config_subentry_id=battery.subentry_id,
        )


class StrategySelect(MarstekHubEntity, SelectEntity, RestoreEntity):
    """How the demand is spread over the batteries."""

    entity_description = STRATEGY

    def __init__(self, coordinator: MarstekCoordinator, settings: Settings) -> None:
        """Set up the select."""
        super().__init__(coordinator, STRATEGY.key)
        self._settings = settings

    async def async_added_to_hass(self) -> None:
        """Restore the last strategy."""
        await super().async_added_to_hass()
        if self.coordinator.config_entry.runtime_data.settings_stored:
            return  # the store has it (restore state only for an entry made before the store)
        last = await self.async_get_last_state()
        if last is not None and last.state in self.options:
            self._settings.strategy = Strategy(last.state)

    @property
    def current_option(self) -> str:
        """Return the strategy."""
        return self._settings.strategy.value

    async def async_select_option(self, option: str) -> None:
        """Change the strategy; the next cycle uses it."""
        self._settings.strategy = Strategy(option)
        self.coordinator.config_entry.runtime_data.save_settings()
        self.async_write_ha_state()


class ParticipationSelect(MarstekBatteryEntity, SelectEntity, RestoreEntity):
    """Whether a battery may charge, discharge, both or neither."""

    entity_description = PARTICIPATION

    def __init__(
        self,
        coordinator: MarstekCoordinator,
        battery: BatteryConfig,
        settings: BatterySettings,
    ) -> None:
        """Set up the select."""
        super().__init__(coordinator, battery, PARTICIPATION.key)
        self._settings = settings

    async def async_added_to_hass(self) -> None:
        """Restore the last participation."""
        await super().async_added_to_hass()
        if self.coordinator.config_entry.runtime_data.settings_stored:
            return  # the store has it (restore state only for an entry made before the store)
        last = await self.async_get_last_state()
        if last is not None and last.state in self.options:
            self._settings.participation = Participation(last.state)

    @property
    def current_option(self) -> str:
        """Return the participation."""
        return self._settings.participation.value

    async def async_select_option(self, option: str) -> None:
        """Change the participation; the next cycle uses it."""
        self._settings.participation = Participation(option)
        self.coordinator.config_entry.runtime_data.save_settings()
        self.async_write_ha_state()
