"""The total against its phases over time (readings.agreement): a pure state machine.

A plain timer reset by every agreeing reading let a contradiction broken by one agreeing report
every 4 s run a discharge for good (probe test_contradictory_phases_in_discharge_2s): the
sliding window's properties and the probe's pattern are tested here on their own.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from hypothesis import given, strategies as st

from custom_components.marstek_strategy.core.readings import (
    MISMATCH_BLIP_S,
    MISMATCH_HOLD_S,
    MISMATCH_WINDOW_S,
    Agreement,
    Mismatch,
    agreement,
)

HOLD = MISMATCH_HOLD_S
GAPS = st.floats(min_value=0.0, max_value=30.0, allow_nan=False)
READINGS = st.lists(st.tuples(GAPS, st.booleans()), max_size=60)


def _judge(
    readings: Iterable[tuple[float, bool]], state: Mismatch | None = None, start: float = 1000.0
) -> tuple[list[tuple[float, bool, Agreement]], Mismatch]:
    """Feed (gap, disagree) readings from start; return (time, disagree, verdict) and the state."""
    state = Mismatch() if state is None else state
    now = start
    out: list[tuple[float, bool, Agreement]] = []
    for gap, disagree in readings:
        now += gap
        verdict, state = agreement(state, disagree, now)
        out.append((now, disagree, verdict))
    return out, state


def _sampled(pattern: Callable[[float], bool], interval: float, seconds: float) -> list[bool]:
    """The pattern (disagreeing at time t) as a cycle every interval s sees it."""
    return [pattern(n * interval) for n in range(1, int(seconds / interval) + 1)]


def test_constants_keep_lone_blips_below_the_hold() -> None:
    """Four lone blips fit in a window and must stay below the hold; five must not."""
    assert 4 * MISMATCH_BLIP_S < HOLD <= 5 * MISMATCH_BLIP_S
    assert MISMATCH_WINDOW_S >= HOLD


def test_one_agreeing_report_no_longer_resets_the_count() -> None:
    """The probe's pattern at a 2 s cycle: every other reading agrees; it faults, and stays."""
    verdicts = [v for _t, _d, v in _judge([(2.0, n % 2 == 0) for n in range(40)])[0]]
    assert Agreement.FAULT in verdicts[:12]  # within 24 s
    first = verdicts.index(Agreement.FAULT)
    assert set(verdicts[first:]) == {Agreement.FAULT}


def test_a_plain_disagreement_faults_after_the_hold_and_resumes_after_as_long() -> None:
    out, _ = _judge([(1.0, True)] * 7 + [(1.0, False)] * 7)
    assert [v for _t, _d, v in out] == [Agreement.PENDING] * 5 + [Agreement.FAULT] * 7 + [
        Agreement.AGREE
    ] * 2


def test_a_blip_after_resuming_starts_from_an_empty_window() -> None:
    _out, state = _judge([(1.0, True)] * 6 + [(1.0, False)] * 6)
    assert state == Mismatch(last=(1012.0, False))
    assert agreement(state, True, 1013.0)[0] is Agreement.PENDING


@given(offset=st.floats(min_value=0.0, max_value=3.999), interval=st.sampled_from([2.0, 6.5]))
def test_contradiction_broken_by_brief_agreement_faults_and_stays(
    offset: float, interval: float
) -> None:
    """3.5 s disagreeing, 0.5 s agreeing, any phase: fault within 24 s, no resume while it lasts."""
    disagree = _sampled(lambda t: (t + offset) % 4.0 < 3.5, interval, 120.0)
    verdicts = [v for _t, _d, v in _judge((interval, d) for d in disagree)[0]]
    first = verdicts.index(Agreement.FAULT)
    assert first * interval <= 24.0
    assert set(verdicts[first:]) == {Agreement.FAULT}


@given(history=READINGS, run=st.lists(GAPS, min_size=1, max_size=40))
def test_a_sustained_disagreement_always_faults_within_its_bound(
    history: list[tuple[float, bool]], run: list[float]
) -> None:
    """Whatever came before: disagreeing from t0 on is a fault at every reading from t0 + hold."""
    before, state = _judge(history)
    start = before[-1][0] if before else 1000.0
    out, _ = _judge(((gap, True) for gap in run), state, start)
    t0 = out[0][0]
    for now, _disagree, verdict in out:
        assert verdict is not Agreement.AGREE
        if now - t0 >= HOLD:
            assert verdict is Agreement.FAULT


@given(readings=st.lists(st.tuples(GAPS, st.booleans()), min_size=1, max_size=80))
def test_lone_blips_spaced_apart_never_fault(readings: list[tuple[float, bool]]) -> None:
    """Disagreeing readings that follow an agreeing one, more than a quarter window apart."""
    lone: list[tuple[float, bool]] = []
    now, previous, last_blip = 0.0, False, -1e9
    for gap, wanted in readings:
        now += gap
        blip = wanted and not previous and now - last_blip > MISMATCH_WINDOW_S / 4
        if blip:
            last_blip = now
        lone.append((gap, blip))
        previous = blip
    out, _ = _judge(lone)
    assert all(verdict is not Agreement.FAULT for _t, _d, verdict in out)


def test_lone_blips_five_seconds_apart_at_a_2s_cycle_never_fault() -> None:
    """A blip at every third 2 s reading (6 s apart), for ten minutes: held, never a fault."""
    verdicts = [v for _t, _d, v in _judge([(2.0, n % 3 == 0) for n in range(300)])[0]]
    assert Agreement.FAULT not in verdicts
    assert Agreement.PENDING in verdicts


@given(readings=READINGS)
def test_no_resume_before_the_hold_of_agreement(readings: list[tuple[float, bool]]) -> None:
    """After a fault only FAULT or AGREE; AGREE once agreeing readings span the hold."""
    out, _ = _judge(readings)
    agree_since: float | None = None
    for (now, disagree, verdict), previous in zip(out, [None, *out], strict=False):
        if disagree:
            agree_since = None
        elif agree_since is None:
            agree_since = now
        if previous is not None and previous[2] is Agreement.FAULT:
            assert verdict in (Agreement.FAULT, Agreement.AGREE)
            if verdict is Agreement.AGREE:
                assert agree_since is not None
                assert now - agree_since >= HOLD
        if disagree:
            assert verdict is not Agreement.AGREE
