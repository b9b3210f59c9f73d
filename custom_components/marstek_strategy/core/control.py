"""Pure control-loop policy: which writes to make and when to run the next cycle.

Shared by the integration's coordinator and the benchmark's closed loop, so both run the
same decisions. Nothing here imports Home Assistant.

Rules of ``decide``:

* A power number is written only when its value changes, the mode select only when the mode
  changes (the RS485 link is slow).
* Entering charge or discharge: RS485 ``enable`` first (where the battery has that select and
  it is not known to be enabled), then the power, then the mode, then the number of the mode
  left behind is set to 0.
* Stopping: ``stop`` first, then the number that was active to 0.
* Batteries that stop or lower their power are written before those that raise or start, so
  that no battery starts while another is still running the other way.
* Every ``keepalive_s`` the RS485 ``enable``, power and mode of every running battery are
  sent again, whatever is commanded; a stopped battery gets RS485 ``enable`` (once it shows
  stop with 0 W) and ``stop`` again (a firmware that falls back to its own work mode, or a
  change nobody reported, would otherwise leave it running), from the first keep-alive period
  on (not at the first cycle: a board whose RS485 control is off is not taken over at once).
* The next cycle waits ``settle_s`` after a battery entered charge or discharge from another
  mode, else ``interval_s``.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from enum import StrEnum
import math
from typing import Final

from .model import Mode, Plan, Reason, Setpoint


class WriteKind(StrEnum):
    """Which LilyGo entity a write goes to."""

    RS485_ENABLE = "rs485_enable"  # select rs485_control_mode -> "enable"
    CHARGE_POWER = "charge_power"  # number forcible_charge_power
    DISCHARGE_POWER = "discharge_power"  # number forcible_discharge_power
    MODE = "mode"  # select forcible_charge_discharge
    RS485_DISABLE = "rs485_disable"  # select rs485_control_mode -> "disable" (hand back)
    WORK_MODE = "work_mode"  # select user_work_mode -> HAND_BACK_WORK_MODE (hand back, v3)


RS485_ENABLE_OPTION = "enable"
RS485_DISABLE_OPTION = "disable"
# The battery's own self-consumption mode (the work mode RS485 control switched it to).
HAND_BACK_WORK_MODE = "anti-feed"


#: Writes that only hand control back: a board without the option simply has nothing to hand
#: back there (no pending stop for it).
HAND_BACK_ONLY: Final = frozenset({WriteKind.RS485_DISABLE, WriteKind.WORK_MODE})


def _spelling(option: str) -> str:
    """Return an option as compared: case, spaces, '-' and '_' do not count."""
    return "".join(c for c in option.casefold() if c not in " -_")


def match_option(value: str, options: Sequence[str]) -> str | None:
    """Return the option of a select that value stands for (None: it has none).

    The exact spelling first, then one spelled otherwise (``anti_feed``, ``Anti Feed`` for
    ``anti-feed``, as other connectors spell it); never a guess between two.
    """
    if value in options:
        return value
    found = [option for option in options if _spelling(str(option)) == _spelling(value)]
    return str(found[0]) if len(found) == 1 else None


@dataclass(frozen=True, slots=True)
class Write:
    """One entity write: battery index (input order), target, value (W or option)."""

    battery: int
    kind: WriteKind
    value: int | str


@dataclass(frozen=True, slots=True)
class Commanded:
    """What the controller believes one battery's LilyGo entities are set to."""

    mode: Mode = Mode.STOP
    charge_w: int = 0
    discharge_w: int = 0
    rs485_enabled: bool = False

    def power_for(self, mode: Mode) -> int:
        """Return the number of mode (0 for stop)."""
        if mode is Mode.CHARGE:
            return self.charge_w
        if mode is Mode.DISCHARGE:
            return self.discharge_w
        return 0


@dataclass(frozen=True, slots=True)
class LoopSettings:
    """Timing of the control loop (seconds); keepalive_s <= 0 turns the keep-alive off."""

    interval_s: float = 6.5
    settle_s: float = 12.0
    keepalive_s: float = 30.0


@dataclass(frozen=True, slots=True)
class Decision:
    """The writes of one cycle, in order, and what follows from them."""

    writes: tuple[Write, ...]
    commanded: tuple[Commanded, ...]  # what is commanded once the writes are made
    delay_s: float  # wait before the next cycle
    keepalive: bool  # this cycle refreshed RS485 enable and the current setpoints


def power_kind(mode: Mode) -> WriteKind:
    """Return the number that holds the power of mode (charge or discharge)."""
    return WriteKind.CHARGE_POWER if mode is Mode.CHARGE else WriteKind.DISCHARGE_POWER


