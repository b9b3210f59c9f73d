"""bench.decompose: a run's loss splits exactly into its served-optimum and its excess."""

from __future__ import annotations

import pytest

from bench.decompose import _band, tally
from bench.scenarios import by_name, window


def test_loss_is_the_served_optimum_plus_the_excess() -> None:
    """Second by second: the hook's loss is the plant's, and the parts add up to it."""
    scenario = window(by_name("cloudy"), 11.0, 0.25)
    parts = tally(scenario, "efficiency", 0)
    assert parts["loss"] == pytest.approx(parts["bench loss"], rel=1e-6)
    assert parts["served optimum"] + parts["excess"] == pytest.approx(parts["loss"], rel=1e-9)
    assert parts["excess ramp"] + parts["excess steady"] == pytest.approx(parts["excess"])
    # the optimum is a least loss for what was served: no controller beats it by more than
    # the ramps' seconds (a ramping battery's mean power is not one split's)
    assert parts["excess steady"] > -1.0
    assert parts["net served"] > 0


@pytest.mark.parametrize(
    ("watts", "band"), [(0.0, "idle"), (100.0, "0-125"), (1000.0, "1000-1500"), (9e9, "max")]
)
def test_power_bands(watts: float, band: str) -> None:
    assert _band(watts) == band
