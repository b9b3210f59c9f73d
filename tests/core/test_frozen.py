"""A battery whose readings froze while it is told to run (core/frozen.py): pure properties."""

from __future__ import annotations

from hypothesis import given, strategies as st

from custom_components.marstek_strategy.core.frozen import (
    FROZEN_CHANGE_W,
    FROZEN_MIN_W,
    Quiet,
    Thaw,
    judge,
)

LIMIT = 60.0
GAPS = st.floats(min_value=0.0, max_value=40.0, allow_nan=False)
POWERS = st.sampled_from([0, 50, 99, 100, 800, 2500])
# One cycle: (seconds since the last, power told, whether a sensor reported in it).
CYCLES = st.lists(st.tuples(GAPS, POWERS, st.booleans()), max_size=60)


def _run(
    cycles: list[tuple[float, int, bool]], *, sensors: bool = True, start: float = 1000.0
) -> list[tuple[float, int, float | None, Quiet, Quiet, bool, Thaw | None]]:
    """Feed cycles; return (now, told_w, reported_at, before, after, frozen, change) per cycle."""
    state, now = Quiet(), start
    reported_at: float | None = start if sensors else None
    out = []
    for gap, told_w, reported in cycles:
        now += gap
        if reported and sensors:
            reported_at = now
        before = state
        is_frozen, state, change = judge(
            state, reported_at=reported_at, told_w=told_w, now=now, limit_s=LIMIT
        )
        out.append((now, told_w, reported_at, before, state, is_frozen, change))
    return out


@given(CYCLES)
def test_without_sensors_never_frozen(cycles: list[tuple[float, int, bool]]) -> None:
    """A battery with no measured sensor is never judged."""
    assert not any(row[5] for row in _run(cycles, sensors=False))


@given(CYCLES)
def test_frozen_only_after_an_unanswered_change_older_than_the_limit(
    cycles: list[tuple[float, int, bool]],
) -> None:
    """Frozen anew only while told to run at FROZEN_MIN_W or more, after a change at t_c with
    no report since and now - t_c over the limit."""
    for now, told_w, reported_at, _before, after, _frozen, change in _run(cycles):
        if change is Thaw.FROZE:
            assert told_w >= FROZEN_MIN_W
            assert reported_at is not None
            assert after.changed_at is not None
            assert reported_at <= after.changed_at
            assert now - after.changed_at > LIMIT


