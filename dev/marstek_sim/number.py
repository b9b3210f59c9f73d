"""Numbers of a LilyGo board: forcible powers, max powers, cutoffs (ESPHome config ranges)."""

from __future__ import annotations

from dataclasses import dataclass

from homeassistant.components.number import NumberEntity, NumberEntityDescription, NumberMode
from homeassistant.const import PERCENTAGE, UnitOfPower
from homeassistant.core import HomeAssistant
from homeassistant.helpers.entity_platform import AddEntitiesCallback

from . import SimConfigEntry, SimData
from .entity import BoardEntity
from .site import NUMBER_RANGES, Board


@dataclass(frozen=True, kw_only=True)
class BoardNumberDescription(NumberEntityDescription):
    """A LilyGo number: its ESPHome name."""

    esphome_name: str


def _number(key: str, name: str, unit: str, mode: NumberMode) -> BoardNumberDescription:
    low, high = NUMBER_RANGES[key]
    return BoardNumberDescription(
        key=key,
        esphome_name=name,
        native_min_value=low,
        native_max_value=high,
        native_step=1,
        native_unit_of_measurement=unit,
        mode=mode,
    )


BOARD_NUMBERS = (
    _number("charge_power", "Forcible Charge Power", UnitOfPower.WATT, NumberMode.BOX),
    _number("discharge_power", "Forcible Discharge Power", UnitOfPower.WATT, NumberMode.BOX),
    _number("max_charge_power", "Max. Charge Power", UnitOfPower.WATT, NumberMode.BOX),
    _number("max_discharge_power", "Max. Discharge Power", UnitOfPower.WATT, NumberMode.BOX),
    _number("charge_cutoff", "Charging Cutoff Capacity", PERCENTAGE, NumberMode.AUTO),
    _number("discharge_cutoff", "Discharging Cutoff Capacity", PERCENTAGE, NumberMode.AUTO),
)


async def async_setup_entry(
    hass: HomeAssistant, entry: SimConfigEntry, async_add_entities: AddEntitiesCallback
) -> None:
    """Add the numbers."""
    data = entry.runtime_data
    async_add_entities(
        BoardNumber(data, board, description)
        for board in data.entity_boards
        for description in BOARD_NUMBERS
    )


class BoardNumber(BoardEntity, NumberEntity):
    """A LilyGo number: a write reaches the battery at once and shows at the next poll."""

    entity_description: BoardNumberDescription

    def __init__(self, data: SimData, board: Board, description: BoardNumberDescription) -> None:
        """Create the number."""
        super().__init__(data, board, description.key, description.esphome_name)
        self.entity_description = description

    @property
    def native_value(self) -> float:
        """Return the register value the board last read."""
        return float(self._board.reported[self._key])

    async def async_set_native_value(self, value: float) -> None:
        """Write the register."""
        self._board.write(self._key, value)
