"""Fault injection: meter and board faults in the closed loop, and what they cost.

``scripts/bench --faults`` runs every fault below with every controller, the integration's
strategies at every cycle interval it allows (``inflight.INTERVALS_S``: 6.5, 5, 4, 3 and 2 s),
and reports, per controller, interval and fault:

* **bad_battery_s**: battery-seconds running on bad information beyond the stale timeout plus
  one cycle (``grace_s``: 36.5 s at 6.5 s, 32 s at 2 s). Running: the battery's board asks it
  to charge or discharge. Meter faults (drop-out, freeze, spike, clock step): a battery
  running while the meter is bad. Board faults: a battery running while its controller
  believes it stopped (or running the other way), or while its AC power sensor reads the
  other way than it runs beyond the read-back's 100 W running threshold (``opposite_ac``;
  below it no reading is judged, by design), counted from grace_s after that began. A
  controller believes what it last wrote; the integration's what it knows after each
  cycle's read-back. A battery whose board is offline cannot be stopped by anyone; it is
  judged by the same rule (its controller believes what it last wrote).
* **plan_over_s**: seconds past a phase's limit (the main fuse, both ways) caused by the
  batteries and not explained by a step of the house (``bench/phases.py``'s plan seconds).
* **extra_import_kwh / extra_export_kwh**: grid energy beyond the same run without the fault.

Two fleets: ``evening`` (45 min of heavy short loads, 3 batteries on 3 phases, 25 A) for
most faults, and ``phase_16a`` (a 6 kW heat pump on three phases, 3 batteries on L1 behind a
16 A fuse, so L1 exports at its limit whenever the batteries cover the house) for a battery
dropping off on a phase at its limit.

The integration's strategies run here as the coordinator runs them (``GuardedController``):
the meter judged by ``readings.judge_meter`` on monotonic ages (fail-safe: stop every
battery), each battery read back with ``readback.check``, writes that fail or hang skipped
like the coordinator does, the main fuse's phase limits, each battery's in-flight estimate
below 6.5 s and the rise of a battery that takes no part (``inflight.rise_range``) at every
interval, as ``adapters/delivery.py`` gives them. Reference controllers (seed, crossover)
run as they are; a cycle that reads an unavailable meter or writes an offline board raises,
which does nothing (as a pyscript error would).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
import math
from typing import Any

from bench.controllers import ENGINE_STRATEGIES, METER_PACE, make
from bench.controllers.engine_ctl import EngineController, readings_of
from bench.controllers.inflight_ctl import ac_reading, meter_sample_s
from bench.controllers.meter_pace import last_update_s, next_update_delay
from bench.core import control, engine, load
from bench.loop import Controller, Result, Sim, run
from bench.phases import PhaseMonitor
from bench.scenarios import BatterySetup, Scenario, by_name, resolve, window
from bench.sim.house import House, HouseSpec, build_house

readings = load("readings")
readback = load("readback")
inflight = load("inflight")
model = load("model")

STALE_S = 30.0  # the integration's default stale timeout
CYCLE_S = 6.5  # its default interval
GRACE_S = STALE_S + CYCLE_S
INTERVALS: tuple[float, ...] = tuple(inflight.INTERVALS_S)  # 6.5 s first
FUSE_A = 25.0
HANG_S = 10.0  # a hung write returns after the coordinator's write timeout
VOLTS = 230.0
RUNNING_W = readback.ReadbackSettings().running_w  # an AC power beyond this is running
SCENARIO = ("evening", 18.0, 0.75)  # 45 min of heavy short loads, 3 batteries on 3 phases
#: The meter pace runs at its own pace (no interval); the oracle has no cycles.
CONTROLLERS = ("priority", "equal", "efficiency", METER_PACE, "seed", "crossover")
#: The integration's controllers (judged by ``verdict``).
INTEGRATION = (*ENGINE_STRATEGIES, METER_PACE)
START_S = 600  # the fault begins 10 min in
LENGTH_S = 900  # and lasts 15 min (point faults happen at START_S)


def grace_s(interval_s: float) -> float:
    """The stale timeout plus one cycle: bad information may last this long."""
    return STALE_S + interval_s


# A phase at its limit: a 6 kW heat pump on three phases, the batteries on L1 behind 16 A.
# Covering the house, L1 exports what L2 and L3 import, up to its 3312 W limit.
PHASE_16A = Scenario(
    "phase_16a",
    "6 kW heat pump on 3 phases, 3 batteries on L1, 16 A fuse: L1 exports at its limit",
    HouseSpec(
        seed=41,
        day_of_year=355,
        start_h=18.0,
        duration_h=0.75,
        pv_kwp=0.0,
        base_w=300.0,
        heat_pump_w=6000.0,
        appliances=("kettle", "microwave"),
    ),
    (BatterySetup("L1", 90.0), BatterySetup("L1", 95.0), BatterySetup("L1", 100.0)),
)
CASES: dict[str, tuple[Scenario, float]] = {
    "evening": (window(by_name(SCENARIO[0]), SCENARIO[1], SCENARIO[2]), FUSE_A),
    "phase_16a": (PHASE_16A, 16.0),
}


class MeterUnavailableError(Exception):
    """The meter's state is 'unavailable' (a controller that reads it as a number fails)."""


