"""The battery subentry flow: add a battery later, or reconfigure one."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from homeassistant.config_entries import ConfigSubentryFlow, SubentryFlowResult
from homeassistant.helpers.selector import (
    BooleanSelector,
    SelectOptionDict,
    SelectSelector,
    SelectSelectorConfig,
    SelectSelectorMode,
)
import voluptuous as vol

from ..adapters.discovery import (
    FoundBattery,
    device_of,
    enable_entities,
    find_batteries,
    manual_title,
)
from ..adapters.entity_checks import meter_entities, validate_entities
from ..adapters.phases import default_phase
from ..const import CONF_DEVICE_ID, CONF_PHASE, PHASES, SUBENTRY_BATTERY, Role
from .forms import (
    CONF_ENABLE_ENTITIES,
    CONF_MANUAL,
    battery_data,
    battery_phases,
    battery_unique_id,
    enable_placeholders,
    enable_schema,
    entities_fields,
    form_schema,
    found_label,
    found_placeholders,
    phase_selector,
)


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
        phases = battery_phases(self._get_entry().data)
        fields: dict[vol.Marker, Any] = {}
        if choices:
            options = [SelectOptionDict(value=f.key, label=found_label(f)) for f in choices]
            fields[vol.Required(CONF_DEVICE_ID)] = SelectSelector(
                SelectSelectorConfig(options=options, mode=SelectSelectorMode.DROPDOWN)
            )
        fields[vol.Required(CONF_PHASE)] = phase_selector(phases)
        if choices:
            fields[vol.Optional(CONF_MANUAL, default=False)] = BooleanSelector()
        name = choices[0].name if choices else ""
        suggested = user_input or {
            **({CONF_DEVICE_ID: choices[0].key} if choices else {}),
            CONF_PHASE: default_phase(name, self._used_phases(), phases),
        }
        return self.async_show_form(
            step_id="user" if choices else "manual",
            data_schema=form_schema(self, vol.Schema(fields), suggested),
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
                enable_entities(self.hass, found)
            return await self.async_step_entities()
        return self.async_show_form(
            step_id="enable",
            data_schema=form_schema(self, enable_schema(), {}),
            description_placeholders=enable_placeholders(found),
        )

    async def async_step_entities(
        self, user_input: dict[str, Any] | None = None
    ) -> SubentryFlowResult:
        """Confirm or correct the entities found, or pick them by hand."""
        errors: dict[str, str] = {}
        placeholders = found_placeholders(self._device_name, self._matched)
        if user_input is not None:
            errors, placeholders["battery"] = validate_entities(
                self.hass, user_input, self._used_entities(None), meter_entities(self._hub_data)
            )
            found = self._found
            device_id = found.device_id if found else device_of(self.hass, user_input)
            data = battery_data(self.hass, device_id, self._phase, user_input)
            unique_id = battery_unique_id(found, data)
            if found is not None and unique_id in self._used_keys():
                # Another flow added this battery meanwhile (a form left open in a second tab).
                return self.async_abort(reason="already_configured")
            if not errors:
                return self.async_create_entry(
                    title=self._device_name or manual_title(self.hass, user_input, unique_id),
                    data=data,
                    unique_id=unique_id or None,
                )
        suggested = user_input or {role.value: eid for role, eid in self._matched.items()}
        return self.async_show_form(
            step_id="entities",
            data_schema=form_schema(self, vol.Schema(entities_fields()), suggested),
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
                    data=battery_data(
                        self.hass,
                        subentry.data.get(CONF_DEVICE_ID),
                        user_input[CONF_PHASE],
                        user_input,
                    ),
                )
        phases = battery_phases(self._get_entry().data)
        schema = vol.Schema({vol.Required(CONF_PHASE): phase_selector(phases), **entities_fields()})
        current = dict(subentry.data)
        if current.get(CONF_PHASE) not in phases:
            current[CONF_PHASE] = phases[0]
        return self.async_show_form(
            step_id="reconfigure",
            data_schema=form_schema(self, schema, user_input or current),
            errors=errors,
            description_placeholders={"device": subentry.title, "battery": owner},
        )
