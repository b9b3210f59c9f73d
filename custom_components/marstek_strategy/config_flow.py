"""Config flow: the hub with its first batteries, options, reconfigure, and "Add battery"."""

from __future__ import annotations

from collections.abc import Mapping
import math
from typing import TYPE_CHECKING, Any

from homeassistant.config_entries import (
    SOURCE_RECONFIGURE,
    ConfigFlow,
    ConfigFlowResult,
    ConfigSubentryData,
    ConfigSubentryFlow,
    OptionsFlow,
)
from homeassistant.core import callback
from homeassistant.helpers.selector import (
    NumberSelector,
    NumberSelectorConfig,
    NumberSelectorMode,
    SelectOptionDict,
    SelectSelector,
    SelectSelectorConfig,
    SelectSelectorMode,
)
import voluptuous as vol

from .adapters.discovery import (
    FoundBattery,
    device_of,
    enable_entities,
    find_batteries,
    manual_title,
)
from .adapters.entity_checks import (
    battery_entity_error,
    current_errors,
    meter_entities,
    validate_entities,
    validate_power_sensor,
)
from .adapters.phases import default_phase, phase_currents_near, phase_sensors_near
from .const import (
    CONF_CONNECTOR,
    CONF_DEVICE_ID,
    CONF_GRID_SENSOR,
    CONF_PHASE,
    CONF_PHASE_COUNT,
    CONF_PHASE_CURRENT_SENSORS,
    CONF_PHASE_SENSORS,
    DOMAIN,
    NEW_HUB_OPTIONS,
    SUBENTRY_BATTERY,
)
from .flow.battery import BatterySubentryFlow
from .flow.forms import (
    CONF_BATTERIES,
    CONF_ENABLE_ENTITIES,
    CONF_MANUAL,
    MAX_MANUAL,
    TITLE,
    battery_data,
    battery_phases,
    battery_unique_id,
    current_sensor_selector,
    enable_placeholders,
    enable_schema,
    entities_fields,
    form_schema,
    found_label,
    found_placeholders,
    phase_selector,
    power_sensor_selector,
)
from .flow.options import MarstekStrategyOptionsFlow

if TYPE_CHECKING:
    from .coordinator import MarstekConfigEntry

__all__ = ["BatterySubentryFlow", "MarstekStrategyConfigFlow", "MarstekStrategyOptionsFlow"]


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
                vol.Required(CONF_GRID_SENSOR): power_sensor_selector(),
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
            data_schema=form_schema(self, schema, suggested),
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
            errors.update(current_errors(self.hass, user_input, seen, self._battery_data()))
            if not errors:
                self._meter.update({key: user_input[key] for key in CONF_PHASE_SENSORS})
                self._meter.update(
                    {k: user_input[k] for k in CONF_PHASE_CURRENT_SENSORS if user_input.get(k)}
                )
                return await self._async_meter_done()
        keys = (*CONF_PHASE_SENSORS, *CONF_PHASE_CURRENT_SENSORS)
        suggested = user_input or {key: current[key] for key in keys if key in current}
        fields: dict[vol.Marker, Any] = {
            vol.Required(key): power_sensor_selector() for key in CONF_PHASE_SENSORS
        }
        fields.update(
            {vol.Optional(k): current_sensor_selector() for k in CONF_PHASE_CURRENT_SENSORS}
        )
        schema = vol.Schema(fields)
        return self.async_show_form(
            step_id=step_id,
            data_schema=form_schema(self, schema, suggested),
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
            count = user_input.get(CONF_MANUAL) or 0
            manual = int(count) if math.isfinite(count) else 0  # NaN passes its selector
            self._queue += [f"{CONF_MANUAL}:{index}" for index in range(1, manual + 1)]
            self._count = len(self._queue)
            return await self.async_step_battery()
        options = [
            SelectOptionDict(value=key, label=found_label(found))
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
            data_schema=form_schema(self, schema, {CONF_BATTERIES: list(self._devices)}),
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
        phases = battery_phases(self._meter)
        used = {
            entity_id: str(battery["title"])
            for battery in self._batteries
            for key, entity_id in battery["data"].items()
            if key not in (CONF_DEVICE_ID, CONF_PHASE, CONF_CONNECTOR)
        }
        placeholders = {
            **found_placeholders(name, device.matched if device else {}),
            "index": str(index),
            "count": str(self._count),
        }
        errors: dict[str, str] = {}
        if user_input is not None:
            errors, placeholders["battery"] = validate_entities(
                self.hass, user_input, used, meter_entities(self._meter)
            )
            if not errors:
                device_id = device.device_id if device else device_of(self.hass, user_input)
                data = battery_data(self.hass, device_id, user_input[CONF_PHASE], user_input)
                self._batteries.append(
                    ConfigSubentryData(
                        data=data,
                        subentry_type=SUBENTRY_BATTERY,
                        title=name if device else manual_title(self.hass, user_input, name),
                        unique_id=battery_unique_id(device, data),
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
        schema = vol.Schema({vol.Required(CONF_PHASE): phase_selector(phases), **entities_fields()})
        return self.async_show_form(
            step_id="battery",
            data_schema=form_schema(self, schema, suggested),
            errors=errors,
            description_placeholders=placeholders,
        )

    async def async_step_enable(self, user_input: dict[str, Any] | None = None) -> ConfigFlowResult:
        """Name the control entities the connector created disabled, and offer to enable them."""
        found = self._devices[self._queue[0]]
        if user_input is not None:
            if user_input.get(CONF_ENABLE_ENTITIES):
                enable_entities(self.hass, found)
            self._enabled.add(found.key)
            return await self.async_step_battery()
        return self.async_show_form(
            step_id="enable",
            data_schema=form_schema(self, enable_schema(), {}),
            description_placeholders=enable_placeholders(found),
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
