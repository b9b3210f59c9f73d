"""The peak meter across a wall-clock step back (NTP, a manual change), found by redteam6.

The running quarter was kept when the clock stepped back before its start, so it ran on
until the clock caught up: after a step of -1 h the house's import of more than an hour was
counted against one quarter's budget (the cap allowed 0 W import for the hour: the batteries
carried the whole house and no grid charge could run) and that quarter then closed as a
month's peak several times the real one.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from hypothesis import given, strategies as st
import pytest

from custom_components.marstek_strategy.core.peak_cap import QUARTER_S, PeakMeter

START = datetime(2026, 12, 7, 18, 0, tzinfo=UTC)
CAP_W = 2500.0
BRUSSELS = ZoneInfo("Europe/Brussels")


def _run(meter: PeakMeter, start: datetime, seconds: int, watts: float) -> PeakMeter:
    """Readings of watts every 5 s from start for seconds."""
    for offset in range(0, seconds, 5):
        meter = meter.update(start + timedelta(seconds=offset), watts)
    return meter


def test_a_clock_step_back_of_an_hour_starts_the_quarter_afresh() -> None:
    meter = _run(PeakMeter(), START, 600, 2000.0)
    back = START + timedelta(seconds=600) - timedelta(hours=1)
    meter = _run(meter, back, 1800, 2000.0)  # half an hour of steady import
    now = back + timedelta(seconds=1800)
    assert meter.seen_s <= QUARTER_S
    # what a quarter of 2000 W allows (the cap less the margin, over what is left), not 0 W
    assert meter.allowed_w(now, CAP_W) > 1000.0
    meter = _run(meter, now, 5400, 2000.0)  # past the hour the clock went back
    assert 1990.0 <= meter.month_peak_w <= 2000.0 + 1e-6  # full quarters still count
    assert meter.last_quarter_w is not None
    assert meter.last_quarter_w <= 2000.0 + 1e-6


@given(
    before_s=st.integers(min_value=5, max_value=1800),
    step_s=st.integers(min_value=1, max_value=6 * 3600),
    watts=st.floats(min_value=0.0, max_value=10_000.0),
)
def test_no_step_back_counts_a_quarter_above_the_import_it_saw(
    before_s: int, step_s: int, watts: float
) -> None:
    """Whatever the step back, no quarter covers more than 900 s or averages above the import."""
    meter = _run(PeakMeter(), START, before_s, watts)
    back = START + timedelta(seconds=before_s - step_s)
    for offset in range(0, step_s + 2 * QUARTER_S, 30):
        meter = meter.update(back + timedelta(seconds=offset), watts)
        assert meter.seen_s <= QUARTER_S + 1e-6
    assert meter.month_peak_w <= watts + 1e-6


@pytest.mark.parametrize(
    "day", [datetime(2026, 10, 25, tzinfo=UTC), datetime(2026, 3, 29, tzinfo=UTC)]
)
def test_the_hour_the_clocks_change_is_no_step(day: datetime) -> None:
    """Local time going back (or forward) an hour for DST keeps every quarter counted.

    The loop reads the peak meter in local time. Two local times of one zone compare by
    the wall clock, so 02:00 CET right after 02:59 CEST read as a clock stepped back: the
    quarter before the change (here the night's grid charge of 3000 W, the month's peak)
    was dropped unclosed.
    """
    peak = (day + timedelta(minutes=45), day + timedelta(hours=1))  # 00:45-01:00 UTC
    meter = PeakMeter()
    moment = day
    while moment < day + timedelta(hours=2):
        watts = 3000.0 if peak[0] <= moment < peak[1] else 1000.0
        meter = meter.update(moment.astimezone(BRUSSELS), watts)
        moment += timedelta(seconds=5)
    assert meter.month_peak_w == pytest.approx(3000.0)
    assert meter.month_peak_at == peak[0]


def test_a_small_step_back_keeps_what_the_quarter_imported() -> None:
    """A step back of 2 s in a quarter that imported twice the cap: still nothing allowed.

    Starting the quarter afresh forgot its import: the part no reading covered counted at
    the cap, so the cap was allowed again for the rest and the quarter ended far above it.
    """
    meter = _run(PeakMeter(), START, 600, 2 * CAP_W)
    now = START + timedelta(seconds=600)
    meter = meter.update(now, 2 * CAP_W)
    assert meter.allowed_w(now, CAP_W) == 0.0
    meter = meter.update(now - timedelta(seconds=2), 2 * CAP_W)  # before the last reading
    assert meter.seen_s <= 598.0
    assert meter.allowed_w(now, CAP_W) == 0.0
