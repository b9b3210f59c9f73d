"""Config flow: the hub with its first batteries, options, reconfigure, and "Add battery"."""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping, Sequence
import re
from typing import TYPE_CHECKING, Any, Final

from homeassistant.components.sensor import SensorDeviceClass
from homeassistant.config_entries import (
    SOURCE_RECONFIGURE,
    ConfigFlow,
    ConfigFlowResult,
    ConfigSubentryData,
    ConfigSubentryFlow,
    OptionsFlow,
    SubentryFlowResult,
)
from homeassistant.const import (
    ATTR_DEVICE_CLASS,
    ATTR_UNIT_OF_MEASUREMENT,
    PERCENTAGE,
    UnitOfElectricCurrent,
    UnitOfPower,
    UnitOfTime,
)
from homeassistant.core import HomeAssistant, callback, split_entity_id
from homeassistant.data_entry_flow import FlowHandler
from homeassistant.helpers import device_registry as dr, entity_registry as er
from homeassistant.helpers.selector import (
    BooleanSelector,
    EntitySelector,
    EntitySelectorConfig,
    NumberSelector,
    NumberSelectorConfig,
    NumberSelectorMode,
    SelectOptionDict,
    SelectSelector,
    SelectSelectorConfig,
    SelectSelectorMode,
)
from homeassistant.util import slugify
import voluptuous as vol

from .adapters.discovery import FoundBattery, find_batteries, profile_for
from .adapters.lilygo import (
    ROLE_DOMAINS,
    ROLE_SLUGS,
    device_name,
    find_battery_devices,
)
from .adapters.profiles import ESPHOME, Profile, canonical_attributes, role_domains
from .const import (
    CONF_CONNECTOR,
    CONF_DEVICE_ID,
    CONF_DRY_RUN,
    CONF_GRID_SENSOR,
    CONF_INTERVAL,
    CONF_KEEPALIVE,
    CONF_MAIN_FUSE_A,
    CONF_PEAK_CAP_KW,
    CONF_PHASE,
    CONF_PHASE_COUNT,
    CONF_PHASE_CURRENT_SENSORS,
    CONF_PHASE_FEED_IN_LIMIT_W,
    CONF_PHASE_SENSORS,
    CONF_REFRESH_METER,
    CONF_SETTLE_DELAY,
    CONF_STALE_TIMEOUT,
    CONF_STOP_BEHAVIOR,
    DEFAULT_INTERVAL,
    DEFAULT_OPTIONS,
    DOMAIN,
    NEW_HUB_OPTIONS,
    OPTIONAL_ROLES,
    PHASES,
    REQUIRED_ROLES,
    SUBENTRY_BATTERY,
    Role,
    StopBehavior,
)
from .core.inflight import allowed_interval, interval_allowed
from .core.readings import parse_number

if TYPE_CHECKING:
    from .coordinator import MarstekConfigEntry

TITLE: Final = "Marstek batteries"
POWER_UNITS: Final = (UnitOfPower.WATT, UnitOfPower.KILO_WATT)
CURRENT_UNITS: Final = (UnitOfElectricCurrent.AMPERE, UnitOfElectricCurrent.MILLIAMPERE)
CONF_BATTERIES: Final = "batteries"  # the hub flow's choice of battery devices
CONF_MANUAL: Final = "manual"  # pick a battery's entities by hand (hub: how many)
CONF_ENABLE_ENTITIES: Final = "enable_entities"  # enable the disabled control entities found
MAX_MANUAL: Final = 6

# Options: (minimum, maximum, step) in seconds.
OPTION_RANGES: Final[dict[str, tuple[float, float, float]]] = {
    CONF_INTERVAL: (2.0, 60.0, 0.5),
    CONF_SETTLE_DELAY: (0.0, 120.0, 0.5),
    CONF_STALE_TIMEOUT: (5.0, 600.0, 1.0),
    # Some firmware drops RS485 control after 90 to 120 s without a write.
    CONF_KEEPALIVE: (5.0, 90.0, 1.0),
}

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
# The device class the role's picker lists (the LilyGo sensors have theirs set).
PICKER_DEVICE_CLASSES: Final[dict[Role, str]] = {
    Role.SOC: SensorDeviceClass.BATTERY,
    Role.AC_POWER: SensorDeviceClass.POWER,
    Role.BATTERY_POWER: SensorDeviceClass.POWER,
}

