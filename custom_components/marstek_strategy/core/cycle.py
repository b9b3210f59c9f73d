"""What one cycle did: the loop's status and each battery as it was told."""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum

from . import model
from .control import Commanded, WriteRecord, plan_from_commanded
from .grid_mode import GridMode, Limit
from .lifecycle import Phase
from .model import Mode, Plan, Setpoint
from .readings import SHOWN_PROBLEMS, Cause, Problem


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


def told_states(
    ids: Sequence[str], commanded: Sequence[Commanded] | None, reason: str
) -> dict[str, BatteryState]:
    """Return each battery as told: stopped, unless a stop of it did not go through."""
    told = plan_from_commanded(commanded or [Commanded()] * len(ids))
    return {
        subentry_id: BatteryState(None, None, setpoint, reason)
        for subentry_id, setpoint in zip(ids, told.setpoints, strict=True)
    }


def in_force(
    plan: Plan, commanded: Sequence[Commanded], failed: Collection[int], *, dry_run: bool
) -> tuple[Plan, list[Setpoint]]:
    """Return the plan in force after the writes, and each battery's setpoint to show.

    Both are what the batteries were told: a battery whose write failed keeps what it had;
    a dry run, which tells nothing, shows its plan.
    """
    told = plan_from_commanded(commanded)
    shown = [
        told.setpoints[i] if i in failed and not dry_run else setpoint
        for i, setpoint in enumerate(plan.setpoints)
    ]
    return (plan if dry_run or not failed else told), shown


def battery_states(
    ids: Sequence[str],
    readings: Sequence[model.BatteryReading],
    problems: Sequence[Problem | None],
    shown: Sequence[Setpoint],
    plan: Plan,
) -> dict[str, BatteryState]:
    """Return each battery's state: its reading, its problem, its setpoint and the reason."""
    return {
        subentry_id: BatteryState(
            reading, problem, setpoint, problem.value if problem in SHOWN_PROBLEMS else reason.value
        )
        for subentry_id, reading, problem, setpoint, reason in zip(
            ids, readings, problems, shown, (s.reason for s in plan.setpoints), strict=True
        )
    }
