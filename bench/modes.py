"""Grid modes (issue 23): a day-ahead price day and a Flemish evening under a peak cap.

``scripts/bench --modes`` (``--json``: the figures and ``targets``).

Both run the integration's own code on the simulated house: ``grid_mode.steer`` (the mode's
grid target, then ``engine.allocate`` with the phase limits of a 25 A fuse, strategy
``efficiency``) and ``peak_cap.PeakMeter`` fed with the meter reading of every cycle, as the
coordinator does; ``control.decide`` writes to the simulated LilyGo boards.

* **Price day**: a winter day (little PV) with hourly day-ahead prices of our own with the
  usual shape (cheap night, morning peak, midday dip, evening peak). Import costs the spot
  price plus tax and fees; export earns a small feed-in fee (the Netherlands from 2027). An
  automation charges at 2500 W in the three cheapest hours (up to 95 %), lets the batteries
  cover the house (``zero``) in the four dearest and holds the charge in the others; a
  variant discharges to the grid at 2500 W in the dearest hours instead. Against ``zero``
  all day: the energy cost of the day, the conversion loss, and the cost with the energy
  left in the batteries at the end valued at the day's mean import price (the batteries end
  the day fuller or emptier; that energy is worth something tomorrow).
* **Flemish evening**: 16:00-23:00 in January with a heat pump, cooking and an EV at 16 A
  from 21:30; ``zero`` all evening, and a planner that holds the charge until 21:00 and then
  charges at 2500 W (a cheap hour), each with and without a 2.5 kW quarter-hour peak cap.
  The month-style peak is the highest quarter-hour average import. A quarter hour counts as
  *coverable* when the batteries could keep it under the cap without knowing the future:
  in every second of it the house's import less what the fleet can discharge (its maxima,
  at the meter) stays under the cap less the margin, and no battery is at its discharge
  cutoff.

Targets: the cap holds on every coverable quarter hour; the price day (with the energy left
valued) costs less than ``zero`` alone.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
import json
import math
import sys
import time
from typing import Any
from zoneinfo import ZoneInfo

from bench.controllers.engine_ctl import carry_out, commanded_of, readings_of
from bench.core import control, load
from bench.loop import Sim, run
from bench.scenarios import BatterySetup, Scenario, resolve
from bench.sim.house import HouseSpec, build_house

grid_mode = load("grid_mode")
peak_cap = load("peak_cap")
model = load("model")

ZONE = ZoneInfo("Europe/Brussels")
DAY = datetime(2027, 1, 14, tzinfo=ZONE)
#: Day-ahead spot prices (EUR/MWh) of our own, hour 0..23: the usual winter shape.
SPOT = (
    78, 72, 68, 64, 63, 70, 96, 132, 141, 118, 92, 74,
    63, 60, 66, 84, 112, 158, 182, 171, 138, 112, 96, 86,
)  # fmt: skip
TAX_EUR_KWH = 0.13  # energy tax and supplier fees per imported kWh, VAT included
VAT = 1.21
FEED_IN_FEE = 0.02  # EUR/kWh the supplier keeps of the spot price of an exported kWh
FLEET_W = 2500.0  # the automation's charge and discharge power (W at the meter)
CAP_KW = 2.5  # the Flemish capacity tariff's minimum billed peak


def import_price(hour: int) -> float:
    """EUR per imported kWh in hour (spot with VAT, tax and fees)."""
    return SPOT[hour] / 1000.0 * VAT + TAX_EUR_KWH


def export_price(hour: int) -> float:
    """EUR per exported kWh in hour (spot less a small fee, never negative here)."""
    return max(0.0, SPOT[hour] / 1000.0 - FEED_IN_FEE)


def _ranked(hours: int, *, cheapest: bool) -> frozenset[int]:
    order = sorted(range(24), key=lambda h: (import_price(h), h), reverse=not cheapest)
    return frozenset(order[:hours])


CHEAP = _ranked(3, cheapest=True)
DEAR = _ranked(4, cheapest=False)

#: What a planner asks at a time: a request for the hour it is in.
type Schedule = Callable[[datetime], Any]


def zero_all_day(_now: datetime) -> Any:
    return grid_mode.GridRequest()


def _hour_request(now: datetime, mode: Any, **kw: Any) -> Any:
    """The request an automation makes at the start of now's hour, for that hour."""
    start = now.replace(minute=0, second=0, microsecond=0)
    return grid_mode.request(mode, start, duration=timedelta(hours=1), **kw)


def price_automation(now: datetime) -> Any:
    """Cheapest hours: charge to 95 %; dearest: zero (cover the house); else hold."""
    if now.hour in CHEAP:
        return _hour_request(now, grid_mode.GridMode.CHARGE, power_w=FLEET_W, target_soc=95.0)
    if now.hour in DEAR:
        return grid_mode.GridRequest()
    return _hour_request(now, grid_mode.GridMode.HOLD)


