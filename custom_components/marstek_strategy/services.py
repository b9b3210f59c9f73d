"""The service ``marstek_strategy.set_grid_mode``: a planner tells the hub what to do with the grid.

EMHASS, a Nord Pool or ENTSO-e automation or evcc says charge, discharge, hold or zero, with a
power and an end (a time, a duration or a target state of charge); the hub carries it out with
its strategy and every limit (grid_mode.py). Invalid input raises ServiceValidationError with
a translated message; the response is the request in force.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from homeassistant.config_entries import ConfigEntryState
from homeassistant.core import HomeAssistant, ServiceCall, ServiceResponse, SupportsResponse
from homeassistant.exceptions import HomeAssistantError, ServiceValidationError
from homeassistant.helpers import config_validation as cv
from homeassistant.util import dt as dt_util
import voluptuous as vol

from .const import (
    ATTR_CONFIG_ENTRY_ID,
    ATTR_DURATION,
    ATTR_MODE,
    ATTR_POWER,
    ATTR_SOAK,
    ATTR_TARGET_SOC,
    ATTR_UNTIL,
    DOMAIN,
    SERVICE_SET_GRID_MODE,
)
from .core import grid_mode
from .core.grid_mode import MAX_LENGTH, MAX_POWER_W, GridMode, GridRequest

if TYPE_CHECKING:
    from .coordinator import MarstekConfigEntry

SET_GRID_MODE_SCHEMA = vol.Schema(
    {
        vol.Optional(ATTR_CONFIG_ENTRY_ID): cv.string,
        vol.Required(ATTR_MODE): vol.In([mode.value for mode in GridMode]),
        vol.Optional(ATTR_POWER): vol.Coerce(float),
        vol.Optional(ATTR_UNTIL): cv.datetime,
        vol.Optional(ATTR_DURATION): cv.time_period,
        vol.Optional(ATTR_TARGET_SOC): vol.Coerce(float),
        vol.Optional(ATTR_SOAK): cv.boolean,
    }
)


def _invalid(key: str, **placeholders: str) -> ServiceValidationError:
    return ServiceValidationError(
        translation_domain=DOMAIN,
        translation_key=key,
        translation_placeholders={
            "max_power": str(MAX_POWER_W),
            "max_hours": f"{MAX_LENGTH.total_seconds() / 3600:g}",
            **placeholders,
        },
    )


def _entry(hass: HomeAssistant, entry_id: str | None) -> MarstekConfigEntry:
    """Return the hub the call is for: the one given, else the only one loaded."""
    if entry_id is not None:
        entry = hass.config_entries.async_get_entry(entry_id)
        if entry is None or entry.domain != DOMAIN:
            raise _invalid("hub_not_found", entry_id=entry_id)
        if entry.state is not ConfigEntryState.LOADED:
            raise _invalid("hub_not_loaded", entry_id=entry_id)
        return entry
    loaded = [
        entry
        for entry in hass.config_entries.async_entries(DOMAIN)
        if entry.state is ConfigEntryState.LOADED
    ]
    if len(loaded) != 1:
        raise _invalid("hub_required", count=str(len(loaded)))
    return loaded[0]


def _aware(moment: datetime | None) -> datetime | None:
    """Return a time with a time zone (a time without one is Home Assistant's local time)."""
    if moment is None or moment.tzinfo is not None:
        return moment
    return moment.replace(tzinfo=dt_util.get_default_time_zone())


def response(current: GridRequest) -> dict[str, Any]:
    """Return the request in force as the service responds with it."""
    return {
        "mode": current.mode.value,
        "power": current.power_w,
        "until": None if current.until is None else dt_util.as_local(current.until).isoformat(),
        "target_soc": current.target_soc,
        "soak": current.soak,
    }


async def async_set_grid_mode(call: ServiceCall) -> ServiceResponse:
    """Validate the call, put the request in force (stored), respond with it."""
    entry = _entry(call.hass, call.data.get(ATTR_CONFIG_ENTRY_ID))
    data = entry.runtime_data
    mode = GridMode(call.data[ATTR_MODE])
    power: float | None = call.data.get(ATTR_POWER)
    until = _aware(call.data.get(ATTR_UNTIL))
    duration: timedelta | None = call.data.get(ATTR_DURATION)
    target_soc: float | None = call.data.get(ATTR_TARGET_SOC)
    now = dt_util.utcnow()
    asked = power
    if power is None and mode in (GridMode.CHARGE, GridMode.DISCHARGE):
        power = data.settings.requested_power_w  # the Requested power number's
    key = grid_mode.problem(
        mode, now, power_w=power, until=until, duration=duration, target_soc=target_soc
    )
    if key is not None:
        raise _invalid(key)
    request = grid_mode.request(
        mode,
        now,
        power_w=power or 0.0,
        until=until,
        duration=duration,
        target_soc=target_soc,
        soak=call.data.get(ATTR_SOAK, True),
    )
    await _async_put_in_force(entry, request)
    if asked is not None and mode is not GridMode.ZERO:
        data.settings.requested_power_w = asked  # the number shows the power in force
        data.save_settings()
    return response(request) if call.return_response else None


async def _async_put_in_force(entry: MarstekConfigEntry, request: GridRequest) -> None:
    """Put request in force; a store that cannot be written is a clear error, no change."""
    try:
        await entry.runtime_data.coordinator.async_set_grid_request(request)
    except Exception as err:  # the store's write (an OSError its Store does not catch)
        raise HomeAssistantError(
            translation_domain=DOMAIN,
            translation_key="grid_mode_not_stored",
            translation_placeholders={"error": str(err)},
        ) from err


async def async_set_power(entry: MarstekConfigEntry, power_w: float) -> None:
    """Change the requested power; a charge or discharge in force takes it (same end)."""
    data = entry.runtime_data
    current = data.coordinator.grid.request
    running = current.mode in (GridMode.CHARGE, GridMode.DISCHARGE)
    if running and not power_w:
        raise _invalid("power_required")
    if running:
        await _async_put_in_force(entry, replace(current, power_w=power_w))
    data.settings.requested_power_w = power_w
    data.save_settings()


async def async_select_mode(entry: MarstekConfigEntry, mode: GridMode) -> None:
    """Put mode in force from the select: the requested power, at most MAX_LENGTH long."""
    data = entry.runtime_data
    now = dt_util.utcnow()
    power = data.settings.requested_power_w if mode is not GridMode.ZERO else None
    key = grid_mode.problem(mode, now, power_w=power)
    if key is not None:
        raise _invalid(key)
    await _async_put_in_force(entry, grid_mode.request(mode, now, power_w=power or 0.0))


def async_setup_services(hass: HomeAssistant) -> None:
    """Register the integration's services (once, in async_setup)."""
    hass.services.async_register(
        DOMAIN,
        SERVICE_SET_GRID_MODE,
        async_set_grid_mode,
        # Home Assistant 2026 types schemas as probatio's (voluptuous is probatio at run time)
        schema=SET_GRID_MODE_SCHEMA,  # type: ignore[arg-type, unused-ignore]
        supports_response=SupportsResponse.OPTIONAL,
    )
