"""The integration's loop with the in-flight estimate (inflight.py), and its ideal reference.

``InFlightController`` is ``EngineController`` plus what the coordinator would add: each
cycle it reads every battery's AC power sensor (as Home Assistant has it: the value of the
board's last poll, with the time of that poll), estimates what each battery delivered when
the meter took its sample, and passes it to the engine as ``delivered_w``. Its cycle runs on
``inflight.loop_timing(interval)``.

``IdealController`` is the "ideal reaction at the same cycle" reference: the same engine and
timing, but an instantaneous, exact meter and the batteries' true AC power (no estimate).
The plant keeps its lag: only what a better reading could give is removed.

Optionally a ``CurveLearner`` (bench/learn.py) feeds each battery's learned table to the
engine; ``ramp`` (an ``inflight_rules.RampRule``) carries a ramp in progress forward to
now (``inflight_rules.ramp_w``, same cycle times); ``early`` (an ``inflight_rules.EarlyRule``)
wakes at every meter update and brings the cycle forward when the demand moved
(``inflight_rules.early_cycle``).
"""

from __future__ import annotations

from dataclasses import replace
import math
from typing import Any, Protocol

from bench import inflight_rules
from bench.core import control, engine, load
from bench.loop import Sim

from .engine_ctl import carry_out, commanded_of, readings_of

inflight = load("inflight")


class Tables(Protocol):
    """Gives each battery's efficiency table to decide on (None: the default)."""

    def observe(self, sim: Sim) -> None: ...

    def table(self, battery: int) -> Any: ...


def meter_sample_s(sim: Sim) -> float:
    """The middle of the second the meter reading in force describes (as HA could know it).

    Home Assistant has the reading's time (last_reported); the meter's value is the mean of
    the second before it.
    """
    meter = sim.meter
    completed = min(meter.count, math.floor(sim.now + 1e-9))
    if meter.poll_s > 1.0:
        completed = math.floor(math.floor(completed / meter.poll_s) * meter.poll_s)
    return completed - 0.5


def ac_reading(sim: Sim, battery: int) -> tuple[float, float] | None:
    """The battery's AC power sensor as HA has it now: (value W, time of the board's poll)."""
    b = sim.batteries[battery]
    interval = b.params.power_report_interval_s
    if b.time_s + 1e-9 < interval:
        return None  # not polled yet
    polled = math.floor((b.time_s + 1e-9) / interval) * interval
    return float(b.reported_ac_power_w), polled


METER_LATENCY_S = 0.05  # from the meter's update to the cycle that it triggers


def meter_updates(sim: Sim) -> list[tuple[float, float]]:
    """The meter's last inflight_rules.RAMP_SAMPLES updates: (middle of the sample's second, W).

    What a listener on the grid sensor would have collected (the value of each update with
    its last_reported - 0.5 s), oldest first.
    """
    meter = sim.meter
    poll = max(1, round(meter.poll_s))
    newest = meter_sample_s(sim) - 0.5  # index of the second in force
    out = []
    for back in range(inflight_rules.RAMP_SAMPLES - 1, -1, -1):
        k = round(newest) - back * poll
        if k >= 0:
            out.append((k + 0.5, float(round(meter.total[k]))))
    return out


def next_meter_update(sim: Sim) -> float:
    """The delay to just after the meter's next update (where an early cycle can run)."""
    poll = max(1.0, sim.meter.poll_s)
    return (math.floor(sim.now / poll + 1e-9) + 1) * poll + METER_LATENCY_S - sim.now


def meter_aligned_delay(sim: Sim, delay_s: float) -> float:
    """The delay to the meter update nearest to now + delay_s (a cycle run on the update).

    As a coordinator that runs its cycle on the meter's state change: the reading is then
    fresh (half a second old for a 1 s meter) instead of anywhere in its period.
    """
    poll = max(1.0, sim.meter.poll_s)
    update = math.floor((sim.now + delay_s) / poll + 0.5) * poll + METER_LATENCY_S
    return max(update - sim.now, poll / 2.0)


