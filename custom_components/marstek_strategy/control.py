"""Pure control-loop policy: which writes to make and when to run the next cycle.

Shared by the integration's coordinator and the benchmark's closed loop, so both run the
same decisions. Nothing here imports Home Assistant.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum

from .engine import Mode, Plan


class WriteKind(StrEnum):
    """Which LilyGo entity a write goes to."""

    RS485_ENABLE = "rs485_enable"  # select rs485_control_mode -> "enable"
    CHARGE_POWER = "charge_power"  # number forcible_charge_power
    DISCHARGE_POWER = "discharge_power"  # number forcible_discharge_power
    MODE = "mode"  # select forcible_charge_discharge


@dataclass(frozen=True, slots=True)
class Write:
    """One entity write: battery index (input order), target, value (W or option)."""

    battery: int
    kind: WriteKind
    value: int | str


@dataclass(frozen=True, slots=True)
class Commanded:
    """What the controller believes one battery's LilyGo entities are set to."""

    mode: Mode = Mode.STOP
    charge_w: int = 0
    discharge_w: int = 0
    rs485_enabled: bool = False


@dataclass(frozen=True, slots=True)
class LoopSettings:
    """Timing of the control loop (seconds)."""

    interval_s: float = 6.5
    settle_s: float = 12.0
    keepalive_s: float = 30.0


@dataclass(frozen=True, slots=True)
class Decision:
    """The writes of one cycle, in order, and what follows from them."""

    writes: tuple[Write, ...]
    commanded: tuple[Commanded, ...]  # what is commanded once the writes are made
    delay_s: float  # wait before the next cycle
    keepalive: bool  # this cycle refreshed RS485 enable and the current setpoints


def decide(
    plan: Plan,
    commanded: Sequence[Commanded],
    has_rs485: Sequence[bool],
    since_keepalive_s: float,
    settings: LoopSettings,
) -> Decision:
    """Return the writes that carry out plan, given what is commanded now."""
    raise NotImplementedError


def stop_writes(commanded: Sequence[Commanded]) -> tuple[Write, ...]:
    """Return the writes that set every battery to stop with 0 W (unconditionally)."""
    raise NotImplementedError


def plan_from_commanded(commanded: Sequence[Commanded]) -> Plan:
    """Return the plan in force, derived from what the batteries' entities say now."""
    raise NotImplementedError
