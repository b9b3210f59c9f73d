"""Home Assistant states in, the pure judges' inputs out: the meter and the read-back.

The coordinator calls these once per cycle; every decision is in ``readings.py`` (units,
plausibility, liveness) and ``readback.py`` (reported against commanded). Ages are measured on
a monotonic clock the caller passes in (``time.monotonic``).
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, field
import logging
import math
from typing import Final

from homeassistant.const import ATTR_UNIT_OF_MEASUREMENT
from homeassistant.core import HomeAssistant, State
from homeassistant.util import dt as dt_util

from ..const import LOGGER, Role
from ..core import readback
from ..core.control import Commanded
from ..core.readings import (
    MeterSample,
    MeterVerdict,
    Problem,
    ReportClock,
    judge_meter,
    parse_number,
    phase_current,
    to_watts,
)

# Entities whose unit must be one of power, checked every cycle (readings.to_watts).
POWER_ROLES: Final = (
    Role.CHARGE_POWER,
    Role.DISCHARGE_POWER,
    Role.MAX_CHARGE_POWER,
    Role.MAX_DISCHARGE_POWER,
    Role.AC_POWER,
)
_LOG: Final = {
    readback.Event.DRIFTED: "Battery %s reports a state it was not told (%s); correcting it",
    readback.Event.RUNNING_UNTOLD: "Battery %s runs although told to stop (%s); stopping it",
    readback.Event.NOT_RESPONDING: "Battery %s does not deliver what it is told (%s); "
    "excluded for a while",
    readback.Event.RESPONDING: "Battery %s delivers again (%s)",
    readback.Event.FAULT: "Battery %s reports an inverter fault (%s); excluded",
    readback.Event.FAULT_CLEARED: "Battery %s inverter fault cleared (%s)",
}
_GOOD_NEWS: Final = (readback.Event.RESPONDING, readback.Event.FAULT_CLEARED)


def unit_of(state: State | None) -> str | None:
    """Return a state's unit of measurement."""
    return state.attributes.get(ATTR_UNIT_OF_MEASUREMENT) if state else None


def value(state: State | None, role: Role) -> float | None:
    """Return a state as a number, powers in W (None: absent, not a number or no power unit)."""
    number = parse_number(state.state) if state else None
    if number is None or role not in POWER_ROLES:
        return number
    return to_watts(number, unit_of(state))


def max_w(state: State | None) -> float | None:
    """Return a power number's max attribute in W."""
    number = parse_number(str(state.attributes.get("max"))) if state else None
    return None if number is None else to_watts(number, unit_of(state))


def units_ok(states: Mapping[Role, State | None]) -> bool:
    """Return whether every power entity present is in a unit of power (read every cycle)."""
    return all(
        state is None or to_watts(0.0, unit_of(state)) is not None
        for role, state in states.items()
        if role in POWER_ROLES
    )


def report(
    states: Mapping[Role, State | None], has_rs485: bool, ac_reported_at: float | None = None
) -> readback.Report:
    """Return what a battery's entities say now, powers in W (and when its AC power reported)."""
    mode = states.get(Role.FORCIBLE_MODE)
    rs485 = states.get(Role.RS485_MODE)
    inverter = states.get(Role.INVERTER_STATE)
    rs485_state: str | None = None
    if has_rs485:
        rs485_state = rs485.state if rs485 else "unknown"
    return readback.Report(
        mode=mode.state if mode else None,
        charge_w=value(states.get(Role.CHARGE_POWER), Role.CHARGE_POWER),
        discharge_w=value(states.get(Role.DISCHARGE_POWER), Role.DISCHARGE_POWER),
        rs485=rs485_state,
        ac_power_w=value(states.get(Role.AC_POWER), Role.AC_POWER),
        inverter_state=inverter.state if inverter else None,
        ac_reported_at=ac_reported_at,
    )


def who(state: State | None, own_contexts: Collection[str]) -> str:
    """Return who made a state's last change, for the log."""
    if state is None:
        return "no state"
    context = state.context
    if context.id in own_contexts:
        return f"last written by this integration, context {context.id}"
    if context.user_id or context.parent_id:
        return f"changed by user {context.user_id} or an automation, context {context.id}"
    return f"reported by the board itself, context {context.id}"


