"""Unit tests of the allocation engine: one test per rule of the strategy."""

from __future__ import annotations

from dataclasses import replace
import math

import pytest

from custom_components.marstek_strategy.core.engine import (
    BatteryReading,
    Mode,
    Plan,
    Reason,
    Setpoint,
    Strategy,
    StrategySettings,
    allocate,
    even_split,
)

SETTINGS = StrategySettings()
EQUAL = StrategySettings(strategy=Strategy.EQUAL)


def bat(soc: float = 50.0, phase_w: float = 0.0, **kwargs: object) -> BatteryReading:
    """Return a battery with cutoffs 100/12 and 800 W both ways unless told otherwise."""
    values: dict[str, object] = {
        "charge_cutoff": 100.0,
        "discharge_cutoff": 12.0,
        "max_charge_w": 800,
        "max_discharge_w": 800,
    }
    values.update(kwargs)
    return BatteryReading(soc=soc, phase_w=phase_w, **values)  # type: ignore[arg-type]


def discharge_grid(commanded_w: int) -> float:
    """Return the import (W) whose corrected demand is commanded_w while discharging."""
    return commanded_w / SETTINGS.discharge_factor


def charge_grid(commanded_w: int) -> float:
    """Return the grid power (W, negative) whose corrected demand is commanded_w charging."""
    return -commanded_w / SETTINGS.charge_factor


def plan_of(*setpoints: tuple[Mode, int]) -> Plan:
    """Return a plan in force with these (mode, power) setpoints."""
    modes = {mode for mode, power in setpoints if power}
    mode = modes.pop() if len(modes) == 1 else Mode.STOP
    return Plan(mode, tuple(Setpoint(m, p) for m, p in setpoints))


def powers(plan: Plan) -> list[int]:
    return [s.power_w for s in plan.setpoints]


def reasons(plan: Plan) -> list[Reason]:
    return [s.reason for s in plan.setpoints]


def stop(count: int) -> Plan:
    return Plan.all_stop(count)


# --- the seed README's worked example and the behind rule ---------------------------------


def test_seed_readme_example_high_battery_first_then_descending_soc() -> None:
    """Discharging, one battery above 90 % and the others below 85 %, max 800 W."""
    fleet = [bat(70), bat(95), bat(80)]
    plan = allocate(discharge_grid(2200), fleet, stop(3), SETTINGS)
    assert plan.mode is Mode.DISCHARGE
    assert powers(plan) == [600, 800, 800]
    assert reasons(plan) == [Reason.HELD_BACK, Reason.BEHIND_PRIORITY, Reason.HELD_BACK]


def test_seed_readme_example_first_800_w_to_the_high_one() -> None:
    fleet = [bat(70), bat(95), bat(80)]
    plan = allocate(discharge_grid(800), fleet, stop(3), SETTINGS)
    assert powers(plan) == [0, 800, 0]
    assert reasons(plan) == [Reason.HELD_BACK, Reason.BEHIND_PRIORITY, Reason.HELD_BACK]


def test_behind_rule_releases_running_batteries_far_from_the_opposite_cutoff() -> None:
    """A running battery more than 15 points from the top gives way to one nearly full."""
    fleet = [bat(60), bat(93)]
    previous = plan_of((Mode.DISCHARGE, 700), (Mode.STOP, 0))
    plan = allocate(0.0, fleet, previous, SETTINGS)
    assert powers(plan) == [0, 700]
    assert reasons(plan) == [Reason.HELD_BACK, Reason.BEHIND_PRIORITY]


def test_behind_rule_while_charging_serves_the_nearly_empty_battery_first() -> None:
    fleet = [bat(60), bat(18), bat(50)]
    plan = allocate(charge_grid(1300), fleet, stop(3), SETTINGS)
    assert plan.mode is Mode.CHARGE
    assert powers(plan) == [0, 800, 500]  # then lowest state of charge first


def test_batteries_between_the_margins_are_not_held_back() -> None:
    """12 points from the top is neither behind (<= 10) nor held back (> 15)."""
    fleet = [bat(88), bat(95)]
    previous = plan_of((Mode.DISCHARGE, 600), (Mode.STOP, 0))
    plan = allocate(discharge_grid(200), fleet, previous, SETTINGS)
    # the running one keeps running (step A), the behind one is served after it
    assert powers(plan) == [800, 0]
    assert reasons(plan)[0] is Reason.CAPPED_BY_MAX  # at its 800 W