class BoardOfflineError(Exception):
    """A write to a board that is offline (Home Assistant skips it, a script fails)."""


@dataclass(frozen=True, slots=True)
class Fault:
    """One fault: a name, what happens, whether it is a meter fault, and on which fleet."""

    name: str
    description: str
    meter: bool
    case: str = "evening"


FAULTS: tuple[Fault, ...] = (
    Fault("meter_dropout", "meter unavailable for 15 min", meter=True),
    Fault("meter_freeze", "meter holds its last value, no reports, for 15 min", meter=True),
    Fault("meter_spike", "meter reports -1e12 W again and again for 15 min", meter=True),
    Fault("clock_step", "wall clock steps back 1 h as the meter freezes for 15 min", meter=True),
    Fault("ignores_writes", "the fullest battery's board ignores writes for 15 min", meter=False),
    Fault("self_start", "the app starts the fullest battery at 800 W discharge", meter=False),
    Fault("rs485_timeout", "boards drop RS485 control after 90 s without enable", meter=False),
    Fault("reboot", "the fullest battery's board reboots: RS485 unknown, stop, 0 W", meter=False),
    Fault("hung_writes", "the fullest battery's writes hang 10 s and fail for 15 min", meter=False),
    Fault(
        "opposite_ac",
        "the fullest battery's AC power sensor reads the other sign for 15 min",
        meter=False,
        case="phase_16a",
    ),
    Fault(
        "dropout_at_limit",
        "the battery delivering most on L1 (at its 16 A limit) drops off for 15 min, running on",
        meter=False,
        case="phase_16a",
    ),
)


