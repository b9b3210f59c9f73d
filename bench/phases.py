"""Phase scenarios (issue 13): seconds above a phase's limit caused by the batteries, and cost.

Every scenario puts the batteries on one phase (or mostly one) next to loads that a phase
limit matters for: an EV charging at 16 A on L1, a heat pump, PV on one phase. The main fuse
(25 A, or the scenario's) limits each phase both ways to fuse * 230 V * 0.9; a feed-in limit
lowers the export side.

A second counts as *caused by the batteries* on a phase when the phase is beyond its limit
and further beyond it than it would be without the batteries (the house alone). Of those,
*reaction* seconds follow a step of the house's own power on that phase towards the limit
(more than the plan's margin within the last ``REACTION_S``): a controller that reads the meter
every cycle cannot foresee a kettle or an EV switching on, it can only take the power back
within a cycle and the batteries' settling time. The rest are *plan* seconds: the plan itself
was beyond the limit for the house as it was. The issue's target is 0 plan seconds.

The engine's strategies run twice: with the limits (as the integration runs them, the
controller's name) and without (``name/free``). The energy the limit cost is what the limited
engine held back: each cycle, the free plan's total minus the limited plan's for the same
readings, times the time to the next cycle (commanded kWh the net-zero goal did not get). The
grid figure of the two runs is shown too (batteries that hold back now deliver later, so it
differs little). The reference controllers know no phase limits; their seconds are shown for
comparison.

``scripts/bench --phases`` prints the table (``--json``: the figures).
"""

from __future__ import annotations

from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, replace
import json
import sys
import time
from typing import Any

from bench.controllers import ALL, ENGINE_STRATEGIES, available, make
from bench.controllers.engine_ctl import EngineController, commanded_of, readings_of
from bench.core import control, engine, load
from bench.loop import Controller, Result, run
from bench.scenarios import BatterySetup, Scenario
from bench.sim.house import PHASES, HouseSpec, build_house

model = load("model")
VOLTS = 230.0
EV_16A_W = 16 * VOLTS  # an EV charging at 16 A on one phase
TOLERANCE_W = 1.0  # excess below this is rounding, not an overload
REACTION_S = 20  # the meter's second, the loop's longest wait (12 s settle), 3 to 6 s settling
STEP_W = model.MARGIN_W  # a house step larger than the plan's margin


@dataclass(frozen=True, slots=True)
class PhaseScenario:
    """A scenario and the hub's phase limits."""

    scenario: Scenario
    fuse_a: float = 25.0
    feed_in_w: float = 0.0  # 0: none

    @property
    def name(self) -> str:
        return self.scenario.name

    @property
    def limits(self) -> Any:
        return model.PhaseLimits.from_fuse(self.fuse_a, self.feed_in_w, VOLTS)


def _on(phase: str, socs: tuple[float, ...]) -> tuple[BatterySetup, ...]:
    return tuple(BatterySetup(phase=phase, soc=soc) for soc in socs)


EV_PV_DAY = HouseSpec(
    seed=31,
    day_of_year=172,
    start_h=9.0,
    duration_h=8.0,
    pv_kwp=7.0,
    pv_inverter_w=6000.0,
    pv_phases=("L3",),
    cloud_fraction=0.15,
    heat_pump_w=1200.0,
    ev_w=EV_16A_W,
    ev_start_h=11.0,
    ev_kwh=11.0,
    appliances=("kettle", "microwave", "washing_machine"),
)
EV_HP_EVENING = HouseSpec(
    seed=32,
    day_of_year=355,
    start_h=16.0,
    duration_h=8.0,
    pv_kwp=0.0,
    base_w=300.0,
    heat_pump_w=3000.0,
    ev_w=EV_16A_W,
    ev_start_h=20.5,
    ev_kwh=9.0,
    appliances=("kettle", "microwave", "oven", "hob", "dishwasher"),
)

