"""The crossover allocation of the strongest peer integration (ffunes/Omnibattery).

As its documentation describes it: run the fewest batteries such that none runs above a
crossover of 1500 W discharging or 1750 W charging (or its maximum when lower), split the power
in proportion to each battery's maximum without passing any battery's crossover, hold a battery
set for at least 120 s (restarted when a battery joins), and pick the highest state of charge
first when discharging, the lowest first when charging, with a 5 % SoC hysteresis (a running
battery is replaced only by one more than 5 points better). The 30 W dead band only holds off a
start: a running set keeps running on a small demand.

What the documentation leaves open is filled in the plainest way and kept equal to the engine
where the two could differ, so that only the allocation is compared: the demand integrates the
grid reading onto the commanded total with the seed's correction factors, the same 30 W dead
band, the same software cutoffs, and the integration's own loop policy (``control.decide``:
writes, 6.5 s / 12 s timing, keep-alive).

The one version of the peer's multi-battery page we could read describes the rule as "a second
battery joins at 60 % of the active batteries' combined power and leaves at 50 %", with an SoC
hysteresis of 5 %; for 2500 W batteries that is a join at 1500 W, close to the crossover above.
The issue's description (crossover, 120 s hold) is what runs here.
"""

from __future__ import annotations

import math
from typing import Any

from bench.controllers.engine_ctl import commanded_of
from bench.core import control, engine
from bench.loop import Sim

CROSSOVER_DISCHARGE_W = 1500.0
CROSSOVER_CHARGE_W = 1750.0
HOLD_S = 120.0
DEAD_BAND_W = 30.0
SOC_HYSTERESIS_PCT = 5.0


def proportional(
    need: float, chosen: list[int], caps: dict[int, float], limits: dict[int, float]
) -> dict[int, float]:
    """Split need over chosen in proportion to their maximum, none above its limit.

    A battery whose proportional share would pass its limit (the crossover, or its maximum)
    gets the limit and the rest is shared again. When need exceeds the limits together, the
    split is in proportion to the maximum, capped by it.
    """
    if need > sum(limits[i] for i in chosen):
        limits = caps
    need = min(need, sum(limits[i] for i in chosen))
    shares: dict[int, float] = {}
    waiting = list(chosen)
    left = need
    while waiting:
        weight = sum(caps[i] for i in waiting)
        over = [i for i in waiting if left * caps[i] / weight > limits[i]]
        if not over:
            for i in waiting:
                shares[i] = left * caps[i] / weight
            break
        for i in over:
            shares[i] = limits[i]
            left -= limits[i]
            waiting.remove(i)
    return shares


class CrossoverController:
    name = "crossover"
    per_second = False

    def __init__(self) -> None:
        self.loop_settings = control.LoopSettings()
        self.last_keepalive = -math.inf
        self.active: tuple[int, ...] = ()
        self.active_mode = "stop"
        self.active_since = -math.inf
        self.powers: list[float] = []

    def start(self, sim: Sim) -> float:
        self.powers = [0.0] * len(sim.boards)
        return 0.0

    def _eligible(self, sim: Sim, i: int, mode: str) -> bool:
        setup = sim.setups[i]
        soc = sim.soc(i)
        if mode == "charge":
            return soc < setup.charge_cutoff
        return soc > setup.discharge_cutoff

    def _allocate(self, sim: Sim) -> list[float]:
        n = len(sim.boards)
        # Signed commanded total (+ = discharge) plus what the meter still shows.
        total = 0.0
        for i, board in enumerate(sim.boards):
            if board.mode == "discharge":
                total += self.powers[i] * 0.975
            elif board.mode == "charge":
                total -= self.powers[i] * 1.045
        demand = total + sim.grid_w()
        mode = "discharge" if demand > 0 else "charge"
        running = bool(self.active) and mode == self.active_mode
        if abs(demand) < DEAD_BAND_W and not running:  # the dead band only holds off a start
            self.active, self.active_mode = (), "stop"
            return [0.0] * n
        need = demand / 0.975 if mode == "discharge" else -demand / 1.045
        eligible = [i for i in range(n) if self._eligible(sim, i, mode)]
        if not eligible:
            self.active, self.active_mode = (), "stop"
            return [0.0] * n
        caps = {
            i: float(
                sim.setups[i].max_discharge_w if mode == "discharge" else sim.setups[i].max_charge_w
            )
            for i in eligible
        }
        crossover = CROSSOVER_DISCHARGE_W if mode == "discharge" else CROSSOVER_CHARGE_W
        limits = {i: min(crossover, caps[i]) for i in eligible}
        order = sorted(eligible, key=lambda i: self._rank(sim, i, mode))
        # The fewest batteries such that none runs above its crossover.
        count = len(order)
        for k in range(1, len(order) + 1):
            if need <= sum(limits[i] for i in order[:k]):
                count = k
                break
        held = (
            running
            and sim.now - self.active_since < HOLD_S
            and all(i in eligible for i in self.active)
        )
        if held:
            chosen = list(self.active)
            if count > len(chosen):  # more batteries needed: add (the hold restarts)
                chosen += [i for i in order if i not in chosen][: count - len(chosen)]
                self.active, self.active_since = tuple(chosen), sim.now
        else:
            chosen = order[:count]
            if tuple(chosen) != self.active or mode != self.active_mode:
                self.active, self.active_mode, self.active_since = tuple(chosen), mode, sim.now
        shares = proportional(need, chosen, caps, limits)
        powers = [0.0] * n
        for i, power in shares.items():
            powers[i] = power if mode == "discharge" else -power
        return powers

    def _rank(self, sim: Sim, i: int, mode: str) -> tuple[float, int]:
        """Highest SoC first discharging, lowest charging; an active battery counts 5 better."""
        soc = float(sim.soc(i))
        bonus = SOC_HYSTERESIS_PCT if i in self.active and mode == self.active_mode else 0.0
        return (-(soc + bonus) if mode == "discharge" else soc - bonus), i

    def cycle(self, sim: Sim) -> float:
        signed = self._allocate(sim)
        setpoints = []
        for p in signed:
            watts = round(abs(p))
            if watts == 0:
                setpoints.append(engine.Setpoint(engine.Mode.STOP, 0))
            else:
                mode = engine.Mode.DISCHARGE if p > 0 else engine.Mode.CHARGE
                setpoints.append(engine.Setpoint(mode, watts))
        modes = {s.mode for s in setpoints if s.mode != engine.Mode.STOP}
        plan: Any = engine.Plan(modes.pop() if modes else engine.Mode.STOP, tuple(setpoints))
        decision = control.decide(
            plan,
            commanded_of(sim),
            [True] * len(sim.boards),
            sim.now - self.last_keepalive,
            self.loop_settings,
        )
        for write in decision.writes:
            sim.write(write.battery, str(write.kind), write.value)
        if decision.keepalive:
            self.last_keepalive = sim.now
        self.powers = [float(s.power_w) for s in setpoints]
        return float(decision.delay_s)

    def second(self, sim: Sim, k: int) -> None:
        raise NotImplementedError
