"""The in-flight estimate (inflight.py) and the engine's use of it (delivered_w)."""

from __future__ import annotations

from dataclasses import replace
import math

from hypothesis import given, settings, strategies as st
import pytest

from custom_components.marstek_strategy.core.engine import (
    BatteryReading,
    Mode,
    Plan,
    Setpoint,
    Strategy,
    StrategySettings,
    allocate,
)
from custom_components.marstek_strategy.core.inflight import (
    DEFAULT_INTERVAL_S,
    DEFAULT_SETTLE_S,
    HISTORY_S,
    INTERVALS_S,
    LATE_S,
    SLOW_FACTOR,
    InFlight,
    Response,
    least_change,
    loop_timing,
)

NOMINAL = Response()


def _reading(soc: float = 50.0, delivered: float | None = None) -> BatteryReading:
    return BatteryReading(
        soc=soc,
        charge_cutoff=100.0,
        discharge_cutoff=12.0,
        max_charge_w=2500,
        max_discharge_w=2500,
        phase_w=0.0,
        delivered_w=delivered,
    )


def test_response_step_and_target() -> None:
    assert NOMINAL.step(0.0) == 0.0
    assert NOMINAL.step(-1.0) == 0.0
    assert NOMINAL.step(NOMINAL.tau_s) == pytest.approx(1 - math.exp(-1))
    assert Response(tau_s=0.0).step(0.1) == 1.0
    assert NOMINAL.target_w(Mode.DISCHARGE, 1000) == pytest.approx(975.0)
    assert NOMINAL.target_w(Mode.CHARGE, 1000) == pytest.approx(-1045.0)
    assert NOMINAL.target_w(Mode.STOP, 1000) == 0.0
    assert NOMINAL.settle_s() == pytest.approx(0.75 + 3.0)


def test_loop_timing_keeps_the_seed_defaults_and_derives_a_settle() -> None:
    assert loop_timing(DEFAULT_INTERVAL_S) == (6.5, 12.0)
    assert DEFAULT_SETTLE_S == 12.0
    assert loop_timing(2.0) == (2.0, 4.0)  # 3.75 s rounded up to 0.5 s
    slow = Response(dead_time_s=2.0, tau_s=4.0, from_stop_s=6.0)
    assert loop_timing(2.0, slow) == (2.0, 8.0)
    assert loop_timing(5.0, Response(dead_time_s=0.0, tau_s=0.5, from_stop_s=0.0)) == (5.0, 5.0)
    with pytest.raises(ValueError, match="not one of"):
        loop_timing(1.0)
    assert all(loop_timing(i)[1] >= i for i in INTERVALS_S)


def test_a_start_from_stop_waits_for_the_relay_then_follows_the_lag() -> None:
    model = InFlight()
    model.command(10.0, Mode.DISCHARGE, 1000)
    start = 10.0 + 0.75 + 3.0
    assert model.target_w == pytest.approx(975.0)
    assert model.delivered_w(start) == 0.0
    assert model.delivered_w(start + 1.5) == pytest.approx(975.0 * (1 - math.exp(-1)))
    assert model.delivered_w(start + 30) == pytest.approx(975.0)
    # A running battery changes after the dead time only; a repeat changes nothing.
    model.command(50.0, Mode.DISCHARGE, 1000)
    model.command(50.0, Mode.DISCHARGE, 500)
    assert model.delivered_w(50.75) == pytest.approx(975.0)
    assert model.delivered_w(80.0) == pytest.approx(487.5)


def test_commands_take_effect_in_order() -> None:
    model = InFlight()
    model.command(0.0, Mode.CHARGE, 1000)  # effective at 3.75 s (from stop)
    model.command(1.0, Mode.CHARGE, 2000)  # would be 1.75 s, waits for the first: 3.75 s
    assert model.delivered_w(3.7) == 0.0
    assert model.delivered_w(60.0) == pytest.approx(-2090.0)