class FaultSim(Sim):
    """The closed loop's sim with one fault, and what each controller told each board."""

    def __init__(self, scenario: Scenario, house: House, fault: Fault | None) -> None:
        super().__init__(scenario, house)
        self.fault = fault
        # Board faults hit the battery the strategies use first (the fullest, at dusk).
        self.target = max(range(len(self.setups)), key=lambda i: self.setups[i].soc)
        self.told: list[str] = ["stop"] * len(self.boards)  # last mode written
        self.rs485_unknown = [False] * len(self.boards)
        self.hang_s = 0.0  # time the current cycle spent in hung writes
        self.wall_offset_s = 0.0
        self._frozen: tuple[float, list[float], float] | None = None
        if fault is not None and fault.name == "rs485_timeout":
            for board in self.boards:
                board.rs485_timeout_s = 90.0

    @property
    def offline(self) -> frozenset[int]:
        """The batteries whose board is offline now (entities unavailable, writes fail)."""
        return frozenset((self.target,)) if self.active("dropout_at_limit") else frozenset()

    def ac_wrong(self, battery: int) -> bool:
        """Whether battery's AC power sensor reads the other sign now."""
        return battery == self.target and self.active("opposite_ac")

    def ac_contradicts(self, battery: int) -> bool:
        """Whether battery's AC power sensor reads the other way than it runs, beyond the
        read-back's running threshold (100 W: below it a reading is not judged, by design)."""
        value = self.ac_power(battery)
        return (
            self.ac_wrong(battery)
            and value is not None
            and abs(value) > RUNNING_W
            and value * self.boards[battery].setpoint_w < 0
        )

    def ac_power(self, battery: int) -> float | None:
        """The battery's AC power sensor's value (None: unavailable)."""
        if battery in self.offline:
            return None
        value = float(self.batteries[battery].reported_ac_power_w)
        return -value if self.ac_wrong(battery) else value

    def ac_reading(self, battery: int) -> tuple[float, float] | None:
        """The AC power sensor as Home Assistant has it: (value, time of the report)."""
        reading = ac_reading(self, battery)
        if reading is None or battery in self.offline:
            return None
        value, at = reading
        return (-value if self.ac_wrong(battery) else value), at

    def active(self, name: str) -> bool:
        """Whether fault name is in force now."""
        return (
            self.fault is not None
            and self.fault.name == name
            and START_S <= self.now < START_S + LENGTH_S
        )

    def meter_bad(self) -> bool:
        """Whether the meter gives bad information now."""
        fault = self.fault
        return fault is not None and fault.meter and START_S <= self.now < START_S + LENGTH_S

    # The meter as Home Assistant shows it.
    def _frozen_values(self) -> tuple[float, list[float], float]:
        """The meter's total and phases when it froze, and when."""
        if self._frozen is None:
            # The last report is the last poll before the fault began.
            at = float(START_S)
            phases = [self.meter.read_phase(phase, at) for phase in range(3)]
            poll = max(1.0, self.scenario.meter_poll_s)
            self._frozen = (self.meter.read_total(at), phases, math.floor(at / poll) * poll)
        return self._frozen

    def _freezing(self) -> bool:
        return self.active("meter_freeze") or self.active("clock_step")

    def grid_w(self) -> float:
        if self.active("meter_dropout"):
            raise MeterUnavailableError
        if self.active("meter_spike"):
            return -1e12
        if self._freezing():
            return self._frozen_values()[0]
        self._frozen = None
        return super().grid_w()

    def phase_w(self, battery: int) -> float:
        if self.active("meter_dropout"):
            raise MeterUnavailableError
        if self.active("meter_spike"):
            return -1e12 / 3
        if self._freezing() and self.scenario.phase_count == 3:
            return self._frozen_values()[1][self.phase_index[battery]]
        if self._freezing():
            return self._frozen_values()[0]
        return super().phase_w(battery)

    def meter_samples(self) -> tuple[Any, dict[str, Any]]:
        """The meter's entities as readings.MeterSample (state string, age on sim time)."""
        poll = self.scenario.meter_poll_s
        age = self.now - math.floor(self.now / poll) * poll if poll > 1 else 0.0
        if self._freezing():
            age = self.now - self._frozen_values()[2]
        try:
            total = str(self.grid_w())
        except MeterUnavailableError:
            total = "unavailable"
        phases: dict[str, Any] = {}
        if self.scenario.phase_count == 3:
            for index, phase in enumerate(("L1", "L2", "L3")):
                try:
                    value = str(self._phase_value(index))
                except MeterUnavailableError:
                    value = "unavailable"
                phases[phase] = readings.MeterSample(f"sensor.{phase}", value, "W", age)
        return readings.MeterSample("sensor.grid", total, "W", age), phases

    def _phase_value(self, phase: int) -> float:
        if self.active("meter_dropout"):
            raise MeterUnavailableError
        if self.active("meter_spike"):
            return -1e12 / 3
        if self._freezing():
            return self._frozen_values()[1][phase]
        return self.meter.read_phase(phase, self.now)

    def write(self, battery: int, kind: str, value: int | str) -> None:
        if kind == "mode":
            self.told[battery] = str(value)
        elif kind in ("charge_power", "discharge_power") and value == 0:
            mode = "charge" if kind == "charge_power" else "discharge"
            if self.told[battery] == mode:
                self.told[battery] = "stop"
        if battery in self.offline:
            raise BoardOfflineError(f"battery {battery} is offline")
        if battery == self.target and self.active("hung_writes"):
            self.hang_s += HANG_S
            raise TimeoutError("write hung")
        if battery == self.target and self.active("ignores_writes"):
            return
        if kind == "rs485_enable":
            self.rs485_unknown[battery] = False
        super().write(battery, kind, value)

    def rs485_state(self, battery: int) -> str:
        """The RS485 select's state string."""
        if self.rs485_unknown[battery]:
            return "unknown"
        return "enable" if self.boards[battery].rs485_enabled else "disable"

    def second(self, k: int) -> None:
        """Apply point faults at the start of the fault; let boards time out RS485."""
        if self.fault is None:
            return
        if k == START_S and self.fault.name == "dropout_at_limit":
            # The battery that discharges most on L1 (the phase at its limit) drops off.
            on_l1 = [i for i, phase in enumerate(self.phase_index) if phase == 0]
            self.target = max(on_l1, key=lambda i: self.boards[i].setpoint_w)
        if k == START_S and self.fault.name == "self_start":
            board = self.boards[self.target]
            board.rs485_enabled, board.discharge_w, board.mode = True, 800, "discharge"
            board._apply()
        if k == START_S and self.fault.name == "reboot":
            board = self.boards[self.target]
            board.rs485_enabled, board.mode = False, "stop"
            board.charge_w = board.discharge_w = 0
            self.rs485_unknown[self.target] = True
            board._apply()
        if self.fault.name == "rs485_timeout":
            for board in self.boards:
                board.poll()


