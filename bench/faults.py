"""Fault injection: meter and board faults in the closed loop, and what they cost.

``scripts/bench --faults`` runs every fault below on one window with every controller and
reports, per controller and fault:

* **bad_battery_s**: battery-seconds running on bad information beyond the stale timeout plus
  one cycle (``GRACE_S``). Running: the battery's board asks it to charge or discharge. Meter
  faults (drop-out, freeze, spike, clock step): a battery running while the meter is bad.
  Board faults: a battery running while its controller believes it stopped (or running the
  other way), counted from GRACE_S after that began. A controller believes what it last
  wrote; the integration's what it knows after each cycle's read-back.
* **extra_import_kwh / extra_export_kwh**: grid energy beyond the same run without the fault.

The integration's strategies run here as the coordinator runs them (``GuardedController``):
the meter judged by ``readings.judge_meter`` on monotonic ages (fail-safe: stop every
battery), each battery read back with ``readback.check``, writes that fail or hang skipped
like the coordinator does. Reference controllers (seed, crossover) run as they are; a cycle
that reads an unavailable meter raises, which does nothing (as a pyscript error would).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
import math
from typing import Any

from bench.controllers import make
from bench.controllers.engine_ctl import EngineController, readings_of
from bench.core import control, engine, load
from bench.loop import Controller, Result, Sim, run
from bench.scenarios import Scenario, by_name, resolve, window
from bench.sim.house import House, build_house

readings = load("readings")
readback = load("readback")

STALE_S = 30.0  # the integration's default stale timeout
CYCLE_S = 6.5  # its interval
GRACE_S = STALE_S + CYCLE_S
FUSE_A = 25.0
HANG_S = 10.0  # a hung write returns after the coordinator's write timeout
SCENARIO = ("evening", 18.0, 0.75)  # 45 min of heavy short loads, 3 batteries on 3 phases
CONTROLLERS = ("priority", "equal", "efficiency", "seed", "crossover")  # oracle: no cycles
START_S = 600  # the fault begins 10 min in
LENGTH_S = 900  # and lasts 15 min (point faults happen at START_S)


class MeterUnavailableError(Exception):
    """The meter's state is 'unavailable' (a controller that reads it as a number fails)."""


@dataclass(frozen=True, slots=True)
class Fault:
    """One fault: a name, what happens, and whether it is a meter or a board fault."""

    name: str
    description: str
    meter: bool


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
    """Counts battery-seconds running on bad information beyond GRACE_S."""

    belief: Callable[[FaultSim, int], str]  # the mode a controller believes battery i is in
    meter_bad_since: float | None = None
    mismatch_since: list[float | None] = field(default_factory=list)
    battery_s: int = 0

    def second(self, sim: Sim, k: int) -> None:
        """Count second k (and apply the point faults due at the next)."""
        if not isinstance(sim, FaultSim):
            raise TypeError("the fault suite runs on a FaultSim")
        sim.second(k + 1)
        now = float(k + 1)
        if not self.mismatch_since:
            self.mismatch_since = [None] * len(sim.batteries)
        # Running: its board asks it to run (the physical ramp-down is the battery's).
        running = [board.setpoint_w != 0 for board in sim.boards]
        if sim.meter_bad():
            self.meter_bad_since = self.meter_bad_since if self.meter_bad_since else now
            if now - self.meter_bad_since >= GRACE_S:
                self.battery_s += sum(running)
            return
        self.meter_bad_since = None
        for i, board in enumerate(sim.boards):
            direction = "discharge" if board.setpoint_w > 0 else "charge"
            untold = running[i] and self.belief(sim, i) != direction
            if not untold:
                self.mismatch_since[i] = None
                continue
            since = self.mismatch_since[i]
            if since is None:
                self.mismatch_since[i] = since = now
            if now - since >= GRACE_S:
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
        except (MeterUnavailableError, TimeoutError):
            delay = CYCLE_S
        return delay + sim.hang_s

    def second(self, sim: Sim, k: int) -> None:
        self.inner.second(sim, k)


