"""Stored options as the loop runs them: an unusable one runs at its default, never raises."""

from __future__ import annotations

from typing import Any

from hypothesis import given, strategies as st

from custom_components.marstek_strategy.adapters.loop_options import (
    NUMBER_RANGES,
    LoopOptions,
    checked_options,
)
from custom_components.marstek_strategy.const import (
    CONF_DRY_RUN,
    CONF_INTERVAL,
    CONF_KEEPALIVE,
    CONF_MAIN_FUSE_A,
    CONF_PACE,
    CONF_PEAK_CAP_KW,
    CONF_REFRESH_METER,
    CONF_STOP_BEHAVIOR,
    DEFAULT_OPTIONS,
)

ANYTHING = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(10**9), max_value=10**9),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=8),
    st.lists(st.integers(), max_size=2),
)


@given(st.dictionaries(st.sampled_from(sorted(DEFAULT_OPTIONS)), ANYTHING))
def test_any_stored_options_give_usable_ones(stored: dict[str, Any]) -> None:
    """Whatever the file holds, the loop gets numbers in range, bools and known choices."""
    options, replaced = checked_options(stored)
    for key, (low, high) in NUMBER_RANGES.items():
        assert low <= options[key] <= high
        assert not isinstance(options[key], bool)
    assert isinstance(options[CONF_DRY_RUN], bool)
    assert isinstance(options[CONF_REFRESH_METER], bool)
    if replaced:
        assert options[CONF_DRY_RUN] is True  # a setting nobody chose drives nothing
    for key, value in stored.items():  # a usable value is kept as it was
        if key not in replaced and not (replaced and key == CONF_DRY_RUN):
            assert options[key] == value
    LoopOptions.of(stored)  # never raises


def test_usable_options_are_kept_and_bad_ones_named() -> None:
    """Values the form can store pass unchanged; each unusable one is named once."""
    good = {
        CONF_INTERVAL: 2.0,
        CONF_KEEPALIVE: 0,
        CONF_MAIN_FUSE_A: 35,
        CONF_PEAK_CAP_KW: 2.5,
        CONF_PACE: "meter",
        CONF_STOP_BEHAVIOR: DEFAULT_OPTIONS[CONF_STOP_BEHAVIOR],
    }
    assert checked_options(good) == ({**DEFAULT_OPTIONS, **good}, [])
    bad = {CONF_INTERVAL: "6.5", CONF_MAIN_FUSE_A: 1e6, CONF_DRY_RUN: "false", CONF_PACE: "x"}
    options, replaced = checked_options(bad)
    assert sorted(replaced) == sorted(bad)
    assert options[CONF_DRY_RUN] is True
    assert options[CONF_MAIN_FUSE_A] == DEFAULT_OPTIONS[CONF_MAIN_FUSE_A]
    # a damaged fuse alone: its default could be above the real one, so dry run goes on
    options, replaced = checked_options({CONF_MAIN_FUSE_A: "sixteen", CONF_DRY_RUN: False})
    assert (replaced, options[CONF_DRY_RUN]) == ([CONF_MAIN_FUSE_A], True)
