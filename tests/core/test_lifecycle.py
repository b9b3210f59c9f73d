"""The loop's lifecycle state machine, on its own (no Home Assistant)."""

from __future__ import annotations

from hypothesis import given, strategies as st

from custom_components.marstek_strategy.core.lifecycle import (
    DRIVING,
    OFF,
    Action,
    Closing,
    DrivenByHand,
    Lifecycle,
    LifecycleEvent,
    MeterBad,
    Phase,
    Ran,
    Started,
    StopsMade,
    Switched,
    restore,
    transition,
)
from custom_components.marstek_strategy.core.readings import Cause

BATS = frozenset({"a", "b"})


def _run(state: Lifecycle, *events: LifecycleEvent) -> Lifecycle:
    for event in events:
        state = transition(state, event)
    return state


def test_start_on_runs_and_forgets_pending_stops_of_its_own_batteries() -> None:
    state = restore(enabled=True, dry_run=False, hand_back=False, pending={"a", "gone"})
    assert state.phase is Phase.STARTING
    assert state.action is Action.NOTHING
    state = transition(state, Started(BATS))
    assert state.phase is Phase.RUNNING
    assert state.action is Action.RUN
    assert state.pending == {"gone"}  # a removed battery stays pending while the rest runs


def test_start_in_dry_run_plans_only() -> None:
    state = _run(restore(enabled=True, dry_run=True, hand_back=False), Started(BATS))
    assert state.phase is Phase.DRY_RUN
    assert state.action is Action.PLAN
    assert not state.drives


def test_dry_run_keeps_the_stops_still_owed() -> None:
    """A dry run drives nothing: a stop owed from before is still owed (review finding)."""
    state = _run(restore(enabled=True, dry_run=True, hand_back=False, pending={"a"}), Started(BATS))
    assert state.phase is Phase.DRY_RUN
    assert state.pending == {"a"}
    off = _run(restore(enabled=False, dry_run=True, hand_back=False, pending={"a"}), Started(BATS))
    assert _run(off, Switched(enabled=True, batteries=BATS)).pending == {"a"}
    state = _run(state, StopsMade(frozenset({"a"})))
    assert state.pending == frozenset()


def test_restored_off_stays_off_but_keeps_its_pending_stops() -> None:
    state = _run(restore(enabled=False, dry_run=False, hand_back=False), Started(BATS))
    assert state.phase is Phase.STOPPED
    assert state.action is Action.NOTHING
    state = _run(
        restore(enabled=False, dry_run=False, hand_back=False, pending={"a"}), Started(BATS)
    )
    assert state.phase is Phase.STOPPING
    assert state.action is Action.STOP
    assert _run(state, StopsMade(frozenset({"a"}))).phase is Phase.STOPPED


def test_switched_off_while_starting_stops_everything_once_started() -> None:
    state = restore(enabled=True, dry_run=False, hand_back=False)
    state = _run(state, Switched(False, BATS))
    assert state.phase is Phase.STARTING
    assert state.switched_early
    state = transition(state, Started(BATS))
    assert state.phase is Phase.STOPPING
    assert state.pending == BATS


def test_switch_off_stops_all_then_stopped_or_handed_back() -> None:
    for hand_back, final in ((False, Phase.STOPPED), (True, Phase.HANDED_BACK)):
        state = _run(restore(enabled=True, dry_run=False, hand_back=hand_back), Started(BATS))
        state = transition(state, Switched(False, BATS))
        assert state.phase is Phase.STOPPING
        assert state.pending == BATS
        state = transition(state, StopsMade(frozenset({"a"})))
        assert state.phase is Phase.STOPPING
        assert state.pending == {"b"}
        assert transition(state, StopsMade(frozenset({"b"}))).phase is final
        # a person driving the battery whose stop is pending: it is left alone
        assert transition(state, DrivenByHand("b")).phase is final
        assert transition(state, DrivenByHand("a")) == state


def test_switch_on_again_runs() -> None:
    state = _run(
        restore(enabled=True, dry_run=False, hand_back=False),
        Started(BATS),
        Switched(False, BATS),
        Switched(True, BATS),
    )
    assert state.phase is Phase.RUNNING
    assert state.pending == frozenset()
    assert transition(state, Switched(True, BATS)) == state


