"""Sensors: each board's state of charge and powers; the P1 meter; the house."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from homeassistant.components.sensor import (
    SensorDeviceClass,
    SensorEntity,
    SensorEntityDescription,
    SensorStateClass,
)
from homeassistant.const import PERCENTAGE, UnitOfEnergy, UnitOfPower
from homeassistant.core import HomeAssistant, callback
from homeassistant.helpers.entity_platform import AddEntitiesCallback

from . import SimConfigEntry, SimData
from .entity import BoardEntity, SiteEntity
from .site import Board, Site


@dataclass(frozen=True, kw_only=True)
class BoardSensorDescription(SensorEntityDescription):
    """A LilyGo sensor: its ESPHome name and how to read it from the board."""

    esphome_name: str
    value: Callable[[Board], float]


#: Sensors the board reads on the AC power's cadence (both powers in one read).
POWER_KEYS = frozenset({"ac_power", "battery_power"})

BOARD_SENSORS = (
    BoardSensorDescription(
        key="soc",
        esphome_name="Battery State Of Charge",
        native_unit_of_measurement=PERCENTAGE,
        device_class=SensorDeviceClass.BATTERY,
        state_class=SensorStateClass.MEASUREMENT,
        suggested_display_precision=0,
        value=lambda board: board.reported["soc"],
    ),
    BoardSensorDescription(
        key="ac_power",
        esphome_name="AC Power",
        native_unit_of_measurement=UnitOfPower.WATT,
        device_class=SensorDeviceClass.POWER,
        state_class=SensorStateClass.MEASUREMENT,
        suggested_display_precision=0,
        value=lambda board: board.reported["ac_power"],
    ),
    BoardSensorDescription(
        key="battery_power",
        esphome_name="Battery Power",
        native_unit_of_measurement=UnitOfPower.WATT,
        device_class=SensorDeviceClass.POWER,
        state_class=SensorStateClass.MEASUREMENT,
        suggested_display_precision=0,
        value=lambda board: board.reported["battery_power"],
    ),
    BoardSensorDescription(
        key="total_energy",
        esphome_name="Battery Total Energy",
        native_unit_of_measurement=UnitOfEnergy.KILO_WATT_HOUR,
        device_class=SensorDeviceClass.ENERGY_STORAGE,
        state_class=SensorStateClass.MEASUREMENT,
        suggested_display_precision=3,
        value=lambda board: board.battery.params.capacity_wh / 1000.0,
    ),
)


@dataclass(frozen=True, kw_only=True)
class SiteSensorDescription(SensorEntityDescription):
    """A meter or house sensor."""

    device: str
    sensor_name: str
    value: Callable[[Site], float]


def _phase(index: int) -> Callable[[Site], float]:
    return lambda site: site.phase_w[index]


SITE_SENSORS = (
    SiteSensorDescription(
        key="power", device="meter", sensor_name="Power", value=lambda site: site.grid_w
    ),
    *(
        SiteSensorDescription(
            key=f"power_l{i + 1}",
            device="meter",
            sensor_name=f"Power phase {i + 1}",
            value=_phase(i),
        )
        for i in range(3)
    ),
    SiteSensorDescription(
        key="load", device="house", sensor_name="Load", value=lambda site: round(sum(site.load_w))
    ),
    SiteSensorDescription(
        key="pv", device="house", sensor_name="PV power", value=lambda site: round(sum(site.pv_w))
    ),
)


async def async_setup_entry(
    hass: HomeAssistant, entry: SimConfigEntry, async_add_entities: AddEntitiesCallback
) -> None:
    """Add the sensors."""
    data = entry.runtime_data
    entities: list[SensorEntity] = [
        BoardSensor(data, board, description)
        for board in data.entity_boards
        for description in BOARD_SENSORS
    ]
    entities += [SiteSensor(data, description) for description in SITE_SENSORS]
    async_add_entities(entities)


class BoardSensor(BoardEntity, SensorEntity):
    """A LilyGo sensor; AC Power and Battery Power publish when the board reads them."""

    entity_description: BoardSensorDescription

    def __init__(self, data: SimData, board: Board, description: BoardSensorDescription) -> None:
        """Create the sensor."""
        super().__init__(data, board, description.key, description.esphome_name)
        self.entity_description = description
        self._reads = -1

    @callback
    def _handle_step(self) -> None:
        if self.entity_description.key not in POWER_KEYS:
            super()._handle_step()
        elif self._board.power_reads != self._reads:
            self._reads = self._board.power_reads
            self.async_write_ha_state()

    @property
    def native_value(self) -> float:
        """Return the value the board last read."""
        return self.entity_description.value(self._board)


class SiteSensor(SiteEntity, SensorEntity):
    """A power sensor of the P1 meter or the house (W, positive = import / consumption)."""

    entity_description: SiteSensorDescription
    _attr_native_unit_of_measurement = UnitOfPower.WATT
    _attr_device_class = SensorDeviceClass.POWER
    _attr_state_class = SensorStateClass.MEASUREMENT
    _attr_suggested_display_precision = 0

    def __init__(self, data: SimData, description: SiteSensorDescription) -> None:
        """Create the sensor."""
        super().__init__(data, description.device, description.key, description.sensor_name)
        self.entity_description = description

    @property
    def native_value(self) -> float:
        """Return the current value."""
        return self.entity_description.value(self._data.site)