def test_behind_battery_that_cannot_take_part_does_not_trigger_the_rule() -> None:
    fleet = [bat(60), bat(95, allow_discharge=False)]
    plan = allocate(discharge_grid(600), fleet, stop(2), SETTINGS)
    assert powers(plan) == [600, 0]
    assert reasons(plan) == [Reason.STARTED_BY_PHASE, Reason.NOT_ALLOWED]


# --- release near the cutoff and the cutoffs themselves ------------------------------------


def test_near_cutoff_battery_is_released_and_its_power_moves() -> None:
    fleet = [bat(20), bat(60)]  # 8 points above the discharge cutoff
    previous = plan_of((Mode.DISCHARGE, 500), (Mode.STOP, 0))
    plan = allocate(0.0, fleet, previous, SETTINGS)
    # 500 W commanded = 487.5 W real, corrected back to 500 W
    assert powers(plan) == [0, 500]
    assert reasons(plan) == [Reason.NEAR_CUTOFF, Reason.STARTED_BY_PHASE]


def test_near_cutoff_battery_is_served_after_the_others_are_full() -> None:
    fleet = [bat(20), bat(60)]
    plan = allocate(discharge_grid(1400), fleet, stop(2), SETTINGS)
    assert powers(plan) == [600, 800]
    assert reasons(plan) == [Reason.NEAR_CUTOFF, Reason.CAPPED_BY_MAX]


def test_release_margin_is_inclusive() -> None:
    fleet = [bat(85), bat(50)]  # exactly 15 points below the charge cutoff
    plan = allocate(charge_grid(600), fleet, stop(2), SETTINGS)
    assert powers(plan) == [0, 600]
    assert reasons(plan)[0] is Reason.NEAR_CUTOFF


@pytest.mark.parametrize(
    ("soc", "grid_w", "mode"),
    [(100.0, charge_grid(500), Mode.CHARGE), (12.0, discharge_grid(500), Mode.DISCHARGE)],
)
def test_battery_at_its_cutoff_stops(soc: float, grid_w: float, mode: Mode) -> None:
    fleet = [bat(soc), bat(50)]
    plan = allocate(grid_w, fleet, stop(2), SETTINGS)
    assert plan.setpoints[0] == Setpoint(Mode.STOP, 0, Reason.AT_CUTOFF)
    assert plan.setpoints[1] == Setpoint(mode, 500, Reason.STARTED_BY_PHASE)


def test_battery_beyond_its_cutoff_stops_even_when_commanded_before() -> None:
    fleet = [bat(101), bat(50)]
    previous = plan_of((Mode.CHARGE, 800), (Mode.STOP, 0))
    plan = allocate(charge_grid(0), fleet, previous, SETTINGS)
    assert plan.setpoints[0] == Setpoint(Mode.STOP, 0, Reason.AT_CUTOFF)
    assert plan.setpoints[1].mode is Mode.CHARGE


# --- the phase choice -------------------------------------------------------------------


def test_phase_choice_takes_the_phase_that_imports_most() -> None:
    """Discharging with phases -100, 900, 500 W starts the 2nd battery, not the 3rd."""
    fleet = [bat(50, -100), bat(50, 900), bat(50, 500)]
    plan = allocate(discharge_grid(600), fleet, stop(3), SETTINGS)
    assert powers(plan) == [0, 600, 0]
    assert reasons(plan) == [Reason.IDLE, Reason.STARTED_BY_PHASE, Reason.IDLE]


def test_phase_choice_while_charging_takes_the_phase_that_exports_most() -> None:
    fleet = [bat(50, -100), bat(50, -900), bat(50, 500)]
    plan = allocate(charge_grid(600), fleet, stop(3), SETTINGS)
    assert powers(plan) == [0, 600, 0]


def test_phase_need_falls_as_batteries_on_that_phase_start() -> None:
    """Two batteries on the 900 W phase: after the first, the 500 W phase needs more."""
    fleet = [bat(50, 900), bat(50, 900), bat(50, 500)]
    plan = allocate(discharge_grid(1600), fleet, stop(3), SETTINGS)
    assert powers(plan) == [800, 0, 800]


def test_phase_ties_break_by_battery_order() -> None:
    fleet = [bat(50, 300), bat(50, 300), bat(40, 300)]
    plan = allocate(discharge_grid(700), fleet, stop(3), SETTINGS)
    assert powers(plan) == [700, 0, 0]


