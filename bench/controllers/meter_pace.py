"""``efficiency_meter``: the integration's meter pace (core/pace.py) in the closed loop.

The engine, the loop policy and the in-flight estimate as ``InFlightController`` runs them
(each battery's AC power as Home Assistant has it, ``inflight.InFlight`` per battery, with the
integration's default response: users cannot set it), on the timing of the integration's own
``core/pace.py`` (loaded through ``bench.core``, never copied):

* each of the meter's reports (every second, every poll on a 5 s meter; the cycle runs
  ``METER_LATENCY_S`` after the update, as the state change reaches the coordinator) moves
  the schedule on (``pace.reported``): a cycle now, or ``min_gap_s`` after the last one's
  start, never inside a settle;
* every cycle starts (``pace.started``) and ends (``pace.ended``) the schedule with the loop
  policy's delay: the settle after a start from another mode, else the silent meter's timer
  (``fallback_s``), which runs a cycle when the meter does not report;
* the writes of each cycle go through the write allowance (``pace.allow``, one bucket per
  battery): a withheld power change is not written and the plan in force keeps what the
  battery was told;
* a battery whose setpoint the cycle changed by more than ``pace.AWAIT_W`` (or whose mode)
  is awaited (``pace.awaited``): a report runs no cycle until its AC power sensor has
  reported since (``pace.ac_reported`` with the time of the board's last poll, as
  ``inflight_ctl.ac_reading`` has it; the sim's board reports every poll), if it is judged
  slow (``pace.judge`` at each report and cycle on its AC reading, ``pace.watch`` on each
  such change with its in-flight estimate; ``pace.slow_ones``; ``unjudged`` says whether a
  battery not judged yet is awaited);
* the demand the engine sees changes least (``inflight.least_change``): of the demands each
  battery's ``InFlight.delivered_range`` allows (a slower or faster battery, a late AC
  reading), the one nearest what the batteries were told, added to the grid it plans on;
  ``least=False`` plans on the estimates alone (as before issue 22's third session).

The sim's meter reports at every update; ``reports`` (a hook for the fault suite) says
whether it did.
"""

from __future__ import annotations

import math
from typing import Any

from bench.core import control, engine, load
from bench.loop import Sim

from .engine_ctl import commanded_of
from .inflight_ctl import (
    METER_LATENCY_S,
    InFlightController,
    ac_reading,
    inflight,
    meter_sample_s,
)


def pace_module() -> Any:
    """The integration's core/pace.py (ImportError where it does not exist yet)."""
    return load("pace")


def last_update_s(sim: Sim) -> float:
    """When the meter's latest update in force came (s; -inf: none yet)."""
    poll = max(1.0, sim.meter.poll_s)
    completed = min(sim.meter.count, math.floor(sim.now + 1e-9))
    update = math.floor(completed / poll + 1e-9) * poll
    return update if update >= 1.0 else -math.inf


def next_update_delay(sim: Sim) -> float:
    """The delay to just after the meter's next update (its report reaches the loop)."""
    poll = max(1.0, sim.meter.poll_s)
    return (math.floor(sim.now / poll + 1e-9) + 1) * poll + METER_LATENCY_S - sim.now


