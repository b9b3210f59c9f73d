"""The control loop: read and validate states, run the engine and policy, write the batteries."""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime
from enum import StrEnum
import math
import time
from typing import Any, Final

from homeassistant.config_entries import ConfigEntry, ConfigSubentry
from homeassistant.const import ATTR_ENTITY_ID, ATTR_UNIT_OF_MEASUREMENT, STATE_UNAVAILABLE
from homeassistant.core import (
    CALLBACK_TYPE,
    Context,
    Event,
    HassJob,
    HomeAssistant,
    State,
    callback,
)
from homeassistant.exceptions import HomeAssistantError
from homeassistant.helpers import entity_registry as er, issue_registry as ir
from homeassistant.helpers.event import (
    async_call_later,
    async_track_entity_registry_updated_event,
    async_track_state_change_event,
    async_track_state_report_event,
)
from homeassistant.helpers.update_coordinator import DataUpdateCoordinator
from homeassistant.util import dt as dt_util

from . import control, engine, inputs, readback
from .const import (
    CONF_DRY_RUN,
    CONF_GRID_SENSOR,
    CONF_INTERVAL,
    CONF_KEEPALIVE,
    CONF_MAIN_FUSE_A,
    CONF_PHASE,
    CONF_PHASE_COUNT,
    CONF_PHASE_SENSORS,
    CONF_REFRESH_METER,
    CONF_SETTLE_DELAY,
    CONF_STALE_TIMEOUT,
    DEFAULT_MAIN_FUSE_A,
    DEFAULT_OPTIONS,
    DOMAIN,
    LOGGER,
    PHASES,
    SUBENTRY_BATTERY,
    Role,
)
from .control import Commanded, Write, WriteKind
from .engine import Mode, Plan, Setpoint
from .readings import (
    SHOWN_PROBLEMS,
    UNAVAILABLE_STATES,
    Agreement,
    BatterySettings,
    BatteryValues,
    Cause,
    Problem,
    Settings,
    agreement,
    battery_reading,
    from_watts,
    parse_number,
    to_watts,
)

WRITE_TIMEOUT_S = 10.0
REFRESH_TIMEOUT_S = 5.0
WRITE_LOG_SIZE = 200
START_DELAY_S = 0.0

# Which entity a write goes to, the service that writes it, and the service's value key.
_WRITE_TARGETS: Final[dict[WriteKind, tuple[Role, str, str, str]]] = {
    WriteKind.RS485_ENABLE: (Role.RS485_MODE, "select", "select_option", "option"),
    WriteKind.CHARGE_POWER: (Role.CHARGE_POWER, "number", "set_value", "value"),
    WriteKind.DISCHARGE_POWER: (Role.DISCHARGE_POWER, "number", "set_value", "value"),
    WriteKind.MODE: (Role.FORCIBLE_MODE, "select", "select_option", "option"),
}
# Control entities a battery cannot be driven without (RS485 only where configured).
_CONTROL_ROLES = (
    Role.SOC,
    Role.FORCIBLE_MODE,
    Role.CHARGE_POWER,
    Role.DISCHARGE_POWER,
    Role.RS485_MODE,
)
RS485_ENABLE = control.RS485_ENABLE_OPTION
_UNREACHABLE = (Problem.ENTITY_UNAVAILABLE, Problem.ENTITY_MISSING)
_COMMANDED_ROLES = (Role.FORCIBLE_MODE, Role.CHARGE_POWER, Role.DISCHARGE_POWER, Role.RS485_MODE)


class Status(StrEnum):
    """What the loop did in its last cycle."""

    RUNNING = "running"
    SETTLING = "settling"
    DISABLED = "disabled"
    DRY_RUN = "dry_run"
    FAIL_SAFE = "fail_safe"


# Reasons shown for a battery besides the engine's own.
REASON_FAIL_SAFE = "fail_safe"
REASON_DISABLED = "disabled"


