"""The meter pace (core/pace.py): when cycles run, and the write allowance per battery."""

from __future__ import annotations

from dataclasses import replace
import itertools
import math
import random

from hypothesis import given, settings as hyp_settings, strategies as st
import pytest

from custom_components.marstek_strategy.core import pace
from custom_components.marstek_strategy.core.control import (
    Commanded,
    LoopSettings,
    Write,
    WriteKind,
    decide,
)
from custom_components.marstek_strategy.core.grid_mode import Limit
from custom_components.marstek_strategy.core.inflight import Response
from custom_components.marstek_strategy.core.model import Mode, PhaseLimits, Plan, Reason, Setpoint
from custom_components.marstek_strategy.core.pace import (
    AllowanceSettings,
    Bucket,
    Pace,
    PaceSettings,
    Schedule,
    allow,
    ended,
    reported,
    started,
    wait_s,
)

SETTINGS = pace.meter_settings()
LOOP = LoopSettings(SETTINGS.fallback_s, SETTINGS.settle_s, 30.0)
ALLOWANCE = AllowanceSettings()

# ----------------------------------------------------------------------------- schedule


def test_meter_settings_settle_after_a_start_as_the_short_intervals() -> None:
    assert PaceSettings(min_gap_s=2.0, fallback_s=6.5, settle_s=4.0) == SETTINGS
    slow = pace.meter_settings(Response(dead_time_s=2.0, from_stop_s=6.0))
    assert slow.settle_s == 8.0
    assert pace.meter_settings(Response(dead_time_s=0.1, from_stop_s=0.2)).settle_s == 2.0


def test_settles_keeps_the_fixed_rule_and_names_the_meter_settle() -> None:
    fixed = LoopSettings(6.5, 12.0)
    assert pace.settles(12.0, fixed, Pace.FIXED)
    assert not pace.settles(6.5, fixed, Pace.FIXED)
    assert not pace.settles(5.0, LoopSettings(10.0, 5.0), Pace.FIXED)  # as before
    assert pace.settles(4.0, LOOP, Pace.METER)
    assert not pace.settles(6.5, LOOP, Pace.METER)


def test_a_report_runs_a_cycle_at_once_after_the_gap() -> None:
    schedule = ended(started(Schedule(), 100.0), 100.3, LOOP.interval_s, settling=False)
    assert schedule.due_s == pytest.approx(106.8)  # the silent meter's timer
    assert wait_s(schedule, 100.5) == pytest.approx(6.3)
    early = reported(schedule, 101.0, SETTINGS)
    assert early.due_s == 102.0  # not before 2 s after the start
    late = reported(schedule, 103.0, SETTINGS)
    assert late.due_s == 103.0
    assert wait_s(late, 103.0) == 0.0
    assert reported(late, 104.0, SETTINGS) == late  # a cycle is already due sooner


def test_the_first_report_runs_a_cycle_at_once() -> None:
    assert reported(Schedule(), 5.0, SETTINGS).due_s == 5.0


def test_a_report_during_a_settle_does_not_shorten_it() -> None:
    schedule = ended(started(Schedule(), 100.0), 100.5, 4.0, settling=True)
    assert schedule.due_s == schedule.settle_until_s == 104.5
    for at in (101.0, 103.0, 104.4):
        assert reported(schedule, at, SETTINGS) == schedule
    assert reported(schedule, 104.5, SETTINGS).due_s == 104.5
    after = started(schedule, 104.5)
    assert after.settle_until_s is None


def test_a_report_while_a_cycle_runs_keeps_its_cycle() -> None:
    running = started(Schedule(), 100.0)
    assert wait_s(running, 100.0) is None  # the cycle that runs schedules the next
    during = reported(running, 100.4, SETTINGS)
    assert during.due_s == 102.0
    assert wait_s(during, 100.5) is None
    assert ended(during, 100.8, 6.5, settling=False).due_s == 102.0
    # a cycle that starts a battery settles: the report waits for the settle's end
    assert ended(during, 100.8, 4.0, settling=True).due_s == pytest.approx(104.8)


def _simulate(
    reports: list[float], durations: list[float], starts_every: int, horizon: float
) -> tuple[list[tuple[float, float, float, bool]], Schedule]:
    """Run the schedule as the loop does; return each cycle (start, end, delay, settling)."""
    schedule = Schedule()
    cycles: list[tuple[float, float, float, bool]] = []
    pending = sorted(reports)
    now = 0.0
    schedule = replace(schedule, due_s=0.0)
    k = 0
    while schedule.due_s is not None and schedule.due_s < horizon:
        start = schedule.due_s
        while pending and pending[0] < start:  # reports before the cycle
            schedule = reported(schedule, pending.pop(0), SETTINGS)
            if schedule.due_s is not None and schedule.due_s < start:
                start = max(schedule.due_s, now)
        schedule = started(schedule, start)
        end = start + durations[k % len(durations)]
        while pending and pending[0] < end:  # reports while it runs
            schedule = reported(schedule, pending.pop(0), SETTINGS)
        settling = starts_every > 0 and k % starts_every == 0
        delay = LOOP.settle_s if settling else LOOP.interval_s
        schedule = ended(schedule, end, delay, settling=settling)
        cycles.append((start, end, delay, settling))
        now = end
        k += 1
    return cycles, schedule