@dataclass(slots=True)
class BadInformation:
    """Counts battery-seconds running on bad information beyond grace_s."""

    belief: Callable[[FaultSim, int], str]  # the mode a controller believes battery i is in
    grace_s: float = GRACE_S
    meter_bad_since: float | None = None
    mismatch_since: list[float | None] = field(default_factory=list)
    right_since: list[float | None] = field(default_factory=list)
    battery_s: int = 0

    def second(self, sim: Sim, k: int) -> None:
        """Count second k (and apply the point faults due at the next)."""
        if not isinstance(sim, FaultSim):
            raise TypeError("the fault suite runs on a FaultSim")
        sim.second(k + 1)
        now = float(k + 1)
        if not self.mismatch_since:
            self.mismatch_since = [None] * len(sim.batteries)
            self.right_since = [None] * len(sim.batteries)
        # Running: its board asks it to run (the physical ramp-down is the battery's).
        running = [board.setpoint_w != 0 for board in sim.boards]
        if sim.meter_bad():
            self.meter_bad_since = self.meter_bad_since if self.meter_bad_since else now
            if now - self.meter_bad_since > self.grace_s:
                self.battery_s += sum(running)
            return
        self.meter_bad_since = None
        for i, board in enumerate(sim.boards):
            direction = "discharge" if board.setpoint_w > 0 else "charge"
            # Running on an AC power that reads the other way is running on bad information.
            untold = running[i] and (self.belief(sim, i) != direction or sim.ac_contradicts(i))
            if not untold:
                # A stretch ends once the battery has been as believed (or still) for
                # grace_s: a battery stopped and restarted every few seconds on the same bad
                # information is one stretch, not many short ones.
                right = self.right_since[i] = self.right_since[i] or now
                if now - right >= self.grace_s:
                    self.mismatch_since[i] = None
                continue
            self.right_since[i] = None
            since = self.mismatch_since[i]
            if since is None:
                self.mismatch_since[i] = since = now
            if now - since > self.grace_s:
                self.battery_s += 1


