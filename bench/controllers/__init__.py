"""The controllers the benchmark compares."""

from __future__ import annotations

from bench.loop import Controller

from .bounds import IdealController, LossBoundController
from .crossover import CrossoverController
from .engine_ctl import EngineController, strategy_available
from .seed import SeedController

ENGINE_STRATEGIES = ("priority", "equal", "efficiency")
ALL = ("priority", "equal", "efficiency", "seed", "crossover", "loss_bound", "ideal")
BOUNDS = ("loss_bound", "ideal")
#: What runs by default: not ``equal`` (it loses 2 to 3 points more everywhere and no target
#: is about it; ``--controller equal`` runs it).
DEFAULT = ("priority", "efficiency", "seed", "crossover", "loss_bound", "ideal")


#: Run only in the scenarios that name them (``Scenario.extra``): efficiency told each
#: battery's true table, as the next issue's learning would.
EXTRA = ("efficiency_known",)


def available(name: str) -> bool:
    """Whether controller name can run (an engine strategy may not exist yet)."""
    if name in ENGINE_STRATEGIES:
        return strategy_available(name)
    return name in ALL or name in EXTRA


def make(name: str) -> Controller:
    """A fresh controller called name."""
    if name in ENGINE_STRATEGIES:
        return EngineController(name)
    if name == "efficiency_known":
        return EngineController("efficiency", known_tables=True)
    if name == "seed":
        return SeedController()
    if name == "crossover":
        return CrossoverController()
    if name == "loss_bound":
        return LossBoundController()
    if name == "ideal":
        return IdealController()
    raise KeyError(name)