@hyp_settings(max_examples=300, deadline=None)
@given(
    reports=st.lists(st.floats(0.0, 120.0), max_size=150),
    durations=st.lists(st.floats(0.0, 1.5), min_size=1, max_size=5),
    starts_every=st.integers(0, 6),
)
def test_cycles_keep_the_gap_the_settle_and_the_fallback(
    reports: list[float], durations: list[float], starts_every: int
) -> None:
    cycles, _ = _simulate(reports, durations, starts_every, 120.0)
    for (start, end, delay, settling), (nxt, _, _, _) in itertools.pairwise(cycles):
        assert nxt - start >= SETTINGS.min_gap_s - 1e-9  # never sooner than the gap
        assert nxt <= end + delay + 1e-9  # the timer runs when the meter is silent
        if settling:
            assert nxt >= end + delay - 1e-9  # a report never shortens a settle
        # a report after the cycle's start (outside a settle) runs a cycle soon
        heard = [r for r in reports if start < r < nxt and (not settling or r >= end + delay)]
        if heard:
            assert nxt <= max(min(heard), start + SETTINGS.min_gap_s) + 1e-9


def test_a_silent_meter_runs_on_the_fallback_timer() -> None:
    cycles, _ = _simulate([], [0.2], 0, 60.0)
    starts = [c[0] for c in cycles]
    assert [round(b - a, 6) for a, b in itertools.pairwise(starts)] == [6.7] * (len(starts) - 1)


def test_reports_every_second_run_a_cycle_every_two_seconds() -> None:
    cycles, _ = _simulate([k + 0.1 for k in range(60)], [0.2], 0, 60.0)
    starts = [c[0] for c in cycles]
    gaps = [b - a for a, b in itertools.pairwise(starts[1:])]
    assert gaps
    assert all(gap == pytest.approx(2.0) for gap in gaps)


# ------------------------------------------------------------ awaiting a battery's AC report

CHG = Commanded(Mode.CHARGE, 1000, 0, rs485_enabled=True)


def test_awaited_names_changes_above_the_threshold_and_mode_changes() -> None:
    before = [DIS, DIS, DIS, DIS, CHG]
    after = [
        DIS,  # unchanged
        replace(DIS, discharge_w=800 + pace.AWAIT_W),  # not above the threshold
        replace(DIS, discharge_w=800 - pace.AWAIT_W - 1),  # above it (a reduction)
        STOPPED,  # a stop
        Commanded(Mode.DISCHARGE, 0, 50, rs485_enabled=True),  # a reversal
    ]
    assert pace.awaited(before, after) == {2, 3, 4}
    assert pace.awaited(before, after, urgent=True) == frozenset()  # a limit shaped it
    assert pace.awaited(None, after) == frozenset()  # nothing known before
    assert pace.awaited(before[:2], after) == frozenset()
    assert pace.awaited([replace(DIS, rs485_enabled=False)], [DIS]) == frozenset()  # enable
    assert pace.signed_w(CHG) == -1000
    assert pace.signed_w(STOPPED) == 0


def _awaiting(batteries: frozenset[int] = frozenset({0, 1})) -> Schedule:
    return ended(
        started(Schedule(), 100.0), 100.5, LOOP.interval_s, settling=False, awaiting=batteries
    )


def test_a_report_while_awaiting_runs_no_cycle_the_timer_still_does() -> None:
    schedule = _awaiting()
    assert schedule.awaiting == {0, 1}
    assert schedule.awaiting_since_s == 100.5
    assert schedule.due_s == pytest.approx(107.0)  # the silent meter's timer
    for at in (102.5, 103.0, 106.0):
        assert reported(schedule, at, SETTINGS) == schedule
    assert wait_s(schedule, 103.0) == pytest.approx(4.0)


def test_each_awaited_battery_reports_then_a_report_runs_a_cycle() -> None:
    schedule = _awaiting()
    assert pace.ac_reported(schedule, 0, 100.4) == schedule  # before the cycle's end
    assert pace.ac_reported(schedule, 0, 100.5) == schedule  # not after it
    assert pace.ac_reported(schedule, 0, None) == schedule  # never reported
    assert pace.ac_reported(schedule, 2, 103.0) == schedule  # not awaited
    one = pace.ac_reported(schedule, 0, 101.0)
    assert one.awaiting == {1}
    assert one.awaiting_since_s == 100.5
    assert reported(one, 103.0, SETTINGS) == one  # battery 1 has not reported
    both = pace.ac_reported(one, 1, 102.7)
    assert both.awaiting == frozenset()
    assert both.awaiting_since_s is None
    assert reported(both, 103.0, SETTINGS).due_s == 103.0


