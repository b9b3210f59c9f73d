"""The loop around the cycles: start, switch, close, the timer and the settle delay.

``ControlLoop`` is the coordinator's base. It runs a cycle when the timer fires, the switch
changes or a grid mode is set; a refresh asked for never shortens a settle delay; a cycle
that fails becomes a fail-safe; the lifecycle (``adapters/stops.py``) moves on at start,
switch and close. What one cycle does is the coordinator's ``_async_cycle``.

At the meter pace (``core/pace.py``) the meter's own reports also run cycles, through the
same timer: ``pace.reported`` moves the next cycle earlier (never within the least gap
of the last start, never inside a settle), and after a cycle the timer waits the silent
meter's fallback. The write allowance (``allowed``) keeps what each battery was told where
a power change has no token left, and names the batteries the cycle changed by more than
``pace.AWAIT_W``: until each one's AC power has reported again (the reader's clock of
reports, as the read-back's ``ac_reported_at``), a meter report runs no cycle unless it is
urgent (``_report_urgent``); the timer still does. Only a battery judged slow (or not judged
yet) is awaited: each meter report and cycle judges each battery's last such change on its
AC power (``pace.judge``, ``pace.watch``: a ``pace.Lag`` per battery).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import replace
from typing import Any

from homeassistant.const import STATE_UNAVAILABLE, STATE_UNKNOWN
from homeassistant.core import HomeAssistant, callback
from homeassistant.helpers.update_coordinator import DataUpdateCoordinator
from homeassistant.util import dt as dt_util

from ..const import LOGGER, Role
from ..core import lifecycle, pace as meter_pace
from ..core.control import Commanded, Decision, LoopSettings
from ..core.cycle import (
    REASON_FAIL_SAFE,
    STATUS_OF_PHASE,
    BatteryState,
    CycleData,
    Status,
    told_states,
)
from ..core.grid_mode import Limit
from ..core.lifecycle import Action, Phase
from ..core.model import Plan
from ..core.pace import Pace
from ..core.readings import Cause, Settings
from .batteries import BatteryConfig
from .delivery import Delivery
from .grid import GridModes
from .loop_options import LoopOptions
from .reader import Reader
from .stops import Stops
from .timer import CycleTimer
from .told import Told

START_DELAY_S = 0.0


class ControlLoop(DataUpdateCoordinator[CycleData | None]):
    """Run cycles on time, as the lifecycle allows; the subclass says what a cycle does."""

    settings: Settings
    options: LoopOptions
    batteries: list[BatteryConfig]
    delivery: Delivery
    reader: Reader
    told: Told
    stops: Stops
    grid: GridModes
    pace: Pace = Pace.FIXED
    pace_settings: meter_pace.PaceSettings = meter_pace.PaceSettings()
    interval_s: float
    loop_settings: LoopSettings
    has_rs485: list[bool]
    plan: Plan | None

    def __init__(self, hass: HomeAssistant, **kwargs: Any) -> None:
        """Hold no pending cycle; the loop starts with async_start."""
        super().__init__(hass, LOGGER, **kwargs)
        self._lock = asyncio.Lock()
        self._timer = CycleTimer(hass, self._async_timer_fired)
        self._due = False  # the next refresh is the loop's own (timer, switch), not a request
        self._ended = 0  # cycles ended (a timer that fired before the last one ended is spent)
        self._fired_at: int | None = None  # _ended when the timer last fired (None: a change)
        self._schedule_state = meter_pace.Schedule()  # the meter pace's (core/pace.py)
        self._buckets: tuple[meter_pace.Bucket, ...] | None = None  # the write allowance's tokens
        self._changed: frozenset[int] = frozenset()  # batteries this cycle changed (awaited)
        self._lags: list[meter_pace.Lag] = []  # each battery's judgement (pace.judge)
        self._watched: frozenset[int] = frozenset()  # batteries whose change this cycle watches
        self._closing = False  # closing: no report runs a cycle any more

    @property
    def lifecycle(self) -> lifecycle.Lifecycle:
        """Return the loop's lifecycle (core/lifecycle.py), owned by its stops."""
        return self.stops.state

    @property
    def _ids(self) -> frozenset[str]:
        return frozenset(battery.subentry_id for battery in self.batteries)

    async def _async_cycle(self) -> CycleData:
        """Run one cycle: read, plan, decide, write."""
        raise NotImplementedError

    def _schedule(self, delay_s: float) -> None:
        """Run the next cycle after delay_s."""
        self._timer.cancel()
        if self.lifecycle.phase is not Phase.CLOSED:
            self._timer.schedule(delay_s)

    async def _async_timer_fired(self) -> None:
        self._due, self._fired_at = True, self._ended
        await self.async_refresh()

    @callback
    def async_meter_reported(self) -> None:
        """Run a cycle on one of the meter's own reports, as the meter pace allows."""
        if self.pace is not Pace.METER or self._closing:
            return
        if self.lifecycle.phase in (Phase.STARTING, Phase.CLOSED):
            return
        now = self.reader.monotonic()
        self._judge(now)
        before = schedule = self._schedule_state
        for index in schedule.awaiting:  # a battery whose AC power reported since: not awaited
            schedule = meter_pace.ac_reported(schedule, index, self._ac_reported_at(index, now))
        # judged only where it matters: while awaiting, or while a cycle runs (it may await)
        urgent = (bool(schedule.awaiting) or schedule.running) and self._report_urgent(now)
        self._schedule_state = meter_pace.reported(schedule, now, self.pace_settings, urgent=urgent)
        wait = meter_pace.wait_s(self._schedule_state, now)
        if self._schedule_state != before and wait is not None:
            self._run_in(wait)

    def _judge(self, now: float) -> None:
        """Judge each battery's watched change on its latest AC power (``pace.judge``)."""
        if len(self._lags) != len(self.batteries):
            self._lags = [meter_pace.Lag() for _ in self.batteries]
        for index, lag in enumerate(self._lags):
            if lag.watch is not None:
                ac_w, at = self.delivery.ac_reading(index, now)
                self._lags[index] = meter_pace.judge(lag, ac_w, at, self.delivery.response)

    def _ac_reported_at(self, index: int, now: float) -> float | None:
        """Return when battery index's AC power last reported (monotonic; None: never).

        Any report, a same-value one included (Home Assistant's ``last_reported``): the
        reader's clock of reports, as the read-back's ``ac_reported_at`` has it. A sensor
        that is missing, unavailable or unknown reports now: nothing is to come, so the
        battery is not awaited (the cycle then plans it as unknown).
        """
        entity_id = self.batteries[index].entities.get(Role.AC_POWER)
        state = None if entity_id is None else self.hass.states.get(entity_id)
        if state is None or state.state in (STATE_UNAVAILABLE, STATE_UNKNOWN):
            return now
        age = self.reader.clock.latest_age(state.entity_id, now)
        return None if age is None else now - age

    def _report_urgent(self, now: float) -> bool:
        """Return whether the meter's report must run a cycle though a battery is awaited.

        The meter would fail safe (missing, unavailable, implausible, stale), or shows a
        phase past its limit or the import past the peak cap (``pace.past_limit``).
        """
        meter = self.reader.meter
        verdict = meter.judge(now, self.reader.stale_s, self.reader.fuse_a)
        if verdict.cause is not None:
            return True
        currents = meter.judge_currents(now, self.reader.stale_s, verdict.phase_w)
        points = {name: (w, currents.get(name)) for name, w in verdict.phase_w.items()}
        if any(battery.phase not in verdict.phase_w for battery in self.batteries):
            points[""] = (verdict.grid_w, None)  # limited on the total, as the reader has it
        return meter_pace.past_limit(
            verdict.grid_w, points, self.options.phase_limits, self.grid.import_allowed_w()
        )

    def unwritten(self, failed: frozenset[int]) -> None:
        """Forget this cycle's changes to the batteries whose writes failed (or never went).

        Nothing moved there, so nothing is awaited (a stop that failed is retried at the
        next report, not at the timer) and no lag is judged on it.
        """
        for index in self._watched & failed:
            self._lags[index] = replace(self._lags[index], watch=None)
        self._watched -= failed
        self._changed -= failed

    def _run_in(self, wait_s: float) -> None:
        """Run the next cycle after wait_s; at once as a task of the entry's (unload ends it).

        Never inside the report that asked for it (not eager): a meter writes its total and
        then its phases in one update, and a cycle started inside the total's report would
        read the phases of the update before, and its refresh would take the phases' own
        reports for ours (their age then grows until the meter looks stale). Not eager also
        because a cycle's end calls this before it counts itself ended: an eager task would
        take that cycle's end for a later one and be spent, with no timer left.
        """
        if wait_s > 0 or self.config_entry is None:
            self._schedule(wait_s)
            return
        self._timer.cancel()
        self.config_entry.async_create_task(
            self.hass,
            self._async_timer_fired(),
            "marstek_strategy meter-paced cycle",
            eager_start=False,
        )

    def settles(self, delay_s: float) -> bool:
        """Return whether a cycle followed by delay_s settles (``pace.settles``)."""
        return meter_pace.settles(delay_s, self.loop_settings, self.pace)

    def allowed(
        self, plan: Plan, decision: Decision, commanded: Sequence[Commanded], limit: Limit | None
    ) -> tuple[Plan, Decision]:
        """Return plan and decision within the meter pace's write allowance (``pace.allow``).

        The fixed pace writes what was decided. A withheld battery keeps what it was told:
        its plan entry is that, so the plan in force stays true. The batteries the writes
        change (``pace.awaited``; none in a dry run or an urgent cycle) are watched
        (``pace.watch``) and awaited if slow or not judged yet (``pace.slow_ones``).
        """
        if self.pace is not Pace.METER:
            return plan, decision
        urgent = meter_pace.urgent_limit(limit)
        now = self.reader.monotonic()
        result = meter_pace.allow(plan, decision, commanded, self._buckets, now, urgent=urgent)
        self._buckets = result.buckets
        if self.lifecycle.action is Action.RUN:
            self._judge(now)
            after = result.decision.commanded
            changed = self._watched = meter_pace.awaited(commanded, after, urgent=urgent)
            for i in changed:
                self._lags[i] = meter_pace.watch(
                    self._lags[i],
                    commanded[i],
                    after[i],
                    self.delivery.estimate_w(i, now),
                    now,
                    response=self.delivery.response,
                )
            self._changed = meter_pace.slow_ones(changed, self._lags)
        if result.withheld:
            LOGGER.debug("Write allowance: kept %s as told", sorted(result.withheld))
        return result.plan, result.decision

    async def async_change(self, change: Callable[[], Awaitable[None]]) -> None:
        """Make a change under the loop's lock (a grid mode), show it, then run a cycle now."""
        async with self._lock:
            await change()
        self.async_update_listeners()
        await self._async_run_now()

    async def _async_run_now(self) -> None:
        """Run a cycle now (a switch, a grid mode), unless the loop has not started or closed."""
        if self.lifecycle.phase not in (Phase.STARTING, Phase.CLOSED):
            self._due, self._fired_at = True, None
            await self.async_refresh()

    @callback
    def async_settings_restored(self) -> None:
        """Take the switch as the entities restored it (before the loop starts)."""
        if self.lifecycle.phase is Phase.STARTING and not self.lifecycle.switched_early:
            self.stops.state = lifecycle.restore(
                enabled=self.settings.enabled,
                dry_run=self.options.dry_run,
                hand_back=self.lifecycle.hand_back,
                pending=self.lifecycle.pending,
            )

    async def async_start(self) -> None:
        """Run the first cycle now (call once Home Assistant has started)."""
        await self.stops.async_event(lifecycle.Started(self._ids))
        self._schedule(START_DELAY_S)

    async def async_cycle_now(self) -> None:
        """Run a cycle at once after the switch changed (only a stop cycle if it started)."""
        async with self._lock:
            on = self.lifecycle.enabled
            await self.stops.async_event(lifecycle.Switched(self.settings.enabled, self._ids))
            if self.lifecycle.enabled and not on:
                self.told.forget()  # driven by hand meanwhile?
                self.plan = self.stops.keepalive.last = None
        await self._async_run_now()

    async def async_shutdown(self) -> None:
        """Cancel the next cycle and ignore new ones."""
        self._closing = True
        self.stops.event(lifecycle.Closing(frozenset()))
        self._timer.cancel()
        await super().async_shutdown()

    async def async_stop_batteries(self) -> None:
        """Close the loop: make the stops it owes (hold stopped or hand back), keep the rest."""
        self._closing = True
        self._timer.cancel()
        async with self._lock:
            if self.lifecycle.phase is Phase.CLOSED:
                return
            await self.stops.async_event(lifecycle.Closing(self._ids))
            LOGGER.debug("Closing: stopping %s", sorted(self.lifecycle.pending))
            await self.stops.async_make()

    async def _async_update_data(self) -> CycleData | None:
        """Run one cycle; never raises, so the loop always goes on."""
        async with self._lock:
            due, self._due = self._due, False
            # A cycle ended since the timer fired (it waited for the lock: a switch, a grid
            # mode): that cycle scheduled the next, and this one would cut its settle short.
            spent = self._fired_at is not None and self._ended > self._fired_at
            if not due or spent:
                # A refresh asked for (homeassistant.update_entity on a hub entity) is no
                # cycle: the pace, the settle and the least gap decide when one runs.
                return self.data
            self._schedule_state = meter_pace.started(self._schedule_state, self.reader.monotonic())
            self._changed = self._watched = frozenset()
            try:
                data = await self._async_cycle()
            except Exception:
                LOGGER.exception("Control cycle failed; stopping every battery")
                self.unwritten(self._watched | self._changed)  # its writes may not have gone
                try:  # a loop that drives nothing (dry run, stopping) writes nothing here
                    data = await self._async_fail_safe(
                        Cause.ERROR, None, dry_run=self.lifecycle.action is not Action.RUN
                    )
                except Exception:
                    LOGGER.exception("Stopping the batteries failed; retrying next cycle")
                    data = CycleData(
                        dt_util.utcnow(), Status.FAIL_SAFE, self.interval_s, cause=Cause.ERROR
                    )
            self.delivery.record(self.told.commanded)  # the setpoints in force now
            now = self.reader.monotonic()
            for index in self._watched:  # written by now: a report judges from the cycle's end
                self._lags[index] = meter_pace.restamp(self._lags[index], now)
            self._schedule_state = meter_pace.ended(
                self._schedule_state,
                now,
                data.delay_s,
                settling=data.status is Status.SETTLING,
                awaiting=self._changed,
            )
            if self.pace is Pace.METER:  # a report during the cycle may run the next sooner
                self._run_in(meter_pace.wait_s(self._schedule_state, now) or 0.0)
            else:
                self._schedule(data.delay_s)
            self._ended += 1
            return data

    async def _async_fail_safe(
        self, cause: Cause, entity_id: str | None, *, dry_run: bool = False
    ) -> CycleData:
        """Stop every battery (adapters/stops.py); show each one as it was told."""
        records, self.plan = await self.stops.async_fail_safe(
            cause, entity_id, self.has_rs485, self.loop_settings, dry_run=dry_run
        )
        return self._cycle_data(
            self._told(REASON_FAIL_SAFE),
            status=Status.FAIL_SAFE,
            cause=cause,
            cause_entity_id=entity_id,
            writes=records,
        )

    def _told(self, reason: str) -> dict[str, BatteryState]:
        """Return each battery as told: stopped, unless a stop of it did not go through."""
        ids = [battery.subentry_id for battery in self.batteries]
        return told_states(ids, self.told.commanded, reason)

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
