"""The phases in names: the phase a device or sensor says, and the meter's phase sensors.

A new battery's phase is proposed from its name; the three phase power (and current) sensors
are proposed from the grid sensor's own device.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
import re
from typing import Final

from homeassistant.core import HomeAssistant, split_entity_id
from homeassistant.helpers import entity_registry as er
from homeassistant.util import slugify

from ..const import CONF_PHASE_CURRENT_SENSORS, CONF_PHASE_SENSORS, PHASES
from .entity_checks import validate_current_sensor, validate_power_sensor

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
