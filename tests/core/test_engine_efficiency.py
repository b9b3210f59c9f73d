"""Tests of the efficiency strategy and its loss model (loss_w, optimal_split)."""

from __future__ import annotations

from dataclasses import replace

from hypothesis import example, given, settings as hyp_settings, strategies as st
import pytest

from custom_components.marstek_strategy.core import efficiency
from custom_components.marstek_strategy.core.efficiency import _Fleet
from custom_components.marstek_strategy.core.engine import (
    DEFAULT_EFFICIENCY_TABLE,
    BatteryReading,
    Candidate,
    EfficiencyTable,
    Mode,
    Plan,
    Reason,
    Setpoint,
    Strategy,
    StrategySettings,
    _curve,
    allocate,
    loss_w,
    optimal_split,
    split_loss_w,
    start_penalty_w,
)

EFFICIENCY = StrategySettings(strategy=Strategy.EFFICIENCY)
#: No start cost: the tests below it pin the loss model's choice; the start cost has its own.
NO_START = replace(EFFICIENCY, start_cost_wh=0.0)
NO_STANDBY = replace(NO_START, standby_w=0.0)  # crossovers of the loss curves alone
BIG = Candidate(2500)
WORSE_TABLE = tuple(
    (ac, charge - 0.05, discharge - 0.05) for ac, charge, discharge in DEFAULT_EFFICIENCY_TABLE
)


def bat(soc: float = 50.0, **kwargs: object) -> BatteryReading:
    values: dict[str, object] = {
        "charge_cutoff": 100.0,
        "discharge_cutoff": 12.0,
        "max_charge_w": 2500,
        "max_discharge_w": 2500,
        "phase_w": 0.0,
    }
    values.update(kwargs)
    return BatteryReading(soc=soc, **values)  # type: ignore[arg-type]


def discharge_grid(commanded_w: int) -> float:
    return commanded_w / EFFICIENCY.discharge_factor


def charge_grid(commanded_w: int) -> float:
    return -commanded_w / EFFICIENCY.charge_factor


def powers(plan: Plan) -> list[int]:
    return [s.power_w for s in plan.setpoints]


def running(*setpoints: tuple[Mode, int]) -> Plan:
    return Plan(setpoints[0][0], tuple(Setpoint(m, p) for m, p in setpoints))


# --- loss_w -----------------------------------------------------------------------------


def test_loss_at_the_table_rows() -> None:
    assert loss_w(Mode.CHARGE, 1000) == pytest.approx(1000 * (1 - 0.955))
    assert loss_w(Mode.DISCHARGE, 1000) == pytest.approx(1000 * (1 / 0.912 - 1))


def test_loss_is_linear_between_rows() -> None:
    low, high = loss_w(Mode.CHARGE, 500), loss_w(Mode.CHARGE, 750)
    assert loss_w(Mode.CHARGE, 625) == pytest.approx((low + high) / 2)


def test_loss_below_the_first_row_is_the_fixed_cost() -> None:
    assert loss_w(Mode.DISCHARGE, 1) == loss_w(Mode.DISCHARGE, 63) == pytest.approx(21.0)


def test_loss_above_the_last_row_holds_the_efficiency() -> None:
    assert loss_w(Mode.CHARGE, 5000) == pytest.approx(2 * loss_w(Mode.CHARGE, 2500))


@pytest.mark.parametrize(
    ("mode", "ac_w"), [(Mode.STOP, 500), (Mode.CHARGE, 0), (Mode.DISCHARGE, -5)]
)
def test_no_loss_when_stopped(mode: Mode, ac_w: float) -> None:
    assert loss_w(mode, ac_w) == 0.0


def test_loss_uses_the_given_table_and_rejects_an_empty_one() -> None:
    table = ((100.0, 0.5, 0.5), (1000.0, 0.9, 0.8))
    assert loss_w(Mode.CHARGE, 1000, table) == pytest.approx(100)
    assert loss_w(Mode.DISCHARGE, 1000, table) == pytest.approx(250)
    with pytest.raises(ValueError, match="empty"):
        loss_w(Mode.CHARGE, 100, ())


