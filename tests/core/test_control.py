"""Tests of the pure control-loop policy (writes, order, timing, keep-alive, restart)."""

from __future__ import annotations

from collections.abc import Sequence

from hypothesis import given, settings as hyp_settings, strategies as st
import pytest

from custom_components.marstek_strategy.core.control import (
    Commanded,
    Decision,
    LoopSettings,
    Write,
    WriteKind,
    decide,
    plan_from_commanded,
    stop_writes,
)
from custom_components.marstek_strategy.core.engine import Mode, Plan, Reason, Setpoint

LOOP = LoopSettings()
STOP = Commanded()
ENABLE = WriteKind.RS485_ENABLE
CHARGE_W = WriteKind.CHARGE_POWER
DISCHARGE_W = WriteKind.DISCHARGE_POWER
MODE = WriteKind.MODE


def plan(*setpoints: tuple[Mode, int]) -> Plan:
    modes = {mode for mode, power in setpoints if power}
    return Plan(
        modes.pop() if len(modes) == 1 else Mode.STOP,
        tuple(Setpoint(mode, power) for mode, power in setpoints),
    )


def run(
    target: Plan,
    commanded: Sequence[Commanded],
    rs485: Sequence[bool] | None = None,
    since: float = 0.0,
    loop: LoopSettings = LOOP,
) -> Decision:
    has_rs485 = [True] * len(commanded) if rs485 is None else list(rs485)
    return decide(target, commanded, has_rs485, since, loop)


def apply(writes: Sequence[Write], commanded: Sequence[Commanded]) -> list[Commanded]:
    """What the LilyGo entities hold after the writes (a recording fake battery)."""
    state = list(commanded)
    for write in writes:
        now = state[write.battery]
        if write.kind is ENABLE:
            assert write.value == "enable"
            state[write.battery] = Commanded(now.mode, now.charge_w, now.discharge_w, True)
        elif write.kind is CHARGE_W:
            assert isinstance(write.value, int)
            state[write.battery] = Commanded(
                now.mode, write.value, now.discharge_w, now.rs485_enabled
            )
        elif write.kind is DISCHARGE_W:
            assert isinstance(write.value, int)
            state[write.battery] = Commanded(now.mode, now.charge_w, write.value, now.rs485_enabled)
        else:
            state[write.battery] = Commanded(
                Mode(write.value), now.charge_w, now.discharge_w, now.rs485_enabled
            )
    return state


# --- entering, changing, stopping -------------------------------------------------------


def test_start_enables_rs485_then_power_then_mode_and_settles() -> None:
    decision = run(plan((Mode.DISCHARGE, 600)), [STOP])
    assert decision.writes == (
        Write(0, ENABLE, "enable"),
        Write(0, DISCHARGE_W, 600),
        Write(0, MODE, "discharge"),
    )
    assert decision.commanded == (Commanded(Mode.DISCHARGE, 0, 600, True),)
    assert decision.delay_s == LOOP.settle_s == 12.0
    assert decision.keepalive is False


def test_start_without_an_rs485_select() -> None:
    decision = run(plan((Mode.CHARGE, 400)), [STOP], rs485=[False])
    assert decision.writes == (Write(0, CHARGE_W, 400), Write(0, MODE, "charge"))
    assert decision.commanded == (Commanded(Mode.CHARGE, 400, 0, False),)


def test_power_change_writes_only_the_number_and_waits_the_interval() -> None:
    now = Commanded(Mode.DISCHARGE, 0, 600, True)
    decision = run(plan((Mode.DISCHARGE, 750)), [now])
    assert decision.writes == (Write(0, DISCHARGE_W, 750),)
    assert decision.delay_s == LOOP.interval_s == 6.5


def test_nothing_changes_nothing_written() -> None:
    now = Commanded(Mode.CHARGE, 500, 0, True)
    decision = run(plan((Mode.CHARGE, 500), (Mode.STOP, 0)), [now, STOP])
    assert decision.writes == ()
    assert decision.commanded == (now, STOP)
    assert decision.delay_s == LOOP.interval_s


def test_mode_written_alone_when_the_number_already_holds_the_power() -> None:
    now = Commanded(Mode.STOP, 500, 0, True)
    decision = run(plan((Mode.CHARGE, 500)), [now])
    assert decision.writes == (Write(0, MODE, "charge"),)
    assert decision.delay_s == LOOP.settle_s


