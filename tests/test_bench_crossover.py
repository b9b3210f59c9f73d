"""The crossover controller's split as its peer documents it."""

from __future__ import annotations

import random

from bench.controllers.crossover import CROSSOVER_DISCHARGE_W, proportional


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
