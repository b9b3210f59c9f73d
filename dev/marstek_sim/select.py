"""Selects of a LilyGo board: RS485 control mode, forcible charge/discharge, user work mode."""

from __future__ import annotations

from dataclasses import dataclass

from homeassistant.components.select import SelectEntity, SelectEntityDescription
from homeassistant.core import HomeAssistant
from homeassistant.helpers.entity_platform import AddEntitiesCallback

from . import SimConfigEntry, SimData
from .entity import BoardEntity
from .site import SELECT_OPTIONS, Board


@dataclass(frozen=True, kw_only=True)
class BoardSelectDescription(SelectEntityDescription):
    """A LilyGo select: its ESPHome name."""

    esphome_name: str


BOARD_SELECTS = (
    BoardSelectDescription(
        key="rs485_mode",
        esphome_name="RS485 Control Mode",
        options=list(SELECT_OPTIONS["rs485_mode"]),
        icon="mdi:connection",
    ),
    BoardSelectDescription(
        # U+2044 FRACTION SLASH, as the common ESPHome configuration spells it.
        key="forcible_mode",
        esphome_name="Forcible Charge\u2044Discharge",
        options=list(SELECT_OPTIONS["forcible_mode"]),
    ),
    BoardSelectDescription(
        key="work_mode",
        esphome_name="User Work Mode",
        options=list(SELECT_OPTIONS["work_mode"]),
        icon="mdi:auto-mode",
    ),
)


async def async_setup_entry(
    hass: HomeAssistant, entry: SimConfigEntry, async_add_entities: AddEntitiesCallback
) -> None:
    """Add the selects."""
    data = entry.runtime_data
    async_add_entities(
        BoardSelect(data, board, description)
        for board in data.entity_boards
        for description in BOARD_SELECTS
    )


class BoardSelect(BoardEntity, SelectEntity):
    """A LilyGo select: a write reaches the battery at once and shows at the next poll."""

    entity_description: BoardSelectDescription

    def __init__(self, data: SimData, board: Board, description: BoardSelectDescription) -> None:
        """Create the select."""
        super().__init__(data, board, description.key, description.esphome_name)
        self.entity_description = description

    @property
    def current_option(self) -> str:
        """Return the register value the board last read."""
        return str(self._board.reported[self._key])

    async def async_select_option(self, option: str) -> None:
        """Write the register."""
        self._board.write(self._key, option)