def test_single_phase_fleet_fills_in_battery_order() -> None:
    fleet = [bat(50, 2000), bat(50, 2000), bat(50, 2000)]
    plan = allocate(discharge_grid(2000), fleet, stop(3), SETTINGS)
    # 800, 800, 400 by phase; the 400 W is then split with the first of the highest
    assert powers(plan) == [600, 800, 600]


# --- step A: running batteries first -------------------------------------------------------


def test_more_power_goes_to_the_running_battery_with_the_highest_setpoint() -> None:
    fleet = [bat(50), bat(50), bat(50)]
    previous = plan_of((Mode.DISCHARGE, 500), (Mode.DISCHARGE, 600), (Mode.STOP, 0))
    extra = 300 / SETTINGS.discharge_factor
    plan = allocate(extra, fleet, previous, SETTINGS)
    assert powers(plan) == [600, 800, 0]
    assert plan.setpoints[1].reason is Reason.CAPPED_BY_MAX


def test_less_power_comes_from_the_lowest_setpoint_first() -> None:
    fleet = [bat(50), bat(50), bat(50)]
    previous = plan_of((Mode.DISCHARGE, 800), (Mode.DISCHARGE, 700), (Mode.STOP, 0))
    # the house now needs 900 W in all: 600 W less than the batteries give
    grid_w = 900 / SETTINGS.discharge_factor - 1500 * SETTINGS.discharge_release_factor
    plan = allocate(grid_w, fleet, previous, replace(SETTINGS, merge_below_w=0))
    assert powers(plan) == [800, 100, 0]


def test_steady_state_holds_the_plan() -> None:
    fleet = [bat(50), bat(60)]
    previous = plan_of((Mode.DISCHARGE, 800), (Mode.DISCHARGE, 700))
    plan = allocate(0.0, fleet, previous, SETTINGS)
    # 0.975 * 1.026 = 1.00035: the release and direction factors round-trip within 1 W
    assert powers(plan) == [800, 701]
    assert reasons(plan) == [Reason.CAPPED_BY_MAX, Reason.RUNNING]


def test_steady_state_while_charging_holds_the_plan() -> None:
    fleet = [bat(50), bat(60)]
    previous = plan_of((Mode.CHARGE, 800), (Mode.CHARGE, 700))
    plan = allocate(0.0, fleet, previous, SETTINGS)
    assert powers(plan) == [800, 700]
    assert plan.mode is Mode.CHARGE


def test_demand_falling_to_nothing_in_the_same_mode_stops() -> None:
    fleet = [bat(50)]
    previous = plan_of((Mode.DISCHARGE, 400))
    plan = allocate(-400 * SETTINGS.discharge_release_factor + 0.1, fleet, previous, SETTINGS)
    assert plan == Plan(Mode.STOP, (Setpoint(Mode.STOP, 0, Reason.IDLE),))


# --- dead band and mode changes ------------------------------------------------------------


@pytest.mark.parametrize("grid_w", [0.0, 20.0, -25.0, 29 / 1.026])
def test_dead_band_from_stop(grid_w: float) -> None:
    plan = allocate(grid_w, [bat(50), bat(50, available=False)], stop(2), SETTINGS)
    assert plan.mode is Mode.STOP
    assert reasons(plan) == [Reason.DEAD_BAND, Reason.UNAVAILABLE]


def test_dead_band_when_the_running_battery_can_run_no_more() -> None:
    fleet = [bat(12), bat(50)]  # the running one reached its cutoff
    previous = plan_of((Mode.DISCHARGE, 100), (Mode.STOP, 0))
    grid = discharge_grid(20) - 100 * SETTINGS.discharge_release_factor
    plan = allocate(grid, fleet, previous, SETTINGS)
    assert reasons(plan) == [Reason.AT_CUTOFF, Reason.DEAD_BAND]


def test_dead_band_edge_starts_at_the_threshold() -> None:
    plan = allocate(discharge_grid(30), [bat(50)], stop(1), SETTINGS)
    assert plan.setpoints[0] == Setpoint(Mode.DISCHARGE, 30, Reason.STARTED_BY_PHASE)


def test_dead_band_on_a_mode_change_stops_everything() -> None:
    """Discharging 100 W, now 120 W export: 17.5 W to charge is inside the dead band."""
    fleet = [bat(50), bat(50)]
    previous = plan_of((Mode.DISCHARGE, 100), (Mode.STOP, 0))
    plan = allocate(-115.0, fleet, previous, SETTINGS)
    assert plan.mode is Mode.STOP
    assert reasons(plan) == [Reason.DEAD_BAND, Reason.DEAD_BAND]


