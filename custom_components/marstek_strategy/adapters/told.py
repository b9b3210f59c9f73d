"""What each battery was told: one owner of the loop's ``commanded`` list.

The coordinator asks it for the list (read from the entities on first use), and it is the
one place that forgets the list or takes a battery again as its entities say. The writer
and the read-back still update the list it hands out in place (a write that went through,
a report the read-back adopted).
"""

from __future__ import annotations

from collections.abc import Sequence

from ..core.control import Commanded
from .batteries import BatteryConfig
from .reader import Reader


class Told:
    """Own what each configured battery was told; None until the first cycle needs it."""

    def __init__(self, reader: Reader, batteries: Sequence[BatteryConfig]) -> None:
        """Hold nothing yet: the first ``now()`` reads the entities."""
        self._reader = reader
        self._batteries = list(batteries)
        self.commanded: list[Commanded] | None = None

    def now(self) -> list[Commanded]:
        """Return what is commanded; on the first call, what the entities say now."""
        if self.commanded is None:
            self.commanded = self._reader.commanded(self._batteries)
        return self.commanded

    def forget(self) -> None:
        """Read the entities again next time (a dry run, or a loop switched back on)."""
        self.commanded = None

    def take(self, commanded: Sequence[Commanded]) -> None:
        """Take commanded as told (after the stops; orphans beyond the batteries dropped)."""
        self.commanded = list(commanded[: len(self._batteries)])

    def reread(self, index: int) -> None:
        """Take battery index as its entities say (back, or changed by someone else)."""
        if self.commanded is not None and index < len(self.commanded):
            self.commanded[index] = self._reader.commanded([self._batteries[index]])[0]
