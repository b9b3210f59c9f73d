"""References that are bounds, named for what they are.

``loss_bound``: the least conversion loss (standby included) of holding the grid at zero every
second. It sees each second's exact house power before it happens, its batteries follow a
setpoint instantly (dead time, relay delay and time constant 0, gains known) and every second it
takes the split with the least loss on each battery's own plant table (the simulated battery's,
not the engine's), counting the standby of every battery it leaves idle
(``engine.optimal_split`` with ``Candidate.standby_w``). It keeps the rules a real controller
must keep: the software cutoffs, the charge taper, the maximum powers and the 30 W dead band. It
ignores phases (the meter bills the total). It bounds the loss of zero-grid control, not of a
controller that leaves some demand to the grid: that one cycles less and may lose less, which is
why the headline compares absolute kWh next to import and export.

``ideal``: the ideal reaction at the same cycle, the reference for grid tracking. Every 6.5 s
(no longer wait after a start) it reads the house's demand without batteries exactly and at
that instant (a perfect, instantaneous meter) and commands the least-loss split of it, with the
gains known, on the real plant (dead time, relay delay, time constant as simulated). What it
leaves to the grid is what a 6.5 s loop on this plant cannot avoid.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import replace
import math
from typing import Any

from bench.core import engine
from bench.loop import Sim

DEAD_BAND_W = 30.0
IDEAL_CYCLE_S = 6.5


def water_fill(total: float, caps: Sequence[float]) -> list[float]:
    """Split total as evenly as the caps allow."""
    powers = [0.0] * len(caps)
    left = total
    open_ = sorted(range(len(caps)), key=lambda i: caps[i])
    while open_ and left > 1e-9:
        share = left / len(open_)
        i = open_[0]
        if caps[i] <= share:
            powers[i] = caps[i]
            left -= caps[i]
            open_.pop(0)
        else:
            for j in open_:
                powers[j] = share
            left = 0.0
    return powers


def best_split(
    total: float, caps: Sequence[float], order: Sequence[int], loss: Callable[[float], float]
) -> list[float]:
    """Loss-minimal equal split of total over the k largest, for the best k (one curve).

    The bench's own cross-check of ``engine.optimal_split`` for identical batteries.
    """
    n = len(caps)
    ranked = sorted(order, key=lambda i: -caps[i])  # stable: keeps the preference on ties
    best: list[float] | None = None
    best_loss = float("inf")
    for k in range(1, n + 1):
        chosen = ranked[:k]
        sub_caps = [caps[i] for i in chosen]
        if sum(sub_caps) <= 0:
            continue
        share = water_fill(min(total, sum(sub_caps)), sub_caps)
        if sum(share) < min(total, sum(caps)) - 1e-6:
            continue  # k batteries cannot carry it
        total_loss = sum(loss(p) for p in share if p > 0)
        if total_loss < best_loss - 1e-9:
            best_loss = total_loss
            best = [0.0] * n
            for i, p in zip(chosen, share, strict=True):
                best[i] = p
    return best if best is not None else [0.0] * n


def least_loss_split(sim: Sim, demand: float, caps: list[float], order: list[int]) -> list[float]:
    """AC W per battery: the least-loss split of |demand| on each battery's plant table."""
    mode = engine.Mode.DISCHARGE if demand > 0 else engine.Mode.CHARGE
    candidates = [
        engine.Candidate(
            max_w=int(caps[i]),
            table=sim.batteries[i].params.efficiency_table,
            standby_w=sim.batteries[i].params.standby_w,
        )
        for i in order
    ]
    powers = engine.optimal_split(round(abs(demand)), candidates, mode)
    out = [0.0] * len(caps)
    for position, i in enumerate(order):
        out[i] = float(powers[position])
    return out


def _preference(sim: Sim, discharge: bool) -> list[int]:
    """Ties: the batteries running in this direction, then by state of charge."""
    mode = "discharge" if discharge else "charge"
    socs = [b.soc_pct for b in sim.batteries]
    return sorted(
        range(len(sim.boards)),
        key=lambda i: (sim.boards[i].mode != mode, -socs[i] if discharge else socs[i]),
    )


def _command(sim: Sim, split: list[float], discharge: bool, exact: bool) -> None:
    """Write each battery's AC share as a setpoint (gains known); exact: also to the battery."""
    mode = "discharge" if discharge else "charge"
    for i, (board, battery) in enumerate(zip(sim.boards, sim.batteries, strict=True)):
        ac = split[i]
        if ac <= 0:
            if board.mode != "stop":
                board.write("mode", "stop")
            continue
        gain = battery.params.discharge_gain if discharge else battery.params.charge_gain
        watts = ac / gain
        kind = "charge_power" if mode == "charge" else "discharge_power"
        current = board.charge_w if mode == "charge" else board.discharge_w
        if round(watts) != current:
            board.write(kind, round(watts))
        if board.mode != mode:
            board.write("mode", mode)
        if exact:  # the bound's batteries take the exact value, not whole watts
            battery.command(mode, watts)


def _stop_all(sim: Sim) -> None:
    for board in sim.boards:
        if board.mode != "stop":
            board.write("mode", "stop")


