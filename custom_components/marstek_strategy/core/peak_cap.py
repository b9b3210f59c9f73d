"""Pure: the quarter-hour average import, the month's peak and what a peak cap allows now.

Nothing here imports Home Assistant (it belongs in ``core/`` with the engine).

The Flemish capacity tariff bills the month's highest quarter-hour average import: the
energy imported in each quarter hour (:00, :15, :30, :45) times four. Export in a quarter
does not offset its import, so only import counts.

``PeakMeter`` integrates the grid power the loop reads each cycle: a reading holds until the
next one, at most ``MAX_GAP_S`` (a longer gap, a restart or a meter that stopped reporting,
counts only its first ``MAX_GAP_S``). A quarter that ends is the month's peak when it is the
highest; the month's peak starts again each month (local time of the samples).

``allowed_w`` is the most the grid may import from now to the end of the quarter so that the
quarter's average stays under the cap less ``margin_w``: the energy left in the quarter's
budget over the time left (at least ``HORIZON_S``, so the end of a quarter allows no burst).
The part of the quarter no reading covers (before the first reading, a gap) counts as
imported at the cap: what is not known is not spent again. Once the budget is spent it is 0:
the batteries carry the house as far as they can.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
import math
import re
from typing import Any, Final

from . import stored

#: A quarter hour (s).
QUARTER_S: Final = 900
#: The longest a reading holds (s).
MAX_GAP_S: Final = 60.0
#: The shortest time left the allowance spreads the budget over (s).
HORIZON_S: Final = 60.0
#: The most W a stored count may hold: far above any household connection (3 x 80 A is 55 kW).
MAX_W: Final = 1_000_000.0
#: W the allowance keeps below the cap: meter delay and the batteries' response.
MARGIN_W: Final = 100.0


def quarter_start(now: datetime) -> datetime:
    """Return the start of now's quarter hour (aware, UTC)."""
    stamp = now.timestamp()
    return datetime.fromtimestamp(stamp - stamp % QUARTER_S, UTC)


def month_of(now: datetime) -> str:
    """Return now's month as "YYYY-MM" in now's own time zone."""
    return f"{now.year:04d}-{now.month:02d}"


