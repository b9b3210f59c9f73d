"""The fault suite (bench/faults.py): the integration's strategies never run on bad information."""

from __future__ import annotations

from bench import faults
from bench.__main__ import main


def test_integration_strategy_never_runs_on_bad_information() -> None:
    figures = faults.suite(("priority", "seed"))
    bad = {(f.controller, f.fault): f.bad_battery_s for f in figures}
    assert all(bad[("priority", fault.name)] == 0 for fault in faults.FAULTS)
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


def test_cli_faults_json(capsys: object) -> None:
    assert main(["--faults", "--json", "--controller", "equal"]) == 0
