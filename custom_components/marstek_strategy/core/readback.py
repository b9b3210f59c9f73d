"""Pure read-back: what each battery reports against what it was told, as verdicts.

Every cycle the coordinator re-reads each battery's control entities (forcible mode, power
numbers, RS485 select), its AC power sensor and ``Inverter State`` where configured, and
calls ``check``. Nothing here imports Home Assistant.

Rules:

* **Drifted**: the entities report a control state the battery was not told (the Marstek
  app or cloud, a firmware falling back to its own work mode, a board reboot resetting its
  selects), for longer than ``grace_s`` after the last change we commanded (selects publish
  a new state only after the board's next register read). What it reports is then taken as
  commanded, so the policy writes what the plan wants (a battery that should be stopped is
  stopped again). Whoever changed it, with or without a Home Assistant context.
* **Running untold**: told to stop, yet its AC power shows it charging or discharging in
  ``low_cycles`` of its last ``low_window`` judged cycles after ``grace_s`` (a stopped
  reading between does not restart the count): taken as running, so the stop is written
  again; said once until a whole window shows it stopped.
* **RS485 unknown**: the select reads ``unknown`` before its first read or for a register
  value it has no option for: taken as not enabled (``enable`` is written before it runs and
  at every keep-alive), never as a reason to drop the battery.
* **Not responding**: running, commanded at least ``min_check_w``, and its AC power shows less
  than ``low_share`` of it (or the other way) in ``low_cycles`` of its last ``low_window``
  judged cycles after ``grace_s`` (a window: a good reading now and then does not restart the
  count, so a battery that delivers only every other or third cycle is seen too)
  (from its last mode change, or from when it was last seen doing what it was told: a
  battery whose mode turns round every few seconds does not restart the grace):
  excluded for ``backoff_s`` (its power no longer counted as delivered), then probed again;
  it responds again once it delivers while probed. Where the AC power's report time is known
  (``Report.ac_reported_at``) each report is judged once, and against the smallest power
  commanded in its mode from ``grace_s`` before it on: a report that came too soon to show
  a raise (Home Assistant's ESPHome sensors report every 4-15 s, a setpoint shows after
  3-6 s) is judged against the power before it, and a report from before ``grace_s`` after
  a mode change is not judged at all once the mode is settled. A sensor silent for
  ``grace_s`` (ESPHome passes on changed values only) shows its value is still current: each
  cycle then judges it against the power commanded from ``grace_s`` before. A battery that
  does not deliver is out after ``low_cycles`` fresh reports, or cycles of such silence.
* **Inverter fault**: ``Inverter State`` reads ``Fault``: excluded while it does.
* **Drifts again and again** (``redrift_limit``, for connectors whose writes can fail without
  an error): adopted that many times without once showing what it was told since: excluded
  as not responding, like a battery that does not deliver.

Without an AC power sensor only the entities are compared: a battery that ignores its
setpoints while its entities show them, or delivers nothing, is not seen.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from enum import StrEnum
from typing import Final

from .control import Commanded
from .model import Mode, Plan, Setpoint
from .readings import Problem

RS485_ENABLED = "enable"
INVERTER_FAULT_STATE = "fault"


@dataclass(frozen=True, slots=True)
class ReadbackSettings:
    """Thresholds of the read-back (seconds, watts, cycles)."""

    grace_s: float = 15.0  # after a commanded change, before a report may contradict it
    min_check_w: int = 100  # below this commanded power delivery is not judged
    low_share: float = 0.3  # delivering less than this share of the command is too little
    running_w: float = 100.0  # |AC power| above this is running
    low_cycles: int = 3  # cycles a contradiction must last
    low_window: int = 5  # of the last this many judged cycles (delivery), good ones between
    backoff_s: float = 300.0  # exclusion of a battery that does not respond
    power_tolerance_w: float = 20.0  # a number's step and unit rounding (0.01 kW) allowed
    redrift_limit: int = 0  # adoptions in a row that exclude it (0: never; silent writes: 3)


@dataclass(frozen=True, slots=True)
class Report:
    """What one battery's entities say this cycle (None: no entity, or not usable)."""

    mode: str | None
    charge_w: float | None
    discharge_w: float | None
    rs485: str | None = None  # the select's state; None: no RS485 select
    ac_power_w: float | None = None  # + discharging, - charging; None: no sensor or no number
    inverter_state: str | None = None
    context: str | None = None  # who made the forcible mode's last change (for the log)
    # When the AC power last reported (monotonic; None: unknown, each cycle judged as new)
    ac_reported_at: float | None = None

    def as_commanded(self) -> Commanded | None:
        """Return the report as what the battery would be commanded (None: no valid mode)."""
        if self.mode not in {mode.value for mode in Mode}:
            return None
        return Commanded(
            mode=Mode(str(self.mode)),
            charge_w=int(self.charge_w or 0),
            discharge_w=int(self.discharge_w or 0),
            # unknown (not read yet, or a value it has no option for) is not enabled
            rs485_enabled=self.rs485 == RS485_ENABLED,
        )


