"""Strict readers of values from a store on disk (pure): a wrong type is never coerced.

A stored item is read field by field; a field these return None for makes its item damaged
(``GridRequest.parse``, ``PeakMeter.parse``).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
import math
from typing import Any


def number(value: Any, low: float = -math.inf, high: float = math.inf) -> float | None:
    """Return value when it is a finite int or float (not a bool, not a text) in low..high."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    try:
        result = float(value)
    except OverflowError:  # an int too large for a float
        return None
    return result if math.isfinite(result) and low <= result <= high else None


#: The earliest and latest stored time read: a day inside what Python can hold in any time
#: zone (year 1 at +14:00 lies before the first UTC moment; shown in local time it raised).
_EARLIEST = datetime.min.replace(tzinfo=UTC) + timedelta(days=1)
_LATEST = datetime.max.replace(tzinfo=UTC) - timedelta(days=1)


def aware_time(value: Any) -> datetime | None:
    """Return an ISO text as an aware time (None: not a text, not ISO, naive, or off the calendar).

    Off the calendar: within a day of the first or last moment Python can hold, where a
    conversion to another time zone overflows.
    """
    if not isinstance(value, str):
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        return None
    if moment.tzinfo is None or not _EARLIEST <= moment <= _LATEST:
        return None
    return moment
