"""The efficiency learner: pure, from steady AC/DC samples to a blended table and factors."""

from __future__ import annotations

import json
import random

from hypothesis import example, given, settings, strategies as st
import pytest

from custom_components.marstek_strategy.core.engine import DEFAULT_EFFICIENCY_TABLE, Mode
from custom_components.marstek_strategy.core.learning import (
    BLEND_SAMPLES,
    FACTOR_RANGE,
    MAX_COUNT,
    MIN_EFFICIENCY,
    MIN_SAMPLES,
    SEED_FACTORS,
    WINDOW,
    BatteryLearner,
    Sample,
    efficiency_of,
    read_stored,
)


def _charge(ac: float, efficiency: float, commanded: int | None = None) -> Sample:
    """Return a charging sample taking |ac| W from the wall at efficiency."""
    return Sample(Mode.CHARGE, commanded or round(ac), -ac, ac * efficiency)


def _discharge(ac: float, efficiency: float, commanded: int | None = None) -> Sample:
    """Return a discharging sample delivering ac W at the wall at efficiency."""
    return Sample(Mode.DISCHARGE, commanded or round(ac), ac, -ac / efficiency)


def test_efficiency_follows_the_board_signs() -> None:
    assert efficiency_of(_charge(1000, 0.9)) == pytest.approx(0.9)
    assert efficiency_of(_discharge(1000, 0.8)) == pytest.approx(0.8)
    # Signs that contradict the mode, idle, impossible or non-finite values show nothing.
    assert efficiency_of(Sample(Mode.CHARGE, 500, 500.0, -450.0)) is None
    assert efficiency_of(Sample(Mode.DISCHARGE, 500, 0.0, 0.0)) is None
    assert efficiency_of(Sample(Mode.CHARGE, 500, -500.0, 600.0)) is None  # > 100 %
    assert efficiency_of(Sample(Mode.CHARGE, 500, -500.0, 50.0)) is None  # 10 %
    assert efficiency_of(Sample(Mode.CHARGE, 500, float("nan"), 450.0)) is None


def test_fresh_learner_is_the_default() -> None:
    learner = BatteryLearner()
    assert learner.table() == DEFAULT_EFFICIENCY_TABLE
    assert learner.measured_share() == 0.0
    assert learner.factor(Mode.CHARGE) == SEED_FACTORS[Mode.CHARGE]
    assert learner.factor(Mode.DISCHARGE) == SEED_FACTORS[Mode.DISCHARGE]


def test_a_bin_counts_only_from_min_samples_and_blends_toward_the_measurement() -> None:
    learner = BatteryLearner()
    default = {row[0]: row for row in DEFAULT_EFFICIENCY_TABLE}[1000.0][1]
    for _ in range(MIN_SAMPLES - 1):
        learner.observe(_charge(1000, 0.85))
    assert learner.efficiency_at(Mode.CHARGE, 1000) == default
    learner.observe(_charge(1000, 0.85))
    weight = MIN_SAMPLES / (MIN_SAMPLES + BLEND_SAMPLES)
    expected = weight * 0.85 + (1 - weight) * default
    assert learner.efficiency_at(Mode.CHARGE, 1000) == pytest.approx(expected)
    # The other direction is untouched; bins without evidence follow the measured one.
    assert learner.efficiency_at(Mode.DISCHARGE, 1000) == DEFAULT_EFFICIENCY_TABLE[6][2]
    offset = expected - default
    assert learner.table()[0][1] == pytest.approx(DEFAULT_EFFICIENCY_TABLE[0][1] + offset)
    assert learner.table()[0][2] == DEFAULT_EFFICIENCY_TABLE[0][2]
    assert 0 < learner.measured_share(Mode.CHARGE) < 1
    assert learner.measured_share(Mode.DISCHARGE) == 0.0


