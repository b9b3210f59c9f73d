"""Sensors: what the strategy decided, per battery and for the hub."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from homeassistant.components.sensor import (
    RestoreSensor,
    SensorDeviceClass,
    SensorEntity,
    SensorEntityDescription,
    SensorStateClass,
)
from homeassistant.const import (
    ATTR_UNIT_OF_MEASUREMENT,
    PERCENTAGE,
    EntityCategory,
    UnitOfEnergy,
    UnitOfPower,
)
from homeassistant.core import Event, EventStateChangedData, HomeAssistant, State, callback
from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback
from homeassistant.helpers.event import async_track_state_change_event
from homeassistant.helpers.translation import async_get_translations
from homeassistant.util import dt as dt_util

from .adapters import inputs
from .adapters.batteries import BatteryConfig
from .adapters.delivery import MAX_PLAUSIBLE_AC_W
from .const import DOMAIN, Role
from .coordinator import MarstekConfigEntry, MarstekCoordinator
from .core.cycle import (
    REASON_DISABLED,
    REASON_FAIL_SAFE,
    BatteryState,
    CycleData,
    Status,
    signed_power,
)
from .core.energy import EnergyMeter, Sample
from .core.explain import REASON_STATES, explain, reason_state, render
from .core.model import Mode, Reason
from .core.readings import SHOWN_PROBLEMS, UNAVAILABLE_STATES, Cause, parse_number
from .entity import MarstekBatteryEntity, MarstekHubEntity

PARALLEL_UPDATES = 0

# The reason sensor's detail attribute: the engine's reason of the cycle (its state is one of
# explain.REASON_STATES).
REASONS = [
    *(reason.value for reason in Reason),
    REASON_FAIL_SAFE,
    REASON_DISABLED,
    *(problem.value for problem in SHOWN_PROBLEMS),
]
STATUS_NO_BATTERIES = "no_batteries"  # a hub without batteries is not "running"
STATUSES = [*(status.value for status in Status), STATUS_NO_BATTERIES]
CAUSE_NONE = "none"
CAUSES = [CAUSE_NONE, *(cause.value for cause in Cause)]
# The explanation's sentence templates: placeholders are not allowed in entity state
# translations (hassfest), so they live in the integration's "common" strings.
EXPLANATION_KEY = f"component.{DOMAIN}.common.explanation_"


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
        options=list(REASON_STATES),
        value_fn=lambda state: reason_state(
            state.reason, state.setpoint.mode, state.setpoint.power_w
        ),
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
    texts = await async_get_translations(hass, hass.config.language, "common", [DOMAIN])
    sentences = {
        key.removeprefix(EXPLANATION_KEY): text
        for key, text in texts.items()
        if key.startswith(EXPLANATION_KEY)
    }
    async_add_entities(HubSensor(coordinator, description) for description in HUB_SENSORS)
    async_add_entities(PeakSensor(coordinator, description) for description in PEAK_SENSORS)
    tracker = EnergyTracker(hass, coordinator)
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
        if Role.AC_POWER in battery.entities:
            entities.extend(
                EnergySensor(tracker, description, battery) for description in BATTERY_ENERGY
            )
        if coordinator.learned[battery.subentry_id].learns:
            entities.append(LearnedEfficiencySensor(coordinator, battery))
        async_add_entities(entities, config_subentry_id=battery.subentry_id)
    async_add_entities(EnergySensor(tracker, description) for description in HUB_ENERGY)
    entry.async_on_unload(tracker.async_start())


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
        """Return extra attributes from the last cycle (the grid power: its phase sensors)."""
        if self.entity_description.key == "grid_power":
            return {"phase_sensors": dict(self.coordinator.reader.phase_sensors)}
        if self.entity_description.attrs_fn is None or self.coordinator.data is None:
            return None
        return self.entity_description.attrs_fn(self.coordinator.data)


@dataclass(frozen=True, kw_only=True)
class PeakSensorDescription(SensorEntityDescription):
    """A sensor of the quarter-hour peak meter (peak_cap.py)."""

    value_fn: Callable[[MarstekCoordinator, datetime], float | None]
    attrs_fn: Callable[[MarstekCoordinator, datetime], dict[str, Any]]


def _quarter_attrs(coordinator: MarstekCoordinator, now: datetime) -> dict[str, Any]:
    peak = coordinator.grid.peak
    cap = coordinator.grid.peak_cap_w
    return {
        "projected": _rounded(peak.projected_w(now)),
        "last_quarter": _rounded(peak.last_quarter_w),
        "cap": cap or None,
        "allowed": _rounded(peak.allowed_w(now, cap)) if cap else None,
    }


def _rounded(value: float | None) -> float | None:
    return None if value is None else round(value, 1)


PEAK_SENSORS: tuple[PeakSensorDescription, ...] = (
    PeakSensorDescription(
        key="quarter_hour_import",
        device_class=SensorDeviceClass.POWER,
        state_class=SensorStateClass.MEASUREMENT,
        native_unit_of_measurement=UnitOfPower.WATT,
        suggested_display_precision=0,
        value_fn=lambda coordinator, now: _rounded(coordinator.grid.peak.running_w(now)),
        attrs_fn=_quarter_attrs,
    ),
    PeakSensorDescription(
        key="month_peak_import",
        device_class=SensorDeviceClass.POWER,
        state_class=SensorStateClass.MEASUREMENT,
        native_unit_of_measurement=UnitOfPower.WATT,
        suggested_display_precision=0,
        value_fn=lambda coordinator, _now: _rounded(coordinator.grid.peak.month_peak_w),
        attrs_fn=lambda coordinator, _now: {
            "quarter_start": None
            if coordinator.grid.peak.month_peak_at is None
            else dt_util.as_local(coordinator.grid.peak.month_peak_at),
            "month": coordinator.grid.peak.month or None,
        },
    ),
)


class PeakSensor(MarstekHubEntity, SensorEntity):
    """The running quarter-hour average import, or the month's highest quarter hour."""

    entity_description: PeakSensorDescription

    def __init__(self, coordinator: MarstekCoordinator, description: PeakSensorDescription) -> None:
        """Set up the sensor."""
        super().__init__(coordinator, description.key)
        self.entity_description = description

    @property
    def native_value(self) -> float | None:
        """Return the value as the meter has counted it up to the last cycle."""
        return self.entity_description.value_fn(self.coordinator, dt_util.now())

    @property
    def extra_state_attributes(self) -> dict[str, Any]:
        """Return the projection, the last quarter and the cap's allowance."""
        return self.entity_description.attrs_fn(self.coordinator, dt_util.now())


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
    """Why the battery got its setpoint: a stable state, the cycle's detail and a sentence.

    The state changes only when the battery starts, stops or is held out (one logbook line);
    the detail and the sentence change with every cycle's split, so the recorder skips them.
    """

    _unrecorded_attributes = frozenset({"detail", "explanation"})

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
        """Return the last cycle's reason code and the sentence that explains the setpoint."""
        data = self.coordinator.data
        if data is None or (state := data.batteries.get(self.battery.subentry_id)) is None:
            return None
        titles = {battery.subentry_id: battery.title for battery in self.coordinator.batteries}
        others = [
            titles[subentry_id]
            for subentry_id, other in data.batteries.items()
            if subentry_id != self.battery.subentry_id
            and other.setpoint.power_w > 0
            # a running battery shares the demand with those running its way; a stopped
            # one leaves it to every running one
            and (state.setpoint.power_w <= 0 or other.setpoint.mode is state.setpoint.mode)
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
            tail = self._sentences.get(text.tail_key, "{sentence}")
            sentence = render(tail, {**(text.tail_placeholders or {}), "sentence": sentence})
        return {"detail": state.reason, "explanation": sentence + "."}


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
        return watts_of(self.hass.states.get(self._source))


class LearnedEfficiencySensor(MarstekBatteryEntity, SensorEntity):
    """The learned conversion efficiency at the battery's AC power now (learned.py)."""

    _attr_entity_category = EntityCategory.DIAGNOSTIC
    _attr_native_unit_of_measurement = PERCENTAGE
    _attr_state_class = SensorStateClass.MEASUREMENT
    _attr_suggested_display_precision = 1
    # They change nearly every cycle: the recorder keeps the efficiency, not a row per change.
    _unrecorded_attributes = frozenset(
        {
            "measured_share",
            "charge_measured_share",
            "discharge_measured_share",
            "charge_factor",
            "discharge_factor",
            "charge_samples",
            "discharge_samples",
            "last_sample",
        }
    )

    def __init__(self, coordinator: MarstekCoordinator, battery: BatteryConfig) -> None:
        """Set up the sensor."""
        super().__init__(coordinator, battery, "learned_efficiency")

    @property
    def native_value(self) -> float | None:
        """Return the efficiency (%) at the AC power now; None while it does not run."""
        ac_w = watts_of(self.hass.states.get(self.battery.entities[Role.AC_POWER]))
        if ac_w is None or abs(ac_w) < 1.0:
            return None
        mode = Mode.DISCHARGE if ac_w > 0 else Mode.CHARGE
        learned = self.coordinator.learned[self.battery.subentry_id]
        efficiency = learned.efficiency_now(mode, abs(ac_w))
        return None if efficiency is None else round(100.0 * efficiency, 1)

    @property
    def extra_state_attributes(self) -> dict[str, Any]:
        """Return how much is measured, the correction factors and the samples per bin."""
        return self.coordinator.learned[self.battery.subentry_id].attributes()


def watts_of(state: State | None) -> float | None:
    """Return a state as a number, a power in kW converted to W."""
    if state is None or (value := parse_number(state.state)) is None:
        return None
    if state.attributes.get(ATTR_UNIT_OF_MEASUREMENT) == UnitOfPower.KILO_WATT:
        return value * 1000.0
    return value


def counted_w(state: State | None) -> float | None:
    """Return a battery's AC power in W as the energy counters take it (None: not counted).

    By its unit (no unit: W; a unit that is no power: not counted), and nothing beyond what
    a Venus converts (as the loop believes it): a misread register counted for a few seconds
    would stay in the total_increasing sensors, and the recorder's statistics, for good.
    """
    watts = inputs.value(state, Role.AC_POWER)
    if watts is None or abs(watts) > MAX_PLAUSIBLE_AC_W:
        return None
    return watts


# --------------------------------------------------------------------------------------------
# Energy


@dataclass(frozen=True, kw_only=True)
class EnergySensorDescription(SensorEntityDescription):
    """An energy counter: how it reads the meter, and how a restored value goes back in."""

    value_fn: Callable[[EnergyMeter, str], float]
    restore_fn: Callable[[EnergyMeter, str, float], None]
    today: bool = False  # resets at local midnight


def _add(counters: dict[str, float], key: str, value: float) -> None:
    counters[key] = counters.get(key, 0.0) + value


def _add_loss(meter: EnergyMeter, _key: str, value: float) -> None:
    meter.loss_today += value


def _add_saved(meter: EnergyMeter, _key: str, value: float) -> None:
    meter.saved_today += value


def _restore_total_charged(meter: EnergyMeter, _key: str, value: float) -> None:
    meter.total_charged += value


def _restore_total_discharged(meter: EnergyMeter, _key: str, value: float) -> None:
    meter.total_discharged += value


_TOTAL = "_total"  # the key of the hub's totals
BATTERY_ENERGY: tuple[EnergySensorDescription, ...] = (
    EnergySensorDescription(
        key="energy_charged",
        state_class=SensorStateClass.TOTAL_INCREASING,
        value_fn=lambda meter, key: meter.charged.get(key, 0.0),
        restore_fn=lambda meter, key, value: _add(meter.charged, key, value),
        device_class=SensorDeviceClass.ENERGY,
        native_unit_of_measurement=UnitOfEnergy.KILO_WATT_HOUR,
        suggested_display_precision=2,
    ),
    EnergySensorDescription(
        key="energy_discharged",
        state_class=SensorStateClass.TOTAL_INCREASING,
        value_fn=lambda meter, key: meter.discharged.get(key, 0.0),
        restore_fn=lambda meter, key, value: _add(meter.discharged, key, value),
        device_class=SensorDeviceClass.ENERGY,
        native_unit_of_measurement=UnitOfEnergy.KILO_WATT_HOUR,
        suggested_display_precision=2,
    ),
)
HUB_ENERGY: tuple[EnergySensorDescription, ...] = (
    EnergySensorDescription(
        key="total_energy_charged",
        state_class=SensorStateClass.TOTAL_INCREASING,
        value_fn=lambda meter, _key: meter.total_charged,
        restore_fn=_restore_total_charged,  # its own counter, not the batteries' sum
        device_class=SensorDeviceClass.ENERGY,
        native_unit_of_measurement=UnitOfEnergy.KILO_WATT_HOUR,
        suggested_display_precision=2,
    ),
    EnergySensorDescription(
        key="total_energy_discharged",
        state_class=SensorStateClass.TOTAL_INCREASING,
        value_fn=lambda meter, _key: meter.total_discharged,
        restore_fn=_restore_total_discharged,
        device_class=SensorDeviceClass.ENERGY,
        native_unit_of_measurement=UnitOfEnergy.KILO_WATT_HOUR,
        suggested_display_precision=2,
    ),
    EnergySensorDescription(
        key="conversion_loss_today",
        state_class=SensorStateClass.TOTAL,
        today=True,
        value_fn=lambda meter, _key: meter.loss_today,
        restore_fn=_add_loss,
        device_class=SensorDeviceClass.ENERGY,
        native_unit_of_measurement=UnitOfEnergy.KILO_WATT_HOUR,
        suggested_display_precision=2,
    ),
    EnergySensorDescription(
        key="saved_today",
        state_class=SensorStateClass.TOTAL,
        today=True,
        value_fn=lambda meter, _key: meter.saved_today,
        restore_fn=_add_saved,
        device_class=SensorDeviceClass.ENERGY,
        native_unit_of_measurement=UnitOfEnergy.KILO_WATT_HOUR,
        suggested_display_precision=2,
    ),
)


class EnergyTracker:
    """Feeds the batteries' AC power to the energy meter and tells the sensors."""

    def __init__(self, hass: HomeAssistant, coordinator: MarstekCoordinator) -> None:
        """Track the AC power entities of the coordinator's batteries."""
        self.hass = hass
        self.coordinator = coordinator
        self.meter = EnergyMeter()
        self.sensors: list[EnergySensor] = []
        self._sources = {
            battery.entities[Role.AC_POWER]: battery.subentry_id
            for battery in coordinator.batteries
            if Role.AC_POWER in battery.entities
        }

    def _sample(self, entity_id: str, subentry_id: str) -> Sample:
        power = counted_w(self.hass.states.get(entity_id))
        data = self.coordinator.data
        battery = data.batteries.get(subentry_id) if data else None
        if battery is None or battery.reading is None:
            return Sample(power)
        reading = battery.reading
        return Sample(power, reading.max_charge_w, reading.max_discharge_w)

    @callback
    def async_update(self, _event: Event[EventStateChangedData] | None = None) -> None:
        """Count up to now, take the powers as they are now, and refresh the sensors."""
        now = dt_util.utcnow()
        self.meter.advance(now, dt_util.as_local(now).date())
        for entity_id, subentry_id in self._sources.items():
            self.meter.set(subentry_id, self._sample(entity_id, subentry_id))
        for sensor in self.sensors:
            sensor.async_write_ha_state()

    @callback
    def async_start(self) -> Callable[[], None]:
        """Start counting; return the function that stops it."""
        unsubs = [
            async_track_state_change_event(self.hass, list(self._sources), self.async_update),
            self.coordinator.async_add_listener(self.async_update),
        ]
        self.async_update()

        @callback
        def _stop() -> None:
            for unsub in unsubs:
                unsub()

        return _stop


class EnergySensor(RestoreSensor):
    """An energy counter of a battery or of the hub; it restores across restarts."""

    _attr_has_entity_name = True
    _attr_should_poll = False
    entity_description: EnergySensorDescription

    def __init__(
        self,
        tracker: EnergyTracker,
        description: EnergySensorDescription,
        battery: BatteryConfig | None = None,
    ) -> None:
        """Set up the counter for battery (None: the hub)."""
        self.tracker = tracker
        self.entity_description = description
        coordinator = tracker.coordinator
        owner = battery.subentry_id if battery is not None else coordinator.config_entry.entry_id
        self._key = battery.subentry_id if battery is not None else _TOTAL
        self._attr_translation_key = description.key
        self._attr_unique_id = f"{owner}_{description.key}"
        source = (
            MarstekBatteryEntity(coordinator, battery, description.key)
            if battery is not None
            else MarstekHubEntity(coordinator, description.key)
        )
        self._attr_device_info = source.device_info

    async def async_added_to_hass(self) -> None:
        """Put the restored value back into the meter, then follow it."""
        await super().async_added_to_hass()
        last = await self.async_get_last_sensor_data()
        last_state = await self.async_get_last_state()
        if last is not None and isinstance(last.native_value, (int, float)):
            today = dt_util.now().date()
            fresh = (
                last_state is not None and dt_util.as_local(last_state.last_updated).date() == today
            )
            if not self.entity_description.today or fresh:
                self.entity_description.restore_fn(
                    self.tracker.meter, self._key, float(last.native_value)
                )
        self.tracker.sensors.append(self)
        self.async_on_remove(lambda: self.tracker.sensors.remove(self))

    @property
    def native_value(self) -> float:
        """Return the counter (kWh)."""
        return round(self.entity_description.value_fn(self.tracker.meter, self._key), 4)

    @property
    def last_reset(self) -> datetime | None:
        """Return the start of today for the daily counters."""
        if self.entity_description.today:
            return dt_util.start_of_local_day()
        return None
