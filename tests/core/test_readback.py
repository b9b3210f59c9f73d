"""Pure read-back (readback.py): reported state against what was commanded."""

from __future__ import annotations

from hypothesis import given, strategies as st
import pytest

from custom_components.marstek_strategy.core.control import Commanded
from custom_components.marstek_strategy.core.engine import Mode, Plan, Reason, Setpoint
from custom_components.marstek_strategy.core.readback import (
    Event,
    Health,
    ReadbackSettings,
    Report,
    Track,
    check,
    discount,
)
from custom_components.marstek_strategy.core.readings import Problem

SETTINGS = ReadbackSettings()
STOPPED = Commanded(Mode.STOP, 0, 0, True)
DISCHARGING = Commanded(Mode.DISCHARGE, 0, 800, True)


def _report(commanded: Commanded, **changes: object) -> Report:
    values: dict[str, object] = {
        "mode": commanded.mode.value,
        "charge_w": float(commanded.charge_w),
        "discharge_w": float(commanded.discharge_w),
        "rs485": "enable" if commanded.rs485_enabled else "disable",
        "ac_power_w": None,
    }
    values.update(changes)
    return Report(**values)  # type: ignore[arg-type]


def _settled(commanded: Commanded) -> Track:
    """A track whose command was made long ago."""
    return check(commanded, _report(commanded), Track(), 0.0).track


def test_agreeing_report_is_ok() -> None:
    result = check(STOPPED, _report(STOPPED), _settled(STOPPED), 100.0)
    assert result.adopt is None
    assert result.exclude is None
    assert result.events == ()


def test_self_started_battery_is_taken_as_running_once_settled() -> None:
    """Defect 2: a report of discharge without our command (app, cloud, reboot, firmware)."""
    report = _report(DISCHARGING)
    # Within the grace after our own change, the select may still show the old state.
    early = check(STOPPED, report, Track(), 0.0)
    assert early.adopt is None
    result = check(STOPPED, report, early.track, SETTINGS.grace_s)
    assert result.adopt == DISCHARGING
    assert result.events == (Event.DRIFTED,)
    again = check(STOPPED, report, result.track, SETTINGS.grace_s + 6.5)
    assert again.adopt == DISCHARGING
    assert again.events == ()  # logged once


def test_reboot_seen_while_the_power_moves_every_cycle() -> None:
    """A running battery's power changes every cycle; its board reboots to stop: seen."""
    track = _settled(DISCHARGING)
    rebooted = _report(DISCHARGING, mode="stop", discharge_w=0.0, rs485="unknown")
    adopt = None
    for cycle in range(3):
        commanded = Commanded(Mode.DISCHARGE, 0, 810 + 10 * cycle, True)
        result = check(commanded, rebooted, track, 100.0 + 6.5 * cycle)
        track, adopt = result.track, result.adopt
        if adopt is not None:
            break
    assert adopt == Commanded(Mode.STOP, 0, 0, rs485_enabled=False)


def test_board_ignoring_new_powers_is_seen_while_they_move() -> None:
    """The engine lowers the power every cycle; the board keeps showing the old 800 W."""
    shown = _report(DISCHARGING)  # 800 W, whatever is written
    track = check(DISCHARGING, shown, Track(), 100.0).track  # the cycle before
    events: list[Event] = []
    adopted = []
    for cycle in range(1, 8):
        commanded = Commanded(Mode.DISCHARGE, 0, 800 - 50 * cycle, True)
        result = check(commanded, shown, track, 100.0 + 6.5 * cycle)
        track = result.track
        events.extend(result.events)
        adopted.append(result.adopt)
    assert adopted[0] is None  # the number shows a write only at the next read
    assert DISCHARGING in adopted
    assert events == [Event.DRIFTED]  # logged once


def test_power_rounding_is_not_a_drift() -> None:
    report = _report(DISCHARGING, discharge_w=810.0)  # 0.81 kW on a 0.01 kW step
    assert check(DISCHARGING, report, _settled(DISCHARGING), 100.0).adopt is None


