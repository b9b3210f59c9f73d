"""Sensors: what the strategy decided, per battery and for the hub."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from homeassistant.components.sensor import (
    SensorDeviceClass,
    SensorEntity,
    SensorEntityDescription,
    SensorStateClass,
)
from homeassistant.const import EntityCategory, UnitOfPower
from homeassistant.core import HomeAssistant
from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback

from .coordinator import (
    REASON_DISABLED,
    REASON_FAIL_SAFE,
    BatteryConfig,
    BatteryState,
    CycleData,
    MarstekConfigEntry,
    MarstekCoordinator,
    Status,
    signed_power,
)
from .engine import Mode, Reason
from .entity import MarstekBatteryEntity, MarstekHubEntity
from .readings import SHOWN_PROBLEMS, Cause

PARALLEL_UPDATES = 0

REASONS = [
    *(reason.value for reason in Reason),
    REASON_FAIL_SAFE,
    REASON_DISABLED,
    *(problem.value for problem in SHOWN_PROBLEMS),
]


@dataclass(frozen=True, kw_only=True)
class HubSensorDescription(SensorEntityDescription):
    """A hub sensor and how it reads the last cycle."""

    value_fn: Callable[[CycleData], str | int | float | None]
    attrs_fn: Callable[[CycleData], dict[str, Any]] | None = None


@dataclass(frozen=True, kw_only=True)
class BatterySensorDescription(SensorEntityDescription):
    """A battery sensor and how it reads the battery's state in the last cycle."""

    value_fn: Callable[[BatteryState], str | int | None]


HUB_SENSORS: tuple[HubSensorDescription, ...] = (
    HubSensorDescription(
        key="status",
        device_class=SensorDeviceClass.ENUM,
        options=[status.value for status in Status],
        value_fn=lambda data: data.status.value,
    ),
    HubSensorDescription(
        key="fail_safe_cause",
        device_class=SensorDeviceClass.ENUM,
        options=[cause.value for cause in Cause],
        entity_category=EntityCategory.DIAGNOSTIC,
        value_fn=lambda data: data.cause.value if data.cause else None,
        attrs_fn=lambda data: {"source": data.cause_entity_id},
    ),
    HubSensorDescription(
        key="grid_power",
        device_class=SensorDeviceClass.POWER,
        state_class=SensorStateClass.MEASUREMENT,
        native_unit_of_measurement=UnitOfPower.WATT,
        suggested_display_precision=0,
        value_fn=lambda data: data.grid_w,
    ),
    HubSensorDescription(
        key="total_setpoint",
        device_class=SensorDeviceClass.POWER,
        state_class=SensorStateClass.MEASUREMENT,
        native_unit_of_measurement=UnitOfPower.WATT,
        suggested_display_precision=0,
        value_fn=lambda data: data.total_setpoint_w,
    ),
)

BATTERY_SENSORS: tuple[BatterySensorDescription, ...] = (
    BatterySensorDescription(
        key="setpoint_power",
        device_class=SensorDeviceClass.POWER,
        state_class=SensorStateClass.MEASUREMENT,
        native_unit_of_measurement=UnitOfPower.WATT,
        suggested_display_precision=0,
        value_fn=lambda state: signed_power(state.setpoint),
    ),
    BatterySensorDescription(
        key="setpoint_mode",
        device_class=SensorDeviceClass.ENUM,
        options=[mode.value for mode in Mode],
        value_fn=lambda state: state.setpoint.mode.value,
    ),
    BatterySensorDescription(
        key="reason",
        device_class=SensorDeviceClass.ENUM,
        options=REASONS,
        value_fn=lambda state: state.reason,
    ),
)


async def async_setup_entry(
    hass: HomeAssistant,
    entry: MarstekConfigEntry,
    async_add_entities: AddConfigEntryEntitiesCallback,
) -> None:
    """Add the hub's sensors and each battery's sensors."""
    coordinator = entry.runtime_data.coordinator
    async_add_entities(HubSensor(coordinator, description) for description in HUB_SENSORS)
    for battery in coordinator.batteries:
        async_add_entities(
            (BatterySensor(coordinator, battery, description) for description in BATTERY_SENSORS),
            config_subentry_id=battery.subentry_id,
        )


class HubSensor(MarstekHubEntity, SensorEntity):
    """A sensor of the hub."""

    entity_description: HubSensorDescription

    def __init__(self, coordinator: MarstekCoordinator, description: HubSensorDescription) -> None:
        """Set up the sensor."""
        super().__init__(coordinator, description.key)
        self.entity_description = description

    @property
    def native_value(self) -> str | int | float | None:
        """Return the value from the last cycle."""
        if self.coordinator.data is None:
            return None
        return self.entity_description.value_fn(self.coordinator.data)

    @property
    def extra_state_attributes(self) -> dict[str, Any] | None:
        """Return extra attributes from the last cycle."""
        if self.entity_description.attrs_fn is None or self.coordinator.data is None:
            return None
        return self.entity_description.attrs_fn(self.coordinator.data)


class BatterySensor(MarstekBatteryEntity, SensorEntity):
    """A sensor of one battery."""

    entity_description: BatterySensorDescription

    def __init__(
        self,
        coordinator: MarstekCoordinator,
        battery: BatteryConfig,
        description: BatterySensorDescription,
    ) -> None:
        """Set up the sensor."""
        super().__init__(coordinator, battery, description.key)
        self.entity_description = description

    @property
    def native_value(self) -> str | int | None:
        """Return the battery's value from the last cycle."""
        data = self.coordinator.data
        if data is None or (state := data.batteries.get(self.battery.subentry_id)) is None:
            return None
        return self.entity_description.value_fn(state)
