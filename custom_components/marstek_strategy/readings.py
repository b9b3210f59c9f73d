"""Pure validation of meter and battery values, and the user's settings.

Nothing here imports Home Assistant: the coordinator turns entity states into the plain values
these functions judge, so every fail-safe rule is testable on its own.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
import math

from .engine import BatteryReading, Strategy


class Participation(StrEnum):
    """How a battery may take part in the strategy."""

    AUTO = "auto"
    CHARGE_ONLY = "charge_only"
    DISCHARGE_ONLY = "discharge_only"
    OFF = "off"


class Cause(StrEnum):
    """Why the loop is in fail-safe (every battery stopped)."""

    METER_MISSING = "meter_missing"
    METER_UNAVAILABLE = "meter_unavailable"
    METER_INVALID = "meter_invalid"
    METER_STALE = "meter_stale"
    ERROR = "error"


class Problem(StrEnum):
    """Why one battery takes no part this cycle."""

    ENTITY_MISSING = "entity_missing"
    ENTITY_UNAVAILABLE = "entity_unavailable"
    SOC_INVALID = "soc_invalid"
    CUTOFF_INVALID = "cutoff_invalid"


UNAVAILABLE_STATES = frozenset({"unavailable", "unknown"})

# Limits of the integration's own numbers.
MAX_POWER_W = 2500
DEFAULT_CHARGE_CUTOFF = 100.0
DEFAULT_DISCHARGE_CUTOFF = 12.0


@dataclass(slots=True)
class BatterySettings:
    """One battery's user settings (edited by its number and select entities)."""

    charge_cutoff: float = DEFAULT_CHARGE_CUTOFF
    discharge_cutoff: float = DEFAULT_DISCHARGE_CUTOFF
    max_charge_w: int = MAX_POWER_W
    max_discharge_w: int = MAX_POWER_W
    participation: Participation = Participation.AUTO


@dataclass(slots=True)
class Settings:
    """Every user-tunable value of the hub, kept in the entry's runtime data."""

    enabled: bool = True
    strategy: Strategy = Strategy.PRIORITY
    grid_target_w: float = 0.0
    batteries: dict[str, BatterySettings] = field(default_factory=dict)


def parse_number(state: str | None) -> float | None:
    """Return a state as a finite float, or None when it is not one."""
    if state is None:
        return None
    try:
        value = float(state)
    except ValueError:
        return None
    return value if math.isfinite(value) else None


def meter_problem(state: str | None, age_s: float | None, stale_s: float) -> Cause | None:
    """Return what is wrong with a meter state (None: usable).

    state is None when the entity does not exist; age_s is the time since it last reported.
    """
    if state is None:
        return Cause.METER_MISSING
    if state in UNAVAILABLE_STATES:
        return Cause.METER_UNAVAILABLE
    if parse_number(state) is None:
        return Cause.METER_INVALID
    if age_s is None or age_s > stale_s:
        return Cause.METER_STALE
    return None


@dataclass(frozen=True, slots=True)
class BatteryValues:
    """What one battery's entities say this cycle (None: absent or not a number).

    control_ok is False when a control entity (SoC, mode select, power numbers, RS485 select)
    is missing or unavailable; control_missing tells the two apart.
    """

    soc: float | None
    control_ok: bool = True
    control_missing: bool = False
    own_charge_cutoff: float | None = None
    own_discharge_cutoff: float | None = None
    own_max_charge_w: float | None = None
    own_max_discharge_w: float | None = None
    target_max_charge_w: float | None = None  # the forcible charge number's max attribute
    target_max_discharge_w: float | None = None


def _stricter_max(ours: int, *others: float | None) -> int:
    """Return the lowest of our limit and the battery's limits that are known, in whole W."""
    limit = float(ours)
    for other in others:
        if other is not None and other >= 0:
            limit = min(limit, other)
    return int(limit)


def battery_reading(
    values: BatteryValues, settings: BatterySettings, phase_w: float, phase: str | None = None
) -> tuple[BatteryReading, Problem | None]:
    """Return the engine's reading of one battery, and why it takes no part (if so).

    phase names the battery's phase where it has its own phase sensor (None: the grid's).
    """
    charge_cutoff = settings.charge_cutoff
    discharge_cutoff = settings.discharge_cutoff
    problem: Problem | None = None
    own_cutoffs = (values.own_charge_cutoff, values.own_discharge_cutoff)
    if any(value is not None and not 0 <= value <= 100 for value in own_cutoffs):
        problem = Problem.CUTOFF_INVALID
    if values.own_charge_cutoff is not None:
        charge_cutoff = min(charge_cutoff, values.own_charge_cutoff)
    if values.own_discharge_cutoff is not None:
        discharge_cutoff = max(discharge_cutoff, values.own_discharge_cutoff)
    if charge_cutoff < discharge_cutoff:
        problem = Problem.CUTOFF_INVALID
    soc = values.soc
    if soc is None or not 0 <= soc <= 100:
        problem = Problem.SOC_INVALID
    if not values.control_ok:
        problem = Problem.ENTITY_MISSING if values.control_missing else Problem.ENTITY_UNAVAILABLE
    participation = settings.participation
    reading = BatteryReading(
        soc=soc if soc is not None and problem is None else 0.0,
        charge_cutoff=charge_cutoff,
        discharge_cutoff=discharge_cutoff,
        max_charge_w=_stricter_max(
            settings.max_charge_w, values.own_max_charge_w, values.target_max_charge_w
        ),
        max_discharge_w=_stricter_max(
            settings.max_discharge_w, values.own_max_discharge_w, values.target_max_discharge_w
        ),
        phase_w=phase_w,
        available=problem is None,
        allow_charge=participation in (Participation.AUTO, Participation.CHARGE_ONLY),
        allow_discharge=participation in (Participation.AUTO, Participation.DISCHARGE_ONLY),
        phase=phase,
    )
    return reading, problem