class Health(StrEnum):
    """Whether a battery does what it is told (the delivery part of the read-back)."""

    OK = "ok"
    EXCLUDED = "excluded"  # not responding: out until the back-off ends
    PROBING = "probing"  # back-off over: runs again, watched


class Event(StrEnum):
    """What the coordinator logs (once per change)."""

    DRIFTED = "drifted"
    RUNNING_UNTOLD = "running_untold"
    NOT_RESPONDING = "not_responding"
    RESPONDING = "responding"
    FAULT = "fault"
    FAULT_CLEARED = "fault_cleared"


@dataclass(frozen=True, slots=True)
class Track:
    """One battery's read-back memory between cycles (monotonic times)."""

    commanded: Commanded | None = None
    mode_since: float = 0.0  # when the commanded mode last changed
    recent: tuple[tuple[float, int], ...] = ()  # (time, power) commanded within grace_s
    lows: tuple[bool, ...] = ()  # the last low_window judged cycles: delivering too little
    # The last low_window judged cycles told to stop: running (AC power) all the same.
    untolds: tuple[bool, ...] = ()
    untold_said: bool = False  # RUNNING_UNTOLD logged for this episode
    drifted: bool = False
    health: Health = Health.OK
    until: float = 0.0  # end of the back-off (health EXCLUDED)
    fault: bool = False
    # Last seen doing what it was told (stopped while told stop, delivering while told to
    # run, or nothing to judge); None: not yet checked. A battery not seen so for grace_s is
    # judged whatever its modes did since: reversals do not restart the grace.
    ok_at: float | None = None
    adopted: int = 0  # adoptions since it last showed what it was told
    # The powers commanded in its mode since its last mode change: (since, W), the last few.
    powers: tuple[tuple[float, int], ...] = ()
    ac_judged_at: float | None = None  # the AC report judged last (its report time)

    @property
    def low(self) -> int:
        """Return the cycles delivering too little within the window."""
        return sum(self.lows)

    @property
    def untold(self) -> int:
        """Return the cycles running untold within the window."""
        return sum(self.untolds)


@dataclass(frozen=True, slots=True)
class Check:
    """The verdict on one battery this cycle."""

    track: Track
    adopt: Commanded | None = None  # take this as commanded (the policy then corrects it)
    exclude: Problem | None = None  # take no part this cycle
    events: tuple[Event, ...] = ()


def _mode_differs(reported: Commanded, commanded: Commanded) -> bool:
    """Return whether a report contradicts a command's mode or RS485 control."""
    return reported.mode is not commanded.mode or reported.rs485_enabled != commanded.rs485_enabled


def _delivered_w(commanded: Commanded, ac_power_w: float) -> float:
    """Return the AC power in the commanded direction (W)."""
    return ac_power_w if commanded.mode is Mode.DISCHARGE else -ac_power_w


