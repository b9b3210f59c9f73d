"""Strict readers of values from a store on disk (pure): a wrong type is never coerced.

A stored item is read field by field; a field these return None for makes its item damaged
(``GridRequest.parse``, ``PeakMeter.parse``).
"""

from __future__ import annotations

from datetime import datetime
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


def aware_time(value: Any) -> datetime | None:
    """Return an ISO text as an aware time (None: not a text, not ISO, or naive)."""
    if not isinstance(value, str):
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        return None
    return moment if moment.tzinfo is not None else None
