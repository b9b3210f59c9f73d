"""The crossover controller's split as its peer documents it."""

from __future__ import annotations

from dataclasses import dataclass, field
import random

import pytest

from bench.controllers.crossover import CROSSOVER_DISCHARGE_W, CrossoverController, proportional
from bench.scenarios import BatterySetup


def test_a_proportional_split_never_passes_a_crossover() -> None:
    """Mixed maxima: 800 W and 2500 W batteries share 2200 W without the big one above 1500 W.

    A plain proportional split gives 2500 / 3300 * 2200 = 1667 W to the big one.
    """
    caps = {0: 800.0, 1: 2500.0}
    limits = {i: min(CROSSOVER_DISCHARGE_W, cap) for i, cap in caps.items()}
    shares = proportional(2200.0, [0, 1], caps, limits)
    assert shares[1] == CROSSOVER_DISCHARGE_W
    assert shares[0] == 700.0


def test_random_mixed_states_stay_under_the_crossover_and_deliver() -> None:
    rng = random.Random(5)
    for _ in range(5000):
        chosen = list(range(rng.randint(1, 4)))
        caps = {i: float(rng.choice([800, 1200, 2500])) for i in chosen}
        limits = {i: min(CROSSOVER_DISCHARGE_W, caps[i]) for i in chosen}
        need = rng.uniform(0, sum(limits.values()))
        shares = proportional(need, chosen, caps, limits)
        assert abs(sum(shares.values()) - need) < 1e-6
        assert all(shares[i] <= limits[i] + 1e-9 for i in chosen)


def test_beyond_the_crossovers_the_split_follows_the_maxima() -> None:
    caps = {0: 800.0, 1: 2500.0}
    limits = {0: 800.0, 1: 1500.0}
    shares = proportional(3300.0, [0, 1], caps, limits)
    assert shares == {0: 800.0, 1: 2500.0}


# --- the controller's rules (CrossoverController._allocate on a stand-in for the simulator) ---


@dataclass
class _Board:
    mode: str = "stop"


@dataclass
class _Sim:
    """What _allocate reads: the boards' modes, the setups, states of charge, grid and time."""

    setups: tuple[BatterySetup, ...]
    socs: list[float]
    grid: float = 0.0
    now: float = 0.0
    boards: list[_Board] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.boards = [_Board() for _ in self.setups]

    def soc(self, battery: int) -> float:
        return self.socs[battery]

    def grid_w(self) -> float:
        return self.grid


def _controller(sim: _Sim) -> CrossoverController:
    controller = CrossoverController()
    controller.powers = [0.0] * len(sim.setups)  # nothing commanded: the demand is the grid
    return controller


def _step(controller: CrossoverController, sim: _Sim, now: float, need_w: float) -> list[float]:
    """Allocate at now for need_w commanded discharge W (grid W = need * 0.975)."""
    sim.now, sim.grid = now, need_w * 0.975
    return controller._allocate(sim)  # type: ignore[arg-type]


def test_the_hold_restarts_when_a_battery_joins() -> None:
    """One battery from 0 s, a second joins at 100 s: the pair holds until 220 s, not 120 s."""
    sim = _Sim((BatterySetup(), BatterySetup()), [80.0, 70.0])
    controller = _controller(sim)
    assert _step(controller, sim, 0.0, 1000.0)[1] == 0.0
    assert controller.active == (0,)
    both = _step(controller, sim, 100.0, 2400.0)
    assert min(both) > 0
    assert controller.active_since == 100.0
    held = _step(controller, sim, 150.0, 1000.0)  # 150 s after the start, 50 s after the join
    assert controller.active == (0, 1)
    assert min(held) > 0
    released = _step(controller, sim, 221.0, 1000.0)
    assert controller.active == (0,)
    assert released == [pytest.approx(1000.0), 0.0]


@pytest.mark.parametrize(("better", "replaced"), [(4.0, False), (6.0, True)])
def test_a_running_battery_is_replaced_only_by_one_more_than_5_points_better(
    better: float, replaced: bool
) -> None:
    """The running battery is the second, so a tie on index cannot keep it."""
    sim = _Sim((BatterySetup(), BatterySetup()), [30.0, 60.0])
    controller = _controller(sim)
    _step(controller, sim, 0.0, 1000.0)
    assert controller.active == (1,)
    sim.socs[0] = 60.0 + better  # discharging: the higher state of charge is better
    _step(controller, sim, 200.0, 1000.0)  # after the hold
    assert controller.active == ((0,) if replaced else (1,))


def test_charging_prefers_the_lowest_state_of_charge_with_the_same_hysteresis() -> None:
    sim = _Sim((BatterySetup(), BatterySetup()), [70.0, 40.0])
    controller = _controller(sim)
    sim.grid = -1000.0
    controller._allocate(sim)  # type: ignore[arg-type]
    assert controller.active == (1,)
    sim.socs[0], sim.now = 36.0, 200.0  # 4 points lower: not enough
    controller._allocate(sim)  # type: ignore[arg-type]
    assert controller.active == (1,)
    sim.socs[0] = 34.0  # 6 points lower: replaces it
    controller._allocate(sim)  # type: ignore[arg-type]
    assert controller.active == (0,)


def test_mixed_maxima_never_run_a_battery_above_its_crossover() -> None:
    """Random fleets of 800, 1200 and 2500 W batteries and demands they can carry."""
    rng = random.Random(11)
    for _ in range(2000):
        count = rng.randint(2, 4)
        maxima = [rng.choice((800, 1200, 2500)) for _ in range(count)]
        setups = tuple(BatterySetup(max_discharge_w=m, max_charge_w=m) for m in maxima)
        sim = _Sim(setups, [rng.uniform(20.0, 95.0) for _ in range(count)])
        controller = _controller(sim)
        limits = [min(CROSSOVER_DISCHARGE_W, m) for m in maxima]
        need = rng.uniform(40.0, sum(limits))
        powers = _step(controller, sim, 0.0, need)
        assert sum(powers) == pytest.approx(need)
        assert all(p <= limit + 1e-9 for p, limit in zip(powers, limits, strict=True))


def test_a_small_demand_holds_off_a_start_but_keeps_a_running_set() -> None:
    sim = _Sim((BatterySetup(), BatterySetup()), [80.0, 70.0])
    controller = _controller(sim)
    assert _step(controller, sim, 0.0, 20.0) == [0.0, 0.0]  # 19.5 W at the grid: no start
    assert controller.active == ()
    _step(controller, sim, 10.0, 2400.0)
    assert controller.active == (0, 1)
    small = _step(controller, sim, 20.0, 20.0)  # within the hold: the same set runs on
    assert controller.active == (0, 1)
    assert controller.active_since == 10.0
    assert sum(small) == pytest.approx(20.0)
    after = _step(controller, sim, 200.0, 20.0)  # after the hold: fewer, but still running
    assert controller.active == (0,)
    assert after == [pytest.approx(20.0), 0.0]