class MeterPaceController(InFlightController):
    """engine.allocate with the in-flight estimate, cycled by core/pace.py on the meter."""

    def __init__(
        self,
        strategy: str = "efficiency",
        *,
        response: Any = None,
        pace_settings: Any = None,
        allowance: Any = None,
        name: str = "efficiency_meter",
        unjudged: bool | None = None,
        least: bool = True,
        **settings: Any,
    ) -> None:
        # The in-flight estimate at the integration's default response; the timing is the
        # pace's (interval_s below is only the parent's bookkeeping).
        super().__init__(strategy, 6.5, response=response, name=name, **settings)
        pace = pace_module()
        self.pace = pace
        self.pace_settings = pace_settings or pace.meter_settings(self.response)
        self.allowance = allowance or pace.AllowanceSettings()
        self.loop_settings = control.LoopSettings(
            interval_s=self.pace_settings.fallback_s, settle_s=self.pace_settings.settle_s
        )
        self.schedule = pace.Schedule()
        self.unjudged = pace.AWAIT_UNJUDGED if unjudged is None else unjudged
        self.least = least
        self.shift_w = 0.0  # what least_change added to the grid this cycle (W)
        self.lags: list[Any] = []
        self.buckets: Any = None
        self.last_report = -math.inf
        self.withheld = 0  # power changes the allowance withheld (battery-cycles)
        self.timer_cycles = 0  # cycles run at a wake-up without a report (timer, least gap)

    def reports(self, sim: Sim) -> bool:
        """Whether the meter's latest update reached the loop as a report (fault hook)."""
        return True

    def start(self, sim: Sim) -> float:
        super().start(sim)
        self.buckets = self.pace.full_buckets(len(sim.boards), sim.now, self.allowance)
        self.lags = [self.pace.Lag() for _ in sim.boards]
        # Nothing until the meter's first report; the timer covers a meter that never does.
        self.schedule = self.pace.Schedule(due_s=sim.now + self.pace_settings.fallback_s)
        return next_update_delay(sim)

    def cycle(self, sim: Sim) -> float:
        pace = self.pace
        update = last_update_s(sim)
        reported = False
        if update > self.last_report and self.reports(sim):
            self.last_report = update
            reported = True
            self._judge(sim)
            for battery in self.schedule.awaiting:
                ac = ac_reading(sim, battery)
                at = None if ac is None else ac[1]
                self.schedule = pace.ac_reported(self.schedule, battery, at)
            self.schedule = pace.reported(self.schedule, sim.now, self.pace_settings)
        due = pace.wait_s(self.schedule, sim.now)
        if due is not None and due <= 1e-6:
            self.timer_cycles += not reported
            self._paced_cycle(sim)
        wait = pace.wait_s(self.schedule, sim.now)
        delay = next_update_delay(sim)
        return delay if wait is None else min(delay, max(wait, 1e-3))

    def _judge(self, sim: Sim) -> None:
        """Judge each battery's watched change on its AC reading (``pace.judge``)."""
        for i, lag in enumerate(self.lags):
            ac = ac_reading(sim, i)
            value, at = (None, None) if ac is None else ac
            self.lags[i] = self.pace.judge(lag, value, at, self.response)

    def _readings(self, sim: Sim) -> list[Any]:
        """The estimates, and the shift of the grid that changes the demand least."""
        readings = super()._readings(sim)
        self.shift_w = 0.0
        if self.least:
            at = meter_sample_s(sim)
            ranges = []
            for i, model in enumerate(self.models):
                ac = ac_reading(sim, i) if self.use_ac else None
                ranges.append(model.delivered_range(at, *(ac if ac is not None else (None, None))))
            self.shift_w = inflight.least_change(
                sim.grid_w(),
                [r.delivered_w for r in readings],
                ranges,
                [model.target_w for model in self.models],
            )
        return readings

    def _grid_w(self, sim: Sim) -> float:
        return super()._grid_w(sim) + self.shift_w

    def _paced_cycle(self, sim: Sim) -> None:
        pace = self.pace
        self.schedule = pace.started(self.schedule, sim.now)
        self.cycles += 1
        self._judge(sim)
        commanded = commanded_of(sim)
        previous = self.plan if self.plan is not None else control.plan_from_commanded(commanded)
        readings = self._readings(sim)
        plan = engine.allocate(self._grid_w(sim), readings, previous, self.settings)
        decision = control.decide(
            plan,
            commanded,
            [True] * len(sim.boards),
            sim.now - self.last_keepalive,
            self.loop_settings,
        )
        allowed = pace.allow(
            plan, decision, commanded, self.buckets, sim.now, settings=self.allowance
        )
        self.buckets = allowed.buckets
        self.withheld += len(allowed.withheld)
        for write in allowed.decision.writes:
            sim.write(write.battery, str(write.kind), write.value)
        if decision.keepalive:
            self.last_keepalive = sim.now
        for i, board in enumerate(sim.boards):
            mode, power = board.forced
            self.models[i].command(sim.now, engine.Mode(mode), power)
        self.plan = allowed.plan
        delay = float(decision.delay_s)
        settling = pace.settles(delay, self.loop_settings, pace.Pace.METER)
        after = allowed.decision.commanded
        changed = pace.awaited(commanded, after)
        for i in changed:
            estimate = readings[i].delivered_w
            self.lags[i] = pace.watch(
                self.lags[i], commanded[i], after[i], estimate, sim.now, response=self.response
            )
        awaiting = pace.slow_ones(changed, self.lags, unjudged=self.unjudged)
        self.schedule = pace.ended(
            self.schedule, sim.now, delay, settling=settling, awaiting=awaiting
        )
