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


def readings_of(sim: Sim, known_tables: bool = False) -> list[Any]:
    """The engine's view of every battery: reported (whole %) SoC, settings, phase power.

    known_tables: each battery's reading carries its plant's efficiency table (what learning
    the tables would give the engine); otherwise the engine uses its default model.
    """
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
            efficiency_table=sim.batteries[i].params.efficiency_table if known_tables else None,
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

    def start(self, sim: Sim) -> float:
        return 0.0

    def cycle(self, sim: Sim) -> float:
        commanded = commanded_of(sim)
        previous = self.plan if self.plan is not None else control.plan_from_commanded(commanded)
        plan = engine.allocate(
            sim.grid_w(), readings_of(sim, self.known_tables), previous, self.settings
        )
        decision = carry_out(sim, plan, commanded, self.last_keepalive, self.loop_settings)
        if decision.keepalive:
            self.last_keepalive = sim.now
        self.plan = plan
        return float(decision.delay_s)

    def second(self, sim: Sim, k: int) -> None:
        raise NotImplementedError