def test_an_urgent_report_runs_a_cycle_while_awaiting() -> None:
    schedule = _awaiting()
    urgent = reported(schedule, 101.0, SETTINGS, urgent=True)
    assert urgent.due_s == 102.0  # still not within the least gap
    assert urgent.urgent
    assert started(urgent, 102.0) == started(Schedule(), 102.0)  # a cycle decides anew


def test_an_urgent_cycle_awaits_nothing() -> None:
    after = [replace(DIS, discharge_w=200)]
    assert pace.awaited([DIS], after, urgent=pace.urgent_limit(Limit.PHASE_LIMIT)) == frozenset()
    assert pace.awaited([DIS], after, urgent=pace.urgent_limit(Limit.BATTERIES)) == {0}


def test_a_report_during_a_cycle_that_changed_a_battery_is_dropped_unless_urgent() -> None:
    during = reported(started(Schedule(), 100.0), 100.4, SETTINGS)
    assert during.due_s == 102.0
    assert ended(during, 100.8, 6.5, settling=False).due_s == 102.0  # nothing changed
    dropped = ended(during, 100.8, 6.5, settling=False, awaiting=frozenset({0}))
    assert dropped.due_s == pytest.approx(107.3)  # it came before the battery could answer
    urgent = reported(started(Schedule(), 100.0), 100.4, SETTINGS, urgent=True)
    kept = ended(urgent, 100.8, 6.5, settling=False, awaiting=frozenset({0}))
    assert kept.due_s == 102.0
    assert kept.urgent
    # a plain report first, then an urgent one: the cycle it asked for is kept
    both = reported(during, 100.6, SETTINGS, urgent=True)
    assert (both.due_s, both.urgent) == (102.0, True)
    assert ended(both, 100.8, 6.5, settling=False, awaiting=frozenset({0})).due_s == 102.0
    settled = ended(urgent, 100.8, 4.0, settling=True, awaiting=frozenset({0}))
    assert settled.due_s == pytest.approx(104.8)  # a settle is kept, as before
    assert settled.awaiting == {0}


def test_past_limit_names_a_phase_past_its_limit_or_the_peak_cap() -> None:
    limits = PhaseLimits(import_w=5000.0, export_w=3000.0)
    assert not pace.past_limit(1000.0, {"L1": (4999.0, None), "L2": (-2999.0, None)}, limits, None)
    assert pace.past_limit(1000.0, {"L1": (5001.0, None)}, limits, None)
    assert pace.past_limit(1000.0, {"L1": (-3001.0, None)}, limits, None)
    assert pace.past_limit(1000.0, {"L1": (math.nan, None)}, limits, None)
    assert not pace.past_limit(9000.0, {"L1": (9000.0, None)}, None, None)  # no limits
    assert pace.past_limit(2500.0, {}, None, 2400.0)  # the peak cap's import passed
    assert not pace.past_limit(2400.0, {}, None, 2400.0)


def test_past_limit_judges_the_total_and_the_fuse_on_a_current() -> None:
    """Review: a battery without a phase sensor is limited on the total ("" here), and a
    measured current judges the fuse (a poor power factor: 27 A on 25 A at 5000 W)."""
    fuse = PhaseLimits.from_fuse(25.0)  # 5175 W
    assert pace.past_limit(6000.0, {"": (6000.0, None)}, fuse, None)
    assert not pace.past_limit(5000.0, {"": (5000.0, None)}, fuse, None)
    assert pace.past_limit(5000.0, {"L1": (5000.0, 27.0)}, fuse, None)
    assert pace.past_limit(-5000.0, {"L1": (-5000.0, -27.0)}, fuse, None)
    assert not pace.past_limit(5000.0, {"L1": (5000.0, 24.0)}, fuse, None)
    assert pace.past_limit(5000.0, {"L1": (5000.0, math.nan)}, fuse, None)


