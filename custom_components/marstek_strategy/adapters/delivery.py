"""What each battery delivers now and what is still on its way, from Home Assistant's states.

One ``inflight.InFlight`` per battery: after every cycle it is told the setpoint now in force
(``record``: stops, fail-safe stops, hand-back and dry run included; in a dry run that is
what the entities say, nothing being commanded), and before ``engine.allocate`` it gives the
battery's delivered AC power at the moment the meter took its sample (``estimate``), anchored
on the battery's ``AC Power`` reading.

The cycle interval (``loop_times``): 6.5 s (the default) and longer run the seed's law
(``delivered_w`` None: every command counts as delivered) with the settle delay option. The
shorter ``inflight.INTERVALS_S`` run on ``inflight.loop_timing`` with the estimate, and only
when every battery has an AC power sensor: without one nothing corrects a model that is
wrong for that battery (a battery slower than the model rings at 2 s in the benchmark with
the model alone), so such a hub runs at 6.5 s, as the seed.

The meter pace (``paced``, core/pace.py) runs on the estimate too, on the same condition,
and plans on the demand that changes least (``least_change_w``): of the demands each
battery's range allows (``inflight.InFlight.delivered_range``: a battery slower or faster
than the response, an AC reading that reports late), the one nearest what the batteries
were told.

Times are monotonic, on the reader's one clock of reports (``Reader.clock``): the meter's
and the AC sensors' reports are followed as they happen (adapters/watchers.py); a wall-clock
time (``last_reported``) only seeds a first report.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from typing import Any, Final

from homeassistant.core import HomeAssistant
from homeassistant.util import dt as dt_util

from ..const import LOGGER, Role
from ..core import control
from ..core.control import Commanded
from ..core.inflight import (
    DEFAULT_INTERVAL_S,
    InFlight,
    Response,
    allowed_interval,
    least_change,
    loop_timing,
    rise_range,
)
from ..core.model import BatteryReading
from ..core.pace import Pace, meter_settings
from . import inputs
from .batteries import BatteryConfig
from .reader import Reader

# The meter's value is the mean of the second before its report (marstek-facts.md).
METER_SAMPLE_DELAY_S: Final = 0.5


def loop_times(
    interval: float, settle: float, estimated: bool, response: Response | None = None
) -> tuple[float, float]:
    """Return (interval, settle) in s the loop runs at, from the options (pure).

    estimated: every battery has an AC power sensor (the short intervals need one).
    """
    interval = allowed_interval(interval)
    if interval >= DEFAULT_INTERVAL_S:
        return interval, settle
    if not estimated:
        return DEFAULT_INTERVAL_S, settle
    return loop_timing(interval, response)


#: An AC power reading beyond this (W, either sign) is not believed: a Venus E converts at
#: most 2500 W; 20 % above it allows for the sensor's error, not for a misread register.
MAX_PLAUSIBLE_AC_W: Final = 3000.0


class Delivery:
    """One battery's in-flight model per battery, fed and asked by the coordinator."""

    def __init__(
        self,
        hass: HomeAssistant,
        batteries: Sequence[BatteryConfig],
        reader: Reader,
        response: Response | None = None,
    ) -> None:
        """Follow batteries on reader's monotonic clock; nothing is known until the first cycle."""
        self.hass = hass
        self.reader = reader
        self.response = response or Response()
        self.titles = [battery.title for battery in batteries]
        self.ac_sensors = [battery.entities.get(Role.AC_POWER) for battery in batteries]
        self.has_rs485 = [Role.RS485_MODE in battery.entities for battery in batteries]
        self.models: list[InFlight | None] = [None] * len(batteries)
        self.clock = reader.clock  # the one clock of reports: the meter's and the AC sensors'
        self.active = False  # the estimate is used (a short interval or the meter pace)
        self.least = False  # the meter pace: the demand changes least (``least_change_w``)
        # each battery's range at the last estimate (None: no estimate)
        self.ranges: list[tuple[float, float] | None] = [None] * len(batteries)

    @property
    def estimated(self) -> bool:
        """Return whether every battery has an AC power sensor (the estimate for all)."""
        return all(sensor is not None for sensor in self.ac_sensors)

    def timing(self, interval: float, settle: float) -> tuple[float, float]:
        """Return (interval, settle) in s for the options (``loop_times``); log a refusal."""
        times = loop_times(interval, settle, self.estimated, self.response)
        self.active = times[0] < DEFAULT_INTERVAL_S
        if allowed_interval(interval) < times[0]:
            LOGGER.warning(
                "Cycle interval %s s needs an AC power sensor on every battery; running at %s s",
                interval,
                times[0],
            )
        return times

    def paced(self, chosen: Pace, interval: float, settle: float) -> tuple[Pace, float, float]:
        """Return (pace, interval, settle) in s the loop runs at; log a refused meter pace.

        The meter pace (``core/pace.py``) needs the estimate, as the short intervals: only
        where every battery has an AC power sensor; elsewhere the fixed pace runs. Its
        interval is the silent meter's timer, its settle the wait for a start to show.
        """
        self.least = chosen is Pace.METER and self.estimated
        if chosen is Pace.METER and self.estimated:
            self.active = True
            settings = meter_settings(self.response)
            return Pace.METER, settings.fallback_s, settings.settle_s
        if chosen is Pace.METER:
            LOGGER.warning(
                "The meter pace needs an AC power sensor on every battery; running at a fixed pace"
            )
        return (Pace.FIXED, *self.timing(interval, settle))

    @property
    def followed(self) -> list[str]:
        """Return the AC power sensors (their reports go to the reader's clock)."""
        return [sensor for sensor in self.ac_sensors if sensor is not None]

    def _reported_at(self, entity_id: str, now: float) -> float | None:
        """Return the monotonic time of entity_id's last report (seeded from last_reported)."""
        if state := self.hass.states.get(entity_id):
            age = (dt_util.utcnow() - state.last_reported).total_seconds()
            self.clock.seed(entity_id, now, age)
        age_s = self.clock.latest_age(entity_id, now)
        return None if age_s is None else now - age_s

    def _model(self, index: int, commanded: Commanded) -> InFlight:
        """Return battery index's model; a new one is settled on what it is commanded."""
        model = self.models[index]
        if model is None:
            setpoint = control.plan_from_commanded([commanded], self.has_rs485[index : index + 1])
            mode, power = setpoint.setpoints[0].mode, setpoint.setpoints[0].power_w
            model = self.models[index] = InFlight(
                self.response, self.response.target_w(mode, power)
            )
        return model

    def estimate(
        self, readings: Sequence[BatteryReading], commanded: Sequence[Commanded]
    ) -> list[BatteryReading]:
        """Return readings with delivered_w where the battery has an AC power sensor.

        A battery that takes no part gets no estimate but its rise (``inflight.rise_range``,
        at every interval): its fresh AC power, else the range its commands allow.
        """
        now = self.reader.monotonic()
        meter_at = self._reported_at(self.reader.grid_sensor, now)
        at = now if meter_at is None else meter_at - METER_SAMPLE_DELAY_S
        estimated = []
        self.ranges = [None] * len(readings)
        for index, reading in enumerate(readings):
            model = self._model(index, commanded[index])
            sensor = self.ac_sensors[index]
            if not reading.available:
                fresh = None if sensor is None else self._ac_w(sensor, now, self.reader.stale_s)
                rise = rise_range(fresh, model.model_w(at), model.target_w)
                estimated.append(replace(reading, delivered_w=None, rise_w=rise))
                continue
            if sensor is None or not self.active:
                estimated.append(reading)  # the seed's law: its command counts as delivered
                continue
            ac_w = self._ac_w(sensor, now)
            ac_at = None if ac_w is None else self._reported_at(sensor, now)
            estimated.append(replace(reading, delivered_w=model.delivered_w(at, ac_w, ac_at)))
            self.ranges[index] = model.delivered_range(at, ac_w, ac_at)
        return estimated

    def least_change_w(self, grid_w: float, readings: Sequence[BatteryReading]) -> float:
        """Return the W to add to grid_w so that the demand the engine sees changes least.

        At the meter pace only (``inflight.least_change`` over the batteries the last
        ``estimate`` gave a range, whose reading the engine uses); 0 otherwise. grid_w is
        the grid the engine plans on (less the zero mode's target).
        """
        if not self.least:
            return 0.0
        estimates: list[float] = []
        ranges: list[tuple[float, float]] = []
        targets: list[float] = []
        for reading, span, model in zip(readings, self.ranges, self.models, strict=False):
            if span is None or model is None or reading.delivered_w is None or not reading.usable:
                continue
            estimates.append(reading.delivered_w)
            ranges.append(span)
            targets.append(model.target_w)
        return least_change(grid_w, estimates, ranges, targets) if estimates else 0.0

    def _ac_w(self, sensor: str, now: float, max_age_s: float | None = None) -> float | None:
        """Return a battery's AC power (W; None: not plausible, or older than max_age_s)."""
        ac_w = inputs.value(self.hass.states.get(sensor), Role.AC_POWER)
        if ac_w is not None and abs(ac_w) > MAX_PLAUSIBLE_AC_W:
            return None  # no Venus delivers this (a register misread): the model alone
        if ac_w is not None and max_age_s is not None:
            at = self._reported_at(sensor, now)
            if at is None or now - at > max_age_s:
                return None
        return ac_w

    def ac_reading(self, index: int, now: float) -> tuple[float | None, float | None]:
        """Return battery index's AC power (W) and when it last reported (None: not known)."""
        sensor = self.ac_sensors[index]
        ac_w = None if sensor is None else self._ac_w(sensor, now)
        if sensor is None or ac_w is None:
            return None, None
        return ac_w, self._reported_at(sensor, now)

    def estimate_w(self, index: int, now: float) -> float | None:
        """Return battery index's estimated AC power now (W; None: no model yet)."""
        model = self.models[index]
        return None if model is None else model.delivered_w(now, *self.ac_reading(index, now))

    def record(self, commanded: Sequence[Commanded] | None) -> None:
        """Take the setpoints in force after a cycle's writes (None: nothing known yet)."""
        if commanded is None:
            return
        now = self.reader.monotonic()
        plan = control.plan_from_commanded(commanded, self.has_rs485[: len(commanded)])
        for index, setpoint in enumerate(plan.setpoints):
            self._model(index, commanded[index]).command(now, setpoint.mode, setpoint.power_w)

    def diagnostics(self) -> list[dict[str, Any]]:
        """Return each battery's estimate inputs: its AC sensor and the target in force."""
        return [
            {
                "battery": title,
                "ac_power_sensor": sensor is not None,
                "target_w": None if model is None else round(model.target_w, 1),
            }
            for title, sensor, model in zip(self.titles, self.ac_sensors, self.models, strict=True)
        ]