class Tolerant:
    """A controller whose cycle fails (does nothing) when the meter is unavailable."""

    def __init__(self, inner: Controller) -> None:
        self.inner = inner
        self.name = inner.name
        self.per_second = inner.per_second

    def start(self, sim: Sim) -> float:
        return self.inner.start(sim)

    def cycle(self, sim: Sim) -> float:
        if not isinstance(sim, FaultSim):
            raise TypeError("the fault suite runs on a FaultSim")
        sim.hang_s = 0.0
        try:
            delay = self.inner.cycle(sim)
        except (MeterUnavailableError, TimeoutError, BoardOfflineError):
            delay = CYCLE_S
        return delay + sim.hang_s

    def second(self, sim: Sim, k: int) -> None:
        self.inner.second(sim, k)


class GuardedController(EngineController):
    """The integration's strategy with the coordinator's fail-safe, plausibility and read-back.

    interval_s is the cycle interval option; below 6.5 s the loop runs on
    ``inflight.loop_timing`` with each battery's in-flight estimate, as the coordinator does
    when every battery has an AC power sensor (they all have one here).
    """

    def __init__(self, strategy: str, interval_s: float = CYCLE_S, fuse_a: float = FUSE_A) -> None:
        limits = model.PhaseLimits.from_fuse(fuse_a, 0.0, VOLTS)
        super().__init__(strategy, phase_limits=limits)
        interval, settle = inflight.loop_timing(interval_s)
        self.loop_settings = control.LoopSettings(interval_s=interval, settle_s=settle)
        self.interval_s: float = interval
        self.fuse_a = fuse_a
        self.estimated = interval < inflight.DEFAULT_INTERVAL_S
        self.commanded: list[Any] | None = None
        self.known: list[Any] | None = None  # what it knows after the read-back, each cycle
        self.tracks: list[Any] = []
        self.models: list[Any] = []  # each battery's inflight.InFlight (adapters/delivery.py)
        self.fail_safe = False
        self.mismatch = readings.Mismatch()

    def _write(self, sim: FaultSim, writes: Any) -> bool:
        """Make writes like the coordinator: after a failure only reductions to that battery."""
        if self.commanded is None:
            return False
        failed: set[int] = set()
        for write in writes:
            if write.battery in failed and write.value not in (0, "stop"):
                continue
            try:
                sim.write(write.battery, str(write.kind), write.value)
            except (TimeoutError, BoardOfflineError):
                failed.add(write.battery)
                continue
            self.commanded[write.battery] = control.apply_write(
                self.commanded[write.battery], write
            )
        return not failed

    def _record(self, sim: FaultSim) -> None:
        """Tell each battery's model the setpoint in force (Delivery.record, every cycle)."""
        if self.commanded is None:
            return
        plan = control.plan_from_commanded(self.commanded)
        for index, setpoint in enumerate(plan.setpoints):
            self.models[index].command(sim.now, setpoint.mode, setpoint.power_w)

    def _estimate(self, sim: FaultSim, batteries: list[Any]) -> list[Any]:
        """Delivery.estimate: delivered_w below 6.5 s; the rise of one that takes no part."""
        at = meter_sample_s(sim)
        out = []
        for i, reading in enumerate(batteries):
            flight = self.models[i]
            ac = sim.ac_reading(i)
            if not reading.available:
                fresh = ac[0] if ac is not None and sim.now - ac[1] <= STALE_S else None
                rise = inflight.rise_range(fresh, flight.model_w(at), flight.target_w)
                out.append(replace(reading, delivered_w=None, rise_w=rise))
            elif self.estimated:
                value, when = ac if ac is not None else (None, None)
                out.append(replace(reading, delivered_w=flight.delivered_w(at, value, when)))
            else:
                out.append(reading)
        return out

    def cycle(self, sim: Sim) -> float:
        if not isinstance(sim, FaultSim):
            raise TypeError("the fault suite runs on a FaultSim")
        delay = self._cycle(sim)
        self._record(sim)
        return delay

    def _cycle(self, sim: FaultSim) -> float:
        boards = sim.boards
        if self.commanded is None:
            self.commanded = [
                control.Commanded(engine.Mode(b.mode), b.charge_w, b.discharge_w, b.rs485_enabled)
                for b in boards
            ]
            self.tracks = [readback.Track() for _ in boards]
            self.models = [inflight.InFlight(delivered_w=board.setpoint_w) for board in boards]
        total, phases = sim.meter_samples()
        verdict = readings.judge_meter(total, phases, STALE_S, self.fuse_a)
        agree = readings.Agreement.AGREE
        if verdict.cause is None:
            agree, self.mismatch = readings.agreement(self.mismatch, verdict.disagree, sim.now)
        if verdict.cause is not None or agree is readings.Agreement.FAULT:
            keepalive = sim.now - self.last_keepalive >= self.loop_settings.keepalive_s
            if not self.fail_safe or keepalive:
                self._write(sim, control.stop_writes(self.commanded))
                self.last_keepalive = sim.now
            self.fail_safe = True
            self.plan = None
            return self.interval_s
        if agree is readings.Agreement.PENDING:
            return self.interval_s
        self.fail_safe = False
        excluded: set[int] = set()
        resync = False
        offline = sim.offline
        for i, board in enumerate(boards):
            if i in offline:  # its entities are unavailable: nothing to compare
                report = readback.Report(mode=None, charge_w=None, discharge_w=None)
            else:
                report = readback.Report(
                    mode=board.mode,
                    charge_w=float(board.charge_w),
                    discharge_w=float(board.discharge_w),
                    rs485=sim.rs485_state(i),
                    ac_power_w=sim.ac_power(i),
                )
            result = readback.check(self.commanded[i], report, self.tracks[i], sim.now)
            self.tracks[i] = result.track
            if result.adopt is not None:
                self.commanded[i] = result.adopt
                resync = True
            if result.exclude is not None:
                excluded.add(i)
        self.known = list(self.commanded)
        batteries = readings_of(sim)
        for i in excluded | offline:
            batteries[i] = _unavailable(batteries[i])
        batteries = self._estimate(sim, batteries)
        previous = self.plan
        if previous is None or resync:
            previous = control.plan_from_commanded(self.commanded)
        previous = readback.discount(previous, excluded)
        plan = engine.allocate(verdict.grid_w, batteries, previous, self.settings)
        decision = control.decide(
            plan,
            self.commanded,
            [True] * len(boards),
            sim.now - self.last_keepalive,
            self.loop_settings,
        )
        plan, decision = self._allow(sim, plan, decision)
        done = self._write(sim, decision.writes)
        if decision.keepalive:
            self.last_keepalive = sim.now
        self.plan = plan if done else control.plan_from_commanded(self.commanded)
        return float(decision.delay_s)

    def _allow(self, sim: FaultSim, plan: Any, decision: Any) -> tuple[Any, Any]:
        """The plan and decision to carry out (the meter pace's write allowance: below)."""
        return plan, decision