def _simulate_awaiting(
    meter: list[float],
    ac: list[list[float]],
    urgent: set[float],
    changes: list[frozenset[int]],
    horizon: float,
) -> list[tuple[float, float, frozenset[int], bool]]:
    """Run the schedule as the loop does, with AC reports.

    Return each cycle: (start, end, the batteries it awaits, whether a report ran it).
    """
    events = sorted(
        [(at, -1) for at in meter] + [(at, b) for b, times in enumerate(ac) for at in times]
    )
    schedule = Schedule(due_s=0.0)
    cycles: list[tuple[float, float, frozenset[int], bool]] = []
    last_ac = [-math.inf] * len(ac)
    k = 0
    while schedule.due_s is not None and schedule.due_s < horizon:
        due = schedule.due_s
        while events and events[0][0] <= due:  # the reports before the cycle
            at, who = events.pop(0)
            if who >= 0:
                last_ac[who] = at
                continue
            for battery in schedule.awaiting:  # the loop asks the clock of reports
                schedule = pace.ac_reported(schedule, battery, last_ac[battery])
            schedule = reported(schedule, at, SETTINGS, urgent=at in urgent)
            due = min(due, schedule.due_s) if schedule.due_s is not None else due
        start = schedule.due_s if schedule.due_s is not None else due
        by_report = start < (cycles[-1][1] + LOOP.interval_s if cycles else 0.0) - 1e-9
        schedule = started(schedule, start)
        end = start + 0.2
        awaiting = changes[k % len(changes)]
        schedule = ended(schedule, end, LOOP.interval_s, settling=False, awaiting=awaiting)
        cycles.append((start, end, awaiting, by_report))
        k += 1
    return cycles


@hyp_settings(max_examples=200, deadline=None)
@given(
    meter_every=st.sampled_from([1.0, 2.0, 5.0]),
    ac=st.lists(st.lists(st.floats(0.0, 90.0), max_size=30), min_size=2, max_size=2),
    urgent_at=st.lists(st.integers(0, 89), max_size=5),
    changes=st.lists(st.frozensets(st.integers(0, 1)), min_size=1, max_size=6),
)
def test_no_report_cycle_before_the_awaited_batteries_reported(
    meter_every: float,
    ac: list[list[float]],
    urgent_at: list[int],
    changes: list[frozenset[int]],
) -> None:
    """A cycle sooner than the timer follows a report only once every awaited battery's AC
    power reported since the last cycle's end (or the report was urgent); the timer still
    runs; the gap holds; once they reported, the next report runs a cycle."""
    meter = [k * meter_every + 0.1 for k in range(int(90 / meter_every))]
    urgent = {meter[i] for i in urgent_at if i < len(meter)}
    cycles = _simulate_awaiting(meter, ac, urgent, changes, 90.0)
    for (start, end, awaiting, _), (nxt, _, _, by_report) in itertools.pairwise(cycles):
        assert nxt - start >= SETTINGS.min_gap_s - 1e-9
        assert nxt <= end + LOOP.interval_s + 1e-9  # the timer still runs
        if by_report and not any(start < u <= nxt for u in urgent):
            for battery in awaiting:
                assert any(end < at <= nxt for at in ac[battery])
        released = max(
            (min((at for at in ac[b] if at > end), default=math.inf) for b in awaiting),
            default=end,
        )
        heard = [r for r in meter if r > released and r > start]
        if heard and max(heard[0], start + SETTINGS.min_gap_s) < end + LOOP.interval_s:
            assert nxt <= max(heard[0], start + SETTINGS.min_gap_s) + 1e-9


# ------------------------------------------------- judging a battery's response (Lag)

RESPONSE = Response()
D800 = Commanded(Mode.DISCHARGE, 0, 800, rs485_enabled=True)
D1800 = Commanded(Mode.DISCHARGE, 0, 1800, rs485_enabled=True)


def _watching(lag: pace.Lag | None = None) -> pace.Lag:
    """A change from 800 W (780 W delivered) to 1800 W written at 100 s."""
    return pace.watch(lag or pace.Lag(), D800, D1800, 780.0, 100.0)


def _share_at(age_s: float) -> float:
    return RESPONSE.step(age_s - RESPONSE.dead_time_s)


def _ac(lag: pace.Lag, share: float) -> float:
    assert lag.watch is not None
    return lag.watch.from_w + share * (lag.watch.to_w - lag.watch.from_w)


def test_watch_takes_changes_above_the_threshold_with_their_delay() -> None:
    lag = _watching()
    assert lag.watch == pace.Watch(100.0, 780.0, 1800 * 0.975, RESPONSE.dead_time_s)
    small = replace(D800, discharge_w=880)
    assert pace.watch(lag, D800, small, 780.0, 101.0).watch is None  # ends the last watch
    start = pace.watch(pace.Lag(), STOPPED, D800, None, 5.0)
    assert start.watch == pace.Watch(5.0, 0.0, 780.0, RESPONSE.settle_s())  # relay from stop
    charge = pace.watch(pace.Lag(), D800, CHG, math.nan, 5.0)  # no estimate: as settled
    assert charge.watch == pace.Watch(5.0, 780.0, -1045.0, RESPONSE.dead_time_s)
    assert pace.restamp(charge, 5.4).watch == replace(charge.watch, at_s=5.4)  # its cycle's end
    assert pace.restamp(pace.Lag(), 5.4) == pace.Lag()


