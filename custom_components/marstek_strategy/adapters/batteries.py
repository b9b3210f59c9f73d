"""The configured batteries: each subentry's LilyGo entities per role."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from homeassistant.config_entries import ConfigEntry, ConfigSubentry

from ..const import CONF_CONNECTOR, CONF_PHASE, PHASES, SUBENTRY_BATTERY, Role


@dataclass(frozen=True, slots=True)
class BatteryConfig:
    """One battery: its subentry and the LilyGo entities per role.

    work_mode is the board's User Work Mode select where it has one (found on its device, or
    by its entities' object-id prefix; handing control back on v3 firmware writes it).
    registry_ids are the entity registry's ids of the entities (kept with a pending stop: a
    rename is followed by them). connector is the key of its connector profile
    (adapters/profiles.py).
    """

    subentry_id: str
    title: str
    phase: str
    entities: Mapping[Role, str]
    work_mode: str | None = field(default=None, compare=False)
    registry_ids: Mapping[Role, str] = field(default_factory=dict, compare=False)
    connector: str = "esphome"

    @classmethod
    def from_subentry(cls, subentry: ConfigSubentry) -> BatteryConfig:
        """Build from a battery subentry."""
        return cls(
            subentry_id=subentry.subentry_id,
            title=subentry.title,
            phase=str(subentry.data.get(CONF_PHASE, PHASES[0])),
            entities={role: subentry.data[role] for role in Role if subentry.data.get(role)},
            connector=str(subentry.data.get(CONF_CONNECTOR, "esphome")),
        )

    def as_dict(self) -> dict[str, Any]:
        """Return what the store keeps of a battery whose stop is pending."""
        return {
            "subentry_id": self.subentry_id,
            "title": self.title,
            "phase": self.phase,
            "entities": {role.value: entity_id for role, entity_id in self.entities.items()},
            "work_mode": self.work_mode,
            "registry_ids": {role.value: rid for role, rid in self.registry_ids.items()},
            "connector": self.connector,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> BatteryConfig:
        """Build from what the store kept."""
        return cls(
            subentry_id=str(data["subentry_id"]),
            title=str(data["title"]),
            phase=str(data.get("phase", PHASES[0])),
            entities=_known_roles(data["entities"]),
            work_mode=data.get("work_mode"),
            registry_ids=_registry_ids(data.get("registry_ids")),
            connector=str(data.get("connector", "esphome")),
        )


def _known_roles(entities: Mapping[Any, Any]) -> dict[Role, str]:
    """Return the stored entities of the roles this release knows (a stop needs only those)."""
    roles = {role.value: role for role in Role}
    return {roles[role]: str(entity) for role, entity in entities.items() if role in roles}


def _registry_ids(data: Any) -> dict[Role, str]:
    """Return the stored registry ids that can be read (others are not needed to stop)."""
    if not isinstance(data, Mapping):
        return {}
    roles = {role.value: role for role in Role}
    return {
        roles[role]: rid
        for role, rid in data.items()
        if isinstance(role, str) and role in roles and isinstance(rid, str)
    }


def battery_configs(entry: ConfigEntry) -> list[BatteryConfig]:
    """Return the entry's batteries in subentry order."""
    return [
        BatteryConfig.from_subentry(subentry)
        for subentry in entry.subentries.values()
        if subentry.subentry_type == SUBENTRY_BATTERY
    ]
