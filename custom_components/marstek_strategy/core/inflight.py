"""What each battery delivers now and what is still on its way (pure).

The seed's law counts every commanded watt as delivered the moment it is written. A battery
needs its response time to get there, so on a short cycle the grid reading still shows the
old power and the same demand is counted twice: the loop overshoots. This module estimates
each battery's delivered AC power at the time the meter sampled the grid, and the engine uses
that instead (``BatteryReading.delivered_w``).

Model of a command (``Response``, every number a setting): nothing for the dead time (plus
the relay's delay when the battery starts from stop), then a first-order approach with time
constant ``tau_s`` to the commanded watts times the direction's gain (grid W per commanded W,
the engine's release factors). Commands superpose, so the model is linear in the changes.

Estimate at time ``t`` (``InFlight.delivered_w``):

* with a reading of the battery's AC power taken at ``t_ac``:
  ``ac + model(t) - model(t_ac)``: what it delivered then, plus what changed since (a Smith
  predictor; the reading also covers a battery that delivers less than it is told);
* without one (no AC power sensor, or the reading is older than ``HISTORY_S``): ``model(t)``.
  Once the commands have settled this is the seed's assumption exactly.

While a change is on its way the estimate may be wrong in two ways the meter pace cannot tell
apart from the reading alone: the battery may follow slower than the response (up to
``SLOW_FACTOR`` times), or its AC reading may report the power of up to ``LATE_S`` before
(a board that averages or samples it). ``InFlight.delivered_range`` gives the least and most
it may deliver under those (the estimate always inside), and ``least_change`` takes, of the
fleet's demand within those ranges, the one nearest what the batteries were told: a cycle
changes the plan only by what every one of them calls for (issue 22: the meter pace rang on
a slow battery and on readings that report late; the default response stays the estimate).

``loop_timing`` gives the cycle interval and the settle delay for an allowed interval: the
seed's 6.5 s and 12 s by default, a settle derived from the response for shorter cycles.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
import math
from typing import Final

from .model import Mode

#: Cycle intervals (s) the loop may run at; 6.5 s is the seed's and the default.
INTERVALS_S: Final = (6.5, 5.0, 4.0, 3.0, 2.0)
DEFAULT_INTERVAL_S: Final = 6.5
DEFAULT_SETTLE_S: Final = 12.0  # the seed's wait after a battery enters a mode
HISTORY_S: Final = 60.0  # commands and AC readings older than this are folded or ignored
SNAP_W: Final = 1.0  # a model within this of zero counts as stopped (relay open)
MAX_INTERVAL_S: Final = 60.0  # the option's maximum
#: An AC power of the sign opposite to the command, beyond this (W), is not delivery: the
#: read-back's running threshold.
CONTRADICTION_W: Final = 100.0
#: ``InFlight.delivered_range`` allows for a battery this many times slower than the response
#: (dead time, relay delay and lag; the bench's slow plant is 2.7 times the default) and for
#: an AC reading that reports the power of up to this many seconds before (s).
SLOW_FACTOR: Final = 3.0
LATE_S: Final = 2.0


@dataclass(frozen=True, slots=True)
class Response:
    """How a battery follows a command (s); defaults: marstek-facts.md estimates."""

    dead_time_s: float = 0.75
    tau_s: float = 1.5
    from_stop_s: float = 3.0  # extra delay when the relay is open (from stop)
    charge_gain: float = 1.045  # grid W per commanded W (the engine's release factors)
    discharge_gain: float = 0.975

    def settle_s(self) -> float:
        """Return the time before a start from stop shows at all (dead time + relay delay).

        The estimate covers the lag after that; a start is the one change whose timing is
        uncertain (the relay), so the next cycle waits until it has begun.
        """
        return self.dead_time_s + self.from_stop_s

    def step(self, age_s: float) -> float:
        """Return the share of a change delivered age_s after it took effect (0..1)."""
        if age_s <= 0.0:
            return 0.0
        if self.tau_s <= 0.0:
            return 1.0
        return 1.0 - math.exp(-age_s / self.tau_s)

    def target_w(self, mode: Mode, power_w: float) -> float:
        """Return the AC power (W, + = discharging) a command heads for."""
        if mode is Mode.DISCHARGE:
            return power_w * self.discharge_gain
        if mode is Mode.CHARGE:
            return -power_w * self.charge_gain
        return 0.0


def allowed_interval(value: float) -> float:
    """Return the cycle interval a stored option stands for (pure).

    6.5 s and longer (up to 60 s) as stored; a shorter value not in ``INTERVALS_S`` (an
    entry made when any 0.5 s step from 2 s was allowed) becomes the next longer allowed
    one: the loop never runs faster than the user asked.
    """
    if not math.isfinite(value):
        return DEFAULT_INTERVAL_S
    if value >= DEFAULT_INTERVAL_S:
        return min(value, MAX_INTERVAL_S)
    return min((i for i in INTERVALS_S if i >= value), default=DEFAULT_INTERVAL_S)


def interval_allowed(value: float) -> bool:
    """Return whether the options flow accepts value as the cycle interval (pure)."""
    return value in INTERVALS_S or DEFAULT_INTERVAL_S <= value <= MAX_INTERVAL_S


def loop_timing(interval_s: float, response: Response | None = None) -> tuple[float, float]:
    """Return (interval, settle) in s for an allowed cycle interval.

    The default interval keeps the seed's 12 s settle. A shorter one waits after a start
    until the start has begun to show (``Response.settle_s``, rounded up to 0.5 s), never
    less than the interval itself.
    """
    if interval_s not in INTERVALS_S:
        raise ValueError(f"interval {interval_s} s is not one of {INTERVALS_S}")
    if interval_s == DEFAULT_INTERVAL_S:
        return DEFAULT_INTERVAL_S, DEFAULT_SETTLE_S
    settle = math.ceil(2.0 * (response or Response()).settle_s()) / 2.0
    return interval_s, max(interval_s, settle)


def rise_range(ac_w: float | None, model_w: float, target_w: float) -> tuple[float, float]:
    """Return how far a battery that takes no part may still raise its phase's grid power (W).

    Nobody controls it now: it may go on as it is, stop (a stop is written), or reach the
    target of its last command still in force (a board that cannot be written keeps it).
    ac_w is its AC power at the meter's sample if fresh (W, + = discharging; None: not
    known, then it may be anywhere between stopped, the model and the target). The rise is
    what it delivered then minus what it delivers later: (least, most). Its estimate is
    never headroom: that is the phase budget's worst case in each direction.
    """
    if ac_w is not None and math.isfinite(ac_w):
        later = (0.0, ac_w, target_w)
        return ac_w - max(later), ac_w - min(later)
    span = [0.0, target_w] + ([model_w] if math.isfinite(model_w) else [])
    low, high = min(span), max(span)
    return low - high, high - low


@dataclass(frozen=True, slots=True)
class _Change:
    """One command's change of the target, from the time it takes effect."""

    effective_s: float
    delta_w: float
    written_s: float  # when it was commanded
    delay_s: float  # the response's delay from written_s (dead time, relay delay if from stop)


