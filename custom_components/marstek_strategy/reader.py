"""Reading Home Assistant states into the values readings.py judges, and the meter's reports.

The judging itself (what makes a meter or a battery unusable) is in readings.py; this module
only fetches states, follows the meter's own reports and asks the meter for a fresh reading.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from homeassistant.const import ATTR_ENTITY_ID, ATTR_UNIT_OF_MEASUREMENT, UnitOfPower
from homeassistant.core import Event, HomeAssistant, State, callback
from homeassistant.exceptions import HomeAssistantError
from homeassistant.util import dt as dt_util
from homeassistant.util.unit_conversion import PowerConverter

from . import engine
from .batteries import BatteryConfig
from .const import LOGGER, Role
from .control import RS485_ENABLE_OPTION, Commanded
from .engine import Mode
from .readings import (
    UNAVAILABLE_STATES,
    BatterySettings,
    BatteryValues,
    Cause,
    Problem,
    battery_reading,
    meter_problem,
    parse_number,
)

REFRESH_TIMEOUT_S = 5.0
# Control entities a battery cannot be driven without (RS485 only where configured).
_CONTROL_ROLES = (
    Role.SOC,
    Role.FORCIBLE_MODE,
    Role.CHARGE_POWER,
    Role.DISCHARGE_POWER,
    Role.RS485_MODE,
)


@dataclass(frozen=True, slots=True)
class MeterReading:
    """The meter this cycle: grid and phase powers in W, or why it cannot be used.

    fresh_until is the event-loop time at which the oldest of the values read becomes older
    than the stale timeout.
    """

    grid_w: float
    phase_w: Mapping[str, float] = field(default_factory=dict)
    cause: Cause | None = None
    cause_entity_id: str | None = None
    fresh_until: float | None = None


class Reader:
    """Reads the meter and the batteries' entities."""

    def __init__(
        self,
        hass: HomeAssistant,
        grid_sensor: str,
        phase_sensors: Mapping[str, str],
        stale_s: float,
        refresh_meter: bool,
    ) -> None:
        """Read grid_sensor and phase_sensors (phase -> entity id)."""
        self.hass = hass
        self.grid_sensor = grid_sensor
        self.phase_sensors = dict(phase_sensors)
        self.stale_s = stale_s
        self.refresh_meter = refresh_meter
        self._refresh_failed = False
        self._refreshing = False
        # Last time each meter entity reported by itself (not because we asked it to).
        self._reported: dict[str, datetime] = {}

    @property
    def meter_entities(self) -> list[str]:
        """Return the grid sensor and the phase sensors."""
        return [self.grid_sensor, *self.phase_sensors.values()]

    @callback
    def async_reported(self, event: Event[Any]) -> None:
        """Note a meter report (not one we caused by refreshing it).

        homeassistant.update_entity rewrites an entity's state, which moves last_reported
        even when the meter is dead; reports made while we refresh are not counted.
        """
        if not self._refreshing:
            self._reported[event.data[ATTR_ENTITY_ID]] = dt_util.utcnow()

    async def async_read_meter(self) -> MeterReading:
        """Refresh the meter if configured, then read it."""
        if self.refresh_meter:
            await self._async_refresh()
        now = asyncio.get_running_loop().time()
        grid_w, cause, age_s = self._read(self.grid_sensor)
        oldest = age_s
        phase_w: dict[str, float] = {}
        if cause is not None:
            return MeterReading(0.0, cause=cause, cause_entity_id=self.grid_sensor)
        for phase, entity_id in self.phase_sensors.items():
            value, cause, age_s = self._read(entity_id)
            if cause is not None:
                return MeterReading(0.0, cause=cause, cause_entity_id=entity_id)
            phase_w[phase] = value
            oldest = max(oldest, age_s)
        return MeterReading(grid_w, phase_w, fresh_until=now + self.stale_s - oldest)

    def _seed_reports(self) -> None:
        """Take last_reported as the meter's own last report until we see one."""
        for entity_id in self.meter_entities:
            if entity_id not in self._reported and (state := self.hass.states.get(entity_id)):
                self._reported[entity_id] = state.last_reported

    def _read(self, entity_id: str) -> tuple[float, Cause | None, float]:
        """Return a meter's power in W, why it cannot be used, and its age in seconds."""
        state = self.hass.states.get(entity_id)
        age_s = None
        if state is not None:
            reported = self._reported.get(entity_id, state.last_reported)
            age_s = (dt_util.utcnow() - reported).total_seconds()
        cause = meter_problem(state.state if state else None, age_s, self.stale_s)
        if cause is not None or state is None or age_s is None:
            return 0.0, cause, 0.0
        value = float(state.state)
        unit = state.attributes.get(ATTR_UNIT_OF_MEASUREMENT)
        if unit in (None, UnitOfPower.WATT):
            return value, None, age_s
        if unit not in PowerConverter.VALID_UNITS:
            return 0.0, Cause.METER_INVALID, age_s
        return PowerConverter.convert(value, unit, UnitOfPower.WATT), None, age_s

    async def _async_refresh(self) -> None:
        """Ask the meter's integration for a fresh reading (the seed does this too)."""
        self._seed_reports()
        self._refreshing = True
        try:
            async with asyncio.timeout(REFRESH_TIMEOUT_S):
                await self.hass.services.async_call(
                    "homeassistant",
                    "update_entity",
                    {ATTR_ENTITY_ID: self.meter_entities},
                    blocking=True,
                )
        except (HomeAssistantError, TimeoutError) as err:
            if not self._refresh_failed:
                LOGGER.warning("Could not refresh the meter entities: %s", err)
                self._refresh_failed = True
        else:
            if self._refresh_failed:
                LOGGER.info("Refreshing the meter entities works again")
                self._refresh_failed = False
        finally:
            self._refreshing = False

    # ------------------------------------------------------------------ batteries

    def _state(self, battery: BatteryConfig, role: Role) -> State | None:
        entity_id = battery.entities.get(role)
        return self.hass.states.get(entity_id) if entity_id else None

    def _value(self, battery: BatteryConfig, role: Role) -> float | None:
        state = self._state(battery, role)
        return parse_number(state.state) if state else None

    def read_battery(
        self,
        battery: BatteryConfig,
        settings: BatterySettings,
        meter: MeterReading,
    ) -> tuple[engine.BatteryReading, Problem | None]:
        """Read one battery; it sees its phase's power, or the grid's without a phase sensor."""
        control_ok = True
        control_missing = False
        for role in _CONTROL_ROLES:
            if role not in battery.entities:
                continue
            state = self._state(battery, role)
            if state is None:
                control_ok, control_missing = False, True
            elif state.state in UNAVAILABLE_STATES:
                control_ok = False

        def attr_max(role: Role) -> float | None:
            state = self._state(battery, role)
            return parse_number(str(state.attributes.get("max"))) if state else None

        values = BatteryValues(
            soc=self._value(battery, Role.SOC),
            control_ok=control_ok,
            control_missing=control_missing,
            own_charge_cutoff=self._value(battery, Role.CHARGE_CUTOFF),
            own_discharge_cutoff=self._value(battery, Role.DISCHARGE_CUTOFF),
            own_max_charge_w=self._value(battery, Role.MAX_CHARGE_POWER),
            own_max_discharge_w=self._value(battery, Role.MAX_DISCHARGE_POWER),
            target_max_charge_w=attr_max(Role.CHARGE_POWER),
            target_max_discharge_w=attr_max(Role.DISCHARGE_POWER),
        )
        if battery.phase in meter.phase_w:
            return battery_reading(values, settings, meter.phase_w[battery.phase], battery.phase)
        return battery_reading(values, settings, meter.grid_w)

    def commanded(self, batteries: Sequence[BatteryConfig]) -> list[Commanded]:
        """Return what the batteries' entities say they are set to now."""
        return [self._commanded(battery) for battery in batteries]

    def _commanded(self, battery: BatteryConfig) -> Commanded:
        mode_state = self._state(battery, Role.FORCIBLE_MODE)
        mode = Mode.STOP
        if mode_state is not None and mode_state.state in set(Mode):
            mode = Mode(mode_state.state)
        rs485 = self._state(battery, Role.RS485_MODE)
        return Commanded(
            mode=mode,
            charge_w=int(self._value(battery, Role.CHARGE_POWER) or 0),
            discharge_w=int(self._value(battery, Role.DISCHARGE_POWER) or 0),
            rs485_enabled=rs485 is not None and rs485.state == RS485_ENABLE_OPTION,
        )
