"""Pure: a battery whose readings froze while it is told to run (a hung board, still "available").

A LilyGo/M5Stack board can hang with its connection open: Home Assistant keeps its entities
"available" with their last values for about two minutes (ESPHome's keep-alive), and for ever
when only the board's RS485 side hangs. Steering that battery on frozen values (its AC power,
its state of charge) is steering blind, so:

* **Quiet**: none of its measured sensors (AC power, battery power, state of charge, inverter
  state) has reported for longer than ``limit_s`` while it is told to run at ``min_w`` or more;
  quiet time counts from its last report or from when it was told to run, whichever is later
  (a battery started after a long stop, whose readings did not change while it stood, is not
  quiet). It is then ``frozen``: taken out like a battery that does not respond (its power is
  no longer counted as delivered, the others take over).
* **Fresh again**: any report after it was judged frozen ends it: it takes part again.
* A battery without measured sensors, or told to stop or below ``min_w``, is never judged.

Reports are Home Assistant's (``last_reported``: a rewrite of an unchanged value counts), on a
monotonic clock the caller keeps. Nothing here imports Home Assistant.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Final

#: Below this commanded power (W) nothing is judged (as the read-back's ``min_check_w``).
FROZEN_MIN_W: Final = 100


class Thaw(StrEnum):
    """What the caller logs (once per change)."""

    FROZE = "froze"
    FRESH = "fresh"


@dataclass(frozen=True, slots=True)
class Quiet:
    """One battery's memory between cycles (monotonic seconds)."""

    running_since: float | None = None  # told to run at min_w or more since (None: not)
    frozen_at: float | None = None  # judged frozen then (None: not frozen)


def judge(
    state: Quiet,
    *,
    reported_at: float | None,
    told_w: float,
    now: float,
    limit_s: float,
    min_w: float = FROZEN_MIN_W,
) -> tuple[bool, Quiet, Thaw | None]:
    """Return whether the battery is frozen now, the memory to keep, and a change to log.

    reported_at is the newest report of any of its measured sensors (None: it has none);
    told_w the power it is told to run at (0: stop).
    """
    running = told_w >= min_w
    since = (now if state.running_since is None else state.running_since) if running else None
    if reported_at is None:
        return False, Quiet(since), (Thaw.FRESH if state.frozen_at is not None else None)
    if state.frozen_at is not None:
        if reported_at <= state.frozen_at:
            return True, Quiet(since, state.frozen_at), None
        return False, Quiet(now if running else None), Thaw.FRESH
    if since is not None and now - max(reported_at, since) > limit_s:
        return True, Quiet(since, now), Thaw.FROZE
    return False, Quiet(since), None
