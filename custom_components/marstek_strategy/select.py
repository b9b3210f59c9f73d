"""Selects: the hub's strategy and grid mode, each battery's participation (restored)."""

from __future__ import annotations

from typing import Any

from homeassistant.components.select import SelectEntity, SelectEntityDescription
from homeassistant.const import EntityCategory
from homeassistant.core import HomeAssistant
from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback
from homeassistant.helpers.restore_state import RestoreEntity
from homeassistant.util import dt as dt_util

from .adapters.batteries import BatteryConfig
from .coordinator import MarstekConfigEntry, MarstekCoordinator
from .core.grid_mode import GridMode
from .core.model import Strategy
from .core.readings import BatterySettings, Participation, Settings
from .entity import MarstekBatteryEntity, MarstekHubEntity
from .services import async_select_mode

PARALLEL_UPDATES = 0

STRATEGY = SelectEntityDescription(
    key="strategy",
    options=[strategy.value for strategy in Strategy],
)
GRID_MODE = SelectEntityDescription(
    key="grid_mode",
    options=[mode.value for mode in GridMode],
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
    async_add_entities([StrategySelect(coordinator, settings), GridModeSelect(coordinator)])
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


class GridModeSelect(MarstekHubEntity, SelectEntity):
    """What the hub does with the grid: zero, charge, discharge or hold (grid_mode.py).

    The request in force lives in the store (its end holds across a restart); choosing a
    mode here runs it at the Requested power for at most 24 h.
    """

    entity_description = GRID_MODE

    def __init__(self, coordinator: MarstekCoordinator) -> None:
        """Set up the select."""
        super().__init__(coordinator, GRID_MODE.key)

    @property
    def current_option(self) -> str:
        """Return the grid mode in force."""
        return self.coordinator.grid.request.mode.value

    @property
    def extra_state_attributes(self) -> dict[str, Any]:
        """Return the request's power and end, and what limits the plan."""
        current = self.coordinator.grid.request
        data = self.coordinator.data
        ending = self.coordinator.grid.ending
        return {
            # hold runs at no power of its own (a power it was stored with is not shown)
            "power": current.power_w
            if current.mode in (GridMode.CHARGE, GridMode.DISCHARGE)
            else None,
            "until": None if current.until is None else dt_util.as_local(current.until),
            "target_soc": current.target_soc,
            "soak": current.soak if current.mode is GridMode.HOLD else None,
            "goal": None if data is None else data.grid_goal_w,
            "limited_by": None if data is None or data.grid_limit is None else data.grid_limit,
            "ended": None if ending is None else ending.value,
        }

    async def async_select_option(self, option: str) -> None:
        """Put the mode in force (the services module checks and stores it)."""
        await async_select_mode(self.coordinator.config_entry, GridMode(option))
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
