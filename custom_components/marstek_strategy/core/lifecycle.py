"""The control loop's lifecycle: one pure, typed state machine (no Home Assistant).

States (``Phase``) and what a cycle does in each (``action``):

* ``starting``: Home Assistant is starting; the LilyGo entities may not exist yet. Nothing.
* ``running`` / ``settling``: the strategy drives the batteries (settling: a battery entered a
  mode, so the next cycle waits the settle delay).
* ``dry_run``: the strategy plans from what the batteries do now and writes nothing.
* ``fail_safe``: the meter cannot be used; every battery is stopped.
* ``stopping``: switched off, or closed, with stops that could not be made yet (board offline);
  each cycle makes the pending stops, until made or a person drove that battery meanwhile.
* ``stopped`` / ``handed_back``: switched off, every stop made (handed back: RS485 control
  released so the battery runs its own work mode). Nothing is written.
* ``closed``: unloaded or Home Assistant stopping. No more cycles.

``pending`` holds the batteries (ids) whose stop is still to be made, in every phase: a battery
removed while its board was offline stays pending while the strategy runs the others. It is
what the coordinator persists, so a reload or a restart does not forget a stop.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace
from enum import StrEnum

from .readings import Cause


class Phase(StrEnum):
    """Where the loop is in its lifecycle."""

    STARTING = "starting"
    RUNNING = "running"
    SETTLING = "settling"
    DRY_RUN = "dry_run"
    FAIL_SAFE = "fail_safe"
    STOPPING = "stopping"
    STOPPED = "stopped"
    HANDED_BACK = "handed_back"
    CLOSED = "closed"


class Action(StrEnum):
    """What the next cycle does."""

    NOTHING = "nothing"  # write nothing
    RUN = "run"  # read, plan, write (fail-safe when the meter is bad)
    PLAN = "plan"  # read and plan from what the batteries do; write nothing (dry run)
    STOP = "stop"  # make the pending stops, nothing else


DRIVING = frozenset({Phase.RUNNING, Phase.SETTLING, Phase.FAIL_SAFE})
OFF = frozenset({Phase.STOPPING, Phase.STOPPED, Phase.HANDED_BACK})


@dataclass(frozen=True, slots=True)
class Lifecycle:
    """The loop's state: its phase, the switch, and the stops still to be made."""

    phase: Phase = Phase.STARTING
    enabled: bool = True  # the strategy switch
    dry_run: bool = False  # the dry-run option
    hand_back: bool = False  # the stop behaviour: hand control back instead of holding stop
    pending: frozenset[str] = frozenset()
    cause: Cause | None = None  # why fail-safe
    switched_early: bool = False  # the switch changed while starting

    @property
    def action(self) -> Action:
        """Return what a cycle in this state does."""
        if self.phase in DRIVING:
            return Action.RUN
        if self.phase is Phase.DRY_RUN:
            return Action.PLAN
        if self.phase is Phase.STOPPING:
            return Action.STOP
        return Action.NOTHING

    @property
    def drives(self) -> bool:
        """Return whether the strategy writes its plan to the batteries."""
        return self.phase in DRIVING


# ------------------------------------------------------------------------------- events


@dataclass(frozen=True, slots=True)
class Started:
    """Home Assistant has started: the first cycle may run (batteries: the configured ids)."""

    batteries: frozenset[str]


@dataclass(frozen=True, slots=True)
class Switched:
    """The strategy switch was turned on or off (batteries: the configured ids)."""

    enabled: bool
    batteries: frozenset[str]


@dataclass(frozen=True, slots=True)
class MeterBad:
    """The meter cannot be used this cycle."""

    cause: Cause


@dataclass(frozen=True, slots=True)
class Ran:
    """A driving cycle wrote its plan; settling: a battery entered a mode."""

    settling: bool


@dataclass(frozen=True, slots=True)
class StopsMade:
    """Stops were written; made: the batteries whose stop fully went through."""

    made: frozenset[str]


@dataclass(frozen=True, slots=True)
class DrivenByHand:
    """A person (or an automation) changed one battery's controls."""

    battery: str


