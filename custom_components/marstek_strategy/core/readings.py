"""Pure validation of meter and battery values, and the user's settings.

Nothing here imports Home Assistant: the coordinator turns entity states into the plain values
these functions judge, so every fail-safe rule is testable on its own.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
import math

from .model import BatteryReading, Strategy


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
    METER_IMPLAUSIBLE = "meter_implausible"  # beyond what the connection can carry
    METER_INCONSISTENT = "meter_inconsistent"  # total and sum of the phases disagree
    ERROR = "error"


class Problem(StrEnum):
    """Why one battery takes no part this cycle."""

    ENTITY_MISSING = "entity_missing"
    ENTITY_UNAVAILABLE = "entity_unavailable"
    SOC_INVALID = "soc_invalid"
    CUTOFF_INVALID = "cutoff_invalid"
    UNIT_UNSUPPORTED = "unit_unsupported"  # a power entity in a unit that is not power
    NOT_RESPONDING = "not_responding"  # delivers far less than commanded (read-back)
    INVERTER_FAULT = "inverter_fault"  # Inverter State reads Fault (read-back)
    READINGS_FROZEN = "readings_frozen"  # told to run, its sensors silent (frozen.py)


# Problems shown as a battery's reason (the others show the engine's "unavailable").
SHOWN_PROBLEMS = (
    Problem.NOT_RESPONDING,
    Problem.INVERTER_FAULT,
    Problem.UNIT_UNSUPPORTED,
    Problem.READINGS_FROZEN,
)

UNAVAILABLE_STATES = frozenset({"unavailable", "unknown"})

# Limits of the integration's own numbers.
MAX_POWER_W = 2500
DEFAULT_CHARGE_CUTOFF = 100.0
DEFAULT_DISCHARGE_CUTOFF = 12.0
# The ranges of the settings' entities (a stored value outside them is damaged).
CHARGE_CUTOFF_RANGE = (20.0, 100.0)
DISCHARGE_CUTOFF_RANGE = (0.0, 80.0)
GRID_TARGET_LIMIT_W = 1000


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
    requested_power_w: float = 1000.0  # the grid modes' fleet power (W)
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
    unit_ok: bool = True  # every power entity is in a unit of power
    excluded: Problem | None = None  # taken out by the read-back (readback.py)


def _stricter_max(ours: int, *others: float | None) -> int:
    """Return the lowest of our limit and the battery's limits that are known, in whole W."""
    limit = float(ours)
    for other in others:
        if other is not None and other >= 0:
            limit = min(limit, other)
    return int(limit)


def battery_reading(
    values: BatteryValues,
    settings: BatterySettings,
    phase_w: float,
    phase: str | None = None,
    phase_a: float | None = None,
) -> tuple[BatteryReading, Problem | None]:
    """Return the engine's reading of one battery, and why it takes no part (if so).

    phase names the battery's phase where it has its own phase sensor (None: the grid's);
    phase_a is that phase's current (``phase_current``; None: no current sensor).
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
    if not values.unit_ok:
        problem = Problem.UNIT_UNSUPPORTED
    if values.excluded is not None:
        problem = values.excluded
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
        phase_a=phase_a,
    )
    return reading, problem


# ------------------------------------------------------------------------- units

# Power units Home Assistant knows, in W (UnitOfPower; "BTU/h" is not offered by the boards).
POWER_UNITS_W: dict[str, float] = {
    "mW": 1e-3,
    "W": 1.0,
    "kW": 1e3,
    "MW": 1e6,
    "GW": 1e9,
    "TW": 1e12,
}


def to_watts(value: float, unit: str | None) -> float | None:
    """Return a power in W from an entity's unit (None: W), or None for a unit that is not power."""
    if unit is None:
        return value
    factor = POWER_UNITS_W.get(unit)
    return None if factor is None else value * factor


# Current units Home Assistant knows (UnitOfElectricCurrent), in A.
CURRENT_UNITS_A: dict[str, float] = {"mA": 1e-3, "A": 1.0}


