"""Where two controllers' losses differ: served energy, split, power bands, counts, ramps.

    python -m bench.decompose [--quick | --scenario NAME ...] [--days N] [--daytime]
        [--controller A --controller B ...]

For each run, second by second (``loop.run``'s ``on_second`` hook), every battery's mean AC
power, conversion loss and standby; each second's loss is set against the least loss that
could have served the same total AC power that second (``optimal_split`` on the plant's own
tables, each idle battery's standby counted, batteries past a cutoff left out): the
*served-optimum* loss. A controller's loss is then

    loss = served-optimum (what serving its trajectory costs at best)
         + excess (its split and count against that optimum, ramps and starts included).

Two controllers' loss gap splits into the gap in their served-optimum (serving more or less,
or at other times) and the gap in excess (a better or worse split for what they served).
Excess is also given for seconds in which a battery ramps (its power moves by more than
20 W within the second) apart from steady seconds, and the loss by each battery's power
band and by the count of running batteries. kWh, summed over the runs.
"""

from __future__ import annotations

import argparse
from collections import defaultdict
from dataclasses import replace
from itertools import pairwise
import sys
from typing import Any

from bench.controllers import make
from bench.core import engine
from bench.loop import Sim, run
from bench.scenarios import QUICK, SUITE, by_name, daytime, resolve, window
from bench.sim.house import build_house

BANDS = (0, 125, 250, 500, 750, 1000, 1500, 2000, 10_000)
RAMP_W = 20.0


def _band(watts: float) -> str:
    """The band label of a battery's |AC| power (0: not converting)."""
    if watts < 1.0:
        return "idle"
    for low, high in pairwise(BANDS):
        if watts < high:
            return f"{low}-{high}"
    return "max"


class _Tally:
    """Second-by-second bookkeeping of one run (the ``on_second`` hook)."""

    def __init__(self) -> None:
        self.prev: list[tuple[float, float, float, float]] | None = None
        self.sums: dict[str, float] = defaultdict(float)
        self.cache: dict[tuple[str, int, tuple[int, ...]], float] = {}

    def _optimum(self, sim: Sim, mode: str, total: int) -> float:
        """The least loss + standby (W) that serves total AC W in mode this second."""
        caps = []
        for battery, setup in zip(sim.batteries, sim.setups, strict=True):
            soc = battery.reported_soc
            inside = soc < setup.charge_cutoff if mode == "charge" else soc > setup.discharge_cutoff
            caps.append(int(abs(battery.available_w(mode))) if inside else 0)
        key = (mode, total, tuple(caps))
        hit = self.cache.get(key)
        if hit is not None:
            return hit
        candidates = [
            engine.Candidate(
                max_w=cap, table=b.params.efficiency_table, standby_w=b.params.standby_w
            )
            for b, cap in zip(sim.batteries, caps, strict=True)
        ]
        emode = engine.Mode.CHARGE if mode == "charge" else engine.Mode.DISCHARGE
        split = engine.optimal_split(total, candidates, emode)
        loss = engine.split_loss_w(emode, split, candidates)
        self.cache[key] = loss
        return float(loss)

    def __call__(self, sim: Sim, k: int) -> None:
        now = [
            (b.ac_out_wh - b.ac_in_wh, b.loss_wh, b.standby_wh + b.start_wh, b.ac_power_w)
            for b in sim.batteries
        ]
        if self.prev is None:
            self.prev = [(0.0, 0.0, 0.0, 0.0)] * len(now)
        s = self.sums
        total_ac = 0.0
        loss_s = 0.0
        ramping = False
        running = 0
        for (out0, loss0, idle0, p0), (out1, loss1, idle1, p1) in zip(self.prev, now, strict=True):
            ac = (out1 - out0) * 3600.0
            loss = (loss1 - loss0) * 3600.0
            idle = (idle1 - idle0) * 3600.0
            total_ac += ac
            loss_s += loss + idle
            band = _band(abs(ac))
            s[f"band {band} loss"] += loss + idle
            s[f"band {band} ac"] += abs(ac)
            s[f"band {band} s"] += 1
            if abs(ac) >= 1.0:
                running += 1
            if abs(p1 - p0) > RAMP_W:
                ramping = True
            s["standby"] += idle
            s["conversion"] += loss
            s["served"] += abs(ac)
        self.prev = now
        s[f"count {running} loss"] += loss_s
        s[f"count {running} ac"] += abs(total_ac)
        s[f"count {running} s"] += 1
        mode = "discharge" if total_ac >= 0 else "charge"
        optimum = self._optimum(sim, mode, round(abs(total_ac))) if abs(total_ac) >= 1 else 0.0
        if abs(total_ac) < 1:
            optimum = sum(b.params.standby_w for b in sim.batteries)
        s["net served"] += abs(total_ac)
        s["served optimum"] += optimum
        s["excess"] += loss_s - optimum
        s["excess ramp" if ramping else "excess steady"] += loss_s - optimum
        s["ramp s" if ramping else "steady s"] += 1
        s["loss"] += loss_s


def tally(scenario: Any, name: str, day: int) -> dict[str, float]:
    """Run controller name on scenario's day; return its decomposition (Wh, W-s as Wh)."""
    scenario = replace(scenario, house=replace(scenario.house, seed=scenario.house.seed + day))
    house = build_house(resolve(scenario))
    hook = _Tally()
    result = run(scenario, make(name), house, on_second=hook)
    out = {key: value / 3600.0 for key, value in hook.sums.items() if not key.endswith(" s")}
    out.update({key: value for key, value in hook.sums.items() if key.endswith(" s")})
    out["avoidable"] = result.avoidable_kwh * 1000.0
    out["import avoided"] = (result.house_import_kwh - result.grid_import_kwh) * 1000.0
    out["export avoided"] = (result.house_export_kwh - result.grid_export_kwh) * 1000.0
    out["relay starts"] = float(result.relay_starts)
    out["bench loss"] = result.conversion_loss_kwh * 1000.0
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.decompose", description=__doc__)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--daytime", action="store_true")
    parser.add_argument("--scenario", action="append", default=[])
    parser.add_argument("--days", type=int, default=1)
    parser.add_argument("--controller", action="append", default=[])
    args = parser.parse_args(argv)
    names = args.controller or ["efficiency", "astra"]
    if args.quick:
        scenarios = [window(by_name(n), start, hours) for n, start, hours in QUICK]
    else:
        scenarios = [s for s in SUITE if not args.scenario or s.name in args.scenario]
    if args.daytime:
        scenarios = daytime(scenarios)
    totals: dict[str, dict[str, float]] = {n: defaultdict(float) for n in names}
    for scenario in scenarios:
        for day in range(args.days):
            per: dict[str, dict[str, float]] = {}
            for name in names:
                per[name] = tally(scenario, name, 100 * day)
                for key, value in per[name].items():
                    totals[name][key] += value
            row = " ".join(
                f"{n}: loss {per[n]['loss']:.0f} opt {per[n]['served optimum']:.0f} "
                f"excess {per[n]['excess']:.0f} net {per[n]['net served']:.0f}"
                for n in names
            )
            print(f"{scenario.name} day {100 * day}: {row}", file=sys.stderr)
    keys = sorted({key for t in totals.values() for key in t})
    print(f"{'Wh (s for * s)':32}" + "".join(f"{n:>16}" for n in names))
    for key in keys:
        print(f"{key:32}" + "".join(f"{totals[n].get(key, 0.0):16.1f}" for n in names))
    return 0


if __name__ == "__main__":
    sys.exit(main())
