"""The control loop: one cycle reads, plans, decides and writes, as its lifecycle says.

The cycle follows one direction of data (docs/architecture.md): Home Assistant's states ->
adapters -> the pure core's plan -> the pure write policy -> adapters -> the writes. The
loop around the cycles is adapters/loop.py; each other job has its own file there or in core/.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from functools import partial
from typing import Any

from homeassistant.config_entries import ConfigEntry
from homeassistant.core import CALLBACK_TYPE, Event, HomeAssistant, callback
from homeassistant.helpers.event import async_track_state_change_event
from homeassistant.util import dt as dt_util

from .adapters import watchers
from .adapters.batteries import battery_configs
from .adapters.battery_reads import BatteryReads
from .adapters.delivery import Delivery
from .adapters.grid import GridModes
from .adapters.learned import LearnedLosses
from .adapters.loop import ControlLoop
from .adapters.loop_options import LoopOptions, meter_reader, options_issue, readback_input
from .adapters.stops import Stops
from .adapters.storage import EntryStore
from .adapters.told import Told, as_told
from .adapters.writer import Writer, find_work_mode
from .const import LOGGER, Role, StopBehavior
from .core import control, grid_mode, lifecycle, model, pace, readback
from .core.control import Commanded
from .core.cycle import (
    REASON_DISABLED,
    CycleData,
    battery_states,
    in_force,
)
from .core.grid_mode import GridRequest
from .core.lifecycle import Action, Phase
from .core.model import Plan
from .core.readings import BatterySettings, Settings
from .repairs import Repairs


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


class MarstekCoordinator(ControlLoop):
    """Runs one control cycle (adapters/loop.py runs them on time, as the lifecycle says)."""

    config_entry: MarstekConfigEntry

    def __init__(
        self, hass: HomeAssistant, entry: MarstekConfigEntry, settings: Settings, store: EntryStore
    ) -> None:
        """Set up the loop for entry; it starts with async_start."""
        super().__init__(hass, config_entry=entry, name=entry.title)
        self.settings = settings
        self.store = store
        self.options = options = LoopOptions.of(entry.options)
        options_issue(hass, entry, options.replaced)
        self.batteries = [
            replace(b, work_mode=find_work_mode(hass, b)) for b in battery_configs(entry)
        ]
        for battery in self.batteries:
            settings.batteries.setdefault(battery.subentry_id, BatterySettings())
        ids = {battery.subentry_id for battery in self.batteries}
        # Removed batteries whose stop is still to be made; the writer addresses both.
        self.orphans = [b for b in store.pending.values() if b.subentry_id not in ids]
        self.targets = [*self.batteries, *self.orphans]
        self.reader = meter_reader(hass, entry.data, options)
        self.reader.meter_reported = self.async_meter_reported  # the meter pace's cycles
        self.delivery = Delivery(hass, self.batteries, self.reader)  # what is on its way
        self.pace, self.interval_s, self.settle_s = self.delivery.paced(
            options.pace, options.interval_s, options.settle_s
        )
        self.pace_settings = pace.meter_settings(self.delivery.response)
        self.loop_settings = control.LoopSettings(
            self.interval_s, self.settle_s, options.keepalive_s
        )
        self.has_rs485 = [Role.RS485_MODE in battery.entities for battery in self.batteries]
        self.learned = LearnedLosses(hass, self.batteries)  # loaded in async_setup_entry
        self.writer = Writer(hass, self.targets)
        self.repairs = Repairs(hass, entry, self.batteries)
        self.told = Told(self.reader, self.batteries, self.orphans)  # the one owner of commanded
        self.reads = BatteryReads(
            self.reader,
            self.batteries,
            readback=readback_input(self.batteries),
            told=self.told,
            writer=self.writer,
            has_rs485=self.has_rs485,
        )
        state = lifecycle.restore(
            enabled=settings.enabled,
            dry_run=options.dry_run,
            hand_back=options.stop_behavior is StopBehavior.HAND_BACK,
            pending=store.pending,
        )

        def clock() -> float:  # the reader's monotonic clock, as it is at each call
            return self.reader.monotonic()

        self.stops = Stops(store, self.targets, self.told, self.writer, state, clock=clock)
        self.grid = GridModes(store, options.peak_cap_w)  # the grid mode and the peak meter
        self.plan: Plan | None = None  # the plan in force
        self._meter_lost = False  # a cycle for a meter lost between cycles is on its way

    @property
    def commanded(self) -> list[Commanded] | None:
        """Return what each battery was told (None until the first cycle)."""
        commanded = self.told.commanded
        return None if commanded is None else list(commanded)

    @property
    def write_log(self) -> Any:
        """Return the last writes (oldest first)."""
        return self.writer.log

    async def async_set_grid_request(self, request: GridRequest) -> None:
        """Put a grid mode in force: stored at once, the next cycle runs it."""
        await self.async_change(partial(self.grid.async_set, request))

    @callback
    def async_track_states(self) -> CALLBACK_TYPE:
        """Follow the meter's reports and changes made to the batteries by someone else."""
        unsub_states = watchers.async_track_states(
            self.hass,
            self.reader,
            list(dict.fromkeys([*self.delivery.followed, *self.reads.followed])),
            stops=self.stops,
            told=self.told,
            writer=self.writer,
        )
        unsub_meter = async_track_state_change_event(
            self.hass, self.reader.meter_entities, self._async_meter_changed
        )

        @callback
        def _unsub() -> None:
            unsub_states()
            unsub_meter()

        return _unsub

    @callback
    def _async_meter_changed(self, _event: Event[Any]) -> None:
        """At the fixed pace, a meter that can no longer be used stops the batteries at once.

        The next cycle may be a settle delay (12 s, up to 120 s) or an interval (up to 60 s)
        away: a meter gone missing, unavailable, no number or implausible meanwhile left the
        batteries running on it until then. One cycle runs now (the meter pace runs such a
        report at once itself); in fail-safe the cycles go on as they are.
        """
        if self._meter_lost or not self._meter_lost_now():
            return
        self._meter_lost = True

        async def _async_cycle_now() -> None:
            try:
                # A cycle running now ends first: it may have seen the loss (fail-safe), or
                # the meter may be back by then, and a cycle on it would cut the settle of
                # a start that cycle made short.
                async with self._lock:
                    pass
                if self._meter_lost_now():
                    await self._async_run_now()
            finally:
                self._meter_lost = False

        # Not eager: the cycle runs after the callbacks of this state change, not inside them.
        self.config_entry.async_create_task(
            self.hass, _async_cycle_now(), "marstek_strategy meter lost", eager_start=False
        )

    def _meter_lost_now(self) -> bool:
        """Return whether the meter is unusable while the fixed pace drives the batteries."""
        if self.pace is pace.Pace.METER:
            return False
        if self.lifecycle.action is not Action.RUN or self.lifecycle.phase is Phase.FAIL_SAFE:
            return False
        reader = self.reader
        verdict = reader.meter.judge(reader.monotonic(), reader.stale_s, reader.fuse_a)
        return verdict.cause is not None

    @callback
    def async_watch_registry(self) -> CALLBACK_TYPE:
        """Raise repair issues for configured entities; follow pending stops' renames."""
        return watchers.async_watch_registry(
            self.hass,
            self.repairs.async_watch_registry,
            self.orphans,
            self.store,
            self.config_entry.entry_id,
        )

    async def _async_cycle(self) -> CycleData:
        """Read, plan, decide, write: the architecture's one direction of data."""
        await self.grid.async_expire(None)
        action = self.lifecycle.action
        if action is Action.NOTHING:
            return self._cycle_data(self._told(REASON_DISABLED))
        if action is Action.STOP:
            records = await self.stops.async_make()
            return self._cycle_data(self._told(REASON_DISABLED), writes=records)
        dry_run = action is Action.PLAN
        # Home Assistant's states -> adapters: the meter, then each battery.
        meter = await self.reader.async_read_meter()
        if meter.cause is not None:
            return await self._async_fail_safe(meter.cause, meter.cause_entity_id, dry_run=dry_run)
        self.grid.count_peak(meter.grid_w)
        if meter.hold:  # total and phases disagree, not yet for long: no writes, judge again
            held = dict(self.data.batteries) if self.data else {}
            return self._cycle_data(held, grid_w=meter.grid_w)
        if self.lifecycle.phase is Phase.FAIL_SAFE:
            LOGGER.info("Meter is back; the strategy resumes")
        if dry_run:  # plan from what the batteries really do, not from the last plan
            self.told.forget()
        commanded = self.told.now()
        readings, problems, resynced = self.reads.read(meter, self.settings, dry_run=dry_run)
        readings = self.learned.cycle(dt_util.utcnow(), commanded, readings, learn=not dry_run)
        readings = self.delivery.estimate(readings, commanded)
        await self.grid.async_expire(
            grid_mode.fleet_soc([r.soc if r.available else None for r in readings])
        )
        # The pure core: the plan from the plan in force (or what the batteries were told).
        previous = self.plan
        changed = self.told.take_changed()  # a battery driven by hand since the last plan
        if dry_run or previous is None or resynced or changed:
            previous = control.plan_from_commanded(commanded, self.has_rs485)
        # A battery the read-back took out delivers nothing.
        previous = readback.discount(previous, readback.taken_out(problems))
        strategy = model.StrategySettings(
            strategy=self.settings.strategy, phase_limits=self.options.phase_limits
        )
        strategy = self.learned.strategy_settings(strategy, dt_util.utcnow())  # learned factors
        # The meter pace: the demand within the estimate's ranges that changes the plan
        # least (issue 22; a late AC reading or a slow battery rang). 0 at the fixed pace.
        target = self.settings.grid_target_w
        shift = self.delivery.least_change_w(meter.grid_w - target, readings)
        steered = self.grid.steer(
            meter.grid_w, readings, previous, strategy, target, least_change_w=shift
        )
        plan = as_told(steered.plan, self.writer.told_w)  # each power as its number takes it
        # The pure write policy, then the adapters write.
        now = self.reader.monotonic()  # the keep-alive's clock (no wall-clock steps)
        since = self.stops.keepalive.since(now)
        decision = control.decide(
            plan,
            commanded,
            self.has_rs485,
            since,
            self.loop_settings,
            probe=self.writer.not_answering,  # its stop again, until a write of it goes
        )
        plan, decision = self.allowed(plan, decision, commanded, steered.limit)  # meter pace
        written = await self.writer.async_write(
            decision.writes, self.told, dry_run=dry_run, fresh_until=meter.fresh_until
        )
        self.unwritten(written.failed)  # the meter pace awaits only what moved
        self.learned.told(dt_util.utcnow(), commanded)
        delay_s = decision.delay_s
        if dry_run or written.stale:  # nothing to settle; or read again before a start
            delay_s = self.interval_s
        if decision.keepalive:
            self.stops.keepalive.last = now
        records = written.records
        if self.lifecycle.pending:  # removed batteries whose stop is still to be made
            records += await self.stops.async_make()
        # The plan in force, and what the sensors show, is what the batteries were told.
        self.plan, shown = in_force(plan, commanded, written.failed, dry_run=dry_run)
        await self.stops.async_event(lifecycle.Ran(self.settles(delay_s)))
        ids = [battery.subentry_id for battery in self.batteries]
        return self._cycle_data(
            battery_states(ids, readings, problems, shown, plan),
            delay_s=delay_s,
            grid_w=meter.grid_w,
            engine_grid_w=meter.grid_w - steered.target.grid_w,
            writes=records,
            grid_mode=self.grid.request.mode,
            grid_limit=steered.limit,
            grid_goal_w=steered.target.grid_w,
        )
