"""What one cycle did: the loop's status and each battery as it was told."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum

from . import model
from .control import WriteRecord
from .grid_mode import GridMode, Limit
from .lifecycle import Phase
from .model import Mode, Setpoint
from .readings import Cause, Problem


class Status(StrEnum):
    """What the loop did in its last cycle (the hub's status sensor)."""

    RUNNING = "running"
    SETTLING = "settling"
    DISABLED = "disabled"
    DRY_RUN = "dry_run"
    FAIL_SAFE = "fail_safe"
    STOPPING = "stopping"
    HANDED_BACK = "handed_back"


STATUS_OF_PHASE = {
    Phase.STARTING: Status.DISABLED,
    Phase.RUNNING: Status.RUNNING,
    Phase.SETTLING: Status.SETTLING,
    Phase.DRY_RUN: Status.DRY_RUN,
    Phase.FAIL_SAFE: Status.FAIL_SAFE,
    Phase.STOPPING: Status.STOPPING,
    Phase.STOPPED: Status.DISABLED,
    Phase.HANDED_BACK: Status.HANDED_BACK,
    Phase.CLOSED: Status.DISABLED,
}

# Reasons shown for a battery besides the engine's own.
REASON_FAIL_SAFE = "fail_safe"
REASON_DISABLED = "disabled"


@dataclass(frozen=True, slots=True)
class BatteryState:
    """One battery in one cycle: what was read, why it is out, what it was told."""

    reading: model.BatteryReading | None
    problem: Problem | None
    setpoint: Setpoint
    reason: str


@dataclass(frozen=True, slots=True)
class CycleData:
    """The outcome of one cycle, shown by the sensors and diagnostics."""

    time: datetime
    status: Status
    delay_s: float
    cause: Cause | None = None
    cause_entity_id: str | None = None
    grid_w: float | None = None
    engine_grid_w: float | None = None
    batteries: Mapping[str, BatteryState] = field(default_factory=dict)
    writes: tuple[WriteRecord, ...] = ()
    grid_mode: GridMode | None = None  # the grid mode the plan ran (None: no plan)
    grid_limit: Limit | None = None  # what kept the plan from the mode's goal
    grid_goal_w: float | None = None  # the grid power the plan aimed at

    @property
    def total_setpoint_w(self) -> int:
        """Sum of the setpoints, positive discharging, negative charging."""
        return sum(signed_power(state.setpoint) for state in self.batteries.values())


def signed_power(setpoint: Setpoint) -> int:
    """Return the setpoint as the energy dashboard counts battery power (discharge > 0)."""
    if setpoint.mode is Mode.DISCHARGE:
        return setpoint.power_w
    if setpoint.mode is Mode.CHARGE:
        return -setpoint.power_w
    return 0
