"""The fault suite (bench/faults.py): the integration's strategies never run on bad information."""

from __future__ import annotations

from itertools import pairwise
import json
from typing import Any

import pytest

from bench import faults
from bench.__main__ import main


def test_integration_strategy_never_runs_on_bad_information() -> None:
    figures = faults.suite(("priority", "seed"), intervals=(6.5, 2.0))
    met, detail = faults.verdict(figures)
    assert met, detail
    assert {f.interval_s for f in figures if f.controller == "priority"} == {6.5, 2.0}
    bad = {(f.controller, f.fault): f.bad_battery_s for f in figures}
    assert all(
        f.bad_battery_s == 0 and f.plan_over_s == 0 for f in figures if f.controller == "priority"
    )
    # the seed acts on a frozen, dropped or impossible meter (the figure the README gives)
    assert bad[("seed", "meter_spike")] > 1000
    assert bad[("seed", "meter_freeze")] > 0
    spike = next(f for f in figures if f.controller == "seed" and f.fault == "meter_spike")
    assert spike.extra_import_kwh > 1.0  # it charged from the grid at full power
    assert "meter_spike" in faults.table(figures)


def test_point_faults_happen(capsys: object) -> None:
    """Each board fault changes what the fullest battery does (else it tests nothing)."""
    name, start_h, hours = faults.SCENARIO
    scenario = faults.window(faults.by_name(name), start_h, hours)
    house = faults.build_house(faults.resolve(scenario))
    for fault_name in ("self_start", "reboot"):
        fault = next(f for f in faults.FAULTS if f.name == fault_name)
        sim = faults.FaultSim(scenario, house, fault)
        before = sim.boards[sim.target].setpoint_w
        sim.second(faults.START_S)
        assert sim.boards[sim.target].setpoint_w != before or fault_name == "reboot"
        if fault_name == "reboot":
            assert sim.rs485_state(sim.target) == "unknown"


def _sim(name: str) -> faults.FaultSim:
    fault = next(f for f in faults.FAULTS if f.name == name)
    scenario, _fuse = faults.CASES[fault.case]
    return faults.FaultSim(scenario, faults.build_house(faults.resolve(scenario)), fault)


def test_the_review_faults_bite() -> None:
    """Issue 18: the AC sensor reads the other sign; the dropped board is the one discharging
    most on L1, its entities are unavailable, its writes fail and it runs on."""
    sim = _sim("opposite_ac")
    sim.now = faults.START_S + 1.0
    sim.batteries[sim.target].reported_ac_power_w = 2400
    assert sim.ac_power(sim.target) == -2400.0
    sim.write(sim.target, "rs485_enable", "enable")
    sim.write(sim.target, "discharge_power", 2500)
    sim.write(sim.target, "mode", "discharge")
    assert sim.ac_contradicts(sim.target)
    sim.batteries[sim.target].reported_ac_power_w = 90  # below the read-back's threshold
    assert not sim.ac_contradicts(sim.target)

    sim = _sim("dropout_at_limit")
    for i, watts in enumerate((800, 2500, 1200)):
        for kind, value in (("rs485_enable", "enable"), ("discharge_power", watts)):
            sim.write(i, kind, value)
        sim.write(i, "mode", "discharge")
    sim.second(faults.START_S)
    sim.now = faults.START_S + 1.0
    assert sim.target == 1
    assert sim.offline == {1}
    assert sim.ac_power(1) is None
    assert sim.ac_reading(1) is None
    try:
        sim.write(1, "mode", "stop")
    except faults.BoardOfflineError:
        pass
    else:
        raise AssertionError("a write to an offline board went through")
    assert sim.boards[1].setpoint_w == 2500  # it runs on


def test_a_battery_stopped_and_restarted_on_the_same_bad_information_counts() -> None:
    """Short stops do not end a stretch of bad information (the pre-fix 2 s reversals)."""
    sim = _sim("opposite_ac")
    counter = faults.BadInformation(lambda _sim, _i: "discharge", grace_s=32.0)
    board = sim.boards[sim.target]
    sim.write(sim.target, "rs485_enable", "enable")
    for k in range(faults.START_S, faults.START_S + 120):
        sim.now = float(k + 1)
        running = k % 10 < 7  # 7 s running, 3 s stopped, again and again
        sim.write(sim.target, "discharge_power", 2000 if running else 0)
        sim.write(sim.target, "mode", "discharge")
        sim.batteries[sim.target].reported_ac_power_w = round(board.setpoint_w)
        counter.second(sim, k)
    assert counter.battery_s > 0


def test_cli_faults_json(capsys: Any) -> None:
    assert main(["--faults", "--json", "--controller", "crossover"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert {"faults", "met", "detail"} <= set(doc)
    assert {f["fault"] for f in doc["faults"]} == {f.name for f in faults.FAULTS}


def test_the_meter_pace_never_runs_on_bad_information() -> None:
    """A frozen meter stops reporting: the meter pace's timer still runs the cycle that stops
    the batteries; a battery dropping off at its phase limit is handled as at 6.5 s."""
    chosen = tuple(f for f in faults.FAULTS if f.name in ("meter_freeze", "dropout_at_limit"))
    figures = faults.suite(("efficiency_meter",), faults=chosen)
    met, detail = faults.verdict(figures)
    assert met, detail
    assert {f.interval_s for f in figures} == {None}  # its own pace, once
    assert len(figures) == 2
    assert "efficiency_meter" in faults.table(figures)


def test_the_guarded_meter_pace_cycles_on_reports_and_on_its_timer_when_frozen() -> None:
    scenario, _fuse = faults.CASES["evening"]
    house = faults.build_house(faults.resolve(scenario))
    freeze = next(f for f in faults.FAULTS if f.name == "meter_freeze")
    starts: list[float] = []

    class Recorded(faults.GuardedMeterController):
        def _cycle(self, sim: faults.FaultSim) -> float:
            starts.append(sim.now)
            return super()._cycle(sim)

    faults.run(
        scenario,
        faults.Tolerant(Recorded()),
        house,
        sim_factory=lambda s, h: faults.FaultSim(s, h, freeze),
    )
    inside = [t for t in starts if faults.START_S + 10 < t < faults.START_S + faults.LENGTH_S]
    before = [t for t in starts if t < faults.START_S]
    # Before the fault: on the 1 s meter's reports (2 s apart at the least); frozen: the
    # 6.5 s timer alone.
    assert len(before) > faults.START_S / 4
    assert all(b - a == pytest.approx(6.5) for a, b in pairwise(inside))