def test_an_ac_reading_anchors_the_estimate() -> None:
    model = InFlight(delivered_w=975.0)  # running at 1000 W discharge since before
    assert model.delivered_w(0.0) == 975.0
    # The battery delivers only 600 W (taper, weak cells): the reading shows it.
    assert model.delivered_w(5.0, 600.0, 4.0) == pytest.approx(600.0)
    # A command after the reading: the reading plus what changed since, kept between the
    # reading and the model (a 600 W battery told 500 W delivers about 487.5, not 142).
    model.command(5.0, Mode.DISCHARGE, 500)
    model_now = 975.0 - 487.5 * NOMINAL.step(10.0 - 5.75)
    assert model.delivered_w(10.0, 600.0, 4.0) == pytest.approx(model_now)
    model.command(10.0, Mode.DISCHARGE, 300)  # inside the band: reading + change, unclipped
    additive = 600.0 + model.model_w(12.0) - model.model_w(10.5)
    assert model.model_w(12.0) < additive < 600.0
    assert model.delivered_w(12.0, 600.0, 10.5) == pytest.approx(additive)
    # Stale, non-finite or missing readings fall back to the model.
    assert model.delivered_w(200.0, 600.0, 200.0 - HISTORY_S - 1) == pytest.approx(292.5)
    assert model.delivered_w(200.0, math.nan, 199.0) == pytest.approx(292.5)
    assert model.delivered_w(200.0, 600.0, None) == pytest.approx(292.5)


@given(
    target=st.integers(min_value=100, max_value=2500),
    ac=st.floats(min_value=101.0, max_value=3000.0),
    mode=st.sampled_from([Mode.CHARGE, Mode.DISCHARGE]),
    age=st.floats(min_value=0.0, max_value=30.0),
)
def test_an_ac_power_against_the_command_is_not_delivery(
    target: int, ac: float, mode: Mode, age: float
) -> None:
    """Issue 18.2: a reading of the sign opposite to the command in force is not believed.

    Believed, a battery told to discharge that reads as charging 2.5 kW (a sensor of the
    wrong sign, a board doing the opposite) doubled the demand the next plan saw, and the
    plan turned round every cycle. It counts as delivering nothing: the estimate stays
    between 0 and the model, on the command's side.
    """
    model = InFlight()
    model.command(0.0, mode, target)
    sign = 1.0 if mode is Mode.DISCHARGE else -1.0
    at = 60.0
    estimate = model.delivered_w(at, -sign * ac, at - age)
    assert min(0.0, model.model_w(at)) <= estimate <= max(0.0, model.model_w(at))
    assert model.delivered_w(at, -sign * 50.0, at - age) * sign >= -50.0  # noise: as read


def test_a_reading_that_already_shows_the_command_is_not_counted_twice() -> None:
    """A battery faster than the model: its one report shows the new command (found wiring it)."""
    model = InFlight()
    model.command(0.0, Mode.DISCHARGE, 1000)
    # The board reported 975 W at 1 s (faster than the model's 0.75 s + 1.5 s lag) and then
    # nothing new, as a board with an unchanged value or a delta filter does.
    for at_s in (2.0, 5.0, 30.0):
        assert model.delivered_w(at_s, 975.0, 1.0) == pytest.approx(975.0)


def test_old_commands_are_folded_into_the_base() -> None:
    model = InFlight()
    for k in range(100):
        model.command(10.0 * k, Mode.DISCHARGE, 100 + 10 * (k % 2))
    assert len(model._changes) < 15  # only the last HISTORY_S (and their settling) are kept
    assert model.delivered_w(2000.0) == pytest.approx(model.target_w)


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.floats(0.1, 20.0),
            st.sampled_from([Mode.CHARGE, Mode.DISCHARGE, Mode.STOP]),
            st.integers(0, 2500),
        ),
        min_size=1,
        max_size=12,
    ),
    st.floats(0.0, 100.0),
)
def test_the_estimate_stays_between_the_targets_and_settles(
    commands: list[tuple[float, Mode, int]], later: float
) -> None:
    model = InFlight()
    now = 0.0
    targets = [0.0]
    for gap, mode, power in commands:
        now += gap
        model.command(now, mode, power)
        targets.append(model.target_w)
        estimate = model.delivered_w(now + later)
        assert min(targets) - 1e-6 <= estimate <= max(targets) + 1e-6
    assert model.delivered_w(now + 200.0) == pytest.approx(model.target_w, abs=1e-6)


# ---------------------------------------------------------------- the range and least change


def _truth_w(start_w: float, target_w: float, delay_s: float, tau_s: float, age_s: float) -> float:
    """A first-order battery's AC power age_s after a command from start_w to target_w."""
    if age_s <= delay_s:
        return start_w
    return target_w + (start_w - target_w) * math.exp(-(age_s - delay_s) / tau_s)