class MeterInput:
    """The meter's entities: their own reports on a monotonic clock, judged each cycle."""

    def __init__(
        self,
        hass: HomeAssistant,
        grid: str,
        phases: Mapping[str, str],
        currents: Mapping[str, str] | None = None,
    ) -> None:
        """Follow the grid sensor, the phase sensors and the phase current sensors.

        phases and currents map a phase name to an entity id.
        """
        self.hass = hass
        self.grid = grid
        self.phases = dict(phases)
        self.currents = dict(currents or {})
        self.clock = ReportClock()

    @property
    def entities(self) -> list[str]:
        """Return the grid sensor and the phase sensors."""
        return [self.grid, *self.phases.values()]

    @property
    def followed(self) -> list[str]:
        """Return the power sensors and the current sensors (their reports are followed)."""
        return [*self.entities, *self.currents.values()]

    def seed(self, now: float) -> None:
        """Take a state's own time as its last report until one is seen."""
        wall = dt_util.utcnow()
        for entity_id in self.followed:
            if state := self.hass.states.get(entity_id):
                self.clock.seed(entity_id, now, (wall - state.last_reported).total_seconds())

    def judge(self, now: float, stale_s: float, fuse_a: float) -> MeterVerdict:
        """Return the meter's values in W, or why not to use them (readings.judge_meter)."""
        self.seed(now)

        def sample(entity_id: str) -> MeterSample:
            state = self.hass.states.get(entity_id)
            return MeterSample(
                entity_id,
                state.state if state else None,
                unit_of(state),
                self.clock.age(entity_id, now),
            )

        phases = {phase: sample(entity_id) for phase, entity_id in self.phases.items()}
        return judge_meter(sample(self.grid), phases, stale_s, fuse_a)

    def judge_currents(
        self, now: float, stale_s: float, phase_w: Mapping[str, float]
    ) -> dict[str, float]:
        """Return each phase current in A, signed as its power; NaN where unusable."""
        currents: dict[str, float] = {}
        for phase, entity_id in self.currents.items():
            state = self.hass.states.get(entity_id)
            found = MeterSample(
                entity_id,
                state.state if state else None,
                unit_of(state),
                self.clock.age(entity_id, now),
            )
            currents[phase] = phase_current(found, phase_w.get(phase, math.nan), stale_s)
        return currents


@dataclass(slots=True)
class ReadbackInput:
    """Each battery's read-back memory, and the logging of its verdicts (once per change)."""

    titles: Sequence[str]
    tracks: list[readback.Track] = field(default_factory=list)
    # Each battery's thresholds (its connector's polling sets the grace); empty: the defaults.
    settings: Sequence[readback.ReadbackSettings] = ()

    def check(
        self,
        states: Callable[[int], Mapping[Role, State | None]],
        has_rs485: Sequence[bool],
        commanded: Sequence[Commanded],
        own_contexts: Collection[str],
        now: float,
        *,
        ac_reported: Callable[[int], float | None] | None = None,
    ) -> tuple[list[Problem | None], dict[int, Commanded]]:
        """Check every battery against commanded; nothing here changes commanded.

        ac_reported gives when each battery's AC power last reported (monotonic; each report
        is judged once). Returns each battery's exclusion, and what to adopt from the reports
        (index -> commanded) where the read-back must: the owner of commanded (told.py) takes it.
        """
        if not self.tracks:
            self.tracks = [readback.Track() for _ in self.titles]
        excluded: list[Problem | None] = []
        adopted: dict[int, Commanded] = {}
        for index, title in enumerate(self.titles):
            battery_states = states(index)
            result = readback.check(
                commanded[index],
                report(
                    battery_states,
                    has_rs485[index],
                    ac_reported(index) if ac_reported is not None else None,
                ),
                self.tracks[index],
                now,
                self.settings[index] if self.settings else None,
            )
            self.tracks[index] = result.track
            if result.adopt is not None:
                adopted[index] = result.adopt
            for event in result.events:
                level = logging.INFO if event in _GOOD_NEWS else logging.WARNING
                source = who(battery_states.get(Role.FORCIBLE_MODE), own_contexts)
                LOGGER.log(level, _LOG[event], title, source)
            excluded.append(result.exclude)
        return excluded, adopted