@dataclass(frozen=True, slots=True)
class PeakMeter:
    """The running quarter hour and the month's peak (W); immutable, stored as a dict."""

    quarter: datetime | None = None  # start of the running quarter (UTC)
    energy_j: float = 0.0  # imported in the running quarter so far
    seen_s: float = 0.0  # seconds of the running quarter covered by readings
    last: datetime | None = None  # time of the last reading
    last_w: float = 0.0  # the last reading (W, positive = import)
    month: str = ""  # the month of month_peak_w
    month_peak_w: float = 0.0  # highest quarter-hour average import of the month
    month_peak_at: datetime | None = None  # start of that quarter
    last_quarter_w: float | None = None  # average of the quarter that ended last

    def update(self, now: datetime, grid_w: float) -> PeakMeter:
        """Return the meter after a reading of grid_w (W) at now (aware)."""
        state = self._advance(now)
        if not math.isfinite(grid_w):
            return state
        # Kept in UTC: two local times of one zone compare and subtract by the wall clock,
        # so the hour the clocks go back (DST) read as a clock stepped back.
        return replace(state, last=now.astimezone(UTC), last_w=grid_w)

    def _advance(self, now: datetime) -> PeakMeter:
        """Count the last reading up to now, closing every quarter that ended."""
        state = self
        if state.month != month_of(now):
            state = replace(state, month=month_of(now), month_peak_w=0.0, month_peak_at=None)
        start = quarter_start(now)
        if state.quarter is None:
            return replace(state, quarter=start, energy_j=0.0, seen_s=0.0)
        if state.quarter > start:
            # The clock stepped back (NTP, a manual change) before the quarter began: what it
            # counted lies in a time that has not come. Counted on, it would run until the
            # clock caught up (an hour's import against one quarter's budget: no import
            # allowed, then a month's peak several times the real one). Now's quarter
            # starts afresh; the part no reading covers counts at the cap.
            return replace(state, quarter=start, energy_j=0.0, seen_s=0.0, last=None)
        if state.last is not None and now < state.last:
            # Stepped back within the quarter: counted on, the overlap would count twice.
            # What it saw is kept at its average over the part of the quarter now behind
            # (forgotten, a heavy import so far would allow the cap for the rest again).
            elapsed = (now - start).total_seconds()
            kept = min(1.0, elapsed / state.seen_s) if state.seen_s > 0 else 0.0
            return replace(
                state,
                energy_j=state.energy_j * kept,
                seen_s=min(state.seen_s, elapsed),
                last=None,
            )
        if state.last is not None and now > state.last:
            held_until = state.last + timedelta(seconds=MAX_GAP_S)
            end = min(now, held_until)
            watts = max(0.0, state.last_w)
            moment = state.last
            while moment < end:
                boundary = state.quarter + timedelta(seconds=QUARTER_S)
                stop = min(end, boundary)
                seconds = (stop - moment).total_seconds()
                state = replace(
                    state, energy_j=state.energy_j + watts * seconds, seen_s=state.seen_s + seconds
                )
                moment = stop
                if stop >= boundary:
                    state = state._closed(now)
        if state.quarter is not None and state.quarter < start:
            state = state._closed(now)
            state = replace(state, quarter=start, energy_j=0.0, seen_s=0.0)
        return state

    def _closed(self, now: datetime) -> PeakMeter:
        """Close the running quarter: its average may be the month's peak."""
        assert self.quarter is not None  # noqa: S101 - only called with a running quarter
        average = self.energy_j / QUARTER_S
        state = replace(
            self,
            quarter=self.quarter + timedelta(seconds=QUARTER_S),
            energy_j=0.0,
            seen_s=0.0,
            last_quarter_w=average,
        )
        in_month = month_of(self.quarter.astimezone(now.tzinfo)) == state.month
        if in_month and average > state.month_peak_w:
            state = replace(state, month_peak_w=average, month_peak_at=self.quarter)
        return state

    def running_w(self, now: datetime) -> float | None:
        """Return the running quarter's average import so far (W; None: nothing seen yet)."""
        state = self._advance(now)
        if state.seen_s <= 0:
            return None
        return state.energy_j / state.seen_s

    def projected_w(self, now: datetime) -> float | None:
        """Return the quarter's average if the last reading held to its end (W)."""
        state = self._advance(now)
        if state.quarter is None or state.last is None:
            return None
        left = QUARTER_S - (now - state.quarter).total_seconds()
        return (state.energy_j + max(0.0, state.last_w) * max(0.0, left)) / QUARTER_S

    def peak_w(self, now: datetime) -> float:
        """Return the month's peak, the running quarter's projection included (W)."""
        projected = self.projected_w(now) or 0.0
        return max(self._advance(now).month_peak_w, projected)

    def allowed_w(self, now: datetime, cap_w: float, margin_w: float = MARGIN_W) -> float:
        """Return the most the grid may import from now on to keep the quarter under cap_w."""
        state = self._advance(now)  # it has a running quarter from here on
        goal = cap_w - margin_w
        elapsed = (now - (state.quarter or quarter_start(now))).total_seconds()
        unseen = max(0.0, elapsed - state.seen_s)
        budget = goal * QUARTER_S - state.energy_j - goal * unseen
        return max(0.0, budget / max(QUARTER_S - elapsed, HORIZON_S))

    def as_dict(self) -> dict[str, Any]:
        """Return the meter as the store keeps it."""
        return {
            "quarter": _iso(self.quarter),
            "energy_j": self.energy_j,
            "seen_s": self.seen_s,
            "last": _iso(self.last),
            "last_w": self.last_w,
            "month": self.month,
            "month_peak_w": self.month_peak_w,
            "month_peak_at": _iso(self.month_peak_at),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any] | None) -> PeakMeter:
        """Return a stored meter (anything broken: a fresh one; see ``parse``)."""
        return cls.parse(data) or cls()

    @classmethod
    def parse(cls, data: Any) -> PeakMeter | None:
        """Return a stored meter, or None when a field has the wrong type or range.

        Nothing is coerced (a text is no number, a bool no count); a missing field takes
        its default. Times are aware ISO texts, the running quarter starts on a quarter
        hour, counts lie within what a household connection can carry (``MAX_W``).
        """
        if not isinstance(data, Mapping):
            return None
        times = [data.get(key) for key in ("quarter", "last", "month_peak_at")]
        quarter, last, peak_at = (stored.aware_time(value) for value in times)
        if any(
            moment is None and value is not None
            for moment, value in zip((quarter, last, peak_at), times, strict=True)
        ):
            return None
        energy = stored.number(data.get("energy_j", 0.0), 0.0, MAX_W * QUARTER_S)
        seen = stored.number(data.get("seen_s", 0.0), 0.0, QUARTER_S)
        last_w = stored.number(data.get("last_w", 0.0), -MAX_W, MAX_W)
        peak = stored.number(data.get("month_peak_w", 0.0), 0.0, MAX_W)
        month = data.get("month", "")
        if energy is None or seen is None or last_w is None or peak is None:
            return None
        if not isinstance(month, str) or not (month == "" or _MONTH.fullmatch(month)):
            return None
        if quarter is not None and quarter_start(quarter) != quarter:
            return None
        if (  # a last reading past its quarter's end: damaged (walking the gap would hang)
            quarter is not None
            and last is not None
            and last >= quarter + timedelta(seconds=QUARTER_S)
        ):
            return None
        return cls(
            quarter=quarter,
            energy_j=energy,
            seen_s=seen,
            last=last,
            last_w=last_w,
            month=month,
            month_peak_w=peak,
            month_peak_at=peak_at,
        )


#: A stored month: "YYYY-MM".
_MONTH: Final = re.compile(r"\d{4}-(0[1-9]|1[0-2])")


def _iso(moment: datetime | None) -> str | None:
    return None if moment is None else moment.isoformat()
