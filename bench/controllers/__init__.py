"""The controllers the benchmark compares."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from bench.loop import Controller, Sim

from .bounds import IdealController, LossBoundController, Meter1sController
from .crossover import CrossoverController
from .engine_ctl import EngineController, LearnedController, strategy_available
from .peers import ASTRA_DEFAULT_M_W, AstraController, OmniController
from .seed import SeedController

ENGINE_STRATEGIES = ("priority", "equal", "efficiency")
#: The peers whose best the targets compare ``efficiency`` with.
PEERS = ("crossover", "omni", "astra")
#: Bench-only variants of the engine (what issue 22's integration side would gain):
#: ``efficiency_2s`` runs the engine every 2 s on the meter's update with the in-flight
#: estimate from each battery's AC power (inflight.py), the closest stand-in for a
#: meter-paced loop before the integration had one; ``efficiency_told`` is told the plant's
#: standby (StrategySettings).
VARIANTS = ("efficiency_2s", "efficiency_told")
#: The integration's meter pace (core/pace.py, issue 22) on the engine with the in-flight
#: estimate: ``bench/controllers/meter_pace.py``.
METER_PACE = "efficiency_meter"
ALL = (
    "priority",
    "equal",
    "efficiency",
    "seed",
    *PEERS,
    *VARIANTS,
    METER_PACE,
    "loss_bound",
    "ideal",
    "meter_1s",
)
BOUNDS = ("loss_bound", "ideal", "meter_1s")
#: What runs by default: not ``equal`` (it loses 2 to 3 points more everywhere and no target
#: is about it; ``--controller equal`` runs it), nor the bench-only variants; the meter pace
#: does (its targets), where the integration has it.
DEFAULT = (
    "priority",
    "efficiency",
    METER_PACE,
    "seed",
    *PEERS,
    "loss_bound",
    "ideal",
    "meter_1s",
)


#: Run only in the scenarios that name them (``Scenario.extra``): efficiency told each
#: battery's true table (perfect learning), and efficiency learning its tables from a cold
#: start during the day (the integration's learning, bench/learn.py's CurveLearner).
EXTRA = ("efficiency_known", "efficiency_learned")


def _tuned(name: str) -> dict[str, Any] | None:
    """The settings of ``efficiency[key=value,...]`` (a tuning run), else None."""
    if not (name.startswith("efficiency[") and name.endswith("]")):
        return None
    settings: dict[str, Any] = {}
    for part in name[len("efficiency[") : -1].split(","):
        key, _, value = part.partition("=")
        try:
            settings[key.strip()] = float(value)
        except ValueError:
            return None
    return settings


def available(name: str) -> bool:
    """Whether controller name can run (an engine strategy may not exist yet)."""
    if _tuned(name) is not None:
        return True
    if name in ENGINE_STRATEGIES:
        return strategy_available(name)
    if name == METER_PACE:
        return meter_pace_available()
    return name in ALL or name in EXTRA or _astra_m(name)


def meter_pace_available() -> bool:
    """Whether the integration has its meter pace (core/pace.py) to run."""
    from bench.core import CORE_DIR

    return (CORE_DIR / "pace.py").is_file()


def _astra_m(name: str) -> bool:
    """Whether name is astra@M with a number M (W)."""
    if not name.startswith("astra@"):
        return False
    try:
        float(name.split("@", 1)[1])
    except ValueError:
        return False
    return True


def make(name: str) -> Controller:
    """A fresh controller called name."""
    if name in ENGINE_STRATEGIES:
        return EngineController(name)
    tuned = _tuned(name)
    if tuned is not None:  # efficiency[start_cost_wh=0.5,...]: StrategySettings tuned
        controller = EngineController("efficiency", **tuned)
        controller.name = name
        return controller
    if name == "efficiency_known":
        return EngineController("efficiency", known_tables=True)
    if name == "efficiency_learned":
        return LearnedController()
    if name == "seed":
        return SeedController()
    if name == "crossover":
        return CrossoverController()
    if name == "omni":
        return OmniController()
    if name == "astra":
        return AstraController(ASTRA_DEFAULT_M_W)
    if name.startswith("astra@"):  # astra@500: another M (W)
        return AstraController(float(name.split("@", 1)[1]), name=name)
    if name == "efficiency_2s":
        from .inflight_ctl import InFlightController

        return InFlightController("efficiency", 2.0, align=True, name=name)
    if name == METER_PACE:
        from .meter_pace import MeterPaceController

        return MeterPaceController()
    if name == "meter_1s":
        return Meter1sController()
    if name == "efficiency_told":
        return _ToldStandby()
    if name == "loss_bound":
        return LossBoundController()
    if name == "ideal":
        return IdealController()
    raise KeyError(name)


def known(name: str) -> bool:
    """Whether name is a controller the bench can make (available or not yet in the engine)."""
    return name in ALL or name in EXTRA or _astra_m(name) or _tuned(name) is not None


class _ToldStandby(EngineController):
    """``efficiency`` told the plant's standby (the engine's setting, not its 7 W default)."""

    def __init__(self) -> None:
        super().__init__("efficiency")
        self.name = "efficiency_told"

    def start(self, sim: Sim) -> float:
        standby = sim.batteries[0].params.standby_w
        self.settings = replace(self.settings, standby_w=standby)
        return super().start(sim)
