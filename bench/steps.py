"""Step loads on every plant: does a controller ring? (issue 22's fast-reversal target)

A house of steps only (one phase, two batteries on L1), on the nominal, slow and fast plants,
with a 1 s and a 5 s meter. On steps every fast reversal of the grid is the loop's own (the
house holds each level for a minute or more): a sign change of the grid beyond 50 W sooner
than the plant's follow time (dead time + 3 tau) after the previous one
(``bench.learn.fast_reversals``). The controller runs as the integration would run it: with
its default response model, not one matched to the plant (users cannot set it).

The houses: the step sequence of ``tests/bench/test_inflight_stability.py`` and a few fixed
random ones drawn like its property test (levels -4000..4000 W held 20..120 s).
"""

from __future__ import annotations

from array import array
from collections.abc import Callable
from dataclasses import dataclass
import random
from typing import Any

from bench.learn import fast_reversals
from bench.loop import Controller, run
from bench.scenarios import BatterySetup, Scenario
from bench.sim.battery import BatteryParams
from bench.sim.house import House, HouseSpec

PLANTS: dict[str, BatteryParams] = {
    "nominal": BatteryParams(),
    "slow": BatteryParams(dead_time_s=2.0, tau_s=4.0, from_stop_extra_s=6.0),
    "fast": BatteryParams(dead_time_s=0.5, tau_s=0.5, from_stop_extra_s=1.0),
}
POLLS_S = (1.0, 5.0)
BAND_W = 50.0
#: The fixed step sequence (W, seconds held).
STEPS: tuple[tuple[int, int], ...] = (
    (800, 90),
    (2500, 90),
    (300, 90),
    (-1500, 90),
    (-200, 90),
    (3000, 90),
    (0, 60),
)
RANDOM_HOUSES = 4  # fixed random step houses besides STEPS


def random_steps(seed: int) -> tuple[tuple[int, int], ...]:
    """A fixed random step sequence: 2 to 6 levels of -4000..4000 W, each held 20..120 s."""
    rng = random.Random(seed)
    levels = [(rng.randint(-4000, 4000), rng.randint(20, 120)) for _ in range(rng.randint(2, 6))]
    return (*levels, (0, 60))


HOUSES: tuple[tuple[tuple[int, int], ...], ...] = (
    STEPS,
    *(random_steps(seed) for seed in range(RANDOM_HOUSES)),
)


def house_of(levels: tuple[tuple[int, int], ...]) -> House:
    """A one-phase house whose net power is levels (W, seconds), steps only."""
    load, pv = array("d"), array("d")
    for level, seconds in levels:
        load.extend([max(0.0, float(level))] * seconds)
        pv.extend([max(0.0, -float(level))] * seconds)
    zero = array("d", bytes(8 * len(load)))
    spec = HouseSpec(seed=0, phases=1, duration_h=len(load) / 3600)
    return House(spec, (load, zero, zero), (pv, zero, zero))


def scenario(params: BatteryParams, poll_s: float, count: int = 2) -> Scenario:
    """count batteries at 50 % on L1 of a one-phase house, on plant params and meter poll_s."""
    batteries = tuple(BatterySetup("L1", 50.0, params=params) for _ in range(count))
    return Scenario("steps", "", HouseSpec(seed=0, phases=1), batteries, meter_poll_s=poll_s)


@dataclass(frozen=True, slots=True)
class StepFigures:
    """One controller on one plant and meter, summed over the step houses."""

    controller: str
    plant: str
    poll_s: float
    fast_reversals: int
    avoidable_kwh: float
    writes: int

    def as_dict(self) -> dict[str, Any]:
        return {
            "controller": self.controller,
            "plant": self.plant,
            "poll_s": self.poll_s,
            "fast_reversals": self.fast_reversals,
            "avoidable_kwh": round(self.avoidable_kwh, 4),
            "writes": self.writes,
        }


Levels = tuple[tuple[int, int], ...]


def reversals(
    controller: Controller, params: BatteryParams, poll_s: float, levels: Levels
) -> tuple[int, float, int]:
    """Fast reversals, avoidable kWh and writes of controller on one step house."""
    result = run(
        scenario(params, poll_s), controller, house_of(levels), record=True, record_every_s=1
    )
    if result.trace is None:
        raise RuntimeError("no trace recorded")
    follow = params.dead_time_s + 3 * params.tau_s
    return (
        fast_reversals(result.trace["grid"], follow, BAND_W),
        result.avoidable_kwh,
        result.writes,
    )


def suite(name: str, make: Callable[[str], Controller]) -> list[StepFigures]:
    """Controller name (a fresh one per run, from make) on every plant x meter x house."""
    out = []
    for plant, params in PLANTS.items():
        for poll in POLLS_S:
            count = writes = 0
            avoidable = 0.0
            for levels in HOUSES:
                c, a, w = reversals(make(name), params, poll, levels)
                count, avoidable, writes = count + c, avoidable + a, writes + w
            out.append(StepFigures(name, plant, poll, count, avoidable, writes))
    return out