class GuardedMeterController(GuardedController):
    """The guarded strategy on the integration's meter pace (core/pace.py).

    As ``MeterPaceController`` (bench/controllers/meter_pace.py) times it: a cycle on the
    meter's reports no sooner than the least gap, the silent meter's timer, no cycle inside a
    settle, the write allowance per battery; with every guard of ``GuardedController`` (the
    in-flight estimate always on). The meter does not report while it is unavailable or
    frozen (its state does not change): then only the timer runs cycles.
    """

    def __init__(self, strategy: str = "efficiency", fuse_a: float = FUSE_A) -> None:
        super().__init__(strategy, CYCLE_S, fuse_a)
        self.name = METER_PACE
        self.pace = load("pace")
        self.pace_settings = self.pace.meter_settings()
        self.allowance = self.pace.AllowanceSettings()
        self.loop_settings = control.LoopSettings(
            interval_s=self.pace_settings.fallback_s, settle_s=self.pace_settings.settle_s
        )
        self.interval_s = self.pace_settings.fallback_s
        self.estimated = True
        self.schedule = self.pace.Schedule()
        self.buckets: Any = None
        self.last_report = -math.inf

    def start(self, sim: Sim) -> float:
        self.buckets = self.pace.full_buckets(len(sim.boards), sim.now, self.allowance)
        self.schedule = self.pace.Schedule(due_s=sim.now + self.pace_settings.fallback_s)
        return next_update_delay(sim)

    def cycle(self, sim: Sim) -> float:
        if not isinstance(sim, FaultSim):
            raise TypeError("the fault suite runs on a FaultSim")
        pace = self.pace
        update = last_update_s(sim)
        silent = sim.active("meter_dropout") or sim._freezing()
        if update > self.last_report and not silent:
            self.last_report = update
            self.schedule = pace.reported(self.schedule, sim.now, self.pace_settings)
        due = pace.wait_s(self.schedule, sim.now)
        if due is not None and due <= 1e-6:
            self.schedule = pace.started(self.schedule, sim.now)
            delay = self._cycle(sim)
            self._record(sim)
            settling = pace.settles(delay, self.loop_settings, pace.Pace.METER)
            self.schedule = pace.ended(self.schedule, sim.now, delay, settling=settling)
        wait = pace.wait_s(self.schedule, sim.now)
        step = next_update_delay(sim)
        return step if wait is None else min(step, max(wait, 1e-3))

    def _allow(self, sim: FaultSim, plan: Any, decision: Any) -> tuple[Any, Any]:
        if self.commanded is None:
            return plan, decision
        urgent = any(s.reason is model.Reason.LIMITED_BY_PHASE for s in plan.setpoints)
        allowed = self.pace.allow(
            plan,
            decision,
            self.commanded,
            self.buckets,
            sim.now,
            settings=self.allowance,
            urgent=urgent,
        )
        self.buckets = allowed.buckets
        return allowed.plan, allowed.decision


