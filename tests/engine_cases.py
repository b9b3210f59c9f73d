"""Seeded random engine cycles and their plans, for the differential test of engine.py.

``cases(seed, count)`` yields the inputs of ``count`` cycles as plain values (chains where
the previous plan is the last result, and cycles with a random plan in force, over random
fleets, tables, caps, states of charge, phase limits and settings); ``run(engine, ...)``
turns them into one compact line per cycle with any engine module. The fixture
``engine_plans_c404c9c.json`` holds the lines of the engine at commit c404c9c, recorded with

    .venv/bin/python -m tests.engine_cases RECORD_ENGINE_DIR

where RECORD_ENGINE_DIR holds that commit's engine.py and phase_limits.py, the latter with
one deliberate change since: a battery's in-flight estimate (``delivered_w``), where it has
one, counts in its phase's power instead of its command in force (a 2 s loop otherwise let a
phase exceed its fuse while power was still on its way).
"""

from __future__ import annotations

from collections.abc import Iterator
import importlib.machinery
import importlib.util
import json
import math
from pathlib import Path
import random
import sys
from types import ModuleType
from typing import Any

FIXTURE = Path(__file__).parent / "engine_plans_c404c9c.json"
#: (seed, cycles) of the recorded runs.
RUNS = ((1, 1000), (2, 1000), (3, 1000))

_BASE = (
    (63.0, 0.603, 0.750),
    (125.0, 0.772, 0.738),
    (250.0, 0.885, 0.856),
    (375.0, 0.922, 0.885),
    (500.0, 0.938, 0.898),
    (750.0, 0.949, 0.909),
    (1000.0, 0.955, 0.912),
    (1500.0, 0.954, 0.909),
    (2000.0, 0.950, 0.901),
    (2500.0, 0.944, 0.893),
)


def _table(rng: random.Random) -> tuple[tuple[float, float, float], ...] | None:
    """A battery's table: none, the default, a shifted one or a random (maybe non-convex) one."""
    kind = rng.random()
    if kind < 0.3:
        return None
    if kind < 0.4:
        return _BASE
    if kind < 0.8:
        drop = rng.choice((0.0, 0.007, 0.014, 0.05, rng.uniform(0.0, 0.06)))
        shift = rng.choice((1.0, 1.03, 1.09, rng.uniform(0.8, 1.2)))
        return tuple(
            (round(ac * shift, 1), charge - drop, discharge - drop)
            for ac, charge, discharge in _BASE
        )
    rows = sorted(rng.sample(range(20, 3200), rng.randint(1, 8)))
    return tuple(
        (float(ac) + rng.choice((0.0, 0.5, 0.25)), rng.uniform(0.5, 0.97), rng.uniform(0.5, 0.97))
        for ac in rows
    )


def _clean(rng: random.Random, table: Any) -> dict[str, Any]:
    """A battery in the middle of its range, available and allowed both ways."""
    return {
        "soc": round(rng.uniform(27.0, 84.0), 1),
        "charge_cutoff": 100.0,
        "discharge_cutoff": 12.0,
        "max_charge_w": rng.choice((2500, 2500, 800, 1200, rng.randint(300, 3000))),
        "max_discharge_w": rng.choice((2500, 2500, 800, 1200, rng.randint(300, 3000))),
        "phase_w": rng.uniform(-4000.0, 4000.0),
        "efficiency_table": table,
        "phase": rng.choice(("L1", "L2", "L3", None)),
    }


