"""The read-back judges each AC power report once, and only against what it could show.

At 2 s cycles a setpoint raised from 200 W to 2200 W was judged against 2200 W every cycle
although Home Assistant's ESPHome AC power reports every 4-15 s and a setpoint shows after
3-6 s: three "low" cycles came before the reading could move, and a healthy battery was out
as not_responding 4 s after a load step, for 300 s. Fails without the fix.
"""

from __future__ import annotations

from hypothesis import given, strategies as st
import pytest

from custom_components.marstek_strategy.core.control import Commanded
from custom_components.marstek_strategy.core.model import Mode
from custom_components.marstek_strategy.core.readback import (
    Event,
    ReadbackSettings,
    Report,
    Track,
    check,
)
from custom_components.marstek_strategy.core.readings import Problem

SETTINGS = ReadbackSettings()  # grace_s 15 s (ESPHome's), 3 low of the last 5
GRACE = SETTINGS.grace_s


def _told(power: int) -> Commanded:
    return Commanded(Mode.DISCHARGE, 0, power, True)


def _report(told: Commanded, ac_w: float, reported_at: float) -> Report:
    return Report(
        mode=told.mode.value,
        charge_w=float(told.charge_w),
        discharge_w=float(told.discharge_w),
        rs485="enable",
        ac_power_w=ac_w,
        ac_reported_at=reported_at,
    )


def _steady_at_200() -> Track:
    """Discharging 200 W since long, its AC power showing it."""
    track, told = Track(), _told(200)
    for now in range(0, 100, 2):
        track = check(told, _report(told, 200.0, float(now)), track, float(now)).track
    return track


def _run(
    track: Track, cycles: list[tuple[float, int, float, float]]
) -> list[tuple[float, Problem | None, tuple[Event, ...]]]:
    """Feed (now, told W, AC W, AC reported at) cycles; return (now, exclusion, events)."""
    out = []
    for now, power, ac_w, reported_at in cycles:
        told = _told(power)
        result = check(told, _report(told, ac_w, reported_at), track, now)
        track = result.track
        out.append((now, result.exclude, result.events))
    return out


