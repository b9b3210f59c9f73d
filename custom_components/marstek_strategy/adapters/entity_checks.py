"""Check the entities a person picks in the config flow: meter sensors and battery roles.

Each check returns the error key the flow shows (``strings.json``), or None when the entity
can serve: it exists, is not one of ours, has the device class, unit and options its role
needs, and is not a battery's own entity read as the grid.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from typing import Any, Final

from homeassistant.components.sensor import SensorDeviceClass
from homeassistant.const import (
    ATTR_DEVICE_CLASS,
    ATTR_UNIT_OF_MEASUREMENT,
    PERCENTAGE,
    UnitOfElectricCurrent,
    UnitOfPower,
)
from homeassistant.core import HomeAssistant, split_entity_id
from homeassistant.helpers import entity_registry as er

from ..const import (
    CONF_DEVICE_ID,
    CONF_GRID_SENSOR,
    CONF_PHASE_CURRENT_SENSORS,
    CONF_PHASE_SENSORS,
    DOMAIN,
    Role,
)
from ..core.readings import parse_number
from .discovery import profile_for
from .lilygo import find_battery_devices
from .profiles import ESPHOME, Profile, canonical_attributes, role_domains

POWER_UNITS: Final = (UnitOfPower.WATT, UnitOfPower.KILO_WATT)
CURRENT_UNITS: Final = (UnitOfElectricCurrent.AMPERE, UnitOfElectricCurrent.MILLIAMPERE)

# What a battery entity must offer, per role.
FORCIBLE_OPTIONS: Final = frozenset({"stop", "charge", "discharge"})
RS485_OPTIONS: Final = frozenset({"enable", "disable"})
POWER_NUMBER_ROLES: Final = (
    Role.CHARGE_POWER,
    Role.DISCHARGE_POWER,
    Role.MAX_CHARGE_POWER,
    Role.MAX_DISCHARGE_POWER,
)
CUTOFF_ROLES: Final = (Role.CHARGE_CUTOFF, Role.DISCHARGE_CUTOFF)
# A device class a role's entity may have (None: none set); any other is refused.
ROLE_DEVICE_CLASSES: Final[dict[Role, frozenset[str | None]]] = {
    Role.SOC: frozenset({SensorDeviceClass.BATTERY, None}),
    Role.AC_POWER: frozenset({SensorDeviceClass.POWER, None}),
    Role.BATTERY_POWER: frozenset({SensorDeviceClass.POWER, None}),
}


def _validate_sensor(
    hass: HomeAssistant,
    entity_id: str,
    device_class: SensorDeviceClass,
    units: tuple[str, ...],
    wrong: str,
) -> str | None:
    """Check a meter sensor: it exists, is not ours, has device_class, one of units, a number.

    wrong is the error for another kind of entity (or another device class or unit).
    """
    if split_entity_id(entity_id)[0] != "sensor":
        return wrong
    if (state := hass.states.get(entity_id)) is None:
        return "entity_not_found"
    if (entry := er.async_get(hass).async_get(entity_id)) and entry.platform == DOMAIN:
        return "own_entity"  # its own output as the meter: a feedback loop
    if (
        state.attributes.get(ATTR_DEVICE_CLASS) != device_class
        or state.attributes.get(ATTR_UNIT_OF_MEASUREMENT) not in units
    ):
        return wrong
    if parse_number(state.state) is None:
        return "not_numeric"
    return None


def meter_entities(data: Mapping[str, Any]) -> set[str]:
    """Return the hub's meter entities: grid sensor, phase power and current sensors."""
    keys = (CONF_GRID_SENSOR, *CONF_PHASE_SENSORS, *CONF_PHASE_CURRENT_SENSORS)
    return {str(data[key]) for key in keys if data.get(key)}


def battery_entity_error(
    hass: HomeAssistant, entity_id: str, batteries: Sequence[Mapping[str, Any]]
) -> str | None:
    """Return why entity_id cannot be a meter sensor because of a battery (None: it can).

    batteries are the configured batteries' data. A battery's entity, or any entity of a
    battery board (configured or found), read as the grid would feed the batteries' own
    power back into the plan.
    """
    devices = {str(data.get(CONF_DEVICE_ID)) for data in batteries}
    for data in batteries:
        if entity_id in (data.get(role.value) for role in Role):
            return "battery_entity"
    entry = er.async_get(hass).async_get(entity_id)
    if entry is None or entry.device_id is None:
        return None
    devices.update(device.device_id for device in find_battery_devices(hass))
    return "battery_entity" if entry.device_id in devices else None


def validate_power_sensor(hass: HomeAssistant, entity_id: str) -> str | None:
    """Check a meter sensor: it exists, is not ours, measures power in W or kW, reports a number."""
    return _validate_sensor(
        hass, entity_id, SensorDeviceClass.POWER, POWER_UNITS, "not_power_sensor"
    )


