"""Buttons: forget what a battery's readings taught (learned.py)."""

from __future__ import annotations

from homeassistant.components.button import ButtonEntity
from homeassistant.const import EntityCategory
from homeassistant.core import HomeAssistant
from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback

from .adapters.batteries import BatteryConfig
from .coordinator import MarstekConfigEntry, MarstekCoordinator
from .entity import MarstekBatteryEntity

PARALLEL_UPDATES = 0


async def async_setup_entry(
    hass: HomeAssistant,
    entry: MarstekConfigEntry,
    async_add_entities: AddConfigEntryEntitiesCallback,
) -> None:
    """Add a forget button to each battery that learns its losses."""
    coordinator = entry.runtime_data.coordinator
    for battery in coordinator.batteries:
        if coordinator.learned[battery.subentry_id].learns:
            async_add_entities(
                [ForgetLearnedButton(coordinator, battery)],
                config_subentry_id=battery.subentry_id,
            )


class ForgetLearnedButton(MarstekBatteryEntity, ButtonEntity):
    """Start the battery's learned losses again from the default table."""

    _attr_entity_category = EntityCategory.CONFIG

    def __init__(self, coordinator: MarstekCoordinator, battery: BatteryConfig) -> None:
        """Set up the button."""
        super().__init__(coordinator, battery, "forget_learned")

    async def async_press(self) -> None:
        """Forget: a fresh learner, its Store removed; the engine uses the default table."""
        await self.coordinator.learned.async_forget(self.battery.subentry_id)
        self.coordinator.async_update_listeners()
