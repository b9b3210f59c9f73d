"""Issue 22's allocation work in the bench: tuned engine runs, learned curves, cold timing."""

from __future__ import annotations

import gc

from bench import engine_cost
from bench.controllers import available, known, make
from bench.controllers.engine_ctl import LearnedController
from bench.core import engine
from bench.loop import run
from bench.scenarios import by_name, window


def test_a_tuned_efficiency_run_carries_its_settings() -> None:
    name = "efficiency[start_cost_wh=0,stop_share=0.5]"
    assert known(name)
    assert available(name)
    controller = make(name)
    assert controller.name == name
    settings = controller.settings  # type: ignore[attr-defined]
    assert settings.start_cost_wh == 0.0
    assert settings.stop_share == 0.5
    assert settings.strategy is engine.Strategy.EFFICIENCY
    assert not known("efficiency[start_cost_wh=much]")


def test_the_learning_run_learns_from_the_batteries_that_ran() -> None:
    controller = make("efficiency_learned")
    assert isinstance(controller, LearnedController)
    result = run(window(by_name("v_mixed_fleet"), 11.0, 0.25), controller)
    assert result.balance_error_wh < 1e-6
    learned = sum(
        sum(learner.samples(mode))
        for learner in controller.tables.learners
        for mode in (engine.Mode.CHARGE, engine.Mode.DISCHARGE)
    )
    assert learned > 0


def test_cold_timing_finds_the_split_caches_empty_at_every_call() -> None:
    shapes = engine_cost.efficiency._SHAPES
    shapes.clear()
    engine_cost.measure("efficiency", 3, True, 60, cold=False)
    assert len(shapes) >= 2  # both directions' fleets kept across calls
    shapes.clear()
    figures = engine_cost.measure("efficiency", 3, True, 60, cold=True)
    assert len(shapes) <= 1  # only the last call's
    assert figures["worst_us"] >= figures["p99_us"] >= figures["median_us"] > 0


def test_the_timing_says_which_calls_a_garbage_collection_ran_in() -> None:
    """A collection counts in the call it falls into, and is named: gc_calls, worst_no_gc_us."""
    threshold = gc.get_threshold()
    gc.set_threshold(1)  # a collection in every call
    try:
        figures = engine_cost.measure("equal", 2, False, 20)
    finally:
        gc.set_threshold(*threshold)
    assert figures["gc_calls"] == 20
    enabled = gc.isenabled()
    gc.disable()
    try:
        figures = engine_cost.measure("equal", 2, False, 20)
    finally:
        if enabled:
            gc.enable()
    assert figures["gc_calls"] == 0
    assert figures["worst_no_gc_us"] == figures["worst_us"]