PHASE_SCENARIOS: tuple[PhaseScenario, ...] = (
    PhaseScenario(
        Scenario(
            "phase_ev_pv",
            "June 9-17 h: 6 kW PV on L3, EV at 16 A on L1, heat pump; 3 batteries on L1",
            EV_PV_DAY,
            _on("L1", (20.0, 30.0, 40.0)),
        )
    ),
    PhaseScenario(
        Scenario(
            "phase_ev_hp_evening",
            "December 16-24 h: 3 kW heat pump, oven, hob, EV 16 A on L1 (20:30); 3 batteries on L1",
            EV_HP_EVENING,
            _on("L1", (90.0, 95.0, 100.0)),
        )
    ),
    PhaseScenario(
        Scenario(
            "phase_feed_in_4600",
            "as the evening, with a 4600 W feed-in limit per phase (German rule)",
            replace(EV_HP_EVENING, seed=33),
            _on("L1", (90.0, 95.0, 100.0)),
        ),
        feed_in_w=4600.0,
    ),
    PhaseScenario(
        Scenario(
            "phase_mixed_16a",
            "the evening without the EV on a 16 A fuse: 2 batteries on L1, 1 on L2",
            replace(EV_HP_EVENING, seed=34, ev_w=0.0),
            (BatterySetup("L1", 90.0), BatterySetup("L1", 95.0), BatterySetup("L2", 85.0)),
        ),
        fuse_a=16.0,
    ),
)


class PhaseMonitor:
    """Counts, per phase, the seconds beyond the limits (all, and caused by the batteries)."""

    def __init__(self, limits: Any, house_net: tuple[Any, ...]) -> None:
        self.limits = limits
        self.net = house_net
        self.over_s = [0, 0, 0]
        self.caused_s = [0, 0, 0]
        self.reaction_s = [0, 0, 0]  # of caused_s: right after a step of the house
        self.caused_wh = [0.0, 0.0, 0.0]  # energy beyond the limit the batteries added
        self.worst_w = [0.0, 0.0, 0.0]

    def excess(self, watts: float) -> float:
        return float(max(0.0, watts - self.limits.import_w, -self.limits.export_w - watts))

    def house_stepped(self, ph: int, k: int, importing: bool) -> bool:
        """Whether the house alone moved towards the limit by more than STEP_W lately."""
        recent = self.net[ph][max(0, k - REACTION_S) : k + 1]
        now = recent[-1]
        return bool((now - min(recent) if importing else max(recent) - now) > STEP_W)

    def __call__(self, k: int, phase_w: list[float]) -> None:
        for ph in range(3):
            beyond = self.excess(phase_w[ph])
            if beyond <= TOLERANCE_W:
                continue
            self.over_s[ph] += 1
            added = beyond - self.excess(self.net[ph][k])
            if added > TOLERANCE_W:
                self.caused_s[ph] += 1
                if self.house_stepped(ph, k, importing=phase_w[ph] > 0):
                    self.reaction_s[ph] += 1
                self.caused_wh[ph] += added / 3600.0
                self.worst_w[ph] = max(self.worst_w[ph], added)


class LimitedEngine(EngineController):
    """The engine with phase limits; it also counts the commanded energy the limits held back."""

    def __init__(self, strategy: str, limits: Any) -> None:
        super().__init__(strategy, phase_limits=limits)
        self.free = replace(self.settings, phase_limits=None)
        self.held_back_wh = 0.0

    def cycle(self, sim: Any) -> float:
        previous = self.plan
        if previous is None:
            previous = control.plan_from_commanded(commanded_of(sim))
        free = engine.allocate(sim.grid_w(), readings_of(sim), previous, self.free)
        delay = super().cycle(sim)
        self.held_back_wh += (free.total_w - self.plan.total_w) * delay / 3600.0
        return delay


def controllers_for(case: PhaseScenario, names: tuple[str, ...]) -> list[tuple[str, Controller]]:
    """The engine's strategies with and without the limits, then the reference controllers."""
    made: list[tuple[str, Controller]] = []
    for name in names:
        if name in ENGINE_STRATEGIES:
            made.append((name, LimitedEngine(name, case.limits)))
            made.append((f"{name}/free", EngineController(name)))
        else:
            made.append((name, make(name)))
    return made


