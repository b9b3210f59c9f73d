"""Pure allocation engine: readings, the plan in force and settings give the next plan.

Nothing here imports Home Assistant: the integration and the benchmark run this same code.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum


class Mode(StrEnum):
    """A battery's forced mode; the values are the LilyGo select's options."""

    CHARGE = "charge"
    DISCHARGE = "discharge"
    STOP = "stop"


class Strategy(StrEnum):
    """How the demand is spread over the batteries."""

    PRIORITY = "priority"
    EQUAL = "equal"
    EFFICIENCY = "efficiency"


class Reason(StrEnum):
    """Why a battery got its setpoint (machine readable, translated by the integration)."""

    # Filled in by the engine: one value per rule that can decide a battery's setpoint.
    UNAVAILABLE = "unavailable"
    IDLE = "idle"


@dataclass(frozen=True, slots=True)
class BatteryReading:
    """What one battery looks like to the engine this cycle."""

    soc: float
    charge_cutoff: float
    discharge_cutoff: float
    max_charge_w: int
    max_discharge_w: int
    phase_w: float
    available: bool = True
    allow_charge: bool = True
    allow_discharge: bool = True


@dataclass(frozen=True, slots=True)
class Setpoint:
    """One battery's command: power_w is whole watts, 0 exactly when mode is stop."""

    mode: Mode
    power_w: int
    reason: Reason = Reason.IDLE


@dataclass(frozen=True, slots=True)
class Plan:
    """The commands for every battery, in input order, and the overall mode."""

    mode: Mode
    setpoints: tuple[Setpoint, ...]

    @classmethod
    def all_stop(cls, count: int) -> Plan:
        """Return the plan that stops every battery."""
        return cls(Mode.STOP, tuple(Setpoint(Mode.STOP, 0) for _ in range(count)))


@dataclass(frozen=True, slots=True)
class StrategySettings:
    """Every number of the strategy; defaults are the seed's values."""

    strategy: Strategy = Strategy.PRIORITY


def allocate(
    grid_w: float,
    batteries: Sequence[BatteryReading],
    previous: Plan,
    settings: StrategySettings,
) -> Plan:
    """Return the next plan for grid_w (W, positive = import, corrected by the target)."""
    raise NotImplementedError
