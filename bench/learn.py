"""Issue 12's benchmark: the loop with the in-flight estimate, and learned loss curves.

``python -m bench.learn --interval 6.5 --interval 2`` (or ``scripts/bench --interval 2``):
grid tracking of ``efficiency`` today, with the in-flight estimate at each interval, and the
ideal reaction at the same cycle (instantaneous exact meter, true battery powers, same
plant), on the suite and on the lag variants (``--variants``). Fast reversals count the grid
error's sign changes sooner than the plant can follow (dead time + 3 tau).

``python -m bench.learn --learn`` (or ``scripts/bench --learn``): plants whose batteries
differ from the model; ``efficiency`` with the default table, with curves learned during the
day (fed the simulator's AC power as polled and its DC power, both with noise), with the
curves learned the day before, with the true tables, and the per-second oracle given the true
tables. Reports the loss and how fast the learned curves approach the true ones.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, replace
from itertools import pairwise
import json
import math
import os
import random
import sys
import time
from typing import Any

from bench import inflight_rules
from bench.controllers import make
from bench.controllers.bounds import LossBoundController
from bench.controllers.inflight_ctl import IdealController, InFlightController, ac_reading
from bench.core import engine, load
from bench.loop import Result, Sim, run
from bench.scenarios import SCENARIOS, Scenario, by_name, resolve, window
from bench.sim.battery import MEASURED_EFFICIENCY, BatteryParams, loss_curve
from bench.sim.house import build_house

learning = load("learning")
inflight = load("inflight")

Table = tuple[tuple[float, float, float], ...]

# ----------------------------------------------------------------------------- plants


def shifted(table: Table, points: float) -> Table:
    """The table with every efficiency lowered by points (0.05 = 5 points)."""
    return tuple((p, c - points, d - points) for p, c, d in table)


def low_power_worse(table: Table, share: float = 0.2) -> Table:
    """The table with 20 % more loss below 500 W, fading out to 1000 W."""
    rows = []
    for p, c, d in table:
        k = share if p <= 500 else share * max(0.0, (1000 - p) / 500)
        rows.append((p, 1 - (1 - c) * (1 + k), 1 / (1 + (1 / d - 1) * (1 + k))))
    return tuple(rows)


def power_shifted(table: Table, factor: float = 1.3) -> Table:
    """The table's curve moved to higher power (its rows at factor x the power)."""
    return tuple((p * factor, c, d) for p, c, d in table)


@dataclass(frozen=True, slots=True)
class Fleet:
    """A plant variant: each battery's true table; drift: points lost over the day."""

    name: str
    description: str
    tables: tuple[Table, ...]
    drift_points: tuple[float, ...] = ()


FLEETS = (
    Fleet(
        "one_worse",
        "battery 2 five points worse in both directions",
        (MEASURED_EFFICIENCY, MEASURED_EFFICIENCY, shifted(MEASURED_EFFICIENCY, 0.05)),
    ),
    Fleet(
        "mixed",
        "three different curves: as the model, 20 % more loss at low power, 5 points worse",
        (
            MEASURED_EFFICIENCY,
            low_power_worse(MEASURED_EFFICIENCY),
            shifted(MEASURED_EFFICIENCY, 0.05),
        ),
    ),
    Fleet(
        "mixed_shifted",
        "three different curves: as the model, curve shifted to 1.3 x the power, 3 points worse",
        (
            MEASURED_EFFICIENCY,
            power_shifted(MEASURED_EFFICIENCY),
            shifted(MEASURED_EFFICIENCY, 0.03),
        ),
    ),
    Fleet(
        "drift",
        "battery 1 loses 6 points over the day (its curve drifts)",
        (MEASURED_EFFICIENCY, MEASURED_EFFICIENCY, MEASURED_EFFICIENCY),
        drift_points=(0.0, 0.06, 0.0),
    ),
)


def with_fleet(scenario: Scenario, fleet: Fleet) -> Scenario:
    """The scenario with its batteries' true tables set to the fleet's (3-battery scenarios)."""
    batteries = tuple(
        replace(setup, params=replace(setup.params, efficiency_table=fleet.tables[i]))
        for i, setup in enumerate(scenario.batteries)
    )
    return replace(scenario, name=f"{scenario.name}/{fleet.name}", batteries=batteries)