def _unavailable(reading: Any) -> Any:
    return replace(reading, available=False)


def controller(name: str, interval_s: float = CYCLE_S, fuse_a: float = FUSE_A) -> Controller:
    """The controller called name as the fault suite runs it (interval: the strategies')."""
    if name == METER_PACE:
        return Tolerant(GuardedMeterController("efficiency", fuse_a))
    if name in ENGINE_STRATEGIES:
        return Tolerant(GuardedController(name, interval_s, fuse_a))
    return Tolerant(make(name))


@dataclass(frozen=True, slots=True)
class FaultFigures:
    """One controller at one interval under one fault (interval None: a reference's own)."""

    fault: str
    controller: str
    interval_s: float | None
    bad_battery_s: int
    plan_over_s: int
    extra_import_kwh: float
    extra_export_kwh: float


@dataclass(frozen=True, slots=True)
class _Outcome:
    result: Result
    bad_battery_s: int
    plan_over_s: int


def _run(
    scenario: Scenario,
    house: House,
    name: str,
    fault: Fault | None,
    *,
    interval_s: float = CYCLE_S,
    fuse_a: float = FUSE_A,
) -> _Outcome:
    who = controller(name, interval_s, fuse_a)
    inner = who.inner if isinstance(who, Tolerant) else who

    def belief(sim: FaultSim, battery: int) -> str:
        if isinstance(inner, GuardedController) and inner.known is not None:
            commanded = inner.known[battery]
            return str(commanded.mode) if commanded.power_for(commanded.mode) > 0 else "stop"
        return sim.told[battery]

    grace = grace_s(inner.interval_s if isinstance(inner, GuardedController) else CYCLE_S)
    counter = BadInformation(belief, grace)
    limits = model.PhaseLimits.from_fuse(fuse_a, 0.0, VOLTS)
    monitor = PhaseMonitor(limits, tuple(house.net(ph) for ph in range(3)))

    def factory(scenario: Scenario, house: House) -> Sim:
        return FaultSim(scenario, house, fault)

    result = run(
        scenario, who, house, sim_factory=factory, on_second=counter.second, observe=monitor
    )
    plan_s = sum(monitor.caused_s) - sum(monitor.reaction_s)
    return _Outcome(result, counter.battery_s, plan_s)


