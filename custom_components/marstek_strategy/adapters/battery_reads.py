"""Read every battery after the read-back compared it with what it was told.

The read-back (``core/readback.py`` through ``inputs.ReadbackInput``) may take a battery out
or adopt what it reports (``told.adopt``); a battery whose writes time out (the writer's
``not_answering``) is out too; a battery back after its entities were gone is
taken as its entities say (``told.reread``). Each battery that stops or starts taking part
is logged once.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Final

from ..const import LOGGER
from ..core import model
from ..core.readings import Problem, Settings
from .batteries import BatteryConfig
from .inputs import ReadbackInput
from .reader import MeterReading, Reader
from .told import Told
from .writer import Writer

_UNREACHABLE: Final = (Problem.ENTITY_UNAVAILABLE, Problem.ENTITY_MISSING)


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
                self.reader.monotonic(),
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
