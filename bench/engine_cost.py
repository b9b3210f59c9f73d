"""What one ``engine.allocate`` call costs, per strategy and fleet size (``--engine``).

Each configuration runs a chain of cycles as the coordinator does: the previous plan is the last
result, the grid power a random walk with jumps over -12 to +12 kW, states of charge spread over
the whole range. "identical" fleets share the default table; "distinct" give every battery its own
table (efficiencies shifted by up to 5 points, rows shifted in power). Tables are built on the first
call that sees them (reported as ``first``); median, p99 and worst are of the calls after it.
Times are the thread's CPU time (``time.thread_time_ns``), so a busy machine inflates them
less than wall time would; they still vary with the load. A garbage-collector pause counts in
the call it falls into (Home Assistant's process has them too); ``gc_calls`` says how many
timed calls had one and ``worst_no_gc_us`` is the worst of the others.

``cold`` (``--engine --cold``): every call finds the split caches empty (the per-fleet hull
segments and settled pairs of ``efficiency._SHAPES`` are dropped before it), so each call
pays what a call no cache has seen pays; only the per-table loss arrays stay (they are
built once per table, as a learned table is refreshed at most every few minutes).

Besides the fixed fleet (case ``fixed``), two cases where the batteries' caps change from call
to call, at 8 batteries with distinct tables: ``max_power`` (every battery's max charge and
discharge power sweeps 700 to 2,500 W and back, 10 W each call, each battery at its own
point, each sweep 1 W off the one before, so no cap comes back within a chain: a max-power
entity that follows temperature or state of charge, only faster) and ``phase`` (a 16 A
fuse per phase and the batteries' phase powers moving, so the phase budgets bind and lower
the caps on many calls; ``limited`` says on how many). New caps mean new loss bends, hulls
and slopes for the split. These two build their tables' curves for both directions before
the chain, and collect the garbage once after that, so their figures are the caps' cost (a
call that meets new tables is the fixed case's ``first``).
"""

from __future__ import annotations

from dataclasses import replace
import gc
import random
import statistics
import time
from typing import Any

from bench.core import engine, load

efficiency = load("efficiency")
model = load("model")

STRATEGIES = ("priority", "equal", "efficiency")
#: The cases with caps that change from call to call (see the module's docstring).
MOVING = ("max_power", "phase")


def distinct_table(index: int) -> tuple[tuple[float, float, float], ...]:
    """Battery index's own table: efficiencies lower by 0.7 points per index, rows shifted."""
    drop = 0.007 * index
    shift = 1.0 + 0.03 * index
    return tuple(
        (round(ac * shift, 1), charge - drop, discharge - drop)
        for ac, charge, discharge in engine.DEFAULT_EFFICIENCY_TABLE
    )


def _fleet(rng: random.Random, n: int, distinct: bool) -> list[Any]:
    return [
        engine.BatteryReading(
            soc=rng.uniform(12.0, 100.0),
            charge_cutoff=100.0,
            discharge_cutoff=12.0,
            max_charge_w=2500,
            max_discharge_w=2500 if i % 4 else 800 + 1700 * (i % 2),
            phase_w=rng.uniform(-3000.0, 3000.0),
            phase=("L1", "L2", "L3")[i % 3],
            efficiency_table=distinct_table(i) if distinct else None,
        )
        for i in range(n)
    ]


def _moved(rng: random.Random, fleet: list[Any], case: str, k: int) -> list[Any]:
    """The fleet of call k: max powers 10 W on, or phase powers moved."""
    if case == "max_power":  # each battery sweeps 700..2500 W and back, 10 W per call
        sweep = [(10 * k + 450 * i) % 3600 for i in range(len(fleet))]
        shift = k // 360 % 10  # each sweep 1 W off the one before: no cap comes back
        maxima = [700 + shift + (s if s <= 1800 else 3600 - s) for s in sweep]
        return [
            replace(b, max_charge_w=w, max_discharge_w=w)
            for b, w in zip(fleet, maxima, strict=True)
        ]
    if case == "phase":
        return [
            replace(b, phase_w=min(6000.0, max(-6000.0, b.phase_w + rng.gauss(0.0, 400.0))))
            for b in fleet
        ]
    return fleet