def test_split_loss_adds_up() -> None:
    candidates = [BIG, BIG]
    expected = loss_w(Mode.CHARGE, 800) + loss_w(Mode.CHARGE, 0)
    assert split_loss_w(Mode.CHARGE, [800, 0], candidates) == expected


# --- optimal_split ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("mode", "one", "two"),
    [(Mode.DISCHARGE, 1500, 1600), (Mode.CHARGE, 1700, 1800)],
)
def test_one_battery_until_the_crossover_then_two(mode: Mode, one: int, two: int) -> None:
    """marstek-facts.md: one battery to about 1.5 kW discharging and 1.7 kW charging."""
    assert optimal_split(one, [BIG, BIG, BIG], mode) == (one, 0, 0)
    assert optimal_split(two, [BIG, BIG, BIG], mode) == (two // 2, two // 2, 0)


def test_identical_batteries_share_evenly() -> None:
    assert optimal_split(6001, [BIG, BIG, BIG], Mode.DISCHARGE) == (2001, 2000, 2000)


def test_split_is_capped_by_the_candidates() -> None:
    split = optimal_split(9000, [BIG, Candidate(800), Candidate(0)], Mode.CHARGE)
    assert split == (2500, 800, 0)


@pytest.mark.parametrize("demand", [0, -300])
def test_nothing_to_split(demand: int) -> None:
    assert optimal_split(demand, [BIG, BIG], Mode.CHARGE) == (0, 0)
    assert optimal_split(500, [], Mode.CHARGE) == ()


def test_of_interchangeable_batteries_the_larger_runs_first() -> None:
    assert optimal_split(1000, [Candidate(800), BIG], Mode.DISCHARGE) == (0, 1000)
    assert optimal_split(700, [Candidate(800), Candidate(800)], Mode.DISCHARGE) == (700, 0)


def test_the_more_efficient_battery_runs() -> None:
    candidates = [Candidate(2500, WORSE_TABLE), BIG]
    assert optimal_split(900, candidates, Mode.CHARGE) == (0, 900)


def test_unequal_curves_get_unequal_shares() -> None:
    candidates = [Candidate(2500, WORSE_TABLE), BIG]
    first, second = optimal_split(4000, candidates, Mode.DISCHARGE)
    assert first + second == 4000
    assert second > first


@hyp_settings(max_examples=60, deadline=None)
@given(
    mode=st.sampled_from([Mode.CHARGE, Mode.DISCHARGE]),
    caps=st.tuples(st.integers(0, 2500), st.integers(0, 2500)),
    demand=st.integers(0, 5500),
)
def test_optimal_split_is_as_good_as_a_brute_force_search(
    mode: Mode, caps: tuple[int, int], demand: int
) -> None:
    candidates = [Candidate(caps[0]), Candidate(caps[1])]
    split = optimal_split(demand, candidates, mode)
    total = min(demand, sum(caps))
    assert sum(split) == total
    assert all(0 <= p <= cap for p, cap in zip(split, caps, strict=True))
    brute = min(
        split_loss_w(mode, (first, total - first), candidates)
        for first in range(max(0, total - caps[1]), min(total, caps[0]) + 1)
    )
    assert split_loss_w(mode, split, candidates) <= brute + 1e-6


# --- the efficiency strategy in the engine ------------------------------------------------


def test_night_load_runs_one_battery_the_fullest() -> None:
    fleet = [bat(60), bat(80), bat(70)]
    plan = allocate(discharge_grid(300), fleet, Plan.all_stop(3), EFFICIENCY)
    assert powers(plan) == [0, 300, 0]
    assert [s.reason for s in plan.setpoints] == [Reason.IDLE, Reason.EFFICIENCY_SPLIT, Reason.IDLE]


def test_charging_runs_the_emptiest_first() -> None:
    fleet = [bat(60), bat(40), bat(70)]
    plan = allocate(charge_grid(800), fleet, Plan.all_stop(3), EFFICIENCY)
    assert powers(plan) == [0, 800, 0]


def test_above_the_crossover_two_share_evenly() -> None:
    fleet = [bat(60), bat(80), bat(70)]
    plan = allocate(discharge_grid(2400), fleet, Plan.all_stop(3), NO_STANDBY)
    assert powers(plan) == [0, 1200, 1200]


def test_the_standby_of_an_idle_battery_counts_in_the_set_cost() -> None:
    """2 x 1200 W lose 235.8 W plus 7 W standby; 3 x 800 W lose 238.2 W: three run."""
    fleet = [bat(60), bat(80), bat(70)]
    plan = allocate(discharge_grid(2400), fleet, Plan.all_stop(3), NO_START)
    assert powers(plan) == [800, 800, 800]


def test_running_battery_stays_the_one_that_runs() -> None:
    fleet = [bat(60), bat(80)]
    previous = running((Mode.DISCHARGE, 400), (Mode.STOP, 0))
    plan = allocate(discharge_grid(100), fleet, previous, EFFICIENCY)
    assert plan.setpoints[0].mode is Mode.DISCHARGE
    assert powers(plan)[1] == 0


def test_hysteresis_keeps_two_batteries_a_little_below_the_crossover() -> None:
    fleet = [bat(60), bat(80)]
    previous = running((Mode.DISCHARGE, 700), (Mode.DISCHARGE, 700))
    grid = -1400 * EFFICIENCY.discharge_release_factor + discharge_grid(1400)
    plan = allocate(grid, fleet, previous, NO_STANDBY)
    assert powers(plan) == [700, 700]  # one alone would lose a few W less: not enough
    plan = allocate(grid, fleet, previous, replace(NO_STANDBY, hysteresis_w=0))
    assert powers(plan) == [0, 1400]  # the fuller one keeps running


def test_hysteresis_keeps_one_battery_a_little_above_the_crossover() -> None:
    fleet = [bat(60), bat(80)]
    previous = running((Mode.DISCHARGE, 1560), (Mode.STOP, 0))
    grid = -1560 * EFFICIENCY.discharge_release_factor + discharge_grid(1560)
    assert powers(allocate(grid, fleet, previous, NO_STANDBY)) == [1560, 0]  # 3.4 W < 5 W
    from_stop = allocate(discharge_grid(1560), fleet, Plan.all_stop(2), NO_STANDBY)
    assert powers(from_stop) == [780, 780]


def test_a_start_must_pay_back_its_cost() -> None:
    """One battery runs at 1600 W: a second would save 12.4 W (its standby counted).

    That is more than the 5 W hysteresis: with no start cost it starts. At 1 Wh per start over
    300 s (12 W more) it does not; at 2000 W (33.8 W saved) it does again.
    """
    fleet = [bat(60), bat(80)]
    free = NO_START
    costly = replace(EFFICIENCY, start_cost_wh=1.0, start_payback_s=300.0)
    previous = running((Mode.STOP, 0), (Mode.DISCHARGE, 1600))
    grid = -1600 * EFFICIENCY.discharge_release_factor + discharge_grid(1600)
    assert powers(allocate(grid, fleet, previous, free))[0] > 0
    assert powers(allocate(grid, fleet, previous, costly)) == [0, 1600]
    grid = -1600 * EFFICIENCY.discharge_release_factor + discharge_grid(2000)
    assert powers(allocate(grid, fleet, previous, costly))[0] > 0


def test_from_stop_the_start_cost_favours_fewer_batteries() -> None:
    """2 x 1200 W lose 4.6 W more than 3 x 800 W: not worth a third start at 12 W a start."""
    fleet = [bat(60), bat(80), bat(70)]
    costly = replace(EFFICIENCY, start_cost_wh=1.0, start_payback_s=300.0)
    plan = allocate(discharge_grid(2400), fleet, Plan.all_stop(3), costly)
    assert powers(plan) == [0, 1200, 1200]
    assert allocate(discharge_grid(2400), fleet, Plan.all_stop(3), EFFICIENCY) == plan  # default


def test_a_steady_demand_pays_only_its_share_of_a_start() -> None:
    """One battery runs at 1600 W; a second would save 12.4 W, less than a start's 12 W + 5 W.

    With ``steady_w`` a cycle whose demand is within it of the plan in force is steady, and a
    start then pays ``steady_start_share`` of its cost: at share 0 the second starts. A demand
    that moved by more than ``steady_w`` (1500 W in force, 1600 W asked) pays the full cost.
    """
    fleet = [bat(60), bat(80)]
    costly = replace(EFFICIENCY, start_cost_wh=1.0, start_payback_s=300.0)
    steady = replace(costly, steady_w=50.0, steady_start_share=0.0)
    previous = running((Mode.STOP, 0), (Mode.DISCHARGE, 1600))
    grid = -1600 * EFFICIENCY.discharge_release_factor + discharge_grid(1600)
    assert powers(allocate(grid, fleet, previous, costly)) == [0, 1600]
    assert powers(allocate(grid, fleet, previous, steady))[0] > 0
    assert powers(allocate(grid, fleet, previous, replace(steady, steady_w=0.0))) == [0, 1600]
    moved = running((Mode.STOP, 0), (Mode.DISCHARGE, 1500))
    grid = -1500 * EFFICIENCY.discharge_release_factor + discharge_grid(1600)
    assert powers(allocate(grid, fleet, moved, steady)) == [0, 1600]


def test_a_stop_is_charged_its_share_of_a_restart() -> None:
    """Two run at 1500 W in all: one alone would lose 7.0 W less, a stop share of 1 keeps two."""
    fleet = [bat(60), bat(80)]
    previous = running((Mode.DISCHARGE, 750), (Mode.DISCHARGE, 750))
    grid = -1500 * EFFICIENCY.discharge_release_factor + discharge_grid(1400)
    sticky = replace(NO_STANDBY, hysteresis_w=0.0, start_cost_wh=1.0, stop_share=1.0)
    loose = replace(sticky, stop_share=0.0)
    assert powers(allocate(grid, fleet, previous, loose)) == [0, 1400]
    assert powers(allocate(grid, fleet, previous, sticky)) == [700, 700]


@pytest.mark.parametrize(
    ("cost", "payback", "penalty"),
    [(1.0, 300.0, 12.0), (0.25, 300.0, 3.0), (0.0, 300.0, 0.0), (1.0, 0.0, 0.0)],
)
def test_the_start_penalty_is_the_cost_over_its_payback(
    cost: float, payback: float, penalty: float
) -> None:
    settings = replace(EFFICIENCY, start_cost_wh=cost, start_payback_s=payback)
    assert start_penalty_w(settings) == pytest.approx(penalty)


def test_running_set_that_cannot_carry_the_demand_grows() -> None:
    fleet = [bat(60, max_discharge_w=800), bat(80)]
    previous = running((Mode.DISCHARGE, 800), (Mode.STOP, 0))
    grid = -800 * EFFICIENCY.discharge_release_factor + discharge_grid(1000)
    assert sum(powers(allocate(grid, fleet, previous, EFFICIENCY))) == 1000


def test_near_cutoff_battery_only_takes_what_the_others_cannot() -> None:
    fleet = [bat(20), bat(60)]
    plan = allocate(discharge_grid(2000), fleet, Plan.all_stop(2), EFFICIENCY)
    assert powers(plan) == [0, 2000]
    assert plan.setpoints[0].reason is Reason.NEAR_CUTOFF
    plan = allocate(discharge_grid(3000), fleet, Plan.all_stop(2), EFFICIENCY)
    assert powers(plan) == [500, 2500]
    assert plan.setpoints[0].reason is Reason.NEAR_CUTOFF


def test_battery_behind_catches_up_first() -> None:
    fleet = [bat(70), bat(95), bat(80)]
    plan = allocate(discharge_grid(1000), fleet, Plan.all_stop(3), EFFICIENCY)
    assert powers(plan) == [0, 1000, 0]
    assert [s.reason for s in plan.setpoints] == [
        Reason.HELD_BACK,
        Reason.BEHIND_PRIORITY,
        Reason.HELD_BACK,
    ]


def test_behind_battery_goes_before_a_running_one() -> None:
    fleet = [bat(88), bat(95)]  # 12 points from the top: neither behind nor held back
    previous = running((Mode.DISCHARGE, 500), (Mode.STOP, 0))
    grid = -500 * EFFICIENCY.discharge_release_factor + discharge_grid(500)
    assert powers(allocate(grid, fleet, previous, EFFICIENCY)) == [0, 500]


def test_per_battery_efficiency_table() -> None:
    fleet = [bat(80, efficiency_table=WORSE_TABLE), bat(60)]
    plan = allocate(discharge_grid(600), fleet, Plan.all_stop(2), EFFICIENCY)
    # the fuller one would come first, but its curve loses more: the other runs alone
    assert powers(plan) == [0, 600]


def test_taper_under_efficiency() -> None:
    fleet = [bat(96), bat(60)]
    plan = allocate(charge_grid(4000), fleet, Plan.all_stop(2), EFFICIENCY)
    assert plan.setpoints[0] == Setpoint(Mode.CHARGE, 1250, Reason.TAPER)
    assert powers(plan) == [1250, 2500]


def test_dead_band_and_nothing_to_do() -> None:
    fleet = [bat(50), bat(50)]
    assert allocate(10.0, fleet, Plan.all_stop(2), EFFICIENCY).mode is Mode.STOP
    plan = allocate(discharge_grid(500), [bat(12)], Plan.all_stop(1), EFFICIENCY)
    assert plan.setpoints[0].reason is Reason.AT_CUTOFF


def test_battery_behind_runs_even_with_a_worse_curve() -> None:
    fleet = [bat(60), bat(95, efficiency_table=WORSE_TABLE)]
    plan = allocate(discharge_grid(600), fleet, Plan.all_stop(2), EFFICIENCY)
    assert plan.setpoints[1].reason is Reason.BEHIND_PRIORITY
    assert powers(plan) == [0, 600]


def test_a_joining_battery_starts_small_while_the_running_one_carries() -> None:
    """From stop a battery lags: the running one takes the increase, the split follows."""
    fleet = [bat(60), bat(80)]
    previous = running((Mode.STOP, 0), (Mode.DISCHARGE, 1000))
    grid = -1000 * EFFICIENCY.discharge_release_factor + discharge_grid(2400)
    plan = allocate(grid, fleet, previous, EFFICIENCY)
    assert powers(plan) == [EFFICIENCY.join_w, 2400 - EFFICIENCY.join_w]
    # next cycle, both running: the loss-minimal split
    grid = -2400 * EFFICIENCY.discharge_release_factor + discharge_grid(2400)
    assert powers(allocate(grid, fleet, plan, EFFICIENCY)) == [1200, 1200]


def test_a_joining_battery_takes_what_the_running_one_cannot() -> None:
    fleet = [bat(60), bat(80, max_discharge_w=800)]
    previous = running((Mode.STOP, 0), (Mode.DISCHARGE, 800))
    grid = -800 * EFFICIENCY.discharge_release_factor + discharge_grid(2000)
    plan = allocate(grid, fleet, previous, EFFICIENCY)
    assert powers(plan) == [1200, 800]


def test_no_easing_from_stop() -> None:
    fleet = [bat(60), bat(80)]
    plan = allocate(discharge_grid(2400), fleet, Plan.all_stop(2), EFFICIENCY)
    assert powers(plan) == [1200, 1200]


@pytest.mark.parametrize("strategy", list(Strategy))
def test_overlapping_margins_behind_wins(strategy: Strategy) -> None:
    """Release margin below the behind margin: a battery behind is never held back."""
    settings = StrategySettings(strategy=strategy, release_margin_pct=5)
    fleet = [bat(97), bat(93), bat(50)]  # 3 and 7 points from the top: both behind
    plan = allocate(discharge_grid(500), fleet, Plan.all_stop(3), settings)
    assert plan.total_w == 500
    if strategy is not Strategy.EQUAL:
        assert plan.setpoints[0] == Setpoint(Mode.DISCHARGE, 500, Reason.BEHIND_PRIORITY)
        assert plan.setpoints[2].reason is Reason.HELD_BACK


# --- cost: arrays built once, bounded enumeration -------------------------------------------

ODD_TABLE = tuple(
    (ac * 1.07 + 0.4, charge - 0.02, discharge - 0.03)
    for ac, charge, discharge in DEFAULT_EFFICIENCY_TABLE
)


@pytest.mark.parametrize("table", [DEFAULT_EFFICIENCY_TABLE, WORSE_TABLE, ODD_TABLE])
@pytest.mark.parametrize("mode", [Mode.CHARGE, Mode.DISCHARGE])
def test_the_whole_watt_array_is_the_interpolation(mode: Mode, table: EfficiencyTable) -> None:
    curve = efficiency._Curve(mode, table)  # not the shared one: other tests extend it
    assert curve.loss[0] == 0.0
    assert all(curve.loss[w] == curve.at(w) for w in range(1, 2501))
    assert len(curve.array(3000)) == 3001
    assert curve.loss[3000] == curve.at(3000)


def test_curves_are_found_by_identity_and_built_once_per_value() -> None:
    copy = tuple(tuple(row) for row in DEFAULT_EFFICIENCY_TABLE)
    assert copy is not DEFAULT_EFFICIENCY_TABLE
    efficiency._CURVES.clear()  # both caches as new: other tests may have dropped one only
    efficiency._BY_VALUE.clear()
    curve = _curve(Mode.CHARGE, DEFAULT_EFFICIENCY_TABLE)
    assert _curve(Mode.CHARGE, DEFAULT_EFFICIENCY_TABLE) is curve
    assert _curve(Mode.CHARGE, copy) is curve  # an equal table shares the curve
    assert _curve(Mode.DISCHARGE, copy) is not curve


@st.composite
def any_tables(draw: st.DrawFn) -> EfficiencyTable:
    """A table of 1 to 10 rows anywhere in 1..3000 W, efficiencies 0.5..0.99 (learned-like)."""
    xs = draw(st.lists(st.integers(10, 30000), min_size=1, max_size=10, unique=True))
    efficiencies = st.floats(0.5, 0.99)
    return tuple(sorted((x / 10, draw(efficiencies), draw(efficiencies)) for x in xs))


@hyp_settings(max_examples=60, deadline=None)
@example(Mode.DISCHARGE, DEFAULT_EFFICIENCY_TABLE, 2500, [600, 750, 1000, 1234])
@example(Mode.CHARGE, ODD_TABLE, 800, [1, 68, 69, 70, 799, 800])
@given(
    mode=st.sampled_from([Mode.CHARGE, Mode.DISCHARGE]),
    table=any_tables(),
    cap=st.integers(1, 2500),
    starts=st.lists(st.integers(1, 2500), min_size=1, max_size=6),
)
def test_the_slopes_bound_every_move_of_power(
    mode: Mode, table: EfficiencyTable, cap: int, starts: list[int]
) -> None:
    """From any power p, going to any q within 1..cap changes the loss by at least
    (q - p) * rise going up and at most (p - q) * fall going down (to rounding, far below the
    1e-9 W a move in ``refine`` must save)."""
    curve = _curve(mode, table)
    loss = curve.array(cap)
    for p in {min(start, cap) for start in starts}:
        rise, fall = curve.moves(cap, p)
        assert all(loss[q] - loss[p] >= (q - p) * rise - 1e-10 for q in range(p + 1, cap + 1))
        assert all(loss[p] - loss[q] <= (p - q) * fall + 1e-10 for q in range(1, p))


def refine_every_pair(fleet: _Fleet, powers: dict[int, int]) -> dict[int, int]:
    """``_Fleet.refine`` as it was before it skipped pairs: every pair, every pass."""
    powers = dict(powers)
    running = [i for i, power in powers.items() if power > 0]
    for _ in range(3 if len(running) >= 2 else 0):
        improved = False
        for i in running:
            for j in running:
                if i == j:
                    continue
                li, lj, pair = fleet.arrays[i], fleet.arrays[j], powers[i] + powers[j]
                bar = li[powers[i]] + lj[powers[j]] - 1e-9
                for x in fleet.curves[i].bends_to(fleet.caps[i]):
                    if 1 <= pair - x <= fleet.caps[j] and li[x] + lj[pair - x] < bar:
                        powers[i], powers[j] = x, pair - x
                        bar, improved = li[x] + lj[pair - x] - 1e-9, True
        if not improved:
            break
    return powers


@hyp_settings(max_examples=80, deadline=None)
@example(Mode.DISCHARGE, [DEFAULT_EFFICIENCY_TABLE] * 4, [2500] * 4, [600, 600, 600, 601])
@example(Mode.CHARGE, [WORSE_TABLE, ODD_TABLE, WORSE_TABLE], [800, 2500, 2500], [70, 900, 180])
@given(
    mode=st.sampled_from([Mode.CHARGE, Mode.DISCHARGE]),
    tables=st.lists(
        st.one_of(
            st.sampled_from([DEFAULT_EFFICIENCY_TABLE, WORSE_TABLE, ODD_TABLE]), any_tables()
        ),
        min_size=2,
        max_size=5,
    ),
    caps=st.lists(st.integers(1, 2500), min_size=5, max_size=5),
    starts=st.lists(st.integers(0, 2500), min_size=5, max_size=5),
)
def test_refine_skips_only_pairs_that_cannot_save(
    mode: Mode, tables: list[EfficiencyTable], caps: list[int], starts: list[int]
) -> None:
    """The pairs ``refine`` skips by their slopes would not have moved: the same result."""
    efficiency._SHAPES.clear()  # no settled pairs from another example
    count = len(tables)
    curves = [_curve(mode, table) for table in tables]
    fleet = _Fleet(range(count), curves, caps[:count], [0.0] * count)
    powers = {i: min(starts[i], caps[i]) for i in range(count)}
    assert fleet.refine(powers) == refine_every_pair(fleet, powers)
    efficiency._SHAPES.clear()


def brute_force(total: int, candidates: list[Candidate], mode: Mode) -> float:
    """The least set cost over every whole-watt split of three batteries (exhaustive)."""
    first, second, third = (
        [c.standby_w] + [loss_w(mode, p, c.table) for p in range(1, c.max_w + 1)]
        for c in candidates
    )
    total = min(total, len(first) + len(second) + len(third) - 3)
    best = float("inf")
    for a, cost_a in enumerate(first):
        rest = total - a
        low, high = max(0, rest - len(third) + 1), min(len(second) - 1, rest)
        if low <= high:
            best = min(
                best, cost_a + min(second[b] + third[rest - b] for b in range(low, high + 1))
            )
    return best


#: What optimal_split guarantees for three batteries: at most this many W more loss than the
#: exhaustive optimum. It is exact for one or two running batteries (the pairwise moves onto
#: the bends); with three it may keep an even split where the optimum runs one battery low
#: (just above the table's first row) and two near their caps. A search of 8,000 random and
#: 2,400 hill-climbed cases of this domain (caps <= 700 W) found 24.1 W at worst (three
#: 247 W batteries discharging 558 W: 186 W each lose 129.7 W, 64 + 247 + 247 would lose
#: 105.6 W); with 800 W caps 3.3 W (three discharging 1,606 W).
SPLIT_BOUND_W = 25.0


@hyp_settings(max_examples=40, deadline=None)
@example(Mode.CHARGE, [130, 130, 130], [DEFAULT_EFFICIENCY_TABLE] * 3, 0.0, 383)  # 0.11 W
@example(Mode.DISCHARGE, [247, 247, 247], [DEFAULT_EFFICIENCY_TABLE] * 3, 0.0, 558)  # 24.1 W
@given(
    mode=st.sampled_from([Mode.CHARGE, Mode.DISCHARGE]),
    caps=st.lists(st.integers(0, 700), min_size=3, max_size=3),
    tables=st.lists(
        st.sampled_from([DEFAULT_EFFICIENCY_TABLE, WORSE_TABLE, ODD_TABLE]), min_size=3, max_size=3
    ),
    standby=st.sampled_from([0.0, 7.0]),
    demand=st.integers(0, 2100),
)
def test_optimal_split_of_three_batteries_is_within_its_bound_of_the_exhaustive_optimum(
    mode: Mode, caps: list[int], tables: list[EfficiencyTable], standby: float, demand: int
) -> None:
    candidates = [Candidate(cap, table, standby) for cap, table in zip(caps, tables, strict=True)]
    split = optimal_split(demand, candidates, mode)
    total = min(demand, sum(caps))
    assert sum(split) == total
    assert all(0 <= p <= cap for p, cap in zip(split, caps, strict=True))
    if total:
        exhaustive = brute_force(total, candidates, mode)
        assert split_loss_w(mode, split, candidates) <= exhaustive + SPLIT_BOUND_W


def test_the_bound_is_reached_not_just_stated() -> None:
    """The pinned worst case: the even split really loses about 24 W more than the optimum
    (a bound far above every real gap would say nothing)."""
    candidates = [Candidate(247)] * 3
    split = optimal_split(558, candidates, Mode.DISCHARGE)
    exhaustive = brute_force(558, candidates, Mode.DISCHARGE)
    assert split_loss_w(Mode.DISCHARGE, split, candidates) - exhaustive > SPLIT_BOUND_W - 1
    assert split_loss_w(Mode.DISCHARGE, (64, 247, 247), candidates) == pytest.approx(exhaustive)


def test_batteries_are_interchangeable_only_with_the_same_cap() -> None:
    """An 800 W and a 2500 W battery charging 1000 W: not 500 + 500 (62 W of loss)."""
    fleet = [bat(40, max_charge_w=800), bat(60)]
    plan = allocate(charge_grid(1000), fleet, Plan.all_stop(2), EFFICIENCY)
    assert powers(plan) == [0, 1000]
    candidates = [Candidate(800, standby_w=7.0), Candidate(2500, standby_w=7.0)]
    assert split_loss_w(Mode.CHARGE, powers(plan), candidates) == pytest.approx(45.0 + 7.0)


def test_eight_distinct_batteries_split_within_their_caps() -> None:
    tables = [
        tuple((ac * (1 + 0.03 * i), c - 0.007 * i, d - 0.007 * i) for ac, c, d in WORSE_TABLE)
        for i in range(8)
    ]
    fleet = [bat(30 + 5 * i, efficiency_table=tables[i]) for i in range(8)]
    for demand in (300, 1700, 4000, 9000, 19000):
        plan = allocate(discharge_grid(demand), fleet, Plan.all_stop(8), EFFICIENCY)
        assert plan.total_w == min(demand, 20000)
        assert all(s.power_w <= 2500 for s in plan.setpoints)


def _distinct(count: int) -> list[EfficiencyTable]:
    return [
        tuple((ac * (1 + 0.02 * i), c - 0.004 * i, d - 0.004 * i) for ac, c, d in WORSE_TABLE)
        for i in range(count)
    ]


def test_a_battery_behind_runs_in_the_bounded_family() -> None:
    tables = _distinct(8)
    fleet = [bat(50, efficiency_table=tables[i]) for i in range(7)]
    fleet.append(bat(95, efficiency_table=tables[7]))  # behind: 5 points from the top
    plan = allocate(discharge_grid(3000), fleet, Plan.all_stop(8), EFFICIENCY)
    assert plan.setpoints[7].reason is Reason.BEHIND_PRIORITY
    assert plan.setpoints[7].power_w > 0
    assert plan.total_w == 3000


def test_the_running_set_is_kept_in_the_bounded_family() -> None:
    """Hysteresis with 8 distinct tables: the running battery loses under 5 W more."""
    tables = [
        tuple((ac, c - 0.0003 * i, d - 0.0003 * i) for ac, c, d in WORSE_TABLE) for i in range(8)
    ]
    fleet = [bat(50, efficiency_table=tables[i]) for i in range(8)]
    previous = Plan(
        Mode.DISCHARGE,
        tuple(
            Setpoint(Mode.DISCHARGE, 600) if i == 7 else Setpoint(Mode.STOP, 0) for i in range(8)
        ),
    )
    grid = -600 * EFFICIENCY.discharge_release_factor + discharge_grid(620)
    plan = allocate(grid, fleet, previous, EFFICIENCY)
    assert powers(plan) == [0] * 7 + [620]


def test_the_curve_caches_stay_bounded() -> None:
    for i in range(300):
        table = ((100.0 + i, 0.8, 0.8), (2500.0, 0.9, 0.9))
        assert loss_w(Mode.CHARGE, 2500, table) == pytest.approx(250.0)
    assert loss_w(Mode.CHARGE, 1000) == pytest.approx(45.0)
