"""A battery whose readings froze while it is told to run (core/frozen.py): pure properties."""

from __future__ import annotations

from hypothesis import given, strategies as st

from custom_components.marstek_strategy.core.frozen import FROZEN_MIN_W, Quiet, Thaw, judge

LIMIT = 60.0
GAPS = st.floats(min_value=0.0, max_value=40.0, allow_nan=False)
POWERS = st.sampled_from([0, 50, 99, 100, 800, 2500])
# One cycle: (seconds since the last, power told, whether a sensor reported in it).
CYCLES = st.lists(st.tuples(GAPS, POWERS, st.booleans()), max_size=60)


def _run(
    cycles: list[tuple[float, int, bool]], *, sensors: bool = True, start: float = 1000.0
) -> list[tuple[float, int, float | None, float | None, bool, Thaw | None]]:
    """Feed cycles; return (now, told_w, reported_at, running_since, frozen, change) per cycle."""
    state, now = Quiet(), start
    reported_at: float | None = start if sensors else None
    out = []
    for gap, told_w, reported in cycles:
        now += gap
        if reported and sensors:
            reported_at = now
        is_frozen, state, change = judge(
            state, reported_at=reported_at, told_w=told_w, now=now, limit_s=LIMIT
        )
        out.append((now, told_w, reported_at, state.running_since, is_frozen, change))
    return out


@given(CYCLES)
def test_without_sensors_never_frozen(cycles: list[tuple[float, int, bool]]) -> None:
    """A battery with no measured sensor is never judged."""
    assert not any(frozen for *_rest, frozen, _change in _run(cycles, sensors=False))


@given(CYCLES)
def test_frozen_only_after_the_limit_of_silence_while_running(
    cycles: list[tuple[float, int, bool]],
) -> None:
    """Frozen anew only while told to run at FROZEN_MIN_W or more, silent for over the limit
    since its last report and since it was told to run."""
    for now, told_w, reported_at, since, _frozen, change in _run(cycles):
        if change is Thaw.FROZE:
            assert told_w >= FROZEN_MIN_W
            assert reported_at is not None
            assert since is not None
            assert now - reported_at > LIMIT
            assert now - since > LIMIT


@given(CYCLES)
def test_silence_beyond_the_limit_while_running_is_frozen(
    cycles: list[tuple[float, int, bool]],
) -> None:
    """Told to run without a break and silent for over the limit: frozen, whatever came before."""
    state, now = Quiet(), 1000.0
    reported_at = now
    for gap, told_w, reported in cycles:
        now += gap
        reported_at = now if reported else reported_at
        _frozen, state, _change = judge(
            state, reported_at=reported_at, told_w=told_w, now=now, limit_s=LIMIT
        )
    running_from = now + 2.0  # told to run from the first cycle below
    for step in range(1, 40):  # told 800 W from now on, no report
        is_frozen, state, _change = judge(
            state, reported_at=reported_at, told_w=800, now=now + 2.0 * step, limit_s=LIMIT
        )
        if 2.0 * step > LIMIT and now + 2.0 * step - max(reported_at, running_from) > LIMIT:
            assert is_frozen


@given(CYCLES)
def test_said_once_each_way_and_fresh_report_ends_it(
    cycles: list[tuple[float, int, bool]],
) -> None:
    """Changes alternate (froze, fresh, froze, ...); a frozen battery stays frozen until a
    report comes after it froze, and is no longer frozen at the first such report."""
    frozen_at: float | None = None
    last: Thaw | None = None
    for now, _told_w, reported_at, _since, is_frozen, change in _run(cycles):
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


def test_started_after_a_long_quiet_stop_is_not_frozen_at_once() -> None:
    """Readings unchanged (no report) through a long stop: the start does not count it."""
    state, quiet = Quiet(), 900.0
    for now in (1000.0, 1100.0, 1200.0):  # stopped, silent
        is_frozen, state, _ = judge(state, reported_at=quiet, told_w=0, now=now, limit_s=LIMIT)
        assert not is_frozen
    is_frozen, state, change = judge(
        state, reported_at=quiet, told_w=800, now=1206.5, limit_s=LIMIT
    )
    assert (is_frozen, change) == (False, None)
    is_frozen, state, change = judge(
        state, reported_at=quiet, told_w=800, now=1267.0, limit_s=LIMIT
    )
    assert (is_frozen, change) == (True, Thaw.FROZE)
    # stopped (it is out), still silent: still frozen; a report: fresh
    is_frozen, state, change = judge(state, reported_at=quiet, told_w=0, now=1300.0, limit_s=LIMIT)
    assert (is_frozen, change) == (True, None)
    is_frozen, state, change = judge(state, reported_at=1301.0, told_w=0, now=1302.0, limit_s=LIMIT)
    assert (is_frozen, change) == (False, Thaw.FRESH)


def test_sensor_gone_ends_it() -> None:
    """A frozen battery whose sensors are no longer there is not judged (nor frozen)."""
    state = Quiet(running_since=0.0, frozen_at=100.0)
    is_frozen, state, change = judge(state, reported_at=None, told_w=800, now=110.0, limit_s=LIMIT)
    assert (is_frozen, change) == (False, Thaw.FRESH)
    assert state.frozen_at is None
