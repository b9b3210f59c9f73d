"""engine.py gives the plans of commit c404c9c (setpoints and reasons) on seeded random cycles.

The fixture (tests/engine_plans_c404c9c.json, see tests/engine_cases.py) was recorded with the
engine of that commit, before its efficiency hot path was made faster: any change of a plan,
a reason or an ``optimal_split`` result fails here.
"""

from __future__ import annotations

import json

import pytest

from custom_components.marstek_strategy.core import efficiency, engine
from tests.engine_cases import FIXTURE, RUNS, SPLITS, run, split_lines

RECORDED = json.loads(FIXTURE.read_text())


@pytest.mark.parametrize(("seed", "count"), RUNS)
def test_plans_equal_the_recorded_ones(seed: int, count: int) -> None:
    expected = RECORDED["allocate"][str(seed)]
    assert len(expected) == count
    for index, (got, want) in enumerate(zip(run(engine, seed, count), expected, strict=True)):
        assert got == want, f"seed {seed}, cycle {index}"


@pytest.mark.parametrize(("seed", "count"), SPLITS)
def test_optimal_splits_equal_the_recorded_ones(seed: int, count: int) -> None:
    expected = RECORDED["optimal_split"][str(seed)]
    assert list(split_lines(engine, seed, count)) == expected


def test_plans_are_the_same_when_the_kept_shapes_are_dropped_often(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The shapes and settled pairs kept across cycles only save time: dropping them is safe."""
    monkeypatch.setattr(efficiency, "_MAX_SHAPES", 2)
    monkeypatch.setattr(efficiency, "_MAX_SETTLED", 4)
    efficiency._SHAPES.clear()
    seed = RUNS[0][0]
    expected = RECORDED["allocate"][str(seed)][:400]
    assert list(run(engine, seed, 400)) == expected
    efficiency._SHAPES.clear()
