"""scripts/bench --modes (bench/modes.py): short windows of its scenarios, its prices, targets."""

from __future__ import annotations

from datetime import timedelta

from bench import modes
from bench.loop import run
from bench.scenarios import window


def test_the_prices_have_the_usual_shape() -> None:
    """Cheap at night and midday, dear in the morning and evening; export earns less."""
    assert modes.CHEAP.issubset({2, 3, 4, 5, 12, 13, 14})
    assert modes.DEAR.issubset({7, 8, 17, 18, 19, 20})
    assert all(modes.export_price(h) < modes.import_price(h) for h in range(24))


def test_the_automation_asks_per_hour() -> None:
    night = modes.DAY.replace(hour=min(modes.CHEAP), minute=20)
    charge = modes.price_automation(night)
    assert charge.mode == "charge"
    assert charge.power_w == modes.FLEET_W
    assert charge.until == night.replace(minute=0) + timedelta(hours=1)
    assert modes.price_automation(night.replace(hour=min(modes.DEAR))).mode == "zero"
    assert modes.price_automation_export(night.replace(hour=min(modes.DEAR))).mode == "discharge"
    assert modes.price_automation(night.replace(hour=10)).mode == "hold"


def test_a_capped_hold_shaves_the_cooking_peak() -> None:
    """Half an hour of the evening's cooking: with the cap the import stays under it."""
    scenario = window(modes.FLEMISH_EVENING, 18.0, 0.5)
    capped = modes.ModeController("cap", modes.evening_planner, cap_w=2500.0)
    metered = modes.Metered(18.0)
    run(scenario, capped, observe=metered)
    free = modes.Metered(18.0)
    run(scenario, modes.ModeController("free", modes.evening_planner), observe=free)
    capped_peak = max(metered.quarters.values()) / 900
    free_peak = max(free.quarters.values()) / 900
    assert capped_peak <= 2500.0
    assert free_peak > capped_peak + 1000  # hold alone does not discharge
    assert capped.peak.month_peak_w <= 2500.0  # the integration's meter agrees


def test_targets_read_the_figures() -> None:
    day = {
        "runs": {
            "zero": {"cost_with_stored_eur": 8.0, "cost_eur": 7.5},
            "automation": {"cost_with_stored_eur": 7.0, "cost_eur": 7.2},
        }
    }
    evening = {
        "cap_checks": {
            "planner_cap": {
                "coverable_quarters": 3,
                "quarters": 4,
                "over_cap_on_coverable": ["18:15"],
                "worst_coverable_kw": 2.6,
            }
        }
    }
    cap, price = modes.targets(day, evening)
    assert not cap["met"]
    assert "18:15" in cap["detail"]
    assert price["met"]
