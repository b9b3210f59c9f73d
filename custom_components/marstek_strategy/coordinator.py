"""The control loop: one cycle reads, plans, decides and writes, as its lifecycle says."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
import math
from typing import Any

from homeassistant.config_entries import ConfigEntry
from homeassistant.const import ATTR_ENTITY_ID
from homeassistant.core import CALLBACK_TYPE, Event, HomeAssistant, callback
from homeassistant.helpers import entity_registry as er
from homeassistant.helpers.event import (
    async_track_entity_registry_updated_event,
    async_track_state_change_event,
    async_track_state_report_event,
)
from homeassistant.helpers.update_coordinator import DataUpdateCoordinator
from homeassistant.util import dt as dt_util

from .adapters import inputs
from .adapters.batteries import BatteryConfig, battery_configs
from .adapters.delivery import Delivery
from .adapters.learned import LearnedLosses
from .adapters.profiles import profile_named
from .adapters.reader import MeterReading, Reader
from .adapters.storage import EntryStore
from .adapters.timer import CycleTimer
from .adapters.told import Told
from .adapters.writer import Writer, Written, all_done, find_work_mode
from .const import (
    CONF_DRY_RUN,
    CONF_GRID_SENSOR,
    CONF_INTERVAL,
    CONF_KEEPALIVE,
    CONF_MAIN_FUSE_A,
    CONF_PEAK_CAP_KW,
    CONF_PHASE_COUNT,
    CONF_PHASE_CURRENT_SENSORS,
    CONF_PHASE_FEED_IN_LIMIT_W,
    CONF_PHASE_SENSORS,
    CONF_REFRESH_METER,
    CONF_SETTLE_DELAY,
    CONF_STALE_TIMEOUT,
    CONF_STOP_BEHAVIOR,
    DEFAULT_OPTIONS,
    LOGGER,
    PHASES,
    Role,
    StopBehavior,
)
from .core import control, grid_mode, lifecycle, model, readback
from .core.control import Commanded, Write, WriteRecord
from .core.cycle import (
    REASON_DISABLED,
    REASON_FAIL_SAFE,
    STATUS_OF_PHASE,
    BatteryState,
    CycleData,
    Status,
    signed_power,
)
from .core.engine import views_of
from .core.grid_mode import GridRequest
from .core.lifecycle import Action, Phase
from .core.model import PhaseLimits, Plan
from .core.peak_cap import PeakMeter
from .core.phase_limits import PhaseView
from .core.readings import (
    SHOWN_PROBLEMS,
    VOLTS_PER_PHASE,
    BatterySettings,
    Cause,
    Problem,
    Settings,
)
from .repairs import Repairs, async_delete_issues

__all__ = [
    "REASON_DISABLED",
    "REASON_FAIL_SAFE",
    "BatteryConfig",
    "BatteryState",
    "CycleData",
    "Status",
    "WriteRecord",
    "async_delete_issues",
    "battery_configs",
    "signed_power",
]

START_DELAY_S = 0.0
_READBACK_EXCLUSIONS = (Problem.NOT_RESPONDING, Problem.INVERTER_FAULT)
_UNREACHABLE = (Problem.ENTITY_UNAVAILABLE, Problem.ENTITY_MISSING)
_COMMANDED_ROLES = (Role.FORCIBLE_MODE, Role.CHARGE_POWER, Role.DISCHARGE_POWER, Role.RS485_MODE)


def _excluded(problems: list[Problem | None]) -> set[int]:
    """Return the batteries the read-back took out (their power is not delivered)."""
    return {index for index, problem in enumerate(problems) if problem in _READBACK_EXCLUSIONS}


@dataclass(slots=True)
class MarstekData:
    """Runtime data of a config entry: the loop, the user's settings and the store."""

    coordinator: MarstekCoordinator
    settings: Settings
    store: EntryStore

    @property
    def settings_stored(self) -> bool:
        """Return whether the settings came from the store (entities need not restore)."""
        return self.store.settings is not None

    def save_settings(self) -> None:
        """Keep the settings in the store (after an entity changed one)."""
        self.store.save_settings(self.settings, (b.subentry_id for b in self.coordinator.batteries))