def test_rs485_unknown_is_not_enabled_and_no_exclusion() -> None:
    result = check(DISCHARGING, _report(DISCHARGING, rs485="unknown"), _settled(DISCHARGING), 99)
    assert result.adopt == Commanded(Mode.DISCHARGE, 0, 800, rs485_enabled=False)
    assert result.exclude is None


def test_no_rs485_select_is_not_compared() -> None:
    commanded = Commanded(Mode.DISCHARGE, 0, 800, rs485_enabled=False)
    report = _report(commanded, rs485=None)
    assert check(commanded, report, _settled(commanded), 100.0).adopt is None


def test_invalid_mode_is_not_judged() -> None:
    report = _report(STOPPED, mode="unavailable")
    assert check(STOPPED, report, _settled(STOPPED), 100.0).adopt is None


def test_running_untold_by_ac_power() -> None:
    """Told to stop, entities show stop, AC power shows 700 W discharge: stop again."""
    track = _settled(STOPPED)
    report = _report(STOPPED, ac_power_w=700.0)
    events: list[Event] = []
    adopt = None
    for cycle in range(SETTINGS.low_cycles + 1):
        result = check(STOPPED, report, track, 100.0 + cycle * 6.5)
        track, adopt = result.track, result.adopt
        events.extend(result.events)
    assert adopt == Commanded(Mode.DISCHARGE, 0, 700, True)
    assert events == [Event.RUNNING_UNTOLD]
    charging = check(STOPPED, _report(STOPPED, ac_power_w=-900.0), track, 200.0).adopt
    assert charging == Commanded(Mode.CHARGE, 900, 0, True)
    stopped = _report(STOPPED, ac_power_w=0.0)
    for cycle in range(SETTINGS.low_window):
        track = check(STOPPED, stopped, track, 210.0 + cycle * 6.5).track
    assert track.untold == 0


def test_running_untold_every_other_cycle() -> None:
    """A stopped reading between running ones does not restart the count; said once."""
    track = _settled(STOPPED)
    adopts: list[Commanded | None] = []
    events: list[Event] = []
    for cycle in range(12):
        ac = 600.0 if cycle % 2 == 0 else 0.0
        result = check(STOPPED, _report(STOPPED, ac_power_w=ac), track, 100.0 + cycle * 6.5)
        track = result.track
        adopts.append(result.adopt)
        events.extend(result.events)
    # running in cycles 0, 2, 4: the third within the last low_window judged cycles
    assert adopts[:4] == [None] * 4
    assert adopts[4] == Commanded(Mode.DISCHARGE, 0, 600, True)
    assert all(adopt is not None for adopt in adopts[4::2])
    assert all(adopt is None for adopt in adopts[5::2])  # shows stopped: nothing to adopt
    assert events == [Event.RUNNING_UNTOLD]
    # a whole window stopped ends the episode: the next one is said again
    for cycle in range(SETTINGS.low_window):
        track = check(STOPPED, _report(STOPPED, ac_power_w=0.0), track, 200.0 + cycle).track
    again: list[Event] = []
    for cycle in range(SETTINGS.low_cycles):
        result = check(STOPPED, _report(STOPPED, ac_power_w=600.0), track, 210.0 + cycle)
        track = result.track
        again.extend(result.events)
    assert again == [Event.RUNNING_UNTOLD]