def apply_write(commanded: Commanded, write: Write) -> Commanded:
    """Return what a battery is commanded once write has been made."""
    if write.kind is WriteKind.RS485_ENABLE:
        return replace(commanded, rs485_enabled=True)
    if write.kind in (WriteKind.RS485_DISABLE, WriteKind.WORK_MODE):
        return replace(commanded, rs485_enabled=False)
    if write.kind is WriteKind.CHARGE_POWER:
        return replace(commanded, charge_w=int(write.value))
    if write.kind is WriteKind.DISCHARGE_POWER:
        return replace(commanded, discharge_w=int(write.value))
    return replace(commanded, mode=Mode(str(write.value)))


def reduces(write: Write, now: Commanded) -> bool:
    """Return whether a write can only lower a battery's power (stop, or a lower number).

    Such writes go even after another write of that battery failed this cycle.
    """
    if write.kind is WriteKind.MODE:
        return write.value == Mode.STOP.value
    if write.kind in (WriteKind.CHARGE_POWER, WriteKind.DISCHARGE_POWER):
        mode = Mode.CHARGE if write.kind is WriteKind.CHARGE_POWER else Mode.DISCHARGE
        return int(write.value) <= 0 or int(write.value) < now.power_for(mode)
    return False


def _stop_battery(index: int, now: Commanded, has_rs485: bool, hold: bool) -> list[Write]:
    """Return the writes that stop one battery (hold: RS485 enable and stop again).

    The enable goes only to a battery that shows stop with 0 W: one that shows a setpoint of
    its own is stopped first (its enable follows at the next keep-alive), so that taking
    control never starts an old setpoint.
    """
    writes: list[Write] = []
    shown_stopped = now.mode is Mode.STOP and now.charge_w == 0 and now.discharge_w == 0
    if hold and has_rs485 and shown_stopped:
        writes.append(Write(index, WriteKind.RS485_ENABLE, RS485_ENABLE_OPTION))
    if hold or now.mode is not Mode.STOP:
        writes.append(Write(index, WriteKind.MODE, Mode.STOP.value))
        for mode in (Mode.CHARGE, Mode.DISCHARGE):
            if now.power_for(mode) != 0:
                writes.append(Write(index, power_kind(mode), 0))
    return writes


def _run_battery(
    index: int, target: Setpoint, now: Commanded, has_rs485: bool, refresh: bool
) -> list[Write]:
    """Return the writes that bring one battery to a charge or discharge setpoint."""
    writes: list[Write] = []
    enabling = has_rs485 and not now.rs485_enabled
    if has_rs485 and (enabling or refresh):
        writes.append(Write(index, WriteKind.RS485_ENABLE, RS485_ENABLE_OPTION))
    explicit = refresh or enabling
    if explicit or now.power_for(target.mode) != target.power_w:
        writes.append(Write(index, power_kind(target.mode), target.power_w))
    if explicit or now.mode is not target.mode:
        writes.append(Write(index, WriteKind.MODE, target.mode.value))
    left = Mode.DISCHARGE if target.mode is Mode.CHARGE else Mode.CHARGE
    if now.mode is left and now.power_for(left) != 0:
        writes.append(Write(index, power_kind(left), 0))
    return writes


def _order(plan: Plan, commanded: Sequence[Commanded]) -> list[int]:
    """Return the battery order: stops, then decreases, then the rest (by index)."""

    def rank(index: int) -> int:
        target, now = plan.setpoints[index], commanded[index]
        if target.mode is Mode.STOP or target.power_w <= 0:
            return 0
        if target.mode is now.mode and target.power_w <= now.power_for(now.mode):
            return 1
        return 2

    return sorted(range(len(plan.setpoints)), key=lambda i: (rank(i), i))