def test_dry_run_switched_off_writes_nothing() -> None:
    state = _run(restore(enabled=True, dry_run=True, hand_back=False), Started(BATS))
    assert transition(state, Switched(False, BATS)).phase is Phase.STOPPED
    assert transition(state, Closing(BATS)).pending == frozenset()


def test_fail_safe_and_back() -> None:
    state = _run(restore(enabled=True, dry_run=False, hand_back=False), Started(BATS))
    state = transition(state, MeterBad(Cause.METER_STALE))
    assert state.phase is Phase.FAIL_SAFE
    assert state.cause is Cause.METER_STALE
    assert state.action is Action.RUN  # it keeps reading the meter
    state = transition(state, Ran(settling=True))
    assert state.phase is Phase.SETTLING
    assert state.cause is None
    assert transition(state, Ran(settling=False)).phase is Phase.RUNNING


def test_events_that_do_not_apply_change_nothing() -> None:
    off = _run(restore(enabled=False, dry_run=False, hand_back=False), Started(BATS))
    assert transition(off, MeterBad(Cause.ERROR)) == off
    assert transition(off, Ran(settling=True)) == off
    running = _run(restore(enabled=True, dry_run=False, hand_back=False), Started(BATS))
    assert transition(running, Started(BATS)) == running
    assert transition(running, StopsMade(frozenset({"a"}))) == running


def test_closing_stops_what_is_driven() -> None:
    running = _run(restore(enabled=True, dry_run=False, hand_back=False), Started(BATS))
    closed = transition(running, Closing(BATS))
    assert closed.phase is Phase.CLOSED
    assert closed.pending == BATS
    assert transition(closed, StopsMade(frozenset({"a"}))).pending == {"b"}
    assert transition(closed, Switched(False, BATS)) == closed
    # not started yet but on: the previous run may have left them running
    starting = restore(enabled=True, dry_run=False, hand_back=False)
    assert transition(starting, Closing(BATS)).pending == BATS
    # restored off: only what is pending
    starting_off = restore(enabled=False, dry_run=False, hand_back=False, pending={"a"})
    assert transition(starting_off, Closing(BATS)).pending == {"a"}


# ------------------------------------------------------------------------------ properties

_ids = st.sampled_from(["a", "b", "c"])
_id_sets = st.frozensets(_ids)
_events = st.one_of(
    st.builds(Started, _id_sets),
    st.builds(Switched, st.booleans(), _id_sets),
    st.builds(MeterBad, st.sampled_from(list(Cause))),
    st.builds(Ran, st.booleans()),
    st.builds(StopsMade, _id_sets),
    st.builds(DrivenByHand, _ids),
    st.builds(Closing, _id_sets),
)
_states = st.builds(
    restore,
    enabled=st.booleans(),
    dry_run=st.booleans(),
    hand_back=st.booleans(),
    pending=_id_sets,
)


@given(_states, st.lists(_events, max_size=30))
def test_invariants_hold_on_every_path(start: Lifecycle, events: list[LifecycleEvent]) -> None:
    state = start
    closed = False
    for event in events:
        before = state
        state = transition(state, event)
        # never drives when switched off or in dry run
        if state.drives:
            assert state.enabled
            assert not state.dry_run
        # off phases exactly when switched off (once started, until closed)
        if state.phase not in (Phase.STARTING, Phase.CLOSED):
            assert (state.phase in OFF) == (not state.enabled)
        # stopping exactly when off with stops pending
        if state.phase in OFF:
            assert (state.phase is Phase.STOPPING) == bool(state.pending)
        # a pending stop goes only when made or driven by hand, or when the loop takes the
        # battery over again (switched on or started on)
        for battery in before.pending - state.pending:
            match event:
                case StopsMade(made=made):
                    assert battery in made
                case DrivenByHand(battery=driven):
                    assert battery == driven
                case Started(batteries=batteries) | Switched(batteries=batteries):
                    assert state.drives or state.phase is Phase.DRY_RUN
                    assert battery in batteries
                case _:
                    raise AssertionError(f"{event} dropped the pending stop of {battery}")
        # closed is final
        if closed:
            assert state.phase is Phase.CLOSED
        closed = state.phase is Phase.CLOSED
        assert state.phase not in DRIVING or state.action is Action.RUN
