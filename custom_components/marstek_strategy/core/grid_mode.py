"""Pure: the hub's grid mode, when it ends, and the grid target it gives the engine.

Nothing here imports Home Assistant (it belongs in ``core/`` with the engine).

The engine holds the grid at a target: it covers ``house - target`` where ``house`` is the
grid power without the batteries (``engine.grid_without_batteries``). Each grid mode is only
another target, so the selected strategy splits the fleet's power, and every battery limit,
cutoff, phase limit (fuse and feed-in, ``phase_limits.within_limits``) and fail-safe rule
applies as in ``zero``:

* ``zero``: the user's grid target (today's strategy);
* ``charge``: the batteries draw ``power_w`` from the grid;
* ``discharge``: the batteries deliver ``power_w`` to the grid;
* ``hold``: no discharge; export is still soaked up unless ``soak`` is off.

In every mode a quarter-hour peak cap (``peak_cap.py``) lowers the target where the house
would import more than the cap allows: charging from the grid gives way first, then the
batteries discharge. Powers are grid W (what the meter sees), positive = import.

A request other than ``zero`` always ends: at its time (at most ``MAX_LENGTH`` after it was
made, so a request that outlives its planner does not run on), or earlier at its target state
of charge. The integration persists it, so an end also holds across a restart.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
import math
from typing import Any, Final

from . import engine, stored
from .model import BatteryReading, Mode, Plan, Reason, Setpoint, StrategySettings
from .phase_limits import PhaseView


class GridMode(StrEnum):
    """What the hub does with the grid (the grid mode select's options)."""

    ZERO = "zero"
    CHARGE = "charge"
    DISCHARGE = "discharge"
    HOLD = "hold"


class Ending(StrEnum):
    """Why a request returned to zero."""

    TIME = "time"  # its end time (or the bound on its length) passed
    TARGET_SOC = "target_soc"  # the fleet reached its target state of charge


class Limit(StrEnum):
    """What keeps the fleet from what the mode asks (the hub's limit attribute)."""

    NONE = "none"
    PEAK_CAP = "peak_cap"  # the quarter-hour peak cap
    PHASE_LIMIT = "phase_limit"  # a phase's fuse or feed-in limit
    BATTERIES = "batteries"  # the batteries' maxima, cutoffs or participation


#: The longest a request may run before it returns to zero by itself.
MAX_LENGTH: Final = timedelta(hours=24)
#: The most fleet power a request may ask (W): eight batteries of 2500 W.
MAX_POWER_W: Final = 20000
#: W the fleet may fall short of a request before a limit is named (rounding, dead band).
SHORT_W: Final = 50.0


@dataclass(frozen=True, slots=True)
class GridRequest:
    """The grid mode in force: its power, its end and whether hold soaks up export."""

    mode: GridMode = GridMode.ZERO
    power_w: float = 0.0  # fleet grid W for charge and discharge (>= 0)
    until: datetime | None = None  # when it returns to zero; None only for zero
    target_soc: float | None = None  # charge: ends at or above; discharge: at or below
    soak: bool = True  # hold: still absorb export

    def as_dict(self) -> dict[str, Any]:
        """Return the request as the store keeps it."""
        return {
            "mode": self.mode.value,
            "power_w": self.power_w,
            "until": None if self.until is None else self.until.isoformat(),
            "target_soc": self.target_soc,
            "soak": self.soak,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any] | None) -> GridRequest:
        """Return a stored request; anything broken (or without an end) is ``zero``.

        Each field must have its own type and range (``parse``): nothing is coerced, so a
        ``soak`` of ``"false"`` is broken, not true.
        """
        return cls.parse(data) or cls()

    @classmethod
    def parse(cls, data: Any) -> GridRequest | None:
        """Return a stored request, or None when a field has the wrong type or range.

        A missing field takes its default (``power_w`` 0, ``target_soc`` none, ``soak``
        on); ``zero`` with no other field set is the stored form of no request. A request
        other than ``zero`` needs an aware end and, for charge and discharge, a power above
        0 W (as ``problem`` asks of a new one); hold takes no target state of charge.
        """
        if not isinstance(data, Mapping):
            return None
        mode_text = data.get("mode")
        if not isinstance(mode_text, str) or mode_text not in set(GridMode):
            return None
        mode = GridMode(mode_text)
        power = stored.number(data.get("power_w", 0.0))
        target_soc = data.get("target_soc")
        soak = data.get("soak", True)
        until = stored.aware_time(data.get("until"))
        if until is None and data.get("until") is not None:
            return None
        if power is None or not 0.0 <= power <= MAX_POWER_W or not isinstance(soak, bool):
            return None
        if target_soc is not None:
            target_soc = stored.number(target_soc)
            if target_soc is None or not 0.0 <= target_soc <= 100.0:
                return None
        if mode is GridMode.ZERO:  # no request: nothing else may be set
            if until is not None or power or target_soc is not None or not soak:
                return None
            return cls()
        if until is None:
            return None
        if mode is GridMode.HOLD and target_soc is not None:
            return None
        if mode is not GridMode.HOLD and power <= 0.0:
            return None
        return cls(mode, power, until, target_soc, soak)