def drift(sim: Sim, fleet: Fleet) -> None:
    """Apply the fleet's drift at sim.now: the plant's curve moves, the model does not know."""
    if not fleet.drift_points:
        return
    share = sim.now / max(1.0, float(sim.house.seconds))
    for battery, setup, points in zip(sim.batteries, sim.setups, fleet.drift_points, strict=True):
        if points:
            table = shifted(setup.params.efficiency_table, points * share)
            battery._curve = loss_curve(replace(battery.params, efficiency_table=table))


def true_table(sim: Sim, fleet: Fleet, battery: int) -> Table:
    """The battery's true table at sim.now (with drift)."""
    table = sim.setups[battery].params.efficiency_table
    points = fleet.drift_points[battery] if fleet.drift_points else 0.0
    return shifted(table, points * sim.now / max(1.0, float(sim.house.seconds)))


# ----------------------------------------------------------------------------- learner


class CurveLearner:
    """One learning.BatteryLearner per battery, fed from the simulated boards.

    At every cycle each battery's AC power (as polled, every 5 s) and DC power are read with
    1 % noise. A sample counts as steady when the battery's forced setpoint has been the same
    since 10 s before the AC poll and the state of charge is between the cutoff + 3 and 94 %.
    The engine gets the learned tables rounded to 0.001 and refreshed every ``refresh_s``.
    """

    def __init__(
        self, count: int, seed: int = 0, refresh_s: float = 900.0, steady_s: float = 10.0
    ) -> None:
        self.learners = [learning.BatteryLearner() for _ in range(count)]
        self.random = random.Random(seed)
        self.refresh_s = refresh_s
        self.steady_s = steady_s
        self._since: list[tuple[tuple[str, float], float]] = [(("stop", 0.0), 0.0)] * count
        self._last_poll = [-1.0] * count
        self._tables: list[Table | None] = [None] * count
        self._refreshed = -math.inf
        self.fleet: Fleet | None = None
        self.history: list[dict[str, Any]] = []

    def observe(self, sim: Sim) -> None:
        for i, board in enumerate(sim.boards):
            forced = board.forced
            if forced != self._since[i][0]:
                self._since[i] = (forced, sim.now)
            reading = ac_reading(sim, i)
            if reading is None or forced[0] == "stop":
                continue
            ac, polled = reading
            if polled <= self._last_poll[i] or polled - self._since[i][1] < self.steady_s:
                continue
            self._last_poll[i] = polled
            battery, setup = sim.batteries[i], sim.setups[i]
            if not setup.discharge_cutoff + 3 < battery.soc_pct < 94:
                continue
            noisy_ac = round(ac * (1 + self.random.gauss(0, 0.01)))
            noisy_dc = round(battery.dc_power_w * (1 + self.random.gauss(0, 0.01)))
            sample = learning.Sample(
                engine.Mode(forced[0]), round(forced[1]), float(noisy_ac), float(noisy_dc)
            )
            self.learners[i].observe(sample)
        if sim.now - self._refreshed >= self.refresh_s:
            self._refreshed = sim.now
            self._tables = [
                tuple(tuple(round(v, 3) for v in row) for row in learner.table())
                for learner in self.learners
            ]
            if self.fleet is not None:
                self.history.append(self.snapshot(sim))

    def table(self, battery: int) -> Table | None:
        return self._tables[battery]

    def snapshot(self, sim: Sim) -> dict[str, Any]:
        """Error of each learned curve against the truth (mean |points| over the rows)."""
        if self.fleet is None:
            return {}
        errors, shares = [], []
        for i, learner in enumerate(self.learners):
            truth = true_table(sim, self.fleet, i)
            learned = learner.table()
            rows = [
                (abs(a[1] - interp(truth, a[0], 1)), abs(a[2] - interp(truth, a[0], 2)))
                for a in learned
            ]
            errors.append(100 * sum(c + d for c, d in rows) / (2 * len(rows)))
            shares.append(learner.measured_share())
        return {"t_h": round(sim.now / 3600, 2), "error_points": errors, "measured": shares}


