"""Pure: a battery whose readings froze while it is told to run (a hung board, still "available").

A LilyGo/M5Stack board can hang with its connection open: Home Assistant keeps its entities
"available" with their last values for about two minutes (ESPHome's keep-alive), and for ever
when only the board's RS485 side hangs. Steering that battery on frozen values (its AC power,
its state of charge) is steering blind, so:

* **Unanswered change**: it was told a change (a start, or a power at least ``change_w`` away
  from the power of its last change) at ``t_c``, none of its measured sensors (AC power,
  battery power, state of charge, inverter state) has reported since, and ``now - t_c`` is
  over ``limit_s``. A change shows in its AC power within seconds, so a healthy board reports
  it. It is then ``frozen``: taken out like a battery that does not respond (its power is no
  longer counted as delivered, the others take over). Further changes while one is
  unanswered do not restart the count.
* **Steady, judged late**: Home Assistant's ESPHome integration passes on changed values
  only, so a battery held at a steady setpoint may report nothing for minutes; it is judged
  only after ``steady_s`` (a long limit on ESPHome; the connector's ``limit_s`` where its
  integration rewrites every poll). This catches a board that hangs while its setpoint is
  pinned (at its maximum, under a grid mode that asks more than the fleet gives): the loop
  then tells it no change, and it would otherwise be counted as delivering for ever.
* **Fresh again**: any report after it was judged frozen ends it: it takes part again.
* A battery without measured sensors, or told to stop or below ``min_w``, is never judged.
  Powers are signed (discharge +, charge -): a reversal is a change.

``t_c`` is the time of the check before the one that first sees the change (the change was
written after that check): a report that answers the write is never taken as older than it.
Reports are Home Assistant's (``last_reported``: a rewrite of an unchanged value counts), on a
monotonic clock the caller keeps. Nothing here imports Home Assistant.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from enum import StrEnum
import math
from typing import Final

#: Below this commanded power (W) nothing is judged (as the read-back's ``min_check_w``).
FROZEN_MIN_W: Final = 100
#: A change of power (W) that a healthy board's AC power shows for sure: well above a
#: Marstek's steady-state error and the read-back's 20 W tolerance (a number's step and
#: rounding), and half of FROZEN_MIN_W, so a loop that follows the house makes one often.
FROZEN_CHANGE_W: Final = 50


class Thaw(StrEnum):
    """What the caller logs (once per change)."""

    FROZE = "froze"
    FRESH = "fresh"


@dataclass(frozen=True, slots=True)
class Quiet:
    """One battery's memory between checks (monotonic seconds)."""

    told_w: float = 0.0  # the signed power of its last change (0: not told to run)
    checked_at: float | None = None  # the last check (None: none yet)
    running_at: float | None = None  # told to run since (None: not running)
    changed_at: float | None = None  # an unanswered change since (None: none)
    frozen_at: float | None = None  # judged frozen then (None: not frozen)


def judge(
    state: Quiet,
    *,
    reported_at: float | None,
    told_w: float,
    now: float,
    limit_s: float,
    steady_s: float = math.inf,
    min_w: float = FROZEN_MIN_W,
    change_w: float = FROZEN_CHANGE_W,
) -> tuple[bool, Quiet, Thaw | None]:
    """Return whether the battery is frozen now, the memory to keep, and a change to log.

    reported_at is the newest report of any of its measured sensors (None: it has none);
    told_w the signed power it is told to run at (discharge +, charge -, 0: stop);
    steady_s the longest silence while running without a change (inf: never judged).
    """
    running = abs(told_w) >= min_w
    if reported_at is None:
        thaw = Thaw.FRESH if state.frozen_at is not None else None
        return False, Quiet(told_w if running else 0.0, now), thaw
    if state.frozen_at is not None:
        if reported_at <= state.frozen_at:
            return True, replace(state, checked_at=now), None
        return False, Quiet(told_w if running else 0.0, now), Thaw.FRESH
    if not running:
        return False, Quiet(0.0, now), None
    since = now if state.checked_at is None else state.checked_at  # the write came after it
    running_at = state.running_at if state.running_at is not None else since
    changed_at = state.changed_at
    if changed_at is not None and reported_at > changed_at:
        changed_at = None  # answered
    reference = state.told_w
    if abs(reference) < min_w or abs(told_w - reference) >= change_w:
        reference = told_w
        if changed_at is None:
            changed_at = since
            if reported_at > changed_at:
                changed_at = None  # answered before this check
    quiet_s = now - max(reported_at, running_at)
    steady = quiet_s > steady_s
    if (changed_at is not None and now - changed_at > limit_s) or steady:
        at = changed_at if changed_at is not None else max(reported_at, running_at)
        return True, Quiet(reference, now, running_at, at, now), Thaw.FROZE
    return False, Quiet(reference, now, running_at, changed_at), None
