"""Each battery's learned losses in Home Assistant: its learner, its Store, its samples.

``learning.py`` learns (pure); this module feeds it and keeps it. Per battery with an AC
power and a Battery Power sensor: a ``learning.BatteryLearner``, kept in a ``Store`` of its
own (``marstek_strategy.learned.<subentry id>``, saved a while after it learned something,
on unload and when Home Assistant stops), fed once per driven cycle with the sample the
pure :func:`gate` lets through, and what the engine gets from it:

* ``efficiency_table``: the learned table rounded to 0.001, refreshed at most every
  ``REFRESH_S`` and kept as the same object while it does not change (the engine caches its
  curves per table), or None (the settings' table) while nothing is measured;
* the correction factors (commanded W per grid W, and their inverses, the release factors):
  per direction, the mean over the batteries of each one's learned factor where it is
  confident (``FACTOR_CONFIDENCE``), else the seed's 1.026 / 0.957.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from enum import StrEnum
import math
from typing import Any, Final

from homeassistant.core import HomeAssistant, State
from homeassistant.helpers import issue_registry as ir
from homeassistant.helpers.storage import Store

from ..const import DOMAIN, LOGGER, Role
from ..core import learning
from ..core.control import Commanded
from ..core.learning import SEED_FACTORS, BatteryLearner, Sample
from ..core.model import BatteryReading, EfficiencyTable, Mode, StrategySettings
from ..core.readings import parse_number, to_watts
from .batteries import BatteryConfig
from .inputs import unit_of
from .storage import any_version

SETTLED_S: Final = 10.0  # a setpoint counts as settled this long after it was written
CUTOFF_MARGIN_PCT: Final = 3.0  # no samples within this of the discharge cutoff ...
FULL_SOC_PCT: Final = 94.0  # ... nor above this (the charge taper starts at 95 %)
REFRESH_S: Final = 900.0  # the engine's table and factors change at most this often
MAX_REFRESHES: Final = 1  # tables recomputed in one cycle (a new table costs the engine ~1 ms)
SAVE_DELAY_S: Final = 600.0  # a learner is written this long after it first learned again
FACTOR_CONFIDENCE: Final = 0.5  # a learned factor counts from this blend weight (20 ratios)
FACTOR_BAND: Final = 0.08  # a learned factor stays within this share of the seed's
ROUND: Final = 3  # decimals of the efficiencies the engine gets
_DIRECTIONS: Final = (Mode.CHARGE, Mode.DISCHARGE)
LEARNED_DAMAGED_ISSUE: Final = "learned_damaged"  # + the battery's subentry id


class Verdict(StrEnum):
    """What the gate made of a battery's readings this cycle."""

    ACCEPTED = "accepted"
    UNAVAILABLE = "unavailable"  # the battery takes no part this cycle
    NOT_RUNNING = "not_running"  # stopped, or 0 W
    SETTLING = "settling"  # its setpoint changed less than SETTLED_S ago
    NO_READING = "no_reading"  # AC power or Battery Power is not a number in W
    STALE_READING = "stale_reading"  # a reading from before the setpoint settled
    REPEATED = "repeated"  # no new reading of both since the last sample
    NEAR_CUTOFF = "near_cutoff"  # state of charge within CUTOFF_MARGIN_PCT of the cutoff
    NEAR_FULL = "near_full"  # state of charge above FULL_SOC_PCT (charge taper)


@dataclass(frozen=True, slots=True)
class Reading:
    """A power sensor's value in W and when it was last reported (POSIX seconds)."""

    watts: float
    time: float


def gate(
    *,
    now: float,
    mode: Mode,
    power_w: int,
    steady_since: float,
    ac: Reading | None,
    dc: Reading | None,
    last_sample: float | None,
    soc: float,
    discharge_cutoff: float,
    available: bool = True,
) -> Verdict:
    """Return whether a battery's readings make a steady sample, or why not (pure).

    Steady: running on a setpoint in force for SETTLED_S, both powers reported after that
    (and after the last sample: one reading teaches once), the state of charge away from
    the discharge cutoff and the charge taper. All times in seconds on one clock.
    """
    if not available:
        return Verdict.UNAVAILABLE
    if mode not in _DIRECTIONS or power_w <= 0:
        return Verdict.NOT_RUNNING
    settled = steady_since + SETTLED_S
    if now < settled:
        return Verdict.SETTLING
    if ac is None or dc is None:
        return Verdict.NO_READING
    oldest = min(ac.time, dc.time)
    if oldest < settled:
        return Verdict.STALE_READING
    if last_sample is not None and oldest <= last_sample:
        return Verdict.REPEATED
    if not math.isfinite(soc) or soc < discharge_cutoff + CUTOFF_MARGIN_PCT:
        return Verdict.NEAR_CUTOFF
    if soc > FULL_SOC_PCT:
        return Verdict.NEAR_FULL
    return Verdict.ACCEPTED


