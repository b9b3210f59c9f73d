"""Reading Home Assistant states into the values readings.py judges, and the meter's reports.

The judging itself (what makes a meter or a battery unusable: units, plausibility, liveness,
total against phases) is in readings.py, through inputs.py; this module only fetches states,
follows the meter's own reports on a monotonic clock and asks the meter for a fresh reading.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
import time
from typing import Any

from homeassistant.const import ATTR_ENTITY_ID, STATE_UNKNOWN
from homeassistant.core import Event, HomeAssistant, State, callback
from homeassistant.exceptions import HomeAssistantError

from ..const import LOGGER, Role
from ..core import model
from ..core.control import RS485_ENABLE_OPTION, Commanded
from ..core.model import Mode
from ..core.readings import (
    UNAVAILABLE_STATES,
    Agreement,
    BatterySettings,
    BatteryValues,
    Cause,
    Mismatch,
    Problem,
    ReportClock,
    agreement,
    battery_reading,
)
from . import inputs
from .batteries import BatteryConfig
from .profiles import canonical_state, profile_named

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
    hold: bool = False  # total and phases disagree, not yet for long: hold still, no writes
    phase_a: Mapping[str, float] = field(default_factory=dict)  # A, signed; NaN: unusable


class Reader:
    """Reads the meter and the batteries' entities."""

    def __init__(
        self,
        hass: HomeAssistant,
        grid_sensor: str,
        phase_sensors: Mapping[str, str],
        stale_s: float,
        refresh_meter: bool,
        *,
        fuse_a: float,
        current_sensors: Mapping[str, str] | None = None,
    ) -> None:
        """Read grid_sensor and phase_sensors (phase -> entity id) on a fuse_a connection.

        current_sensors (phase -> entity id) give phase currents for the phase limits; their
        stale timeout is the meter's (stale_s).
        """
        self.hass = hass
        self.grid_sensor = grid_sensor
        self.phase_sensors = dict(phase_sensors)
        self.stale_s = stale_s
        self.refresh_meter = refresh_meter
        self.fuse_a = fuse_a
        self.monotonic: Callable[[], float] = time.monotonic  # ages never use the wall clock
        self.meter = inputs.MeterInput(hass, grid_sensor, phase_sensors, current_sensors)
        self._mismatch = Mismatch()  # total against phases over time (readings.agreement)
        self._refresh_failed = False
        self._refreshing = False
        self.meter_reported: Callable[[], None] | None = None  # the grid sensor's own reports

    @property
    def meter_entities(self) -> list[str]:
        """Return the grid sensor and the phase sensors."""
        return self.meter.entities

    @property
    def followed_entities(self) -> list[str]:
        """Return the meter's power and current sensors (their reports are followed)."""
        return self.meter.followed

    @property
    def clock(self) -> ReportClock:
        """Return the one clock of reports (the meter's, and the batteries' sensors)."""
        return self.meter.clock

    @callback
    def async_reported(self, event: Event[Any]) -> None:
        """Note a report; one we caused by refreshing the meter is marked as ours.

        homeassistant.update_entity rewrites an entity's state, which moves last_reported
        even when the meter is dead: reports made while we refresh do not make it live.
        """
        entity_id = event.data[ATTR_ENTITY_ID]
        self.meter.clock.report(entity_id, self.monotonic(), own=self._refreshing)
        if entity_id == self.grid_sensor and not self._refreshing and self.meter_reported:
            self.meter_reported()  # the meter pace runs a cycle on it (adapters/loop.py)

    async def async_read_meter(self) -> MeterReading:
        """Refresh the meter if configured, then read and judge it (readings.judge_meter)."""
        if self.refresh_meter:
            await self._async_refresh()
        now = self.monotonic()
        verdict = self.meter.judge(now, self.stale_s, self.fuse_a)
        if verdict.cause is not None:
            return MeterReading(0.0, cause=verdict.cause, cause_entity_id=verdict.entity_id)
        agree, self._mismatch = agreement(self._mismatch, verdict.disagree, now)
        if agree is Agreement.FAULT:
            return MeterReading(
                0.0, cause=Cause.METER_INCONSISTENT, cause_entity_id=self.grid_sensor
            )
        # A silent entity vouched for by the others (defect 8) does not age the readings.
        oldest = max(
            (
                self.meter.clock.age(entity_id, now) or 0.0
                for entity_id in self.meter_entities
                if entity_id != verdict.vouched
            ),
            default=0.0,
        )
        fresh_until = asyncio.get_running_loop().time() + self.stale_s - oldest
        return MeterReading(
            verdict.grid_w,
            dict(verdict.phase_w),
            fresh_until=fresh_until,
            hold=agree is Agreement.PENDING,
            phase_a=self.meter.judge_currents(now, self.stale_s, verdict.phase_w),
        )

    async def _async_refresh(self) -> None:
        """Ask the meter's integration for a fresh reading (the seed does this too)."""
        self.meter.seed(self.monotonic())  # before the refresh moves last_reported
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
        """Return a battery entity's state in the integration's words (its connector's profile)."""
        entity_id = battery.entities.get(role)
        state = self.hass.states.get(entity_id) if entity_id else None
        return canonical_state(profile_named(battery.connector), role, state)

    def _value(self, battery: BatteryConfig, role: Role) -> float | None:
        return inputs.value(self._state(battery, role), role)  # powers in W, unit read now

    def states(self, battery: BatteryConfig) -> dict[Role, State | None]:
        """Return the states of one battery's entities, per role."""
        return {role: self._state(battery, role) for role in battery.entities}

    def read_battery(
        self,
        battery: BatteryConfig,
        settings: BatterySettings,
        meter: MeterReading,
        excluded: Problem | None = None,
    ) -> tuple[model.BatteryReading, Problem | None]:
        """Read one battery; it sees its phase's power, or the grid's without a phase sensor.

        excluded is the read-back's verdict (readback.py) that takes it out this cycle.
        """
        control_ok = True
        control_missing = False
        for role in _CONTROL_ROLES:
            if role not in battery.entities:
                continue
            state = self._state(battery, role)
            if state is None:
                control_ok, control_missing = False, True
            elif role is Role.RS485_MODE and state.state == STATE_UNKNOWN:
                pass  # not yet enabled (read-back): enable is written, the battery stays
            elif state.state in UNAVAILABLE_STATES:
                control_ok = False

        def attr_max(role: Role) -> float | None:
            return inputs.max_w(self._state(battery, role))

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
            unit_ok=inputs.units_ok(self.states(battery)),
            excluded=excluded,
        )
        if battery.phase in meter.phase_w:
            phase_w, phase_a = meter.phase_w[battery.phase], meter.phase_a.get(battery.phase)
            return battery_reading(values, settings, phase_w, battery.phase, phase_a)
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
