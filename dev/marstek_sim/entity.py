"""Base entities of the simulator: a LilyGo board's entity, a meter/house entity."""

from __future__ import annotations

from homeassistant.core import callback
from homeassistant.helpers.device_registry import DeviceInfo
from homeassistant.helpers.entity import Entity
from homeassistant.util import slugify

from . import SimData
from .const import DOMAIN
from .site import Board


class BoardEntity(Entity):
    """An entity of one simulated LilyGo board, named as the common ESPHome config names it."""

    _attr_has_entity_name = True
    _attr_should_poll = False

    def __init__(self, data: SimData, board: Board, key: str, name: str) -> None:
        """Name the entity ``<prefix><name>`` on the board's device."""
        self._data = data
        self._board = board
        self._key = key
        board_id = slugify(board.name)
        prefix = data.prefix if board.config.prefix is None else board.config.prefix
        separator = data.separator if board.config.separator is None else board.config.separator
        self._attr_name = f"{prefix}{name}".replace("\u2044", separator)
        self._attr_unique_id = f"{board_id}-{key}"
        self._attr_device_info = DeviceInfo(
            identifiers={(DOMAIN, board_id)},
            name=board.name,
            manufacturer="LilyGo (simulated)",
            model="T-CAN485 with Marstek Venus E",
            sw_version="ESPHome config: fonske lilygo-rs485 (simulated)",
        )
        self._polls = -1

    @property
    def available(self) -> bool:
        """Return whether the board answers."""
        return self._board.available

    async def async_added_to_hass(self) -> None:
        """Publish on the board's poll cadence."""
        self.async_on_remove(self._data.async_add_listener(self._handle_step))

    @callback
    def _handle_step(self) -> None:
        if self._board.polls != self._polls:
            self._polls = self._board.polls
            self.async_write_ha_state()


class SiteEntity(Entity):
    """An entity of the simulated P1 meter or house; publishes every second."""

    _attr_has_entity_name = True
    _attr_should_poll = False

    def __init__(self, data: SimData, device: str, key: str, name: str) -> None:
        """Create the entity on the meter or house device."""
        self._data = data
        self._device = device
        self._attr_name = name
        self._attr_unique_id = f"{device}-{key}"
        self._attr_device_info = DeviceInfo(
            identifiers={(DOMAIN, device)},
            name=data.meter_name if device == "meter" else "Simulated house",
            manufacturer="Marstek simulator",
            model="DSMR 5 P1 meter (simulated)" if device == "meter" else "House profile",
        )

    @property
    def available(self) -> bool:
        """Return whether the meter answers (the house always does)."""
        return self._device != "meter" or self._data.site.meter_available

    async def async_added_to_hass(self) -> None:
        """Publish after every simulation step."""
        self.async_on_remove(self._data.async_add_listener(self._handle_step))

    @callback
    def _handle_step(self) -> None:
        if self._device != "meter" or self._data.site.meter_reporting:
            self.async_write_ha_state()