def rounded(table: EfficiencyTable) -> EfficiencyTable:
    """Return table with its efficiencies rounded to ROUND decimals."""
    return tuple((power, round(c, ROUND), round(d, ROUND)) for power, c, d in table)


def fleet_factors(learners: Iterable[BatteryLearner]) -> dict[Mode, float]:
    """Return per direction the mean factor: each learner's where confident, else the seed's."""
    chosen: dict[Mode, list[float]] = {mode: [] for mode in _DIRECTIONS}
    for learner in learners:
        for mode in _DIRECTIONS:
            seed = SEED_FACTORS[mode]
            confident = learner.factor_weight(mode) >= FACTOR_CONFIDENCE
            factor = learner.factor(mode) if confident else seed
            # A battery held back (cold BMS, a limit of its own) delivers less than told; that
            # is not its gain: a factor far from the seed's would raise the loop's gain.
            low, high = seed * (1 - FACTOR_BAND), seed * (1 + FACTOR_BAND)
            chosen[mode].append(min(max(factor, low), high))
    return {
        mode: sum(values) / len(values) if values else SEED_FACTORS[mode]
        for mode, values in chosen.items()
    }


def _key(subentry_id: str) -> str:
    return f"{DOMAIN}.learned.{subentry_id}"


def _store(hass: HomeAssistant, subentry_id: str) -> Store[dict[str, Any]]:
    # A newer version reaches the migration (NotImplementedError: afresh) on every release.
    return Store(hass, learning.STORAGE_VERSION, _key(subentry_id), **any_version())


def _reading(state: State | None) -> Reading | None:
    """Return a power sensor's state in W with its report time, or None."""
    if state is None or (number := parse_number(state.state)) is None:
        return None
    watts = to_watts(number, unit_of(state))
    return None if watts is None else Reading(watts, state.last_reported.timestamp())