@settings(max_examples=150, deadline=None)
@given(
    start=st.integers(200, 2500),
    back=st.booleans(),
    power=st.integers(0, 2500),
    mode=st.sampled_from([Mode.CHARGE, Mode.DISCHARGE]),
    factor=st.sampled_from([1.0 / SLOW_FACTOR, 1.0, SLOW_FACTOR]),
    late=st.sampled_from([0.0, LATE_S]),
    read_after=st.floats(0.0, 15.0),
    sample_after=st.floats(0.0, 3.0),
)
def test_the_range_holds_a_slow_or_fast_battery_and_a_late_reading(
    *,
    start: int,
    back: bool,
    power: int,
    mode: Mode,
    factor: float,
    late: float,
    read_after: float,
    sample_after: float,
) -> None:
    """Issue 22: the range holds what a battery up to 3 x slower or faster delivers, read late.

    A running battery (start W, settled; back: charging) is told another power at 0 s (its
    relay stays closed, or stop: it ramps down on the dead time alone); it follows the
    response scaled by factor, and its AC reading at read_after shows the power of late s
    before. The estimate alone (the reading at its report) misses such a battery by up to
    the whole step: on the slow plant and with late readings the meter pace rang on it.
    """
    model = InFlight(delivered_w=float(-start if back else start))
    model.command(0.0, mode, power)
    start = -start if back else start
    target = model.target_w
    delay, tau = NOMINAL.dead_time_s * factor, NOMINAL.tau_s * factor
    read = _truth_w(start, target, delay, tau, read_after - late)
    at = read_after + sample_after
    truth = _truth_w(start, target, delay, tau, at)
    low, high = model.delivered_range(at, read, read_after)
    estimate = model.delivered_w(at, read, read_after)
    assert low <= estimate <= high
    assert low - 1e-6 <= truth <= high + 1e-6


def test_the_range_is_the_estimate_once_settled_or_without_a_reading() -> None:
    """A battery that delivers less than told for good (a taper) is not a range: the reading."""
    model = InFlight(delivered_w=975.0)
    model.command(0.0, Mode.DISCHARGE, 2000)
    assert model.delivered_range(5.0) == (model.model_w(5.0),) * 2
    assert model.delivered_range(5.0, math.nan, 4.0) == (model.model_w(5.0),) * 2
    assert model.delivered_range(100.0, 600.0, 100.0 - HISTORY_S - 1) == (model.target_w,) * 2
    # Told 1950 W, it shows 600 W for good: every model settled before the reading.
    assert model.delivered_range(60.0, 600.0, 59.0) == pytest.approx((600.0, 600.0), abs=0.01)
    # Right after the change the range opens: it may have barely moved (slow), or be nearly
    # there (its reading shows the power of 2 s before, or it is faster).
    low, high = model.delivered_range(3.0, 975.0, 2.5)
    assert low < 1000.0
    assert high > 1500.0


def test_a_battery_still_coming_from_the_other_way_is_evidence_in_the_range() -> None:
    """The slow plant's ringing: a reversal read while the slow battery still charges.

    Told to discharge 1797 W from charging 1403 W, a battery 2.7 x slower than the response
    still charges 786 W 3 s later. The estimate takes that reading as a contradiction (0 W)
    and counts 210 W delivered: 1000 W per battery more than it delivers, and the next plan
    ran both batteries to their maximum. The range holds the slow battery's -500 W.
    """
    model = InFlight(delivered_w=-1466.0)
    model.command(157.05, Mode.DISCHARGE, 1797)
    assert model.delivered_w(160.5, -786.0, 160.0) > 0.0
    low, _ = model.delivered_range(160.5, -786.0, 160.0)
    assert low < -400.0


def test_a_reading_the_other_way_at_a_start_is_no_evidence_in_the_range() -> None:
    """A sensor of the wrong sign on a battery started from stop (issue 18.2's fault).

    Every model is still at 0 W then (the relay's delay), so none explains -1500 W: the
    range is the estimate alone. Counted as a slower or late model's, the plan held on it
    and the battery started and stopped every 4 s at the meter pace, never taken out by the
    read-back (test_delivery's wrong-sign test on Home Assistant 2026.x).
    """
    model = InFlight()
    model.command(0.0, Mode.DISCHARGE, 1539)
    estimate = model.delivered_w(2.5, -1500.0, 2.0)
    assert model.delivered_range(2.5, -1500.0, 2.0) == (estimate, estimate)