def test_small_demand_in_the_same_mode_keeps_running() -> None:
    fleet = [bat(50)]
    previous = plan_of((Mode.DISCHARGE, 100))
    plan = allocate(-80.0, fleet, previous, SETTINGS)
    assert plan.setpoints[0] == Setpoint(Mode.DISCHARGE, 18, Reason.RUNNING)


def test_mode_change_restarts_from_zero() -> None:
    """Charging 500 W with 1000 W import: discharge what is left after the charge ends."""
    fleet = [bat(50, 1000), bat(50, 0)]
    previous = plan_of((Mode.CHARGE, 500), (Mode.STOP, 0))
    plan = allocate(1000.0, fleet, previous, SETTINGS)
    expected = round((1000 - 500 * SETTINGS.charge_release_factor) * SETTINGS.discharge_factor)
    assert plan.mode is Mode.DISCHARGE
    assert powers(plan) == [expected, 0]
    assert plan.setpoints[0].reason is Reason.STARTED_BY_PHASE


def test_mixed_previous_plan_counts_as_a_mode_change() -> None:
    """A restart may find one battery charging and another discharging."""
    fleet = [bat(50), bat(50)]
    previous = Plan(Mode.STOP, (Setpoint(Mode.CHARGE, 300), Setpoint(Mode.DISCHARGE, 300)))
    plan = allocate(400.0, fleet, previous, SETTINGS)
    assert plan.mode is Mode.DISCHARGE
    demand = 400 - 300 * SETTINGS.charge_release_factor + 300 * 0.975
    assert sum(powers(plan)) == round(demand * SETTINGS.discharge_factor)


def test_discharge_to_charge_flip() -> None:
    fleet = [bat(50)]
    previous = plan_of((Mode.DISCHARGE, 300))
    plan = allocate(-1000.0, fleet, previous, SETTINGS)
    expected = round((1000 - 300 * 0.975) * SETTINGS.charge_factor)
    assert plan.setpoints[0] == Setpoint(Mode.CHARGE, expected, Reason.STARTED_BY_PHASE)


# --- taper --------------------------------------------------------------------------------


def test_taper_caps_charging_from_95_percent() -> None:
    fleet = [bat(96, max_charge_w=2500), bat(50, max_charge_w=2500)]
    plan = allocate(charge_grid(2000), fleet, stop(2), SETTINGS)
    # nearly full: the 96 % one is both behind-free and near its cutoff: served last
    assert powers(plan) == [0, 2000]
    plan = allocate(charge_grid(4000), fleet, stop(2), SETTINGS)
    assert plan.setpoints[0] == Setpoint(Mode.CHARGE, 1250, Reason.TAPER)
    assert plan.setpoints[1].power_w == 2500


def test_taper_clamps_a_previous_setpoint() -> None:
    fleet = [bat(95, max_charge_w=2500)]
    previous = plan_of((Mode.CHARGE, 2000))
    plan = allocate(charge_grid(500), fleet, previous, SETTINGS)
    assert plan.setpoints[0] == Setpoint(Mode.CHARGE, 1250, Reason.TAPER)


def test_taper_does_not_limit_discharging() -> None:
    fleet = [bat(96, max_discharge_w=2500)]
    plan = allocate(discharge_grid(2000), fleet, stop(1), SETTINGS)
    assert powers(plan) == [2000]


def test_taper_reason_only_when_the_taper_binds() -> None:
    fleet = [bat(97, max_charge_w=1000)]
    plan = allocate(charge_grid(1200), fleet, stop(1), SETTINGS)
    assert plan.setpoints[0] == Setpoint(Mode.CHARGE, 1000, Reason.NEAR_CUTOFF)


# --- merge --------------------------------------------------------------------------------


def test_merge_moves_a_small_setpoint_onto_the_highest() -> None:
    fleet = [bat(50, max_discharge_w=2500), bat(50)]
    previous = plan_of((Mode.DISCHARGE, 1000), (Mode.DISCHARGE, 300))
    plan = allocate(0.0, fleet, previous, SETTINGS)
    assert powers(plan) == [1300, 0]
    assert reasons(plan) == [Reason.RUNNING, Reason.MERGED_SMALL]