type MarstekConfigEntry = ConfigEntry[MarstekData]


class MarstekCoordinator(DataUpdateCoordinator[CycleData | None]):
    """Runs one control cycle, then waits the policy's delay before the next."""

    config_entry: MarstekConfigEntry

    def __init__(
        self, hass: HomeAssistant, entry: MarstekConfigEntry, settings: Settings, store: EntryStore
    ) -> None:
        """Set up the loop for entry; it starts with async_start."""
        super().__init__(hass, LOGGER, config_entry=entry, name=entry.title)
        self.settings = settings
        self.store = store
        options = {**DEFAULT_OPTIONS, **entry.options}
        self.keepalive_s = float(options[CONF_KEEPALIVE])  # 0: off
        self.dry_run = bool(options[CONF_DRY_RUN])
        self.phase_limits = PhaseLimits.from_fuse(
            float(options[CONF_MAIN_FUSE_A]),
            float(options[CONF_PHASE_FEED_IN_LIMIT_W]),
            VOLTS_PER_PHASE,
        )
        self.stop_behavior = StopBehavior(
            options.get(CONF_STOP_BEHAVIOR, StopBehavior.HOLD_STOPPED)
        )
        self.batteries = [
            replace(b, work_mode=find_work_mode(hass, b)) for b in battery_configs(entry)
        ]
        for battery in self.batteries:
            settings.batteries.setdefault(battery.subentry_id, BatterySettings())
        ids = {battery.subentry_id for battery in self.batteries}
        # Removed batteries whose stop is still to be made; the writer addresses both.
        self.orphans = [b for b in store.pending.values() if b.subentry_id not in ids]
        self.targets = [*self.batteries, *self.orphans]
        phase_sensors: dict[str, str] = {}
        current_sensors: dict[str, str] = {}
        if int(entry.data.get(CONF_PHASE_COUNT, 1)) == 3:
            phase_sensors = {
                phase: entry.data[key]
                for phase, key in zip(PHASES, CONF_PHASE_SENSORS, strict=True)
                if entry.data.get(key)
            }
            current_sensors = {
                phase: entry.data[key]
                for phase, key in zip(PHASES, CONF_PHASE_CURRENT_SENSORS, strict=True)
                if entry.data.get(key) and phase in phase_sensors
            }
        self.reader = Reader(
            hass,
            entry.data[CONF_GRID_SENSOR],
            phase_sensors,
            float(options[CONF_STALE_TIMEOUT]),
            bool(options[CONF_REFRESH_METER]),
            fuse_a=float(options[CONF_MAIN_FUSE_A]),  # meter plausibility: the same option
            current_sensors=current_sensors,
        )
        self.delivery = Delivery(hass, self.batteries, self.reader)  # what is on its way
        self.interval_s, self.settle_s = self.delivery.timing(
            float(options[CONF_INTERVAL]), float(options[CONF_SETTLE_DELAY])
        )
        self.readback = inputs.ReadbackInput(
            [battery.title for battery in self.batteries],
            settings=[  # a report lags a write by the connector's polling
                readback.ReadbackSettings(
                    grace_s=profile_named(b.connector).readback_grace_s,
                    redrift_limit=3 if profile_named(b.connector).silent_write_failures else 0,
                )
                for b in self.batteries
            ],
        )
        self.learned = LearnedLosses(hass, self.batteries)  # loaded in async_setup_entry
        self.writer = Writer(hass, self.targets)
        self.repairs = Repairs(hass, entry, self.batteries)
        self.has_rs485 = [Role.RS485_MODE in battery.entities for battery in self.batteries]
        self.lifecycle = lifecycle.restore(
            enabled=settings.enabled,
            dry_run=self.dry_run,
            hand_back=self.stop_behavior is StopBehavior.HAND_BACK,
            pending=store.pending,
        )
        # The grid mode (grid_mode.py) and the quarter-hour peak meter, both kept in the store.
        self.peak_cap_w = max(0.0, float(options.get(CONF_PEAK_CAP_KW, 0.0))) * 1000.0
        self.grid_request = store.grid_request
        self.peak: PeakMeter = store.peak
        self.steered: grid_mode.Steered | None = None  # the last cycle's
        self.grid_ending: grid_mode.Ending | None = None  # why the last request ended
        self.told = Told(self.reader, self.batteries)  # the one owner of commanded
        self.plan: Plan | None = None
        self.phases: dict[str, PhaseView] = {}  # the last plan's (diagnostics)
        self._last_keepalive: datetime | None = None
        self._lock = asyncio.Lock()
        self._timer = CycleTimer(hass, self._async_timer_fired)
        self._due = False  # the next refresh is the loop's own (timer, switch), not a request
        self._settle_until: datetime | None = None
        self._problems: dict[str, Problem | None] = {}
        self._resync = False

    @property
    def grid_sensor(self) -> str:
        """Return the grid power sensor."""
        return self.reader.grid_sensor

    @property
    def stale_s(self) -> float:
        """Return the stale timeout (s)."""
        return self.reader.stale_s

    @property
    def refresh_meter(self) -> bool:
        """Return whether the meter is refreshed before each cycle."""
        return self.reader.refresh_meter

    @property
    def commanded(self) -> list[Commanded] | None:
        """Return what each battery was told (None until the first cycle)."""
        return self.told.commanded

    @property
    def write_log(self) -> Any:
        """Return the last writes (oldest first)."""
        return self.writer.log

    @property
    def loop_settings(self) -> control.LoopSettings:
        """Return the policy's timing."""
        return control.LoopSettings(self.interval_s, self.settle_s, self.keepalive_s)

    @property
    def _ids(self) -> frozenset[str]:
        return frozenset(battery.subentry_id for battery in self.batteries)

    # ------------------------------------------------------------ lifecycle and timer

    async def _async_event(self, event: lifecycle.LifecycleEvent) -> None:
        """Move the lifecycle on; persist the pending stops when they change."""
        if self._event(event):
            await self._async_save_pending()

    def _event(self, event: lifecycle.LifecycleEvent) -> bool:
        """Move the lifecycle on; return whether the pending stops changed."""
        before = self.lifecycle
        self.lifecycle = lifecycle.transition(before, event)
        return self.lifecycle.pending != before.pending

    async def _async_save_pending(self) -> None:
        ids = self.lifecycle.pending
        await self.store.async_save_pending(b for b in self.targets if b.subentry_id in ids)

    def _schedule(self, delay_s: float) -> None:
        """Run the next cycle after delay_s."""
        self._timer.cancel()
        if self.lifecycle.phase is not Phase.CLOSED:
            self._timer.schedule(delay_s)

    async def _async_timer_fired(self) -> None:
        self._due = True
        await self.async_refresh()

    @callback
    def async_settings_restored(self) -> None:
        """Take the switch as the entities restored it (before the loop starts)."""
        if self.lifecycle.phase is Phase.STARTING and not self.lifecycle.switched_early:
            self.lifecycle = lifecycle.restore(
                enabled=self.settings.enabled,
                dry_run=self.dry_run,
                hand_back=self.lifecycle.hand_back,
                pending=self.lifecycle.pending,
            )

    async def async_start(self) -> None:
        """Run the first cycle now (call once Home Assistant has started)."""
        await self._async_event(lifecycle.Started(self._ids))
        self._schedule(START_DELAY_S)

    async def async_cycle_now(self) -> None:
        """Run a cycle at once after the switch changed (only a stop cycle if it started)."""
        async with self._lock:
            on = self.lifecycle.enabled
            await self._async_event(lifecycle.Switched(self.settings.enabled, self._ids))
            if self.lifecycle.enabled and not on:
                self.told.forget()  # driven by hand meanwhile?
                self.plan = self._last_keepalive = None
        if self.lifecycle.phase not in (Phase.STARTING, Phase.CLOSED):
            self._due = True
            await self.async_refresh()

    async def async_shutdown(self) -> None:
        """Cancel the next cycle and ignore new ones."""
        self.lifecycle = lifecycle.transition(self.lifecycle, lifecycle.Closing(frozenset()))
        self._timer.cancel()
        await super().async_shutdown()

    async def async_stop_batteries(self) -> None:
        """Close the loop: make the stops it owes (hold stopped or hand back), keep the rest."""
        self._timer.cancel()
        async with self._lock:
            if self.lifecycle.phase is Phase.CLOSED:
                return
            await self._async_event(lifecycle.Closing(self._ids))
            LOGGER.debug("Closing: stopping %s", sorted(self.lifecycle.pending))
            await self._async_make_stops()

    # ------------------------------------------------------------------------- cycle

    async def _async_update_data(self) -> CycleData | None:
        """Run one cycle; never raises, so the loop always goes on."""
        async with self._lock:
            due, self._due = self._due, False
            until = self._settle_until if self.lifecycle.phase is Phase.SETTLING else None
            if not due and until is not None and dt_util.utcnow() < until:
                return self.data  # a refresh asked for never shortens the settle delay
            try:
                data = await self._async_cycle()
            except Exception:
                LOGGER.exception("Control cycle failed; stopping every battery")
                try:  # a loop that drives nothing (dry run, stopping) writes nothing here
                    data = await self._async_fail_safe(
                        Cause.ERROR, None, dry_run=self.lifecycle.action is not Action.RUN
                    )
                except Exception:
                    LOGGER.exception("Stopping the batteries failed; retrying next cycle")
                    data = CycleData(
                        dt_util.utcnow(), Status.FAIL_SAFE, self.interval_s, cause=Cause.ERROR
                    )
            self.delivery.record(self.commanded)  # the setpoints in force now
            self._settle_until = None
            if data.status is Status.SETTLING:
                self._settle_until = data.time + timedelta(seconds=data.delay_s)
            self._schedule(data.delay_s)
            return data

    # ------------------------------------------------------------------ grid mode

    async def async_set_grid_request(self, request: GridRequest) -> None:
        """Put a grid mode in force: stored at once, the next cycle runs it."""
        async with self._lock:
            await self.store.async_save_grid_request(request)  # not in force unless stored
            self.grid_request = request
            self.grid_ending = None
        LOGGER.info(
            "Grid mode %s (%s W) until %s",
            request.mode,
            f"{request.power_w:g}",
            request.until.isoformat() if request.until else "-",
        )
        self.async_update_listeners()
        if self.lifecycle.phase not in (Phase.STARTING, Phase.CLOSED):
            self._due = True
            await self.async_refresh()

    async def _async_expire(self, soc: float | None) -> None:
        """Return to zero when the request is over (its time, or its target state of charge)."""
        ending = grid_mode.ended(self.grid_request, dt_util.utcnow(), soc)
        if ending is None:
            return
        LOGGER.info("Grid mode %s ended (%s): back to zero", self.grid_request.mode, ending)
        self.grid_request = GridRequest()
        self.grid_ending = ending
        try:  # a request stored past its end is over after a restart as well
            await self.store.async_save_grid_request(self.grid_request)
        except Exception:
            LOGGER.exception("Storing the end of the grid mode failed")

    def _count_peak(self, grid_w: float) -> None:
        """Count a meter reading in the quarter-hour peak meter (stored at each quarter's end)."""
        before = self.peak.quarter
        self.peak = self.peak.update(dt_util.now(), grid_w)
        if self.peak.quarter != before:
            self.store.save_peak(self.peak)
        else:
            self.store.peak = self.peak

    def import_allowed_w(self) -> float | None:
        """Return the most the grid may import now under the peak cap (None: no cap)."""
        if self.peak_cap_w <= 0:
            return None
        return self.peak.allowed_w(dt_util.now(), self.peak_cap_w)

    async def _async_cycle(self) -> CycleData:
        """Read, plan, decide, write: the architecture's one direction of data."""
        await self._async_expire(None)
        action = self.lifecycle.action
        if action is Action.NOTHING:
            return self._cycle_data(self._told(REASON_DISABLED))
        if action is Action.STOP:
            records = await self._async_make_stops()
            return self._cycle_data(self._told(REASON_DISABLED), writes=records)
        dry_run = action is Action.PLAN
        meter = await self.reader.async_read_meter()
        if meter.cause is not None:
            return await self._async_fail_safe(meter.cause, meter.cause_entity_id, dry_run=dry_run)
        self._count_peak(meter.grid_w)
        if meter.hold:  # total and phases disagree, not yet for long: no writes, judge again
            held = dict(self.data.batteries) if self.data else {}
            return self._cycle_data(held, grid_w=meter.grid_w)
        if self.lifecycle.phase is Phase.FAIL_SAFE:
            LOGGER.info("Meter is back; the strategy resumes")
        if dry_run:  # plan from what the batteries really do, not from the last plan
            self.told.forget()
        commanded = self._commanded_now()
        readings, problems, resynced = self._read_batteries(commanded, meter, dry_run=dry_run)
        readings = self.learned.cycle(dt_util.utcnow(), commanded, readings, learn=not dry_run)
        readings = self.delivery.estimate(readings, commanded)
        await self._async_expire(
            grid_mode.fleet_soc([r.soc if r.available else None for r in readings])
        )
        previous = self.plan
        if dry_run or previous is None or resynced or self._resync:
            previous = control.plan_from_commanded(commanded, self.has_rs485)
        self._resync = False
        # A battery the read-back took out delivers nothing.
        previous = readback.discount(previous, _excluded(problems))
        strategy = model.StrategySettings(
            strategy=self.settings.strategy, phase_limits=self.phase_limits
        )
        strategy = self.learned.strategy_settings(strategy, dt_util.utcnow())  # learned factors
        steered = grid_mode.steer(
            self.grid_request,
            meter.grid_w,
            readings,
            previous,
            strategy,
            zero_target_w=self.settings.grid_target_w,
            import_allowed_w=self.import_allowed_w(),
        )
        self.steered = steered
        plan = self._told_plan(steered.plan)  # each power as the battery's number takes it
        engine_grid_w = meter.grid_w - steered.target.grid_w
        self.phases = views_of(readings, previous, strategy)
        now = dt_util.utcnow()
        decision = control.decide(
            plan, commanded, self.has_rs485, self._since_keepalive(now), self.loop_settings
        )
        written = await self.writer.async_write(
            decision.writes, commanded, dry_run=dry_run, fresh_until=meter.fresh_until
        )
        self.learned.told(dt_util.utcnow(), commanded)
        delay_s = decision.delay_s
        if dry_run or written.stale:  # nothing to settle; or read again before a start
            delay_s = self.interval_s
        entered = delay_s > self.interval_s
        if decision.keepalive:
            self._last_keepalive = now
        records = written.records
        if self.lifecycle.pending:  # removed batteries whose stop is still to be made
            records += await self._async_make_stops()
        # The plan in force, and what the sensors show, is what the batteries were told.
        told = control.plan_from_commanded(commanded)
        self.plan = plan if dry_run or not written.failed else told
        shown = [
            told.setpoints[i] if i in written.failed and not dry_run else setpoint
            for i, setpoint in enumerate(plan.setpoints)
        ]
        await self._async_event(lifecycle.Ran(entered))
        return self._cycle_data(
            {
                battery.subentry_id: BatteryState(
                    reading,
                    problem,
                    setpoint,
                    problem.value if problem in SHOWN_PROBLEMS else reason.value,
                )
                for battery, reading, problem, setpoint, reason in zip(
                    self.batteries,
                    readings,
                    problems,
                    shown,
                    (s.reason for s in plan.setpoints),
                    strict=True,
                )
            },
            delay_s=delay_s,
            grid_w=meter.grid_w,
            engine_grid_w=engine_grid_w,
            writes=records,
            grid_mode=self.grid_request.mode,
            grid_limit=steered.limit,
            grid_goal_w=steered.target.grid_w,
        )

    def _read_batteries(
        self, commanded: list[Commanded], meter: MeterReading, *, dry_run: bool
    ) -> tuple[list[model.BatteryReading], list[Problem | None], bool]:
        """Read every battery, after the read-back (readback.py) compared it with commanded.

        A battery back after its entities were gone, or one whose reports the read-back
        adopted (it drifted, or runs untold), is taken as it is.
        """
        excluded: list[Problem | None] = [None] * len(self.batteries)
        resynced = False
        if not dry_run:  # nothing was told in a dry run: nothing to compare
            excluded, resynced = self.readback.check(
                lambda index: self.reader.states(self.batteries[index]),
                self.has_rs485,
                commanded,
                self.writer.own_contexts,
                self.reader.monotonic(),
            )
            # Writes that time out (writer.py): not counted on; what it was told still flows.
            silent = self.writer.not_answering
            excluded = [
                e or (Problem.NOT_RESPONDING if i in silent else None)
                for i, e in enumerate(excluded)
            ]
        readings, problems = [], []
        for index, battery in enumerate(self.batteries):
            settings = self.settings.batteries[battery.subentry_id]
            reading, problem = self.reader.read_battery(battery, settings, meter, excluded[index])
            readings.append(reading)
            problems.append(problem)
            before = self._problems.get(battery.subentry_id)
            if problem is None and before in _UNREACHABLE:
                self.told.reread(index)
                resynced = True
            if problem != before:
                self._problems[battery.subentry_id] = problem
                if problem is not None:
                    LOGGER.info("Battery %s takes no part: %s", battery.title, problem)
                else:
                    LOGGER.info("Battery %s takes part again", battery.title)
        return readings, problems, resynced

    async def _async_fail_safe(
        self, cause: Cause, entity_id: str | None, *, dry_run: bool = False
    ) -> CycleData:
        """Stop every battery: all at once on entry, then only what still differs."""
        now = dt_util.utcnow()
        records: tuple[WriteRecord, ...] = ()
        entering = self.lifecycle.phase is not Phase.FAIL_SAFE
        if dry_run:
            pass  # plans only; a dry run writes nothing
        elif entering or 0 < self.keepalive_s <= self._since_keepalive(now):
            if entering:
                LOGGER.info(
                    "Fail-safe (%s%s): stopping every battery",
                    cause,
                    f", {entity_id}" if entity_id else "",
                )
            # Blind without the meter: assert the stop again every keep-alive period from now.
            self._last_keepalive = now
            commanded = self._commanded_now()
            records = (await self._write(control.stop_writes(commanded), commanded)).records
        else:  # only what is still not stopped (a stop that failed)
            records = (
                await self._write(self._stop_decision().writes, self._commanded_now())
            ).records
        await self._async_event(lifecycle.MeterBad(cause))
        self.plan = Plan.all_stop(len(self.batteries))
        if not all_done(records):
            self.plan = control.plan_from_commanded(self._commanded_now())
        return self._cycle_data(
            self._told(REASON_FAIL_SAFE),
            status=Status.FAIL_SAFE,
            cause=cause,
            cause_entity_id=entity_id,
            writes=records,
        )

    async def _async_make_stops(self) -> tuple[WriteRecord, ...]:
        """Make the pending stops (or hand control back); those that went are no longer."""
        pending = self.lifecycle.pending
        indices = [i for i, b in enumerate(self.targets) if b.subentry_id in pending]
        if not indices:
            return ()
        commanded = [*self._commanded_now(), *self.reader.commanded(self.orphans)]
        if self.lifecycle.hand_back:
            rs485 = [Role.RS485_MODE in battery.entities for battery in self.targets]
            has_mode = [battery.work_mode is not None for battery in self.targets]
            writes = control.hand_back_writes(indices, rs485, has_mode)
        else:
            writes = tuple(w for w in control.stop_writes(commanded) if w.battery in indices)
        written = await self._write(writes, commanded)
        self.told.take(commanded)
        made = {self.targets[i].subentry_id for i in indices if i not in written.failed}
        await self._async_event(lifecycle.StopsMade(frozenset(made)))
        return written.records

    async def _write(self, writes: tuple[Write, ...], commanded: list[Commanded]) -> Written:
        return await self.writer.async_write(writes, commanded)

    def _stop_decision(self) -> control.Decision:
        """Return the writes that stop whatever is still not stopped."""
        plan = Plan.all_stop(len(self.batteries))
        return control.decide(plan, self._commanded_now(), self.has_rs485, 0.0, self.loop_settings)

    def _told_plan(self, plan: Plan) -> Plan:
        """Return plan with each power down to its number's step (what the battery is told)."""
        setpoints = tuple(
            replace(setpoint, power_w=told)
            if (told := self.writer.told_w(index, setpoint.mode, setpoint.power_w))
            != setpoint.power_w
            else setpoint
            for index, setpoint in enumerate(plan.setpoints)
        )
        return plan if setpoints == plan.setpoints else replace(plan, setpoints=setpoints)

    def _commanded_now(self) -> list[Commanded]:
        """Return what is commanded; on the first call, what the entities say now."""
        return self.told.now()

    def _told(self, reason: str) -> dict[str, BatteryState]:
        """Return each battery as told: stopped, unless a stop of it did not go through."""
        told = control.plan_from_commanded(self.commanded or [Commanded()] * len(self.batteries))
        return {
            battery.subentry_id: BatteryState(None, None, setpoint, reason)
            for battery, setpoint in zip(self.batteries, told.setpoints, strict=True)
        }

    def _cycle_data(
        self,
        batteries: dict[str, BatteryState],
        *,
        status: Status | None = None,
        delay_s: float | None = None,
        **values: Any,
    ) -> CycleData:
        return CycleData(
            dt_util.utcnow(),
            status or STATUS_OF_PHASE[self.lifecycle.phase],
            self.interval_s if delay_s is None else delay_s,
            batteries=batteries,
            **values,
        )

    def _since_keepalive(self, now: datetime) -> float:
        if self._last_keepalive is None:
            return math.inf
        return (now - self._last_keepalive).total_seconds()

    # ---------------------------------------------------------------- tracking

    @callback
    def async_track_states(self) -> CALLBACK_TYPE:
        """Follow the meter's reports and changes made to the batteries by someone else."""
        controls = {
            entity_id: index
            for index, battery in enumerate(self.targets)
            for role, entity_id in battery.entities.items()
            if role in _COMMANDED_ROLES
        }

        @callback
        def _control_changed(event: Event[Any]) -> None:
            """Take a battery as it is after a person or an automation changed it."""
            context = event.context
            if self.writer.is_own(context) or not (context.user_id or context.parent_id):
                return  # our own write, or the battery reporting
            index = controls[event.data[ATTR_ENTITY_ID]]
            battery = self.targets[index]
            if battery.subentry_id in self.lifecycle.pending:
                LOGGER.info("%s is driven by hand: its pending stop is dropped", battery.title)
                if self._event(lifecycle.DrivenByHand(battery.subentry_id)):
                    self.hass.async_create_task(self._async_save_pending())
                return
            if self.commanded is None or not self.lifecycle.drives or index >= len(self.commanded):
                return  # off (a person drives them), or a removed battery whose stop is made
            LOGGER.info("%s was changed outside the strategy", event.data[ATTR_ENTITY_ID])
            self.told.reread(index)
            self._resync = True

        unsubs = [
            async_track_state_change_event(
                self.hass, self.reader.followed_entities, self.reader.async_reported
            ),
            async_track_state_report_event(
                self.hass, self.reader.followed_entities, self.reader.async_reported
            ),
            async_track_state_change_event(self.hass, list(controls), _control_changed),
            self.delivery.async_track(),
        ]

        @callback
        def _unsub() -> None:
            for unsub in unsubs:
                unsub()

        return _unsub

    @callback
    def async_watch_registry(self) -> CALLBACK_TYPE:
        """Raise repair issues for configured entities; follow pending stops' renames.

        The entities of removed batteries whose stop is still to be made are followed too.
        """
        unsubs = [self.repairs.async_watch_registry()]
        pending = [entity for battery in self.orphans for entity in battery.entities.values()]

        @callback
        def _renamed(event: Event[er.EventEntityRegistryUpdatedData]) -> None:
            data = event.data
            if data["action"] == "update" and "old_entity_id" in data:
                self.hass.async_create_task(
                    self._async_pending_renamed(data["old_entity_id"], data["entity_id"])
                )

        if pending:
            unsubs.append(async_track_entity_registry_updated_event(self.hass, pending, _renamed))

        @callback
        def _unsub() -> None:
            for unsub in unsubs:
                unsub()

        return _unsub

    async def _async_pending_renamed(self, old_entity_id: str, new_entity_id: str) -> None:
        """Keep a pending stop pointing at a renamed entity; reload to write to it."""
        if await self.store.async_follow_rename(old_entity_id, new_entity_id):
            self.hass.config_entries.async_schedule_reload(self.config_entry.entry_id)