def test_stop_writes_stop_then_zeroes_the_active_number() -> None:
    now = Commanded(Mode.DISCHARGE, 0, 700, True)
    decision = run(plan((Mode.STOP, 0)), [now])
    assert decision.writes == (Write(0, MODE, "stop"), Write(0, DISCHARGE_W, 0))
    assert decision.commanded == (Commanded(Mode.STOP, 0, 0, True),)
    assert decision.delay_s == LOOP.interval_s


def test_stop_zeroes_a_stale_number_of_the_other_mode_too() -> None:
    now = Commanded(Mode.CHARGE, 300, 200, True)
    decision = run(plan((Mode.STOP, 0)), [now])
    assert decision.writes == (
        Write(0, MODE, "stop"),
        Write(0, CHARGE_W, 0),
        Write(0, DISCHARGE_W, 0),
    )


def test_running_setpoint_without_power_is_carried_out_as_a_stop() -> None:
    now = Commanded(Mode.CHARGE, 300, 0, True)
    target = Plan(Mode.CHARGE, (Setpoint(Mode.CHARGE, 0),))
    decision = run(target, [now])
    assert decision.writes == (Write(0, MODE, "stop"), Write(0, CHARGE_W, 0))


def test_direction_switch_writes_new_power_mode_then_zeroes_the_old_number() -> None:
    now = Commanded(Mode.CHARGE, 500, 0, True)
    decision = run(plan((Mode.DISCHARGE, 300)), [now])
    assert decision.writes == (
        Write(0, DISCHARGE_W, 300),
        Write(0, MODE, "discharge"),
        Write(0, CHARGE_W, 0),
    )
    assert decision.commanded == (Commanded(Mode.DISCHARGE, 0, 300, True),)
    assert decision.delay_s == LOOP.settle_s


def test_stopping_batteries_are_written_before_starting_ones() -> None:
    commanded = [STOP, Commanded(Mode.CHARGE, 800, 0, True)]
    decision = run(plan((Mode.DISCHARGE, 400), (Mode.STOP, 0)), commanded, rs485=[False, True])
    assert [w.battery for w in decision.writes] == [1, 1, 0, 0]


def test_decreases_are_written_before_increases() -> None:
    commanded = [Commanded(Mode.DISCHARGE, 0, 300, True), Commanded(Mode.DISCHARGE, 0, 800, True)]
    decision = run(plan((Mode.DISCHARGE, 800), (Mode.DISCHARGE, 300)), commanded)
    assert decision.writes == (Write(1, DISCHARGE_W, 300), Write(0, DISCHARGE_W, 800))


def test_enable_is_sent_when_the_select_is_not_enabled_with_the_setpoint() -> None:
    """After a restart the select may read disable: enable, then the setpoint explicitly."""
    now = Commanded(Mode.DISCHARGE, 0, 600, False)
    decision = run(plan((Mode.DISCHARGE, 600)), [now])
    assert decision.writes == (
        Write(0, ENABLE, "enable"),
        Write(0, DISCHARGE_W, 600),
        Write(0, MODE, "discharge"),
    )
    assert decision.delay_s == LOOP.interval_s  # the mode did not change


def test_stop_does_not_enable_rs485() -> None:
    now = Commanded(Mode.DISCHARGE, 0, 600, False)
    decision = run(plan((Mode.STOP, 0)), [now])
    assert all(w.kind is not ENABLE for w in decision.writes)


# --- keep-alive ------------------------------------------------------------------------


def test_keepalive_resends_enable_and_setpoints() -> None:
    commanded = [Commanded(Mode.CHARGE, 500, 0, True), STOP, Commanded(Mode.CHARGE, 300, 0)]
    decision = run(
        plan((Mode.CHARGE, 500), (Mode.STOP, 0), (Mode.CHARGE, 300)),
        commanded,
        rs485=[True, True, False],
        since=30.0,
    )
    assert decision.writes == (  # a stopped battery is held stopped: enable and stop again
        Write(1, ENABLE, "enable"),
        Write(1, MODE, "stop"),
        Write(0, ENABLE, "enable"),
        Write(0, CHARGE_W, 500),
        Write(0, MODE, "charge"),
        Write(2, CHARGE_W, 300),
        Write(2, MODE, "charge"),
    )
    assert decision.keepalive is True
    assert decision.commanded == (commanded[0], Commanded(rs485_enabled=True), commanded[2])
    assert decision.delay_s == LOOP.interval_s