def price_automation_export(now: datetime) -> Any:
    """As price_automation, but discharge to the grid at 2500 W in the dearest hours."""
    if now.hour in DEAR:
        return _hour_request(now, grid_mode.GridMode.DISCHARGE, power_w=FLEET_W, target_soc=15.0)
    return price_automation(now)


def evening_planner(now: datetime) -> Any:
    """Hold the charge until 21:00, then charge at 2500 W (a cheap hour)."""
    if now.hour >= 21:
        return _hour_request(now, grid_mode.GridMode.CHARGE, power_w=FLEET_W)
    return _hour_request(now, grid_mode.GridMode.HOLD)


@dataclass
class ModeController:
    """The coordinator's cycle under a grid mode: steer, decide, write; a peak meter."""

    name: str
    schedule: Schedule
    cap_w: float = 0.0
    per_second = False
    settings: Any = None
    plan: Any = None
    last_keepalive: float = -math.inf
    peak: Any = field(default_factory=peak_cap.PeakMeter)
    ended: Any = None  # a request that ended early (its target state of charge)
    day: datetime = DAY

    def __post_init__(self) -> None:
        self.settings = model.StrategySettings(
            strategy=model.Strategy.EFFICIENCY,
            phase_limits=model.PhaseLimits.from_fuse(25.0),
        )
        self.loop_settings = control.LoopSettings()

    def clock(self, sim: Sim) -> datetime:
        return self.day + timedelta(hours=sim.house.spec.start_h, seconds=sim.now)

    def start(self, sim: Sim) -> float:
        return 0.0

    def cycle(self, sim: Sim) -> float:
        now = self.clock(sim)
        grid = sim.grid_w()
        self.peak = self.peak.update(now, grid)
        request = self.schedule(now)
        readings = readings_of(sim)
        soc = grid_mode.fleet_soc([r.soc for r in readings])
        if self.ended is not None and self.ended.until == request.until:
            request = grid_mode.GridRequest()  # ended early; the planner's hour goes on
        elif grid_mode.ended(request, now.astimezone(ZONE), soc) is not None:
            self.ended, request = request, grid_mode.GridRequest()
        allowed = self.peak.allowed_w(now, self.cap_w) if self.cap_w > 0 else None
        commanded = commanded_of(sim)
        previous = self.plan if self.plan is not None else control.plan_from_commanded(commanded)
        steered = grid_mode.steer(
            request,
            grid,
            readings,
            previous,
            self.settings,
            zero_target_w=0.0,
            import_allowed_w=allowed,
        )
        decision = carry_out(sim, steered.plan, commanded, self.last_keepalive, self.loop_settings)
        if decision.keepalive:
            self.last_keepalive = sim.now
        self.plan = steered.plan
        return float(decision.delay_s)

    def second(self, sim: Sim, k: int) -> None:
        raise NotImplementedError


# --------------------------------------------------------------------------------------
# The scenarios


PRICE_DAY = Scenario(
    "price_day",
    "January, 4 kWp PV, heat pump, 2 batteries on L1/L2 at 30 %, hourly day-ahead prices",
    HouseSpec(
        seed=41,
        day_of_year=14,
        pv_kwp=4.0,
        cloud_fraction=0.4,
        base_w=300.0,
        heat_pump_w=1500.0,
        appliances=("kettle", "microwave", "oven", "hob", "washing_machine", "dishwasher"),
    ),
    (BatterySetup("L1", 30.0), BatterySetup("L2", 30.0)),
)
FLEMISH_EVENING = Scenario(
    "flemish_evening",
    "January 16:00-23:00, heat pump 2 kW, cooking, EV 16 A from 21:30, 2 batteries at 80 %",
    HouseSpec(
        seed=42,
        day_of_year=14,
        start_h=16.0,
        duration_h=7.0,
        pv_kwp=0.0,
        base_w=350.0,
        heat_pump_w=2000.0,
        ev_w=3700.0,
        ev_start_h=21.5,
        ev_kwh=5.0,
        appliances=("kettle", "microwave", "oven", "hob", "dishwasher"),
    ),
    (BatterySetup("L1", 80.0), BatterySetup("L2", 80.0)),
)