def test_a_report_is_judged_once_the_default_response_expects_half_the_step() -> None:
    lag = _watching()
    early = 100.0 + RESPONSE.dead_time_s + 1.0  # the default expects 49 % then
    assert _share_at(early - 100.0) < pace.JUDGE_FROM
    assert pace.judge(lag, _ac(lag, 0.0), early) == lag  # too soon to tell
    assert pace.judge(lag, None, 103.0) == lag
    assert pace.judge(lag, 900.0, 100.0) == lag  # not after the change
    late = 100.0 + RESPONSE.dead_time_s + 3.5  # 90.3 %
    assert pace.judge(lag, _ac(lag, 0.0), late) == pace.Lag()  # too late: no verdict


def test_behind_is_a_strike_on_time_is_not() -> None:
    lag = _watching()
    at = 103.0
    expected = _share_at(3.0)
    strike = pace.judge(lag, _ac(lag, expected - pace.BEHIND - 0.01), at)
    assert strike == pace.Lag(1, None, None)
    on_time = pace.judge(lag, _ac(lag, expected - pace.ON_TIME), at)
    assert on_time == pace.Lag(0, False, None)
    unsure = pace.judge(lag, _ac(lag, expected - 0.2), at)
    assert unsure == pace.Lag(0, None, None)  # in between: no verdict, the watch ends
    ahead = pace.judge(lag, _ac(lag, 1.2), at)  # overshoot is not slow
    assert ahead.slow is False


def _verdict(lag: pace.Lag, *, late: bool) -> pace.Lag:
    watching = _watching(lag)
    share = 0.0 if late else _share_at(3.0)
    return pace.judge(watching, _ac(watching, share), 103.0)


def test_slow_after_two_strikes_fast_again_after_enough_on_time_reports() -> None:
    lag = pace.Lag()
    assert pace.awaits(lag)  # not judged yet: the safe side
    assert not pace.awaits(lag, unjudged=False)
    lag = _verdict(lag, late=True)
    assert (lag.score, lag.slow) == (1, None)
    lag = _verdict(lag, late=True)
    assert (lag.score, lag.slow) == (2, True)
    lag = _verdict(_verdict(lag, late=True), late=True)
    assert (lag.score, lag.slow) == (pace.MOST, True)  # the score's ceiling
    for _ in range(pace.MOST - 1):
        lag = _verdict(lag, late=False)
        assert lag.slow is True  # hysteresis
        assert pace.awaits(lag)
    lag = _verdict(lag, late=False)
    assert (lag.score, lag.slow) == (0, False)
    assert not pace.awaits(lag)
    lag = _verdict(lag, late=True)  # one strike: still fast
    assert (lag.score, lag.slow) == (1, False)
    lags = [pace.Lag(), pace.Lag(0, False), pace.Lag(2, True)]
    assert pace.slow_ones(frozenset({0, 1, 2}), lags) == {0, 2}
    assert pace.slow_ones(frozenset({0, 1, 2}), lags, unjudged=False) == {2}
    assert pace.slow_ones(frozenset({1}), lags) == frozenset()


@hyp_settings(max_examples=200, deadline=None)
@given(
    slow=st.booleans(),
    dead=st.floats(0.0, 1.0),
    tau=st.floats(0.0, 1.0),
    steps=st.lists(
        st.tuples(
            st.integers(-2500, 2500),
            st.integers(-2500, 2500),
            st.lists(st.floats(0.0, 12.0), min_size=1, max_size=4),
        ),
        min_size=1,
        max_size=8,
    ),
)
def test_a_battery_as_fast_as_the_default_is_never_slow_a_slower_one_soon_is(
    slow: bool, dead: float, tau: float, steps: list[tuple[int, int, list[float]]]
) -> None:
    """A battery that follows at least as fast as the default response (dead time and time
    constant at most the default's) is never judged slow, and never awaited once judged;
    one as slow as the bench's slow plant (dead time 2-3 s, time constant 4-6 s) gets a
    strike at every verdict and is slow after two."""
    plant = (
        Response(dead_time_s=2.0 + dead, tau_s=4.0 + 2.0 * tau)
        if slow
        else Response(dead_time_s=0.75 * dead, tau_s=1.5 * tau)
    )
    lag = pace.Lag()
    verdicts = 0
    for k, (was_w, now_w, ages) in enumerate(steps):
        before = (
            Commanded(Mode.DISCHARGE, 0, was_w) if was_w > 0 else Commanded(Mode.CHARGE, -was_w, 0)
        )
        after = (
            Commanded(Mode.DISCHARGE, 0, now_w) if now_w > 0 else Commanded(Mode.CHARGE, -now_w, 0)
        )
        at = 100.0 * k
        from_w = RESPONSE.target_w(before.mode, abs(pace.signed_w(before)))
        lag = pace.watch(lag, before, after, from_w, at)
        change = lag.watch
        for age in sorted(ages):
            if lag.watch is None or change is None:
                break
            ac = change.from_w + plant.step(age - plant.dead_time_s) * (change.to_w - change.from_w)
            judged = pace.judge(lag, ac, at + age)
            expected = RESPONSE.step(age - change.delay_s)
            if age > 0 and pace.JUDGE_FROM <= expected <= pace.JUDGE_TO:  # a verdict
                verdicts += 1
                assert judged.watch is None
                assert judged.score == (min(pace.MOST, lag.score + 1) if slow else 0)
            lag = judged
            if slow:
                assert lag.slow is not False
                assert lag.slow is (True if verdicts >= pace.SLOW_AT else None)
            else:
                assert lag.slow is not True
                assert lag.score == 0
                assert pace.awaits(lag) is (lag.slow is None)


