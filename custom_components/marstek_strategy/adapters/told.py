"""What each battery was told: the one owner of the loop's ``commanded`` list.

It reads the list from the entities on first use and is the one place that changes it: the
writer tells it what a write that went through set (``written``), the read-back what it
adopted from a battery's reports (``adopt``), the loop and its watchers when a battery is
taken again as its entities say (``reread``, ``changed_by_hand``) or forgotten (``forget``).
The removed batteries whose stop is still to be made (orphans) are read again for each round
of stops (``with_orphans``).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import replace

from ..core.control import Commanded
from ..core.model import Plan
from .batteries import BatteryConfig
from .reader import Reader


class Told:
    """Own what each configured battery (then each orphan) was told; None until first needed."""

    def __init__(
        self,
        reader: Reader,
        batteries: Sequence[BatteryConfig],
        orphans: Sequence[BatteryConfig] = (),
    ) -> None:
        """Hold nothing yet: the first ``now()`` reads the entities."""
        self._reader = reader
        self._batteries = list(batteries)
        self._orphans = list(orphans)
        self._commanded: list[Commanded] | None = None
        self._orphans_told: list[Commanded] = []
        self._changed = False  # a battery changed by hand since the last plan

    @property
    def commanded(self) -> Sequence[Commanded] | None:
        """Return what each battery was told (None until the first cycle)."""
        return self._commanded

    def now(self) -> Sequence[Commanded]:
        """Return what is commanded; on the first call, what the entities say now."""
        return self._list()

    def _list(self) -> list[Commanded]:
        if self._commanded is None:
            self._commanded = self._reader.commanded(self._batteries)
        return self._commanded

    def with_orphans(self) -> list[Commanded]:
        """Return what every target is commanded, the orphans read again from their entities."""
        self._orphans_told = self._reader.commanded(self._orphans)
        return [*self.now(), *self._orphans_told]

    def at(self, index: int) -> Commanded:
        """Return what target index (a battery, then an orphan) is commanded."""
        commanded = self.now()
        if index < len(commanded):
            return commanded[index]
        return self._orphans_told[index - len(commanded)]

    def written(self, index: int, commanded: Commanded) -> None:
        """Take what a write that went through set on target index."""
        told = self._list()
        if index < len(told):
            told[index] = commanded
        else:
            self._orphans_told[index - len(told)] = commanded

    def adopt(self, index: int, commanded: Commanded) -> None:
        """Take what the read-back adopted from battery index's reports."""
        self.written(index, commanded)

    def forget(self) -> None:
        """Read the entities again next time (a dry run, or a loop switched back on)."""
        self._commanded = None

    def reread(self, index: int) -> None:
        """Take battery index as its entities say (back, or changed by someone else)."""
        if self._commanded is not None and index < len(self._commanded):
            self._commanded[index] = self._reader.commanded([self._batteries[index]])[0]

    def changed_by_hand(self, index: int) -> None:
        """Take battery index as its entities say after someone else changed it."""
        self.reread(index)
        self._changed = True

    def take_changed(self) -> bool:
        """Return whether a battery was changed by hand since the last call."""
        changed, self._changed = self._changed, False
        return changed


def as_told(plan: Plan, told_w: Callable[[int, str, int], int]) -> Plan:
    """Return plan with each power down to its number's step (what the battery is told)."""
    setpoints = tuple(
        replace(setpoint, power_w=told)
        if (told := told_w(index, setpoint.mode, setpoint.power_w)) != setpoint.power_w
        else setpoint
        for index, setpoint in enumerate(plan.setpoints)
    )
    return plan if setpoints == plan.setpoints else replace(plan, setpoints=setpoints)
