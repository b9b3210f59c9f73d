"""The controllers the benchmark compares."""

from __future__ import annotations

from bench.loop import Controller

from .crossover import CrossoverController
from .engine_ctl import EngineController, strategy_available
from .oracle import OracleController
from .seed import SeedController

ENGINE_STRATEGIES = ("priority", "equal", "efficiency")
ALL = ("priority", "equal", "efficiency", "seed", "crossover", "oracle")


def available(name: str) -> bool:
    """Whether controller name can run (an engine strategy may not exist yet)."""
    if name in ENGINE_STRATEGIES:
        return strategy_available(name)
    return name in ALL


def make(name: str) -> Controller:
    """A fresh controller called name."""
    if name in ENGINE_STRATEGIES:
        return EngineController(name)
    if name == "seed":
        return SeedController()
    if name == "crossover":
        return CrossoverController()
    if name == "oracle":
        return OracleController()
    raise KeyError(name)