class LossBoundController:
    """The zero-grid loss bound: every second, exact demand, no lag, own tables, standby."""

    name = "loss_bound"
    per_second = True

    def __init__(self) -> None:
        self._cache: dict[tuple[Any, ...], list[float]] = {}

    def start(self, sim: Sim) -> float:
        for battery in sim.batteries:
            battery.params = replace(
                battery.params, dead_time_s=0.0, from_stop_extra_s=0.0, tau_s=0.0
            )
        for i in range(len(sim.boards)):
            sim.write(i, "rs485_enable", "enable")
        return float("inf")

    def cycle(self, sim: Sim) -> float:
        return float("inf")

    def _caps(self, sim: Sim, discharge: bool) -> list[float]:
        """AC W each battery can give (or take) now: software cutoffs and the battery's own."""
        caps = []
        for battery, setup in zip(sim.batteries, sim.setups, strict=True):
            soc = battery.soc_pct
            if discharge:
                ok = soc > setup.discharge_cutoff
                caps.append(battery.available_w("discharge") if ok else 0.0)
            else:
                ok = soc < setup.charge_cutoff
                caps.append(battery.available_w("charge") if ok else 0.0)
        return caps

    def second(self, sim: Sim, k: int) -> None:
        demand = sim.net[0][k] + sim.net[1][k] + sim.net[2][k]  # + = the house imports
        if abs(demand) < DEAD_BAND_W:
            _stop_all(sim)
            return
        discharge = demand > 0
        caps = self._caps(sim, discharge)
        order = _preference(sim, discharge)
        key = (discharge, round(abs(demand)), tuple(round(c) for c in caps), tuple(order))
        split = self._cache.get(key)
        if split is None:
            split = least_loss_split(sim, demand, caps, order)
            if len(self._cache) > 200_000:
                self._cache.clear()
            self._cache[key] = split
        scale = abs(demand) / round(abs(demand))
        _command(
            sim, [min(p * scale, c) for p, c in zip(split, caps, strict=True)], discharge, True
        )


class IdealController:
    """The ideal reaction at the same cycle: exact instantaneous demand every 6.5 s, real plant."""

    name = "ideal"
    per_second = False

    def start(self, sim: Sim) -> float:
        for i in range(len(sim.boards)):
            sim.write(i, "rs485_enable", "enable")
        return 0.0

    def cycle(self, sim: Sim) -> float:
        k = min(int(sim.now), sim.house.seconds - 1)
        demand = sim.net[0][k] + sim.net[1][k] + sim.net[2][k]
        if abs(demand) < DEAD_BAND_W:
            _stop_all(sim)
            return IDEAL_CYCLE_S
        discharge = demand > 0
        caps = []
        for battery, setup in zip(sim.batteries, sim.setups, strict=True):
            soc = battery.reported_soc  # what the headroom is judged on
            if discharge:
                ok = soc > setup.discharge_cutoff
                caps.append(battery.available_w("discharge") if ok else 0.0)
            else:
                ok = soc < setup.charge_cutoff
                caps.append(battery.available_w("charge") if ok else 0.0)
        split = least_loss_split(sim, demand, caps, _preference(sim, discharge))
        _command(sim, split, discharge, False)
        return IDEAL_CYCLE_S

    def second(self, sim: Sim, k: int) -> None:
        raise NotImplementedError


METER_LATENCY_S = 0.05  # from the meter's update to the cycle it triggers


class Meter1sController:
    """``meter_1s``: a loop on the meter's pace that knows each battery's power exactly.

    Just after every meter update (every second on a 1 Hz meter, every poll otherwise) it
    takes the sample's grid power plus what every battery delivered in that same second
    (exact: the house's own demand of that second, the sample's age included) and commands
    the least-loss split of it, with the gains known, on the same plant (dead time, relay
    delay, time constant). It is the floor of what a loop on such a meter can leave to the
    grid: only the meter's age and the plant's response remain. It does not limit its writes.
    """

    name = "meter_1s"
    per_second = False

    def __init__(self) -> None:
        self._cache: dict[tuple[Any, ...], list[float]] = {}

    def start(self, sim: Sim) -> float:
        for i in range(len(sim.boards)):
            sim.write(i, "rs485_enable", "enable")
        return self._next(sim)

    @staticmethod
    def _next(sim: Sim) -> float:
        poll = max(1.0, sim.meter.poll_s)
        update = (math.floor(sim.now / poll + 1e-9) + 1) * poll
        return update + METER_LATENCY_S - sim.now

    def cycle(self, sim: Sim) -> float:
        meter = sim.meter
        completed = min(meter.count, math.floor(sim.now + 1e-9))
        if meter.poll_s > 1.0:
            completed = math.floor(math.floor(completed / meter.poll_s) * meter.poll_s)
        k = completed - 1
        if k < 0:
            return self._next(sim)
        # The sample's grid power + what the batteries delivered in its second = the house.
        demand = sim.net[0][k] + sim.net[1][k] + sim.net[2][k]
        if abs(demand) < DEAD_BAND_W:
            _stop_all(sim)
            return self._next(sim)
        discharge = demand > 0
        caps = []
        for battery, setup in zip(sim.batteries, sim.setups, strict=True):
            soc = battery.reported_soc
            if discharge:
                ok = soc > setup.discharge_cutoff
                caps.append(battery.available_w("discharge") if ok else 0.0)
            else:
                ok = soc < setup.charge_cutoff
                caps.append(battery.available_w("charge") if ok else 0.0)
        order = _preference(sim, discharge)
        # The split for the demand rounded to 5 W, scaled to the demand (cached: a day has
        # 86,400 cycles; the split's shape does not change within 5 W).
        rounded = max(5, 5 * round(abs(demand) / 5))
        key = (discharge, rounded, tuple(round(c) for c in caps), tuple(order))
        split = self._cache.get(key)
        if split is None:
            split = least_loss_split(sim, rounded if discharge else -rounded, caps, order)
            if len(self._cache) > 200_000:
                self._cache.clear()
            self._cache[key] = split
        scale = abs(demand) / rounded
        split = [min(p * scale, c) for p, c in zip(split, caps, strict=True)]
        _command(sim, split, discharge, False)
        return self._next(sim)

    def second(self, sim: Sim, k: int) -> None:
        raise NotImplementedError
