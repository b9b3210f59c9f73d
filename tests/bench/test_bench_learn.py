"""Issue 12's benchmark (bench/learn.py): plants, the learner on the simulator, the CLI."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bench import learn
from bench.__main__ import main as bench_main
from bench.controllers.inflight_ctl import (
    IdealController,
    InFlightController,
    meter_aligned_delay,
    meter_updates,
    next_meter_update,
)
from bench.learn import RULES
from bench.loop import Sim, run
from bench.scenarios import by_name, window
from bench.sim.battery import MEASURED_EFFICIENCY
from bench.sim.house import build_house


def test_plant_tables() -> None:
    worse = learn.shifted(MEASURED_EFFICIENCY, 0.05)
    assert worse[0][1] == pytest.approx(MEASURED_EFFICIENCY[0][1] - 0.05)
    low = learn.low_power_worse(MEASURED_EFFICIENCY)
    assert low[0][1] < MEASURED_EFFICIENCY[0][1]
    assert low[-1] == pytest.approx(MEASURED_EFFICIENCY[-1])
    moved = learn.power_shifted(MEASURED_EFFICIENCY, 2.0)
    assert moved[0][0] == 2 * MEASURED_EFFICIENCY[0][0]
    assert learn.interp(MEASURED_EFFICIENCY, 0, 1) == MEASURED_EFFICIENCY[0][1]
    assert learn.interp(MEASURED_EFFICIENCY, 9999, 2) == MEASURED_EFFICIENCY[-1][2]
    assert learn.interp(MEASURED_EFFICIENCY, 94, 1) == pytest.approx(
        (MEASURED_EFFICIENCY[0][1] + MEASURED_EFFICIENCY[1][1]) / 2
    )
    assert learn.fast_reversals([100, -100, 100], follow_s=5) == 1


def test_learner_on_the_simulator_sees_a_worse_battery() -> None:
    worse = learn.shifted(MEASURED_EFFICIENCY, 0.05)
    fleet = learn.Fleet("t", "battery 0 five points worse", (worse, *learn.FLEETS[0].tables[:2]))
    scenario = learn.with_fleet(window(by_name("cloudy"), 11.0, 1.0), fleet)
    tables = learn.LearningTables(3, refresh_s=600)
    tables.fleet = fleet
    # No start cost: every battery takes turns in this hour, so each one is learned.
    controller = InFlightController(tables=tables, start_cost_wh=0.0)
    run(scenario, controller, build_house(scenario.house))
    errors = tables.history[-1]["error_points"]
    assert errors[0] < 4.5  # moving from the default (5 points off) toward the truth
    assert all(0.0 <= share < 1.0 for share in tables.history[-1]["measured"])
    learned = tables.learners[0].table()
    # PV time: it charges, and every charge row moves down (the evidence is spread).
    assert all(
        row[1] < default[1] for row, default in zip(learned, MEASURED_EFFICIENCY, strict=True)
    )


def test_ideal_reaction_tracks_at_least_as_well() -> None:
    scenario = window(by_name("evening"), 17.0, 0.5)
    house = build_house(scenario.house)
    real = run(scenario, InFlightController("efficiency", 6.5), house)
    ideal = run(scenario, IdealController("efficiency", 6.5), house)
    assert ideal.avoidable_kwh <= real.avoidable_kwh
    aligned = run(scenario, InFlightController("efficiency", 2.0, align=True, use_ac=False), house)
    assert aligned.cycles > real.cycles
    sim = Sim(scenario, house)
    sim.now = 10.3
    assert meter_aligned_delay(sim, 2.0) == pytest.approx(1.75)


def test_cli_runs_both_benchmarks(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "figures.json"
    argv = ["--learn", "--interval", "2", "--variants", "--ideal-all", "--scenario", "night"]
    argv += ["--window", "1", "0.1", "--fleet", "drift", "--jobs", "1", "--json", str(out)]
    assert bench_main(argv) == 0
    doc = json.loads(out.read_text())
    assert {o["name"] for o in doc["tracking"]} == {
        "night@1h+0.1h",
        "night@1h+0.1h/slow",
        "night@1h+0.1h/poll5",
    }
    assert len(doc["learning"]) == 1
    printed = capsys.readouterr().out
    assert "avoidable grid energy" in printed
    assert "learned curve error" in printed


def test_cli_rules_and_crossover(tmp_path: Path) -> None:
    """--rules runs the meter-age rules at 6.5 s; --learn compares with crossover."""
    out = tmp_path / "figures.json"
    argv = ["--learn", "--interval", "6.5", "--rules", "--causes", "--scenario", "evening"]
    argv += ["--window", "18", "0.05", "--fleet", "one_worse", "--jobs", "1", "--json", str(out)]
    assert bench_main(argv) == 0
    doc = json.loads(out.read_text())
    names = set(doc["tracking"][0]["controllers"])
    assert "efficiency" not in names  # today's loop is not rerun
    assert {f"efficiency+inflight+{r}@6.5s" for r in RULES} <= names
    assert {"efficiency+ideal-1s@6.5s", "efficiency+model@6.5s"} <= names
    assert all("cycles_run" in f for f in doc["tracking"][0]["controllers"].values())
    assert "crossover" in doc["learning"][0]["controllers"]


def test_meter_updates_are_the_last_samples_with_their_times() -> None:
    scenario = window(by_name("evening"), 18.0, 0.05)
    sim = Sim(scenario, build_house(scenario.house))
    for k in range(12):
        sim.meter.record([float(k), 0.0, 0.0])
    sim.now = 12.3
    assert meter_updates(sim) == [(9.5, 9.0), (10.5, 10.0), (11.5, 11.0)]
    sim.meter.poll_s = 5.0
    assert meter_updates(sim) == [(4.5, 4.0), (9.5, 9.0)]  # the poll's last seconds
    assert next_meter_update(sim) == pytest.approx(15.05 - 12.3)