def test_not_responding_excluded_backoff_then_probed() -> None:
    track = _settled(DISCHARGING)
    report = _report(DISCHARGING, ac_power_w=20.0)
    now = 100.0
    events: list[Event] = []
    for _ in range(SETTINGS.low_cycles):
        result = check(DISCHARGING, report, track, now)
        track = result.track
        events.extend(result.events)
        now += 6.5
    assert events == [Event.NOT_RESPONDING]
    assert result.exclude is Problem.NOT_RESPONDING
    assert track.health is Health.EXCLUDED
    # still out during the back-off
    assert check(DISCHARGING, report, track, now).exclude is Problem.NOT_RESPONDING
    # back-off over: probed, and excluded again while it does not deliver (not logged again)
    probe_at = track.until
    result = check(DISCHARGING, report, track, probe_at)
    assert result.exclude is None
    assert result.track.health is Health.PROBING
    track = result.track
    for cycle in range(1, SETTINGS.low_cycles):
        track = check(DISCHARGING, report, track, probe_at + cycle * 6.5).track
    assert track.health is Health.EXCLUDED
    # delivers while probed: ok, logged once
    track = check(DISCHARGING, report, track, track.until).track
    result = check(DISCHARGING, _report(DISCHARGING, ac_power_w=790.0), track, track.until + 7)
    assert result.events == (Event.RESPONDING,)
    assert result.track.health is Health.OK