@dataclass(frozen=True, slots=True)
class BatteryConfig:
    """One configured battery: its subentry and the LilyGo entities per role."""

    subentry_id: str
    title: str
    phase: str
    entities: Mapping[Role, str]

    @classmethod
    def from_subentry(cls, subentry: ConfigSubentry) -> BatteryConfig:
        """Build from a battery subentry."""
        return cls(
            subentry_id=subentry.subentry_id,
            title=subentry.title,
            phase=str(subentry.data.get(CONF_PHASE, PHASES[0])),
            entities={role: subentry.data[role] for role in Role if subentry.data.get(role)},
        )


@dataclass(frozen=True, slots=True)
class WriteRecord:
    """One write, as the write log keeps it."""

    time: datetime
    battery: str
    kind: WriteKind
    entity_id: str | None
    value: int | str
    result: str  # ok, failed, skipped, dry_run
    detail: str | None = None
    context_id: str | None = None


@dataclass(frozen=True, slots=True)
class BatteryState:
    """One battery in one cycle: what was read, why it is out, what it was told."""

    reading: engine.BatteryReading | None
    problem: Problem | None
    setpoint: Setpoint
    reason: str


@dataclass(frozen=True, slots=True)
class CycleData:
    """The outcome of one cycle, shown by the sensors and diagnostics."""

    time: datetime
    status: Status
    delay_s: float
    cause: Cause | None = None
    cause_entity_id: str | None = None
    grid_w: float | None = None
    engine_grid_w: float | None = None
    batteries: Mapping[str, BatteryState] = field(default_factory=dict)
    writes: tuple[WriteRecord, ...] = ()

    @property
    def total_setpoint_w(self) -> int:
        """Sum of the setpoints, positive discharging, negative charging."""
        return sum(signed_power(state.setpoint) for state in self.batteries.values())


def signed_power(setpoint: Setpoint) -> int:
    """Return the setpoint as the energy dashboard counts battery power (discharge > 0)."""
    if setpoint.mode is Mode.DISCHARGE:
        return setpoint.power_w
    if setpoint.mode is Mode.CHARGE:
        return -setpoint.power_w
    return 0


@dataclass(slots=True)
class MarstekData:
    """Runtime data of a config entry: the loop and the user's settings."""

    coordinator: MarstekCoordinator
    settings: Settings


type MarstekConfigEntry = ConfigEntry[MarstekData]


def battery_configs(entry: ConfigEntry) -> list[BatteryConfig]:
    """Return the entry's batteries in subentry order."""
    return [
        BatteryConfig.from_subentry(subentry)
        for subentry in entry.subentries.values()
        if subentry.subentry_type == SUBENTRY_BATTERY
    ]


def _all_done(records: Iterable[WriteRecord]) -> bool:
    """Return whether every write was made (or simulated in dry-run)."""
    return all(record.result in ("ok", "dry_run") for record in records)


def _reduces(write: Write) -> bool:
    """Return whether a write can only lower a battery's power (stop, or 0 W)."""
    return write.value in (0, Mode.STOP.value)


def _number_value(state: State, value: float) -> float:
    """Clamp and round value to a number entity's min, max and step."""
    low = parse_number(str(state.attributes.get("min")))
    high = parse_number(str(state.attributes.get("max")))
    step = parse_number(str(state.attributes.get("step")))
    if step is not None and step > 0:
        base = low if low is not None else 0.0
        value = base + round((value - base) / step) * step
    if high is not None:
        value = min(value, high)
    if low is not None:
        value = max(value, low)
    return value


