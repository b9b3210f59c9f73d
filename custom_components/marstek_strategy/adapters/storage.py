"""What the integration keeps of an entry across reloads and restarts (a Store).

The user's settings (so that a disabled settings entity or device, or an entry unloaded for
longer than restore state keeps states, does not reset them) and the stops still to be made
(so that a reload or a restart does not forget a battery left running); the grid mode in
force (so that its end holds across a restart) and the quarter-hour peak meter.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import asdict
import math
from typing import Any

from homeassistant.core import HomeAssistant
from homeassistant.helpers.storage import Store

from ..const import DOMAIN, LOGGER
from ..core.grid_mode import MAX_POWER_W, GridRequest
from ..core.model import Strategy
from ..core.peak_cap import PeakMeter
from ..core.readings import BatterySettings, Participation, Settings
from .batteries import BatteryConfig

STORAGE_VERSION = 1
SAVE_DELAY_S = 1.0


def _key(entry_id: str) -> str:
    return f"{DOMAIN}.{entry_id}"


def _finite(value: Any, default: float) -> float:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return default
    return number if math.isfinite(number) else default


def settings_from_dict(data: Mapping[str, Any]) -> Settings:
    """Return the settings kept in the store (unknown or broken values: the defaults)."""
    defaults = Settings()
    strategy = data.get("strategy")
    settings = Settings(
        enabled=bool(data.get("enabled", defaults.enabled)),
        strategy=Strategy(strategy) if strategy in set(Strategy) else defaults.strategy,
        grid_target_w=_finite(data.get("grid_target_w"), defaults.grid_target_w),
        requested_power_w=min(
            max(_finite(data.get("requested_power_w"), defaults.requested_power_w), 0.0),
            MAX_POWER_W,
        ),
    )
    for subentry_id, values in dict(data.get("batteries", {})).items():
        base = BatterySettings()
        participation = values.get("participation")
        battery = BatterySettings(
            charge_cutoff=_finite(values.get("charge_cutoff"), base.charge_cutoff),
            discharge_cutoff=_finite(values.get("discharge_cutoff"), base.discharge_cutoff),
            max_charge_w=int(_finite(values.get("max_charge_w"), base.max_charge_w)),
            max_discharge_w=int(_finite(values.get("max_discharge_w"), base.max_discharge_w)),
            participation=Participation(participation)
            if participation in set(Participation)
            else base.participation,
        )
        if battery.charge_cutoff < battery.discharge_cutoff:
            battery.charge_cutoff, battery.discharge_cutoff = (
                base.charge_cutoff,
                base.discharge_cutoff,
            )
        settings.batteries[str(subentry_id)] = battery
    return settings


class EntryStore:
    """The store of one entry: its settings and its pending stops."""

    def __init__(self, hass: HomeAssistant, entry_id: str) -> None:
        """Open the entry's store (load it with async_load)."""
        self._store: Store[dict[str, Any]] = Store(hass, STORAGE_VERSION, _key(entry_id))
        self.settings: Settings | None = None  # None: nothing stored yet
        self.pending: dict[str, BatteryConfig] = {}
        self.grid_request = GridRequest()
        self.peak = PeakMeter()

    async def async_load(self) -> None:
        """Load what was stored (a broken store is logged and ignored)."""
        try:
            data = await self._store.async_load()
        except Exception:  # a corrupt file must not keep the entry from loading
            LOGGER.exception("Could not load the stored settings; using the defaults")
            data = None
        if not data:
            return
        if isinstance(data.get("settings"), Mapping):
            self.settings = settings_from_dict(data["settings"])
        for item in data.get("pending", ()):
            try:
                battery = BatteryConfig.from_dict(item)
            except (KeyError, ValueError, TypeError, AttributeError):
                continue
            self.pending[battery.subentry_id] = battery
        self.grid_request = GridRequest.from_dict(data.get("grid_mode"))
        self.peak = PeakMeter.from_dict(data.get("peak"))

    def _data(self) -> dict[str, Any]:
        return {
            "settings": None if self.settings is None else asdict(self.settings),
            "pending": [battery.as_dict() for battery in self.pending.values()],
            "grid_mode": self.grid_request.as_dict(),
            "peak": self.peak.as_dict(),
        }

    def save_settings(self, settings: Settings, battery_ids: Iterable[str]) -> None:
        """Keep settings (of the configured batteries only); written a moment later."""
        ids = set(battery_ids)
        settings.batteries = {k: v for k, v in settings.batteries.items() if k in ids}
        self.settings = settings
        self._store.async_delay_save(self._data, SAVE_DELAY_S)

    async def async_save_pending(self, pending: Iterable[BatteryConfig]) -> None:
        """Keep the batteries whose stop is still to be made; written at once."""
        self.pending = {battery.subentry_id: battery for battery in pending}
        await self._store.async_save(self._data())

    async def async_save_grid_request(self, grid_request: GridRequest) -> None:
        """Keep the grid mode in force; written at once (its end must survive a restart)."""
        self.grid_request = grid_request
        await self._store.async_save(self._data())

    def save_peak(self, peak: PeakMeter) -> None:
        """Keep the peak meter; written a moment later (and when Home Assistant stops)."""
        self.peak = peak
        self._store.async_delay_save(self._data, SAVE_DELAY_S)

    async def async_save(self) -> None:
        """Write everything now (on unload: the running quarter hour goes with it)."""
        await self._store.async_save(self._data())


async def async_remove_store(hass: HomeAssistant, entry_id: str) -> None:
    """Remove an entry's store with the entry."""
    await Store[dict[str, Any]](hass, STORAGE_VERSION, _key(entry_id)).async_remove()