def interp(table: Table, power: float, column: int) -> float:
    """The table's efficiency (column 1 charge, 2 discharge) at power, linear, held at ends."""
    if power <= table[0][0]:
        return table[0][column]
    for a, b in pairwise(table):
        if power <= b[0]:
            return a[column] + (b[column] - a[column]) * (power - a[0]) / (b[0] - a[0])
    return table[-1][column]


class FixedTables:
    """Gives the engine fixed per-battery tables (the true ones: the best a model can be)."""

    def __init__(self, fleet: Fleet) -> None:
        self.fleet = fleet
        self._tables: list[Table] = []
        self._refreshed = -math.inf

    def observe(self, sim: Sim) -> None:
        drift(sim, self.fleet)
        if not self._tables or (self.fleet.drift_points and sim.now - self._refreshed >= 900):
            self._refreshed = sim.now
            self._tables = [
                tuple(tuple(round(v, 3) for v in row) for row in true_table(sim, self.fleet, i))  # type: ignore[misc]
                for i in range(len(sim.boards))
            ]

    def table(self, battery: int) -> Table:
        return self._tables[battery]


class Drifting:
    """No learning, the default table; only applies the plant's drift."""

    def __init__(self, fleet: Fleet) -> None:
        self.fleet = fleet

    def observe(self, sim: Sim) -> None:
        drift(sim, self.fleet)

    def table(self, battery: int) -> None:
        return None


class LearningTables(CurveLearner):
    """CurveLearner that also applies the plant's drift."""

    def observe(self, sim: Sim) -> None:
        if self.fleet is not None:
            drift(sim, self.fleet)
        super().observe(sim)


class TrueOracle(LossBoundController):
    """The per-second loss bound given each battery's own (true, drifting) table."""

    def __init__(self, fleet: Fleet) -> None:
        super().__init__()
        self.name = "loss_bound(true tables)"
        self.fleet = fleet
        self._hour = -1

    def second(self, sim: Sim, k: int) -> None:
        if self.fleet.drift_points and k // 900 != self._hour:
            self._hour = k // 900
            drift(sim, self.fleet)
            for i, battery in enumerate(sim.batteries):  # the bound decides on the true table
                battery.params = replace(
                    battery.params, efficiency_table=true_table(sim, self.fleet, i)
                )
            self._cache.clear()
        super().second(sim, k)


# ----------------------------------------------------------------------------- tracking


def fast_reversals(grid: Sequence[float], follow_s: float, band_w: float = 50.0) -> int:
    """Sign changes of the grid (beyond band_w) sooner than follow_s after the previous one."""
    last_sign = 0
    last_change: int | None = None
    count = 0
    for second, watts in enumerate(grid):
        if abs(watts) <= band_w:
            continue
        sign = 1 if watts > 0 else -1
        if last_sign and sign != last_sign:
            if last_change is not None and second - last_change < follow_s:
                count += 1
            last_change = second
        last_sign = sign
    return count


def _figures(result: Result, params: BatteryParams) -> dict[str, Any]:
    out = result.figures()
    if result.trace is not None:
        follow = params.dead_time_s + 3 * params.tau_s
        out["fast_reversals"] = fast_reversals(result.trace["grid"], follow)
    return out


SLOW = BatteryParams(dead_time_s=2.0, tau_s=4.0, from_stop_extra_s=6.0)


def lag_variant(scenario: Scenario, name: str) -> Scenario:
    """The scenario with a lag variant: slow plant, or the meter polled every 5 s."""
    if name == "slow":
        batteries = tuple(replace(s, params=SLOW) for s in scenario.batteries)
        return replace(scenario, name=f"{scenario.name}/slow", batteries=batteries)
    if name == "poll5":
        return replace(scenario, name=f"{scenario.name}/poll5", meter_poll_s=5.0)
    return scenario


#: The meter-age rules (--rules): name -> InFlightController keywords, at 6.5 s.
RULES: dict[str, dict[str, Any]] = {
    "ramp": {"ramp": inflight_rules.RampRule()},
    "early": {"early": inflight_rules.EarlyRule()},
    "ramp+early": {"ramp": inflight_rules.RampRule(), "early": inflight_rules.EarlyRule()},
}