def check(
    commanded: Commanded,
    report: Report,
    track: Track,
    now: float,
    settings: ReadbackSettings | None = None,
) -> Check:
    """Return the verdict on one battery: what to take as commanded, whether to exclude it."""
    settings = settings or ReadbackSettings()
    events: list[Event] = []
    before = track.commanded
    if track.ok_at is None:
        track = replace(track, ok_at=now)
    power_now = commanded.power_for(commanded.mode)
    if before is None or _mode_differs(before, commanded):
        track = replace(track, mode_since=now, untolds=(), powers=((now, power_now),))
    elif not track.powers or track.powers[-1][1] != power_now:
        powers = (*track.powers, (now, power_now))
        track = replace(track, powers=_kept(powers, now - _POWERS_KEPT_GRACES * settings.grace_s))
    if track.commanded != commanded:
        track = replace(track, commanded=commanded)
    recent = (*((at, p) for at, p in track.recent if now - at < settings.grace_s), (now, power_now))
    track = replace(track, recent=recent[-8:])
    # A new power in the same mode is no reason to wait before judging delivery: a battery
    # that delivers nothing makes the engine raise its setpoint every cycle.
    mode_settled = now - track.mode_since >= settings.grace_s
    # Not seen doing what it was told for grace_s: judged, however often its mode changed.
    ok_at = now if track.ok_at is None else track.ok_at
    judged = mode_settled or now - ok_at >= settings.grace_s

    fault = (report.inverter_state or "").casefold() == INVERTER_FAULT_STATE
    if fault != track.fault:
        events.append(Event.FAULT if fault else Event.FAULT_CLEARED)
        track = replace(track, fault=fault)

    adopt: Commanded | None = None
    reported = report.as_commanded()
    if reported is not None and report.rs485 is None:  # no RS485 select: nothing to compare
        reported = replace(reported, rs485_enabled=commanded.rs485_enabled)
    # A mode or RS485 state that differs is judged from the last mode change; a power from
    # the powers commanded within grace_s (a number shows a write at the board's next read),
    # so a battery whose power moves every cycle is read back too.
    drifted = ready = False
    if reported is not None and _mode_differs(reported, commanded):
        drifted, ready = True, mode_settled
    elif reported is not None:
        shown = reported.power_for(reported.mode)
        tolerance = settings.power_tolerance_w
        drifted = abs(shown - power_now) > tolerance
        ready = all(abs(shown - power) > tolerance for _at, power in track.recent)
    if drifted and ready and reported is not None:
        adopt = reported
        if not track.drifted:
            events.append(Event.DRIFTED)
        track = replace(track, drifted=True, adopted=track.adopted + 1)
    elif not drifted:
        track = replace(track, drifted=False, adopted=0)  # agrees again: a next drift is logged
    limit = settings.redrift_limit
    if limit and track.adopted >= limit and track.health is not Health.EXCLUDED:
        # Told again and again, never showing it: its writes fail (silently, on some connectors).
        events.append(Event.NOT_RESPONDING)
        until = now + settings.backoff_s
        track = replace(track, adopted=0, health=Health.EXCLUDED, until=until, lows=())
    ac = report.ac_power_w
    running = commanded.mode is not Mode.STOP and commanded.power_for(commanded.mode) > 0
    if running or adopt is not None:
        if track.untolds or track.untold_said:
            track = replace(track, untolds=(), untold_said=False)
    elif ac is not None and judged:
        # A window, as for delivery: a battery that runs untold only every other cycle (a
        # stopped reading between) is seen too.
        runs = abs(ac) > settings.running_w
        untolds = (*track.untolds, runs)[-settings.low_window :]
        said = track.untold_said and any(untolds)  # a clean window ends the episode
        if runs and sum(untolds) >= settings.low_cycles:
            mode = Mode.DISCHARGE if ac > 0 else Mode.CHARGE
            power = round(abs(ac))
            adopt = Commanded(
                mode=mode,
                charge_w=power if mode is Mode.CHARGE else commanded.charge_w,
                discharge_w=power if mode is Mode.DISCHARGE else commanded.discharge_w,
                rs485_enabled=commanded.rs485_enabled,
            )
            if not said:
                events.append(Event.RUNNING_UNTOLD)
                said = True
        track = replace(track, untolds=untolds, untold_said=said)

    track, delivery_events = _delivery(
        commanded,
        ac,
        track,
        now,
        settled=judged,
        settings=settings,
        reported_at=report.ac_reported_at,
        mode_settled=mode_settled,
    )
    events.extend(delivery_events)
    exclude: Problem | None = None
    if track.fault:
        exclude = Problem.INVERTER_FAULT
    elif track.health is Health.EXCLUDED:
        exclude = Problem.NOT_RESPONDING
    return Check(track, adopt, exclude, tuple(events))


#: The commanded powers a track keeps: those of the last two grace_s, and the one in effect
#: before them (a report is judged against those from grace_s before it). Kept by time, not
#: by count: a count of 16 at 2 s cycles covered 30 s, so with a 30 s grace no power was in
#: effect when a report could show it, and a battery delivering nothing was never judged.
_POWERS_KEPT_GRACES: Final = 2.0