@pytest.mark.parametrize("report_every", [4.0, 10.0, 15.0])
def test_load_step_at_2s_cycles_is_not_excluded_before_the_reading_can_move(
    report_every: float,
) -> None:
    """Steady at 200 W, 2200 W told at 100 s, AC still 200 W at every report for grace_s:
    never excluded (it was out at 104 s)."""
    cycles = []
    for step in range(1, int(GRACE / 2) + 1):
        now = 100.0 + 2.0 * step
        last = 98.0 + report_every * ((now - 98.0) // report_every)
        cycles.append((now, 2200, 200.0, last))
    assert all(exclude is None for _now, exclude, _events in _run(_steady_at_200(), cycles))


def test_same_report_seen_in_many_cycles_is_judged_once() -> None:
    """One low AC report after the grace, read in six cycles (within grace_s of it): one low
    cycle, not out."""
    cycles = [(100.0 + 2.0 * step, 2200, 200.0, 98.0) for step in range(1, 8)]
    cycles += [(120.0 + 2.0 * step, 2200, 200.0, 118.0) for step in range(6)]
    assert all(exclude is None for _now, exclude, _events in _run(_steady_at_200(), cycles))


@pytest.mark.parametrize("report_every", [4.0, 10.0, 15.0])
def test_battery_that_does_not_deliver_is_out_after_three_fresh_reports(
    report_every: float,
) -> None:
    """2200 W told at 100 s, AC at 200 W in every report: out at the third report from
    grace_s after the raise on, not before."""
    cycles, reports = [], []
    for step in range(1, 60):
        now = 100.0 + 2.0 * step
        last = 98.0 + report_every * ((now - 98.0) // report_every)
        cycles.append((now, 2200, 200.0, last))
        if last - GRACE > 100.0 and last not in reports:
            reports.append(last)
    out = [
        now
        for now, exclude, events in _run(_steady_at_200(), cycles)
        if exclude is Problem.NOT_RESPONDING and Event.NOT_RESPONDING in events
    ]
    assert len(out) == 1
    third = reports[SETTINGS.low_cycles - 1]
    assert third <= out[0] < third + report_every


def test_setpoint_raised_every_cycle_without_delivery_is_still_out() -> None:
    """Delivering nothing, the engine raises its setpoint every cycle: each fresh report is
    judged against the smallest power it could show: out after three reports."""
    cycles = []
    for step in range(1, 40):
        now = 100.0 + 2.0 * step
        cycles.append((now, min(2500, 400 + 100 * step), 0.0, 98.0 + 5.0 * ((now - 98.0) // 5)))
    excluded = [now for now, exclude, _e in _run(_steady_at_200(), cycles) if exclude]
    assert excluded
    assert excluded[0] <= 100.0 + GRACE + 4 * 5.0


@given(
    st.lists(
        st.tuples(st.floats(min_value=0.5, max_value=8.0), st.booleans()),
        min_size=1,
        max_size=60,
    )
)
def test_out_only_after_enough_reports_that_could_show_the_raise(
    cycles: list[tuple[float, bool]],
) -> None:
    """Cycles of any length, the AC power reporting in some (always 200 W, 2200 W told from
    100 s): out only once low_cycles readings could show the raise (a report grace_s or more
    after it, or a cycle grace_s or more after it whose sensor was silent for grace_s)."""
    now, reported_at, feed = 100.0, 98.0, []
    for gap, reported in cycles:
        now += gap
        if reported:
            reported_at = now
        feed.append((now, 2200, 200.0, reported_at))
    for index, (_now, exclude, _events) in enumerate(_run(_steady_at_200(), feed)):
        seen = feed[: index + 1]
        reports = {at for _n, _p, _ac, at in seen if at - GRACE >= 100.0}
        silent = [n for n, _p, _ac, at in seen if n - at >= GRACE and n - GRACE >= 100.0]
        if exclude is not None:
            assert len(reports) + len(silent) >= SETTINGS.low_cycles


def test_reversals_with_report_times_do_not_restart_the_grace() -> None:
    """Issue 18.2 with report times: its plan turns round every two cycles, it reads the
    other way at every report: still out within grace + low_cycles + 1 cycles."""
    track, out = Track(), []
    for cycle in range(60):
        now = 100.0 + 2.0 * cycle
        mode = Mode.DISCHARGE if cycle // 2 % 2 == 0 else Mode.CHARGE
        told = Commanded(mode, 2500, 2500, True)
        ac = -2437.0 if mode is Mode.DISCHARGE else 2612.0
        report = Report(mode.value, 2500.0, 2500.0, "enable", ac, ac_reported_at=now - 0.5)
        result = check(told, report, track, now)
        track = result.track
        if result.exclude is Problem.NOT_RESPONDING:
            out.append(now - 100.0)
    assert out
    assert out[0] <= GRACE + (SETTINGS.low_cycles + 1) * 2.0


@pytest.mark.parametrize("report_every", [6.0, 14.0, 26.0])
def test_a_dead_battery_at_2s_cycles_with_a_30s_grace_is_excluded(report_every: float) -> None:
    """Modbus YAML's grace (30 s), 2 s cycles, the setpoint wobbling every cycle, the AC at
    0 W reported every report_every s: out within grace + four reports (it never was when the
    track kept 16 powers, 30 s at 2 s cycles: none was in effect when a report could show it)."""
    settings = ReadbackSettings(grace_s=30.0)
    track, told = Track(), _told(800)
    for now in range(0, 60, 2):  # delivering as told
        track = check(told, _report(told, 800.0, float(now)), track, float(now), settings).track
    out = None
    now = 60.0
    while now < 60.0 + settings.grace_s + 4 * report_every + 2.0 and out is None:
        told = _told(800 + (7 if int(now) % 4 else -7))  # meter noise moves it every cycle
        reported_at = 61.0 + report_every * ((now - 61.0) // report_every)  # 1 s before
        if now < 61.0:
            reported_at = 58.0
        result = check(told, _report(told, 0.0, reported_at), track, now, settings)
        track, out = result.track, result.exclude
        now += 2.0
    assert out is Problem.NOT_RESPONDING
