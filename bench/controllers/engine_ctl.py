"""The integration's own strategies, run through its own loop policy (imported, not copied)."""

from __future__ import annotations

import math
from typing import Any

from bench.core import control, engine
from bench.loop import Sim


def commanded_of(sim: Sim) -> list[Any]:
    """What the LilyGo entities say now, as the coordinator reads them."""
    return [
        control.Commanded(
            mode=engine.Mode(board.mode),
            charge_w=board.charge_w,
            discharge_w=board.discharge_w,
            rs485_enabled=board.rs485_enabled,
        )
        for board in sim.boards
    ]


def readings_of(sim: Sim, known_tables: bool = False, tables: Any = None) -> list[Any]:
    """The engine's view of every battery: reported (whole %) SoC, settings, phase power.

    known_tables: each battery's reading carries its plant's efficiency table (what learning
    the tables would give the engine); tables: an object whose ``table(i)`` gives battery i's
    learned table (None: not yet); otherwise the engine uses its default model.
    """

    def table_of(i: int) -> Any:
        if known_tables:
            return sim.batteries[i].params.efficiency_table
        return tables.table(i) if tables is not None else None

    return [
        engine.BatteryReading(
            soc=float(sim.soc(i)),
            charge_cutoff=setup.charge_cutoff,
            discharge_cutoff=setup.discharge_cutoff,
            max_charge_w=setup.max_charge_w,
            max_discharge_w=setup.max_discharge_w,
            phase_w=sim.phase_w(i),
            # As the coordinator: the phase's name where it has a phase sensor.
            phase=setup.phase if sim.scenario.phase_count == 3 else None,
            efficiency_table=table_of(i),
        )
        for i, setup in enumerate(sim.setups)
    ]


def carry_out(
    sim: Sim, plan: Any, commanded: list[Any], last_keepalive: float, settings: Any
) -> Any:
    """Run the loop policy on plan and write its writes to the boards; return the decision."""
    decision = control.decide(
        plan, commanded, [True] * len(sim.boards), sim.now - last_keepalive, settings
    )
    for write in decision.writes:
        sim.write(write.battery, str(write.kind), write.value)
    return decision


def strategy_available(name: str) -> bool:
    """Whether the engine implements strategy name (not just names it)."""
    strategies = getattr(engine, "STRATEGIES", None)
    try:
        strategy = engine.Strategy(name)
    except ValueError:
        return False
    return strategies is None or strategy in strategies


class EngineController:
    """engine.allocate + control.decide, as the integration's coordinator runs them."""

    per_second = False

    def __init__(self, strategy: str, *, known_tables: bool = False, **settings: Any) -> None:
        self.name = f"{strategy}_known" if known_tables else strategy
        self.known_tables = known_tables
        self.settings = engine.StrategySettings(strategy=engine.Strategy(strategy), **settings)
        self.loop_settings = control.LoopSettings()
        self.plan: Any = None
        self.last_keepalive = -math.inf
        self.tables: Any = None  # a learner of the tables (``LearnedController``)

    def start(self, sim: Sim) -> float:
        return 0.0

    def cycle(self, sim: Sim) -> float:
        commanded = commanded_of(sim)
        previous = self.plan if self.plan is not None else control.plan_from_commanded(commanded)
        if self.tables is not None:
            self.tables.observe(sim)
        readings = readings_of(sim, self.known_tables, self.tables)
        plan = engine.allocate(sim.grid_w(), readings, previous, self.settings)
        decision = carry_out(sim, plan, commanded, self.last_keepalive, self.loop_settings)
        if decision.keepalive:
            self.last_keepalive = sim.now
        self.plan = plan
        return float(decision.delay_s)

    def second(self, sim: Sim, k: int) -> None:
        raise NotImplementedError


class LearnedController(EngineController):
    """``efficiency`` with curves learned from a cold start during the run, as the integration
    learns them (``learning.BatteryLearner`` per battery fed steady samples of the AC power as
    polled and the DC power, both with 1 % noise; tables refreshed every 15 min:
    ``bench.learn.CurveLearner``). A fresh installation: nothing learned at the start.
    """

    def __init__(self) -> None:
        super().__init__("efficiency")
        self.name = "efficiency_learned"

    def start(self, sim: Sim) -> float:
        from bench.learn import CurveLearner  # bench.learn imports the controllers

        self.tables = CurveLearner(len(sim.boards))
        return super().start(sim)
