"""Repair issues for configured entities that leave the registry, and following renames."""

from __future__ import annotations

from collections.abc import Sequence

from homeassistant.config_entries import ConfigEntry
from homeassistant.core import CALLBACK_TYPE, Event, HomeAssistant, callback
from homeassistant.helpers import entity_registry as er, issue_registry as ir
from homeassistant.helpers.event import async_track_entity_registry_updated_event

from .adapters.batteries import BatteryConfig
from .const import (
    CONF_GRID_SENSOR,
    CONF_PHASE_CURRENT_SENSORS,
    CONF_PHASE_SENSORS,
    DOMAIN,
    LOGGER,
)


def _issue_prefix(entry_id: str) -> str:
    """Return the start of an entry's removed-entity issue ids."""
    return f"entity_removed_{entry_id}_"


@callback
def async_delete_issues(hass: HomeAssistant, entry_id: str, keep: set[str] | None = None) -> None:
    """Delete an entry's removed-entity issues (all but keep)."""
    prefix = _issue_prefix(entry_id)
    for domain, issue_id in list(ir.async_get(hass).issues):
        if domain == DOMAIN and issue_id.startswith(prefix) and issue_id not in (keep or ()):
            ir.async_delete_issue(hass, DOMAIN, issue_id)


class Repairs:
    """Watches an entry's configured entities in the entity registry."""

    def __init__(
        self, hass: HomeAssistant, entry: ConfigEntry, batteries: Sequence[BatteryConfig]
    ) -> None:
        """Watch entry's meter entities and its batteries' entities."""
        self.hass = hass
        self.entry = entry
        self.batteries = batteries

    def watched_entities(self) -> dict[str, tuple[str | None, str]]:
        """Return every configured entity id: (subentry id or None, config key)."""
        data = self.entry.data
        watched: dict[str, tuple[str | None, str]] = {
            data[CONF_GRID_SENSOR]: (None, CONF_GRID_SENSOR)
        }
        for key in (*CONF_PHASE_SENSORS, *CONF_PHASE_CURRENT_SENSORS):
            if entity_id := data.get(key):
                watched[entity_id] = (None, key)
        for battery in self.batteries:
            for role, entity_id in battery.entities.items():
                watched[entity_id] = (battery.subentry_id, role.value)
        return watched

    @callback
    def async_watch_registry(self) -> CALLBACK_TYPE:
        """Raise a repair issue when a configured entity leaves the registry."""
        watched = self.watched_entities()
        registry = er.async_get(self.hass)
        keep = {
            self._issue_id(entity_id)
            for entity_id in watched
            if registry.async_get(entity_id) is None
        }
        # Issues of entities that are back, or no longer configured, go.
        async_delete_issues(self.hass, self.entry.entry_id, keep=keep)
        return async_track_entity_registry_updated_event(
            self.hass, list(watched), self._async_registry_updated
        )

    @callback
    def async_check_missing(self) -> None:
        """Raise the issue of every configured entity that is gone now.

        One removed while the entry was not loaded (disabled, or during a restart) sent its
        registry event to nobody. Run once Home Assistant has started: an entity outside the
        registry (YAML, no unique id) counts as gone only when it has no state either.
        """
        registry = er.async_get(self.hass)
        for entity_id in self.watched_entities():
            if registry.async_get(entity_id) is None and self.hass.states.get(entity_id) is None:
                self._create_removed_issue(entity_id)

    def _issue_id(self, entity_id: str) -> str:
        return _issue_prefix(self.entry.entry_id) + entity_id

    @callback
    def _async_registry_updated(self, event: Event[er.EventEntityRegistryUpdatedData]) -> None:
        data = event.data
        entity_id = data["entity_id"]
        if data["action"] == "remove":
            self._create_removed_issue(entity_id)
        elif data["action"] == "create":
            ir.async_delete_issue(self.hass, DOMAIN, self._issue_id(entity_id))
        elif data["action"] == "update" and "old_entity_id" in data:
            self._follow_rename(data["old_entity_id"], entity_id)

    def _create_removed_issue(self, entity_id: str) -> None:
        subentry_id, _key = self.watched_entities()[entity_id]
        owner = self.entry.title
        if subentry_id is not None:
            owner = self.entry.subentries[subentry_id].title
        LOGGER.warning("Configured entity %s was removed (%s)", entity_id, owner)
        ir.async_create_issue(
            self.hass,
            DOMAIN,
            self._issue_id(entity_id),
            is_fixable=False,
            is_persistent=True,
            severity=ir.IssueSeverity.ERROR,
            translation_key="entity_removed",
            translation_placeholders={"entity_id": entity_id, "name": owner},
        )

    def _follow_rename(self, old_entity_id: str, new_entity_id: str) -> None:
        """Keep the configuration pointing at a renamed entity (this reloads the entry)."""
        subentry_id, key = self.watched_entities()[old_entity_id]
        entries = self.hass.config_entries
        entry = self.entry
        LOGGER.info("Configured entity %s was renamed to %s", old_entity_id, new_entity_id)
        if subentry_id is None:
            entries.async_update_entry(entry, data={**entry.data, key: new_entity_id})
            return
        subentry = entry.subentries[subentry_id]
        entries.async_update_subentry(entry, subentry, data={**subentry.data, key: new_entity_id})
