"""The loop's timer: one pending call of the next cycle, cancelled on shutdown."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime

from homeassistant.core import CALLBACK_TYPE, HassJob, HomeAssistant
from homeassistant.helpers.event import async_call_later

from ..const import DOMAIN


class CycleTimer:
    """Call fired once, delay_s after the last ``schedule``; a new schedule replaces it."""

    def __init__(self, hass: HomeAssistant, fired: Callable[[], Awaitable[None]]) -> None:
        """Hold no call yet."""
        self._hass = hass
        self._fired = fired
        self._unsub: CALLBACK_TYPE | None = None

    def schedule(self, delay_s: float) -> None:
        """Run the next cycle after delay_s (replacing any pending one)."""
        self.cancel()
        self._unsub = async_call_later(
            self._hass,
            delay_s,
            HassJob(self._async_fire, f"{DOMAIN} cycle", cancel_on_shutdown=True),
        )

    def cancel(self) -> None:
        """Drop the pending call, if any."""
        if self._unsub is not None:
            self._unsub()
            self._unsub = None

    async def _async_fire(self, _now: datetime) -> None:
        self._unsub = None
        await self._fired()