class InFlight:
    """One battery's commands of the last ``HISTORY_S`` and the model of their delivery."""

    __slots__ = ("_base_w", "_changes", "_target_w", "response")

    def __init__(self, response: Response | None = None, delivered_w: float = 0.0) -> None:
        """Start from a battery that delivers delivered_w (W, + = discharging) and is settled."""
        self.response = response or Response()
        self._base_w = delivered_w  # the settled level before the kept changes
        self._target_w = delivered_w  # the target of the latest command
        self._changes: list[_Change] = []

    @property
    def target_w(self) -> float:
        """Return the AC power the latest command heads for (W, + = discharging)."""
        return self._target_w

    def command(self, now_s: float, mode: Mode, power_w: float) -> None:
        """Record the command in force from now_s (mode, commanded W); repeats are no-ops."""
        target = self.response.target_w(mode, max(0.0, power_w))
        if target == self._target_w:
            return
        delay = self.response.dead_time_s
        if self._target_w == 0.0 and abs(self.model_w(now_s)) < SNAP_W:
            delay += self.response.from_stop_s  # the relay is open: it starts from stop
        effective = now_s + delay
        if self._changes:  # the board applies commands in order
            effective = max(effective, self._changes[-1].effective_s)
        self._changes.append(_Change(effective, target - self._target_w, now_s, delay))
        self._target_w = target
        self._fold(now_s)

    def _fold(self, now_s: float) -> None:
        """Fold changes that settled before the history window into the base."""
        horizon = now_s - HISTORY_S
        response = self.response
        while self._changes and response.step(horizon - self._changes[0].effective_s) >= 1.0 - 1e-9:
            self._base_w += self._changes.pop(0).delta_w

    def model_w(self, at_s: float) -> float:
        """Return the model's AC power at at_s (W, + = discharging)."""
        return self._base_w + sum(
            change.delta_w * self.response.step(at_s - change.effective_s)
            for change in self._changes
        )

    def _slow_w(self, at_s: float, factor: float) -> float:
        """Return the model's AC power at at_s for a battery factor times slower (W)."""
        tau = self.response.tau_s * factor
        total = self._base_w
        effective = -math.inf
        for change in self._changes:  # in order, as the board applies them
            effective = max(change.written_s + change.delay_s * factor, effective)
            age = at_s - effective
            if age > 0.0:
                total += change.delta_w * (1.0 - math.exp(-age / tau) if tau > 0.0 else 1.0)
        return total

    def delivered_range(
        self, at_s: float, ac_w: float | None = None, ac_at_s: float | None = None
    ) -> tuple[float, float]:
        """Return the least and most AC power the battery may deliver at at_s (W).

        ``delivered_w`` is the estimate on the response, with the reading taken as the power
        at its report. The range also holds the same estimate for a battery ``SLOW_FACTOR``
        times slower, for a reading ``LATE_S`` late, and for both: each the reading plus
        what that model says changed since the power it shows, kept between the reading and
        that model now. A reading the other way than such a model then, or than a stopped
        one's 0 W (beyond ``CONTRADICTION_W``), is no evidence for it. Without a usable
        reading: the estimate alone. Once every model has settled since the reading the range
        is the estimate.
        """
        estimate = self.delivered_w(at_s, ac_w, ac_at_s)
        if (
            ac_w is None
            or ac_at_s is None
            or not math.isfinite(ac_w)
            or not math.isfinite(ac_at_s)
            or ac_at_s < at_s - HISTORY_S
        ):
            return estimate, estimate
        low = high = estimate
        for factor in (1.0, SLOW_FACTOR, 1.0 / SLOW_FACTOR):
            model_now = self._slow_w(at_s, factor)
            for late in (0.0, LATE_S):
                if factor == 1.0 and late == 0.0:
                    continue  # the estimate itself
                model_then = self._slow_w(ac_at_s - late, factor)
                if ac_w * model_then <= 0.0 and abs(ac_w) > CONTRADICTION_W:
                    continue  # not this model's power then (nor a stopped battery's)
                value = ac_w + model_now - model_then
                value = min(max(value, min(ac_w, model_now)), max(ac_w, model_now))
                low, high = min(low, value), max(high, value)
        return low, high

    def delivered_w(
        self, at_s: float, ac_w: float | None = None, ac_at_s: float | None = None
    ) -> float:
        """Return the estimated AC power at at_s, from the model and an AC reading if any.

        The reading (ac_w taken at ac_at_s) counts when it is a finite number not older than
        ``HISTORY_S`` before at_s; one of the sign opposite to the command then in force
        (beyond ``CONTRADICTION_W``) counts as 0 W delivered. The estimate (the reading plus
        what the model says changed since) stays between the reading and the model: a battery
        faster than the model, whose reading already shows a new command, is not counted twice
        while the board reports no new value.
        """
        model_now = self.model_w(at_s)
        if (
            ac_w is not None
            and ac_at_s is not None
            and math.isfinite(ac_w)
            and math.isfinite(ac_at_s)
            and at_s - HISTORY_S <= ac_at_s
        ):
            model_then = self.model_w(ac_at_s)
            if ac_w * model_then < 0.0 and abs(ac_w) > CONTRADICTION_W:
                # The other way than commanded: no delivery (a sensor of the wrong sign, a
                # board doing the opposite; the read-back takes it out). Believed, it would
                # turn the plan round every cycle.
                ac_w = 0.0
            estimate = ac_w + model_now - model_then
            return min(max(estimate, min(ac_w, model_now)), max(ac_w, model_now))
        return model_now


def least_change(
    grid_w: float,
    estimates: Sequence[float],
    ranges: Sequence[tuple[float, float]],
    targets: Sequence[float],
) -> float:
    """Return the W to add to grid_w so that the demand the engine sees changes least (W).

    The engine counts the demand as grid_w plus each battery's estimate; the batteries
    were told targets (AC W, + = discharging; ``InFlight.target_w``). Of the demands the
    ranges allow (``InFlight.delivered_range``), the one nearest what they were told: a
    plan that holds while any of them explains the meter, and changes by what all of them
    call for. The ranges hold the estimates, so the answer is 0 where they are exact; a
    non-finite input gives 0 (the estimates as they are).
    """
    if not (len(estimates) == len(ranges) == len(targets)):
        raise ValueError("estimates, ranges and targets must have one item per battery")
    low = sum(r[0] for r in ranges)
    high = sum(r[1] for r in ranges)
    told = sum(targets) - grid_w
    estimated = sum(estimates)
    # Checked before the clamp: min and max pass a NaN bound by, and an infinite range
    # (or told) clamps to a finite shift, which would hold the plan told on no evidence.
    if not all(math.isfinite(value) for value in (low, high, told, estimated)):
        return 0.0
    return min(max(told, low), high) - estimated