def validate_current_sensor(hass: HomeAssistant, entity_id: str) -> str | None:
    """Check a phase current sensor: it exists, is not ours, measures current in A or mA."""
    return _validate_sensor(
        hass, entity_id, SensorDeviceClass.CURRENT, CURRENT_UNITS, "not_current_sensor"
    )


def _attributes(
    hass: HomeAssistant, entity_id: str
) -> tuple[er.RegistryEntry | None, bool, dict[str, Any]]:
    """Return an entity's registry entry, whether it exists, and its known attributes.

    The battery may be offline while it is set up, so its registry entry (capabilities,
    unit, device class) counts as much as its state.
    """
    entry = er.async_get(hass).async_get(entity_id)
    state = hass.states.get(entity_id)
    attributes: dict[str, Any] = {}
    if entry is not None:
        attributes.update(entry.capabilities or {})
        if entry.unit_of_measurement is not None:
            attributes[ATTR_UNIT_OF_MEASUREMENT] = entry.unit_of_measurement
        if device_class := entry.device_class or entry.original_device_class:
            attributes[ATTR_DEVICE_CLASS] = device_class
    if state is not None:
        attributes.update(state.attributes)
    return entry, entry is not None or state is not None, attributes


def validate_battery_entity(
    hass: HomeAssistant, role: Role, entity_id: str, profile: Profile = ESPHOME
) -> str | None:
    """Check that an entity can fill a battery role; the error key, or None when it can.

    The entity is read in its connector's words (profile: ``standby`` is stop, a power
    number without a unit is W, RS485 control may be a switch).
    """
    domain = split_entity_id(entity_id)[0]
    if domain not in role_domains(role):
        return "wrong_domain"
    entry, exists, attributes = _attributes(hass, entity_id)
    attributes = canonical_attributes(profile, role, domain, attributes)
    if not exists:
        return "entity_not_found"
    if entry is not None:
        if entry.disabled_by is not None:
            return "entity_disabled"
        if entry.platform == DOMAIN:
            return "own_entity"
    unit = attributes.get(ATTR_UNIT_OF_MEASUREMENT)
    classes = ROLE_DEVICE_CLASSES.get(role)
    if classes is not None and attributes.get(ATTR_DEVICE_CLASS) not in classes:
        return "not_soc_sensor" if role is Role.SOC else "not_power_sensor"
    if role is Role.SOC and unit != PERCENTAGE:
        return "not_soc_sensor"
    if role in (Role.AC_POWER, Role.BATTERY_POWER) and unit not in POWER_UNITS:
        return "not_power_sensor"
    if role is Role.FORCIBLE_MODE and not set(attributes.get("options", ())) >= FORCIBLE_OPTIONS:
        return "not_forcible_select"
    if role is Role.RS485_MODE and not set(attributes.get("options", ())) >= RS485_OPTIONS:
        return "not_rs485_select"
    if role in POWER_NUMBER_ROLES and unit != UnitOfPower.WATT:
        return "not_power_number"
    if role in CUTOFF_ROLES and unit != PERCENTAGE:
        return "not_percent_number"
    return None


def validate_entities(
    hass: HomeAssistant,
    user_input: Mapping[str, Any],
    used: Mapping[str, str],
    meter: Collection[str] = (),
) -> tuple[dict[str, str], str]:
    """Per-field errors for a battery's chosen entities, and the battery named in them.

    used maps the entities of the other batteries to their titles; meter is the hub's meter
    entities (grid, phase power and current sensors): no entity serves two roles. An entity
    chosen for two fields is flagged only where it is otherwise right: the wrong field gets
    its own error.
    """
    errors: dict[str, str] = {}
    owner = ""
    chosen = [(role, user_input[role.value]) for role in Role if user_input.get(role.value)]
    profile = profile_for(hass, dict(chosen))
    for role, entity_id in chosen:
        if entity_id in meter:
            errors[role.value] = "meter_entity"  # a battery's power read as the grid's
        elif entity_id in used:
            errors[role.value] = "entity_in_use"
            owner = owner or used[entity_id]
        elif error := validate_battery_entity(hass, role, entity_id, profile):
            errors[role.value] = error
    seen: set[str] = set()
    for role, entity_id in chosen:
        if role.value in errors:
            continue
        if entity_id in seen:
            errors[role.value] = "duplicate_entity"
        seen.add(entity_id)
    return errors, owner


def current_errors(
    hass: HomeAssistant,
    user_input: Mapping[str, Any],
    seen: set[str],
    batteries: Sequence[Mapping[str, Any]] = (),
) -> dict[str, str]:
    """Return the errors of the optional phase current sensors (seen: the sensors chosen)."""
    errors: dict[str, str] = {}
    for key in CONF_PHASE_CURRENT_SENSORS:
        if not (entity_id := user_input.get(key)):
            continue
        if entity_id in seen:
            errors[key] = "duplicate_sensor"
        elif error := validate_current_sensor(hass, entity_id) or battery_entity_error(
            hass, entity_id, batteries
        ):
            errors[key] = error
        seen.add(entity_id)
    return errors
