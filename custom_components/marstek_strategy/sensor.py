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
from homeassistant.core import Event, EventStateChangedData, HomeAssistant, callback
from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback
from homeassistant.helpers.event import async_track_state_change_event
from homeassistant.helpers.translation import async_get_translations

from .const import DOMAIN, Role
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
from .explain import explain, render
from .readings import UNAVAILABLE_STATES, Cause, parse_number

PARALLEL_UPDATES = 0

REASONS = [*(reason.value for reason in Reason), REASON_FAIL_SAFE, REASON_DISABLED]
STATUS_NO_BATTERIES = "no_batteries"  # a hub without batteries is not "running"
STATUSES = [*(status.value for status in Status), STATUS_NO_BATTERIES]
CAUSE_NONE = "none"
CAUSES = [CAUSE_NONE, *(cause.value for cause in Cause)]
EXPLANATION_KEY = f"component.{DOMAIN}.entity.sensor.reason.state_attributes.explanation.state."


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
        options=STATUSES,
        value_fn=lambda data: data.status.value,
    ),
    HubSensorDescription(
        key="fail_safe_cause",
        device_class=SensorDeviceClass.ENUM,
        options=CAUSES,
        entity_category=EntityCategory.DIAGNOSTIC,
        value_fn=lambda data: data.cause.value if data.cause else CAUSE_NONE,
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
REASON_SENSOR = BATTERY_SENSORS[-1]


@dataclass(frozen=True, kw_only=True)
class MirrorSensorDescription(SensorEntityDescription):
    """A battery sensor that shows one of its LilyGo entities beside the setpoint."""

    role: Role


MIRROR_SENSORS: tuple[MirrorSensorDescription, ...] = (
    MirrorSensorDescription(
        key="state_of_charge",
        role=Role.SOC,
        device_class=SensorDeviceClass.BATTERY,
        state_class=SensorStateClass.MEASUREMENT,
        native_unit_of_measurement="%",
        suggested_display_precision=0,
    ),
    MirrorSensorDescription(
        key="ac_power",
        role=Role.AC_POWER,
        device_class=SensorDeviceClass.POWER,
        state_class=SensorStateClass.MEASUREMENT,
        native_unit_of_measurement=UnitOfPower.WATT,
        suggested_display_precision=0,
    ),
)


async def async_setup_entry(
    hass: HomeAssistant,
    entry: MarstekConfigEntry,
    async_add_entities: AddConfigEntryEntitiesCallback,
) -> None:
    """Add the hub's sensors and each battery's sensors."""
    coordinator = entry.runtime_data.coordinator
    texts = await async_get_translations(hass, hass.config.language, "entity", [DOMAIN])
    sentences = {
        key.removeprefix(EXPLANATION_KEY): text
        for key, text in texts.items()
        if key.startswith(EXPLANATION_KEY)
    }
    async_add_entities(HubSensor(coordinator, description) for description in HUB_SENSORS)
    for battery in coordinator.batteries:
        entities: list[SensorEntity] = [
            BatterySensor(coordinator, battery, description)
            for description in BATTERY_SENSORS
            if description.key != "reason"
        ]
        entities.append(ReasonSensor(coordinator, battery, REASON_SENSOR, sentences))
        entities.extend(
            MirrorSensor(coordinator, battery, description)
            for description in MIRROR_SENSORS
            if description.role in battery.entities
        )
        async_add_entities(entities, config_subentry_id=battery.subentry_id)


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
        if self.entity_description.key == "status" and not self.coordinator.batteries:
            return STATUS_NO_BATTERIES
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


class ReasonSensor(BatterySensor):
    """Why the battery got its setpoint: a reason code, and a sentence with the numbers."""

    def __init__(
        self,
        coordinator: MarstekCoordinator,
        battery: BatteryConfig,
        description: BatterySensorDescription,
        sentences: dict[str, str],
    ) -> None:
        """Set up the sensor with the sentences in the user's language."""
        super().__init__(coordinator, battery, description)
        self._sentences = sentences

    @property
    def extra_state_attributes(self) -> dict[str, Any] | None:
        """Return the explanation of the last cycle's setpoint."""
        data = self.coordinator.data
        if data is None or (state := data.batteries.get(self.battery.subentry_id)) is None:
            return None
        titles = {battery.subentry_id: battery.title for battery in self.coordinator.batteries}
        others = [
            titles[subentry_id]
            for subentry_id, other in data.batteries.items()
            if subentry_id != self.battery.subentry_id
            and other.setpoint.power_w > 0
            and other.setpoint.mode is state.setpoint.mode
        ]
        language = self.hass.config.language
        text = explain(
            state.reason,
            state.setpoint.mode,
            state.setpoint.power_w,
            state.reading,
            others=others,
            language=language,
        )
        sentence = render(self._sentences.get(text.key, state.reason), text.placeholders)
        if text.tail_key is not None:
            tail = self._sentences.get(text.tail_key, "")
            sentence += render(tail, text.tail_placeholders or {})
        return {"explanation": sentence + "."}


class MirrorSensor(MarstekBatteryEntity, SensorEntity):
    """The battery's state of charge or AC power, as its LilyGo entity reports it now."""

    _attr_should_poll = False
    entity_description: MirrorSensorDescription

    def __init__(
        self,
        coordinator: MarstekCoordinator,
        battery: BatteryConfig,
        description: MirrorSensorDescription,
    ) -> None:
        """Follow the LilyGo entity of description.role."""
        super().__init__(coordinator, battery, description.key)
        self.entity_description = description
        self._source = battery.entities[description.role]

    async def async_added_to_hass(self) -> None:
        """Follow the source's state changes."""
        await super().async_added_to_hass()

        @callback
        def _changed(_event: Event[EventStateChangedData]) -> None:
            self.async_write_ha_state()

        self.async_on_remove(async_track_state_change_event(self.hass, self._source, _changed))

    @property
    def available(self) -> bool:
        """Return whether the LilyGo entity reports a number."""
        state = self.hass.states.get(self._source)
        return state is not None and state.state not in UNAVAILABLE_STATES

    @property
    def native_value(self) -> float | None:
        """Return the LilyGo entity's value (AC power converted to W)."""
        state = self.hass.states.get(self._source)
        value = parse_number(state.state) if state else None
        if value is None or state is None:
            return None
        if state.attributes.get("unit_of_measurement") == UnitOfPower.KILO_WATT:
            return value * 1000.0
        return value