class LearnedBattery:
    """One battery: its learner, its Store, its setpoint in force and its engine table."""

    def __init__(self, hass: HomeAssistant, battery: BatteryConfig) -> None:
        """Start with a fresh learner (async_load reads the Store)."""
        self.hass = hass
        self.battery = battery
        self.learner = BatteryLearner()
        self.store = _store(hass, battery.subentry_id)
        self.table: EfficiencyTable | None = None  # what the engine gets; None: the default
        self.refreshed: float | None = None  # when table was last recomputed
        self.in_force: tuple[Mode, int] = (Mode.STOP, 0)
        self.steady_since = -math.inf  # unknown until the first cycle: not settled
        self.last_sample: float | None = None
        self.verdict: Verdict | None = None
        self._save_pending = False
        self.removed = False  # its battery was removed: the Store is never written again

    @property
    def learns(self) -> bool:
        """Return whether the battery has both sensors a sample needs."""
        return (
            Role.AC_POWER in self.battery.entities and Role.BATTERY_POWER in self.battery.entities
        )

    async def async_load(self) -> None:
        """Take what the Store holds; a damaged one is named (log, repair issue).

        Another version's Store is a fresh learner by design. A damaged one is a fresh learner
        too, and written again soon (the issue is not raised again at the next start).
        """
        damaged = False
        try:
            data: Any = await self.store.async_load()
        except NotImplementedError:  # another version of the Store: no migration, afresh
            LOGGER.info("The learned losses of %s start afresh (another version)", self.title)
            data = None
        except Exception:  # a corrupt file must not keep the entry from loading
            LOGGER.exception("Could not load the learned losses of %s", self.title)
            data, damaged = None, True
        self.learner, unreadable = learning.read_stored(data)
        if damaged or unreadable:
            LOGGER.warning(
                "The learned losses of %s were damaged; they start again from the default table",
                self.title,
            )
            ir.async_create_issue(
                self.hass,
                DOMAIN,
                self.issue_id,
                is_fixable=False,
                is_persistent=False,
                severity=ir.IssueSeverity.WARNING,
                translation_key=LEARNED_DAMAGED_ISSUE,
                translation_placeholders={"name": self.title},
            )
            self.schedule_save()

    @property
    def title(self) -> str:
        """Return the battery's name."""
        return self.battery.title

    @property
    def issue_id(self) -> str:
        """Return the id of the repair issue of a damaged Store."""
        return f"{LEARNED_DAMAGED_ISSUE}_{self.battery.subentry_id}"

    def delete_issue(self) -> None:
        """Withdraw the damaged-Store issue (the learner was forgotten or removed)."""
        ir.async_delete_issue(self.hass, DOMAIN, self.issue_id)

    def _data(self) -> dict[str, Any]:
        self._save_pending = False
        return self.learner.to_dict()

    def schedule_save(self) -> None:
        """Write the learner SAVE_DELAY_S from the first change since the last write."""
        if not self._save_pending and not self.removed:
            self._save_pending = True
            self.store.async_delay_save(self._data, SAVE_DELAY_S)

    async def async_save(self) -> None:
        """Write the learner now if it learned something since the last write."""
        if self._save_pending and not self.removed:
            await self.store.async_save(self._data())

    async def async_forget(self) -> None:
        """Start again from the default table; the Store goes."""
        self.learner = BatteryLearner()
        self.table = self.refreshed = self.last_sample = None
        self._save_pending = False
        self.delete_issue()
        await self.store.async_remove()

    def observe(self, now: float, commanded: Commanded, reading: BatteryReading) -> None:
        """Learn from this cycle's readings if the gate lets them through."""
        power = commanded.power_for(commanded.mode)
        if (commanded.mode, power) != self.in_force:  # changed by a path we were not told of
            self.told(now, commanded)
        ac = _reading(self._state(Role.AC_POWER))
        dc = _reading(self._state(Role.BATTERY_POWER))
        self.verdict = gate(
            now=now,
            mode=commanded.mode,
            power_w=power,
            steady_since=self.steady_since,
            ac=ac,
            dc=dc,
            last_sample=self.last_sample,
            soc=reading.soc,
            discharge_cutoff=reading.discharge_cutoff,
            available=reading.available,
        )
        if self.verdict is not Verdict.ACCEPTED or ac is None or dc is None:
            return
        self.last_sample = min(ac.time, dc.time)
        if self.learner.observe(Sample(commanded.mode, power, ac.watts, dc.watts)):
            self.schedule_save()

    def told(self, now: float, commanded: Commanded) -> None:
        """Note the setpoint in force; a new one settles from now."""
        setpoint = (commanded.mode, commanded.power_for(commanded.mode))
        if setpoint != self.in_force:
            self.in_force = setpoint
            self.steady_since = now

    def due(self, now: float) -> bool:
        """Return whether the engine's table is due to be recomputed (every REFRESH_S)."""
        return self.refreshed is None or now - self.refreshed >= REFRESH_S

    def engine_table(self, now: float, *, refresh: bool = True) -> EfficiencyTable | None:
        """Return the table for the engine: recomputed when due and refresh allows it."""
        if not refresh or not self.due(now):
            return self.table
        self.refreshed = now
        if self.learner.measured_share() == 0.0:
            self.table = None
        elif (table := rounded(self.learner.table())) != self.table:
            self.table = table
        return self.table

    def _state(self, role: Role) -> State | None:
        entity_id = self.battery.entities.get(role)
        return self.hass.states.get(entity_id) if entity_id else None

    def efficiency_now(self, mode: Mode, power_w: float) -> float | None:
        """Return the learned efficiency at power_w (AC W) in mode (None: stop)."""
        return self.learner.efficiency_at(mode, power_w)

    def attributes(self) -> dict[str, Any]:
        """Return what the sensor shows beside the efficiency."""
        learner = self.learner
        return {
            "measured_share": round(learner.measured_share(), 3),
            "charge_measured_share": round(learner.measured_share(Mode.CHARGE), 3),
            "discharge_measured_share": round(learner.measured_share(Mode.DISCHARGE), 3),
            "charge_factor": round(learner.factor(Mode.CHARGE), 4),
            "discharge_factor": round(learner.factor(Mode.DISCHARGE), 4),
            "charge_samples": list(learner.samples(Mode.CHARGE)),
            "discharge_samples": list(learner.samples(Mode.DISCHARGE)),
            "last_sample": self.verdict.value if self.verdict else None,
        }

    def diagnostics(self) -> dict[str, Any]:
        """Return the learned curve, the table in use and the raw learner."""
        return {
            "battery": self.battery.title,
            "learns": self.learns,
            **self.attributes(),
            "charge_factor_weight": round(self.learner.factor_weight(Mode.CHARGE), 3),
            "discharge_factor_weight": round(self.learner.factor_weight(Mode.DISCHARGE), 3),
            "rejected": self.learner.rejected,
            "learned_table": [list(row) for row in self.learner.table()],
            "engine_table": None if self.table is None else [list(row) for row in self.table],
            "learner": self.learner.to_dict(),
        }