def phase_current(sample: MeterSample, phase_w: float, stale_s: float) -> float:
    """Return a phase's current in A, signed as its power (+ = import); NaN when unusable.

    The magnitude is the sensor's, the sign the phase power's: a signed sensor (HomeWizard)
    and an unsigned one (DSMR) read the same, and near 0 A, where the two may differ, the
    sign decides no limit. Unusable (NaN; nobody on the phase raises its power): missing,
    unavailable, not a number, in no unit of current, silent for more than stale_s, or a
    phase power that is not a number.
    """
    number = parse_number(sample.state)
    factor = CURRENT_UNITS_A.get(sample.unit or "")
    if number is None or factor is None or not math.isfinite(phase_w):
        return math.nan
    if sample.age_s is None or sample.age_s > stale_s:
        return math.nan
    return math.copysign(abs(number) * factor, phase_w)


def from_watts(watts: float, unit: str | None) -> float | None:
    """Return watts in an entity's unit (None: W), or None for a unit that is not power."""
    if unit is None:
        return watts
    factor = POWER_UNITS_W.get(unit)
    return None if factor is None else watts / factor


# -------------------------------------------------------------------- plausibility

# A fuse carries 1.45 times its rating for up to an hour (IEC 60269); beyond 1.5 times the
# rating on every phase the reading is not a real flow but a broken sensor or integration.
PLAUSIBLE_MARGIN = 1.5
#: Volts of one phase, to turn a fuse's current into W.
VOLTS_PER_PHASE = 230.0
# Phases of the connection a total is judged against: a single-phase configuration (no phase
# sensors) may still sit on a three-phase connection, so the total always gets three.
TOTAL_PHASES = 3
# Total and sum of the phases may differ by this much (W, or this share of the larger)
# without contradiction: the four states are written one after another, rounded, and from
# separate DSMR fields.
MISMATCH_MIN_W = 200.0
MISMATCH_SHARE = 0.1
# Contradictions that add up to this long within MISMATCH_WINDOW_S are a fault (shorter ones:
# the loop holds still while they last); after a fault, agreement lasting this long resumes.
MISMATCH_HOLD_S = 5.0
MISMATCH_WINDOW_S = 4 * MISMATCH_HOLD_S
# The most one lone disagreeing reading counts (its start is somewhere since the previous
# reading): a total and its phases landing a moment apart at a load step. Four of them in one
# window stay below MISMATCH_HOLD_S, so lone blips more than MISMATCH_WINDOW_S / 4 apart never
# fault; one every 4 s seen at every other 2 s cycle does (it is the total contradicting
# its phases most of the time, with a brief agreement in between).
MISMATCH_BLIP_S = 1.2


def meter_limit_w(fuse_a: float, phases: int) -> float:
    """Return the largest plausible flow through `phases` phases of a fuse_a connection (W)."""
    return phases * VOLTS_PER_PHASE * fuse_a * PLAUSIBLE_MARGIN


def implausible(value_w: float, fuse_a: float, phases: int) -> bool:
    """Return whether a meter value is beyond what the connection can carry."""
    return abs(value_w) > meter_limit_w(fuse_a, phases)


def phases_disagree(total_w: float, phase_w: Sequence[float]) -> bool:
    """Return whether the total contradicts the sum of the phases (the total is their sum)."""
    summed = sum(phase_w)
    largest = max(abs(total_w), sum(abs(value) for value in phase_w))
    return abs(total_w - summed) > max(MISMATCH_MIN_W, MISMATCH_SHARE * largest)


class Agreement(StrEnum):
    """How the total and the phases agree over time."""

    AGREE = "agree"
    PENDING = "pending"  # they disagree, not (yet) for MISMATCH_HOLD_S in the window: hold still
    FAULT = "fault"  # they disagreed for MISMATCH_HOLD_S in the window; not yet agreed as long