def test_merge_splits_evenly_when_the_highest_would_exceed_its_max() -> None:
    fleet = [bat(50), bat(50)]
    previous = plan_of((Mode.DISCHARGE, 800), (Mode.DISCHARGE, 300))
    plan = allocate(0.0, fleet, previous, SETTINGS)
    assert powers(plan) == [550, 550]
    assert reasons(plan) == [Reason.MERGED_SMALL, Reason.MERGED_SMALL]


def test_merge_split_respects_the_small_batterys_max() -> None:
    fleet = [bat(50, max_discharge_w=2500), bat(50, max_discharge_w=400)]
    previous = plan_of((Mode.DISCHARGE, 2500), (Mode.DISCHARGE, 300))
    plan = allocate(0.0, fleet, previous, SETTINGS)
    assert powers(plan) == [2401, 400]  # 2801 W: the factors round-trip within 1 W


def test_merge_never_moves_power_onto_a_battery_at_its_cutoff() -> None:
    """After a restart the plan may say a battery at its cutoff runs high: it stops."""
    fleet = [bat(12, max_discharge_w=2500), bat(50)]
    previous = plan_of((Mode.DISCHARGE, 2000), (Mode.DISCHARGE, 300))
    plan = allocate(-2000 * 0.975, fleet, previous, SETTINGS)
    assert plan.setpoints[0] == Setpoint(Mode.STOP, 0, Reason.AT_CUTOFF)
    assert plan.setpoints[1] == Setpoint(Mode.DISCHARGE, 300, Reason.RUNNING)


def test_merge_ignores_setpoints_at_or_above_the_threshold() -> None:
    fleet = [bat(50), bat(50)]
    previous = plan_of((Mode.DISCHARGE, 800), (Mode.DISCHARGE, 500))
    assert powers(allocate(0.0, fleet, previous, SETTINGS)) == [800, 500]


def test_merge_of_equal_small_setpoints_keeps_the_earlier_battery() -> None:
    fleet = [bat(50), bat(50)]
    previous = plan_of((Mode.DISCHARGE, 200), (Mode.DISCHARGE, 200))
    plan = allocate(0.0, fleet, previous, SETTINGS)
    assert powers(plan) == [400, 0]


# --- participation, availability, limits -----------------------------------------------


def test_unavailable_battery_stops_and_is_not_counted_on() -> None:
    fleet = [bat(50, 900, available=False), bat(50)]
    previous = plan_of((Mode.DISCHARGE, 500), (Mode.STOP, 0))
    # Still running on its last setpoint: the meter is balanced, nothing to take over.
    plan = allocate(0.0, fleet, previous, SETTINGS)
    assert plan.setpoints[0] == Setpoint(Mode.STOP, 0, Reason.UNAVAILABLE)
    assert plan.setpoints[1].power_w == 0
    # Really stopped: the meter shows the import and the other battery covers it.
    plan = allocate(discharge_grid(500), fleet, previous, SETTINGS)
    assert plan.setpoints[0] == Setpoint(Mode.STOP, 0, Reason.UNAVAILABLE)
    assert plan.setpoints[1].power_w == 500


def test_nonsense_state_of_charge_is_unavailable() -> None:
    plan = allocate(discharge_grid(500), [bat(math.nan), bat(50)], stop(2), SETTINGS)
    assert plan.setpoints[0] == Setpoint(Mode.STOP, 0, Reason.UNAVAILABLE)


@pytest.mark.parametrize("grid_w", [math.nan, math.inf, -math.inf])
def test_nonsense_grid_power_stops_every_battery(grid_w: float) -> None:
    previous = plan_of((Mode.DISCHARGE, 500), (Mode.STOP, 0))
    plan = allocate(grid_w, [bat(50), bat(50, available=False)], previous, SETTINGS)
    assert plan == Plan(
        Mode.STOP,
        (Setpoint(Mode.STOP, 0, Reason.IDLE), Setpoint(Mode.STOP, 0, Reason.UNAVAILABLE)),
    )


