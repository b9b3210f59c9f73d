"""Config flow: the hub (meter, options, reconfigure) and the battery subentries."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Final

from homeassistant.components.sensor import SensorDeviceClass
from homeassistant.config_entries import (
    SOURCE_RECONFIGURE,
    ConfigFlow,
    ConfigFlowResult,
    ConfigSubentryFlow,
    OptionsFlow,
    SubentryFlowResult,
)
from homeassistant.const import (
    ATTR_DEVICE_CLASS,
    ATTR_UNIT_OF_MEASUREMENT,
    PERCENTAGE,
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
import voluptuous as vol

from .const import (
    CONF_DEVICE_ID,
    CONF_DRY_RUN,
    CONF_GRID_SENSOR,
    CONF_INTERVAL,
    CONF_KEEPALIVE,
    CONF_PHASE,
    CONF_PHASE_COUNT,
    CONF_PHASE_SENSORS,
    CONF_REFRESH_METER,
    CONF_SETTLE_DELAY,
    CONF_STALE_TIMEOUT,
    DEFAULT_OPTIONS,
    DOMAIN,
    OPTIONAL_ROLES,
    PHASES,
    REQUIRED_ROLES,
    SUBENTRY_BATTERY,
    Role,
)
from .lilygo import ROLE_DOMAINS, device_name, find_battery_devices, find_battery_entities
from .readings import parse_number

if TYPE_CHECKING:
    from .coordinator import MarstekConfigEntry

TITLE: Final = "Marstek batteries"
POWER_UNITS: Final = (UnitOfPower.WATT, UnitOfPower.KILO_WATT)

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


def _form_schema(
    flow: FlowHandler[Any, Any, Any], schema: vol.Schema, suggested: Mapping[str, Any]
) -> Any:
    """Return the schema with suggested values, for ``async_show_form``.

    One object on both versions at run time (2026.x aliases voluptuous to probatio), but typed
    as voluptuous' Schema on 2025.x and as probatio's on 2026.x: hence Any at this one place.
    """
    untyped: Any = schema
    return flow.add_suggested_values_to_schema(untyped, suggested)


def _power_sensor_selector() -> EntitySelector:
    return EntitySelector(
        EntitySelectorConfig(filter=[{"domain": "sensor", "device_class": "power"}])
    )


def _role_selector(role: Role) -> EntitySelector:
    return EntitySelector(EntitySelectorConfig(filter=[{"domain": ROLE_DOMAINS[role]}]))


def validate_power_sensor(hass: HomeAssistant, entity_id: str) -> str | None:
    """Check a meter sensor: it exists, is not ours, measures power in W or kW, reports a number."""
    if split_entity_id(entity_id)[0] != "sensor":
        return "not_power_sensor"
    if (state := hass.states.get(entity_id)) is None:
        return "entity_not_found"
    if (entry := er.async_get(hass).async_get(entity_id)) and entry.platform == DOMAIN:
        return "own_entity"  # its own output as the meter: a feedback loop
    if (
        state.attributes.get(ATTR_DEVICE_CLASS) != SensorDeviceClass.POWER
        or state.attributes.get(ATTR_UNIT_OF_MEASUREMENT) not in POWER_UNITS
    ):
        return "not_power_sensor"
    if parse_number(state.state) is None:
        return "not_numeric"
    return None


def validate_battery_entity(hass: HomeAssistant, role: Role, entity_id: str) -> str | None:
    """Check that an entity can fill a battery role; the error key, or None when it can.

    The battery may be offline while it is set up, so its registry entry (capabilities,
    unit) counts as much as its state.
    """
    if split_entity_id(entity_id)[0] != ROLE_DOMAINS[role]:
        return "wrong_domain"
    entry = er.async_get(hass).async_get(entity_id)
    state = hass.states.get(entity_id)
    if entry is None and state is None:
        return "entity_not_found"
    if entry is not None:
        if entry.disabled_by is not None:
            return "entity_disabled"
        if entry.platform == DOMAIN:
            return "own_entity"
    attributes: dict[str, Any] = {}
    if entry is not None:
        attributes.update(entry.capabilities or {})
        if entry.unit_of_measurement is not None:
            attributes[ATTR_UNIT_OF_MEASUREMENT] = entry.unit_of_measurement
    if state is not None:
        attributes.update(state.attributes)
    unit = attributes.get(ATTR_UNIT_OF_MEASUREMENT)
    if role is Role.SOC and unit != PERCENTAGE:
        return "not_soc_sensor"
    if role is Role.AC_POWER and unit not in POWER_UNITS:
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


class MarstekStrategyConfigFlow(ConfigFlow, domain=DOMAIN):
    """The hub: one per site, with the grid meter."""

    VERSION = 1
    MINOR_VERSION = 1

    def __init__(self) -> None:
        """Start with no meter chosen."""
        self._meter: dict[str, Any] = {}

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
        """Choose the three phase sensors."""
        return await self._async_step_phases("phases", user_input, {})

    async def async_step_reconfigure(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Change the grid meter."""
        current = self._get_reconfigure_entry().data
        return await self._async_step_meter("reconfigure", user_input, current)

    async def async_step_reconfigure_phases(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Change the three phase sensors."""
        current = self._get_reconfigure_entry().data
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
            if error := validate_power_sensor(self.hass, grid):
                errors[CONF_GRID_SENSOR] = error
            else:
                self._meter = {
                    CONF_GRID_SENSOR: grid,
                    CONF_PHASE_COUNT: int(user_input[CONF_PHASE_COUNT]),
                }
                if self._meter[CONF_PHASE_COUNT] != 3:
                    return self._async_finish()
                if self.source == SOURCE_RECONFIGURE:
                    return await self.async_step_reconfigure_phases()
                return await self.async_step_phases()
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
                elif error := validate_power_sensor(self.hass, entity_id):
                    errors[key] = error
                seen.add(entity_id)
            if not errors:
                self._meter.update({key: user_input[key] for key in CONF_PHASE_SENSORS})
                return self._async_finish()
        suggested = user_input or {
            key: current[key] for key in CONF_PHASE_SENSORS if key in current
        }
        schema = vol.Schema(
            {vol.Required(key): _power_sensor_selector() for key in CONF_PHASE_SENSORS}
        )
        return self.async_show_form(
            step_id=step_id,
            data_schema=_form_schema(self, schema, suggested),
            errors=errors,
        )

    @callback
    def _async_finish(self) -> ConfigFlowResult:
        if self.source == SOURCE_RECONFIGURE:
            entry = self._get_reconfigure_entry()
            self.hass.config_entries.async_update_entry(entry, data=self._meter)
            return self.async_abort(reason="reconfigure_successful")
        return self.async_create_entry(title=TITLE, data=self._meter, options=DEFAULT_OPTIONS)


class MarstekStrategyOptionsFlow(OptionsFlow):
    """The hub's timing and dry-run options; the update listener reloads the entry."""

    async def async_step_init(self, user_input: dict[str, Any] | None = None) -> ConfigFlowResult:
        """Edit the options."""
        errors: dict[str, str] = {}
        if user_input is not None:
            if user_input[CONF_STALE_TIMEOUT] < user_input[CONF_INTERVAL]:
                errors[CONF_STALE_TIMEOUT] = "stale_timeout_too_short"
            else:
                return self.async_create_entry(data=user_input)
        fields: dict[vol.Marker, Any] = {}
        for key in (CONF_INTERVAL, CONF_SETTLE_DELAY, CONF_STALE_TIMEOUT):
            fields[vol.Required(key)] = _seconds_selector(key)
        fields[vol.Required(CONF_REFRESH_METER)] = BooleanSelector()
        fields[vol.Required(CONF_KEEPALIVE)] = _seconds_selector(CONF_KEEPALIVE)
        fields[vol.Required(CONF_DRY_RUN)] = BooleanSelector()
        suggested = user_input or {**DEFAULT_OPTIONS, **self.config_entry.options}
        return self.async_show_form(
            step_id="init",
            data_schema=_form_schema(self, vol.Schema(fields), suggested),
            errors=errors,
        )


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


class BatterySubentryFlow(ConfigSubentryFlow):
    """Add or reconfigure one battery: its device, its phase and its entities."""

    def __init__(self) -> None:
        """Start with no device chosen."""
        self._device_id = ""
        self._device_name = ""
        self._phase = PHASES[0]
        self._matched: dict[Role, str] = {}

    def _phases(self) -> list[str]:
        """Return the phases a battery may sit on: only L1 on a single-phase site."""
        if self._get_entry().data.get(CONF_PHASE_COUNT, 1) == 3:
            return list(PHASES)
        return [PHASES[0]]

    def _used(self, key: str, own_subentry_id: str | None) -> dict[str, str]:
        """Map the values of `key` in the other batteries' data to their titles."""
        return {
            subentry.data[key]: subentry.title
            for subentry in self._get_entry().subentries.values()
            if subentry.subentry_type == SUBENTRY_BATTERY
            and subentry.subentry_id != own_subentry_id
            and key in subentry.data
        }

    def _used_entities(self, own_subentry_id: str | None) -> set[str]:
        used: set[str] = set()
        for role in Role:
            used |= set(self._used(role.value, own_subentry_id))
        return used

    async def async_step_user(self, user_input: dict[str, Any] | None = None) -> SubentryFlowResult:
        """Choose the battery's device and phase."""
        errors: dict[str, str] = {}
        used_devices = self._used(CONF_DEVICE_ID, None)
        if user_input is not None:
            device_id = user_input[CONF_DEVICE_ID]
            device = dr.async_get(self.hass).async_get(device_id)
            if device_id in used_devices:
                errors[CONF_DEVICE_ID] = "device_in_use"
            elif device is None:
                errors[CONF_DEVICE_ID] = "device_not_found"
            else:
                self._device_id = device_id
                self._device_name = device_name(device)
                self._phase = user_input[CONF_PHASE]
                self._matched = find_battery_entities(self.hass, device_id)
                return await self.async_step_entities()
        devices = [d for d in find_battery_devices(self.hass) if d.device_id not in used_devices]
        if not devices:
            return self.async_abort(reason="no_devices")
        options = [
            SelectOptionDict(
                value=d.device_id, label=f"{d.name} (ESPHome)" if d.esphome else d.name
            )
            for d in devices
        ]
        schema = vol.Schema(
            {
                vol.Required(CONF_DEVICE_ID): SelectSelector(
                    SelectSelectorConfig(options=options, mode=SelectSelectorMode.DROPDOWN)
                ),
                vol.Required(CONF_PHASE): SelectSelector(
                    SelectSelectorConfig(options=self._phases(), mode=SelectSelectorMode.LIST)
                ),
            }
        )
        suggested = user_input or {CONF_DEVICE_ID: devices[0].device_id, CONF_PHASE: PHASES[0]}
        return self.async_show_form(
            step_id="user",
            data_schema=_form_schema(self, schema, suggested),
            errors=errors,
        )

    async def async_step_entities(
        self, user_input: dict[str, Any] | None = None
    ) -> SubentryFlowResult:
        """Confirm or correct the entities found on the device."""
        errors: dict[str, str] = {}
        if user_input is not None:
            errors = self._validate_entities(user_input, None)
            if any(
                sub.unique_id == self._device_id for sub in self._get_entry().subentries.values()
            ):
                # Another flow added this device meanwhile (a form left open in a second tab).
                return self.async_abort(reason="already_configured")
            if not errors:
                return self.async_create_entry(
                    title=self._device_name,
                    data={
                        CONF_DEVICE_ID: self._device_id,
                        CONF_PHASE: self._phase,
                        **_role_data(user_input),
                    },
                    unique_id=self._device_id,
                )
        suggested = user_input or {role.value: eid for role, eid in self._matched.items()}
        missing = [role for role in REQUIRED_ROLES if role not in self._matched]
        return self.async_show_form(
            step_id="entities",
            data_schema=_form_schema(self, _entities_schema(), suggested),
            errors=errors,
            description_placeholders={
                "device": self._device_name,
                "found": str(len(self._matched)),
                "total": str(len(Role)),
                "missing": str(len(missing)),
                "required": str(len(REQUIRED_ROLES)),
            },
        )

    async def async_step_reconfigure(
        self, user_input: dict[str, Any] | None = None
    ) -> SubentryFlowResult:
        """Change a battery's phase and entities."""
        subentry = self._get_reconfigure_subentry()
        errors: dict[str, str] = {}
        if user_input is not None:
            errors = self._validate_entities(user_input, subentry.subentry_id)
            if not errors:
                return self.async_update_and_abort(
                    self._get_entry(),
                    subentry,
                    data={
                        CONF_DEVICE_ID: subentry.data[CONF_DEVICE_ID],
                        CONF_PHASE: user_input[CONF_PHASE],
                        **_role_data(user_input),
                    },
                )
        phases = self._phases()
        schema = vol.Schema(
            {
                vol.Required(CONF_PHASE): SelectSelector(
                    SelectSelectorConfig(options=phases, mode=SelectSelectorMode.LIST)
                ),
                **_entities_schema().schema,
            }
        )
        current = dict(subentry.data)
        if current.get(CONF_PHASE) not in phases:
            current[CONF_PHASE] = phases[0]
        return self.async_show_form(
            step_id="reconfigure",
            data_schema=_form_schema(self, schema, user_input or current),
            errors=errors,
            description_placeholders={"device": subentry.title},
        )

    def _validate_entities(
        self, user_input: dict[str, Any], own_subentry_id: str | None
    ) -> dict[str, str]:
        """Per-field errors for the chosen entities."""
        errors: dict[str, str] = {}
        used = self._used_entities(own_subentry_id)
        seen: set[str] = set()
        for role in Role:
            if not (entity_id := user_input.get(role.value)):
                continue
            if entity_id in seen:
                errors[role.value] = "duplicate_entity"
            elif entity_id in used:
                errors[role.value] = "entity_in_use"
            elif error := validate_battery_entity(self.hass, role, entity_id):
                errors[role.value] = error
            seen.add(entity_id)
        return errors


def _entities_schema() -> vol.Schema:
    """One entity field per role: the required ones first."""
    return vol.Schema(
        {
            (vol.Required if role in REQUIRED_ROLES else vol.Optional)(role.value): _role_selector(
                role
            )
            for role in (*REQUIRED_ROLES, *OPTIONAL_ROLES)
        }
    )


def _role_data(user_input: Mapping[str, Any]) -> dict[str, str]:
    """Return the role keys of the input, without empty optional ones."""
    return {role.value: user_input[role.value] for role in Role if user_input.get(role.value)}
