"""Writing the batteries: service calls with our own contexts, one deadline, a write log.

Batteries are written concurrently, each battery's writes in the policy's order. Batteries
whose writes only lower their power go first, then the others, so that no battery starts
while another still runs the other way. One deadline bounds all the writes of a cycle, so a
hung board delays the cycle by that deadline at most, not once per write. After a failed
write, a battery gets only the writes that lower its power (a mode must not follow a power it
depends on but did not get). A write that starts or raises a battery is not made once the
readings it was planned on are older than the stale timeout (``fresh_until``).

A battery whose write timed out does not answer (a dead Modbus gateway, a hung board): it
goes on with what it was told last and cannot be stopped. Until a write of it goes through
again (``not_answering``; said once), its writes get ``PROBE_TIMEOUT_S`` only (the full
deadline every ``PROBE_FULL_EVERY``-th time, for a slow hub that does answer); those that
lower run beside both waves, those that raise with the second: it holds neither the cycle
nor the others' raises for the full deadline, cycle after cycle, while the stop it is owed
is tried every cycle (``control.decide``'s probe).
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from typing import Final

from homeassistant.const import (
    ATTR_ENTITY_ID,
    ATTR_UNIT_OF_MEASUREMENT,
    SERVICE_TURN_OFF,
    SERVICE_TURN_ON,
    STATE_UNAVAILABLE,
)
from homeassistant.core import Context, HomeAssistant, State, split_entity_id
from homeassistant.util import dt as dt_util

from ..const import LOGGER, Role
from ..core import control
from ..core.connector import snap
from ..core.control import Commanded, Write, WriteKind, WriteRecord
from ..core.readings import from_watts, parse_number, to_watts
from . import discovery
from .batteries import BatteryConfig
from .profiles import canonical_state, profile_named
from .told import Told

WRITE_TIMEOUT_S = 10.0  # the deadline of all the writes of one cycle
#: How long the writes of a battery that does not answer may take in a cycle (a write to a
#: board that answers takes well under a second, a Modbus write waiting for its hub a bit more).
PROBE_TIMEOUT_S = 2.0
PROBE_FULL_EVERY = 5
WRITE_LOG_SIZE = 200
STALE: Final = "the readings are older than the stale timeout"
UNSUPPORTED: Final = "unsupported"  # a hand-back write the board has no option for

# Which entity a write goes to (a role, or None: the board's User Work Mode select), the
# service that writes it, and the service's value key.
_TARGETS: Final[dict[WriteKind, tuple[Role | None, str, str, str]]] = {
    WriteKind.RS485_ENABLE: (Role.RS485_MODE, "select", "select_option", "option"),
    WriteKind.RS485_DISABLE: (Role.RS485_MODE, "select", "select_option", "option"),
    WriteKind.CHARGE_POWER: (Role.CHARGE_POWER, "number", "set_value", "value"),
    WriteKind.DISCHARGE_POWER: (Role.DISCHARGE_POWER, "number", "set_value", "value"),
    WriteKind.MODE: (Role.FORCIBLE_MODE, "select", "select_option", "option"),
    WriteKind.WORK_MODE: (None, "select", "select_option", "option"),
}


@dataclass(frozen=True, slots=True)
class Written:
    """The writes of one call, and the batteries (indices) of which a write did not go."""

    records: tuple[WriteRecord, ...]
    failed: frozenset[int]

    @property
    def stale(self) -> bool:
        """Return whether a start or raise waited because the readings were too old."""
        return any(record.detail == STALE for record in self.records)


def all_done(records: Sequence[WriteRecord]) -> bool:
    """Return whether every write was made (or simulated in dry run, or not supported)."""
    return all(record.result in ("ok", "dry_run", UNSUPPORTED) for record in records)


def number_value(state: State, value: float, *, down: bool = False) -> float:
    """Clamp and round value to a number entity's min, max and step (down: never up)."""
    low = parse_number(str(state.attributes.get("min")))
    high = parse_number(str(state.attributes.get("max")))
    step = parse_number(str(state.attributes.get("step")))
    return snap(value, low, high, step, down=down)