class InFlightController:
    """engine.allocate with delivered_w from inflight.InFlight, on a chosen interval."""

    per_second = False

    def __init__(
        self,
        strategy: str = "efficiency",
        interval_s: float = 6.5,
        *,
        use_ac: bool = True,
        align: bool = False,
        response: Any = None,
        tables: Tables | None = None,
        ramp: Any = None,
        early: Any = None,
        name: str | None = None,
        **settings: Any,
    ) -> None:
        self.name = name or f"{strategy}+inflight@{interval_s:g}s"
        self.settings = engine.StrategySettings(strategy=engine.Strategy(strategy), **settings)
        self.response = response or inflight.Response()
        interval, settle = inflight.loop_timing(interval_s, self.response)
        self.loop_settings = control.LoopSettings(interval_s=interval, settle_s=settle)
        self.use_ac = use_ac
        self.align = align
        self.tables = tables
        self.ramp = ramp
        self.early = early
        self.plan: Any = None
        self.models: list[Any] = []
        self.last_keepalive = -math.inf
        self.meter = inflight_rules.MeterSamples()
        self.cycles = 0  # cycles run (the loop also counts early's wake-ups)
        self.early_cycles = 0
        self.next_cycle = 0.0
        self.last_cycle = -math.inf
        self.settle_until = -math.inf
        self.cycle_demand = math.nan

    def start(self, sim: Sim) -> float:
        self.models = [inflight.InFlight(self.response) for _ in sim.boards]
        return 0.0

    def _demand_now(self, sim: Sim, readings: list[Any]) -> float:
        """The house's demand as the engine sees it: meter + every delivered_w."""
        return float(sim.grid_w() + sum(r.delivered_w for r in readings))

    def _readings(self, sim: Sim) -> list[Any]:
        at = meter_sample_s(sim)
        readings = []
        for i, reading in enumerate(readings_of(sim)):
            ac = ac_reading(sim, i) if self.use_ac else None
            value, when = ac if ac is not None else (None, None)
            delivered = self.models[i].delivered_w(at, value, when)
            table = self.tables.table(i) if self.tables is not None else None
            readings.append(replace(reading, delivered_w=delivered, efficiency_table=table))
        return readings

    def _grid_w(self, sim: Sim) -> float:
        grid = sim.grid_w()
        if self.ramp is None:
            return grid
        for at, watts in meter_updates(sim):
            self.meter.add(at, watts)
        models = tuple(self.models)
        return grid + inflight_rules.ramp_w(self.meter.demands(models), sim.now, self.ramp)

    def cycle(self, sim: Sim) -> float:
        if self.early is None:
            return self._cycle(sim)
        if sim.now < self.next_cycle - 1e-6:
            demand = self._demand_now(sim, self._readings(sim))
            if not inflight_rules.early_cycle(
                sim.now,
                last_cycle_s=self.last_cycle,
                settle_until_s=self.settle_until,
                demand_w=demand,
                cycle_demand_w=self.cycle_demand,
                rule=self.early,
            ):
                return min(self.next_cycle - sim.now, next_meter_update(sim))
            self.early_cycles += 1
        delay = self._cycle(sim)
        self.next_cycle = sim.now + delay
        self.last_cycle = sim.now
        entered = delay == self.loop_settings.settle_s != self.loop_settings.interval_s
        self.settle_until = sim.now + delay if entered else -math.inf
        self.cycle_demand = self._demand_now(sim, self._readings(sim))
        return min(delay, next_meter_update(sim))

    def _cycle(self, sim: Sim) -> float:
        self.cycles += 1
        if self.tables is not None:
            self.tables.observe(sim)
        commanded = commanded_of(sim)
        previous = self.plan if self.plan is not None else control.plan_from_commanded(commanded)
        plan = engine.allocate(self._grid_w(sim), self._readings(sim), previous, self.settings)
        decision = carry_out(sim, plan, commanded, self.last_keepalive, self.loop_settings)
        if decision.keepalive:
            self.last_keepalive = sim.now
        for i, board in enumerate(sim.boards):
            mode, power = board.forced
            self.models[i].command(sim.now, engine.Mode(mode), power)
        self.plan = plan
        if self.align:
            return meter_aligned_delay(sim, float(decision.delay_s))
        return float(decision.delay_s)

    def second(self, sim: Sim, k: int) -> None:
        raise NotImplementedError


class IdealController(InFlightController):
    """The same loop with an exact, instantaneous meter and the batteries' true AC power."""

    def __init__(
        self,
        strategy: str = "efficiency",
        interval_s: float = 6.5,
        *,
        house_age_s: int = 0,
        **kw: Any,
    ) -> None:
        """house_age_s: read the house's demand of that many seconds ago (exact otherwise).

        1: exactly what the last completed meter second says, with a perfect estimate of the
        batteries: the best a reading of the meter can give without predicting.
        """
        kw.setdefault("name", f"{strategy}+ideal@{interval_s:g}s")
        super().__init__(strategy, interval_s, **kw)
        self.house_age_s = house_age_s

    def _true_phase_w(self, sim: Sim) -> list[float]:
        k = min(math.floor(sim.now + 1e-9), len(sim.net[0]) - 1)
        k = max(0, k - self.house_age_s)
        phase = [sim.net[0][k], sim.net[1][k], sim.net[2][k]]
        for i, b in enumerate(sim.batteries):
            phase[sim.phase_index[i]] -= b.ac_power_w
        return phase

    def _readings(self, sim: Sim) -> list[Any]:
        phase = self._true_phase_w(sim)
        single = sim.scenario.phase_count == 1
        readings = []
        for i, reading in enumerate(readings_of(sim)):
            phase_w = sum(phase) if single else phase[sim.phase_index[i]]
            table = self.tables.table(i) if self.tables is not None else None
            readings.append(
                replace(
                    reading,
                    phase_w=phase_w,
                    delivered_w=sim.batteries[i].ac_power_w,
                    efficiency_table=table,
                )
            )
        return readings

    def _grid_w(self, sim: Sim) -> float:
        return sum(self._true_phase_w(sim))