def test_keepalive_holds_stopped_batteries_but_not_at_the_first_cycle() -> None:
    """No keep-alive sent yet (since is infinite): a stopped board is not taken over at once."""
    stopped = [Commanded(Mode.STOP, 0, 0, rs485_enabled=False)]
    assert decide(Plan.all_stop(1), stopped, [True], float("inf"), LOOP).writes == ()
    assert decide(Plan.all_stop(1), stopped, [True], 30.0, LOOP).writes == (
        Write(0, ENABLE, "enable"),
        Write(0, MODE, "stop"),
    )


def test_keepalive_stops_a_board_showing_its_own_setpoint_before_enabling_it() -> None:
    """RS485 off, an old charge 2500 W shown: stop and 0 W first, the enable only once stopped."""
    shown = [Commanded(Mode.CHARGE, 2500, 0, rs485_enabled=False)]
    first = decide(Plan.all_stop(1), shown, [True], 30.0, LOOP)
    assert first.writes == (Write(0, MODE, "stop"), Write(0, CHARGE_W, 0))
    second = decide(Plan.all_stop(1), list(first.commanded), [True], 30.0, LOOP)
    assert second.writes == (Write(0, ENABLE, "enable"), Write(0, MODE, "stop"))


def test_keepalive_not_due_yet() -> None:
    now = Commanded(Mode.CHARGE, 500, 0, True)
    decision = run(plan((Mode.CHARGE, 500)), [now], since=29.9)
    assert decision.writes == ()
    assert decision.keepalive is False


def test_keepalive_off() -> None:
    now = Commanded(Mode.CHARGE, 500, 0, True)
    loop = LoopSettings(keepalive_s=0)
    decision = run(plan((Mode.CHARGE, 500)), [now], since=1e9, loop=loop)
    assert decision.writes == ()
    assert decision.keepalive is False


def test_a_battery_that_does_not_answer_gets_its_stop_every_cycle() -> None:
    """Probe: told stop, its stop is written again (a write that goes is how it answers)."""
    loop = LoopSettings(keepalive_s=0)
    target = plan((Mode.STOP, 0), (Mode.DISCHARGE, 500))
    told = [STOP, Commanded(Mode.DISCHARGE, 0, 500, True)]
    assert decide(target, told, [True, True], 0.0, loop).writes == ()
    probed = decide(target, told, [True, True], 0.0, loop, probe={0})
    assert [(w.battery, w.kind) for w in probed.writes] == [(0, ENABLE), (0, MODE)]
    assert probed.writes[1].value == "stop"
    assert probed.commanded == (Commanded(Mode.STOP, 0, 0, True), told[1])
    # Only a stop is probed: a battery planned to run is written as the plan says.
    running = decide(plan((Mode.DISCHARGE, 500)), [told[1]], [True], 0.0, loop, probe={0})
    assert running.writes == ()


def test_custom_timing() -> None:
    loop = LoopSettings(interval_s=5.0, settle_s=9.0, keepalive_s=60.0)
    assert run(plan((Mode.CHARGE, 100)), [STOP], loop=loop).delay_s == 9.0
    assert run(plan((Mode.STOP, 0)), [STOP], loop=loop).delay_s == 5.0


def test_lengths_must_match() -> None:
    with pytest.raises(ValueError, match="one item per battery"):
        decide(plan((Mode.STOP, 0)), [STOP, STOP], [True, True], 0.0, LOOP)
    with pytest.raises(ValueError, match="one item per battery"):
        decide(plan((Mode.STOP, 0)), [STOP], [], 0.0, LOOP)


# --- stop_writes and plan_from_commanded ---------------------------------------------


def test_stop_writes_are_unconditional() -> None:
    commanded = [STOP, Commanded(Mode.CHARGE, 500, 0, True)]
    assert stop_writes(commanded) == (
        Write(0, MODE, "stop"),
        Write(1, MODE, "stop"),
        Write(0, CHARGE_W, 0),
        Write(0, DISCHARGE_W, 0),
        Write(1, CHARGE_W, 0),
        Write(1, DISCHARGE_W, 0),
    )
    assert stop_writes([]) == ()
    assert apply(stop_writes(commanded), commanded) == [STOP, Commanded(Mode.STOP, 0, 0, True)]