def test_outliers_are_rejected_once_a_bin_has_a_median() -> None:
    learner = BatteryLearner()
    for _ in range(MIN_SAMPLES):
        assert learner.observe(_discharge(500, 0.90))
    # 25 %: a spike (commanded under MIN_FACTOR_W, so the factor learns nothing either).
    assert not learner.observe(Sample(Mode.DISCHARGE, 50, 500.0, -2000.0))
    assert learner.rejected == 1
    assert learner.samples(Mode.DISCHARGE)[4] == MIN_SAMPLES


def test_a_drifting_battery_is_followed() -> None:
    learner = BatteryLearner()
    for _ in range(WINDOW):
        learner.observe(_charge(1500, 0.95))
    # The battery ages slowly: each step within the outlier floor of the last.
    for step in range(1, 6):
        for _ in range(WINDOW):
            learner.observe(_charge(1500, 0.95 - 0.02 * step))
    learned = learner.efficiency_at(Mode.CHARGE, 1500)
    assert learned is not None
    weight = 6 * WINDOW / (6 * WINDOW + BLEND_SAMPLES)  # every accepted sample counts
    assert learned == pytest.approx(weight * 0.85 + (1 - weight) * 0.954)


def test_correction_factor_is_learned_from_delivered_against_commanded() -> None:
    learner = BatteryLearner()
    # Commanded 1000 W of discharge, 950 W arrive at the wall: 1/0.95 commanded per grid W.
    for _ in range(200):
        learner.observe(_discharge(950, 0.9, commanded=1000))
    assert learner.factor(Mode.DISCHARGE) == pytest.approx(
        (200 / (200 + BLEND_SAMPLES)) / 0.95
        + (BLEND_SAMPLES / (200 + BLEND_SAMPLES)) * SEED_FACTORS[Mode.DISCHARGE]
    )
    # Small commands and wild ratios teach nothing about the factor.
    fresh = BatteryLearner()
    fresh.observe(_charge(60, 0.6, commanded=50))
    for _ in range(50):
        fresh.observe(_charge(500, 0.9, commanded=1000))  # half delivered: not a factor
    assert fresh.factor(Mode.CHARGE) == SEED_FACTORS[Mode.CHARGE]


def test_stop_and_zero_commands_teach_nothing() -> None:
    learner = BatteryLearner()
    assert not learner.observe(Sample(Mode.STOP, 0, 0.0, 0.0))
    assert not learner.observe(Sample(Mode.CHARGE, 0, -500.0, 450.0))
    assert learner.efficiency_at(Mode.STOP, 0) is None
    assert learner.table() == DEFAULT_EFFICIENCY_TABLE


def test_round_trip_through_json_and_corrupt_data() -> None:
    learner = BatteryLearner()
    rng = random.Random(4)
    for _ in range(300):
        ac = rng.uniform(50, 2500)
        learner.observe(_charge(ac, rng.uniform(0.88, 0.92)))
        learner.observe(_discharge(ac, rng.uniform(0.84, 0.88)))
    stored = json.loads(json.dumps(learner.to_dict()))
    restored = BatteryLearner.from_dict(stored)
    assert restored.table() == learner.table()
    assert restored.factor(Mode.CHARGE) == learner.factor(Mode.CHARGE)
    for corrupt in (
        {},
        {**stored, "version": 99},
        {**stored, "powers": [1, 2, 3]},
        {**stored, "bins": {"charge": [[0.9]], "discharge": []}},
        {**stored, "bins": {"charge": "x", "discharge": "y"}},
        {**stored, "ratios": {"charge": ["abc"], "discharge": []}},
    ):
        assert BatteryLearner.from_dict(corrupt).table() == DEFAULT_EFFICIENCY_TABLE
    # Stored values that are not efficiencies are dropped, the rest kept.
    stored["bins"]["charge"][6] = [0.9] * MIN_SAMPLES + [float("inf"), 7.0, -1.0]
    assert BatteryLearner.from_dict(stored).samples(Mode.CHARGE)[6] == MIN_SAMPLES