@pytest.mark.parametrize(
    ("participation", "charges", "discharges"),
    [
        ({}, True, True),
        ({"allow_discharge": False}, True, False),
        ({"allow_charge": False}, False, True),
        ({"allow_charge": False, "allow_discharge": False}, False, False),
    ],
)
def test_participation(participation: dict[str, bool], charges: bool, discharges: bool) -> None:
    fleet = [bat(50, **participation)]
    charge = allocate(charge_grid(300), fleet, stop(1), SETTINGS).setpoints[0]
    discharge = allocate(discharge_grid(300), fleet, stop(1), SETTINGS).setpoints[0]
    assert (charge.mode is Mode.CHARGE) is charges
    assert (discharge.mode is Mode.DISCHARGE) is discharges
    if not charges:
        assert charge.reason is Reason.NOT_ALLOWED
    if not discharges:
        assert discharge.reason is Reason.NOT_ALLOWED


def test_zero_max_power_means_not_allowed() -> None:
    plan = allocate(charge_grid(300), [bat(50, max_charge_w=0)], stop(1), SETTINGS)
    assert plan.setpoints[0] == Setpoint(Mode.STOP, 0, Reason.NOT_ALLOWED)


def test_demand_beyond_the_fleet_is_capped() -> None:
    fleet = [bat(50), bat(50, max_discharge_w=2500)]
    plan = allocate(discharge_grid(9000), fleet, stop(2), SETTINGS)
    assert powers(plan) == [800, 2500]


def test_previous_setpoints_above_the_limits_are_clamped() -> None:
    fleet = [bat(50), bat(50)]
    previous = plan_of((Mode.DISCHARGE, 5000), (Mode.DISCHARGE, -40))
    plan = allocate(0.0, fleet, previous, SETTINGS)
    assert powers(plan) == [800, 0]


def test_previous_plan_of_another_length_counts_as_all_stop() -> None:
    fleet = [bat(50), bat(50)]
    previous = plan_of((Mode.DISCHARGE, 800))
    plan = allocate(discharge_grid(500), fleet, previous, SETTINGS)
    assert sum(powers(plan)) == 500


def test_deterministic() -> None:
    fleet = [bat(70, 100), bat(95, 300), bat(80, -200), bat(30, 100)]
    previous = plan_of((Mode.DISCHARGE, 400), (Mode.STOP, 0), (Mode.DISCHARGE, 100), (Mode.STOP, 0))
    assert allocate(1234.5, fleet, previous, SETTINGS) == allocate(
        1234.5, list(fleet), previous, SETTINGS
    )


def test_plan_total_and_all_stop() -> None:
    assert Plan.all_stop(2) == Plan(Mode.STOP, (Setpoint(Mode.STOP, 0),) * 2)
    assert plan_of((Mode.CHARGE, 300), (Mode.CHARGE, 200)).total_w == 500


def test_settings_are_the_seeds_numbers() -> None:
    assert (SETTINGS.release_margin_pct, SETTINGS.behind_margin_pct) == (15.0, 10.0)
    assert (SETTINGS.dead_band_w, SETTINGS.merge_below_w) == (30, 500)
    assert (SETTINGS.taper_soc_pct, SETTINGS.taper_w) == (95.0, 1250)
    assert (SETTINGS.discharge_factor, SETTINGS.charge_factor) == (1.026, 0.957)
    assert SETTINGS.discharge_release_factor == pytest.approx(1 / SETTINGS.discharge_factor, 1e-3)
    assert SETTINGS.charge_release_factor == pytest.approx(1 / SETTINGS.charge_factor, 1e-3)
    assert SETTINGS.strategy is Strategy.PRIORITY


def test_custom_settings_change_the_rules() -> None:
    settings = replace(SETTINGS, dead_band_w=100, merge_below_w=0)
    assert allocate(discharge_grid(90), [bat(50)], stop(1), settings).mode is Mode.STOP
    previous = plan_of((Mode.DISCHARGE, 800), (Mode.DISCHARGE, 300))
    assert powers(allocate(0.0, [bat(50), bat(50)], previous, settings)) == [800, 300]


# --- equal ---------------------------------------------------------------------------------


def test_equal_splits_evenly_over_every_battery_that_can_take_part() -> None:
    fleet = [bat(50), bat(20), bat(12), bat(50, available=False), bat(90)]
    plan = allocate(discharge_grid(1000), fleet, stop(5), EQUAL)
    assert powers(plan) == [334, 333, 0, 0, 333]
    assert reasons(plan) == [
        Reason.EQUAL_SHARE,
        Reason.EQUAL_SHARE,
        Reason.AT_CUTOFF,
        Reason.UNAVAILABLE,
        Reason.EQUAL_SHARE,
    ]