def request(
    mode: GridMode,
    now: datetime,
    *,
    power_w: float = 0.0,
    until: datetime | None = None,
    duration: timedelta | None = None,
    target_soc: float | None = None,
    soak: bool = True,
) -> GridRequest:
    """Return the request made at now; its end is at most ``MAX_LENGTH`` away.

    The caller has checked the input (``problem``); ``zero`` has no end.
    """
    if mode is GridMode.ZERO:
        return GridRequest()
    end = now + MAX_LENGTH
    if duration is not None:
        end = min(end, now + duration)
    if until is not None:
        end = min(end, until)
    return GridRequest(mode, float(power_w), end, target_soc, soak)


def problem(
    mode: GridMode,
    now: datetime,
    *,
    power_w: float | None = None,
    until: datetime | None = None,
    duration: timedelta | None = None,
    target_soc: float | None = None,
) -> str | None:
    """Return what is wrong with a request (a translation key), or None when it is valid."""
    ends = sum(value is not None for value in (until, duration, target_soc))
    if mode is GridMode.ZERO:
        return "zero_takes_no_end" if ends or power_w else None
    if ends > 1:
        return "one_end_only"
    if power_w is not None and (not math.isfinite(power_w) or not 0 <= power_w <= MAX_POWER_W):
        return "power_out_of_range"
    if mode in (GridMode.CHARGE, GridMode.DISCHARGE) and not power_w:
        return "power_required"
    if until is not None and (until.tzinfo is None or until <= now):
        return "end_in_past"
    if until is not None and until - now > MAX_LENGTH:
        return "end_too_far"
    if duration is not None and not timedelta(0) < duration <= MAX_LENGTH:
        return "duration_out_of_range"
    if target_soc is not None:
        if mode is GridMode.HOLD:
            return "hold_takes_no_target_soc"
        if not math.isfinite(target_soc) or not 0 <= target_soc <= 100:
            return "target_soc_out_of_range"
    return None


def fleet_soc(socs: Sequence[float | None]) -> float | None:
    """Return the mean state of charge of the batteries that report one (None: none)."""
    known = [soc for soc in socs if soc is not None and math.isfinite(soc)]
    return sum(known) / len(known) if known else None


def ended(current: GridRequest, now: datetime, soc: float | None) -> Ending | None:
    """Return why the request is over at now with the fleet at soc (None: it runs on)."""
    if current.mode is GridMode.ZERO:
        return None
    if current.until is None or now >= current.until:
        return Ending.TIME
    if current.until - now > MAX_LENGTH:  # no request made by now ends this late: damaged
        return Ending.TIME
    if current.target_soc is not None and soc is not None:
        if current.mode is GridMode.CHARGE and soc >= current.target_soc:
            return Ending.TARGET_SOC
        if current.mode is GridMode.DISCHARGE and soc <= current.target_soc:
            return Ending.TARGET_SOC
    return None


@dataclass(frozen=True, slots=True)
class Target:
    """The grid target for one cycle and whether the peak cap set it."""

    grid_w: float  # the engine holds the grid here (W, positive = import)
    capped: bool  # the peak cap lowered it