def _battery(rng: random.Random, table: Any) -> dict[str, Any]:
    """A battery anywhere: near or beyond its cutoffs, unavailable, not allowed, no max."""
    charge_cutoff = rng.choice((100.0, 100.0, 95.0, rng.uniform(60.0, 100.0)))
    discharge_cutoff = rng.choice((12.0, 12.0, 10.0, rng.uniform(0.0, 40.0)))
    soc = rng.choice(
        (
            rng.uniform(0.0, 100.0),
            rng.uniform(0.0, 100.0),
            charge_cutoff - rng.uniform(-1.0, 20.0),
            discharge_cutoff + rng.uniform(-1.0, 20.0),
            rng.uniform(94.0, 100.0),
        )
    )
    if rng.random() < 0.02:
        soc = math.nan
    return {
        "soc": round(soc, 1),
        "charge_cutoff": charge_cutoff,
        "discharge_cutoff": discharge_cutoff,
        "max_charge_w": rng.choice((2500, 2500, 800, 1200, 0, rng.randint(1, 3000))),
        "max_discharge_w": rng.choice((2500, 2500, 800, 1200, 0, rng.randint(1, 3000))),
        "phase_w": rng.choice((rng.uniform(-4000.0, 4000.0), 0.0, math.nan)),
        "available": rng.random() > 0.03,
        "allow_charge": rng.random() > 0.05,
        "allow_discharge": rng.random() > 0.05,
        "efficiency_table": table,
        "phase": rng.choice(("L1", "L2", "L3", None)),
        "delivered_w": rng.uniform(-2600.0, 2600.0) if rng.random() < 0.1 else None,
    }


def _fleet(rng: random.Random) -> list[dict[str, Any]]:
    n = rng.randint(1, 8)
    style = rng.random()
    shared = _table(rng)
    tables = [
        shared if style < 0.4 else _table(rng) if style < 0.8 else rng.choice((shared, _BASE))
        for _ in range(n)
    ]
    messy = rng.random() < 0.35
    return [
        _battery(rng, table) if messy and rng.random() < 0.5 else _clean(rng, table)
        for table in tables
    ]


def _settings(rng: random.Random) -> dict[str, Any]:
    settings: dict[str, Any] = {
        "strategy": rng.choice(("efficiency",) * 8 + ("priority", "equal")),
    }
    if rng.random() < 0.3:
        settings["hysteresis_w"] = rng.choice((0.0, 5.0, 20.0, rng.uniform(0.0, 30.0)))
    if rng.random() < 0.3:
        settings["standby_w"] = rng.choice((0.0, 7.0, rng.uniform(0.0, 15.0)))
    if rng.random() < 0.2:
        settings["join_w"] = rng.choice((0, 100, 250, 2500))
    if rng.random() < 0.1:
        settings["dead_band_w"] = rng.choice((0, 30, 100))
    if rng.random() < 0.2:
        settings["phase_limits"] = (
            rng.uniform(1500.0, 6000.0),
            rng.uniform(500.0, 6000.0),
            rng.choice((0.0, 200.0)),
        )
    return settings


def _random_plan(rng: random.Random, n: int) -> list[tuple[str, int]]:
    if rng.random() < 0.05:
        n = max(0, n + rng.choice((-1, 1)))
    mode = rng.choice(("charge", "discharge"))
    return [
        (mode, rng.randint(1, 2600))
        if rng.random() < 0.6
        else ("stop", 0)
        if rng.random() < 0.9
        else (rng.choice(("charge", "discharge")), rng.randint(0, 3000))
        for _ in range(n)
    ]


def cases(seed: int, count: int) -> Iterator[dict[str, Any]]:
    """Yield count cycles' inputs; previous None: the last result is the plan in force."""
    rng = random.Random(seed)
    made = 0
    while made < count:
        fleet = _fleet(rng)
        settings = _settings(rng)
        scale = 1300.0 * len(fleet) * rng.choice((0.5, 1.0, 1.0, 2.0))
        grid = rng.uniform(-scale, scale)
        chained = rng.random() < 0.7
        for k in range(rng.randint(1, 40)):
            jump = rng.random()
            if jump < 0.1:
                grid = rng.uniform(-scale, scale)
            elif jump < 0.15:
                grid = rng.uniform(-60.0, 60.0)
            elif jump < 0.152:
                grid = rng.choice((math.nan, math.inf))
            else:
                grid = (grid if math.isfinite(grid) else 0.0) + rng.gauss(0.0, 300.0)
            if k and rng.random() < 0.1:
                index = rng.randrange(len(fleet))
                fleet[index] = {**fleet[index], "soc": round(rng.uniform(0.0, 100.0), 1)}
            previous = None if chained and k else _random_plan(rng, len(fleet))
            yield {
                "grid_w": round(grid, 2),
                "fleet": [dict(b) for b in fleet],
                "previous": previous,
                "settings": settings,
            }
            made += 1
            if made >= count:
                return


