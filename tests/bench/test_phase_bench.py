"""The benchmark's phase scenarios (bench/phases.py): the monitor, and one short window."""

from __future__ import annotations

from array import array
from dataclasses import replace

from bench import phases
from bench.scenarios import window


def test_monitor_counts_only_what_the_batteries_add() -> None:
    """Beyond the limit by the house alone: not counted; made worse: counted; after a step of
    the house towards the limit: a reaction second."""
    limits = phases.model.PhaseLimits.from_fuse(25.0, 0.0)
    flat = array("d", [1000.0] * 40)
    busy = array("d", [6000.0] * 40)
    step = array("d", [1000.0] * 10 + [4000.0] * 30)
    monitor = phases.PhaseMonitor(limits, (flat, busy, step))
    monitor(5, [6000.0, 6000.0, 1000.0])  # L1 made worse by batteries; L2 the house's own
    monitor(12, [0.0, 6500.0, 6000.0])  # L2 made worse; L3 right after the house's step
    assert monitor.over_s == [1, 2, 1]
    assert monitor.caused_s == [1, 1, 1]
    assert monitor.reaction_s == [0, 0, 1]
    assert monitor.worst_w[0] == 6000.0 - limits.import_w
    monitor(3, [-6000.0, 0.0, 0.0])  # export beyond the limit
    assert monitor.caused_s[0] == 2


def test_a_phase_scenario_window() -> None:
    """Cooking on L2 and L3 with the batteries on L1: without limits they overload L1, with
    them the plan never does, and the held-back energy is counted."""
    case = phases.PHASE_SCENARIOS[1]
    case = replace(case, scenario=window(case.scenario, 17.0, 1.0))
    out = phases._job((case, ("priority",)))
    limited, free = out["controllers"]["priority"], out["controllers"]["priority/free"]
    assert limited["plan_s"] == 0
    assert free["plan_s"] > 0
    assert limited["held_back_kwh"] > 0
    text = phases.table([out])
    assert "priority/free" in text
    assert phases.verdict([out])[0]
    assert not phases.verdict([{**out, "controllers": {"priority": free}}])[0]
