"""The meter pace in the bench (issue 22): its targets and the step scenarios."""

from __future__ import annotations

import pytest

from bench import report, steps
from bench.controllers.inflight_ctl import InFlightController


# ----------------------------------------------------------------------------- report
def _fig(avoidable: float, writes: int) -> dict[str, object]:
    return {"avoidable_kwh": avoidable, "writes": writes, "conversion_loss_kwh": 1.0}


def test_meter_targets_judge_avoidable_and_writes_on_the_suite_sums() -> None:
    def day(meter_avoidable: float, meter_writes: int) -> dict[str, dict[str, object]]:
        return {
            "busy": {
                "efficiency": _fig(1.5, 1000),
                "efficiency_meter": _fig(meter_avoidable, meter_writes),
                "meter_1s": _fig(1.0, 5000),
            },
            # Weighs by its sums, not as a scenario of its own: 0.01 / 0.001 would be 10 x.
            "quiet": {
                "efficiency": _fig(0.0, 100),
                "efficiency_meter": _fig(0.01, 100),
                "meter_1s": _fig(0.001, 100),
            },
        }

    runs = {0: day(1.05, 1300), 100: day(1.07, 1400)}
    checks = {c["target"]: c for c in report.meter_targets(runs)}
    avoidable = checks["meter pace (efficiency_meter) avoidable <= 1.15 x meter_1s"]
    assert avoidable["value"] == pytest.approx(((1.06 / 1.001) + (1.08 / 1.001)) / 2, abs=1e-4)
    assert avoidable["met"] is True
    writes = checks["meter pace (efficiency_meter) writes <= 1.5 x efficiency's"]
    assert writes["value"] == pytest.approx((1400 / 1100 + 1500 / 1100) / 2, abs=1e-4)
    assert writes["met"] is True
    assert writes["scope"] == "suite"
    many = {0: day(1.05, 2000), 100: day(1.05, 2100)}
    checks = {c["target"]: c for c in report.meter_targets(many)}
    assert checks["meter pace (efficiency_meter) writes <= 1.5 x efficiency's"]["met"] is False


def test_meter_targets_say_not_run_without_the_controller() -> None:
    runs = {0: {"s": {"efficiency": _fig(1.0, 10), "meter_1s": _fig(1.0, 10)}}}
    checks = {c["target"]: c for c in report.meter_targets(runs)}
    assert checks["meter pace (efficiency_meter) avoidable <= 1.15 x meter_1s"]["met"] is None
    assert (
        "not run" in checks["meter pace (efficiency_meter) avoidable <= 1.15 x meter_1s"]["detail"]
    )


def test_step_targets_miss_on_any_reversal_of_a_plant() -> None:
    figures = [
        steps.StepFigures("efficiency_meter", "nominal", 1.0, 0, 0.1, 10).as_dict(),
        steps.StepFigures("efficiency_meter", "nominal", 5.0, 0, 0.1, 10).as_dict(),
        steps.StepFigures("efficiency_meter", "slow", 1.0, 2, 0.2, 10).as_dict(),
        steps.StepFigures("efficiency_meter", "slow", 5.0, 0, 0.2, 10).as_dict(),
    ]
    checks = {c["scope"]: c for c in report.step_targets(figures)}
    assert checks["steps/nominal"]["met"] is True
    assert checks["steps/slow"]["met"] is False
    assert checks["steps/slow"]["value"] == 2
    assert report.step_targets([])[0]["met"] is None


# ----------------------------------------------------------------------------- steps
def test_step_houses_hold_each_level_for_its_seconds() -> None:
    house = steps.house_of(((500, 3), (-200, 2)))
    net = house.net(0)
    assert list(net) == [500.0, 500.0, 500.0, -200.0, -200.0]
    assert steps.random_steps(1) == steps.random_steps(1)  # fixed houses
    assert all(20 <= s <= 120 for _, s in steps.random_steps(1)[:-1])


def test_the_step_scenarios_find_the_ringing_of_a_short_cycle_on_the_slow_plant() -> None:
    """The counter can fail: 2 s cycles with the default response ring on the slow plant."""
    slow = steps.PLANTS["slow"]
    ringing = sum(
        steps.reversals(InFlightController("efficiency", 2.0, align=True), slow, 1.0, h)[0]
        for h in steps.HOUSES
    )
    calm, _, writes = steps.reversals(InFlightController("efficiency", 6.5), slow, 1.0, steps.STEPS)
    assert ringing > 0
    assert calm == 0
    assert writes > 0
