"""The config flow's forms: selectors, schemas, placeholders and a battery's subentry data."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Final

from homeassistant.components.sensor import SensorDeviceClass
from homeassistant.core import HomeAssistant
from homeassistant.data_entry_flow import FlowHandler
from homeassistant.helpers.selector import (
    BooleanSelector,
    EntitySelector,
    EntitySelectorConfig,
    SelectSelector,
    SelectSelectorConfig,
    SelectSelectorMode,
)
import voluptuous as vol

from ..adapters.discovery import FoundBattery, profile_for
from ..adapters.lilygo import ROLE_DOMAINS
from ..adapters.profiles import ESPHOME, role_domains
from ..const import (
    CONF_CONNECTOR,
    CONF_DEVICE_ID,
    CONF_PHASE,
    CONF_PHASE_COUNT,
    OPTIONAL_ROLES,
    PHASES,
    REQUIRED_ROLES,
    Role,
)

TITLE: Final = "Marstek batteries"
CONF_BATTERIES: Final = "batteries"  # the hub flow's choice of battery devices
CONF_MANUAL: Final = "manual"  # pick a battery's entities by hand (hub: how many)
CONF_ENABLE_ENTITIES: Final = "enable_entities"  # enable the disabled control entities found
MAX_MANUAL: Final = 6

# The device class the role's picker lists (the LilyGo sensors have theirs set).
PICKER_DEVICE_CLASSES: Final[dict[Role, str]] = {
    Role.SOC: SensorDeviceClass.BATTERY,
    Role.AC_POWER: SensorDeviceClass.POWER,
    Role.BATTERY_POWER: SensorDeviceClass.POWER,
}


def form_schema(
    flow: FlowHandler[Any, Any, Any], schema: vol.Schema, suggested: Mapping[str, Any]
) -> Any:
    """Return the schema with suggested values, for ``async_show_form``.

    One object on both versions at run time (2026.x aliases voluptuous to probatio), but typed
    as voluptuous' Schema on 2025.x and as probatio's on 2026.x: hence Any at this one place.
    """
    untyped: Any = schema
    return flow.add_suggested_values_to_schema(untyped, suggested)


def _sensor_selector(device_class: SensorDeviceClass) -> EntitySelector:
    return EntitySelector(
        EntitySelectorConfig(filter=[{"domain": "sensor", "device_class": device_class.value}])
    )


def power_sensor_selector() -> EntitySelector:
    """Return a picker of power sensors (the meter's)."""
    return _sensor_selector(SensorDeviceClass.POWER)


def current_sensor_selector() -> EntitySelector:
    """Return a picker of current sensors (the phase currents)."""
    return _sensor_selector(SensorDeviceClass.CURRENT)


def _role_selector(role: Role) -> EntitySelector:
    """Return a picker of the role's domain (and device class, where one is expected).

    The filter acts only in the UI; validate_battery_entity checks the choice (unit too).
    """
    if role in PICKER_DEVICE_CLASSES:
        return EntitySelector(
            EntitySelectorConfig(
                filter=[{"domain": ROLE_DOMAINS[role], "device_class": PICKER_DEVICE_CLASSES[role]}]
            )
        )
    domains = role_domains(role)  # RS485 control: a select, or a switch (marstek_modbus)
    return EntitySelector(
        EntitySelectorConfig(
            filter=[{"domain": domains[0] if len(domains) == 1 else list(domains)}]
        )
    )


def entities_fields() -> dict[vol.Marker, Any]:
    """One entity field per role: the required ones first."""
    return {
        (vol.Required if role in REQUIRED_ROLES else vol.Optional)(role.value): _role_selector(role)
        for role in (*REQUIRED_ROLES, *OPTIONAL_ROLES)
    }


def phase_selector(phases: Sequence[str]) -> SelectSelector:
    """Return the choice of a battery's phase among phases."""
    return SelectSelector(SelectSelectorConfig(options=list(phases), mode=SelectSelectorMode.LIST))


def battery_phases(entry_data: Mapping[str, Any]) -> list[str]:
    """Return the phases a battery may sit on: only L1 on a single-phase site."""
    return list(PHASES) if entry_data.get(CONF_PHASE_COUNT, 1) == 3 else [PHASES[0]]


def _role_data(user_input: Mapping[str, Any]) -> dict[str, str]:
    """Return the role keys of the input, without empty optional ones."""
    return {role.value: user_input[role.value] for role in Role if user_input.get(role.value)}


def found_placeholders(device: str, matched: Mapping[Role, str]) -> dict[str, str]:
    """Return what the entity form says about the entities found on the device."""
    return {
        "device": device,
        "found": str(len(matched)),
        "total": str(len(Role)),
        "found_required": str(sum(role in matched for role in REQUIRED_ROLES)),
        "required": str(len(REQUIRED_ROLES)),
        "battery": "",
    }


def battery_data(
    hass: HomeAssistant, device_id: str | None, phase: str, user_input: Mapping[str, Any]
) -> dict[str, str]:
    """Return a battery subentry's data: its device (if any), phase, connector and entities.

    The connector is stored only when it is not ESPHome (whose batteries keep their data).
    """
    roles = _role_data(user_input)
    profile = profile_for(hass, {Role(key): entity_id for key, entity_id in roles.items()})
    data = {CONF_DEVICE_ID: device_id} if device_id else {}
    data[CONF_PHASE] = phase
    if profile is not ESPHOME:
        data[CONF_CONNECTOR] = profile.key
    return {**data, **roles}


def battery_unique_id(found: FoundBattery | None, data: Mapping[str, Any]) -> str:
    """Return a battery's unique id: its device, its group, or its mode select's entity id."""
    if found is not None:
        return found.key
    return str(data.get(CONF_DEVICE_ID) or data.get(Role.FORCIBLE_MODE.value, ""))


def found_label(found: FoundBattery) -> str:
    """Return how a battery found is listed (devices named as ESPHome's as before)."""
    if found.esphome:
        return f"{found.name} (ESPHome)"
    if found.profile is ESPHOME and found.device_id is not None:
        return found.name
    return found.label


def enable_schema() -> vol.Schema:
    """Return the form that offers to enable the disabled control entities."""
    return vol.Schema({vol.Required(CONF_ENABLE_ENTITIES, default=True): BooleanSelector()})


def enable_placeholders(found: FoundBattery) -> dict[str, str]:
    """Return what the enable form says: the device, its connector, the entities."""
    return {
        "device": found.name,
        "connector": found.profile.name,
        "entities": ", ".join(sorted(found.disabled.values())),
    }