class LearnedLosses:
    """The learned losses of an entry's batteries, and what the engine gets from them."""

    def __init__(self, hass: HomeAssistant, batteries: Sequence[BatteryConfig]) -> None:
        """One LearnedBattery per configured battery (load with async_load)."""
        self.batteries = {b.subentry_id: LearnedBattery(hass, b) for b in batteries}
        self._order = [b.subentry_id for b in batteries]
        self._factors: dict[Mode, float] = dict(SEED_FACTORS)
        self._factors_at: float | None = None

    def __getitem__(self, subentry_id: str) -> LearnedBattery:
        """Return one battery's learned losses."""
        return self.batteries[subentry_id]

    async def async_load(self) -> None:
        """Load every battery's Store."""
        for battery in self.batteries.values():
            await battery.async_load()

    async def async_save(self) -> None:
        """Write what changed since the last write (unload)."""
        for battery in self.batteries.values():
            await battery.async_save()

    async def async_remove_missing(self, configured: Iterable[str]) -> None:
        """Remove the Stores of the batteries no longer configured (a removed subentry).

        The running loop keeps every battery until the reload that follows (its cycles pair
        the learners with its batteries); a removed one's Store is not written again.
        """
        keep = set(configured)
        for subentry_id in [s for s in self.batteries if s not in keep]:
            battery = self.batteries[subentry_id]
            battery.removed = True
            battery.delete_issue()
            await battery.store.async_remove()

    def cycle(
        self,
        now: datetime,
        commanded: Sequence[Commanded],
        readings: Sequence[BatteryReading],
        *,
        learn: bool,
    ) -> list[BatteryReading]:
        """Learn from this cycle (when learn: the loop drives), return the readings to plan on.

        Each reading gets its battery's learned table (None: the settings' default). At most
        one table is recomputed per cycle (``MAX_REFRESHES``): the engine builds a new
        table's curves on first use, about 1 ms each, so eight batteries refreshed together
        would take that cycle's call past 5 ms. The others follow in the next cycles, and
        their refreshes stay spread over the cycles after that.
        """
        stamp = now.timestamp()
        refreshes = MAX_REFRESHES
        result: list[BatteryReading] = []
        for subentry_id, told, reading in zip(self._order, commanded, readings, strict=False):
            battery = self.batteries[subentry_id]
            if learn and battery.learns:
                battery.observe(stamp, told, reading)
            if battery.due(stamp) and refreshes > 0:
                refreshes -= 1
                table = battery.engine_table(stamp)
            else:
                table = battery.engine_table(stamp, refresh=False)
            result.append(replace(reading, efficiency_table=table))
        return result

    def told(self, now: datetime, commanded: Sequence[Commanded]) -> None:
        """Note the setpoints in force after this cycle's writes."""
        for subentry_id, told in zip(self._order, commanded, strict=False):
            self.batteries[subentry_id].told(now.timestamp(), told)

    def strategy_settings(self, settings: StrategySettings, now: datetime) -> StrategySettings:
        """Return settings with the fleet's correction factors (refreshed every REFRESH_S)."""
        stamp = now.timestamp()
        if self._factors_at is None or stamp - self._factors_at >= REFRESH_S:
            self._factors_at = stamp
            self._factors = fleet_factors(b.learner for b in self.batteries.values())
        if self._factors == SEED_FACTORS:
            return settings
        discharge, charge = self._factors[Mode.DISCHARGE], self._factors[Mode.CHARGE]
        return replace(
            settings,
            discharge_factor=discharge,
            charge_factor=charge,
            discharge_release_factor=1.0 / discharge,
            charge_release_factor=1.0 / charge,
        )

    async def async_forget(self, subentry_id: str) -> None:
        """Forget what one battery taught; the fleet's factors are judged again."""
        await self.batteries[subentry_id].async_forget()
        self._factors_at = None

    def diagnostics(self) -> dict[str, Any]:
        """Return every battery's learned losses and the factors in use."""
        return {
            "factors_in_use": {mode.value: round(f, 4) for mode, f in self._factors.items()},
            "batteries": [self.batteries[s].diagnostics() for s in self._order],
        }


async def async_remove_stores(hass: HomeAssistant, subentry_ids: Iterable[str]) -> None:
    """Remove the learned-loss Stores of batteries (the entry is removed)."""
    for subentry_id in subentry_ids:
        ir.async_delete_issue(hass, DOMAIN, f"{LEARNED_DAMAGED_ISSUE}_{subentry_id}")
        await _store(hass, subentry_id).async_remove()
