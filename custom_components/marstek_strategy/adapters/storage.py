"""What the integration keeps of an entry across reloads and restarts (a Store).

The user's settings (so that a disabled settings entity or device, or an entry unloaded for
longer than restore state keeps states, does not reset them) and the stops still to be made
(so that a reload or a restart does not forget a battery left running); the grid mode in
force (so that its end holds across a restart) and the quarter-hour peak meter.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import asdict, replace
import inspect
import sys
from typing import Any, NamedTuple

from homeassistant.core import HomeAssistant
from homeassistant.helpers import entity_registry as er, issue_registry as ir
from homeassistant.helpers.storage import Store

from ..const import DOMAIN, LOGGER
from ..core.grid_mode import MAX_POWER_W, GridRequest
from ..core.model import Strategy
from ..core.peak_cap import PeakMeter
from ..core.readings import (
    CHARGE_CUTOFF_RANGE,
    DISCHARGE_CUTOFF_RANGE,
    GRID_TARGET_LIMIT_W,
    MAX_POWER_W as BATTERY_MAX_POWER_W,
    BatterySettings,
    Participation,
    Settings,
)
from ..core.stored import number as stored_number
from .batteries import BatteryConfig

#: 1: settings and pending stops; 2: the same, each item validated on its own (a damaged
#: item is dropped and named, the rest kept). Version 1 data is read as version 2.
STORAGE_VERSION = 2
SAVE_DELAY_S = 1.0
DAMAGED_ISSUE = "store_damaged"
#: The range of each stored number: its entity's (a value outside it is damaged).
RANGES: dict[str, tuple[float, float]] = {
    "grid_target_w": (-GRID_TARGET_LIMIT_W, GRID_TARGET_LIMIT_W),
    "requested_power_w": (0.0, MAX_POWER_W),
    "charge_cutoff": CHARGE_CUTOFF_RANGE,
    "discharge_cutoff": DISCHARGE_CUTOFF_RANGE,
    "max_charge_w": (0.0, BATTERY_MAX_POWER_W),
    "max_discharge_w": (0.0, BATTERY_MAX_POWER_W),
}


def _key(entry_id: str) -> str:
    return f"{DOMAIN}.{entry_id}"


def _ranged(
    values: Mapping[str, Any], key: str, default: float, dropped: list[str], prefix: str
) -> float:
    """Return values[key] when it is a number within RANGES[key] (its entity's range).

    Absent: the default. Anything else (a text, NaN, a value no entity could have set, such
    as a grid target of -1 MW) is named in dropped (prefix.key) and gives the default: a
    store is never a way past the ranges the entities enforce.
    """
    if values.get(key) is None:
        return default
    value = stored_number(values[key], *RANGES[key])
    if value is None:
        dropped.append(f"{prefix}.{key}")
        return default
    return value


def settings_from_dict(data: Mapping[str, Any], dropped: list[str] | None = None) -> Settings:
    """Return the settings kept in the store (unknown or broken values: the defaults).

    Each value and each battery's settings stand on their own: one that cannot be read is
    named in dropped (when given) and the rest is kept.
    """
    dropped = [] if dropped is None else dropped
    defaults = Settings()
    strategy = data.get("strategy", defaults.strategy)
    if not isinstance(strategy, str) or strategy not in set(Strategy):
        dropped.append("settings.strategy")
        strategy = defaults.strategy
    enabled = data.get("enabled", defaults.enabled)
    if not isinstance(enabled, bool):
        dropped.append("settings.enabled")
        enabled = defaults.enabled
    settings = Settings(
        enabled=enabled,
        strategy=Strategy(strategy),
        grid_target_w=_ranged(data, "grid_target_w", defaults.grid_target_w, dropped, "settings"),
        requested_power_w=_ranged(
            data, "requested_power_w", defaults.requested_power_w, dropped, "settings"
        ),
    )
    batteries = data.get("batteries", {})
    if not isinstance(batteries, Mapping):
        dropped.append("settings.batteries")
        batteries = {}
    for subentry_id, values in batteries.items():
        name = f"settings.batteries.{subentry_id}"
        if not isinstance(values, Mapping):
            dropped.append(name)
            continue
        base = BatterySettings()
        participation = values.get("participation")
        battery = BatterySettings(
            charge_cutoff=_ranged(values, "charge_cutoff", base.charge_cutoff, dropped, name),
            discharge_cutoff=_ranged(
                values, "discharge_cutoff", base.discharge_cutoff, dropped, name
            ),
            max_charge_w=int(_ranged(values, "max_charge_w", base.max_charge_w, dropped, name)),
            max_discharge_w=int(
                _ranged(values, "max_discharge_w", base.max_discharge_w, dropped, name)
            ),
            participation=Participation(participation)
            if isinstance(participation, str) and participation in set(Participation)
            else base.participation,
        )
        if participation is not None and battery.participation != participation:
            dropped.append(f"{name}.participation")
        if battery.charge_cutoff < battery.discharge_cutoff:
            dropped.append(f"{name}.cutoffs")
            battery.charge_cutoff, battery.discharge_cutoff = (
                base.charge_cutoff,
                base.discharge_cutoff,
            )
        settings.batteries[str(subentry_id)] = battery
    return settings


def _pending_item(item: Any) -> BatteryConfig | None:
    """Return one stored pending stop (None: it cannot be read)."""
    if not (
        isinstance(item, Mapping)
        and isinstance(item.get("entities"), Mapping)
        and all(isinstance(entity_id, str) for entity_id in item["entities"].values())
        and isinstance(item.get("work_mode"), str | None)
    ):
        return None
    try:
        return BatteryConfig.from_dict(item)
    except (KeyError, ValueError, TypeError, AttributeError):
        return None


def pending_from_list(data: Any, dropped: list[str]) -> dict[str, BatteryConfig]:
    """Return the pending stops kept in the store; each damaged one is named in dropped."""
    pending: dict[str, BatteryConfig] = {}
    if not isinstance(data, list):
        dropped.append("pending")
        return pending
    for index, item in enumerate(data):
        battery = _pending_item(item)
        if battery is None:
            dropped.append(f"pending[{index}]")
            continue
        if len(battery.entities) < len(item["entities"]):  # a role this release does not know
            dropped.append(f"pending[{index}].entities")
        pending[battery.subentry_id] = battery
    return pending


class Stored(NamedTuple):
    """What a store's data holds, each item read on its own (``read_store``)."""

    settings: Settings | None  # None: nothing stored yet
    pending: dict[str, BatteryConfig]
    dropped: list[str]  # what could not be read
    grid_request: GridRequest  # a broken one: no request (zero)
    peak: PeakMeter  # a broken one: a fresh meter


def read_store(data: Any) -> Stored:
    """Return the settings, pending stops, grid request and peak meter of a store's data.

    Item by item: what cannot be read is named in dropped and the rest is kept. A broken
    grid request is no request (the hub holds the grid at its target), a broken peak meter
    starts again. Nothing stored (None) gives nothing and drops nothing; data that is no
    mapping is dropped whole.
    """
    dropped: list[str] = []
    if data is None:
        return Stored(None, {}, dropped, GridRequest(), PeakMeter())
    if not isinstance(data, Mapping):
        return Stored(None, {}, ["store"], GridRequest(), PeakMeter())
    settings: Settings | None = None
    stored = data.get("settings")
    if isinstance(stored, Mapping):
        settings = settings_from_dict(stored, dropped)
    elif stored is not None:
        dropped.append("settings")
    pending = pending_from_list(data.get("pending", []), dropped)
    grid_request = GridRequest.parse(data.get("grid_mode"))
    if grid_request is None and data.get("grid_mode") is not None:
        dropped.append("grid_mode")
    peak = PeakMeter.parse(data.get("peak"))
    if peak is None and data.get("peak") is not None:
        dropped.append("peak")
    return Stored(settings, pending, dropped, grid_request or GridRequest(), peak or PeakMeter())


def any_version() -> dict[str, Any]:
    """Return the Store arguments that let any stored version reach its migration.

    Home Assistant 2026 refuses a newer version before migrating unless told how far it may
    read (max_readable_version, unknown to 2025.4, where the migration sees every version).
    """
    if "max_readable_version" in inspect.signature(Store.__init__).parameters:
        return {"max_readable_version": sys.maxsize}
    return {}


class _EntryStore(Store[dict[str, Any]]):
    """The entry's Store, with its migration (any version is read item by item)."""

    def __init__(self, hass: HomeAssistant, key: str) -> None:
        """Open the Store of key."""
        super().__init__(hass, STORAGE_VERSION, key, **any_version())

    async def _async_migrate_func(
        self, old_major_version: int, old_minor_version: int, old_data: dict[str, Any]
    ) -> dict[str, Any]:
        """Return old data as the current version: every version is read item by item.

        A newer version (a release rolled back) is read the same way: what this release
        understands is kept (its pending stops above all), what it does not is dropped.
        """
        if old_major_version > STORAGE_VERSION:
            LOGGER.warning(
                "The store %s was written by a newer version (%s) of the integration; "
                "reading what this version understands (its pending stops are made)",
                self.key,
                old_major_version,
            )
        return old_data


class StoreClosedError(Exception):
    """A write asked of a store whose entry was unloaded (a reload in between)."""


class EntryStore:
    """The store of one entry: its settings and its pending stops."""

    def __init__(self, hass: HomeAssistant, entry_id: str, title: str = "") -> None:
        """Open the entry's store (load it with async_load)."""
        self.hass = hass
        self.entry_id = entry_id
        self.title = title or entry_id
        self._store = _EntryStore(hass, _key(entry_id))
        self.settings: Settings | None = None  # None: nothing stored yet
        self.pending: dict[str, BatteryConfig] = {}
        self.grid_request = GridRequest()
        self.peak = PeakMeter()
        self.dropped: list[str] = []  # what the last load could not read
        self.closed = False  # unloaded: the next entry's store owns the file

    def close(self) -> None:
        """Write nothing more (after the unload's save).

        A call queued behind the loop's lock during a reload would otherwise write the old
        entry's data over what the new entry loaded (a requested power, the pending stops).
        """
        self.closed = True

    def _closed(self, what: str) -> bool:
        """Return whether the store is closed (and say what was not written)."""
        if self.closed:
            LOGGER.debug("Not stored for %s (unloaded): %s", self.title, what)
        return self.closed

    async def async_load(self) -> None:
        """Load what was stored: every item that can be read; what cannot is named.

        A damaged store never keeps the entry from loading: what is dropped is logged and
        raised as a repair issue, and the pending stops that could be read are still made.
        """
        dropped: list[str] = []
        try:
            data: Any = await self._store.async_load()
        except Exception:  # a corrupt file must not keep the entry from loading
            LOGGER.exception("Could not load the stored settings of %s", self.title)
            data, dropped = None, ["store"]
        stored = read_store(data)
        self.settings = stored.settings
        self.pending = {key: self._followed(battery) for key, battery in stored.pending.items()}
        self.grid_request, self.peak = stored.grid_request, stored.peak
        self.dropped = dropped = dropped + stored.dropped
        if dropped:
            LOGGER.warning(
                "The stored data of %s was damaged; dropped: %s (the rest is kept)",
                self.title,
                ", ".join(dropped),
            )
            ir.async_create_issue(
                self.hass,
                DOMAIN,
                f"{DAMAGED_ISSUE}_{self.entry_id}",
                is_fixable=False,
                is_persistent=False,
                severity=ir.IssueSeverity.WARNING,
                translation_key=DAMAGED_ISSUE,
                translation_placeholders={"name": self.title, "dropped": ", ".join(dropped)},
            )

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
        if not self._closed("settings"):
            self._store.async_delay_save(self._data, SAVE_DELAY_S)

    async def async_save_pending(self, pending: Iterable[BatteryConfig]) -> None:
        """Keep the batteries whose stop is still to be made; written at once.

        With the registry ids of their entities: renames are followed by them.
        """
        self.pending = {battery.subentry_id: self._with_ids(battery) for battery in pending}
        if not self._closed("pending stops"):
            await self._store.async_save(self._data())

    async def async_save_grid_request(self, grid_request: GridRequest) -> None:
        """Keep the grid mode in force; written at once (its end must survive a restart).

        A request that could not be written is not kept either: a later save (unload, the
        peak meter) would otherwise store the request the caller was told was refused.
        """
        if self._closed("grid mode"):
            raise StoreClosedError(f"{self.title} was unloaded; call again")
        before, self.grid_request = self.grid_request, grid_request
        try:
            await self._store.async_save(self._data())
        except BaseException:
            self.grid_request = before
            raise

    def save_peak(self, peak: PeakMeter) -> None:
        """Keep the peak meter; written a moment later (and when Home Assistant stops)."""
        self.peak = peak
        if not self._closed("peak"):
            self._store.async_delay_save(self._data, SAVE_DELAY_S)

    async def async_save(self) -> None:
        """Write everything now (on unload: the running quarter hour goes with it)."""
        if not self._closed("everything"):
            await self._store.async_save(self._data())

    def _with_ids(self, battery: BatteryConfig) -> BatteryConfig:
        """Return battery with the registry id of each of its entities that is registered."""
        registry = er.async_get(self.hass)
        ids = dict(battery.registry_ids)
        for role, entity_id in battery.entities.items():
            if (entry := registry.async_get(entity_id)) is not None:
                ids[role] = entry.id
        return replace(battery, registry_ids=ids)

    def _followed(self, battery: BatteryConfig) -> BatteryConfig:
        """Return battery with its entities as the registry names them now (renames)."""
        registry = er.async_get(self.hass)
        entities = dict(battery.entities)
        for role, registry_id in battery.registry_ids.items():
            entry = registry.async_get(registry_id)
            if entry is not None and entities.get(role) != entry.entity_id:
                LOGGER.info(
                    "Pending stop of %s: %s is now %s",
                    battery.title,
                    entities.get(role),
                    entry.entity_id,
                )
                entities[role] = entry.entity_id
        return replace(battery, entities=entities)

    async def async_follow_rename(self, old_entity_id: str, new_entity_id: str) -> bool:
        """Point the pending stops at a renamed entity; return whether one used it."""
        changed = False
        for subentry_id, battery in list(self.pending.items()):
            if old_entity_id in battery.entities.values():
                entities = {
                    role: new_entity_id if entity_id == old_entity_id else entity_id
                    for role, entity_id in battery.entities.items()
                }
                self.pending[subentry_id] = replace(battery, entities=entities)
                changed = True
        if changed:
            try:  # the reload that follows finds the new ids by the registry ids anyway
                await self.async_save_pending(self.pending.values())
            except Exception:
                LOGGER.exception("Could not keep the renamed pending stops in the store")
        return changed


async def async_remove_store(hass: HomeAssistant, entry_id: str) -> None:
    """Remove an entry's store with the entry.

    A stop still owed (its board was offline) cannot be made by anyone once the entry is
    gone: the log names those batteries, which may still charge or discharge.
    """
    store = _EntryStore(hass, _key(entry_id))
    try:
        pending = read_store(await store.async_load()).pending
    except Exception:  # a damaged store names nothing; it goes all the same
        pending = {}
    if pending:
        LOGGER.warning(
            "Removed while %s could not be stopped (offline): it may still charge or "
            "discharge; stop it by hand",
            ", ".join(sorted(battery.title for battery in pending.values())),
        )
    await store.async_remove()
    ir.async_delete_issue(hass, DOMAIN, f"{DAMAGED_ISSUE}_{entry_id}")