def _kept(powers: Sequence[tuple[float, int]], keep_from: float) -> tuple[tuple[float, int], ...]:
    """Return the powers commanded after keep_from, and the one in effect at keep_from."""
    older = [item for item in powers if item[0] <= keep_from]
    return (*older[-1:], *(item for item in powers if item[0] > keep_from))


def _required_w(
    powers: Sequence[tuple[float, int]], shown_from: float, *, mode_settled: bool
) -> int | None:
    """Return the power a report could show (the smallest commanded from shown_from on).

    None: the report came before its mode was commanded long enough to show it.
    """
    in_effect = [power for since, power in powers if since <= shown_from]
    later = [power for since, power in powers if since > shown_from]
    if in_effect:
        return min([in_effect[-1], *later])
    if mode_settled or not later:
        return None
    return min(later)  # modes turning round (judged from ok_at): as commanded since


def _delivery(
    commanded: Commanded,
    ac: float | None,
    track: Track,
    now: float,
    *,
    settled: bool,
    settings: ReadbackSettings,
    reported_at: float | None = None,
    mode_settled: bool = True,
) -> tuple[Track, list[Event]]:
    """Return the delivery part of the verdict: excluded, probing or ok."""
    events: list[Event] = []
    if track.health is Health.EXCLUDED:
        if now < track.until:
            return track, events
        track = replace(track, health=Health.PROBING, lows=())
    power = commanded.power_for(commanded.mode)
    if commanded.mode is Mode.STOP or power < settings.min_check_w or ac is None:
        if ac is None or abs(ac) <= settings.running_w or commanded.mode is not Mode.STOP:
            track = replace(track, ok_at=now, lows=())  # as told, or nothing to judge
        return track, events
    window = settings.low_window
    if reported_at is not None:
        # Each AC report once, against what it could show (grace_s after a command); a
        # sensor silent for grace_s (changed values only) shows its value is still current.
        if track.ac_judged_at is None or reported_at > track.ac_judged_at:
            shown_from = reported_at - settings.grace_s
            track = replace(track, ac_judged_at=reported_at)
        elif now - reported_at >= settings.grace_s:
            shown_from = now - settings.grace_s
        else:
            if _delivered_w(commanded, ac) >= settings.low_share * power:
                track = replace(track, ok_at=now)
            return track, events
        required = _required_w(track.powers, shown_from, mode_settled=mode_settled)
        if required is None or required < settings.min_check_w:
            return track, events  # it could not show a power worth judging yet
        power = min(power, required)
    if _delivered_w(commanded, ac) >= settings.low_share * power:
        # A good reading joins the window; it does not clear it (an intermittent battery).
        lows = (*track.lows, False)[-window:] if track.lows else ()
        track = replace(track, ok_at=now, lows=lows)
        if not settled:
            return track, events
        if track.health is Health.PROBING:
            events.append(Event.RESPONDING)
        return replace(track, health=Health.OK), events
    if not settled:
        return track, events
    lows = (*track.lows, True)[-window:]
    if sum(lows) < settings.low_cycles:
        return replace(track, lows=lows), events
    if track.health is Health.OK:
        events.append(Event.NOT_RESPONDING)
    return replace(track, lows=(), health=Health.EXCLUDED, until=now + settings.backoff_s), events


def discount(plan: Plan, excluded: set[int]) -> Plan:
    """Return plan with the excluded batteries stopped: their power is not counted as delivered."""
    if not excluded:
        return plan
    setpoints = tuple(
        Setpoint(Mode.STOP, 0) if index in excluded else setpoint
        for index, setpoint in enumerate(plan.setpoints)
    )
    return replace(plan, setpoints=setpoints)


#: The verdicts that take a battery out: its power is not delivered (frozen.py's too).
TAKEN_OUT: Final = (Problem.NOT_RESPONDING, Problem.INVERTER_FAULT, Problem.READINGS_FROZEN)


def taken_out(problems: Sequence[Problem | None]) -> set[int]:
    """Return the batteries (indices) the read-back took out this cycle."""
    return {index for index, problem in enumerate(problems) if problem in TAKEN_OUT}
