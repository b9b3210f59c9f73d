"""Read every battery after the read-back compared it with what it was told.

The read-back (``core/readback.py`` through ``inputs.ReadbackInput``) may take a battery out
or adopt what it reports (``told.adopt``); a battery whose writes time out (the writer's
``not_answering``) is out too; a battery back after its entities were gone is
taken as its entities say (``told.reread``); a running battery whose measured sensors all
stayed silent after it was told a change (a hung board that Home Assistant still shows as
available) is out until one of them reports again (``core/frozen.py``). Each battery that
stops or starts taking part is logged once.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Final

from homeassistant.util import dt as dt_util

from ..const import LOGGER, Role
from ..core import frozen, model
from ..core.control import Commanded
from ..core.readings import Problem, Settings
from .batteries import BatteryConfig
from .inputs import ReadbackInput
from .profiles import profile_named
from .reader import MeterReading, Reader
from .told import Told
from .writer import Writer

_UNREACHABLE: Final = (Problem.ENTITY_UNAVAILABLE, Problem.ENTITY_MISSING)
#: The sensors the board reads from the battery (never written by anyone): their reports say
#: the board still reads it. Control entities are left out: some connectors echo our writes.
MEASURED_ROLES: Final = (Role.AC_POWER, Role.BATTERY_POWER, Role.SOC, Role.INVERTER_STATE)


class BatteryReads:
    """The batteries' readings each cycle, and the problem each one had last."""

    def __init__(
        self,
        reader: Reader,
        batteries: Sequence[BatteryConfig],
        *,
        readback: ReadbackInput,
        told: Told,
        writer: Writer,
        has_rs485: Sequence[bool],
    ) -> None:
        """Read batteries through reader; the read-back compares them with told."""
        self.reader = reader
        self.batteries = list(batteries)
        self.readback = readback
        self.told = told
        self.writer = writer  # its own contexts (the read-back logs who wrote); who answers
        self.has_rs485 = list(has_rs485)
        self._problems: dict[str, Problem | None] = {}
        self._quiet = [frozen.Quiet() for _ in self.batteries]
        self._frozen_s = [profile_named(battery.connector).frozen_s for battery in self.batteries]
        self._steady_s = [  # an integration that rewrites every poll: judged as a change
            profile.steady_s if profile.steady_s is not None else profile.frozen_s
            for profile in (profile_named(battery.connector) for battery in self.batteries)
        ]

    @property
    def followed(self) -> list[str]:
        """Return every battery's measured sensors (their reports go to the reader's clock)."""
        return [
            entity_id
            for battery in self.batteries
            for role in MEASURED_ROLES
            if (entity_id := battery.entities.get(role)) is not None
        ]

    def _reported_at(
        self, battery: BatteryConfig, now: float, roles: Sequence[Role] = MEASURED_ROLES
    ) -> float | None:
        """Return the monotonic time of the newest report of its sensors in roles (None: none)."""
        clock, newest = self.reader.clock, None
        for role in roles:
            if (entity_id := battery.entities.get(role)) is None:
                continue
            if state := self.reader.hass.states.get(entity_id):  # before a first report seen
                clock.seed(entity_id, now, (dt_util.utcnow() - state.last_reported).total_seconds())
            if (age := clock.latest_age(entity_id, now)) is not None:
                newest = now - age if newest is None else max(newest, now - age)
        return newest

    def frozen(self, commanded: Sequence[Commanded]) -> list[bool]:
        """Return whether each battery's readings froze after it was told a change (frozen.py)."""
        now = self.reader.monotonic()
        result = []
        for index, battery in enumerate(self.batteries):
            told = commanded[index]
            told_w = told.power_for(told.mode)
            signed_w = -told_w if told.mode is model.Mode.CHARGE else told_w  # reversal: a change
            is_frozen, self._quiet[index], change = frozen.judge(
                self._quiet[index],
                reported_at=self._reported_at(battery, now),
                told_w=signed_w,
                now=now,
                limit_s=self._frozen_s[index],
                steady_s=self._steady_s[index],
            )
            if change is frozen.Thaw.FROZE:
                LOGGER.warning(
                    "Battery %s: none of its sensors has reported for over %.0f s since it was "
                    "told a change, or %.0f s while it ran steadily (now %d W; a hung board?); "
                    "stopped, its power counted as unknown until they report again",
                    battery.title,
                    self._frozen_s[index],
                    self._steady_s[index],
                    told_w,
                )
            elif change is frozen.Thaw.FRESH:
                LOGGER.info("Battery %s: its sensors report again", battery.title)
            result.append(is_frozen)
        return result

    def read(
        self, meter: MeterReading, settings: Settings, *, dry_run: bool
    ) -> tuple[list[model.BatteryReading], list[Problem | None], bool]:
        """Return each battery's reading and problem, and whether one was taken anew.

        A battery back after its entities were gone, or one whose reports the read-back
        adopted (it drifted, or runs untold), is taken as it is.
        """
        excluded: list[Problem | None] = [None] * len(self.batteries)
        resynced = False
        if not dry_run:  # nothing was told in a dry run: nothing to compare
            excluded, adopted = self.readback.check(
                lambda index: self.reader.states(self.batteries[index]),
                self.has_rs485,
                self.told.now(),
                self.writer.own_contexts,
                now := self.reader.monotonic(),
                ac_reported=lambda index: self._reported_at(
                    self.batteries[index], now, (Role.AC_POWER,)
                ),
            )
            for index, commanded in adopted.items():
                self.told.adopt(index, commanded)
            resynced = bool(adopted)
            # Writes that time out (writer.py): not counted on; what it was told still flows.
            silent = self.writer.not_answering
            excluded = [
                problem or (Problem.NOT_RESPONDING if index in silent else None)
                for index, problem in enumerate(excluded)
            ]
            # Readings that froze while it runs: steered blind, so out (counted as unknown).
            quiet = self.frozen(self.told.now())
            excluded = [
                problem or (Problem.READINGS_FROZEN if quiet[index] else None)
                for index, problem in enumerate(excluded)
            ]
        else:
            self._quiet = [frozen.Quiet() for _ in self.batteries]  # nothing told in a dry run
        readings, problems = [], []
        for index, battery in enumerate(self.batteries):
            battery_settings = settings.batteries[battery.subentry_id]
            reading, problem = self.reader.read_battery(
                battery, battery_settings, meter, excluded[index]
            )
            readings.append(reading)
            problems.append(problem)
            before = self._problems.get(battery.subentry_id)
            if problem is None and before in _UNREACHABLE:
                self.told.reread(index)
                resynced = True
            if problem != before:
                self._problems[battery.subentry_id] = problem
                if problem is not None:
                    LOGGER.info("Battery %s takes no part: %s", battery.title, problem)
                else:
                    LOGGER.info("Battery %s takes part again", battery.title)
        return readings, problems, resynced