def suite(
    controllers: tuple[str, ...],
    faults: tuple[Fault, ...] = FAULTS,
    intervals: tuple[float, ...] = INTERVALS,
) -> list[FaultFigures]:
    """Run every fault with every controller (the strategies at every interval); figures
    against the same run without faults."""
    figures: list[FaultFigures] = []
    houses = {case: build_house(resolve(s)) for case, (s, _fuse) in CASES.items()}
    for who in controllers:
        strategy = who in ENGINE_STRATEGIES
        for interval in intervals if strategy else (CYCLE_S,):
            baselines: dict[str, _Outcome] = {}
            for fault in faults:
                scenario, fuse = CASES[fault.case]
                house = houses[fault.case]
                if fault.case not in baselines:
                    baselines[fault.case] = _run(
                        scenario, house, who, None, interval_s=interval, fuse_a=fuse
                    )
                baseline = baselines[fault.case].result
                out = _run(scenario, house, who, fault, interval_s=interval, fuse_a=fuse)
                figures.append(
                    FaultFigures(
                        fault.name,
                        who,
                        interval if strategy else None,
                        out.bad_battery_s,
                        out.plan_over_s,
                        round(out.result.grid_import_kwh - baseline.grid_import_kwh, 3),
                        round(out.result.grid_export_kwh - baseline.grid_export_kwh, 3),
                    )
                )
    return figures


def verdict(figures: list[FaultFigures]) -> tuple[bool, str]:
    """Whether the integration's strategies show 0 bad battery-seconds and 0 plan seconds
    past a phase limit under every fault at every interval (issue 18's done-when)."""
    bad = [f for f in figures if f.controller in INTEGRATION and (f.bad_battery_s or f.plan_over_s)]
    if not bad:
        runs = sum(f.controller in INTEGRATION for f in figures)
        return True, (
            f"0 battery-seconds on bad information beyond the stale timeout plus one cycle and "
            f"0 plan seconds past a phase limit (integration, {runs} fault runs)"
        )
    text = ", ".join(
        f"{f.fault}/{f.controller}@{_interval(f.interval_s)}: {f.bad_battery_s} bad s, "
        f"{f.plan_over_s} plan s"
        for f in bad
    )
    return False, text


def _interval(interval_s: float | None) -> str:
    """An interval as text (None: the meter pace's own)."""
    return "own pace" if interval_s is None else f"{interval_s:g}s"


def table(figures: list[FaultFigures]) -> str:
    """The suite as a text table: one row per fault and controller, one column per interval
    (bad battery-s / plan s past a phase limit), then the 6.5 s run's extra import / export."""
    fixed = sorted({f.interval_s for f in figures if f.interval_s is not None}, reverse=True)
    # Controllers at their own pace only (the meter pace, the references): one column.
    intervals: list[float | None] = [*fixed] if fixed else [None]
    lines = [
        f"== faults (fault at {START_S} s for {LENGTH_S} s; per interval: bad battery-s beyond "
        f"the stale timeout + one cycle / plan s past a phase limit; extra import / export kWh "
        f"at {CYCLE_S:g} s)",
        f"{'fault':<18}{'controller':<18}"
        + "".join(f"{'own pace' if i is None else f'{i:g} s':>10}" for i in intervals)
        + f"{'import':>9}{'export':>9}",
    ]
    controllers = list(dict.fromkeys(f.controller for f in figures))
    for fault in FAULTS:
        for who in controllers:
            rows = [f for f in figures if f.fault == fault.name and f.controller == who]
            if not rows:
                continue
            by_interval = {f.interval_s: f for f in rows}
            cells = ""
            for interval in intervals:
                f = by_interval.get(interval) or by_interval.get(None)
                cell = "" if f is None else f"{f.bad_battery_s}/{f.plan_over_s}"
                cells += f"{cell:>10}"
            first = by_interval.get(CYCLE_S) or rows[0]
            lines.append(
                f"{fault.name:<18}{who:<18}{cells}"
                f"{first.extra_import_kwh:>+9.3f}{first.extra_export_kwh:>+9.3f}"
            )
    met, detail = verdict(figures)
    lines.append(f"{'MET   ' if met else 'MISSED'} {detail}")
    return "\n".join(lines)