def find_work_mode(hass: HomeAssistant, battery: BatteryConfig) -> str | None:
    """Return the battery's User Work Mode select, on its device or by its entities' names."""
    profile = profile_named(battery.connector)
    return discovery.find_work_mode(hass, battery.entities, profile)


class Writer:
    """Makes the policy's writes on the batteries' LilyGo entities."""

    def __init__(self, hass: HomeAssistant, batteries: Sequence[BatteryConfig]) -> None:
        """Write to batteries (a Write's battery is an index into it)."""
        self.hass = hass
        self.batteries = batteries
        self.log: deque[WriteRecord] = deque(maxlen=WRITE_LOG_SIZE)
        self._own_contexts: deque[str] = deque(maxlen=100)
        self._failing: set[str] = set()
        self._unsupported: set[str] = set()
        self._silent: set[int] = set()  # batteries whose last write timed out
        self._probes = 0  # the calls that wrote to a battery that does not answer

    @property
    def not_answering(self) -> frozenset[int]:
        """Return the batteries (indices) whose last write timed out: not to be counted on."""
        return frozenset(self._silent)

    def is_own(self, context: Context) -> bool:
        """Return whether a state change came from one of our writes."""
        return context.id in self._own_contexts

    @property
    def own_contexts(self) -> Sequence[str]:
        """Return the ids of the contexts of our last writes (the read-back logs who wrote)."""
        return self._own_contexts

    async def async_write(
        self,
        writes: Sequence[Write],
        told: Told,
        *,
        dry_run: bool = False,
        fresh_until: float | None = None,
    ) -> Written:
        """Make writes; told takes what succeeds (not in dry run). Never raises.

        fresh_until is the event-loop time after which the readings are too old to start or
        raise a battery on.
        """
        loop = asyncio.get_running_loop()
        start = loop.time()
        deadline = start + WRITE_TIMEOUT_S
        per_battery: dict[int, list[Write]] = {}
        for write in writes:
            per_battery.setdefault(write.battery, []).append(write)
        silent = {index for index in per_battery if index in self._silent and not dry_run}
        reducing = {
            index
            for index, battery_writes in per_battery.items()
            if all(control.reduces(write, told.at(index)) for write in battery_writes)
        }
        # A battery that does not answer gets less time (every PROBE_FULL_EVERY-th try the
        # full deadline: a slow hub that answers is not taken for a dead one for good).
        probe_until = deadline
        if silent:
            self._probes += 1
            if self._probes % PROBE_FULL_EVERY:
                probe_until = start + PROBE_TIMEOUT_S
        records: dict[int, list[WriteRecord]] = {}

        async def batteries(indices: Iterable[int], until: float) -> None:
            ordered = list(indices)
            done = await asyncio.gather(
                *(
                    self._async_battery(per_battery[index], told, until, fresh_until, dry_run)
                    for index in ordered
                )
            )
            records.update(zip(ordered, done, strict=True))

        async def waves() -> None:
            # First what lowers; what raises only then (a battery that does not answer
            # lowers beside both waves, and raises with the second).
            await batteries((i for i in per_battery if i in reducing - silent), deadline)
            await asyncio.gather(
                batteries((i for i in per_battery if i not in reducing | silent), deadline),
                batteries((i for i in per_battery if i in silent - reducing), probe_until),
            )

        await asyncio.gather(
            waves(), batteries((i for i in per_battery if i in silent & reducing), probe_until)
        )
        ordered = tuple(record for index in per_battery for record in records[index])
        self.log.extend(ordered)
        if not dry_run:
            for index in per_battery:
                self._note_answer(index, records[index], told.at(index))
        failed = frozenset(index for index in per_battery if not all_done(records[index]))
        return Written(ordered, failed)

    def _note_answer(
        self, index: int, records: Sequence[WriteRecord], commanded: Commanded
    ) -> None:
        """Follow whether a battery answers: its last write made went, or timed out."""
        made = [record for record in records if record.result in ("ok", "failed")]
        if not made:
            return
        title = self.batteries[index].title
        if made[-1].result == "ok":
            if index in self._silent:
                self._silent.discard(index)
                LOGGER.info("Battery %s answers again", title)
            return
        if made[-1].detail != "timed out" or index in self._silent:
            return
        self._silent.add(index)
        power = commanded.power_for(commanded.mode)
        LOGGER.warning(
            "Battery %s does not answer (a write timed out): it goes on with what it was told "
            "last (%s, %d W) until it answers; the strategy does not count on it and tries its "
            "writes (its stop) again every cycle",
            title,
            commanded.mode.value,
            power,
        )

    async def _async_battery(
        self,
        writes: Sequence[Write],
        told: Told,
        deadline: float,
        fresh_until: float | None,
        dry_run: bool,
    ) -> list[WriteRecord]:
        """Make one battery's writes in order."""
        loop = asyncio.get_running_loop()
        records: list[WriteRecord] = []
        failed = False
        for write in writes:
            now = told.at(write.battery)
            lowers = control.reduces(write, now)
            skip = None
            if failed and not lowers:
                skip = "an earlier write failed"
            elif loop.time() >= deadline:
                skip = "the cycle's write deadline passed"
            elif not lowers and fresh_until is not None and loop.time() > fresh_until:
                skip = STALE
            if skip is not None:
                records.append(self._record(write, "skipped", write.value, skip))
                failed = True
                continue
            record = await self._async_write_one(write, deadline, dry_run)
            records.append(record)
            if record.result == "ok":
                # A number's value as it took it (its step and unit): what the battery was told.
                made = write if isinstance(write.value, str) else replace(write, value=record.value)
                told.written(write.battery, control.apply_write(now, made))
            elif record.result not in ("dry_run", UNSUPPORTED):
                failed = True
        return records

    def _entity_id(self, write: Write) -> str | None:
        battery = self.batteries[write.battery]
        role = _TARGETS[write.kind][0]
        return battery.work_mode if role is None else battery.entities.get(role)

    def _record(
        self,
        write: Write,
        result: str,
        value: int | str,
        detail: str | None = None,
        context_id: str | None = None,
    ) -> WriteRecord:
        battery = self.batteries[write.battery]
        return WriteRecord(
            dt_util.utcnow(),
            battery.title,
            write.kind,
            self._entity_id(write),
            value,
            result,
            detail,
            context_id,
        )

    def _state(self, index: int, role: Role | None, entity_id: str | None) -> State | None:
        """Return an entity's state in the integration's words (adapters/profiles.py)."""
        profile = profile_named(self.batteries[index].connector)
        state = self.hass.states.get(entity_id) if entity_id else None
        return canonical_state(profile, role, state)

    def told_w(self, index: int, mode: str, power_w: int) -> int:
        """Return the power (W) a battery is told for power_w: its number's step, down.

        A number with steps of 50 W told 123 W takes 100 W, and that is what the battery was
        told (the read-back then finds no drift, the policy no change to write again).
        """
        if power_w <= 0 or mode not in ("charge", "discharge"):
            return power_w
        role = Role.CHARGE_POWER if mode == "charge" else Role.DISCHARGE_POWER
        state = self._state(index, role, self.batteries[index].entities.get(role))
        if state is None:
            return power_w
        unit = state.attributes.get(ATTR_UNIT_OF_MEASUREMENT)
        native = from_watts(float(power_w), unit)
        told = None if native is None else to_watts(number_value(state, native, down=True), unit)
        return power_w if told is None else max(0, round(told))

    async def _async_write_one(self, write: Write, deadline: float, dry_run: bool) -> WriteRecord:
        role, domain, service, key = _TARGETS[write.kind]
        entity_id = self._entity_id(write)
        if dry_run:
            return self._record(write, "dry_run", write.value)
        state = self._state(write.battery, role, entity_id)
        # "unknown" is an entity not read yet (an RS485 select after a reboot): it takes writes.
        if entity_id is None or state is None or state.state == STATE_UNAVAILABLE:
            self._log_failure(entity_id or write.kind.value, "not available")
            return self._record(write, "skipped", write.value, "not available")
        value: float | str
        shown: int | str  # what the log records: a power in W, whatever the entity's unit
        data: dict[str, float | str] = {}
        if split_entity_id(entity_id)[0] == "switch":  # RS485 control as a switch: on/off
            domain, key = "switch", ""
            service = SERVICE_TURN_ON if write.value == "enable" else SERVICE_TURN_OFF
            value = shown = str(write.value)
        elif domain == "number":
            # The unit is read at every write (a board re-flashed to kW gets kW).
            unit = state.attributes.get(ATTR_UNIT_OF_MEASUREMENT)
            native = from_watts(float(write.value), unit)
            if native is None:
                self._log_failure(entity_id, f"unit {unit!r} is not a unit of power")
                return self._record(write, "skipped", write.value, "not a unit of power")
            value = number_value(state, native)
            if value == int(value):
                value = int(value)
            shown = round(to_watts(value, unit) or 0)
        else:
            shown = str(write.value)
            raw = self.hass.states.get(entity_id)  # the connector's own word for the option
            offered = raw.attributes.get("options") if raw else None
            options = [str(option) for option in offered] if isinstance(offered, list) else None
            profile = profile_named(self.batteries[write.battery].connector)
            value = profile.vocabulary.native(shown, options)
            if options is not None and value not in options:
                # The board's own spelling (anti_feed for anti-feed), never a guess.
                matched = control.match_option(value, options)
                if matched is None and write.kind in control.HAND_BACK_ONLY:
                    # Nothing to hand back there: not a stop still to be made (said once).
                    self._log_unsupported(entity_id, value, options)
                    return self._record(write, UNSUPPORTED, shown, "not an option")
                if matched is None:
                    self._log_failure(entity_id, f"{value!r} is not an option")
                    return self._record(write, "skipped", shown, "not an option")
                value = shown = matched  # the log shows what was written
        if key:
            data[key] = value
        context = Context()
        self._own_contexts.append(context.id)
        try:
            async with asyncio.timeout_at(deadline):
                await self.hass.services.async_call(
                    domain,
                    service,
                    {ATTR_ENTITY_ID: entity_id, **data},
                    blocking=True,
                    context=context,
                )
        except Exception as err:  # any integration's error (or the deadline) fails this write
            detail = "timed out" if isinstance(err, TimeoutError) else repr(err)
            self._log_failure(entity_id, detail)
            return self._record(write, "failed", shown, detail, context.id)
        if entity_id in self._failing:
            self._failing.discard(entity_id)
            LOGGER.info("Writing %s works again", entity_id)
        return self._record(write, "ok", shown, None, context.id)

    def _log_unsupported(self, entity_id: str, value: str, options: Sequence[str]) -> None:
        """Log once that a board has no option for a hand-back write."""
        if entity_id in self._unsupported:
            return
        self._unsupported.add(entity_id)
        LOGGER.warning(
            "%s has no option %r (its options: %s); it is not written",
            entity_id,
            value,
            ", ".join(map(str, options)),
        )

    def _log_failure(self, entity_id: str, detail: str) -> None:
        """Log a failing target once; it is retried every cycle."""
        if entity_id in self._failing:
            LOGGER.debug("Write to %s failed again: %s", entity_id, detail)
            return
        self._failing.add(entity_id)
        LOGGER.info("Write to %s failed (%s); retrying next cycle", entity_id, detail)
