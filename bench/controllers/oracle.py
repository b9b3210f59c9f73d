"""The physical limit: perfect knowledge of the load, no lag, the loss-minimal split every second.

The oracle sees each second's exact house power before it happens, its batteries follow a
setpoint instantly (dead time and time constant 0, gains known), and it splits the demand to
minimise the modelled conversion loss. It keeps the same rules a real controller must keep:
the software cutoffs, the charge taper, the maximum powers and the 30 W dead band (below which
no controller starts a battery). It ignores phases (the meter bills the total).

The split: for every number k of batteries, the k with the largest headroom (ties: highest state
of charge first when discharging, lowest first when charging) share the demand equally, capped
by their headroom (water filling); the k with the least total loss wins. With identical convex
loss curves above the fixed cost this is the optimum; the engine's ``optimal_split`` is used
instead when the engine provides one.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import replace

from bench.core import engine
from bench.loop import Sim
from bench.sim.battery import loss_curve

DEAD_BAND_W = 30.0


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
    """Loss-minimal split of total (AC W) over batteries with caps; order: preference."""
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


class OracleController:
    name = "oracle"
    per_second = True

    def __init__(self, use_engine: bool = True) -> None:
        self._cache: dict[tuple[object, ...], list[float]] = {}
        self._curve = loss_curve()
        self._engine_split = getattr(engine, "optimal_split", None) if use_engine else None
        self._table: tuple[tuple[float, float, float], ...] = ()

    def _split(
        self, demand: float, caps: list[float], order: list[int], discharge: bool
    ) -> list[float]:
        """Loss-minimal split: the engine's optimiser when it has one, else best_split."""
        if self._engine_split is None:
            loss = self._curve.discharge_loss_w if discharge else self._curve.charge_loss_w
            return best_split(demand, caps, order, loss)
        mode = engine.Mode.DISCHARGE if discharge else engine.Mode.CHARGE
        candidates = [engine.Candidate(max_w=int(caps[i]), table=self._table) for i in order]
        powers = self._engine_split(round(demand), candidates, mode)
        out = [0.0] * len(caps)
        for position, i in enumerate(order):
            out[i] = float(powers[position])
        return out

    def start(self, sim: Sim) -> float:
        for battery in sim.batteries:
            battery.params = replace(
                battery.params, dead_time_s=0.0, from_stop_extra_s=0.0, tau_s=0.0
            )
        for i in range(len(sim.boards)):
            sim.write(i, "rs485_enable", "enable")
        self._curve = loss_curve(sim.batteries[0].params)
        self._table = sim.batteries[0].params.efficiency_table
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
        n = len(sim.boards)
        if abs(demand) < DEAD_BAND_W:
            self._apply(sim, ["stop"] * n, [0.0] * n)
            return
        discharge = demand > 0
        caps = self._caps(sim, discharge)
        socs = [b.soc_pct for b in sim.batteries]
        # Preference on ties: the batteries running in this direction, then by state of charge.
        mode = "discharge" if discharge else "charge"
        running = [board.mode == mode for board in sim.boards]
        order = sorted(range(n), key=lambda i: (not running[i], -socs[i] if discharge else socs[i]))
        key = (discharge, round(abs(demand) / 5.0), tuple(round(c) for c in caps), tuple(order))
        shares = self._cache.get(key)
        if shares is None:
            shares = [p / abs(demand) for p in self._split(abs(demand), caps, order, discharge)]
            if len(self._cache) > 200_000:
                self._cache.clear()
            self._cache[key] = shares
        split = [min(f * abs(demand), cap) for f, cap in zip(shares, caps, strict=True)]
        modes = [mode if p > 0 else "stop" for p in split]
        commands = []
        for battery, p in zip(sim.batteries, split, strict=True):
            gain = battery.params.discharge_gain if discharge else battery.params.charge_gain
            commands.append(p / gain)
        self._apply(sim, modes, commands)

    def _apply(self, sim: Sim, modes: list[str], powers: list[float]) -> None:
        for i, board in enumerate(sim.boards):
            mode, watts = modes[i], powers[i]
            if mode == "stop":
                if board.mode != "stop":
                    board.write("mode", "stop")
                continue
            kind = "charge_power" if mode == "charge" else "discharge_power"
            current = board.charge_w if mode == "charge" else board.discharge_w
            # The boards take whole watts; the oracle's batteries take the exact value.
            if round(watts) != current:
                board.write(kind, round(watts))
            if board.mode != mode:
                board.write("mode", mode)
            sim.batteries[i].command(mode, watts)