def _turning(interval_s: float, every: int, ac_of: object, cycles: int) -> list[float]:
    """Run a battery whose command turns round every `every` cycles; return exclusion times."""
    charging = Commanded(Mode.CHARGE, 2500, 0, True)
    discharging = Commanded(Mode.DISCHARGE, 0, 2500, True)
    stopped = _report(STOPPED, ac_power_w=0.0)
    track, out = check(STOPPED, stopped, _settled(STOPPED), 100.0 - interval_s).track, []
    for cycle in range(cycles):
        now = 100.0 + cycle * interval_s
        commanded = discharging if (cycle // every) % 2 == 0 else charging
        ac = ac_of(commanded, cycle % every)  # type: ignore[operator]
        result = check(commanded, _report(commanded, ac_power_w=ac), track, now)
        track = result.track
        if result.exclude is Problem.NOT_RESPONDING:
            out.append(now - 100.0)
    return out


@pytest.mark.parametrize("interval_s", [2.0, 3.0, 5.0])
def test_reversals_do_not_restart_the_grace(interval_s: float) -> None:
    """Issue 18.2: a battery that reads the other way than told, whose plan turns round every
    two cycles, is taken out (as at 6.5 s) within grace + low_cycles cycles, and stays out.

    Each reversal restarted the 15 s grace: 30 reversals at 2.5 kW in 2 minutes.
    """

    def against(commanded: Commanded, _age: int) -> float:
        return -2437.0 if commanded.mode is Mode.DISCHARGE else 2612.0

    out = _turning(interval_s, 2, against, round(120 / interval_s))
    assert out
    assert out[0] <= SETTINGS.grace_s + (SETTINGS.low_cycles + 1) * interval_s

    # A battery that follows its reversals (after 5 s) is never taken out for them.
    def follows(commanded: Commanded, age: int) -> float:
        if age * interval_s < 5.0:
            return 0.0
        return 2437.0 if commanded.mode is Mode.DISCHARGE else -2612.0

    assert _turning(interval_s, 4, follows, round(120 / interval_s)) == []


def test_delivery_not_judged_when_settling_small_or_without_sensor() -> None:
    report = _report(DISCHARGING, ac_power_w=0.0)
    track = Track()
    for cycle in range(5):  # a new command: within the grace nothing is judged
        track = check(DISCHARGING, report, track, cycle * 2.0).track
    assert track.low == 0
    small = Commanded(Mode.DISCHARGE, 0, 50, True)
    assert check(small, _report(small, ac_power_w=0.0), _settled(small), 100).track.low == 0
    no_sensor = _report(DISCHARGING)
    assert check(DISCHARGING, no_sensor, _settled(DISCHARGING), 100).track.low == 0


def test_taper_is_not_too_little() -> None:
    charging = Commanded(Mode.CHARGE, 2500, 0, True)
    report = _report(charging, ac_power_w=-1500.0)  # limited at 95 % by the firmware
    assert check(charging, report, _settled(charging), 100).track.low == 0


def test_inverter_fault() -> None:
    result = check(STOPPED, _report(STOPPED, inverter_state="Fault"), _settled(STOPPED), 100)
    assert result.exclude is Problem.INVERTER_FAULT
    assert result.events == (Event.FAULT,)
    result = check(STOPPED, _report(STOPPED, inverter_state="Fault"), result.track, 106)
    assert result.events == ()
    result = check(STOPPED, _report(STOPPED, inverter_state="Standby"), result.track, 112)
    assert result.exclude is None
    assert result.events == (Event.FAULT_CLEARED,)


def test_discount() -> None:
    plan = Plan(Mode.DISCHARGE, (Setpoint(Mode.DISCHARGE, 500, Reason.RUNNING),) * 2)
    assert discount(plan, set()) is plan
    assert discount(plan, {1}).setpoints[1] == Setpoint(Mode.STOP, 0)
    assert discount(plan, {1}).setpoints[0] == plan.setpoints[0]


MODES = st.sampled_from(list(Mode))
COMMANDS = st.builds(Commanded, MODES, st.integers(0, 2500), st.integers(0, 2500), st.booleans())


@given(COMMANDS, COMMANDS, st.one_of(st.none(), st.floats(-3000, 3000)))
def test_adopted_is_what_the_battery_shows(
    commanded: Commanded, shown: Commanded, ac: float | None
) -> None:
    """Whatever is adopted is what the entities (or the AC power) show, never a guess."""
    report = _report(shown, ac_power_w=ac)
    track = _settled(commanded)
    for cycle in range(SETTINGS.low_cycles + 1):
        result = check(commanded, report, track, 100.0 + cycle * 6.5)
        track = result.track
        if result.adopt is not None and result.adopt != shown:
            assert ac is not None
            assert result.adopt.mode is (Mode.DISCHARGE if ac > 0 else Mode.CHARGE)
            assert result.adopt.power_for(result.adopt.mode) == round(abs(ac))


# ----------------------------------------------------------- not responding, over a window


def _delivering(pattern: list[bool], interval_s: float = 2.0) -> list[int]:
    """Feed a settled 800 W discharge cycles that deliver (True) or not (False); return the
    cycle numbers at which it was taken out."""
    track, out = _settled(DISCHARGING), []
    for cycle, good in enumerate(pattern):
        ac = 800.0 if good else 0.0
        result = check(
            DISCHARGING, _report(DISCHARGING, ac_power_w=ac), track, 100 + cycle * interval_s
        )
        track = result.track
        if result.exclude is Problem.NOT_RESPONDING and Event.NOT_RESPONDING in result.events:
            out.append(cycle)
    return out


@pytest.mark.parametrize("interval_s", [2.0, 6.5])
def test_intermittent_battery_is_not_responding(interval_s: float) -> None:
    """Delivering only every third cycle: one good reading used to reset the count of 3, so it
    was never taken out; the window sees 3 bad cycles of 5 (fails with a consecutive count)."""
    assert _delivering([False, False, True] * 6, interval_s)[:1] == [3]


@given(st.lists(st.booleans(), max_size=40))
def test_taken_out_exactly_when_the_window_holds_enough_bad_cycles(pattern: list[bool]) -> None:
    """Taken out at the first cycle where low_cycles of the last low_window cycles delivered
    too little (once: the back-off outlasts the pattern)."""
    expected = [
        cycle
        for cycle in range(len(pattern))
        if pattern[max(0, cycle - SETTINGS.low_window + 1) : cycle + 1].count(False)
        >= SETTINGS.low_cycles
    ][:1]
    assert _delivering(pattern) == expected


@given(st.integers(min_value=SETTINGS.low_window - SETTINGS.low_cycles + 1, max_value=10))
def test_lone_bad_cycles_never_take_it_out(gap: int) -> None:
    """A bad cycle now and then, with at least low_window - low_cycles + 1 good ones between two
    of them (a reading landing before the battery ramped): never taken out."""
    assert _delivering(([False] + [True] * gap) * 8) == []