# ---------------------------------------------------------------------------- allowance


def _plan(*setpoints: Setpoint) -> Plan:
    modes = {s.mode for s in setpoints if s.mode is not Mode.STOP}
    return Plan(modes.pop() if len(modes) == 1 else Mode.STOP, tuple(setpoints))


def _run(mode: Mode, power: int, reason: Reason = Reason.RUNNING) -> Setpoint:
    return Setpoint(mode, power, reason)


DIS = Commanded(Mode.DISCHARGE, 0, 800, rs485_enabled=True)
STOPPED = Commanded(rs485_enabled=True)


def _allowed(
    plan: Plan,
    commanded: list[Commanded],
    buckets: list[Bucket] | None,
    now_s: float = 10.0,
    **kw: bool,
) -> pace.Allowed:
    decision = decide(plan, commanded, [True] * len(commanded), 5.0, LOOP)
    return allow(plan, decision, commanded, buckets, now_s, settings=ALLOWANCE, **kw)


def test_a_power_change_spends_a_token() -> None:
    result = _allowed(_plan(_run(Mode.DISCHARGE, 1000)), [DIS], None)
    assert result.withheld == frozenset()
    assert result.decision.writes == (Write(0, WriteKind.DISCHARGE_POWER, 1000),)
    assert result.buckets == (Bucket(1.0, 10.0),)


def test_without_a_token_the_battery_keeps_what_it_was_told() -> None:
    plan = _plan(_run(Mode.DISCHARGE, 1000))
    result = _allowed(plan, [DIS], [Bucket(0.5, 10.0)])
    assert result.withheld == {0}
    assert result.decision.writes == ()
    assert result.decision.commanded == (DIS,)
    assert result.plan.setpoints == (Setpoint(Mode.DISCHARGE, 800, Reason.RUNNING),)
    assert result.buckets == (Bucket(0.5, 10.0),)
    # the bucket refills: one token 2.25 s later
    later = _allowed(plan, [DIS], list(result.buckets), now_s=12.25)
    assert later.withheld == frozenset()
    assert later.buckets[0].tokens == pytest.approx(0.0)


def test_a_small_change_waits_for_a_full_bucket() -> None:
    plan = _plan(_run(Mode.DISCHARGE, 800 + ALLOWANCE.dead_band_w - 1))
    assert _allowed(plan, [DIS], [Bucket(1.9, 10.0)]).withheld == {0}
    assert _allowed(plan, [DIS], [Bucket(2.0, 10.0)]).withheld == frozenset()
    big = _plan(_run(Mode.DISCHARGE, 800 + ALLOWANCE.dead_band_w))
    assert _allowed(big, [DIS], [Bucket(1.0, 10.0)]).withheld == frozenset()


@pytest.mark.parametrize(
    "setpoint",
    [
        Setpoint(Mode.STOP, 0),  # a stop
        _run(Mode.CHARGE, 500),  # a mode change
        _run(Mode.DISCHARGE, 300, Reason.LIMITED_BY_PHASE),  # a phase limit's reduction
    ],
)
def test_safety_writes_are_never_withheld(setpoint: Setpoint) -> None:
    plan = _plan(setpoint)
    decision = decide(plan, [DIS], [True], 5.0, LOOP)
    result = allow(plan, decision, [DIS], [Bucket(0.0, 10.0)], 10.0, settings=ALLOWANCE)
    assert result.withheld == frozenset()
    assert result.decision == decision
    assert result.plan == plan
    assert result.buckets == (Bucket(0.0, 10.0),)  # and they spend nothing


