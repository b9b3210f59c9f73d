"""Base entities: one hub device per entry, one device per battery subentry."""

from __future__ import annotations

from homeassistant.helpers.device_registry import DeviceEntryType, DeviceInfo
from homeassistant.helpers.update_coordinator import CoordinatorEntity

from .adapters.batteries import BatteryConfig
from .const import CONF_DEVICE_ID, DOMAIN
from .coordinator import MarstekCoordinator


class MarstekHubEntity(CoordinatorEntity[MarstekCoordinator]):
    """An entity of the strategy hub."""

    _attr_has_entity_name = True

    def __init__(self, coordinator: MarstekCoordinator, key: str) -> None:
        """Set up the entity for the hub device."""
        super().__init__(coordinator)
        entry = coordinator.config_entry
        self._attr_translation_key = key
        self._attr_unique_id = f"{entry.entry_id}_{key}"
        self._attr_device_info = DeviceInfo(
            identifiers={(DOMAIN, entry.entry_id)},
            name=entry.title,
            manufacturer="Marstek strategy",
            model="Multi-battery strategy",
            entry_type=DeviceEntryType.SERVICE,
        )


class MarstekBatteryEntity(CoordinatorEntity[MarstekCoordinator]):
    """An entity of one battery (a battery subentry has its own device)."""

    _attr_has_entity_name = True

    def __init__(self, coordinator: MarstekCoordinator, battery: BatteryConfig, key: str) -> None:
        """Set up the entity for the battery's device."""
        super().__init__(coordinator)
        self.battery = battery
        self._attr_translation_key = key
        self._attr_unique_id = f"{battery.subentry_id}_{key}"
        subentry = coordinator.config_entry.subentries.get(battery.subentry_id)
        lilygo = subentry.data.get(CONF_DEVICE_ID) if subentry else None
        self._attr_device_info = DeviceInfo(
            identifiers={(DOMAIN, battery.subentry_id)},
            # "Visit": the battery's own LilyGo device (a link, not via_device: another
            # entry's device must not be this one's parent).
            configuration_url=f"homeassistant://config/devices/device/{lilygo}" if lilygo else None,
            translation_key="battery",
            translation_placeholders={"name": battery.title},
            manufacturer="Marstek",
            model="Venus E (strategy)",
            entry_type=DeviceEntryType.SERVICE,
        )
