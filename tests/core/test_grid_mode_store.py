"""A stored grid request and peak meter with a bad value: a clear outcome, nothing coerced.

The store on disk may be damaged or edited by hand. Every field of the wrong type or out of
range gives the safe default, never a value read by truthiness or ``float()``: a broken
request is no request (``zero``: the hub holds the grid at its target), a broken peak meter
starts again. A ``soak`` of ``"false"`` was read as true before.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
import math
from typing import Any

from hypothesis import assume, given, settings as hyp_settings, strategies as st
import pytest

from custom_components.marstek_strategy.core.grid_mode import (
    MAX_LENGTH,
    MAX_POWER_W,
    Ending,
    GridMode,
    GridRequest,
    ended,
    request,
)
from custom_components.marstek_strategy.core.peak_cap import MAX_W, QUARTER_S, PeakMeter

NOW = datetime(2027, 1, 14, 17, 3, 20, tzinfo=UTC)

JSON = st.recursive(
    st.none() | st.booleans() | st.floats() | st.integers() | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner),
    max_leaves=10,
)
NOT_A_NUMBER = st.none() | st.booleans() | st.text(max_size=8) | st.lists(st.integers(), max_size=2)
NOT_A_TEXT = (
    st.none() | st.booleans() | st.floats() | st.integers() | st.lists(st.text(), max_size=2)
)
BAD_FLOAT = st.sampled_from([math.nan, math.inf, -math.inf])


def _bad_range(low: float, high: float) -> st.SearchStrategy[Any]:
    """Numbers outside low..high (and the non-finite ones), as a store may hold them."""
    return (
        BAD_FLOAT
        | st.floats(max_value=low, exclude_max=True, allow_nan=False)
        | st.floats(min_value=high, exclude_min=True, allow_nan=False)
        | st.integers(max_value=math.ceil(low) - 1)
        | st.integers(min_value=math.floor(high) + 1)
    )


BAD_TIME = NOT_A_TEXT.filter(lambda v: v is not None) | st.sampled_from(
    ["", "tomorrow", "2027-01-14T17:00:00", "2027-13-01T00:00:00+00:00", "17:00"]
)

# --------------------------------------------------------------------------------------------
# The grid request

BAD_REQUEST_FIELD: dict[str, st.SearchStrategy[Any]] = {
    "mode": NOT_A_TEXT | st.text(max_size=10).filter(lambda t: t not in set(GridMode)),
    "power_w": NOT_A_NUMBER.filter(lambda v: v is not None) | _bad_range(0.0, MAX_POWER_W),
    "until": BAD_TIME | st.none(),  # a request other than zero without an end: no request
    "target_soc": NOT_A_NUMBER.filter(lambda v: v is not None) | _bad_range(0.0, 100.0),
    "soak": JSON.filter(lambda v: not isinstance(v, bool)),
}


@st.composite
def stored_requests(draw: st.DrawFn) -> dict[str, Any]:
    """A request as the integration stores it (charge, discharge or hold, with an end)."""
    mode = draw(st.sampled_from([GridMode.CHARGE, GridMode.DISCHARGE, GridMode.HOLD]))
    target = None if mode is GridMode.HOLD else draw(st.none() | st.floats(0, 100))
    made = request(
        mode,
        NOW,
        power_w=draw(st.floats(1, MAX_POWER_W)),
        duration=timedelta(minutes=draw(st.integers(1, 1440))),
        target_soc=target,
        soak=draw(st.booleans()),
    )
    stored = made.as_dict()
    assert GridRequest.from_dict(stored) == made  # the good form is kept as it is
    return stored


@hyp_settings(max_examples=250, deadline=None)
@given(stored=stored_requests(), data=st.data())
def test_a_request_with_one_bad_field_is_no_request(stored: dict[str, Any], data: Any) -> None:
    """Any one field of the wrong type or range: zero, whatever the rest says."""
    field = data.draw(st.sampled_from(sorted(BAD_REQUEST_FIELD)))
    value = data.draw(BAD_REQUEST_FIELD[field])
    if field == "target_soc" and stored["mode"] == "hold":
        assume(value is not None)
    broken = {**stored, field: value}
    assert GridRequest.parse(broken) is None
    assert GridRequest.from_dict(broken) == GridRequest()


@pytest.mark.parametrize("soak", ["false", "true", "", 0, 1, None, [], {}, 0.0])
def test_soak_is_never_read_by_truthiness(soak: Any) -> None:
    """``soak: "false"`` held the export-soaking hold; now every non-bool is no request."""
    stored = request(GridMode.HOLD, NOW, duration=timedelta(hours=2)).as_dict()
    assert GridRequest.from_dict({**stored, "soak": soak}) == GridRequest()
    assert GridRequest.from_dict({**stored, "soak": False}).soak is False


@pytest.mark.parametrize(
    "stored",
    [
        {"mode": "charge", "power_w": True, "until": NOW.isoformat()},  # a bool is no power
        {"mode": "charge", "power_w": "2000", "until": NOW.isoformat()},  # nor a text
        {"mode": "charge", "power_w": 10**400, "until": NOW.isoformat()},  # nor a huge int
        {"mode": "charge", "power_w": 0, "until": NOW.isoformat()},  # charge needs a power
        {"mode": "discharge", "power_w": 500, "until": NOW.isoformat(), "target_soc": "20"},
        {"mode": "hold", "until": NOW.isoformat(), "target_soc": 50},  # hold: no target
        {"mode": "hold", "until": 1800000000},  # an end must be an ISO text
        {"mode": "zero", "until": NOW.isoformat()},  # zero has no end
        {"mode": "zero", "power_w": 100},
    ],
)
def test_values_a_cast_would_have_accepted_are_broken(stored: dict[str, Any]) -> None:
    assert GridRequest.from_dict(stored) == GridRequest()


def test_no_request_is_stored_as_zero() -> None:
    """What the integration stores for no request reads back as it, not as broken."""
    assert GridRequest.parse(GridRequest().as_dict()) == GridRequest()
    assert GridRequest.parse({"mode": "zero"}) == GridRequest()


@hyp_settings(max_examples=150, deadline=None)
@given(data=JSON | st.dictionaries(st.sampled_from(sorted(BAD_REQUEST_FIELD)), JSON))
def test_any_stored_value_gives_a_request_of_the_right_types(data: Any) -> None:
    """Never raises; what is kept has its own types and ranges and always ends."""
    kept = GridRequest.from_dict(data)
    assert isinstance(kept.mode, GridMode)
    assert isinstance(kept.soak, bool)
    assert isinstance(kept.power_w, float)
    assert 0.0 <= kept.power_w <= MAX_POWER_W
    assert kept.target_soc is None or 0.0 <= kept.target_soc <= 100.0
    if kept.mode is not GridMode.ZERO:
        assert kept.until is not None
        assert kept.until.tzinfo is not None


def test_an_end_further_away_than_a_request_may_run_ends_it() -> None:
    """A stored end years ahead (damaged, or the clock went back) returns to zero at once."""
    far = GridRequest.from_dict(
        {"mode": "discharge", "power_w": 800.0, "until": "2099-01-01T00:00:00+00:00"}
    )
    assert far.mode is GridMode.DISCHARGE
    assert ended(far, NOW, 50.0) is Ending.TIME
    near = request(GridMode.DISCHARGE, NOW, power_w=800.0, duration=MAX_LENGTH)
    assert ended(near, NOW, 50.0) is None
    assert ended(near, NOW + timedelta(seconds=1), 50.0) is None


# --------------------------------------------------------------------------------------------
# The peak meter

QUARTER = datetime(2027, 1, 14, 17, 0, tzinfo=UTC)

BAD_METER_FIELD: dict[str, st.SearchStrategy[Any]] = {
    "quarter": BAD_TIME | st.just("2027-01-14T17:03:00+00:00"),  # not on a quarter hour
    "energy_j": NOT_A_NUMBER | _bad_range(0.0, MAX_W * QUARTER_S),
    "seen_s": NOT_A_NUMBER | _bad_range(0.0, QUARTER_S),
    "last": BAD_TIME | st.just("2027-01-14T17:15:00+00:00"),  # past its quarter's end
    "last_w": NOT_A_NUMBER | _bad_range(-MAX_W, MAX_W),
    "month": NOT_A_TEXT | st.sampled_from(["2027-1", "2027-13", "January", "2027-01-14"]),
    "month_peak_w": NOT_A_NUMBER | _bad_range(0.0, MAX_W),
    "month_peak_at": BAD_TIME,
}


@st.composite
def stored_meters(draw: st.DrawFn) -> dict[str, Any]:
    """A meter as the integration stores it: readings in a quarter after a peak quarter."""
    meter = PeakMeter()
    moment = QUARTER - timedelta(seconds=QUARTER_S)
    for step, watts in draw(
        st.lists(st.tuples(st.floats(1, 30), st.floats(-5000, 20000)), min_size=1, max_size=40)
    ):
        meter = meter.update(moment, watts)
        moment = min(moment + timedelta(seconds=step), QUARTER + timedelta(seconds=QUARTER_S - 1))
    stored = meter.as_dict()
    kept = PeakMeter.from_dict(stored)
    assert kept.as_dict() == stored  # the good form is kept as it is
    return stored


@hyp_settings(max_examples=250, deadline=None)
@given(stored=stored_meters(), data=st.data())
def test_a_meter_with_one_bad_field_starts_again(stored: dict[str, Any], data: Any) -> None:
    """Any one field of the wrong type or range: a fresh meter, nothing half read."""
    field = data.draw(st.sampled_from(sorted(BAD_METER_FIELD)))
    value = data.draw(BAD_METER_FIELD[field])
    broken = {**stored, field: value}
    assert PeakMeter.parse(broken) is None
    assert PeakMeter.from_dict(broken) == PeakMeter()


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("energy_j", True),  # float(True) was 1.0
        ("last_w", 10**400),  # an int no float holds
        ("seen_s", "60"),  # float("60") was 60.0
        ("month_peak_w", "5000"),
        ("month", 202701),  # str(202701) was a month
        ("month_peak_at", 1800000000),
    ],
)
def test_values_a_cast_would_have_accepted_start_the_meter_again(field: str, value: Any) -> None:
    stored = PeakMeter(quarter=QUARTER, month="2027-01", month_peak_w=2500.0).as_dict()
    assert PeakMeter.from_dict(stored).month_peak_w == 2500.0
    assert PeakMeter.from_dict({**stored, field: value}) == PeakMeter()


@hyp_settings(max_examples=150, deadline=None)
@given(data=JSON | st.dictionaries(st.sampled_from(sorted(BAD_METER_FIELD)), JSON))
def test_any_stored_value_gives_a_meter_that_runs(data: Any) -> None:
    """Never raises, and the meter it gives takes the next reading at once."""
    meter = PeakMeter.from_dict(data)
    assert isinstance(meter.month, str)
    assert all(
        isinstance(n, float) and math.isfinite(n)
        for n in (meter.energy_j, meter.seen_s, meter.last_w, meter.month_peak_w)
    )
    meter.update(NOW, 500.0).allowed_w(NOW, 2500.0)