def _learned_store() -> dict[str, object]:
    learner = BatteryLearner()
    rng = random.Random(5)
    for _ in range(100):
        ac = rng.uniform(50, 2500)
        learner.observe(_charge(ac, 0.9))
        learner.observe(_discharge(ac, 0.86))
    stored: dict[str, object] = json.loads(json.dumps(learner.to_dict()))
    return stored


def test_read_stored_tells_a_damaged_store_from_another_version() -> None:
    """Issue 18: a damaged learned store is named (a repair issue); a foreign one is not."""
    stored = _learned_store()
    learner, damaged = read_stored(stored)
    assert not damaged
    assert learner.table() == BatteryLearner.from_dict(stored).table() != DEFAULT_EFFICIENCY_TABLE
    for foreign in (None, {**stored, "version": 1}, {**stored, "powers": [1, 2, 3]}):
        learner, damaged = read_stored(foreign)
        assert not damaged
        assert learner.table() == DEFAULT_EFFICIENCY_TABLE
    for broken in (
        [],
        "x",
        {},
        {k: v for k, v in stored.items() if k != "powers"},
        {**stored, "bins": None},
        {**stored, "bins": {"charge": [[0.9]], "discharge": []}},
        {**stored, "counts": {"charge": [1e400], "discharge": []}},
        {**stored, "ratios": {"charge": ["abc"], "discharge": []}},
        {**stored, "ratio_counts": {"charge": "many", "discharge": 1}},
    ):
        learner, damaged = read_stored(broken)
        assert damaged, broken
        assert learner.table() == DEFAULT_EFFICIENCY_TABLE


_JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=5),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner),
    max_leaves=20,
)


@settings(max_examples=200, deadline=None)
@given(
    st.dictionaries(
        st.sampled_from(["version", "powers", "bins", "counts", "ratios", "ratio_counts"]),
        _JSON,
    ),
    st.data(),
)
def test_read_stored_never_raises_on_damaged_items(
    damage: dict[str, object], data: st.DataObject
) -> None:
    """Any item replaced by any JSON, or the JSON cut anywhere: a learner, never an error."""
    stored = {**_learned_store(), **damage}
    learner, _damaged = read_stored(stored)
    assert len(learner.table()) == len(DEFAULT_EFFICIENCY_TABLE)
    text = json.dumps(_learned_store())
    cut = data.draw(st.integers(0, len(text)))
    try:
        truncated = json.loads(text[:cut])
    except ValueError:
        return  # Home Assistant's Store sets such a file aside (its own repair issue)
    learner, _damaged = read_stored(truncated)
    assert len(learner.table()) == len(DEFAULT_EFFICIENCY_TABLE)


@settings(max_examples=100, deadline=None)
@given(
    efficiency=st.floats(1e-9, 1.0, exclude_min=True),
    ratio=st.floats(1e-9, 2.0),
)
@example(efficiency=1e-6, ratio=1.0)  # the engine's table: 0.0 (a division by zero)
def test_a_stored_learner_gives_a_table_the_engine_can_use(efficiency: float, ratio: float) -> None:
    """A store whose values live observation never accepts (hand edit, damage) is not learned.

    A discharge efficiency of 1e-6 in every bin, each counted MAX_COUNT times, gave a table
    of 0.0 once rounded (``adapters/learned.rounded``): the engine's loss curve divides by
    it, so every cycle raised and stopped every battery. The stored values are read within
    what ``observe`` accepts: efficiencies in (MIN_EFFICIENCY, 1], ratios in FACTOR_RANGE.
    """
    stored = BatteryLearner().to_dict()
    rows = len(stored["powers"])
    for mode in ("charge", "discharge"):
        stored["bins"][mode] = [[efficiency] * WINDOW for _ in range(rows)]
        stored["counts"][mode] = [MAX_COUNT] * rows
        stored["ratios"][mode] = [ratio] * WINDOW
        stored["ratio_counts"][mode] = MAX_COUNT
    learner, _damaged = read_stored(json.loads(json.dumps(stored)))
    table = tuple((power, round(c, 3), round(d, 3)) for power, c, d in learner.table())
    for _, charge, discharge in table:
        assert MIN_EFFICIENCY < charge <= 1.0
        assert MIN_EFFICIENCY < discharge <= 1.0
    for mode in (Mode.CHARGE, Mode.DISCHARGE):
        assert 1 / FACTOR_RANGE[1] <= learner.factor(mode) <= 1 / FACTOR_RANGE[0]