def _job(args: tuple[PhaseScenario, tuple[str, ...]]) -> dict[str, Any]:
    case, names = args
    started = time.perf_counter()
    house = build_house(case.scenario.house)
    net = tuple(house.net(ph) for ph in range(3))
    figures: dict[str, Any] = {}
    for label, controller in controllers_for(case, names):
        monitor = PhaseMonitor(case.limits, net)
        result: Result = run(case.scenario, controller, house, observe=monitor)
        figures[label] = {
            "caused_s": dict(zip(PHASES, monitor.caused_s, strict=True)),
            "reaction_s": dict(zip(PHASES, monitor.reaction_s, strict=True)),
            "plan_s": sum(monitor.caused_s) - sum(monitor.reaction_s),
            "over_s": dict(zip(PHASES, monitor.over_s, strict=True)),
            "caused_wh": round(sum(monitor.caused_wh), 2),
            "worst_caused_w": round(max(monitor.worst_w), 1),
            "grid_kwh": round(result.grid_import_kwh + result.grid_export_kwh, 4),
            "import_kwh": round(result.grid_import_kwh, 4),
            "export_kwh": round(result.grid_export_kwh, 4),
            "loss_kwh": round(result.conversion_loss_kwh, 4),
        }
        if isinstance(controller, LimitedEngine):
            figures[label]["held_back_kwh"] = round(controller.held_back_wh / 1000.0, 4)
    for name in names:
        free = figures.get(f"{name}/free")
        if free is not None:
            grid = figures[name]["grid_kwh"] - free["grid_kwh"]
            figures[name]["grid_vs_free_kwh"] = round(grid, 4)
    return {
        "name": case.name,
        "description": case.scenario.description,
        "fuse_a": case.fuse_a,
        "feed_in_w": case.feed_in_w,
        "import_limit_w": round(case.limits.import_w, 1),
        "export_limit_w": round(case.limits.export_w, 1),
        "controllers": figures,
        "elapsed_s": round(time.perf_counter() - started, 1),
    }


def table(outputs: list[dict[str, Any]]) -> str:
    """The phase figures as a text table, one block per scenario."""
    lines: list[str] = []
    for out in outputs:
        lines.append(
            f"== {out['name']}: {out['description']}\n"
            f"   limits per phase: import {out['import_limit_w']:.0f} W, "
            f"export {out['export_limit_w']:.0f} W ({out['fuse_a']:g} A"
            + (f", feed-in {out['feed_in_w']:.0f} W" if out["feed_in_w"] else "")
            + ")"
        )
        lines.append(
            f"   {'controller':<18}{'plan s':>7}{'caused s L1/L2/L3':>19}{'of which reaction':>19}"
            f"{'caused Wh':>10}{'worst W':>8}{'over s (any)':>14}{'grid kWh':>10}"
            f"{'held back kWh':>15}{'grid vs free':>13}"
        )
        for label, fig in out["controllers"].items():
            caused = "/".join(str(fig["caused_s"][p]) for p in PHASES)
            reaction = "/".join(str(fig["reaction_s"][p]) for p in PHASES)
            over = "/".join(str(fig["over_s"][p]) for p in PHASES)
            held = fig.get("held_back_kwh")
            grid = fig.get("grid_vs_free_kwh")
            lines.append(
                f"   {label:<18}{fig['plan_s']:>7}{caused:>19}{reaction:>19}"
                f"{fig['caused_wh']:>10.1f}{fig['worst_caused_w']:>8.0f}"
                f"{over:>14}{fig['grid_kwh']:>10.3f}"
                f"{'' if held is None else f'{held:.3f}':>15}"
                f"{'' if grid is None else f'{grid:+.3f}':>13}"
            )
        lines.append("")
    return "\n".join(lines)


def verdict(outputs: list[dict[str, Any]]) -> tuple[bool, str]:
    """Whether the integration's strategies plan 0 s beyond a limit in every scenario."""
    worst = [
        (out["name"], name, out["controllers"][name]["plan_s"])
        for out in outputs
        for name in ENGINE_STRATEGIES
        if name in out["controllers"]
    ]
    bad = [w for w in worst if w[2] > 0]
    if not bad:
        return True, "0 plan seconds beyond a phase limit caused by the batteries (integration)"
    text = ", ".join(f"{s}/{c}: {n} s" for s, c, n in bad)
    return False, f"plan seconds beyond a phase limit caused by the batteries: {text}"


def main(names: tuple[str, ...], as_json: bool, jobs: int, scenarios: list[str] | None) -> int:
    """Run the phase scenarios; print the table or JSON."""
    cases = [c for c in PHASE_SCENARIOS if not scenarios or c.name in scenarios]
    wanted = tuple(n for n in (names or ALL) if available(n))
    started = time.perf_counter()
    work = [(case, wanted) for case in cases]
    if jobs > 1 and len(work) > 1:
        with ProcessPoolExecutor(max_workers=jobs) as pool:
            outputs = list(pool.map(_job, work))
    else:
        outputs = [_job(w) for w in work]
    met, detail = verdict(outputs)
    if as_json:
        doc = {"phase_scenarios": outputs, "met": met, "detail": detail}
        json.dump(doc, sys.stdout, indent=1)
        sys.stdout.write("\n")
    else:
        print(table(outputs))
        print(f"{'MET   ' if met else 'MISSED'} {detail}")
        print(f"{len(cases)} phase scenarios in {time.perf_counter() - started:.0f} s")
    return 0