def _tracking_job(args: tuple[Any, ...]) -> dict[str, Any]:
    """args: scenario, intervals, ideal_all[, rules[, causes]]."""
    scenario, intervals, ideal_all = args[:3]
    rules = len(args) > 3 and bool(args[3])
    causes = len(args) > 4 and bool(args[4])
    started = time.perf_counter()
    house = build_house(resolve(scenario))
    params = scenario.batteries[0].params
    response = inflight.Response(
        dead_time_s=params.dead_time_s, tau_s=params.tau_s, from_stop_s=params.from_stop_extra_s
    )
    controllers: list[Any] = [] if rules else [make("efficiency")]
    controllers.append(IdealController("efficiency", 6.5))
    for interval in intervals:
        controllers.append(InFlightController("efficiency", interval, response=response))
        if ideal_all and interval != 6.5:
            controllers.append(IdealController("efficiency", interval, response=response))
    if causes:
        controllers.append(
            IdealController("efficiency", 6.5, house_age_s=1, name="efficiency+ideal-1s@6.5s")
        )
        controllers.append(
            InFlightController(
                "efficiency", 6.5, response=response, use_ac=False, name="efficiency+model@6.5s"
            )
        )
    if rules:
        for rule, keywords in RULES.items():
            name = f"efficiency+inflight+{rule}@6.5s"
            controllers.append(
                InFlightController("efficiency", 6.5, response=response, name=name, **keywords)
            )
    figures = {}
    for controller in controllers:
        result = run(scenario, controller, house, record=True, record_every_s=1)
        figures[controller.name] = _figures(result, params)
        figures[controller.name]["cycles_run"] = getattr(controller, "cycles", result.cycles)
    return {"name": scenario.name, "controllers": figures, "s": time.perf_counter() - started}


# ----------------------------------------------------------------------------- learning


def _learning_job(args: tuple[Scenario, Fleet]) -> dict[str, Any]:
    base, fleet = args
    started = time.perf_counter()
    scenario = with_fleet(base, fleet)
    house = build_house(resolve(scenario))
    count = len(scenario.batteries)
    figures: dict[str, Any] = {}

    def go(name: str, controller: Any) -> None:
        figures[name] = run(scenario, controller, house).figures()

    go("default table", InFlightController(tables=Drifting(fleet), name="default"))
    first = LearningTables(count)
    first.fleet = fleet
    go("learning (day 1)", InFlightController(tables=first, name="learning"))
    convergence = first.history
    second = LearningTables(count, seed=1)
    second.fleet = fleet
    second.learners = [
        learning.BatteryLearner.from_dict(learner.to_dict()) for learner in first.learners
    ]
    go("learned (day 2)", InFlightController(tables=second, name="learned"))
    go("true tables", InFlightController(tables=FixedTables(fleet), name="true"))
    go("loss bound, true tables", TrueOracle(fleet))
    if not fleet.drift_points:  # crossover's plant would not drift
        go("crossover", make("crossover"))
    return {
        "name": scenario.name,
        "controllers": figures,
        "convergence": convergence,
        "s": time.perf_counter() - started,
    }


# ----------------------------------------------------------------------------- CLI


def _pool(function: Any, jobs: list[Any], workers: int) -> list[dict[str, Any]]:
    if workers > 1 and len(jobs) > 1:
        with ProcessPoolExecutor(max_workers=workers) as pool:
            return list(pool.map(function, jobs))
    return [function(job) for job in jobs]


def _scenarios(args: argparse.Namespace, three_only: bool = False) -> list[Scenario]:
    chosen: list[Scenario] = list(SCENARIOS)
    if args.scenario:
        chosen = [by_name(name) for name in args.scenario]
    if args.window:
        chosen = [window(s, args.window[0], args.window[1]) for s in chosen]
    if three_only:
        chosen = [s for s in chosen if len(s.batteries) == 3]
    usable = []
    for scenario in chosen:
        try:
            resolve(scenario)
        except ImportError:
            print(f"skipped {scenario.name}: needs the bench venv (demandlib)", file=sys.stderr)
            continue
        usable.append(scenario)
    return usable