@dataclass(frozen=True, slots=True)
class Mismatch:
    """What ``agreement`` remembers between cycles (monotonic seconds); the start: all agree.

    spans are the disagreeing time spans (start, end) that end within the window; last is the
    previous reading's time and whether it disagreed; in fault, agree_since is when the
    agreement now running was first seen (None: the last reading disagreed).
    """

    spans: tuple[tuple[float, float], ...] = ()
    last: tuple[float, bool] | None = None
    fault: bool = False
    agree_since: float | None = None

    def disagreeing_s(self, now: float, window_s: float = MISMATCH_WINDOW_S) -> float:
        """Return the disagreeing time within the window ending at now."""
        start = now - window_s
        return sum(max(0.0, min(end, now) - max(begin, start)) for begin, end in self.spans)


def agreement(
    state: Mismatch,
    disagree: bool,
    now: float,
    *,
    hold_s: float = MISMATCH_HOLD_S,
    window_s: float = MISMATCH_WINDOW_S,
    blip_s: float = MISMATCH_BLIP_S,
) -> tuple[Agreement, Mismatch]:
    """Judge one reading of total against phases (disagree) at monotonic time now.

    A state machine over a sliding window, so that neither one agreeing reading now and then
    hides a contradiction that lasts (it would reset a plain timer for good), nor a lone blip
    (the total and its phases landing a moment apart at a load step) stops anything:

    * Disagreeing time: from the previous reading to this one when both disagree (the whole
      gap), at most blip_s before a disagreeing reading that follows an agreeing one.
    * AGREE -> PENDING on a disagreeing reading; PENDING -> FAULT once the disagreeing time
      within the last window_s adds up to hold_s: a disagreement that lasts faults at the
      latest hold_s after it is first seen, whatever came before.
    * FAULT -> AGREE only after agreeing readings for hold_s (a disagreeing one restarts
      that), with the window emptied: no start and stop on every other reading.
    """
    last = state.last
    spans = [span for span in state.spans if span[1] > now - window_s]
    if disagree:
        if last is not None and last[1]:  # still disagreeing: the whole gap disagreed
            begin = last[0]
            if spans and spans[-1][1] == last[0]:
                begin = spans.pop()[0]
        else:
            gap = 0.0 if last is None else max(0.0, now - last[0])
            begin = now - min(gap, blip_s)
        spans.append((begin, now))
    judged = Mismatch(tuple(spans), (now, disagree), state.fault, state.agree_since)
    if not judged.fault and judged.disagreeing_s(now, window_s) >= hold_s:
        judged = Mismatch(judged.spans, judged.last, fault=True)
    if not judged.fault:
        return (Agreement.PENDING if disagree else Agreement.AGREE), judged
    if disagree:
        return Agreement.FAULT, Mismatch(judged.spans, judged.last, fault=True)
    since = now if judged.agree_since is None else judged.agree_since
    if now - since >= hold_s:
        return Agreement.AGREE, Mismatch(last=(now, False))
    return Agreement.FAULT, Mismatch(judged.spans, judged.last, fault=True, agree_since=since)


# ------------------------------------------------------------------------ liveness


class ReportClock:
    """When each followed entity last reported, on a monotonic clock: the one clock of reports.

    Two times per entity: its last report by itself (``age``: the meter's liveness), and its
    last report of any kind, a refresh we asked for included (``latest_age``: when its value
    was sampled, for the in-flight estimate). Wall-clock time (NTP, a manual change) never
    enters an age: a step neither makes a dead meter look live nor a live one dead.
    """

    def __init__(self) -> None:
        """Start with no reports."""
        self._reported: dict[str, float] = {}
        self._latest: dict[str, float] = {}

    def report(self, entity_id: str, now: float, *, own: bool = False) -> None:
        """Record a report of entity_id at monotonic time now (own: caused by our refresh)."""
        self._latest[entity_id] = now
        if not own:
            self._reported[entity_id] = now

    def seed(self, entity_id: str, now: float, age_s: float) -> None:
        """Take a first report age_s ago (from the state's own time), if none is known.

        A negative age (the wall clock stepped back since) counts as 0: the entity is then
        judged live for at most the stale timeout, until its own reports say otherwise.
        """
        for reported in (self._reported, self._latest):
            if entity_id not in reported:
                reported[entity_id] = now - max(0.0, age_s)

    def age(self, entity_id: str, now: float) -> float | None:
        """Return the seconds since entity_id last reported by itself (None: never)."""
        reported = self._reported.get(entity_id)
        return None if reported is None else max(0.0, now - reported)

    def latest_age(self, entity_id: str, now: float) -> float | None:
        """Return the seconds since entity_id's last report of any kind (None: never)."""
        reported = self._latest.get(entity_id)
        return None if reported is None else max(0.0, now - reported)