@dataclass(frozen=True, slots=True)
class Closing:
    """The entry unloads or Home Assistant stops (batteries: the configured ids)."""

    batteries: frozenset[str]


type LifecycleEvent = Started | Switched | MeterBad | Ran | StopsMade | DrivenByHand | Closing


def _on(state: Lifecycle) -> Phase:
    """Return the phase of a switched-on loop that has not run a cycle yet."""
    return Phase.DRY_RUN if state.dry_run else Phase.RUNNING


def _off(state: Lifecycle, pending: frozenset[str]) -> Lifecycle:
    """Return the switched-off state with pending stops."""
    if pending:
        return replace(state, phase=Phase.STOPPING, pending=pending, cause=None)
    phase = Phase.HANDED_BACK if state.hand_back else Phase.STOPPED
    return replace(state, phase=phase, pending=frozenset(), cause=None)


def stops_to_make(state: Lifecycle, batteries: frozenset[str]) -> frozenset[str]:
    """Return the batteries that closing or switching off must stop, in this state.

    A loop that drives the batteries (or was on, or switched, before Home Assistant started)
    stops them all; one that drives nothing (dry run, stopped, handed back) only what is pending.
    """
    starting = state.phase is Phase.STARTING and (state.enabled or state.switched_early)
    if not state.dry_run and (state.phase in DRIVING or starting):
        return state.pending | batteries
    return state.pending


def _driven(state: Lifecycle, batteries: frozenset[str]) -> frozenset[str]:
    """Return what stays pending when the loop goes on: a live loop takes its batteries over."""
    return state.pending if state.dry_run else state.pending - batteries


def transition(state: Lifecycle, event: LifecycleEvent) -> Lifecycle:
    """Return the state after event. Events that do not apply leave the state as it is."""
    if state.phase is Phase.CLOSED:
        if isinstance(event, StopsMade):  # the stops made while closing
            return replace(state, pending=state.pending - event.made)
        return state
    match event:
        case Closing(batteries=batteries):
            return replace(state, phase=Phase.CLOSED, pending=stops_to_make(state, batteries))
        case Started(batteries=batteries):
            if state.phase is not Phase.STARTING:
                return state
            if state.enabled:
                # A live loop drives its own batteries, so only removed ones stay pending; a dry
                # run drives nothing, so every stop still owed stays owed.
                return replace(
                    state, phase=_on(state), pending=_driven(state, batteries), cause=None
                )
            if state.switched_early and not state.dry_run:
                return _off(state, state.pending | batteries)
            return _off(state, state.pending)
        case Switched(enabled=enabled, batteries=batteries):
            if enabled == state.enabled:
                return state
            if state.phase is Phase.STARTING:
                return replace(state, enabled=enabled, switched_early=True)
            if enabled:
                return replace(
                    state,
                    enabled=True,
                    phase=_on(state),
                    pending=_driven(state, batteries),
                    cause=None,
                )
            return _off(replace(state, enabled=False), stops_to_make(state, batteries))
        case MeterBad(cause=cause):
            if state.phase not in DRIVING:
                return state
            return replace(state, phase=Phase.FAIL_SAFE, cause=cause)
        case Ran(settling=settling):
            if state.phase not in DRIVING:
                return state
            phase = Phase.SETTLING if settling else Phase.RUNNING
            return replace(state, phase=phase, cause=None)
        case StopsMade(made=made):
            pending = state.pending - made
            if state.phase in OFF:
                return _off(state, pending)
            return replace(state, pending=pending)
        case DrivenByHand(battery=battery):
            if battery not in state.pending:
                return state
            pending = state.pending - {battery}
            if state.phase in OFF:
                return _off(state, pending)
            return replace(state, pending=pending)


def restore(
    *, enabled: bool, dry_run: bool, hand_back: bool, pending: Iterable[str] = ()
) -> Lifecycle:
    """Return the state of a loop being set up, from what was persisted."""
    return Lifecycle(
        enabled=enabled, dry_run=dry_run, hand_back=hand_back, pending=frozenset(pending)
    )
