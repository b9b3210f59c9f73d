"""The stops the loop owes: its lifecycle with the pending stops kept, and the stop writes.

``core/lifecycle.py`` decides what each phase may do; this moves it on, keeps the pending
stops (removed batteries' too) in the store, and makes the stops: a hold-stopped stop, a
hand-back, or the fail-safe's stop of every battery.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
import time

from ..const import LOGGER, Role
from ..core import control, lifecycle
from ..core.control import Keepalive, LoopSettings, WriteRecord
from ..core.lifecycle import Phase
from ..core.model import Plan
from ..core.readings import Cause
from .batteries import BatteryConfig
from .storage import EntryStore
from .told import Told
from .writer import Writer, all_done


class Stops:
    """Own the lifecycle's state; make the stops it owes on the targets (batteries, orphans)."""

    def __init__(
        self,
        store: EntryStore,
        targets: Sequence[BatteryConfig],
        told: Told,
        writer: Writer,
        state: lifecycle.Lifecycle,
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        """Make stops on targets (configured batteries first) through writer, told and store.

        clock is the monotonic clock the keep-alive counts on.
        """
        self.clock = clock
        self.store = store
        self.targets = list(targets)
        self.told = told
        self.writer = writer
        self.state = state
        self.keepalive = Keepalive()  # the last full assertion of the writes
        self.save_failed = False  # the last save of the pending stops failed (logged)

    async def async_event(self, event: lifecycle.LifecycleEvent) -> None:
        """Move the lifecycle on; persist the pending stops when they change.

        A store whose write raises (an OSError its Store does not catch) never holds up a
        stop: the pending stops are kept in memory and made all the same; logged once until
        a save goes.
        """
        if not self.event(event) and not self.save_failed:
            return  # unchanged; after a failed save it is tried again at every event (cycle)
        try:
            await self.async_save_pending()
        except Exception as err:  # any failure of the store: the same answer
            if not self.save_failed:
                LOGGER.warning(
                    "Could not keep the pending stops in the store (%s); they are made "
                    "all the same, but a restart before then forgets them",
                    err,
                )
            self.save_failed = True
        else:
            if self.save_failed:
                LOGGER.info("The pending stops are kept in the store again")
            self.save_failed = False

    def event(self, event: lifecycle.LifecycleEvent) -> bool:
        """Move the lifecycle on; return whether the pending stops changed."""
        before = self.state
        self.state = lifecycle.transition(before, event)
        return self.state.pending != before.pending

    async def async_save_pending(self) -> None:
        """Keep the pending stops in the store."""
        ids = self.state.pending
        await self.store.async_save_pending(b for b in self.targets if b.subentry_id in ids)

    async def async_make(self) -> tuple[WriteRecord, ...]:
        """Make the pending stops (or hand control back); those that went are no longer."""
        pending = self.state.pending
        indices = [i for i, b in enumerate(self.targets) if b.subentry_id in pending]
        if not indices:
            return ()
        commanded = self.told.with_orphans()
        if self.state.hand_back:
            rs485 = [Role.RS485_MODE in battery.entities for battery in self.targets]
            has_mode = [battery.work_mode is not None for battery in self.targets]
            writes = control.hand_back_writes(indices, rs485, has_mode)
        else:
            writes = tuple(w for w in control.stop_writes(commanded) if w.battery in indices)
        written = await self.writer.async_write(writes, self.told)
        made = {self.targets[i].subentry_id for i in indices if i not in written.failed}
        await self.async_event(lifecycle.StopsMade(frozenset(made)))
        return written.records

    async def async_fail_safe(
        self,
        cause: Cause,
        entity_id: str | None,
        has_rs485: Sequence[bool],
        settings: LoopSettings,
        *,
        dry_run: bool,
    ) -> tuple[tuple[WriteRecord, ...], Plan]:
        """Stop every battery: all at once on entry, then only what still differs.

        Returns the writes and the plan in force after them.
        """
        now = self.clock()
        records: tuple[WriteRecord, ...] = ()
        entering = self.state.phase is not Phase.FAIL_SAFE
        if dry_run:
            pass  # plans only; a dry run writes nothing
        elif entering or 0 < settings.keepalive_s <= self.keepalive.since(now):
            if entering:
                LOGGER.info(
                    "Fail-safe (%s%s): stopping every battery",
                    cause,
                    f", {entity_id}" if entity_id else "",
                )
            # Blind without the meter: assert the stop again every keep-alive period from now.
            self.keepalive.last = now
            writes = control.stop_writes(self.told.now())
            records = (await self.writer.async_write(writes, self.told)).records
        else:  # only what is still not stopped (a stop that failed)
            count = len(self.told.now())
            stop = control.decide(
                Plan.all_stop(count),
                self.told.now(),
                has_rs485,
                0.0,
                settings,
                probe=self.writer.not_answering,
            )
            records = (await self.writer.async_write(stop.writes, self.told)).records
        await self.async_event(lifecycle.MeterBad(cause))
        count = len(self.told.now())
        if all_done(records):
            return records, Plan.all_stop(count)
        return records, control.plan_from_commanded(self.told.now())
