"""The meter pace: cycles on the meter's own reports, and a write allowance per battery (pure).

The default (``Pace.FIXED``) runs a cycle every interval (6.5 s, the seed's), as before. The
meter pace (``Pace.METER``, issue 22) runs a cycle on each of the meter's own reports, so the
loop sees a new grid reading as soon as there is one, within three rules:

* never sooner than ``min_gap_s`` after the previous cycle's start (a report sooner waits);
* a timer runs one ``fallback_s`` after the last cycle when the meter is silent, so that a
  silent meter is still judged stale (and stops the batteries) at the same stale timeout;
* never inside a settle delay: a report while a start settles does not shorten it;
* after a cycle that changed a battery's setpoint by more than ``AWAIT_W`` (or its mode), a
  report runs no cycle until that battery's AC power has reported again since (``Schedule.
  awaiting``): the in-flight estimate assumes the default response, and on a slower battery
  a cycle 2 s after a change counted power as delivered that was not yet (it rang: issue 22);
  only a battery judged slower than that response (``Lag``), or not judged yet, is awaited.

"Reported again" is a report of the battery's AC power sensor, a new value or the same one
(Home Assistant's ``last_reported`` moves on both), at a monotonic time after the end of the
cycle that changed it: the loop's clock of reports (the read-back's ``ac_reported_at``). A
board that sends only changed values (ESPHome) stays silent until the battery moves, and one
that does not move (at a cutoff or a taper, hung) never answers: the meter's reports then
run no cycle and the silent meter's timer runs the next one, as the default pace would, so
the rule never waits longer than the fallback. A board that repeats unchanged values may
answer before the battery moved: the cycle then runs sooner, on that fresh AC reading.
A cycle waits for nothing after an urgent cycle (a limit shaped its plan), and an urgent
report (the meter would fail safe, a phase is past its limit, the import past the peak cap)
runs a cycle as without the rule: the rule never delays a stop, a fail-safe or a limit.

The write allowance keeps the faster cycles from multiplying RS485 writes: a per-battery token
bucket (one token per ``refill_s``, at most ``burst``) that each *power-only change* of a
running battery in the same mode spends. Without a token the change is withheld: the battery
keeps what it was told, and its plan entry becomes what it was told (the engine's plan in
force and the in-flight estimate stay true). A change below ``dead_band_w`` waits for a full
bucket. A reduction is withheld only in a cycle that raises no battery (a start included):
then every battery stays at or below what it was told, and the fleet at or below where it
was; a reduction beside a rise goes out (with a token if there is one), so that holding it
up never puts the fleet above the plan. A keep-alive's power change spends a token too
(without one the keep-alive sends the power the battery was told). Every other write is
never withheld and spends nothing: a stop, a mode change, an RS485 enable, a keep-alive's
refresh, a fail-safe (not made through ``decide``), and every write of a cycle whose plan a
limit shaped (a phase's fuse or feed-in limit, the peak cap: ``urgent``).

Times are monotonic seconds. Nothing here imports Home Assistant.

API (stable: the benchmark's controller builds on it):

* ``Pace`` (``"fixed"``, ``"meter"``); ``PaceSettings(min_gap_s, fallback_s, settle_s)``;
  ``meter_settings(response)`` gives the defaults with the settle derived from a response.
* ``Schedule`` (frozen: ``started_s``, ``settle_until_s``, ``due_s``, ``running``), moved on
  by ``started(s, now_s)`` at every cycle's start, ``ended(s, now_s, delay_s, settling=...)``
  at its end and ``reported(s, now_s, settings, urgent=...)`` at each of the meter's own
  reports; ``s.due_s`` is when the next cycle runs (``wait_s(s, now_s)``: the timer's delay).
  ``awaited(before, after, urgent=...)`` names the batteries a cycle changed (``ended(...,
  awaiting=...)`` keeps them), ``ac_reported(s, battery, at_s)`` clears one that reported,
  ``past_limit(grid_w, points, limits, import_allowed_w)`` says a report is urgent.
  ``Lag`` per battery: ``watch(lag, before, after, from_w, now_s)`` at each awaited change,
  ``judge(lag, ac_w, at_s)`` at each AC reading, ``slow_ones(changed, lags)`` the awaited,
  ``restamp(lag, at_s)`` moves a watch to the end of the cycle that wrote its change.
* ``settles(delay_s, loop, pace)``: whether a cycle that waits ``delay_s`` is settling.
* ``AllowanceSettings(refill_s, burst, dead_band_w)``; ``Bucket(tokens, at_s)`` per battery,
  ``full_buckets(count, now_s, settings)``; ``allow(plan, decision, commanded, buckets, now_s,
  settings=..., urgent=...)`` -> ``Allowed(plan, decision, buckets, withheld)``;
  ``power_change(index, writes, target, now)`` says which writes are withholdable;
  ``urgent_limit(limit)`` says which grid limits make a cycle urgent.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from enum import StrEnum
import math
from typing import Final

from .control import Commanded, Decision, LoopSettings, Write, WriteKind, apply_write, power_kind
from .grid_mode import Limit
from .inflight import DEFAULT_INTERVAL_S, Response
from .model import Mode, PhaseLimits, Plan, Reason, Setpoint


class Pace(StrEnum):
    """When the loop runs its cycles (the option)."""

    FIXED = "fixed"  # every interval (the default)
    METER = "meter"  # on the meter's own reports, a timer when it is silent


#: The shortest time between two cycles' starts at the meter pace (s). 2 s: the bench's
#: stand-in on the meter's update at 2 s met the tracking target; it is the shortest fixed
#: interval whose safety properties the tests prove, so no cycle runs closer than those; and
#: a command shows only after dead time and lag (0.75 s + 1.5 s), so a cycle 1 s after the
#: last sees mostly its estimate, while each cycle costs the host a full read and update.
MIN_GAP_S: Final = 2.0
#: A report this close to the end of the least gap (s) counts as after it (float rounding).
TIE_S: Final = 1e-6
#: The timer when the meter is silent (s): the default pace's interval.
FALLBACK_S: Final = DEFAULT_INTERVAL_S
#: One write token per battery per 4.5 s, at most 2: a step gets two writes at once, and over
#: any hour at most 2 + 3600 / 4.5 = 802 power changes, below 1.5 x one per 6.5 s (830).
REFILL_S: Final = 4.5
BURST: Final = 2.0
#: A power change below this (W) waits for a full bucket: below the engine's 30 W start dead
#: band, so a correction worth starting a battery for always counts as a real change.
DEAD_BAND_W: Final = 25
#: A setpoint change above this (W) waits for the battery's AC report before a meter report
#: runs the next cycle: above the 50 W band of a fast reversal and twice the allowance's dead
#: band, so small corrections keep the meter's pace (the bench's step houses: 0 reversals).
AWAIT_W: Final = 100
#: Judging a battery's response (``Lag``): a report of its AC power after a change of more
#: than ``AWAIT_W`` is judged when the default response expects between these shares of the
#: step delivered (a report sooner tells little, a later one little: a slow battery has
#: mostly caught up by then); it is behind (a strike) when it delivered ``BEHIND`` less than
#: expected, on time when at most ``ON_TIME`` less (in between: no verdict).
JUDGE_FROM: Final = 0.5
JUDGE_TO: Final = 0.9
BEHIND: Final = 0.3
ON_TIME: Final = 0.15
#: A battery counts as slow once its strikes less its on-time reports reach ``SLOW_AT``, and
#: as fast again once they are back at 0 (the score never exceeds ``MOST``: at most that many
#: on-time reports in a row make a slow battery fast again).
SLOW_AT: Final = 2
MOST: Final = 3
#: A battery not judged yet is awaited (the safe side: as every battery before the rule).
AWAIT_UNJUDGED: Final = True


@dataclass(frozen=True, slots=True)
class PaceSettings:
    """The meter pace's timing (s): the least gap, the silent meter's timer, the settle."""

    min_gap_s: float = MIN_GAP_S
    fallback_s: float = FALLBACK_S
    settle_s: float = 4.0  # after a start from another mode (``meter_settings``)


def meter_settings(response: Response | None = None, min_gap_s: float = MIN_GAP_S) -> PaceSettings:
    """Return the meter pace's settings; the settle waits until a start shows (dead time + relay).

    As the short fixed intervals (``inflight.loop_timing``): rounded up to 0.5 s, never
    less than the least gap. The in-flight estimate covers the lag after that.
    """
    settle = math.ceil(2.0 * (response or Response()).settle_s()) / 2.0
    return PaceSettings(min_gap_s=min_gap_s, fallback_s=FALLBACK_S, settle_s=max(min_gap_s, settle))


def settles(delay_s: float, loop: LoopSettings, pace: Pace) -> bool:
    """Return whether a cycle followed by delay_s settles (a report may not shorten the wait).

    Fixed pace: a wait longer than the interval (as before). Meter pace: the settle delay,
    which is shorter than the silent meter's timer (``loop.interval_s`` is the fallback).
    """
    if pace is Pace.METER:
        return delay_s == loop.settle_s != loop.interval_s
    return delay_s > loop.interval_s


# --------------------------------------------------------------------------------------
# When the next cycle runs
# --------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Schedule:
    """The meter pace's state: the last cycle's start, the settle, when the next cycle runs."""

    started_s: float | None = None  # start of the last cycle (None: none yet)
    settle_until_s: float | None = None  # no report runs a cycle before this
    due_s: float | None = None  # the next cycle runs then (None: nothing due)
    running: bool = False  # a cycle runs now
    awaiting: frozenset[int] = frozenset()  # batteries whose AC report no report runs before
    awaiting_since_s: float | None = None  # the end of the cycle that changed them
    urgent: bool = False  # due_s was set by an urgent report (kept even while awaiting)


def started(schedule: Schedule, now_s: float) -> Schedule:
    """Return the schedule once a cycle starts at now_s (whatever started it)."""
    return Schedule(started_s=now_s, settle_until_s=None, due_s=None, running=True)


def ended(
    schedule: Schedule,
    now_s: float,
    delay_s: float,
    *,
    settling: bool,
    awaiting: frozenset[int] = frozenset(),
) -> Schedule:
    """Return the schedule once a cycle ends at now_s and asks to wait delay_s.

    Settling: the next cycle runs after the delay, whatever the meter reports meanwhile.
    Otherwise the delay is the silent meter's timer, and a report that came while the
    cycle ran keeps its earlier cycle, unless the cycle changed a battery (awaiting: see
    ``awaited``) and the report was not urgent: it came before the battery could answer.
    """
    due = now_s + max(0.0, delay_s)
    since = now_s if awaiting else None
    urgent = False
    if not settling and schedule.due_s is not None and (schedule.urgent or not awaiting):
        urgent = schedule.urgent and schedule.due_s < due
        due = min(due, schedule.due_s)
    return replace(
        schedule,
        settle_until_s=due if settling else None,
        due_s=due,
        running=False,
        awaiting=awaiting,
        awaiting_since_s=since,
        urgent=urgent,
    )


def reported(
    schedule: Schedule, now_s: float, settings: PaceSettings, *, urgent: bool = False
) -> Schedule:
    """Return the schedule after one of the meter's own reports at now_s.

    The next cycle runs now, or ``min_gap_s`` after the last cycle's start if that is
    later; never earlier than a cycle already due, never inside a settle delay, and not
    while the schedule awaits a battery's AC report, unless the report is urgent (the
    meter would fail safe, or shows a limit passed: ``past_limit``).
    """
    if schedule.settle_until_s is not None and now_s < schedule.settle_until_s:
        return schedule
    if schedule.awaiting and not urgent:
        return schedule
    at = now_s
    if schedule.started_s is not None and schedule.started_s + settings.min_gap_s > now_s + TIE_S:
        at = schedule.started_s + settings.min_gap_s
    if schedule.due_s is not None and schedule.due_s <= at:
        # a cycle is due sooner; an urgent report keeps it due even if the cycle that runs
        # now changes a battery (``ended``)
        return replace(schedule, urgent=True) if urgent and not schedule.urgent else schedule
    return replace(schedule, due_s=at, urgent=urgent)


def ac_reported(schedule: Schedule, battery: int, at_s: float | None) -> Schedule:
    """Return the schedule once battery's AC power last reported at at_s (None: never).

    A report after the end of the cycle that changed it ends the wait for that battery;
    an older one (or none) changes nothing.
    """
    since = schedule.awaiting_since_s
    if battery not in schedule.awaiting or at_s is None or since is None or at_s <= since:
        return schedule
    awaiting = schedule.awaiting - {battery}
    return replace(schedule, awaiting=awaiting, awaiting_since_s=since if awaiting else None)


def signed_w(commanded: Commanded) -> int:
    """Return what a battery was told as one signed number (W, + = discharging)."""
    if commanded.mode is Mode.CHARGE:
        return -commanded.charge_w
    return commanded.power_for(commanded.mode)


def awaited(
    before: Sequence[Commanded] | None,
    after: Sequence[Commanded],
    *,
    urgent: bool = False,
    threshold_w: int = AWAIT_W,
) -> frozenset[int]:
    """Return the batteries a cycle changed by more than threshold_w, or in mode.

    before and after are what each battery was told before and after the cycle's writes
    (None before: nothing known, nothing awaited). An urgent cycle awaits nothing: the
    next report runs a cycle as soon as the gap allows.
    """
    if before is None or urgent or len(before) != len(after):
        return frozenset()
    return frozenset(
        index
        for index, (was, now) in enumerate(zip(before, after, strict=True))
        if was.mode is not now.mode or abs(signed_w(now) - signed_w(was)) > threshold_w
    )


@dataclass(frozen=True, slots=True)
class Watch:
    """A change being watched: when it was written, from and to what AC power, its delay."""

    at_s: float  # the end of the cycle that wrote it (monotonic s)
    from_w: float  # the battery's estimated AC power then (W, + = discharging)
    to_w: float  # the AC power the default response heads for (W)
    delay_s: float  # the default response's dead time (and relay delay from stop)


@dataclass(frozen=True, slots=True)
class Lag:
    """One battery's judgement: does it follow as fast as the in-flight estimate assumes.

    score: strikes less on-time reports (0..``MOST``); slow: the verdict with hysteresis
    (None: not judged yet); watch: the last change still to be judged.
    """

    score: int = 0
    slow: bool | None = None
    watch: Watch | None = None


def watch(
    lag: Lag,
    before: Commanded,
    after: Commanded,
    from_w: float | None,
    now_s: float,
    *,
    response: Response | None = None,
) -> Lag:
    """Return lag watching the change from before to after written by a cycle ending at now_s.

    from_w is the battery's estimated AC power at the change (None: the target of before,
    as settled). A change of at most ``AWAIT_W`` on the AC side is not watched (the last
    one's watch ends: its report would mix both). From stop the relay's delay counts too.
    """
    response = response or Response()
    was = response.target_w(before.mode, abs(signed_w(before)))
    start = was if from_w is None or not math.isfinite(from_w) else from_w
    to_w = response.target_w(after.mode, abs(signed_w(after)))
    if abs(to_w - start) <= AWAIT_W:
        return replace(lag, watch=None)
    delay = response.dead_time_s + (response.from_stop_s if signed_w(before) == 0 else 0.0)
    return replace(lag, watch=Watch(now_s, start, to_w, delay))


def restamp(lag: Lag, at_s: float) -> Lag:
    """Return lag with its watched change taken as written at at_s (the end of its cycle)."""
    return lag if lag.watch is None else replace(lag, watch=replace(lag.watch, at_s=at_s))


def judge(
    lag: Lag, ac_w: float | None, at_s: float | None, response: Response | None = None
) -> Lag:
    """Return lag after a report of the battery's AC power (ac_w W, reported at at_s).

    The report is judged once the default response expects ``JUDGE_FROM`` of the watched
    change delivered: a strike when the battery delivered ``BEHIND`` less than expected,
    on time when at most ``ON_TIME`` less; one verdict per change (none in between). A
    report before that judges nothing yet; one after ``JUDGE_TO`` ends the watch unjudged.
    """
    change = lag.watch
    if change is None or ac_w is None or at_s is None or not math.isfinite(ac_w):
        return lag
    if at_s <= change.at_s:
        return lag
    expected = (response or Response()).step(at_s - change.at_s - change.delay_s)
    if expected < JUDGE_FROM:
        return lag
    if expected > JUDGE_TO:
        return replace(lag, watch=None)
    delivered = (ac_w - change.from_w) / (change.to_w - change.from_w)
    if delivered < expected - BEHIND:
        score = min(MOST, lag.score + 1)
        slow = True if score >= SLOW_AT else lag.slow
    elif delivered < expected - ON_TIME:
        return replace(lag, watch=None)
    else:
        score = max(0, lag.score - 1)
        slow = False if score == 0 else lag.slow
    return Lag(score, slow, None)


def awaits(lag: Lag, *, unjudged: bool = AWAIT_UNJUDGED) -> bool:
    """Return whether a change of this battery is awaited: slow, or not judged yet (unjudged)."""
    return unjudged if lag.slow is None else lag.slow


def slow_ones(
    changed: frozenset[int], lags: Sequence[Lag], *, unjudged: bool = AWAIT_UNJUDGED
) -> frozenset[int]:
    """Return the batteries of changed (``awaited``) whose change is awaited (``awaits``)."""
    return frozenset(i for i in changed if awaits(lags[i], unjudged=unjudged))


def past_limit(
    grid_w: float,
    points: Mapping[str, tuple[float, float | None]],
    limits: PhaseLimits | None,
    import_allowed_w: float | None,
) -> bool:
    """Return whether a meter reading shows a limited point past its limit or the peak cap.

    points: each point a battery is limited on (a phase by name; "" the grid total for a
    battery without a phase sensor) as (power W, + = import; current A or None where no
    sensor); limits: the import and export limits (None: none); import_allowed_w: the peak
    cap's import now (None: no cap). The fuse is judged on the current where one is
    measured, as the engine does (``phase_limits.current_budget``). A report showing one is
    urgent: it runs a cycle even while the schedule awaits.
    """
    if import_allowed_w is not None and grid_w > import_allowed_w:
        return True
    if limits is None:
        return False
    fuse_w = limits.import_w if limits.fuse_w is None else limits.fuse_w
    for power_w, current_a in points.values():
        if not math.isfinite(power_w) or power_w > limits.import_w or power_w < -limits.export_w:
            return True
        if current_a is not None:
            if not math.isfinite(current_a):
                return True
            if abs(limits.watts_of_amps(current_a)) > fuse_w:
                return True
    return False


def wait_s(schedule: Schedule, now_s: float) -> float | None:
    """Return the wait before the next cycle (None: nothing due, or a cycle runs now)."""
    if schedule.due_s is None or schedule.running:
        return None
    return max(0.0, schedule.due_s - now_s)


# --------------------------------------------------------------------------------------
# The write allowance
# --------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class AllowanceSettings:
    """One token per refill_s per battery, at most burst; changes below dead_band_w wait."""

    refill_s: float = REFILL_S
    burst: float = BURST
    dead_band_w: int = DEAD_BAND_W


@dataclass(frozen=True, slots=True)
class Bucket:
    """One battery's write tokens at at_s."""

    tokens: float
    at_s: float

    def level(self, now_s: float, settings: AllowanceSettings) -> float:
        """Return the tokens at now_s (refilled since at_s; a clock going back adds none)."""
        refill = max(0.0, now_s - self.at_s) / settings.refill_s
        return min(settings.burst, self.tokens + refill)


def full_buckets(count: int, now_s: float, settings: AllowanceSettings) -> tuple[Bucket, ...]:
    """Return count full buckets (the loop's start: nothing written yet)."""
    return tuple(Bucket(settings.burst, now_s) for _ in range(count))


@dataclass(frozen=True, slots=True)
class Allowed:
    """A decision within the allowance: the plan and writes made, the buckets after."""

    plan: Plan  # a withheld battery's entry is what it was told
    decision: Decision  # without the withheld writes; commanded as after them
    buckets: tuple[Bucket, ...]
    withheld: frozenset[int]


def urgent_limit(limit: Limit | None) -> bool:
    """Return whether a plan shaped by limit must be written in full (peak cap, phase limit)."""
    return limit in (Limit.PEAK_CAP, Limit.PHASE_LIMIT)


def power_change(
    index: int, writes: Sequence[Write], target: Setpoint, now: Commanded
) -> int | None:
    """Return the new W if battery index's writes change its power withholdably.

    That is a battery running in target's mode (charge or discharge, above 0 W) whose
    writes set that mode's number to another value above 0 and write no other mode: the
    change alone, or with a keep-alive's RS485 enable and the same mode again. A phase's
    limit (``Reason.LIMITED_BY_PHASE``) is never withheld. None for every other battery.
    """
    if target.mode is Mode.STOP or target.reason is Reason.LIMITED_BY_PHASE:
        return None
    if now.mode is not target.mode or now.power_for(now.mode) <= 0:
        return None
    own = [write for write in writes if write.battery == index]
    if any(w.kind is WriteKind.MODE and w.value != target.mode.value for w in own):
        return None
    values = [int(w.value) for w in own if w.kind is power_kind(target.mode)]
    if len(values) != 1 or values[0] <= 0 or values[0] == now.power_for(now.mode):
        return None
    return values[0]


def rises(plan: Plan, commanded: Sequence[Commanded]) -> bool:
    """Return whether plan raises any battery above what it was told (a start included)."""
    for target, now in zip(plan.setpoints, commanded, strict=True):
        if target.mode is Mode.STOP:
            continue
        before = now.power_for(target.mode) if now.mode is target.mode else 0
        if target.power_w > before:
            return True
    return False


def allow(
    plan: Plan,
    decision: Decision,
    commanded: Sequence[Commanded],
    buckets: Sequence[Bucket] | None,
    now_s: float,
    *,
    settings: AllowanceSettings = AllowanceSettings(),
    urgent: bool = False,
) -> Allowed:
    """Return decision within the write allowance (see the module's rules).

    commanded is what each battery was told before the decision; buckets are each battery's
    tokens (None: full). A withheld battery keeps what it was told: its power write is
    dropped (a keep-alive sends the power it was told instead), its commanded and plan
    entry stay what it was told. urgent: nothing is withheld.
    """
    count = len(plan.setpoints)
    if len(commanded) != count or (buckets is not None and len(buckets) != count):
        raise ValueError("plan, commanded and buckets must have one item per battery")
    if buckets is None:
        buckets = full_buckets(count, now_s, settings)
    levels = [bucket.level(now_s, settings) for bucket in buckets]
    withheld: set[int] = set()
    rising = rises(plan, commanded)
    for index in range(count):
        value = power_change(index, decision.writes, plan.setpoints[index], commanded[index])
        if value is None or urgent:
            continue
        before = commanded[index].power_for(plan.setpoints[index].mode)
        needed = settings.burst if abs(value - before) < settings.dead_band_w else 1.0
        if levels[index] >= needed - 1e-9:
            levels[index] -= 1.0
        elif value < before and rising:
            continue  # another battery rises: holding this one up would pass the plan
        else:
            withheld.add(index)
    after_buckets = tuple(Bucket(max(0.0, level), now_s) for level in levels)
    if not withheld:
        return Allowed(plan, decision, after_buckets, frozenset())
    setpoints = list(plan.setpoints)
    after = list(decision.commanded)
    writes: list[Write] = []
    for write in decision.writes:
        index = write.battery
        if index not in withheld:
            writes.append(write)
        elif write.kind is power_kind(plan.setpoints[index].mode):
            if any(w.battery == index and w is not write for w in decision.writes):
                writes.append(
                    replace(write, value=commanded[index].power_for(commanded[index].mode))
                )
        else:
            writes.append(write)  # a keep-alive's enable and mode go as decided
    for index in withheld:
        now = commanded[index]
        setpoints[index] = Setpoint(now.mode, now.power_for(now.mode), setpoints[index].reason)
        for write in writes:
            if write.battery == index:
                now = apply_write(now, write)
        after[index] = now
    return Allowed(
        replace(plan, setpoints=tuple(setpoints)),
        replace(decision, writes=tuple(writes), commanded=tuple(after)),
        after_buckets,
        frozenset(withheld),
    )