def decide(
    plan: Plan,
    commanded: Sequence[Commanded],
    has_rs485: Sequence[bool],
    since_keepalive_s: float,
    settings: LoopSettings,
    *,
    probe: Collection[int] = (),
) -> Decision:
    """Return the writes that carry out plan, given what is commanded now.

    ``since_keepalive_s`` is the time since the last decision that returned
    ``keepalive=True`` (the caller keeps that clock). A setpoint with mode charge or
    discharge but no power is carried out as a stop. A battery in ``probe`` (its last write
    timed out) that is to stop gets its stop written again every cycle, as at a keep-alive:
    a write that goes through is how it is known to answer again, and a write that timed out
    may still have reached it.
    """
    count = len(plan.setpoints)
    if len(commanded) != count or len(has_rs485) != count:
        raise ValueError("plan, commanded and has_rs485 must have one item per battery")
    refresh = settings.keepalive_s > 0 and since_keepalive_s >= settings.keepalive_s
    # A stopped battery is held stopped from the first keep-alive period on, not at the first
    # cycle (no keep-alive yet): a board whose RS485 control is off is not taken over at once.
    hold = refresh and math.isfinite(since_keepalive_s)
    writes: list[Write] = []
    after = list(commanded)
    entered = False
    for index in _order(plan, commanded):
        target, now = plan.setpoints[index], commanded[index]
        if target.mode is Mode.STOP or target.power_w <= 0:
            battery_writes = _stop_battery(index, now, has_rs485[index], hold or index in probe)
        else:
            entered = entered or now.mode is not target.mode
            battery_writes = _run_battery(index, target, now, has_rs485[index], refresh)
        for write in battery_writes:
            after[index] = apply_write(after[index], write)
        writes.extend(battery_writes)
    delay = settings.settle_s if entered else settings.interval_s
    return Decision(tuple(writes), tuple(after), delay, refresh)


def stop_writes(commanded: Sequence[Commanded]) -> tuple[Write, ...]:
    """Return the writes that set every battery to stop with 0 W (unconditionally).

    Every mode select first, so that all batteries stop as soon as possible, then the
    numbers.
    """
    modes = [Write(i, WriteKind.MODE, Mode.STOP.value) for i in range(len(commanded))]
    numbers = [
        Write(i, kind, 0)
        for i in range(len(commanded))
        for kind in (WriteKind.CHARGE_POWER, WriteKind.DISCHARGE_POWER)
    ]
    return (*modes, *numbers)


def hand_back_writes(
    indices: Sequence[int], has_rs485: Sequence[bool], has_work_mode: Sequence[bool]
) -> tuple[Write, ...]:
    """Return the writes that stop batteries and hand control back to each one.

    Stop and 0 W first (as ``stop_writes``), then RS485 ``disable`` (v1/v2: the battery
    runs its own work mode) and, where the board has a User Work Mode select, that mode set
    to self-consumption (v3, where ``disable`` has no effect).
    """
    count = max(indices, default=-1) + 1
    wanted = set(indices)
    writes = [w for w in stop_writes([Commanded()] * count) if w.battery in wanted]
    for index in sorted(wanted):
        if has_rs485[index]:
            writes.append(Write(index, WriteKind.RS485_DISABLE, RS485_DISABLE_OPTION))
        if has_work_mode[index]:
            writes.append(Write(index, WriteKind.WORK_MODE, HAND_BACK_WORK_MODE))
    return tuple(writes)


def plan_from_commanded(
    commanded: Sequence[Commanded], has_rs485: Sequence[bool] | None = None
) -> Plan:
    """Return the plan in force, derived from what the batteries' entities say now.

    A battery runs when its mode is charge or discharge and that mode's number is above 0,
    and, where it has an RS485 select (has_rs485), RS485 control is enabled: a board whose
    control is disabled runs its own work mode, whatever old forcible setpoint it shows.
    The overall mode is the running batteries' mode; stop when none runs or when they
    disagree (the engine then restarts from zero).
    """
    setpoints: list[Setpoint] = []
    for index, now in enumerate(commanded):
        power = now.power_for(now.mode)
        if has_rs485 is not None and has_rs485[index] and not now.rs485_enabled:
            power = 0
        if power > 0:
            setpoints.append(Setpoint(now.mode, int(power), Reason.RUNNING))
        else:
            setpoints.append(Setpoint(Mode.STOP, 0, Reason.IDLE))
    modes = {setpoint.mode for setpoint in setpoints if setpoint.mode is not Mode.STOP}
    mode = modes.pop() if len(modes) == 1 else Mode.STOP
    return Plan(mode, tuple(setpoints))


@dataclass(frozen=True, slots=True)
class WriteRecord:
    """One write, as the write log keeps it."""

    time: datetime
    battery: str
    kind: WriteKind
    entity_id: str | None
    value: int | str
    result: str  # ok, failed, skipped, dry_run, unsupported
    detail: str | None = None
    context_id: str | None = None


@dataclass(slots=True)
class Keepalive:
    """When the loop last asserted its writes in full (a keep-alive, or a fail-safe stop).

    On a monotonic clock (seconds): a wall clock set back (NTP) would pause the keep-alive
    for as long as the step.
    """

    last: float | None = None

    def since(self, now: float) -> float:
        """Return the seconds since the last keep-alive (infinite: none yet)."""
        if self.last is None:
            return math.inf
        return now - self.last