class MarstekCoordinator(DataUpdateCoordinator[CycleData | None]):
    """Runs one control cycle, then waits the policy's delay before the next."""

    config_entry: MarstekConfigEntry

    def __init__(self, hass: HomeAssistant, entry: MarstekConfigEntry, settings: Settings) -> None:
        """Set up the loop for entry; it starts with async_start."""
        super().__init__(hass, LOGGER, config_entry=entry, name=entry.title)
        self.settings = settings
        self.batteries = battery_configs(entry)
        for battery in self.batteries:
            settings.batteries.setdefault(battery.subentry_id, BatterySettings())
        options = {**DEFAULT_OPTIONS, **entry.options}
        self.interval_s = float(options[CONF_INTERVAL])
        self.settle_s = float(options[CONF_SETTLE_DELAY])
        self.stale_s = float(options[CONF_STALE_TIMEOUT])
        self.refresh_meter = bool(options[CONF_REFRESH_METER])
        self.keepalive_s = float(options[CONF_KEEPALIVE])  # 0: off
        self.dry_run = bool(options[CONF_DRY_RUN])
        self.grid_sensor: str = entry.data[CONF_GRID_SENSOR]
        self.phase_sensors: dict[str, str] = {}
        if int(entry.data.get(CONF_PHASE_COUNT, 1)) == 3:
            self.phase_sensors = {
                phase: entry.data[key]
                for phase, key in zip(PHASES, CONF_PHASE_SENSORS, strict=True)
                if entry.data.get(key)
            }
        self.has_rs485 = [Role.RS485_MODE in battery.entities for battery in self.batteries]
        self.write_log: deque[WriteRecord] = deque(maxlen=WRITE_LOG_SIZE)
        self.commanded: list[Commanded] | None = None  # None until the first cycle
        self.plan: Plan | None = None
        self._last_keepalive: datetime | None = None
        self._lock = asyncio.Lock()
        self._unsub_timer: CALLBACK_TYPE | None = None
        self._started = False
        self._switched_early = False  # the switch changed before the loop started
        self._stopped = False
        self._disabled_stopped = False
        self._disabling = False
        self._fail_safe: Cause | None = None
        self._problems: dict[str, Problem | None] = {}
        self._failing_targets: set[str] = set()
        self._refresh_failed = False
        self._refreshing = False
        self._resync = False
        self._own_contexts: deque[str] = deque(maxlen=100)
        # safety-inputs: plausibility, monotonic liveness, read-back (inputs.py, readback.py).
        self.fuse_a = float(options.get(CONF_MAIN_FUSE_A, DEFAULT_MAIN_FUSE_A))
        self.monotonic = time.monotonic  # ages never use the wall clock
        self.meter = inputs.MeterInput(hass, self.grid_sensor, self.phase_sensors)
        self.readback = inputs.ReadbackInput([battery.title for battery in self.batteries])
        self._mismatch_since: float | None = None

    # ----------------------------------------------------------------- schedule

    @property
    def loop_settings(self) -> control.LoopSettings:
        """Return the policy's timing."""
        return control.LoopSettings(
            interval_s=self.interval_s, settle_s=self.settle_s, keepalive_s=self.keepalive_s
        )

    def _schedule(self, delay_s: float) -> None:
        """Run the next cycle after delay_s."""
        self._cancel_timer()
        if self._stopped:
            return
        self._unsub_timer = async_call_later(
            self.hass,
            delay_s,
            HassJob(self._async_timer_fired, f"{DOMAIN} cycle", cancel_on_shutdown=True),
        )

    def _cancel_timer(self) -> None:
        if self._unsub_timer is not None:
            self._unsub_timer()
            self._unsub_timer = None

    async def _async_timer_fired(self, _now: datetime) -> None:
        self._unsub_timer = None
        await self.async_refresh()

    @callback
    def async_start(self) -> None:
        """Run the first cycle now (call once Home Assistant has started)."""
        # Switched off before the restart: it already left the batteries alone. Switched
        # while Home Assistant started: off stops every battery, as it always does.
        self._disabled_stopped = not self.settings.enabled and not self._switched_early
        self._started = True
        self._schedule(START_DELAY_S)

    async def async_cycle_now(self) -> None:
        """Run a cycle at once (after the switch changed), if the loop runs."""
        if not self._started:
            self._switched_early = True
        elif not self._stopped:
            await self.async_refresh()

    async def async_shutdown(self) -> None:
        """Cancel the next cycle and ignore new ones."""
        self._stopped = True
        self._cancel_timer()
        await super().async_shutdown()

    async def async_stop_batteries(self) -> None:
        """Stop the loop and set every battery it drives to stop with 0 W."""
        self._stopped = True
        self._cancel_timer()
        async with self._lock:
            if self.dry_run or (not self.settings.enabled and self._disabled_stopped):
                return  # it drives nothing: dry-run, or stopped when switched off
            if not self.settings.enabled:  # off with a stop pending: only that stop
                await self._async_write(self._stop_decision(0.0).writes)
                return
            LOGGER.debug("Stopping every battery")
            await self._async_stop_all()

    # -------------------------------------------------------------------- cycle

    async def _async_update_data(self) -> CycleData | None:
        """Run one cycle; never raises, so the loop always goes on."""
        async with self._lock:
            try:
                data = await self._async_cycle()
            except Exception:
                LOGGER.exception("Control cycle failed; stopping every battery")
                try:
                    data = await self._async_enter_fail_safe(Cause.ERROR, None)
                except Exception:
                    LOGGER.exception("Stopping the batteries failed; retrying next cycle")
                    data = CycleData(
                        dt_util.utcnow(), Status.FAIL_SAFE, self.interval_s, cause=Cause.ERROR
                    )
            self._schedule(data.delay_s)
            return data

    async def _async_cycle(self) -> CycleData:
        now = dt_util.utcnow()
        if self._stopped:
            return CycleData(now, Status.DISABLED, self.interval_s)
        if not self.settings.enabled:
            writes: tuple[WriteRecord, ...] = ()
            if not self._disabled_stopped:
                if not self._disabling:
                    LOGGER.info("Strategy switched off: stopping every battery")
                    self._disabling = True
                    writes = await self._async_stop_all()
                else:  # a stop failed: only what is still not stopped, until it is
                    writes = await self._async_write(self._stop_decision(0.0).writes)
                self._disabled_stopped = _all_done(writes)
            self.plan = Plan.all_stop(len(self.batteries))
            self._fail_safe = None
            return CycleData(
                now,
                Status.DISABLED,
                self.interval_s,
                batteries=self._idle_states(REASON_DISABLED),
                writes=writes,
            )
        if self._disabled_stopped or self._disabling:
            # Switched on again: the batteries may have been driven by hand meanwhile.
            self.commanded = None
            self.plan = None
            self._last_keepalive = None
            self._disabled_stopped = self._disabling = False
        commanded = self._commanded_now()

        if self.refresh_meter:
            await self._async_refresh_meter()
        meter = self.meter.judge(self.monotonic(), self.stale_s, self.fuse_a)  # safety-inputs
        if meter.cause is not None:
            return await self._async_enter_fail_safe(meter.cause, meter.entity_id)
        agree, self._mismatch_since = agreement(
            meter.disagree, self._mismatch_since, self.monotonic()
        )
        if agree is Agreement.FAULT:
            return await self._async_enter_fail_safe(Cause.METER_INCONSISTENT, self.grid_sensor)
        if agree is Agreement.PENDING:  # hold still (no writes), judge again next cycle
            status = self.data.status if self.data is not None else Status.RUNNING
            return CycleData(now, status, self.interval_s, grid_w=meter.grid_w)
        grid_w, phase_w = meter.grid_w, dict(meter.phase_w)
        if self._fail_safe is not None:
            LOGGER.info("Meter is back; the strategy resumes")
            self._fail_safe = None

        excluded: list[Problem | None] = [None] * len(self.batteries)
        if not self.dry_run:  # safety-inputs: read-back (nothing to compare in dry run)
            excluded, adopted = self.readback.check(
                self._states, self.has_rs485, commanded, self._own_contexts, self.monotonic()
            )
            self._resync = self._resync or adopted
        readings: list[engine.BatteryReading] = []
        problems: list[Problem | None] = []
        resynced = False
        for index, battery in enumerate(self.batteries):
            reading, problem = self._read_battery(battery, phase_w, grid_w, excluded[index])
            readings.append(reading)
            problems.append(problem)
            if problem is None and self._problems.get(battery.subentry_id) in _UNREACHABLE:
                # Back after its entities were gone: what it says now is what it does.
                commanded[index] = self._commanded_from_entities(battery)
                resynced = True
            self._log_problem(battery, problem)

        engine_grid_w = grid_w - self.settings.grid_target_w
        previous = self.plan
        if previous is None or resynced or self._resync:
            previous = control.plan_from_commanded(commanded)
        self._resync = False
        # safety-inputs: a battery taken out by the read-back delivers nothing.
        previous = readback.discount(previous, {i for i, p in enumerate(excluded) if p})
        plan = engine.allocate(
            engine_grid_w,
            readings,
            previous,
            engine.StrategySettings(strategy=self.settings.strategy),
        )
        decision = control.decide(
            plan,
            commanded,
            self.has_rs485,
            self._since_keepalive(now),
            self.loop_settings,
        )
        records = await self._async_write(decision.writes)
        if decision.keepalive:
            self._last_keepalive = now
        # The plan in force is what the batteries were told: after a failed or skipped
        # write, that is what is commanded, not what the engine asked for.
        if _all_done(records):
            self.plan = plan
        else:
            self.plan = control.plan_from_commanded(commanded)
        if self.dry_run:
            status = Status.DRY_RUN
        elif decision.delay_s > self.interval_s:
            status = Status.SETTLING
        else:
            status = Status.RUNNING
        return CycleData(
            now,
            status,
            decision.delay_s,
            grid_w=grid_w,
            engine_grid_w=engine_grid_w,
            batteries={
                battery.subentry_id: BatteryState(
                    reading,
                    problem,
                    setpoint,
                    problem.value if problem in SHOWN_PROBLEMS else setpoint.reason.value,
                )
                for battery, reading, problem, setpoint in zip(
                    self.batteries, readings, problems, plan.setpoints, strict=True
                )
            },
            writes=records,
        )

    async def _async_enter_fail_safe(self, cause: Cause, entity_id: str | None) -> CycleData:
        """Stop every battery: all at once on entry, then only what still differs."""
        now = dt_util.utcnow()
        if self._fail_safe is None:
            LOGGER.warning(
                "Fail-safe (%s%s): stopping every battery",
                cause,
                f", {entity_id}" if entity_id else "",
            )
            writes = await self._async_stop_all()
        elif 0 < self.keepalive_s <= self._since_keepalive(now):
            # Blind without the meter: assert the stop again every keep-alive period.
            writes = await self._async_stop_all()
            self._last_keepalive = now
        else:  # only what is still not stopped (a stop that failed)
            writes = await self._async_write(self._stop_decision(0.0).writes)
        self._fail_safe = cause
        self.plan = Plan.all_stop(len(self.batteries))
        if not _all_done(writes):
            self.plan = control.plan_from_commanded(self._commanded_now())
        return CycleData(
            now,
            Status.FAIL_SAFE,
            self.interval_s,
            cause=cause,
            cause_entity_id=entity_id,
            batteries=self._idle_states(REASON_FAIL_SAFE),
            writes=writes,
        )

    def _stop_decision(self, since_keepalive_s: float) -> control.Decision:
        """Return the writes that stop whatever is still not stopped."""
        return control.decide(
            Plan.all_stop(len(self.batteries)),
            self._commanded_now(),
            self.has_rs485,
            since_keepalive_s,
            self.loop_settings,
        )

    def _idle_states(self, reason: str) -> dict[str, BatteryState]:
        return {
            battery.subentry_id: BatteryState(None, None, Setpoint(Mode.STOP, 0), reason)
            for battery in self.batteries
        }

    def _since_keepalive(self, now: datetime) -> float:
        if self._last_keepalive is None:
            return math.inf
        return (now - self._last_keepalive).total_seconds()

    # ------------------------------------------------------------------ reading

    @property
    def meter_entities(self) -> list[str]:
        """Return the grid sensor and the phase sensors."""
        return [self.grid_sensor, *self.phase_sensors.values()]

    @callback
    def async_track_states(self) -> CALLBACK_TYPE:
        """Follow the meter's reports and changes made to the batteries by someone else.

        homeassistant.update_entity rewrites an entity's state, which moves last_reported
        even when the meter is dead; reports made while we refresh are not counted.
        """

        @callback
        def _reported(event: Event[Any]) -> None:
            if not self._refreshing:
                self.meter.clock.report(event.data[ATTR_ENTITY_ID], self.monotonic())

        controls = {
            entity_id: index
            for index, battery in enumerate(self.batteries)
            for role, entity_id in battery.entities.items()
            if role in _COMMANDED_ROLES
        }

        @callback
        def _control_changed(event: Event[Any]) -> None:
            """Take a battery as it is after a person or an automation changed it."""
            context = event.context
            if context.id in self._own_contexts or not (context.user_id or context.parent_id):
                return  # our own write, or the battery reporting
            if self.commanded is None or not self.settings.enabled:
                return  # off: a person drives them; only a stop that failed is retried
            index = controls[event.data[ATTR_ENTITY_ID]]
            battery = self.batteries[index]
            LOGGER.info("%s was changed outside the strategy", event.data[ATTR_ENTITY_ID])
            self.commanded[index] = self._commanded_from_entities(battery)
            self._resync = True

        unsubs = [
            async_track_state_change_event(self.hass, self.meter_entities, _reported),
            async_track_state_report_event(self.hass, self.meter_entities, _reported),
            async_track_state_change_event(self.hass, list(controls), _control_changed),
        ]

        @callback
        def _unsub() -> None:
            for unsub in unsubs:
                unsub()

        return _unsub

    async def _async_refresh_meter(self) -> None:
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

    def _state(self, battery: BatteryConfig, role: Role) -> State | None:
        entity_id = battery.entities.get(role)
        return self.hass.states.get(entity_id) if entity_id else None

    def _value(self, battery: BatteryConfig, role: Role) -> float | None:
        return inputs.value(self._state(battery, role), role)  # safety-inputs: powers in W

    def _states(self, index: int) -> dict[Role, State | None]:
        """Return the states of one battery's entities, per role."""
        entities = self.batteries[index].entities
        return {role: self.hass.states.get(entity_id) for role, entity_id in entities.items()}

    def _read_battery(
        self,
        battery: BatteryConfig,
        phase_w: Mapping[str, float],
        grid_w: float,
        excluded: Problem | None = None,
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
            elif state.state == "unknown" and role is Role.RS485_MODE:
                pass  # not yet enabled (readback): enable is written, the battery stays
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
            unit_ok=inputs.units_ok(
                {role: self._state(battery, role) for role in battery.entities}
            ),
            excluded=excluded,
        )
        settings = self.settings.batteries[battery.subentry_id]
        if battery.phase in phase_w:
            return battery_reading(values, settings, phase_w[battery.phase], battery.phase)
        return battery_reading(values, settings, grid_w)

    def _log_problem(self, battery: BatteryConfig, problem: Problem | None) -> None:
        """Log once when a battery drops out, and once when it is back."""
        before = self._problems.get(battery.subentry_id)
        if problem == before:
            return
        self._problems[battery.subentry_id] = problem
        if problem is not None:
            LOGGER.warning("Battery %s takes no part: %s", battery.title, problem)
        else:
            LOGGER.info("Battery %s takes part again", battery.title)

    def _commanded_now(self) -> list[Commanded]:
        """Return what is commanded; on the first call, what the entities say now."""
        if self.commanded is None:
            self.commanded = [self._commanded_from_entities(b) for b in self.batteries]
        return self.commanded

    def _commanded_from_entities(self, battery: BatteryConfig) -> Commanded:
        mode_state = self._state(battery, Role.FORCIBLE_MODE)
        mode = Mode.STOP
        if mode_state is not None and mode_state.state in set(Mode):
            mode = Mode(mode_state.state)
        rs485 = self._state(battery, Role.RS485_MODE)
        return Commanded(
            mode=mode,
            charge_w=int(self._value(battery, Role.CHARGE_POWER) or 0),
            discharge_w=int(self._value(battery, Role.DISCHARGE_POWER) or 0),
            rs485_enabled=rs485 is not None and rs485.state == RS485_ENABLE,
        )

    # ------------------------------------------------------------------ writing

    async def _async_stop_all(self) -> tuple[WriteRecord, ...]:
        """Write stop and 0 W to every battery, whatever is believed commanded."""
        commanded = self._commanded_now()
        return await self._async_write(control.stop_writes(commanded))

    async def _async_write(self, writes: Sequence[Write]) -> tuple[WriteRecord, ...]:
        """Make writes in the policy's order; what succeeds updates what is commanded.

        After a failed write, a battery gets only the writes that reduce its power this
        cycle: a mode change must not follow a power it depends on but did not get.
        """
        commanded = self._commanded_now()
        records = []
        failed: set[int] = set()
        for write in writes:
            battery = self.batteries[write.battery]
            if write.battery in failed and not _reduces(write):
                records.append(
                    WriteRecord(
                        dt_util.utcnow(),
                        battery.title,
                        write.kind,
                        battery.entities.get(_WRITE_TARGETS[write.kind][0]),
                        write.value,
                        "skipped",
                        "an earlier write failed",
                    )
                )
                continue
            record = await self._async_write_one(battery, write)
            records.append(record)
            if record.result in ("ok", "dry_run"):
                commanded[write.battery] = control.apply_write(commanded[write.battery], write)
            else:
                failed.add(write.battery)
        self.write_log.extend(records)
        return tuple(records)

    async def _async_write_one(self, battery: BatteryConfig, write: Write) -> WriteRecord:
        role, domain, service, key = _WRITE_TARGETS[write.kind]
        entity_id = battery.entities.get(role)
        now = dt_util.utcnow()

        def record(result: str, value: int | str, detail: str | None = None) -> WriteRecord:
            return WriteRecord(
                now, battery.title, write.kind, entity_id, value, result, detail, context_id
            )

        context_id: str | None = None
        if self.dry_run:
            return record("dry_run", write.value)
        state = self.hass.states.get(entity_id) if entity_id else None
        # safety-inputs: "unknown" is an entity not read yet (RS485 select): it takes writes.
        if entity_id is None or state is None or state.state == STATE_UNAVAILABLE:
            self._log_write_failure(entity_id or str(role), "not available")
            return record("skipped", write.value, "not available")
        value: float | str
        if domain == "number":
            # safety-inputs: the unit is read at every write (a board re-flashed to kW).
            unit = state.attributes.get(ATTR_UNIT_OF_MEASUREMENT)
            native = from_watts(float(write.value), unit)
            if native is None:
                self._log_write_failure(entity_id, f"unit {unit!r} is not a unit of power")
                return record("skipped", write.value, "not a unit of power")
            value = _number_value(state, native)
            if value == int(value):
                value = int(value)
            recorded: int | str = round(to_watts(value, unit) or 0)
        else:
            value = str(write.value)
            options = state.attributes.get("options")
            if isinstance(options, list) and value not in options:
                self._log_write_failure(entity_id, f"{value!r} is not an option")
                return record("skipped", value, "not an option")
            recorded = value
        context = Context()
        context_id = context.id
        self._own_contexts.append(context_id)
        try:
            async with asyncio.timeout(WRITE_TIMEOUT_S):
                await self.hass.services.async_call(
                    domain,
                    service,
                    {ATTR_ENTITY_ID: entity_id, key: value},
                    blocking=True,
                    context=context,
                )
        except Exception as err:  # any integration's error fails this write only
            self._log_write_failure(entity_id, repr(err))
            return record("failed", recorded, repr(err))
        if entity_id in self._failing_targets:
            self._failing_targets.discard(entity_id)
            LOGGER.info("Writing %s works again", entity_id)
        return record("ok", recorded)

    def _log_write_failure(self, entity_id: str, detail: str) -> None:
        """Log a failing target once; it is retried every cycle."""
        if entity_id in self._failing_targets:
            LOGGER.debug("Write to %s failed again: %s", entity_id, detail)
            return
        self._failing_targets.add(entity_id)
        LOGGER.warning("Write to %s failed (%s); retrying next cycle", entity_id, detail)

    # ------------------------------------------------------------------ repairs

    def watched_entities(self) -> dict[str, tuple[str | None, str]]:
        """Return every configured entity id: (subentry id or None, config key)."""
        watched: dict[str, tuple[str | None, str]] = {self.grid_sensor: (None, CONF_GRID_SENSOR)}
        for key in CONF_PHASE_SENSORS:
            if entity_id := self.config_entry.data.get(key):
                watched[entity_id] = (None, key)
        for battery in self.batteries:
            for role, entity_id in battery.entities.items():
                watched[entity_id] = (battery.subentry_id, role.value)
        return watched

    @callback
    def async_watch_registry(self) -> CALLBACK_TYPE:
        """Raise a repair issue when a configured entity leaves the registry."""
        watched = self.watched_entities()
        registry = er.async_get(self.hass)
        keep = {
            self._issue_id(entity_id)
            for entity_id in watched
            if registry.async_get(entity_id) is None
        }
        # Issues of entities that are back, or no longer configured, go.
        async_delete_issues(self.hass, self.config_entry.entry_id, keep=keep)
        return async_track_entity_registry_updated_event(
            self.hass, list(watched), self._async_registry_updated
        )

    def _issue_id(self, entity_id: str) -> str:
        return _issue_prefix(self.config_entry.entry_id) + entity_id

    @callback
    def _async_registry_updated(self, event: Event[er.EventEntityRegistryUpdatedData]) -> None:
        data = event.data
        entity_id = data["entity_id"]
        if data["action"] == "remove":
            self._create_removed_issue(entity_id)
        elif data["action"] == "create":
            ir.async_delete_issue(self.hass, DOMAIN, self._issue_id(entity_id))
        elif data["action"] == "update" and "old_entity_id" in data:
            self._follow_rename(data["old_entity_id"], entity_id)

    def _create_removed_issue(self, entity_id: str) -> None:
        subentry_id, _key = self.watched_entities()[entity_id]
        owner = self.config_entry.title
        if subentry_id is not None:
            owner = self.config_entry.subentries[subentry_id].title
        LOGGER.warning("Configured entity %s was removed (%s)", entity_id, owner)
        ir.async_create_issue(
            self.hass,
            DOMAIN,
            self._issue_id(entity_id),
            is_fixable=False,
            is_persistent=True,
            severity=ir.IssueSeverity.ERROR,
            translation_key="entity_removed",
            translation_placeholders={"entity_id": entity_id, "name": owner},
        )

    def _follow_rename(self, old_entity_id: str, new_entity_id: str) -> None:
        """Keep the configuration pointing at a renamed entity (this reloads the entry)."""
        subentry_id, key = self.watched_entities()[old_entity_id]
        entries = self.hass.config_entries
        entry = self.config_entry
        LOGGER.info("Configured entity %s was renamed to %s", old_entity_id, new_entity_id)
        if subentry_id is None:
            entries.async_update_entry(entry, data={**entry.data, key: new_entity_id})
            return
        subentry = entry.subentries[subentry_id]
        entries.async_update_subentry(entry, subentry, data={**subentry.data, key: new_entity_id})

    def diagnostics(self) -> dict[str, Any]:
        """Return the loop's state for diagnostics."""
        return {
            "commanded": [
                {"battery": battery.title, **asdict(commanded)}
                for battery, commanded in zip(self.batteries, self.commanded or [], strict=False)
            ],
            "plan": None
            if self.plan is None
            else {
                "mode": self.plan.mode,
                "setpoints": [
                    {"mode": s.mode, "power_w": s.power_w, "reason": s.reason}
                    for s in self.plan.setpoints
                ],
            },
            "fail_safe": self._fail_safe,
        }


def _issue_prefix(entry_id: str) -> str:
    """Return the start of an entry's removed-entity issue ids."""
    return f"entity_removed_{entry_id}_"


@callback
def async_delete_issues(hass: HomeAssistant, entry_id: str, keep: set[str] | None = None) -> None:
    """Delete an entry's removed-entity issues (all but keep)."""
    prefix = _issue_prefix(entry_id)
    for domain, issue_id in list(ir.async_get(hass).issues):
        if domain == DOMAIN and issue_id.startswith(prefix) and issue_id not in (keep or ()):
            ir.async_delete_issue(hass, DOMAIN, issue_id)