def test_an_urgent_cycle_withholds_nothing() -> None:
    plan = _plan(_run(Mode.DISCHARGE, 300))
    result = _allowed(plan, [DIS], [Bucket(0.0, 10.0)], urgent=True)
    assert result.withheld == frozenset()
    assert result.decision.writes == (Write(0, WriteKind.DISCHARGE_POWER, 300),)
    assert pace.urgent_limit(Limit.PEAK_CAP)
    assert pace.urgent_limit(Limit.PHASE_LIMIT)
    assert not pace.urgent_limit(Limit.BATTERIES)
    assert not pace.urgent_limit(Limit.NONE)
    assert not pace.urgent_limit(None)


def test_starts_and_enables_are_never_withheld() -> None:
    start = _plan(_run(Mode.DISCHARGE, 500))
    assert _allowed(start, [STOPPED], [Bucket(0.0, 10.0)]).withheld == frozenset()
    not_enabled = Commanded(Mode.DISCHARGE, 0, 800, rs485_enabled=False)
    result = _allowed(_plan(_run(Mode.DISCHARGE, 900)), [not_enabled], [Bucket(0.0, 10.0)])
    assert result.withheld == {0}  # the enable and the mode go, the power stays as told
    assert result.decision.writes == (
        Write(0, WriteKind.RS485_ENABLE, "enable"),
        Write(0, WriteKind.DISCHARGE_POWER, 800),
        Write(0, WriteKind.MODE, "discharge"),
    )
    assert result.decision.commanded == (replace(not_enabled, rs485_enabled=True),)


def test_a_keepalive_sends_what_was_told_without_a_token() -> None:
    plan = _plan(_run(Mode.DISCHARGE, 900))
    keepalive = decide(plan, [DIS], [True], 30.0, LOOP)
    assert keepalive.keepalive
    kept = allow(plan, keepalive, [DIS], [Bucket(0.0, 10.0)], 10.0, settings=ALLOWANCE)
    assert kept.withheld == {0}
    assert kept.decision.writes == (
        Write(0, WriteKind.RS485_ENABLE, "enable"),
        Write(0, WriteKind.DISCHARGE_POWER, 800),
        Write(0, WriteKind.MODE, "discharge"),
    )
    assert kept.decision.keepalive
    assert kept.plan.setpoints[0].power_w == 800
    same = _plan(_run(Mode.DISCHARGE, 800))  # no change: nothing to withhold, nothing spent
    refresh = decide(same, [DIS], [True], 30.0, LOOP)
    result = allow(same, refresh, [DIS], [Bucket(0.0, 10.0)], 10.0, settings=ALLOWANCE)
    assert result.decision == refresh
    # with a token the keep-alive carries the change and spends it
    paid = allow(plan, keepalive, [DIS], [Bucket(1.0, 10.0)], 10.0, settings=ALLOWANCE)
    assert paid.decision == keepalive
    assert paid.buckets == (Bucket(0.0, 10.0),)


def test_one_battery_withheld_the_others_written() -> None:
    plan = _plan(_run(Mode.DISCHARGE, 1000), _run(Mode.DISCHARGE, 600))
    result = _allowed(plan, [DIS, DIS], [Bucket(0.0, 10.0), Bucket(2.0, 10.0)])
    assert result.withheld == {0}
    assert result.decision.writes == (Write(1, WriteKind.DISCHARGE_POWER, 600),)
    assert result.decision.commanded == (DIS, replace(DIS, discharge_w=600))
    assert result.plan.setpoints[0].power_w == 800
    assert result.plan.setpoints[1].power_w == 600


def test_a_reduction_beside_a_start_is_never_withheld() -> None:
    """Holding A at 2000 W while B starts at 1000 W would run the fleet 1000 W above plan."""
    a = Commanded(Mode.DISCHARGE, 0, 2000, rs485_enabled=True)
    plan = _plan(_run(Mode.DISCHARGE, 1000), _run(Mode.DISCHARGE, 1000))
    result = _allowed(plan, [a, STOPPED], [Bucket(0.0, 10.0), Bucket(0.0, 10.0)])
    assert result.withheld == frozenset()
    assert result.plan == plan
    rebalance = _plan(_run(Mode.DISCHARGE, 1500), _run(Mode.DISCHARGE, 1000))
    b = Commanded(Mode.DISCHARGE, 0, 500, rs485_enabled=True)
    both = _allowed(rebalance, [a, b], [Bucket(0.0, 10.0), Bucket(1.0, 10.0)])
    assert both.withheld == frozenset()  # B rises with its token, A comes down without one
    alone = _allowed(_plan(_run(Mode.DISCHARGE, 1500)), [a], [Bucket(0.0, 10.0)])
    assert alone.withheld == {0}  # nothing rises: held at what it was told