def test_plan_from_commanded() -> None:
    commanded = [
        Commanded(Mode.DISCHARGE, 100, 700, True),
        Commanded(Mode.STOP, 300, 300, True),
        Commanded(Mode.DISCHARGE, 500, 0, True),
        Commanded(Mode.DISCHARGE, 0, -20, True),
    ]
    assert plan_from_commanded(commanded) == Plan(
        Mode.DISCHARGE,
        (
            Setpoint(Mode.DISCHARGE, 700, Reason.RUNNING),
            Setpoint(Mode.STOP, 0, Reason.IDLE),
            Setpoint(Mode.STOP, 0, Reason.IDLE),
            Setpoint(Mode.STOP, 0, Reason.IDLE),
        ),
    )


def test_plan_from_mixed_commanded_is_overall_stop() -> None:
    commanded = [Commanded(Mode.DISCHARGE, 0, 700), Commanded(Mode.CHARGE, 300, 0)]
    derived = plan_from_commanded(commanded)
    assert derived.mode is Mode.STOP
    assert [s.power_w for s in derived.setpoints] == [700, 300]
    assert plan_from_commanded([]) == Plan(Mode.STOP, ())


# --- properties --------------------------------------------------------------------------

modes = st.sampled_from(Mode)
watts = st.integers(min_value=0, max_value=2500)
commanded_states = st.builds(Commanded, modes, watts, watts, st.booleans())


@st.composite
def cases(draw: st.DrawFn) -> tuple[Plan, list[Commanded], list[bool], float]:
    count = draw(st.integers(min_value=1, max_value=8))
    direction = draw(st.sampled_from([Mode.CHARGE, Mode.DISCHARGE]))
    targets = [
        draw(st.just(Setpoint(Mode.STOP, 0)) | watts.map(lambda w: Setpoint(direction, w)))
        for _ in range(count)
    ]
    target = Plan(direction, tuple(targets))
    commanded = [draw(commanded_states) for _ in range(count)]
    rs485 = [draw(st.booleans()) for _ in range(count)]
    return target, commanded, rs485, draw(st.sampled_from([0.0, 10.0, 30.0, 45.0]))


@hyp_settings(max_examples=300, deadline=None)
@given(case=cases())
def test_writes_carry_out_the_plan(case: tuple[Plan, list[Commanded], list[bool], float]) -> None:
    target, commanded, rs485, since = case
    decision = decide(target, commanded, rs485, since, LOOP)
    after = apply(decision.writes, commanded)
    assert after == list(decision.commanded)
    for index, setpoint in enumerate(target.setpoints):
        state = after[index]
        running = setpoint.mode is not Mode.STOP and setpoint.power_w > 0
        assert state.mode is (setpoint.mode if running else Mode.STOP)
        if running:
            assert state.power_for(setpoint.mode) == setpoint.power_w
            assert state.rs485_enabled or not rs485[index]
        kinds = [w.kind for w in decision.writes if w.battery == index]
        if running and MODE in kinds and power_kind_of(setpoint.mode) in kinds:
            assert kinds.index(power_kind_of(setpoint.mode)) < kinds.index(MODE)
        if ENABLE in kinds:
            assert kinds.index(ENABLE) == 0
    # carrying out the same plan again changes nothing
    again = decide(target, decision.commanded, rs485, 0.0, LOOP)
    assert again.writes == ()
    assert again.delay_s == LOOP.interval_s


@hyp_settings(max_examples=300, deadline=None)
@given(case=cases())
def test_writes_only_on_change_unless_keepalive(
    case: tuple[Plan, list[Commanded], list[bool], float],
) -> None:
    target, commanded, rs485, _ = case
    decision = decide(target, commanded, rs485, 0.0, LOOP)
    state = list(commanded)
    enabled: set[int] = set()  # enabling RS485 control resends the setpoint explicitly
    for write in decision.writes:
        now = state[write.battery]
        if write.kind is ENABLE:
            assert not now.rs485_enabled
            enabled.add(write.battery)
        elif write.battery not in enabled:
            assert (
                write.value
                != {
                    MODE: now.mode.value,
                    CHARGE_W: now.charge_w,
                    DISCHARGE_W: now.discharge_w,
                }[write.kind]
            )
        state = apply([write], state)