class GuardedController(EngineController):
    """The integration's strategy with the coordinator's fail-safe, plausibility and read-back."""

    def __init__(self, strategy: str) -> None:
        super().__init__(strategy)
        self.commanded: list[Any] | None = None
        self.known: list[Any] | None = None  # what it knows after the read-back, each cycle
        self.tracks: list[Any] = []
        self.fail_safe = False
        self.mismatch_since: float | None = None

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
            except TimeoutError:
                failed.add(write.battery)
                continue
            self.commanded[write.battery] = control.apply_write(
                self.commanded[write.battery], write
            )
        return not failed

    def cycle(self, sim: Sim) -> float:
        if not isinstance(sim, FaultSim):
            raise TypeError("the fault suite runs on a FaultSim")
        boards = sim.boards
        if self.commanded is None:
            self.commanded = [
                control.Commanded(engine.Mode(b.mode), b.charge_w, b.discharge_w, b.rs485_enabled)
                for b in boards
            ]
            self.tracks = [readback.Track() for _ in boards]
        total, phases = sim.meter_samples()
        verdict = readings.judge_meter(total, phases, STALE_S, FUSE_A)
        agree = readings.Agreement.AGREE
        if verdict.cause is None:
            agree, self.mismatch_since = readings.agreement(
                verdict.disagree, self.mismatch_since, sim.now
            )
        if verdict.cause is not None or agree is readings.Agreement.FAULT:
            keepalive = sim.now - self.last_keepalive >= self.loop_settings.keepalive_s
            if not self.fail_safe or keepalive:
                self._write(sim, control.stop_writes(self.commanded))
                self.last_keepalive = sim.now
            self.fail_safe = True
            self.plan = None
            return CYCLE_S
        if agree is readings.Agreement.PENDING:
            return CYCLE_S
        self.fail_safe = False
        excluded: set[int] = set()
        resync = False
        for i, board in enumerate(boards):
            report = readback.Report(
                mode=board.mode,
                charge_w=float(board.charge_w),
                discharge_w=float(board.discharge_w),
                rs485=sim.rs485_state(i),
                ac_power_w=sim.batteries[i].reported_ac_power_w,
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
        for i in excluded:
            batteries[i] = _unavailable(batteries[i])
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
        done = self._write(sim, decision.writes)
        if decision.keepalive:
            self.last_keepalive = sim.now
        self.plan = plan if done else control.plan_from_commanded(self.commanded)
        return float(decision.delay_s)


def _unavailable(reading: Any) -> Any:
    return replace(reading, available=False)


def controller(name: str) -> Controller:
    """The controller called name as the fault suite runs it."""
    if name in ("priority", "equal", "efficiency"):
        return Tolerant(GuardedController(name))
    return Tolerant(make(name))


@dataclass(frozen=True, slots=True)
class FaultFigures:
    """One controller under one fault."""

    fault: str
    controller: str
    bad_battery_s: int
    extra_import_kwh: float
    extra_export_kwh: float


def _run(scenario: Scenario, house: House, name: str, fault: Fault | None) -> tuple[Result, int]:
    who = controller(name)
    inner = who.inner if isinstance(who, Tolerant) else who

    def belief(sim: FaultSim, battery: int) -> str:
        if isinstance(inner, GuardedController) and inner.known is not None:
            commanded = inner.known[battery]
            return str(commanded.mode) if commanded.power_for(commanded.mode) > 0 else "stop"
        return sim.told[battery]

    counter = BadInformation(belief)

    def factory(scenario: Scenario, house: House) -> Sim:
        return FaultSim(scenario, house, fault)

    result = run(scenario, who, house, sim_factory=factory, on_second=counter.second)
    return result, counter.battery_s


def suite(controllers: tuple[str, ...], faults: tuple[Fault, ...] = FAULTS) -> list[FaultFigures]:
    """Run every fault with every controller; figures against the same run without faults."""
    name, start_h, hours = SCENARIO
    scenario = window(by_name(name), start_h, hours)
    house = build_house(resolve(scenario))
    figures: list[FaultFigures] = []
    for who in controllers:
        baseline, _ = _run(scenario, house, who, None)
        for fault in faults:
            result, bad = _run(scenario, house, who, fault)
            figures.append(
                FaultFigures(
                    fault.name,
                    who,
                    bad,
                    round(result.grid_import_kwh - baseline.grid_import_kwh, 3),
                    round(result.grid_export_kwh - baseline.grid_export_kwh, 3),
                )
            )
    return figures


def table(figures: list[FaultFigures]) -> str:
    """The suite as a text table: one row per fault, one column group per controller."""
    controllers = list(dict.fromkeys(f.controller for f in figures))
    header = f"{'fault':<16}" + "".join(f"{c:>26}" for c in controllers)
    lines = [
        f"== faults ({SCENARIO[0]} {SCENARIO[1]:g}h+{SCENARIO[2]:g}h, fault at {START_S} s "
        f"for {LENGTH_S} s; bad battery-s beyond {GRACE_S:g} s / extra import / export kWh)",
        header,
    ]
    for fault in FAULTS:
        row = f"{fault.name:<16}"
        for who in controllers:
            match = [f for f in figures if f.fault == fault.name and f.controller == who]
            if match:
                f = match[0]
                cell = f"{f.bad_battery_s} / {f.extra_import_kwh:+.3f} / {f.extra_export_kwh:+.3f}"
                row += f"{cell:>26}"
        lines.append(row)
    return "\n".join(lines)
