"""A stored peak meter far behind its last reading starts fresh (it could block the loop)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
import time

from custom_components.marstek_strategy.core.peak_cap import PeakMeter


def test_a_stored_peak_meter_whose_quarter_lies_years_behind_its_last_reading_is_dropped() -> None:
    """A damaged store (the quarter far behind the last reading) made the first cycle walk
    every quarter in between on the event loop: ten years took seconds, a year-1 quarter
    hours. The stores are validated item by item (issue 18): such a meter starts again."""
    now = datetime(2026, 12, 7, 8, 0, tzinfo=UTC)
    stored = {
        "quarter": "2016-12-07T08:00:00+00:00",
        "last": (now - timedelta(seconds=5)).isoformat(),
        "last_w": 500.0,
        "month": "2026-12",
    }
    meter = PeakMeter.from_dict(stored)
    started = time.monotonic()
    meter.update(now, 500.0)
    assert time.monotonic() - started < 0.5
    assert meter == PeakMeter()
