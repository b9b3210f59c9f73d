"""The grid mode in force and the quarter-hour peak meter, both kept in the entry's store.

The deciding is pure (``core/grid_mode.py``, ``core/peak_cap.py``); this keeps their state
across cycles and restarts and gives the cycle the plan a grid mode steers to.
"""

from __future__ import annotations

from collections.abc import Sequence

from homeassistant.util import dt as dt_util

from ..const import LOGGER
from ..core import grid_mode
from ..core.grid_mode import GridRequest
from ..core.model import BatteryReading, Plan, StrategySettings
from ..core.peak_cap import PeakMeter
from .storage import EntryStore


class GridModes:
    """The request in force, why the last one ended, the peak meter and the last steering."""

    def __init__(self, store: EntryStore, peak_cap_w: float) -> None:
        """Take the request and the peak meter the store kept."""
        self.store = store
        self.peak_cap_w = peak_cap_w
        self.request = store.grid_request
        self.peak: PeakMeter = store.peak
        self.steered: grid_mode.Steered | None = None  # the last cycle's
        self.ending: grid_mode.Ending | None = None  # why the last request ended

    async def async_set(self, request: GridRequest) -> None:
        """Put request in force: stored first (it is not in force unless stored)."""
        await self.store.async_save_grid_request(request)
        self.request = request
        self.ending = None
        LOGGER.info(
            "Grid mode %s (%s W) until %s",
            request.mode,
            f"{request.power_w:g}",
            request.until.isoformat() if request.until else "-",
        )

    async def async_expire(self, soc: float | None) -> None:
        """Return to zero when the request is over (its time, or its target state of charge)."""
        ending = grid_mode.ended(self.request, dt_util.utcnow(), soc)
        if ending is None:
            return
        LOGGER.info("Grid mode %s ended (%s): back to zero", self.request.mode, ending)
        self.request = GridRequest()
        self.ending = ending
        try:  # a request stored past its end is over after a restart as well
            await self.store.async_save_grid_request(self.request)
        except Exception:
            LOGGER.exception("Storing the end of the grid mode failed")

    def count_peak(self, grid_w: float) -> None:
        """Count a meter reading in the quarter-hour peak meter (stored at each quarter's end)."""
        before = self.peak.quarter
        self.peak = self.peak.update(dt_util.now(), grid_w)
        if self.peak.quarter != before:
            self.store.save_peak(self.peak)
        else:
            self.store.peak = self.peak

    def import_allowed_w(self) -> float | None:
        """Return the most the grid may import now under the peak cap (None: no cap)."""
        if self.peak_cap_w <= 0:
            return None
        return self.peak.allowed_w(dt_util.now(), self.peak_cap_w)

    def steer(
        self,
        grid_w: float,
        readings: Sequence[BatteryReading],
        previous: Plan,
        strategy: StrategySettings,
        zero_target_w: float,
        *,
        least_change_w: float = 0.0,
    ) -> grid_mode.Steered:
        """Return the plan (and its phase views) the request in force steers to."""
        self.steered = grid_mode.steer(
            self.request,
            grid_w,
            readings,
            previous,
            strategy,
            zero_target_w=zero_target_w,
            import_allowed_w=self.import_allowed_w(),
            least_change_w=least_change_w,
        )
        return self.steered