@dataclass(frozen=True, slots=True)
class MeterSample:
    """One meter entity this cycle: its state (None: missing), unit and report age."""

    entity_id: str
    state: str | None
    unit: str | None = "W"
    age_s: float | None = 0.0


@dataclass(frozen=True, slots=True)
class MeterVerdict:
    """The meter judged: the values in W, or why it cannot be used (cause, entity)."""

    grid_w: float = 0.0
    phase_w: Mapping[str, float] = field(default_factory=dict)
    cause: Cause | None = None
    entity_id: str | None = None
    disagree: bool = False  # total and phases contradict each other (see agreement)
    vouched: str | None = None  # a silent entity taken as live by agreement (defect 8)


def _value_w(sample: MeterSample) -> tuple[float | None, Cause | None]:
    """Return one sample in W, or why it is no number of watts (its age not judged).

    A meter sensor without a unit is no number of watts either: the config flow takes only
    one in W or kW, and a kW sensor that lost its unit would read 1000 times too small.
    """
    cause = meter_problem(sample.state, 0.0, math.inf)
    if cause is not None:
        return None, cause
    if sample.unit is None:
        return None, Cause.METER_INVALID
    value = to_watts(float(str(sample.state)), sample.unit)
    if value is None:
        return None, Cause.METER_INVALID
    return value, None


def judge_meter(
    total: MeterSample,
    phases: Mapping[str, MeterSample],
    stale_s: float,
    fuse_a: float,
) -> MeterVerdict:
    """Return the meter's values in W, or the first reason not to use them.

    Order: missing, unavailable or not a number; beyond what the connection carries
    (``meter_implausible``); not reporting for ``stale_s`` (``meter_stale``). The total and
    the phases disagreeing is reported in ``disagree``: the caller times it (``agreement``).

    Liveness with phase sensors (defect 8): an integration that writes a state only when it
    changes (MQTT without ``force_update``) leaves a constant phase silent. One silent entity
    is taken as live when every other meter entity reports within ``stale_s`` and its value
    agrees with theirs (the total is the sum of the phases): what it holds is then what the
    live entities imply, so acting on it acts on live information. Two or more silent
    entities, or a silent one that disagrees, are stale. Without phase sensors nothing can
    vouch for the total: a silent total is stale.
    """
    samples = [("", total), *phases.items()]
    values: dict[str, float] = {}
    for key, sample in samples:
        value, cause = _value_w(sample)
        if cause is not None or value is None:
            return MeterVerdict(cause=cause or Cause.METER_INVALID, entity_id=sample.entity_id)
        limit_phases = TOTAL_PHASES if key == "" else 1
        if implausible(value, fuse_a, limit_phases):
            return MeterVerdict(cause=Cause.METER_IMPLAUSIBLE, entity_id=sample.entity_id)
        values[key] = value
    grid_w = values.pop("")
    disagree = bool(phases) and phases_disagree(grid_w, list(values.values()))
    silent = [s for _key, s in samples if s.age_s is None or s.age_s > stale_s]
    vouched: str | None = None
    if len(silent) == 1 and phases and not disagree:
        vouched = silent[0].entity_id
    elif silent:
        return MeterVerdict(cause=Cause.METER_STALE, entity_id=silent[0].entity_id)
    return MeterVerdict(grid_w, values, disagree=disagree, vouched=vouched)