def test_equal_gives_what_a_small_battery_cannot_take_to_the_others() -> None:
    fleet = [bat(50, max_discharge_w=200), bat(50, max_discharge_w=2500), bat(50)]
    plan = allocate(discharge_grid(2000), fleet, stop(3), EQUAL)
    assert powers(plan) == [200, 1000, 800]


def test_equal_dead_band_still_applies() -> None:
    assert allocate(10.0, [bat(50), bat(50)], stop(2), EQUAL).mode is Mode.STOP


def test_even_split_water_fills() -> None:
    assert even_split(2000, (0, 1, 2), (200, 2500, 800)) == {0: 200, 1: 1000, 2: 800}
    assert even_split(10, (0, 1, 2), (800, 800, 800)) == {0: 4, 1: 3, 2: 3}
    assert even_split(9000, (0, 1), (800, 800)) == {0: 800, 1: 800}
    assert even_split(500, (), ()) == {}


def test_phase_power_that_is_not_a_number_counts_as_zero() -> None:
    fleet = [bat(50, math.nan), bat(50, 200), bat(50, -300)]
    plan = allocate(discharge_grid(600), fleet, stop(3), SETTINGS)
    assert powers(plan) == [0, 600, 0]
    plan = allocate(charge_grid(600), fleet, stop(3), SETTINGS)
    assert powers(plan) == [0, 0, 600]


@pytest.mark.parametrize("strategy", list(Strategy))
def test_no_batteries_no_plan(strategy: Strategy) -> None:
    plan = allocate(1500.0, [], Plan.all_stop(0), StrategySettings(strategy=strategy))
    assert plan == Plan(Mode.STOP, ())


def test_battery_near_its_cutoff_is_not_behind() -> None:
    """Narrow cutoffs: 12 points above the bottom is near the cutoff, 8 below the top is not
    a reason to hold the others back."""
    fleet = [bat(32, charge_cutoff=40.0, discharge_cutoff=20.0), bat(70)]
    plan = allocate(discharge_grid(600), fleet, stop(2), SETTINGS)
    assert powers(plan) == [0, 600]
    assert reasons(plan) == [Reason.NEAR_CUTOFF, Reason.STARTED_BY_PHASE]


def test_dead_band_not_for_a_running_battery_released_near_its_cutoff() -> None:
    """Released near its cutoff it still runs (as in the seed): 20 W carry on."""
    fleet = [bat(20)]
    previous = plan_of((Mode.DISCHARGE, 100))
    grid = discharge_grid(20) - 100 * SETTINGS.discharge_release_factor
    plan = allocate(grid, fleet, previous, SETTINGS)
    assert plan.setpoints[0] == Setpoint(Mode.DISCHARGE, 20, Reason.NEAR_CUTOFF)


def test_phase_label_keeps_two_phases_with_equal_power_apart() -> None:
    """L1 and L2 both import 1000 W: after a battery starts on L1, L2 needs more than L1."""
    fleet = [
        bat(50, 1000, phase="L1"),
        bat(50, 1000, phase="L1"),
        bat(50, 1000, phase="L2"),
    ]
    plan = allocate(discharge_grid(1600), fleet, stop(3), SETTINGS)
    assert powers(plan) == [800, 0, 800]


def test_without_phase_labels_equal_phase_power_is_one_phase() -> None:
    """No label: batteries that report the same phase power share a phase (as before)."""
    fleet = [bat(50, 1000), bat(50, 1000), bat(50, 1000)]
    plan = allocate(discharge_grid(1600), fleet, stop(3), SETTINGS)
    assert powers(plan) == [800, 800, 0]


@pytest.mark.parametrize(
    "settings", [SETTINGS, EQUAL, StrategySettings(strategy=Strategy.EFFICIENCY)]
)
def test_unavailable_battery_power_is_not_released_into_the_demand(
    settings: StrategySettings,
) -> None:
    """A board that drops out may still run its last setpoint: the meter already shows it.

    Battery 1 was discharging 800 W and goes unavailable; the grid is balanced (0 W). Adding
    its 800 W back to the demand would make the others discharge 800 W on top of it.
    """
    previous = plan_of((Mode.DISCHARGE, 800), (Mode.STOP, 0), (Mode.STOP, 0))
    batteries = [bat(80, available=False), bat(70), bat(60)]
    plan = allocate(0.0, batteries, previous, settings)
    assert powers(plan) == [0, 0, 0]
    assert plan.setpoints[0].reason is Reason.UNAVAILABLE