def test_allow_checks_its_lengths() -> None:
    plan = _plan(_run(Mode.DISCHARGE, 1000))
    decision = decide(plan, [DIS], [True], 5.0, LOOP)
    with pytest.raises(ValueError, match="one item per battery"):
        allow(plan, decision, [DIS, DIS], None, 0.0)
    with pytest.raises(ValueError, match="one item per battery"):
        allow(plan, decision, [DIS], [], 0.0)


def test_a_clock_going_back_adds_no_token() -> None:
    assert Bucket(0.5, 10.0).level(5.0, ALLOWANCE) == 0.5
    assert Bucket(0.5, 10.0).level(100.0, ALLOWANCE) == ALLOWANCE.burst


HOUR = 3600.0
#: 1.5 x one write per 6.5 s over an hour: the most power changes the allowance may make.
HOUR_LIMIT = int(1.5 * HOUR / 6.5)


@hyp_settings(max_examples=40, deadline=None)
@given(
    gaps=st.lists(st.floats(0.5, 8.0), min_size=1, max_size=12),
    seed=st.integers(0, 2**32 - 1),
    batteries=st.integers(1, 3),
)
def test_power_changes_over_any_hour_stay_within_the_allowance(
    gaps: list[float], seed: int, batteries: int
) -> None:
    """Whatever the plans and however often cycles run: non-urgent writes <= 1.5 x default.

    The plans change every battery's power at every cycle (the worst case), with now and
    then a stop, a start, a mode change or an urgent (limited) cycle; those are always
    written, and each battery's power changes made stay within the bucket's bound.
    """
    rng = random.Random(seed)
    commanded = [DIS] * batteries
    buckets: list[Bucket] | None = None
    made: list[list[float]] = [[] for _ in range(batteries)]
    now, k = 0.0, 0
    while now < 1.3 * HOUR:
        urgent = rng.random() < 0.02
        setpoints = []
        for now_cmd in commanded:
            roll = rng.random()
            mode = now_cmd.mode if now_cmd.mode is not Mode.STOP else Mode.DISCHARGE
            if roll < 0.02:
                setpoints.append(Setpoint(Mode.STOP, 0))
            elif roll < 0.04:
                other = Mode.CHARGE if mode is Mode.DISCHARGE else Mode.DISCHARGE
                setpoints.append(_run(other, rng.randint(100, 2500)))
            else:
                setpoints.append(_run(mode, rng.randint(1, 2500)))
        # one mode per plan, as the engine makes it
        modes = {s.mode for s in setpoints if s.mode is not Mode.STOP}
        if len(modes) > 1:
            setpoints = [
                s if s.mode is not Mode.CHARGE else Setpoint(Mode.STOP, 0) for s in setpoints
            ]
        plan = _plan(*setpoints)
        since = 30.0 if rng.random() < 0.1 else 1.0  # now and then a keep-alive
        decision = decide(plan, commanded, [True] * batteries, since, LOOP)
        result = allow(plan, decision, commanded, buckets, now, urgent=urgent)
        withholdable = {
            i
            for i in range(batteries)
            if pace.power_change(i, decision.writes, plan.setpoints[i], commanded[i]) is not None
        }
        for write in decision.writes:  # everything else goes as decided
            if write.battery not in result.withheld:
                assert write in result.decision.writes
        for write in result.decision.writes:  # a withheld battery keeps its power as told
            if write.battery in result.withheld and write.kind in (
                WriteKind.CHARGE_POWER,
                WriteKind.DISCHARGE_POWER,
            ):
                told = commanded[write.battery]
                assert write.value == told.power_for(told.mode)
        assert result.withheld <= withholdable
        assert not (urgent and result.withheld)
        for i in result.withheld:  # a reduction is held up only where nothing rises
            if plan.setpoints[i].power_w < commanded[i].power_for(commanded[i].mode):
                assert not pace.rises(plan, commanded)
        levels = [
            b.level(now, pace.AllowanceSettings()) if buckets else pace.BURST
            for b in (buckets or [None] * batteries)  # type: ignore[union-attr]
        ]
        for i in withholdable - result.withheld:
            if not urgent and result.buckets[i].tokens < levels[i] - 0.5:
                made[i].append(now)  # the changes that spent a token (not a forced reduction)
        for i in result.withheld:
            assert result.plan.setpoints[i].power_w == commanded[i].power_for(commanded[i].mode)
            assert result.decision.commanded[i] == commanded[i]
        commanded, buckets = list(result.decision.commanded), list(result.buckets)
        now += gaps[k % len(gaps)]
        k += 1
    for times in made:  # every window of an hour that starts at a write (the worst ones)
        end = 0
        for first, start in enumerate(times):
            while end < len(times) and times[end] < start + HOUR:
                end += 1
            assert end - first <= ALLOWANCE.burst + HOUR / ALLOWANCE.refill_s <= HOUR_LIMIT