def _line(plan: Any) -> str:
    """One plan as a compact line: mode, then power:reason per battery."""
    parts = [str(plan.mode.value)]
    parts += [f"{s.mode.value[0]}{s.power_w}:{s.reason.value}" for s in plan.setpoints]
    return " ".join(parts)


def run(engine: Any, seed: int, count: int) -> Iterator[str]:
    """Yield each case's plan from engine, as a line (chains feed the result back)."""
    last: Any = None
    # PhaseLimits lives in the engine's package's model.py now, in the recorded engine itself
    phase_limits = getattr(engine, "PhaseLimits", None)
    if phase_limits is None:
        phase_limits = importlib.import_module(f"{engine.__package__}.model").PhaseLimits
    for case in cases(seed, count):
        settings_in = dict(case["settings"])
        strategy = engine.Strategy(settings_in.pop("strategy"))
        limits = settings_in.pop("phase_limits", None)
        if "start_cost_wh" in engine.StrategySettings.__dataclass_fields__:
            settings_in["start_cost_wh"] = 0.0  # the recorded engine had no start cost
        settings = engine.StrategySettings(
            strategy=strategy,
            phase_limits=None if limits is None else phase_limits(*limits),
            **settings_in,
        )
        batteries = [engine.BatteryReading(**b) for b in case["fleet"]]
        if case["previous"] is None and last is not None:
            previous = last
        else:
            rows = case["previous"] or []
            modes = {m for m, p in rows if p > 0}
            previous = engine.Plan(
                engine.Mode(next(iter(modes)) if len(modes) == 1 else "stop"),
                tuple(engine.Setpoint(engine.Mode(m), p) for m, p in rows),
            )
        last = engine.allocate(case["grid_w"], batteries, previous, settings)
        yield _line(last)


def split_lines(engine: Any, seed: int, count: int) -> Iterator[str]:
    """Yield optimal_split results on random candidates (the bounds' API) as lines."""
    rng = random.Random(seed)
    for _ in range(count):
        tables = [_table(rng) or _BASE for _ in range(rng.randint(1, 8))]
        if rng.random() < 0.5:
            tables = [tables[0]] * len(tables)
        candidates = [
            engine.Candidate(
                rng.choice((2500, 800, 1200, 0, rng.randint(1, 3000))),
                table,
                rng.choice((0.0, 7.0)),
            )
            for table in tables
        ]
        mode = engine.Mode(rng.choice(("charge", "discharge")))
        demand = rng.choice((rng.randint(-100, 12000), rng.randint(0, 1500)))
        yield f"{mode.value} {demand} " + " ".join(
            map(str, engine.optimal_split(demand, candidates, mode))
        )


#: (seed, calls) of the recorded optimal_split runs.
SPLITS = ((11, 1000),)


def record(engine: Any) -> dict[str, Any]:
    """Return every run's lines from engine (what the fixture holds)."""
    return {
        "allocate": {str(seed): list(run(engine, seed, count)) for seed, count in RUNS},
        "optimal_split": {
            str(seed): list(split_lines(engine, seed, count)) for seed, count in SPLITS
        },
    }


def load_engine(directory: str, name: str = "recorded_engine") -> ModuleType:
    """Load engine.py (and its phase_limits.py) from directory as package name."""
    spec = importlib.machinery.ModuleSpec(name, None, is_package=True)
    package = importlib.util.module_from_spec(spec)
    package.__path__ = [directory]
    sys.modules[name] = package
    return importlib.import_module(f"{name}.engine")


if __name__ == "__main__":
    FIXTURE.write_text(json.dumps(record(load_engine(sys.argv[1])), indent=0) + "\n")