@hyp_settings(max_examples=200, deadline=None)
@given(commanded=st.lists(commanded_states, min_size=1, max_size=8))
def test_restart_does_not_jolt_the_batteries(commanded: list[Commanded]) -> None:
    """The plan derived from the entities, carried out, writes nothing once enabled."""
    derived = plan_from_commanded(commanded)
    rs485 = [now.rs485_enabled for now in commanded]
    decision = decide(derived, commanded, rs485, 0.0, LOOP)
    kinds = {w.kind for w in decision.writes}
    # only batteries whose mode says stop while a stale number or an odd mode remains move
    for write in decision.writes:
        now = commanded[write.battery]
        assert now.power_for(now.mode) <= 0
    assert ENABLE not in kinds


def power_kind_of(mode: Mode) -> WriteKind:
    return CHARGE_W if mode is Mode.CHARGE else DISCHARGE_W


# --- reductions, hand back, RS485 disabled (issue 8) -------------------------------------


def test_reduces() -> None:
    from custom_components.marstek_strategy.core.control import reduces

    now = Commanded(Mode.DISCHARGE, 0, 800, True)
    assert reduces(Write(0, MODE, "stop"), now)
    assert not reduces(Write(0, MODE, "discharge"), now)
    assert reduces(Write(0, DISCHARGE_W, 300), now)  # a lower power
    assert reduces(Write(0, DISCHARGE_W, 0), now)
    assert not reduces(Write(0, DISCHARGE_W, 900), now)
    assert not reduces(Write(0, CHARGE_W, 100), now)
    assert not reduces(Write(0, ENABLE, "enable"), now)


def test_hand_back_writes_stop_then_release_control() -> None:
    from custom_components.marstek_strategy.core.control import hand_back_writes

    writes = hand_back_writes([1, 2], [True, True, False], [False, True, True])
    assert writes == (
        Write(1, MODE, "stop"),
        Write(2, MODE, "stop"),
        Write(1, CHARGE_W, 0),
        Write(1, DISCHARGE_W, 0),
        Write(2, CHARGE_W, 0),
        Write(2, DISCHARGE_W, 0),
        Write(1, WriteKind.RS485_DISABLE, "disable"),
        Write(1, WriteKind.WORK_MODE, "anti-feed"),
        Write(2, WriteKind.WORK_MODE, "anti-feed"),
    )
    from custom_components.marstek_strategy.core.control import apply_write

    after = [Commanded(Mode.CHARGE, 500, 0, True)] * 3
    for write in writes:
        after[write.battery] = apply_write(after[write.battery], write)
    assert not after[1].rs485_enabled
    assert not after[2].rs485_enabled
    assert after[1].mode is Mode.STOP
    assert after[1].charge_w == 0
    assert hand_back_writes([], [], []) == ()


@hyp_settings(max_examples=200, deadline=None)
@given(commanded=st.lists(commanded_states, min_size=1, max_size=8))
def test_a_board_without_rs485_control_is_not_taken_as_running(
    commanded: list[Commanded],
) -> None:
    """Defect 7: RS485 control disabled means the forcible setpoint is not in force, so a
    balanced grid never makes the policy enable it and write its old setpoint."""
    rs485 = [True] * len(commanded)
    derived = plan_from_commanded(commanded, rs485)
    for now, setpoint in zip(commanded, derived.setpoints, strict=True):
        if not now.rs485_enabled:
            assert setpoint.mode is Mode.STOP
    decision = decide(derived, commanded, rs485, 0.0, LOOP)
    assert ENABLE not in {w.kind for w in decision.writes}


def test_options_match_whatever_the_spelling() -> None:
    """Issue 18.7: case, spaces, '-' and '_' do not count; never a guess between two."""
    from custom_components.marstek_strategy.core.control import match_option

    assert match_option("anti-feed", ["manual", "anti-feed"]) == "anti-feed"
    assert match_option("anti-feed", ["manual", "anti_feed"]) == "anti_feed"
    assert match_option("anti-feed", ["Anti Feed"]) == "Anti Feed"
    assert match_option("stop", ["Stop", "charge"]) == "Stop"
    assert match_option("anti-feed", ["manual", "ai"]) is None
    assert match_option("anti-feed", ["anti_feed", "Anti Feed"]) is None