@dataclass
class Metered:
    """Per-second grid figures the loop's observe hook collects."""

    start_h: float
    cost_eur: float = 0.0
    quarters: dict[int, float] = field(default_factory=dict)  # quarter index -> import J

    def __call__(self, k: int, phase_w: list[float]) -> None:
        total = phase_w[0] + phase_w[1] + phase_w[2]
        hour = int(self.start_h + k / 3600.0) % 24
        if total > 0:
            self.cost_eur += total / 3.6e6 * import_price(hour)
            quarter = int((self.start_h * 3600 + k) // 900)
            self.quarters[quarter] = self.quarters.get(quarter, 0.0) + total
        else:
            self.cost_eur += total / 3.6e6 * export_price(hour)


def _house_quarters(scenario: Scenario) -> tuple[dict[int, float], dict[int, float]]:
    """The house alone: each quarter hour's import (J) and its highest second (W)."""
    house = build_house(resolve(scenario))
    energy: dict[int, float] = {}
    highest: dict[int, float] = {}
    for k in range(house.seconds):
        net = sum(house.load[p][k] - house.pv[p][k] for p in range(3))
        quarter = int((scenario.house.start_h * 3600 + k) // 900)
        energy[quarter] = energy.get(quarter, 0.0) + max(0.0, net)
        highest[quarter] = max(highest.get(quarter, 0.0), net)
    return energy, highest


def _run(scenario: Scenario, controller: ModeController) -> tuple[Any, Metered]:
    metered = Metered(scenario.house.start_h)
    result = run(scenario, controller, observe=metered)
    return result, metered


def price_day() -> dict[str, Any]:
    """The price day: cost, loss and stored energy per schedule."""
    mean_price = sum(import_price(h) for h in range(24)) / 24
    rows: dict[str, Any] = {}
    for name, schedule in (
        ("zero", zero_all_day),
        ("automation", price_automation),
        ("automation_export", price_automation_export),
    ):
        result, metered = _run(PRICE_DAY, ModeController(name, schedule))
        stored = result.stored_end_kwh - result.stored_start_kwh
        rows[name] = {
            "cost_eur": round(metered.cost_eur, 3),
            "stored_change_kwh": round(stored, 3),
            "cost_with_stored_eur": round(metered.cost_eur - stored * mean_price, 3),
            "conversion_loss_kwh": round(result.conversion_loss_kwh, 3),
            "cycled_kwh": round(result.cycled_kwh, 3),
            "grid_import_kwh": round(result.grid_import_kwh, 3),
            "grid_export_kwh": round(result.grid_export_kwh, 3),
            "soc_end": [round(s, 1) for s in result.soc_end],
        }
    return {
        "prices": {
            "import_eur_kwh": [round(import_price(h), 4) for h in range(24)],
            "export_eur_kwh": [round(export_price(h), 4) for h in range(24)],
            "cheapest_hours": sorted(CHEAP),
            "dearest_hours": sorted(DEAR),
            "mean_import_eur_kwh": round(mean_price, 4),
        },
        "runs": rows,
    }


def _coverable(scenario: Scenario, highest: dict[int, float], socs: dict[int, float]) -> set[int]:
    fleet_w = sum(b.max_discharge_w for b in scenario.batteries) * 0.975
    cutoff = max(b.discharge_cutoff for b in scenario.batteries)
    goal = CAP_KW * 1000.0 - peak_cap.MARGIN_W
    return {q for q, most in highest.items() if most - fleet_w <= goal and socs[q] > cutoff + 1}


def flemish_evening() -> dict[str, Any]:
    """The evening: the month-style peak with and without the cap; the cap on each quarter."""
    house, highest = _house_quarters(FLEMISH_EVENING)
    rows: dict[str, Any] = {}
    checks: dict[str, Any] = {}
    for name, schedule, cap in (
        ("zero", zero_all_day, 0.0),
        ("zero_cap", zero_all_day, CAP_KW * 1000.0),
        ("planner", evening_planner, 0.0),
        ("planner_cap", evening_planner, CAP_KW * 1000.0),
    ):
        socs: dict[int, float] = {}
        controller = ModeController(name, schedule, cap_w=cap)
        metered = Metered(FLEMISH_EVENING.house.start_h)

        def observe(k: int, phase_w: list[float], metered: Metered = metered) -> None:
            metered(k, phase_w)

        def on_second(sim: Sim, k: int, socs: dict[int, float] = socs) -> None:
            quarter = int((FLEMISH_EVENING.house.start_h * 3600 + k) // 900)
            lowest = min(b.reported_soc for b in sim.batteries)
            socs[quarter] = min(socs.get(quarter, 100.0), lowest)

        result = run(FLEMISH_EVENING, controller, observe=observe, on_second=on_second)
        averages = {q: joules / 900 for q, joules in metered.quarters.items()}
        for q in house:
            averages.setdefault(q, 0.0)
        peak_q = max(averages, key=lambda q: averages[q])
        rows[name] = {
            "peak_kw": round(averages[peak_q] / 1000, 3),
            "peak_at": _quarter_name(peak_q),
            "cost_eur": round(metered.cost_eur, 3),
            "grid_import_kwh": round(result.grid_import_kwh, 3),
            "conversion_loss_kwh": round(result.conversion_loss_kwh, 3),
            "soc_end": [round(s, 1) for s in result.soc_end],
            "meter_month_peak_kw": round(controller.peak.month_peak_w / 1000, 3),
        }
        if cap:
            coverable = _coverable(FLEMISH_EVENING, highest, socs)
            over = sorted(q for q in coverable if averages[q] > cap + 1e-6)
            checks[name] = {
                "coverable_quarters": len(coverable),
                "quarters": len(house),
                "over_cap_on_coverable": [_quarter_name(q) for q in over],
                "worst_coverable_kw": round(max(averages[q] for q in coverable) / 1000, 3)
                if coverable
                else None,
            }
    house_peak = max(house.values()) / 900
    return {
        "house_peak_kw": round(house_peak / 1000, 3),
        "cap_kw": CAP_KW,
        "runs": rows,
        "cap_checks": checks,
    }


def _quarter_name(q: int) -> str:
    minutes = q * 15
    return f"{minutes // 60 % 24:02d}:{minutes % 60:02d}"


def targets(day: dict[str, Any], evening: dict[str, Any]) -> list[dict[str, Any]]:
    """The issue's targets, met or not, with the figures behind them."""
    runs = day["runs"]
    zero, auto = runs["zero"], runs["automation"]
    checks = evening["cap_checks"]
    over = {name: c["over_cap_on_coverable"] for name, c in checks.items()}
    return [
        {
            "target": "the cap holds on every quarter hour the batteries can cover",
            "met": all(not quarters for quarters in over.values()),
            "detail": "; ".join(
                f"{name}: {c['coverable_quarters']}/{c['quarters']} coverable, "
                f"worst {c['worst_coverable_kw']} kW, over: {c['over_cap_on_coverable'] or 'none'}"
                for name, c in checks.items()
            ),
        },
        {
            "target": "the price day costs less than zero alone",
            "met": auto["cost_with_stored_eur"] < zero["cost_with_stored_eur"],
            "detail": (
                f"automation {auto['cost_with_stored_eur']} EUR vs zero "
                f"{zero['cost_with_stored_eur']} EUR with the energy left valued "
                f"(raw {auto['cost_eur']} vs {zero['cost_eur']} EUR)"
            ),
        },
    ]


def table(day: dict[str, Any], evening: dict[str, Any], checks: list[dict[str, Any]]) -> str:
    lines = ["== price day (January, hourly day-ahead prices)"]
    prices = day["prices"]
    lines.append(f"cheapest hours {prices['cheapest_hours']}, dearest {prices['dearest_hours']}")
    lines.append(
        f"{'schedule':<20}{'cost EUR':>10}{'stored kWh':>12}{'cost+stored':>13}"
        f"{'loss kWh':>10}{'import':>9}{'export':>9}"
    )
    for name, r in day["runs"].items():
        lines.append(
            f"{name:<20}{r['cost_eur']:>10.3f}{r['stored_change_kwh']:>12.3f}"
            f"{r['cost_with_stored_eur']:>13.3f}{r['conversion_loss_kwh']:>10.3f}"
            f"{r['grid_import_kwh']:>9.2f}{r['grid_export_kwh']:>9.2f}"
        )
    lines.append("")
    lines.append(
        f"== Flemish evening (house alone peaks at {evening['house_peak_kw']} kW; "
        f"cap {evening['cap_kw']} kW)"
    )
    lines.append(f"{'schedule':<16}{'peak kW':>9}{'at':>7}{'cost EUR':>10}{'loss kWh':>10}")
    for name, r in evening["runs"].items():
        lines.append(
            f"{name:<16}{r['peak_kw']:>9.3f}{r['peak_at']:>7}{r['cost_eur']:>10.3f}"
            f"{r['conversion_loss_kwh']:>10.3f}"
        )
    lines.append("")
    lines.append("== targets (issue 23)")
    for check in checks:
        verdict = "MET" if check["met"] else "MISSED"
        lines.append(f"{verdict:<8}{check['target']}: {check['detail']}")
    return "\n".join(lines)


def main(as_json: bool) -> int:
    started = time.perf_counter()
    day = price_day()
    evening = flemish_evening()
    checks = targets(day, evening)
    if as_json:
        doc = {
            "price_day": day,
            "flemish_evening": evening,
            "targets": checks,
            "elapsed_s": round(time.perf_counter() - started, 1),
        }
        json.dump(doc, sys.stdout, indent=1)
        sys.stdout.write("\n")
    else:
        print(table(day, evening, checks))
        print(f"\n{time.perf_counter() - started:.0f} s")
    return 0