@given(
    grid=st.floats(-8000, 8000),
    batteries=st.lists(
        st.tuples(
            st.floats(-2600, 2600), st.floats(0, 3000), st.floats(0, 1), st.floats(-2600, 2600)
        ),
        min_size=1,
        max_size=4,
    ),
)
def test_least_change_holds_what_was_told_while_a_range_allows_it(
    grid: float, batteries: list[tuple[float, float, float, float]]
) -> None:
    """The demand seen is within the ranges, the nearest to what was told; 0 on points.

    It lies between the estimates' demand and what was told: a plan never moves further
    than on the estimates, nor the other way.
    """
    ranges = [(low, low + width) for low, width, _, _ in batteries]
    estimates = [low + share * width for low, width, share, _ in batteries]
    targets = [target for *_, target in batteries]
    shift = least_change(grid, estimates, ranges, targets)
    seen = sum(estimates) + shift  # the batteries' part of the demand the engine sees
    low, high = sum(r[0] for r in ranges), sum(r[1] for r in ranges)
    told = sum(targets) - grid
    assert low - 1e-6 <= seen <= high + 1e-6
    if low <= told <= high:
        assert seen == pytest.approx(told, abs=1e-6)  # the plan in force explains the meter
    else:
        assert abs(seen - told) == pytest.approx(min(abs(low - told), abs(high - told)), abs=1e-6)
    estimated = sum(estimates)
    assert min(estimated, told) - 1e-6 <= seen <= max(estimated, told) + 1e-6
    points = [(e, e) for e in estimates]
    assert least_change(grid, estimates, points, targets) == pytest.approx(0.0, abs=1e-6)


def test_least_change_refuses_a_battery_short_and_ignores_non_finite() -> None:
    with pytest.raises(ValueError, match="one item per battery"):
        least_change(0.0, [1.0], [(0.0, 2.0), (0.0, 1.0)], [1.0])
    assert least_change(math.nan, [1.0], [(0.0, 2.0)], [1.0]) == 0.0


@pytest.mark.parametrize(
    ("grid", "span", "target"),
    [
        (0.0, (math.nan, math.nan), 1000.0),
        (0.0, (0.0, math.nan), 1000.0),
        (0.0, (-math.inf, math.inf), 1000.0),
        (math.inf, (-500.0, 500.0), 1000.0),
        (0.0, (-500.0, 500.0), math.inf),
    ],
)
def test_least_change_of_a_range_or_told_not_a_number_is_no_shift(
    grid: float, span: tuple[float, float], target: float
) -> None:
    """A bound, the grid or a target that is no finite number: the estimates as they are.

    min and max pass a NaN bound by and clamp an infinite one to a finite shift: the whole
    plan told (1000 W here) was held whatever the meter showed.
    """
    assert least_change(grid, [0.0], [span], [target]) == 0.0


# ---------------------------------------------------------------- engine.allocate


def _running(power: int, mode: Mode = Mode.DISCHARGE) -> Plan:
    return Plan(mode, (Setpoint(mode, power), Setpoint(Mode.STOP, 0)))


@pytest.mark.parametrize("strategy", list(Strategy))
def test_no_delivered_w_is_the_seeds_assumption(strategy: Strategy) -> None:
    config = StrategySettings(strategy=strategy)
    plan = _running(1000)
    batteries = [_reading(60), _reading(40)]
    seed = allocate(200.0, batteries, plan, config)
    assumed = [replace(batteries[0], delivered_w=975.0), batteries[1]]
    assert allocate(200.0, assumed, plan, config) == seed


def test_delivered_w_replaces_the_command_in_force() -> None:
    config = StrategySettings()
    plan = _running(1000)
    # The command is still on its way: 200 W of it delivered. Demand is 400 + 200 = 600 W.
    batteries = [_reading(60, delivered=200.0), _reading(40)]
    result = allocate(400.0, batteries, plan, config)
    assert result.total_w == round(600 * config.discharge_factor)
    # Without the estimate the seed counts 975 W as delivered: 1375 W, an overshoot.
    seed = allocate(400.0, [_reading(60), _reading(40)], plan, config)
    assert seed.total_w == round(1375 * config.discharge_factor)


def test_delivered_w_of_an_unusable_reading_is_ignored() -> None:
    config = StrategySettings()
    plan = _running(1000)
    gone = replace(_reading(60, delivered=200.0), available=False)
    nan = _reading(40, delivered=math.nan)
    assert allocate(400.0, [gone, nan], plan, config) == allocate(
        400.0, [replace(gone, delivered_w=None), _reading(40)], plan, config
    )
