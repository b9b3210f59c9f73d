"""The types the engine, the phase limits and the rest of the core share (pure).

A battery's reading, a setpoint and a plan, the strategy's settings (with the phases'
limits) and one cycle's view of the fleet. Kept apart from ``engine`` so that
``phase_limits`` (which the engine calls) needs no import of the engine.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
import math


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

    UNAVAILABLE = "unavailable"  # stopped: no valid readings
    NOT_ALLOWED = "not_allowed"  # stopped: participation forbids this direction
    AT_CUTOFF = "at_cutoff"  # stopped: at or beyond its cutoff for the direction
    DEAD_BAND = "dead_band"  # stopped: demand too small to start
    IDLE = "idle"  # stopped: not needed
    RUNNING = "running"  # running on the demand
    STARTED_FOR_PHASE = "started_for_phase"  # started on the phase in greatest need
    STARTED_BY_PHASE = "started_for_phase"  # alias (the earlier name)
    NEAR_CUTOFF = "near_cutoff"  # within the release margin: served last
    BEHIND_PRIORITY = "behind_priority"  # left behind: catches up first
    HELD_BACK = "held_back"  # held back while another battery catches up
    MERGED_SMALL = "merged_small"  # a small setpoint merged with a larger one
    CAPPED_BY_TAPER = "capped_by_taper"  # at the charge taper's limit near full
    TAPER = "capped_by_taper"  # alias (the earlier name)
    CAPPED_BY_MAX = "capped_by_max"  # at its maximum for the mode
    EFFICIENCY_SPLIT = "efficiency_split"  # its share of the least-loss split
    EQUAL_SHARE = "equal_share"  # its share of the even split
    LIMITED_BY_PHASE = "limited_by_phase"  # its phase's fuse or feed-in limit (phase_limits)


#: Rows of (AC W, charge efficiency, discharge efficiency), sorted by AC power.
type EfficiencyTable = tuple[tuple[float, float, float], ...]

#: Measured AC efficiency of a Venus E (marstek-facts.md): charge efficiency is DC/AC,
#: discharge efficiency AC/DC, both against the AC power at the wall.
DEFAULT_EFFICIENCY_TABLE: EfficiencyTable = (
    (63.0, 0.603, 0.750),
    (125.0, 0.772, 0.738),
    (250.0, 0.885, 0.856),
    (375.0, 0.922, 0.885),
    (500.0, 0.938, 0.898),
    (750.0, 0.949, 0.909),
    (1000.0, 0.955, 0.912),
    (1500.0, 0.954, 0.909),
    (2000.0, 0.950, 0.901),
    (2500.0, 0.944, 0.893),
)


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
    efficiency_table: EfficiencyTable | None = None  # None: the settings' table
    phase: str | None = None  # the phase's name; None: batteries with equal phase_w share one
    delivered_w: float | None = None  # AC W it delivers at the meter's sample (+ = discharging,
    # inflight.py); None: its command in force counts as delivered (the seed's assumption)
    phase_a: float | None = None  # its phase's current (A, signed as phase_w; phase_limits);
    # None: no current sensor; not a number: the sensor cannot be used (nobody there raises)
    rise_w: tuple[float, float] | None = None  # a battery that takes no part: the least and
    # most it may still raise its phase's grid power by, from what the meter saw (W; negative:
    # lower it; inflight.rise_range); None: (0, 0), it goes on as the meter shows it

    @property
    def usable(self) -> bool:
        """Return whether the plan controls it: available, its state of charge and cutoffs known."""
        return self.available and all(
            math.isfinite(value) for value in (self.soc, self.charge_cutoff, self.discharge_cutoff)
        )


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

    @property
    def total_w(self) -> int:
        """Return the sum of the commanded powers (W)."""
        return sum(setpoint.power_w for setpoint in self.setpoints)


@dataclass(frozen=True, slots=True)
class StrategySettings:
    """Every number of the strategy; defaults are the seed's values.

    Margins are percentage points of state of charge, powers whole watts.
    """

    strategy: Strategy = Strategy.PRIORITY
    release_margin_pct: float = 15.0  # within this of the cutoff: released, served last
    behind_margin_pct: float = 10.0  # within this of the opposite cutoff: left behind
    dead_band_w: int = 30  # do not start for a corrected demand below this
    merge_below_w: int = 500  # a setpoint below this is merged with a larger one
    taper_soc_pct: float = 95.0  # from this state of charge ...
    taper_w: int = 1250  # ... charge at most this
    discharge_factor: float = 1.026  # commanded W per grid W of import to cover
    charge_factor: float = 0.957  # commanded W per grid W of export to absorb
    discharge_release_factor: float = 0.975  # grid W per commanded discharge W
    charge_release_factor: float = 1.045  # grid W per commanded charge W
    efficiency_table: EfficiencyTable = field(default=DEFAULT_EFFICIENCY_TABLE)
    hysteresis_w: float = 5.0  # efficiency: W of modelled loss a change of set must save
    standby_w: float = 7.0  # efficiency: W an idle battery draws (counted in a set's cost)
    join_w: int = 250  # efficiency: most W a battery joining running ones starts with
    # efficiency: a battery started from stop (relay, inverter start, wear, seconds of lag) is
    # reckoned to cost start_cost_wh, to be paid back within start_payback_s: a set that starts
    # one must save start_cost_wh * 3600 / start_payback_s W more (12 W). stop_share: the share
    # of that a set that stops a running battery pays (its likely restart; 0: none).
    start_cost_wh: float = 1.0
    start_payback_s: float = 300.0
    stop_share: float = 0.0
    # efficiency: a cycle whose corrected demand is within steady_w of the plan in force is
    # steady (the demand has held for a cycle): a start then pays steady_start_share of the
    # start's cost (a set the demand keeps asking for will pay it back). 0: no such cycle.
    steady_w: float = 0.0
    steady_start_share: float = 1.0
    phase_limits: PhaseLimits | None = None  # per-phase fuse and feed-in limits; None: none


# --------------------------------------------------------------------------------------
# One cycle's view of the fleet
# --------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Cycle:
    """What every strategy works from: the mode, each battery's limits and kept power."""

    mode: Mode
    total_w: int  # corrected demand in commanded W for this mode
    batteries: tuple[BatteryReading, ...]
    caps: tuple[int, ...]  # max W this cycle (0 = may not run)
    excluded: tuple[Reason | None, ...]  # why a battery may not run at all
    kept: tuple[int, ...]  # power kept from the plan in force (same mode, clamped)
    settings: StrategySettings

    @property
    def eligible(self) -> tuple[int, ...]:
        """Return the indexes of the batteries that may run in this mode."""
        return tuple(i for i, reason in enumerate(self.excluded) if reason is None)