@settings(max_examples=200, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.sampled_from([Mode.CHARGE, Mode.DISCHARGE]),
            st.integers(1, 2500),
            st.floats(-1e6, 1e6) | st.just(float("nan")),
            st.floats(-1e6, 1e6) | st.just(float("inf")),
        ),
        max_size=300,
    )
)
def test_learned_table_stays_a_valid_table_whatever_it_is_fed(
    samples: list[tuple[Mode, int, float, float]],
) -> None:
    learner = BatteryLearner()
    for mode, commanded, ac, dc in samples:
        learner.observe(Sample(mode, commanded, ac, dc))
    table = learner.table()
    assert [row[0] for row in table] == [row[0] for row in DEFAULT_EFFICIENCY_TABLE]
    for _, charge, discharge in table:
        assert 0.2 < charge <= 1.0
        assert 0.2 < discharge <= 1.0
    assert 0.0 <= learner.measured_share() < 1.0
    for mode in (Mode.CHARGE, Mode.DISCHARGE):
        assert 0.75 <= learner.factor(mode) <= 1.25


@settings(max_examples=50, deadline=None)
@given(st.floats(0.5, 0.99), st.floats(0.5, 0.99), st.integers(0, 2**32 - 1))
def test_enough_clean_samples_converge_to_the_true_curve(
    charge_eff: float, discharge_eff: float, seed: int
) -> None:
    rng = random.Random(seed)
    learner = BatteryLearner()
    for _ in range(WINDOW * 2):
        for power, _, _ in DEFAULT_EFFICIENCY_TABLE:
            noise = rng.uniform(-0.005, 0.005)
            learner.observe(_charge(power, charge_eff + noise))
            learner.observe(_discharge(power, discharge_eff + noise))
    weight = 2 * WINDOW / (2 * WINDOW + BLEND_SAMPLES)
    for (power, default_c, default_d), (_, c, d) in zip(
        DEFAULT_EFFICIENCY_TABLE, learner.table(), strict=True
    ):
        assert c == pytest.approx(weight * charge_eff + (1 - weight) * default_c, abs=0.006)
        assert d == pytest.approx(weight * discharge_eff + (1 - weight) * default_d, abs=0.006)
        assert power > 0


def test_a_battery_worse_everywhere_is_learned_at_powers_it_never_ran() -> None:
    learner = BatteryLearner()
    for _ in range(400):
        for power, charge, discharge in DEFAULT_EFFICIENCY_TABLE[4:7]:  # 500 to 1000 W only
            learner.observe(_charge(power, charge - 0.05))
            learner.observe(_discharge(power, discharge - 0.05))
    weight = 400 / (400 + BLEND_SAMPLES)
    for row, learned in zip(DEFAULT_EFFICIENCY_TABLE, learner.table(), strict=True):
        assert learned[1] == pytest.approx(row[1] - 0.05 * weight)
        assert learned[2] == pytest.approx(row[2] - 0.05 * weight)
    assert learner.measured_share() == pytest.approx(3 / 10 * weight)
    # The count of accepted samples survives a restart, so the weight does too.
    restored = BatteryLearner.from_dict(json.loads(json.dumps(learner.to_dict())))
    assert restored.table() == learner.table()
    assert restored.factor(Mode.CHARGE) == learner.factor(Mode.CHARGE)