def target(
    current: GridRequest,
    house_w: float,
    zero_target_w: float,
    import_allowed_w: float | None = None,
) -> Target:
    """Return the grid target for house_w (the grid without the batteries).

    import_allowed_w: the most the grid may import now under the peak cap (None: no cap).
    """
    mode = current.mode
    if mode is GridMode.CHARGE:
        goal = house_w + current.power_w
    elif mode is GridMode.DISCHARGE:
        goal = house_w - current.power_w
    elif mode is GridMode.HOLD:
        # never below house (no discharge); soak: as zero where that means charging
        goal = max(house_w, zero_target_w) if current.soak else house_w
    else:
        goal = zero_target_w
    if import_allowed_w is not None and goal > import_allowed_w:
        return Target(import_allowed_w, capped=True)
    return Target(goal, capped=False)


def limit(
    current: GridRequest,
    goal: Target,
    house_w: float,
    planned_w: float,
    *,
    phase_limited: bool,
) -> Limit:
    """Return what keeps the plan from the mode's goal.

    house_w: the grid without the batteries; planned_w: the plan's effect on the grid (W,
    positive = discharging); the plan meets the goal when ``house_w - planned_w`` is the
    target. phase_limited: a battery's setpoint was limited by its phase.
    """
    if goal.capped:
        return Limit.PEAK_CAP
    if phase_limited:
        return Limit.PHASE_LIMIT
    if current.mode in (GridMode.CHARGE, GridMode.DISCHARGE):
        short = abs(house_w - planned_w - goal.grid_w)
        if short > max(SHORT_W, 0.02 * current.power_w):
            return Limit.BATTERIES
    return Limit.NONE


@dataclass(frozen=True, slots=True)
class Steered:
    """One cycle's plan under the grid mode, what set and limited it, and its phase views."""

    plan: Plan
    target: Target
    house_w: float  # the grid without the batteries
    limit: Limit
    phases: Mapping[str, PhaseView] = field(default_factory=dict)  # the plan's (diagnostics)


def steer(
    current: GridRequest,
    grid_w: float,
    batteries: Sequence[BatteryReading],
    previous: Plan,
    settings: StrategySettings,
    *,
    zero_target_w: float,
    import_allowed_w: float | None = None,
    least_change_w: float = 0.0,
) -> Steered:
    """Return the engine's plan for grid_w under the grid mode (see ``target``).

    least_change_w: the meter pace's shift of the demand towards what the batteries were
    told (``inflight.least_change``). It serves holding the grid at the zero mode's target
    only: another mode's goal, or the peak cap's, is planned on the estimate as it is; nor
    does it plan, on the estimate, an import past what the peak cap allows now.
    """
    house = engine.grid_without_batteries(grid_w, batteries, previous, settings)
    goal = target(current, house, zero_target_w, import_allowed_w)
    if not math.isfinite(house) or not math.isfinite(goal.grid_w):
        goal = Target(math.nan, capped=False)  # allocate stops every battery
    zero = current.mode is GridMode.ZERO and not goal.capped
    shift = least_change_w if zero else 0.0
    if zero and import_allowed_w is not None:
        # The plan imports goal - shift on the estimate: never past what the cap allows now.
        shift = max(shift, goal.grid_w - import_allowed_w)
    plan = engine.allocate(grid_w + shift - goal.grid_w, batteries, previous, settings)
    planned = sum(engine_effect(setpoint, settings) for setpoint in plan.setpoints)
    phase_limited = any(setpoint.reason is Reason.LIMITED_BY_PHASE for setpoint in plan.setpoints)
    return Steered(
        plan,
        goal,
        house,
        limit(current, goal, house, planned, phase_limited=phase_limited),
        engine.views_of(batteries, previous, settings),
    )


def engine_effect(setpoint: Setpoint, settings: StrategySettings) -> float:
    """Return how much a setpoint lowers the grid (W), as the engine counts it."""
    if setpoint.mode is Mode.DISCHARGE:
        return setpoint.power_w * settings.discharge_release_factor
    if setpoint.mode is Mode.CHARGE:
        return -setpoint.power_w * settings.charge_release_factor
    return 0.0