def tracking_table(outputs: list[dict[str, Any]]) -> str:
    names = list(outputs[0]["controllers"]) if outputs else []
    lines = [
        "| scenario | " + " | ".join(names) + " |",
        "|---|" + "---:|" * len(names),
    ]
    totals = dict.fromkeys(names, 0.0)
    for out in outputs:
        cells = []
        for name in names:
            fig = out["controllers"][name]
            totals[name] += fig["avoidable_kwh"]
            cells.append(f"{fig['avoidable_kwh']:.3f} ({fig.get('fast_reversals', '-')})")
        lines.append(f"| {out['name']} | " + " | ".join(cells) + " |")
    lines.append("| **suite** | " + " | ".join(f"**{totals[n]:.3f}**" for n in names) + " |")
    writes = {n: sum(o["controllers"][n]["writes"] for o in outputs) for n in names}
    lines.append("| writes | " + " | ".join(str(writes[n]) for n in names) + " |")
    return "\n".join(lines)


def learning_table(outputs: list[dict[str, Any]]) -> str:
    names = list(outputs[0]["controllers"]) if outputs else []
    lines = ["| scenario/fleet | " + " | ".join(names) + " |", "|---|" + "---:|" * len(names)]
    for out in outputs:
        figures = out["controllers"]
        cells = [f"{figures[n]['conversion_loss_kwh']:.3f}" if n in figures else "-" for n in names]
        lines.append(f"| {out['name']} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.learn", description=__doc__)
    parser.add_argument("--interval", type=float, action="append", help="cycle interval (s)")
    parser.add_argument("--learn", action="store_true", help="the learned-curves benchmark")
    parser.add_argument("--variants", action="store_true", help="also the lag variants")
    parser.add_argument("--ideal-all", action="store_true", help="ideal reaction at every interval")
    parser.add_argument(
        "--rules", action="store_true", help="the meter-age rules at 6.5 s (not today's loop)"
    )
    parser.add_argument(
        "--causes",
        action="store_true",
        help="also the ideal reading the last completed second, and the estimate without AC",
    )
    parser.add_argument("--scenario", action="append", help="only these scenarios")
    parser.add_argument("--window", nargs=2, type=float, metavar=("HOUR", "HOURS"))
    parser.add_argument("--fleet", action="append", help="only these fleets (--learn)")
    parser.add_argument("--jobs", type=int, default=min(2, os.cpu_count() or 1))
    parser.add_argument("--json", metavar="FILE", help="write the figures as JSON")
    args = parser.parse_args(argv)
    started = time.perf_counter()
    doc: dict[str, Any] = {}
    if args.learn:
        fleets = [f for f in FLEETS if not args.fleet or f.name in args.fleet]
        jobs = [(s, f) for s in _scenarios(args, three_only=True) for f in fleets]
        outputs = _pool(_learning_job, jobs, args.jobs)
        doc["learning"] = outputs
        print("== conversion loss + standby (kWh), efficiency strategy")
        print(learning_table(outputs))
        print("\n== learned curve error (mean |points| per battery) and measured share")
        for out in outputs:
            steps = out["convergence"]
            marks = [s for s in steps if s["t_h"] in (0.0, 1.0, 3.0, 6.0, 12.0)] + steps[-1:]
            text = "; ".join(
                f"{s['t_h']:g} h: "
                + "/".join(f"{e:.2f}" for e in s["error_points"])
                + " ("
                + "/".join(f"{m:.0%}" for m in s["measured"])
                + ")"
                for s in marks
            )
            print(f"{out['name']}: {text}")
    if args.interval or not args.learn:
        intervals = tuple(args.interval or (6.5, 2.0))
        variants = ("nominal", "slow", "poll5") if args.variants else ("nominal",)
        tracking = [
            (lag_variant(s, v), intervals, args.ideal_all, args.rules, args.causes)
            for v in variants
            for s in _scenarios(args)
        ]
        outputs = _pool(_tracking_job, tracking, args.jobs)
        doc["tracking"] = outputs
        print("== avoidable grid energy kWh (fast reversals), efficiency strategy")
        print(tracking_table(outputs))
    if args.json:
        with open(args.json, "w") as handle:  # noqa: PTH123
            json.dump(doc, handle, indent=1)
    print(f"\n{time.perf_counter() - started:.0f} s", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