# "L1", "phase 2", "Power phase 3", "power_l1", "lilygo-L2": the phase a name says.
_PHASE_IN_NAME: Final = re.compile(r"(?:^|_)(?:phase_?l?|l)([123])(?:_|$)")


def phase_from_name(name: str) -> str | None:
    """Return the phase ("L1".."L3") a device or sensor name says, or None."""
    found = {match.group(1) for match in _PHASE_IN_NAME.finditer(slugify(name))}
    return f"L{found.pop()}" if len(found) == 1 else None


def default_phase(name: str, used: Sequence[str], phases: Sequence[str]) -> str:
    """Return a new battery's phase: the one its name says, else the least used (first)."""
    if (named := phase_from_name(name)) in phases:
        return str(named)
    return min(phases, key=lambda phase: (used.count(phase), phases.index(phase)))


def _form_schema(
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


def _power_sensor_selector() -> EntitySelector:
    return _sensor_selector(SensorDeviceClass.POWER)


def _current_sensor_selector() -> EntitySelector:
    return _sensor_selector(SensorDeviceClass.CURRENT)


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


def phase_currents_near(hass: HomeAssistant, grid_sensor: str) -> dict[str, str]:
    """Return current key -> the current sensor of that phase on the grid sensor's device."""
    keys = CONF_PHASE_CURRENT_SENSORS
    return phase_sensors_near(hass, grid_sensor, validate_current_sensor, keys)


def phase_sensors_near(
    hass: HomeAssistant,
    grid_sensor: str,
    validate: Callable[[HomeAssistant, str], str | None] | None = None,
    keys: Sequence[str] = CONF_PHASE_SENSORS,
) -> dict[str, str]:
    """Return phase key -> the power sensor of that phase on the grid sensor's device.

    A phase is filled only when exactly one valid power sensor of the device names it.
    validate and keys choose another kind of sensor (phase_currents_near).
    """
    validate = validate or validate_power_sensor
    registry = er.async_get(hass)
    grid = registry.async_get(grid_sensor)
    if grid is None or grid.device_id is None:
        return {}
    found: dict[str, list[str]] = {}
    for entry in er.async_entries_for_device(registry, grid.device_id):
        if entry.entity_id == grid_sensor or validate(hass, entry.entity_id):
            continue
        names = (entry.original_name or "", entry.name or "", split_entity_id(entry.entity_id)[1])
        phase = next((p for name in names if name and (p := phase_from_name(name))), None)
        if phase is not None:
            found.setdefault(phase, []).append(entry.entity_id)
    return {
        key: found[phase][0]
        for phase, key in zip(PHASES, keys, strict=True)
        if len(found.get(phase, ())) == 1
    }


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


def _entities_fields() -> dict[vol.Marker, Any]:
    """One entity field per role: the required ones first."""
    return {
        (vol.Required if role in REQUIRED_ROLES else vol.Optional)(role.value): _role_selector(role)
        for role in (*REQUIRED_ROLES, *OPTIONAL_ROLES)
    }


def _phase_selector(phases: Sequence[str]) -> SelectSelector:
    return SelectSelector(SelectSelectorConfig(options=list(phases), mode=SelectSelectorMode.LIST))


def _phases(entry_data: Mapping[str, Any]) -> list[str]:
    """Return the phases a battery may sit on: only L1 on a single-phase site."""
    return list(PHASES) if entry_data.get(CONF_PHASE_COUNT, 1) == 3 else [PHASES[0]]


def _role_data(user_input: Mapping[str, Any]) -> dict[str, str]:
    """Return the role keys of the input, without empty optional ones."""
    return {role.value: user_input[role.value] for role in Role if user_input.get(role.value)}


def _found_placeholders(device: str, matched: Mapping[Role, str]) -> dict[str, str]:
    """Return what the entity form says about the entities found on the device."""
    return {
        "device": device,
        "found": str(len(matched)),
        "total": str(len(Role)),
        "found_required": str(sum(role in matched for role in REQUIRED_ROLES)),
        "required": str(len(REQUIRED_ROLES)),
        "battery": "",
    }


def _battery_data(
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


def _device_of(hass: HomeAssistant, user_input: Mapping[str, Any]) -> str | None:
    """Return the device of the battery's mode select, for entities picked by hand."""
    entity_id = user_input.get(Role.FORCIBLE_MODE.value)
    entry = er.async_get(hass).async_get(entity_id) if entity_id else None
    return entry.device_id if entry is not None else None


def _unique_id(found: FoundBattery | None, data: Mapping[str, Any]) -> str:
    """Return a battery's unique id: its device, its group, or its mode select's entity id."""
    if found is not None:
        return found.key
    return str(data.get(CONF_DEVICE_ID) or data.get(Role.FORCIBLE_MODE.value, ""))


def _found_label(found: FoundBattery) -> str:
    """Return how a battery found is listed (devices named as ESPHome's as before)."""
    if found.esphome:
        return f"{found.name} (ESPHome)"
    if found.profile is ESPHOME and found.device_id is not None:
        return found.name
    return found.label


def _enable_entities(hass: HomeAssistant, found: FoundBattery) -> None:
    """Enable the control entities the connector created disabled (it reloads them)."""
    registry = er.async_get(hass)
    for entity_id in found.disabled.values():
        registry.async_update_entity(entity_id, disabled_by=None)


def _enable_schema() -> vol.Schema:
    return vol.Schema({vol.Required(CONF_ENABLE_ENTITIES, default=True): BooleanSelector()})


def _enable_placeholders(found: FoundBattery) -> dict[str, str]:
    return {
        "device": found.name,
        "connector": found.profile.name,
        "entities": ", ".join(sorted(found.disabled.values())),
    }


class MarstekStrategyConfigFlow(ConfigFlow, domain=DOMAIN):
    """The hub: one per site, with the grid meter and the batteries found."""

    VERSION = 1
    MINOR_VERSION = 1

    def __init__(self) -> None:
        """Start with no meter and no battery chosen."""
        self._meter: dict[str, Any] = {}
        self._devices: dict[str, FoundBattery] = {}
        self._enabled: set[str] = set()  # found batteries whose disabled entities were asked
        self._queue: list[str] = []  # device ids still to confirm
        self._count = 0
        self._batteries: list[ConfigSubentryData] = []

    @staticmethod
    @callback
    def async_get_options_flow(config_entry: MarstekConfigEntry) -> OptionsFlow:
        """Return the options flow of the hub."""
        return MarstekStrategyOptionsFlow()

    @classmethod
    @callback
    def async_get_supported_subentry_types(
        cls, config_entry: MarstekConfigEntry
    ) -> dict[str, type[ConfigSubentryFlow]]:
        """Batteries are subentries of the hub."""
        return {SUBENTRY_BATTERY: BatterySubentryFlow}

    async def async_step_user(self, user_input: dict[str, Any] | None = None) -> ConfigFlowResult:
        """Choose the grid meter (one hub per site: the manifest's single_config_entry)."""
        return await self._async_step_meter("user", user_input, {})

    async def async_step_phases(self, user_input: dict[str, Any] | None = None) -> ConfigFlowResult:
        """Choose the three phase sensors (proposed from the grid sensor's device)."""
        grid = self._meter[CONF_GRID_SENSOR]
        proposed = phase_sensors_near(self.hass, grid) | phase_currents_near(self.hass, grid)
        return await self._async_step_phases("phases", user_input, proposed)

    async def async_step_reconfigure(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Change the grid meter."""
        current = self._get_reconfigure_entry().data
        return await self._async_step_meter("reconfigure", user_input, current)

    async def async_step_reconfigure_phases(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Change the three phase sensors (proposed from the device of a new grid sensor)."""
        current: Mapping[str, Any] = self._get_reconfigure_entry().data
        if current.get(CONF_GRID_SENSOR) != self._meter[CONF_GRID_SENSOR] or not all(
            key in current for key in CONF_PHASE_SENSORS
        ):
            grid = self._meter[CONF_GRID_SENSOR]
            current = phase_sensors_near(self.hass, grid) | phase_currents_near(self.hass, grid)
        return await self._async_step_phases("reconfigure_phases", user_input, current)

    async def _async_step_meter(
        self,
        step_id: str,
        user_input: dict[str, Any] | None,
        current: Mapping[str, Any],
    ) -> ConfigFlowResult:
        errors: dict[str, str] = {}
        if user_input is not None:
            grid = user_input[CONF_GRID_SENSOR]
            if error := validate_power_sensor(self.hass, grid) or battery_entity_error(
                self.hass, grid, self._battery_data()
            ):
                errors[CONF_GRID_SENSOR] = error
            else:
                self._meter = {
                    CONF_GRID_SENSOR: grid,
                    CONF_PHASE_COUNT: int(user_input[CONF_PHASE_COUNT]),
                }
                if self._meter[CONF_PHASE_COUNT] == 3:
                    if self.source == SOURCE_RECONFIGURE:
                        return await self.async_step_reconfigure_phases()
                    return await self.async_step_phases()
                return await self._async_meter_done()
        suggested = user_input or {
            **{key: current[key] for key in (CONF_GRID_SENSOR,) if key in current},
            CONF_PHASE_COUNT: str(current.get(CONF_PHASE_COUNT, 1)),
        }
        schema = vol.Schema(
            {
                vol.Required(CONF_GRID_SENSOR): _power_sensor_selector(),
                vol.Required(CONF_PHASE_COUNT): SelectSelector(
                    SelectSelectorConfig(
                        options=["1", "3"],
                        mode=SelectSelectorMode.LIST,
                        translation_key=CONF_PHASE_COUNT,
                    )
                ),
            }
        )
        return self.async_show_form(
            step_id=step_id,
            data_schema=_form_schema(self, schema, suggested),
            errors=errors,
        )

    async def _async_step_phases(
        self, step_id: str, user_input: dict[str, Any] | None, current: Mapping[str, Any]
    ) -> ConfigFlowResult:
        errors: dict[str, str] = {}
        if user_input is not None:
            seen = {self._meter[CONF_GRID_SENSOR]}
            for key in CONF_PHASE_SENSORS:
                entity_id = user_input[key]
                if entity_id in seen:
                    errors[key] = "duplicate_sensor"
                elif error := validate_power_sensor(self.hass, entity_id) or battery_entity_error(
                    self.hass, entity_id, self._battery_data()
                ):
                    errors[key] = error
                seen.add(entity_id)
            errors.update(_current_errors(self.hass, user_input, seen, self._battery_data()))
            if not errors:
                self._meter.update({key: user_input[key] for key in CONF_PHASE_SENSORS})
                self._meter.update(
                    {k: user_input[k] for k in CONF_PHASE_CURRENT_SENSORS if user_input.get(k)}
                )
                return await self._async_meter_done()
        keys = (*CONF_PHASE_SENSORS, *CONF_PHASE_CURRENT_SENSORS)
        suggested = user_input or {key: current[key] for key in keys if key in current}
        fields: dict[vol.Marker, Any] = {
            vol.Required(key): _power_sensor_selector() for key in CONF_PHASE_SENSORS
        }
        fields.update(
            {vol.Optional(k): _current_sensor_selector() for k in CONF_PHASE_CURRENT_SENSORS}
        )
        schema = vol.Schema(fields)
        return self.async_show_form(
            step_id=step_id,
            data_schema=_form_schema(self, schema, suggested),
            errors=errors,
        )

    def _battery_data(self) -> list[Mapping[str, Any]]:
        """Return the batteries' data: the hub's (reconfigure), or those chosen so far."""
        if self.source == SOURCE_RECONFIGURE:
            return [
                subentry.data
                for subentry in self._get_reconfigure_entry().subentries.values()
                if subentry.subentry_type == SUBENTRY_BATTERY
            ]
        return [battery["data"] for battery in self._batteries]

    async def _async_meter_done(self) -> ConfigFlowResult:
        """Reconfigure ends here; a new hub goes on to its batteries."""
        if self.source == SOURCE_RECONFIGURE:
            entry = self._get_reconfigure_entry()
            self.hass.config_entries.async_update_entry(entry, data=self._meter)
            return self.async_abort(reason="reconfigure_successful")
        self._devices = {found.key: found for found in find_batteries(self.hass)}
        if not self._devices:
            return self._async_create_hub()
        return await self.async_step_batteries()

    async def async_step_batteries(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Choose which of the battery devices found this hub drives."""
        if user_input is not None:
            chosen = set(user_input.get(CONF_BATTERIES, []))
            self._queue = [d for d in self._devices if d in chosen]
            # Batteries whose entities a person picks by hand: keys the found ones never have.
            manual = int(user_input.get(CONF_MANUAL) or 0)
            self._queue += [f"{CONF_MANUAL}:{index}" for index in range(1, manual + 1)]
            self._count = len(self._queue)
            return await self.async_step_battery()
        options = [
            SelectOptionDict(value=key, label=_found_label(found))
            for key, found in self._devices.items()
        ]
        schema = vol.Schema(
            {
                vol.Optional(CONF_BATTERIES): SelectSelector(
                    SelectSelectorConfig(
                        options=options, multiple=True, mode=SelectSelectorMode.LIST
                    )
                ),
                vol.Optional(CONF_MANUAL, default=0): NumberSelector(
                    NumberSelectorConfig(min=0, max=MAX_MANUAL, step=1, mode=NumberSelectorMode.BOX)
                ),
            }
        )
        return self.async_show_form(
            step_id="batteries",
            data_schema=_form_schema(self, schema, {CONF_BATTERIES: list(self._devices)}),
            description_placeholders={"count": str(len(self._devices))},
        )

    async def async_step_battery(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Confirm one chosen battery: its phase and its entities."""
        if not self._queue:
            return self._async_create_hub()
        device = self._devices.get(self._queue[0])  # None: entities picked by hand
        if device is not None and device.disabled and device.key not in self._enabled:
            return await self.async_step_enable()
        index = self._count - len(self._queue) + 1
        name = device.name if device is not None else f"{index}"
        phases = _phases(self._meter)
        used = {
            entity_id: str(battery["title"])
            for battery in self._batteries
            for key, entity_id in battery["data"].items()
            if key not in (CONF_DEVICE_ID, CONF_PHASE, CONF_CONNECTOR)
        }
        placeholders = {
            **_found_placeholders(name, device.matched if device else {}),
            "index": str(index),
            "count": str(self._count),
        }
        errors: dict[str, str] = {}
        if user_input is not None:
            errors, placeholders["battery"] = validate_entities(
                self.hass, user_input, used, meter_entities(self._meter)
            )
            if not errors:
                device_id = device.device_id if device else _device_of(self.hass, user_input)
                data = _battery_data(self.hass, device_id, user_input[CONF_PHASE], user_input)
                self._batteries.append(
                    ConfigSubentryData(
                        data=data,
                        subentry_type=SUBENTRY_BATTERY,
                        title=name if device else _manual_title(self.hass, user_input, name),
                        unique_id=_unique_id(device, data),
                    )
                )
                self._queue.pop(0)
                return await self.async_step_battery()
        taken = [str(battery["data"][CONF_PHASE]) for battery in self._batteries]
        suggested = user_input or {
            CONF_PHASE: default_phase(name, taken, phases),
            **{
                role.value: entity_id
                for role, entity_id in (device.matched if device else {}).items()
            },
        }
        schema = vol.Schema(
            {vol.Required(CONF_PHASE): _phase_selector(phases), **_entities_fields()}
        )
        return self.async_show_form(
            step_id="battery",
            data_schema=_form_schema(self, schema, suggested),
            errors=errors,
            description_placeholders=placeholders,
        )

    async def async_step_enable(self, user_input: dict[str, Any] | None = None) -> ConfigFlowResult:
        """Name the control entities the connector created disabled, and offer to enable them."""
        found = self._devices[self._queue[0]]
        if user_input is not None:
            if user_input.get(CONF_ENABLE_ENTITIES):
                _enable_entities(self.hass, found)
            self._enabled.add(found.key)
            return await self.async_step_battery()
        return self.async_show_form(
            step_id="enable",
            data_schema=_form_schema(self, _enable_schema(), {}),
            description_placeholders=_enable_placeholders(found),
        )

    @callback
    def _async_create_hub(self) -> ConfigFlowResult:
        return self.async_create_entry(
            title=TITLE,
            data=self._meter,
            options=NEW_HUB_OPTIONS,
            subentries=self._batteries,
            description_placeholders={
                "count": str(len(self._batteries)),
                "batteries": ", ".join(str(b["title"]) for b in self._batteries) or "-",
            },
        )


class MarstekStrategyOptionsFlow(OptionsFlow):
    """The hub's timing, dry-run and phase-limit options; the update listener reloads the entry."""

    def _ac_power_everywhere(self) -> bool:
        """Return whether every battery has an AC power sensor (the short intervals need it)."""
        return all(
            subentry.data.get(Role.AC_POWER)
            for subentry in self.config_entry.subentries.values()
            if subentry.subentry_type == SUBENTRY_BATTERY
        )

    async def async_step_init(self, user_input: dict[str, Any] | None = None) -> ConfigFlowResult:
        """Edit the options."""
        errors: dict[str, str] = {}
        if user_input is not None:
            if not interval_allowed(user_input[CONF_INTERVAL]):
                errors[CONF_INTERVAL] = "interval_not_allowed"
            elif user_input[CONF_INTERVAL] < DEFAULT_INTERVAL and not self._ac_power_everywhere():
                errors[CONF_INTERVAL] = "interval_needs_ac_power"
            elif user_input[CONF_STALE_TIMEOUT] < user_input[CONF_INTERVAL]:
                errors[CONF_STALE_TIMEOUT] = "stale_timeout_too_short"
            errors.update(phase_limit_errors(user_input))
            if not errors:
                return self.async_create_entry(data=user_input)
        fields: dict[vol.Marker, Any] = {}
        for key in (CONF_INTERVAL, CONF_SETTLE_DELAY, CONF_STALE_TIMEOUT):
            fields[vol.Required(key)] = _seconds_selector(key)
        fields[vol.Required(CONF_REFRESH_METER)] = BooleanSelector()
        fields[vol.Required(CONF_KEEPALIVE)] = _seconds_selector(CONF_KEEPALIVE)
        fields[vol.Required(CONF_DRY_RUN)] = BooleanSelector()
        fields[vol.Required(CONF_STOP_BEHAVIOR)] = SelectSelector(
            SelectSelectorConfig(
                options=[behavior.value for behavior in StopBehavior],
                translation_key=CONF_STOP_BEHAVIOR,
                mode=SelectSelectorMode.LIST,
            )
        )
        fields.update(_phase_limit_fields())
        fields[vol.Optional(CONF_PEAK_CAP_KW)] = NumberSelector(
            NumberSelectorConfig(
                min=0.0,
                max=50.0,
                step=0.1,
                unit_of_measurement=UnitOfPower.KILO_WATT,
                mode=NumberSelectorMode.BOX,
            )
        )
        suggested = user_input or {**DEFAULT_OPTIONS, **self.config_entry.options}
        if user_input is None:  # an interval stored before the allowed ones: as it runs
            suggested[CONF_INTERVAL] = allowed_interval(float(suggested[CONF_INTERVAL]))
        return self.async_show_form(
            step_id="init",
            data_schema=_form_schema(self, vol.Schema(fields), suggested),
            errors=errors,
        )


def _current_errors(
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


def phase_limit_errors(user_input: Mapping[str, Any]) -> dict[str, str]:
    """Return the errors of the phase limits: neither may be left empty.

    An empty main fuse ran silently on 25 A (a 16 A site allowed 5175 W per phase instead of
    3312 W); an empty feed-in limit silently meant none. The fuse must be given; no feed-in
    limit is an explicit 0.
    """
    errors: dict[str, str] = {}
    if user_input.get(CONF_MAIN_FUSE_A) is None:
        errors[CONF_MAIN_FUSE_A] = "main_fuse_required"
    if user_input.get(CONF_PHASE_FEED_IN_LIMIT_W) is None:
        errors[CONF_PHASE_FEED_IN_LIMIT_W] = "feed_in_limit_required"
    return errors


def _phase_limit_fields() -> dict[vol.Marker, Any]:
    """Return the per-phase limit options: the main fuse (A) and the feed-in limit (W)."""
    return {
        vol.Optional(CONF_MAIN_FUSE_A): NumberSelector(
            NumberSelectorConfig(
                min=6.0,
                max=100.0,
                step=1.0,
                unit_of_measurement=UnitOfElectricCurrent.AMPERE,
                mode=NumberSelectorMode.BOX,
            )
        ),
        vol.Optional(CONF_PHASE_FEED_IN_LIMIT_W): NumberSelector(
            NumberSelectorConfig(
                min=0.0,
                max=25000.0,
                step=10.0,
                unit_of_measurement=UnitOfPower.WATT,
                mode=NumberSelectorMode.BOX,
            )
        ),
    }


def _seconds_selector(key: str) -> NumberSelector:
    minimum, maximum, step = OPTION_RANGES[key]
    return NumberSelector(
        NumberSelectorConfig(
            min=minimum,
            max=maximum,
            step=step,
            unit_of_measurement=UnitOfTime.SECONDS,
            mode=NumberSelectorMode.BOX,
        )
    )


def _manual_title(hass: HomeAssistant, user_input: Mapping[str, Any], fallback: str) -> str:
    """Return the title of a battery picked by hand: its mode select's device or prefix."""
    entity_id = str(user_input.get(Role.FORCIBLE_MODE.value, ""))
    entry = er.async_get(hass).async_get(entity_id) if entity_id else None
    device = dr.async_get(hass).async_get(entry.device_id) if entry and entry.device_id else None
    if device is not None:
        return device_name(device)
    object_id = split_entity_id(entity_id)[1] if "." in entity_id else ""
    slug = ROLE_SLUGS[Role.FORCIBLE_MODE][1]
    return object_id.removesuffix(slug).rstrip("_") or object_id or fallback


class BatterySubentryFlow(ConfigSubentryFlow):
    """Add a battery later, or reconfigure one: its device or group, phase and entities."""

    def __init__(self) -> None:
        """Start with no battery chosen."""
        self._found: FoundBattery | None = None  # None: entities picked by hand
        self._device_name = ""
        self._phase = PHASES[0]
        self._matched: dict[Role, str] = {}

    def _used(self, key: str, own_subentry_id: str | None) -> dict[str, str]:
        """Map the values of `key` in the other batteries' data to their titles."""
        return {
            subentry.data[key]: subentry.title
            for subentry in self._get_entry().subentries.values()
            if subentry.subentry_type == SUBENTRY_BATTERY
            and subentry.subentry_id != own_subentry_id
            and key in subentry.data
        }

    @property
    def _hub_data(self) -> Mapping[str, Any]:
        return self._get_entry().data

    def _used_entities(self, own_subentry_id: str | None) -> dict[str, str]:
        used: dict[str, str] = {}
        for role in Role:
            used.update(self._used(role.value, own_subentry_id))
        return used

    def _used_keys(self) -> dict[str, str]:
        """Map the unique ids (devices, groups) of the batteries configured to their titles."""
        return {
            str(subentry.unique_id): subentry.title
            for subentry in self._get_entry().subentries.values()
            if subentry.subentry_type == SUBENTRY_BATTERY and subentry.unique_id
        }

    def _used_phases(self) -> list[str]:
        return [
            str(subentry.data.get(CONF_PHASE))
            for subentry in self._get_entry().subentries.values()
            if subentry.subentry_type == SUBENTRY_BATTERY
        ]

    async def async_step_user(self, user_input: dict[str, Any] | None = None) -> SubentryFlowResult:
        """Choose the battery (a device, or entities without one) and its phase.

        With nothing found, or "pick by hand", the entities are chosen on the next step.
        """
        errors: dict[str, str] = {}
        used = self._used_keys()
        found = {f.key: f for f in find_batteries(self.hass)}
        owner = ""
        if user_input is not None:
            key = user_input.get(CONF_DEVICE_ID)
            self._phase = user_input[CONF_PHASE]
            if user_input.get(CONF_MANUAL) or not key:
                self._found, self._device_name, self._matched = None, "", {}
                return await self.async_step_entities()
            if key in used:
                errors[CONF_DEVICE_ID] = "device_in_use"
                owner = used[key]
            elif key not in found:
                errors[CONF_DEVICE_ID] = "device_not_found"
            else:
                self._found = found[key]
                self._device_name = self._found.name
                self._matched = dict(self._found.matched)
                if self._found.disabled:
                    return await self.async_step_enable()
                return await self.async_step_entities()
        taken = self._used_entities(None)  # a battery picked by hand takes its group's
        choices = [
            f
            for f in found.values()
            if f.key not in used and f.matched.get(Role.FORCIBLE_MODE) not in taken
        ]
        phases = _phases(self._get_entry().data)
        fields: dict[vol.Marker, Any] = {}
        if choices:
            options = [SelectOptionDict(value=f.key, label=_found_label(f)) for f in choices]
            fields[vol.Required(CONF_DEVICE_ID)] = SelectSelector(
                SelectSelectorConfig(options=options, mode=SelectSelectorMode.DROPDOWN)
            )
        fields[vol.Required(CONF_PHASE)] = _phase_selector(phases)
        if choices:
            fields[vol.Optional(CONF_MANUAL, default=False)] = BooleanSelector()
        name = choices[0].name if choices else ""
        suggested = user_input or {
            **({CONF_DEVICE_ID: choices[0].key} if choices else {}),
            CONF_PHASE: default_phase(name, self._used_phases(), phases),
        }
        return self.async_show_form(
            step_id="user" if choices else "manual",
            data_schema=_form_schema(self, vol.Schema(fields), suggested),
            errors=errors,
            description_placeholders={"battery": owner},
        )

    async def async_step_manual(
        self, user_input: dict[str, Any] | None = None
    ) -> SubentryFlowResult:
        """No battery found: its phase, then its entities picked by hand."""
        return await self.async_step_user(user_input)

    async def async_step_enable(
        self, user_input: dict[str, Any] | None = None
    ) -> SubentryFlowResult:
        """Name the control entities the connector created disabled, and offer to enable them."""
        found = self._found
        if found is None or user_input is not None:
            if found is not None and user_input and user_input.get(CONF_ENABLE_ENTITIES):
                _enable_entities(self.hass, found)
            return await self.async_step_entities()
        return self.async_show_form(
            step_id="enable",
            data_schema=_form_schema(self, _enable_schema(), {}),
            description_placeholders=_enable_placeholders(found),
        )

    async def async_step_entities(
        self, user_input: dict[str, Any] | None = None
    ) -> SubentryFlowResult:
        """Confirm or correct the entities found, or pick them by hand."""
        errors: dict[str, str] = {}
        placeholders = _found_placeholders(self._device_name, self._matched)
        if user_input is not None:
            errors, placeholders["battery"] = validate_entities(
                self.hass, user_input, self._used_entities(None), meter_entities(self._hub_data)
            )
            found = self._found
            device_id = found.device_id if found else _device_of(self.hass, user_input)
            data = _battery_data(self.hass, device_id, self._phase, user_input)
            unique_id = _unique_id(found, data)
            if found is not None and unique_id in self._used_keys():
                # Another flow added this battery meanwhile (a form left open in a second tab).
                return self.async_abort(reason="already_configured")
            if not errors:
                return self.async_create_entry(
                    title=self._device_name or _manual_title(self.hass, user_input, unique_id),
                    data=data,
                    unique_id=unique_id or None,
                )
        suggested = user_input or {role.value: eid for role, eid in self._matched.items()}
        return self.async_show_form(
            step_id="entities",
            data_schema=_form_schema(self, vol.Schema(_entities_fields()), suggested),
            errors=errors,
            description_placeholders=placeholders,
        )

    async def async_step_reconfigure(
        self, user_input: dict[str, Any] | None = None
    ) -> SubentryFlowResult:
        """Change a battery's phase and entities."""
        subentry = self._get_reconfigure_subentry()
        errors: dict[str, str] = {}
        owner = ""
        if user_input is not None:
            errors, owner = validate_entities(
                self.hass,
                user_input,
                self._used_entities(subentry.subentry_id),
                meter_entities(self._hub_data),
            )
            if not errors:
                return self.async_update_and_abort(
                    self._get_entry(),
                    subentry,
                    data=_battery_data(
                        self.hass,
                        subentry.data.get(CONF_DEVICE_ID),
                        user_input[CONF_PHASE],
                        user_input,
                    ),
                )
        phases = _phases(self._get_entry().data)
        schema = vol.Schema(
            {vol.Required(CONF_PHASE): _phase_selector(phases), **_entities_fields()}
        )
        current = dict(subentry.data)
        if current.get(CONF_PHASE) not in phases:
            current[CONF_PHASE] = phases[0]
        return self.async_show_form(
            step_id="reconfigure",
            data_schema=_form_schema(self, schema, user_input or current),
            errors=errors,
            description_placeholders={"device": subentry.title, "battery": owner},
        )
