"""The closed loop: house, meter, LilyGo boards and batteries, driven by one controller.

Time advances in one-second steps of the house; a controller's cycles fall anywhere inside a
second (6.5 s / 12 s timing), and the batteries are stepped exactly to each cycle's time. The
meter records the mean grid power of every second; the controller reads it as Home Assistant
would (last second, or the last 5 s poll).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

from bench.scenarios import BatterySetup, Scenario, resolve
from bench.sim.battery import Battery
from bench.sim.house import PHASES, House, build_house
from bench.sim.lilygo import LilyGo
from bench.sim.meter import Meter

UNWANTED_W = 100.0  # grid flow counted as unwanted above this
CIRCULATION_W = 50.0  # batteries charging each other: counted in seconds above this
DEAD_BAND_W = 30.0  # below this no controller is expected to act
RECORD_EVERY_S = 10


class Sim:
    """What a controller may look at and touch."""

    def __init__(self, scenario: Scenario, house: House) -> None:
        self.scenario = scenario
        self.house = house
        self.setups: tuple[BatterySetup, ...] = scenario.batteries
        self.batteries = [Battery(s.params, s.soc) for s in self.setups]
        for battery, setup in zip(self.batteries, self.setups, strict=True):
            battery.max_charge_w = setup.max_charge_w
            battery.max_discharge_w = setup.max_discharge_w
        self.boards = [LilyGo(b) for b in self.batteries]
        self.phase_index = [
            PHASES.index(s.phase) if scenario.phase_count == 3 else 0 for s in self.setups
        ]
        self.meter = Meter(house.seconds, 3, scenario.meter_poll_s)
        self.now = 0.0
        self.net = tuple(house.net(ph) for ph in range(3))

    # Readings as Home Assistant has them.
    def grid_w(self) -> float:
        return self.meter.read_total(self.now)

    def phase_w(self, battery: int) -> float:
        if self.scenario.phase_count == 1:
            return self.grid_w()
        return self.meter.read_phase(self.phase_index[battery], self.now)

    def soc(self, battery: int) -> int:
        return self.batteries[battery].reported_soc

    def write(self, battery: int, kind: str, value: int | str) -> None:
        self.boards[battery].write(kind, value)


class Controller(Protocol):
    """A controller: cycles on its own timing, or (the loss bound) acts every second."""

    name: str
    per_second: bool

    def start(self, sim: Sim) -> float:
        """Prepare; return the delay before the first cycle (s)."""
        ...

    def cycle(self, sim: Sim) -> float:
        """Run one cycle at sim.now; return the delay before the next (s)."""
        ...

    def second(self, sim: Sim, k: int) -> None:
        """Act at the start of second k (per_second controllers only)."""
        ...


@dataclass(slots=True)
class Result:
    """The figures of one scenario run by one controller."""

    scenario: str
    controller: str
    seconds: int
    cycled_kwh: float = 0.0
    conversion_loss_kwh: float = 0.0
    loss_pct: float = 0.0
    standby_kwh: float = 0.0
    start_kwh: float = 0.0  # drawn by relay starts (BatteryParams.start_cost_wh each)
    relay_starts: int = 0  # times a battery's relay closed
    grid_import_kwh: float = 0.0
    grid_export_kwh: float = 0.0
    mean_abs_grid_w: float = 0.0
    unwanted_s: int = 0
    avoidable_kwh: float = 0.0
    writes: int = 0
    mode_changes: int = 0
    starts: int = 0
    cycles: int = 0
    soc_end: list[float] = field(default_factory=list)
    soc_spread_max: float = 0.0
    soc_spread_end: float = 0.0
    balance_error_wh: float = 0.0  # worst battery's energy balance error (should be ~0)
    stored_start_kwh: float = 0.0  # energy in the cells at the start, all batteries
    stored_end_kwh: float = 0.0  # ... and at the end
    house_import_kwh: float = 0.0  # what the grid would import without batteries
    house_export_kwh: float = 0.0  # ... and export
    circulation_kwh: float = 0.0  # energy one battery charged from another's discharge
    circulation_s: int = 0  # seconds with more than CIRCULATION_W going round
    trace: dict[str, list[float]] | None = None

    def figures(self) -> dict[str, object]:
        """The JSON figures (issue 4 schema plus a few extra keys)."""
        return {
            "cycled_kwh": round(self.cycled_kwh, 4),
            "conversion_loss_kwh": round(self.conversion_loss_kwh, 4),
            "loss_pct": round(self.loss_pct, 3),
            "grid_import_kwh": round(self.grid_import_kwh, 4),
            "grid_export_kwh": round(self.grid_export_kwh, 4),
            "mean_abs_grid_w": round(self.mean_abs_grid_w, 2),
            "writes": self.writes,
            "mode_changes": self.mode_changes,
            "soc_end": [round(s, 2) for s in self.soc_end],
            "unwanted_s": self.unwanted_s,
            "avoidable_kwh": round(self.avoidable_kwh, 4),
            "standby_kwh": round(self.standby_kwh, 4),
            "start_kwh": round(self.start_kwh, 4),
            "relay_starts": self.relay_starts,
            "soc_spread_max": round(self.soc_spread_max, 2),
            "soc_spread_end": round(self.soc_spread_end, 2),
            "starts": self.starts,
            "cycles": self.cycles,
            "stored_start_kwh": round(self.stored_start_kwh, 4),
            "stored_end_kwh": round(self.stored_end_kwh, 4),
            "house_import_kwh": round(self.house_import_kwh, 4),
            "house_export_kwh": round(self.house_export_kwh, 4),
            "import_avoided_kwh": round(self.house_import_kwh - self.grid_import_kwh, 4),
            "export_avoided_kwh": round(self.house_export_kwh - self.grid_export_kwh, 4),
            "circulation_kwh": round(self.circulation_kwh, 4),
            "circulation_s": self.circulation_s,
        }


def _headroom(sim: Sim, import_w: bool) -> float:
    """W the batteries could still move in the needed direction (physically, right now).

    A battery counts when its reported (whole %) state of charge, which is all a real
    controller sees, is inside the software cutoffs and the battery itself would run (its own
    cutoffs, full/empty latch, taper and maximum).
    """
    total = 0.0
    for battery, setup in zip(sim.batteries, sim.setups, strict=True):
        soc = battery.reported_soc
        ac = battery.ac_power_w
        if import_w:
            cap = battery.available_w("discharge") if soc > setup.discharge_cutoff else 0.0
            total += max(0.0, cap - ac)
        else:
            cap = battery.available_w("charge") if soc < setup.charge_cutoff else 0.0
            total += max(0.0, cap + ac)
    return total


def run(
    scenario: Scenario,
    controller: Controller,
    house: House | None = None,
    *,
    record: bool = False,
    record_every_s: int = RECORD_EVERY_S,
    observe: Callable[[int, list[float]], None] | None = None,
    sim_factory: Callable[[Scenario, House], Sim] = Sim,
    on_second: Callable[[Sim, int], None] | None = None,
) -> Result:
    """Run scenario with controller; return its figures (and a trace when record).

    observe, when given, sees every second's grid power per phase (bench/phases.py);
    sim_factory and on_second (called after each second k) are the fault injection's hooks
    (bench/faults.py).
    """
    if house is None:
        house = build_house(resolve(scenario))
    sim = sim_factory(scenario, house)
    n = house.seconds
    batteries = sim.batteries
    phase_of = sim.phase_index
    net = sim.net
    count = len(batteries)
    next_cycle = controller.start(sim)
    if controller.per_second:
        next_cycle = float("inf")
    cycles = 0
    grid_abs = imp = exp = 0.0
    unwanted = 0
    avoidable = 0.0
    spread_max = 0.0
    trace: dict[str, list[float]] | None = None
    if record:
        trace = {"t": [], "grid": []}
        for i in range(count):
            trace[f"set{i}"] = []
            trace[f"ac{i}"] = []
            trace[f"soc{i}"] = []
    prev_out = [b.ac_out_wh - b.ac_in_wh for b in batteries]
    stored_start = sum(b.stored_wh for b in batteries)
    house_imp = house_exp = circulation = 0.0
    circulation_s = 0
    for k in range(n):
        second_end = k + 1.0
        if controller.per_second:
            sim.now = float(k)
            controller.second(sim, k)
        while next_cycle < second_end:
            dt = next_cycle - sim.now
            if dt > 0:
                for b in batteries:
                    b.step(dt)
            sim.now = next_cycle
            delay = controller.cycle(sim)
            cycles += 1
            next_cycle = sim.now + max(delay, 0.1)
        dt = second_end - sim.now
        for b in batteries:
            b.step(dt)
        sim.now = second_end
        phase_w = [net[0][k], net[1][k], net[2][k]]
        alone = phase_w[0] + phase_w[1] + phase_w[2]
        if alone > 0:
            house_imp += alone
        else:
            house_exp -= alone
        given = taken = 0.0
        for i, b in enumerate(batteries):
            out = b.ac_out_wh - b.ac_in_wh
            delivered = (out - prev_out[i]) * 3600.0
            phase_w[phase_of[i]] -= delivered
            prev_out[i] = out
            if delivered > 0:
                given += delivered
            else:
                taken -= delivered
        round_trip = min(given, taken)
        if round_trip > 0:
            circulation += round_trip
            if round_trip > CIRCULATION_W:
                circulation_s += 1
        sim.meter.record(phase_w)
        if observe is not None:
            observe(k, phase_w)
        if on_second is not None:
            on_second(sim, k)
        total = phase_w[0] + phase_w[1] + phase_w[2]
        if total > 0:
            imp += total
            grid_abs += total
        else:
            exp -= total
            grid_abs -= total
        if total > DEAD_BAND_W or total < -DEAD_BAND_W:
            flow = abs(total)
            headroom = _headroom(sim, total > 0)
            avoidable += min(flow, headroom)
            if flow > UNWANTED_W and headroom > UNWANTED_W:
                unwanted += 1
        if count > 1:
            socs = [b.soc_pct for b in batteries]
            spread = max(socs) - min(socs)
            spread_max = max(spread, spread_max)
        if trace is not None and k % record_every_s == 0:
            trace["t"].append(house.spec.start_h + k / 3600.0)
            trace["grid"].append(total)
            for i, b in enumerate(batteries):
                trace[f"set{i}"].append(sim.boards[i].setpoint_w)
                trace[f"ac{i}"].append(b.ac_power_w)
                trace[f"soc{i}"].append(b.soc_pct)
    cycled = sum(b.ac_in_wh + b.ac_out_wh for b in batteries) / 1000.0
    loss = sum(b.loss_wh + b.standby_wh + b.start_wh for b in batteries) / 1000.0
    socs = [b.soc_pct for b in batteries]
    return Result(
        scenario=scenario.name,
        controller=controller.name,
        seconds=n,
        cycled_kwh=cycled,
        conversion_loss_kwh=loss,
        loss_pct=100.0 * loss / cycled if cycled > 0 else 0.0,
        standby_kwh=sum(b.standby_wh for b in batteries) / 1000.0,
        start_kwh=sum(b.start_wh for b in batteries) / 1000.0,
        relay_starts=sum(b.relay_starts for b in batteries),
        grid_import_kwh=imp / 3.6e6,
        grid_export_kwh=exp / 3.6e6,
        mean_abs_grid_w=grid_abs / n if n else 0.0,
        unwanted_s=unwanted,
        avoidable_kwh=avoidable / 3.6e6,
        writes=sum(board.writes for board in sim.boards),
        mode_changes=sum(board.mode_changes for board in sim.boards),
        starts=sum(board.starts for board in sim.boards),
        cycles=cycles,
        soc_end=socs,
        soc_spread_max=spread_max,
        soc_spread_end=max(socs) - min(socs),
        balance_error_wh=max(abs(b.energy_balance_error_wh()) for b in batteries),
        stored_start_kwh=stored_start / 1000.0,
        stored_end_kwh=sum(b.stored_wh for b in batteries) / 1000.0,
        house_import_kwh=house_imp / 3.6e6,
        house_export_kwh=house_exp / 3.6e6,
        circulation_kwh=circulation / 3.6e6,
        circulation_s=circulation_s,
        trace=trace,
    )