@given(st.lists(st.tuples(GAPS, st.sampled_from([FROZEN_MIN_W + 30, 800, 2500])), max_size=60))
def test_steady_setpoint_without_reports_is_never_frozen(
    cycles: list[tuple[float, int]],
) -> None:
    """Running at one setpoint (within FROZEN_CHANGE_W), no report for as long as it lasts:
    never frozen (ESPHome passes on changed values only), however long."""
    if not cycles:
        return
    told = cycles[0][1]
    state, now = Quiet(), 1000.0
    _f, state, _c = judge(state, reported_at=990.0, told_w=0, now=999.0, limit_s=LIMIT)
    _f, state, _c = judge(state, reported_at=now, told_w=told, now=now, limit_s=LIMIT)
    assert state.changed_at is None  # the start was answered
    for index, (gap, _power) in enumerate(cycles):
        now += gap + 30.0
        wobble = (index % 3 - 1) * (FROZEN_CHANGE_W // 2 - 1)  # moves, but less than a change
        is_frozen, state, _c = judge(
            state, reported_at=1000.0, told_w=told + wobble, now=now, limit_s=LIMIT
        )
        assert not is_frozen


@given(CYCLES, st.sampled_from([(0, 800), (800, 2500), (2500, 800), (800, 850)]))
def test_change_unanswered_beyond_the_limit_is_frozen(
    cycles: list[tuple[float, int, bool]], powers: tuple[int, int]
) -> None:
    """Told a change (a start or FROZEN_CHANGE_W or more), no report since: frozen once over
    the limit from the check before the change was seen, whatever came before."""
    state, now = Quiet(), 1000.0
    reported_at = now
    for gap, told_w, reported in cycles:
        now += gap
        reported_at = now if reported else reported_at
        _frozen, state, _change = judge(
            state, reported_at=reported_at, told_w=told_w, now=now, limit_s=LIMIT
        )
    if state.frozen_at is not None:
        return  # frozen already: out, nothing new to judge
    first, second = powers
    now += 2.0
    reported_at = now  # it reports at the first power
    _frozen, state, _change = judge(
        state, reported_at=reported_at, told_w=first, now=now, limit_s=LIMIT
    )
    if state.frozen_at is not None:
        return
    told_at = now  # the change is written after this check
    froze = False
    for step in range(1, 50):  # told the second power from now on, no report
        at = now + 2.0 * step
        is_frozen, state, _change = judge(
            state, reported_at=reported_at, told_w=second, now=at, limit_s=LIMIT
        )
        assert is_frozen == (at - told_at > LIMIT)
        froze = froze or is_frozen
    assert froze


def test_report_answering_the_change_before_the_next_check_counts() -> None:
    """Told a change after one check, it reports before the next: answered, never frozen."""
    state = Quiet()
    _f, state, _c = judge(state, reported_at=995.0, told_w=800, now=1000.0, limit_s=LIMIT)
    _f, state, _c = judge(state, reported_at=1000.0, told_w=800, now=1006.5, limit_s=LIMIT)
    # 1500 W written at 1006.5, reported at 1010; then steady and quiet for minutes
    for now in (1013.0, 1100.0, 1400.0):
        is_frozen, state, _c = judge(state, reported_at=1010.0, told_w=1500, now=now, limit_s=LIMIT)
        assert not is_frozen


def test_later_changes_do_not_restart_the_count() -> None:
    """A loop that keeps changing the setpoint of a hung board: counted from the first."""
    state = Quiet()
    _f, state, _c = judge(state, reported_at=990.0, told_w=0, now=999.0, limit_s=LIMIT)
    _f, state, _c = judge(state, reported_at=1000.0, told_w=800, now=1002.0, limit_s=LIMIT)
    results = []
    for step, power in enumerate((900, 1000, 1100, 1200, 1300, 1400, 1500), start=1):
        now = 1002.0 + 10.0 * step
        results.append(judge(state, reported_at=1000.0, told_w=power, now=now, limit_s=LIMIT)[::2])
        state = judge(state, reported_at=1000.0, told_w=power, now=now, limit_s=LIMIT)[1]
    # the first change is seen at 1012, written after the check at 1002: frozen after 1062
    assert results == [(False, None)] * 6 + [(True, Thaw.FROZE)]


@given(CYCLES)
def test_said_once_each_way_and_fresh_report_ends_it(
    cycles: list[tuple[float, int, bool]],
) -> None:
    """Changes alternate (froze, fresh, froze, ...); a frozen battery stays frozen until a
    report comes after it froze, and is no longer frozen at the first such report."""
    frozen_at: float | None = None
    last: Thaw | None = None
    for now, _told_w, reported_at, _before, _after, is_frozen, change in _run(cycles):
        if change is not None:
            assert change is not last
            last = change
        if change is Thaw.FROZE:
            frozen_at = now
        elif frozen_at is not None:
            assert reported_at is not None
            assert is_frozen == (reported_at <= frozen_at)
            if not is_frozen:
                assert change is Thaw.FRESH
                frozen_at = None


def test_started_after_a_long_quiet_stop_is_judged_from_the_start() -> None:
    """Readings unchanged (no report) through a long stop: the start counts from itself."""
    state, quiet = Quiet(), 900.0
    for now in (1000.0, 1100.0, 1200.0):  # stopped, silent
        is_frozen, state, _ = judge(state, reported_at=quiet, told_w=0, now=now, limit_s=LIMIT)
        assert not is_frozen
    is_frozen, state, change = judge(
        state, reported_at=quiet, told_w=800, now=1206.5, limit_s=LIMIT
    )
    assert (is_frozen, change) == (False, None)
    is_frozen, state, change = judge(
        state, reported_at=quiet, told_w=800, now=1259.5, limit_s=LIMIT
    )
    assert (is_frozen, change) == (False, None)  # 59.5 s from the check at 1200 is not over
    is_frozen, state, change = judge(
        state, reported_at=quiet, told_w=800, now=1260.5, limit_s=LIMIT
    )
    assert (is_frozen, change) == (True, Thaw.FROZE)
    # stopped (it is out), still silent: still frozen; a report: fresh
    is_frozen, state, change = judge(state, reported_at=quiet, told_w=0, now=1300.0, limit_s=LIMIT)
    assert (is_frozen, change) == (True, None)
    is_frozen, state, change = judge(state, reported_at=1301.0, told_w=0, now=1302.0, limit_s=LIMIT)
    assert (is_frozen, change) == (False, Thaw.FRESH)


def test_sensor_gone_ends_it() -> None:
    """A frozen battery whose sensors are no longer there is not judged (nor frozen)."""
    state = Quiet(told_w=800, checked_at=100.0, changed_at=0.0, frozen_at=100.0)
    is_frozen, state, change = judge(state, reported_at=None, told_w=800, now=110.0, limit_s=LIMIT)
    assert (is_frozen, change) == (False, Thaw.FRESH)
    assert state.frozen_at is None


def test_a_steady_battery_silent_past_steady_s_is_frozen() -> None:
    """Pinned at its setpoint (no change to answer), its board hung: out after steady_s of
    silence, counted from its last report (it was counted as delivering for ever). Its start was
    answered at 1001 s."""
    state = Quiet()
    for now in (1000.0, 1006.5):  # running at 2500 W
        _f, state, _c = judge(
            state, reported_at=1001.0, told_w=2500, now=now, limit_s=LIMIT, steady_s=900.0
        )
    now, results = 1006.5, []
    while now < 1000.0 + 900.0 + 13.0:
        now += 6.5
        is_frozen, state, change = judge(
            state, reported_at=1001.0, told_w=2500, now=now, limit_s=LIMIT, steady_s=900.0
        )
        results.append((now, is_frozen, change))
    first = next(at for at, is_frozen, _c in results if is_frozen)
    assert 1901.0 < first <= 1907.5
    assert [c for _a, _f, c in results if c is not None] == [Thaw.FROZE]
    # never without steady_s (the change rule alone), as before
    state = Quiet()
    for now in (1000.0, 1006.5, 2000.0, 5000.0):
        is_frozen, state, _c = judge(state, reported_at=1001.0, told_w=2500, now=now, limit_s=LIMIT)
        assert not is_frozen


def test_a_reversal_of_direction_is_a_change() -> None:
    """Discharging 800 W, then told to charge 800 W (signed: -800), no report since: out after
    the limit (the unsigned powers were equal, so it was never judged)."""
    state = Quiet()
    _f, state, _c = judge(state, reported_at=1001.0, told_w=800, now=1000.0, limit_s=LIMIT)
    _f, state, _c = judge(state, reported_at=1001.0, told_w=800, now=1006.5, limit_s=LIMIT)
    now = 1006.5
    frozen_at = None
    while now < 1006.5 + LIMIT + 14.0 and frozen_at is None:
        now += 6.5
        is_frozen, state, _c = judge(state, reported_at=1001.0, told_w=-800, now=now, limit_s=LIMIT)
        frozen_at = now if is_frozen else None
    assert frozen_at is not None
    assert frozen_at - 1006.5 > LIMIT