#: What a strategy returns: each battery's W and reason.
type Allocation = tuple[list[int], list[Reason]]


#: Power factor assumed to turn a fuse's current into active power (the meter measures W).
POWER_FACTOR = 0.9
#: W a plan keeps clear of each limit, for small load changes and the batteries' own error.
MARGIN_W = 200.0


@dataclass(frozen=True, slots=True)
class PhaseLimits:
    """The most grid power (W) any one phase may import and export."""

    import_w: float
    export_w: float
    margin_w: float = 0.0  # the plan keeps this far inside both limits
    # With a measured current: the fuse as W (A x volts x POWER_FACTOR; None: import_w) and
    # the feed-in limit on the power (None: export_w); volts turns A into W.
    fuse_w: float | None = None
    feed_in_w: float | None = None
    volts: float = 230.0

    @classmethod
    def from_fuse(
        cls,
        fuse_a: float,
        feed_in_w: float = 0.0,
        volts: float = 230.0,
        margin_w: float = MARGIN_W,
    ) -> PhaseLimits:
        """Return the limits of a main fuse (A per phase) and a feed-in limit (W, 0 = none).

        The fuse limits both directions to ``fuse_a * volts * POWER_FACTOR`` W (at a power
        factor of 0.9 that many W draw the fuse's rated current); a feed-in limit lowers
        the export side.
        """
        fuse_w = fuse_a * volts * POWER_FACTOR
        export_w = min(fuse_w, feed_in_w) if feed_in_w > 0 else fuse_w
        return cls(
            import_w=fuse_w,
            export_w=export_w,
            margin_w=margin_w,
            fuse_w=fuse_w,
            feed_in_w=feed_in_w if feed_in_w > 0 else math.inf,
            volts=volts,
        )

    def watts_of_amps(self, amps: float) -> float:
        """Return a current (A) as the W the budgets compare: A x volts x POWER_FACTOR."""
        return amps * self.volts * POWER_FACTOR