def measure(
    strategy: str,
    n: int,
    distinct: bool,
    calls: int,
    seed: int = 1,
    *,
    cold: bool = False,
    case: str = "fixed",
) -> dict[str, float]:
    """Time calls cycles of strategy on n batteries; figures in microseconds.

    cold: the split caches are emptied before every call (see the module's docstring).
    case: ``fixed``, or one of ``MOVING`` (caps that change from call to call).
    """
    moving = 100_000 * (1 + MOVING.index(case)) if case in MOVING else 0
    rng = random.Random(seed * 1000 + n * 10 + distinct + moving)
    settings = engine.StrategySettings(strategy=engine.Strategy(strategy))
    if case == "phase":
        settings = replace(settings, phase_limits=model.PhaseLimits.from_fuse(16.0))
    fleet = _fleet(rng, n, distinct)
    if case in MOVING:  # both directions' curves built before: the figures are the caps' cost
        for b in fleet:
            for mode in (model.Mode.CHARGE, model.Mode.DISCHARGE):
                efficiency._curve(mode, b.efficiency_table or settings.efficiency_table)
        # and their objects collected once, as in a process that has run a while: the first
        # older-generation collection in the chain walked these 16 new curves (6 ms, on every
        # tree), while the integration builds at most one table's curves per cycle
        gc.collect()
    limited = 0
    plan = engine.Plan.all_stop(n)
    grid = 0.0
    times: list[float] = []
    paused: list[bool] = []  # whether a garbage collection ran during the call
    collections: list[int] = []

    def note(phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            collections.append(info["generation"])

    gc.callbacks.append(note)
    try:
        for k in range(calls + 1):
            if rng.random() < 0.1:
                grid = rng.uniform(-12000.0, 12000.0)
            else:
                grid += rng.gauss(0.0, 300.0)
            if k % 50 == 0:
                fleet = [replace(b, soc=rng.uniform(12.0, 100.0)) for b in fleet]
            fleet = _moved(rng, fleet, case, k)
            if cold:
                efficiency._SHAPES.clear()
            collections.clear()
            started = time.thread_time_ns()
            plan = engine.allocate(grid, fleet, plan, settings)
            times.append((time.thread_time_ns() - started) / 1000.0)
            paused.append(bool(collections))
            limited += any(s.reason is model.Reason.LIMITED_BY_PHASE for s in plan.setpoints)
            grid_effect = sum(
                s.power_w * (0.975 if s.mode is engine.Mode.DISCHARGE else -1.045)
                for s in plan.setpoints
            )
            grid -= grid_effect * 0.9  # the batteries answer most of the demand
    finally:
        gc.callbacks.remove(note)
    first, rest = times[0], sorted(times[1:])
    clean = [t for t, hit in zip(times[1:], paused[1:], strict=True) if not hit]
    return {
        "first_us": round(first, 1),
        "median_us": round(statistics.median(rest), 1),
        "p99_us": round(rest[int(0.99 * (len(rest) - 1))], 1),
        "worst_us": round(rest[-1], 1),
        "gc_calls": sum(paused[1:]),
        "worst_no_gc_us": round(max(clean, default=0.0), 1),
        "limited": limited,
    }


def run(
    calls: int = 2000,
    sizes: range = range(1, 9),
    cold: bool = False,
    cases: tuple[str, ...] = ("fixed", *MOVING),
) -> list[dict[str, Any]]:
    """Every strategy, fleet size and table kind (cold: caches emptied before every call).

    The ``MOVING`` cases in cases run at 8 batteries with distinct tables only.
    """
    rows: list[dict[str, Any]] = []
    for strategy in STRATEGIES:
        for case in cases:
            for distinct in (False, True) if case == "fixed" else (True,):
                for n in sizes if case == "fixed" else (8,):
                    figures = measure(strategy, n, distinct, calls, cold=cold, case=case)
                    kind = "distinct" if distinct else "identical"
                    rows.append(
                        {"strategy": strategy, "case": case, "tables": kind, "batteries": n}
                        | figures
                    )
    return rows


def table(rows: list[dict[str, Any]]) -> str:
    """A plain-text table of run()'s rows."""
    head = (
        f"{'strategy':<11}{'case':<10}{'tables':<10}{'n':>3}{'first':>9}{'median':>9}"
        f"{'p99':>9}{'worst':>9}{'gc':>5}{'worst no gc':>13}{'limited':>9}"
    )
    lines = [
        "engine.allocate per call (µs; gc: calls a garbage collection ran in; limited: calls"
        " a phase limit lowered a battery's power in)",
        head,
    ]
    for r in rows:
        lines.append(
            f"{r['strategy']:<11}{r['case']:<10}{r['tables']:<10}{r['batteries']:>3}"
            f"{r['first_us']:>9.0f}{r['median_us']:>9.0f}{r['p99_us']:>9.0f}{r['worst_us']:>9.0f}"
            f"{r['gc_calls']:>5}{r['worst_no_gc_us']:>13.0f}{r['limited']:>9}"
        )
    return "\n".join(lines)
