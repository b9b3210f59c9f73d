"""Find the batteries in Home Assistant: devices, entity groups without a device, and profiles.

A battery is a set of entities, not necessarily a device. Found are:

* devices of a connector matched by key (marstek_modbus: the registry's translation key or
  unique-id suffix, in any language), with the control entities it created disabled;
* other devices whose entities are named as the ESPHome configs name them (lilygo.py);
* entities without a device whose object ids share a prefix before a role's slug
  (``select.marstek_m1_forcible_charge_discharge`` -> ``marstek_m1_``), as the modbus YAML
  packages make them; entities that are not in the registry (no unique id) count too.

A person can always pick the entities by hand; ``profile_for`` then tells the connector from
the entities picked.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from homeassistant.core import HomeAssistant, split_entity_id
from homeassistant.helpers import device_registry as dr, entity_registry as er
from homeassistant.util import slugify

from ..const import DOMAIN, Role
from .lilygo import ROLE_SLUGS, device_name, find_battery_devices
from .profiles import ESPHOME, MODBUS_YAML, PROFILES, Profile, profile_of_platform

GROUP_PREFIX = "group:"  # a found battery's key without a device: group:<profile>:<prefix>


@dataclass(frozen=True, slots=True)
class FoundBattery:
    """A battery found: a device, or a group of entities without one."""

    key: str  # the device id, or group:<profile>:<object-id prefix>
    name: str
    profile: Profile
    matched: dict[Role, str]
    device_id: str | None = None
    disabled: dict[Role, str] = field(default_factory=dict)  # matched but disabled
    esphome: bool = False  # a device of the esphome integration

    @property
    def label(self) -> str:
        """Return how the flow lists it: its name and its connector."""
        return f"{self.name} ({self.profile.name})"


def _key_match(profile: Profile, role: Role, entry: er.RegistryEntry) -> bool:
    """Return whether a registry entry is the role's entity on a by-key connector."""
    domain, key = profile.keys[role]
    if entry.domain != domain:
        return False
    if entry.translation_key == key:
        return True
    unique_id = str(entry.unique_id)
    return unique_id == key or unique_id.endswith(f"_{key}")


def _match_keys(profile: Profile, entries: Iterable[er.RegistryEntry]) -> dict[Role, str]:
    """Map each role to the entity of entries that has its key (the first by entity id)."""
    matched: dict[Role, str] = {}
    for entry in sorted(entries, key=lambda e: e.entity_id):
        for role in Role:
            if role not in matched and role in profile.keys and _key_match(profile, role, entry):
                matched[role] = entry.entity_id
    return matched


def _disabled(registry: er.EntityRegistry, matched: Mapping[Role, str]) -> dict[Role, str]:
    return {
        role: entity_id
        for role, entity_id in matched.items()
        if (entry := registry.async_get(entity_id)) is not None and entry.disabled_by is not None
    }


def _keyed_devices(hass: HomeAssistant) -> list[FoundBattery]:
    """Return the devices of the connectors matched by key (disabled entities included)."""
    registry = er.async_get(hass)
    devices = dr.async_get(hass)
    found: list[FoundBattery] = []
    for profile in (p for p in PROFILES if p.by_key):
        per_device: dict[str, list[er.RegistryEntry]] = {}
        for entry in registry.entities.values():
            if entry.platform in profile.platforms and entry.device_id is not None:
                per_device.setdefault(entry.device_id, []).append(entry)
        for device_id, entries in per_device.items():
            device = devices.async_get(device_id)
            matched = _match_keys(profile, entries)
            if device is None or device.disabled or Role.FORCIBLE_MODE not in matched:
                continue
            found.append(
                FoundBattery(
                    key=device_id,
                    name=device_name(device),
                    profile=profile,
                    matched=matched,
                    device_id=device_id,
                    disabled=_disabled(registry, matched),
                )
            )
    return found


def _group_of(entity_id: str, profile: Profile) -> tuple[Role, str] | None:
    """Return the role and the object-id prefix of an entity named <prefix><slug>, if any."""
    domain, object_id = split_entity_id(entity_id)
    for role, (role_domain, slug) in profile.keys.items():
        if domain == role_domain and (object_id == slug or object_id.endswith(f"_{slug}")):
            return role, object_id.removesuffix(slug)
    return None


def _groups(hass: HomeAssistant, skip_platforms: set[str]) -> list[FoundBattery]:
    """Return the groups of entities without a device that share an object-id prefix."""
    registry = er.async_get(hass)
    entity_ids: set[str] = set()
    platforms: dict[str, str] = {}
    for entry in registry.entities.values():
        if entry.device_id is None and entry.platform not in {DOMAIN, *skip_platforms}:
            entity_ids.add(entry.entity_id)
            platforms[entry.entity_id] = entry.platform
    for state in hass.states.async_all():  # entities without a unique id: not in the registry
        if registry.async_get(state.entity_id) is None:
            entity_ids.add(state.entity_id)
    groups: dict[str, dict[Role, str]] = {}
    for entity_id in sorted(entity_ids):
        if (found := _group_of(entity_id, MODBUS_YAML)) is not None:
            role, prefix = found
            groups.setdefault(prefix, {}).setdefault(role, entity_id)
    result: list[FoundBattery] = []
    for prefix, matched in groups.items():
        if Role.FORCIBLE_MODE not in matched:
            continue  # an "AC power" alone is no battery
        platform = platforms.get(matched[Role.FORCIBLE_MODE])
        profile = profile_of_platform(platform) or MODBUS_YAML
        profile = MODBUS_YAML if profile.by_key or profile.device else profile
        result.append(
            FoundBattery(
                key=f"{GROUP_PREFIX}{profile.key}:{prefix}",
                name=prefix.rstrip("_") or matched[Role.FORCIBLE_MODE],
                profile=profile,
                matched=matched,
                disabled=_disabled(registry, matched),
            )
        )
    return result


def find_batteries(hass: HomeAssistant) -> list[FoundBattery]:
    """Return every battery found: ESPHome devices, other devices, then groups, by name."""
    keyed = _keyed_devices(hass)
    by_key_platforms = {platform for p in PROFILES if p.by_key for platform in p.platforms}
    # A by-key connector's device is never matched by names (its names follow the language).
    claimed = {
        entry.device_id
        for entry in er.async_get(hass).entities.values()
        if entry.platform in by_key_platforms and entry.device_id is not None
    }
    lilygo = find_battery_devices(hass)
    named = [
        FoundBattery(
            key=device.device_id,
            name=device.name,
            profile=ESPHOME,
            matched=device.matched,
            device_id=device.device_id,
            esphome=device.esphome,
        )
        for device in lilygo
        if device.device_id not in claimed
    ]
    devices = sorted(keyed + named, key=lambda b: (b.name.casefold(), b.key))
    devices.sort(key=lambda b: not b.esphome)  # stable: ESPHome devices first, as before
    groups = sorted(_groups(hass, by_key_platforms), key=lambda b: (b.name.casefold(), b.key))
    return [*devices, *groups]


def profile_for(hass: HomeAssistant, entities: Mapping[Role, str]) -> Profile:
    """Return the connector of a battery's entities: the integration of its mode select.

    A connector matched by key is known by its integration alone; otherwise the entities
    without a device (or without a registry entry: a template entity without a unique id) are
    the modbus YAML profile's, those on a device (ESPHome's, or another integration's named
    alike) ESPHome's.
    """
    mode = entities.get(Role.FORCIBLE_MODE)
    entry = er.async_get(hass).async_get(mode) if mode else None
    profile = profile_of_platform(entry.platform) if entry is not None else None
    on_device = entry is not None and entry.device_id is not None
    if profile is not None and (profile.by_key or profile.device == on_device):
        return profile
    if mode is not None and (entry is None or entry.device_id is None):
        return MODBUS_YAML
    return ESPHOME


def _slug(text: str | None) -> str:
    return slugify(text or "").removeprefix("marstek_")


def find_work_mode(
    hass: HomeAssistant, entities: Mapping[Role, str], profile: Profile
) -> str | None:
    """Return the battery's User Work Mode select (hand back writes it), if it has one.

    On the mode select's device: by key on a by-key connector, else by name. Without a
    device: the select named with the mode select's object-id prefix.
    """
    key = profile.work_mode_key
    mode = entities.get(Role.FORCIBLE_MODE)
    if key is None or mode is None:
        return None
    registry = er.async_get(hass)
    entry = registry.async_get(mode)
    if entry is not None and entry.device_id is not None:
        for candidate in er.async_entries_for_device(registry, entry.device_id):
            if candidate.domain != "select":
                continue
            if profile.by_key and (
                candidate.translation_key == key or str(candidate.unique_id).endswith(f"_{key}")
            ):
                return candidate.entity_id
            if _slug(candidate.original_name) == key:
                return candidate.entity_id
        return None
    found = _group_of(mode, MODBUS_YAML)
    if found is None:
        return None
    work_mode = f"select.{found[1]}{key}"
    if hass.states.get(work_mode) is not None or registry.async_get(work_mode) is not None:
        return work_mode
    return None


def device_of(hass: HomeAssistant, user_input: Mapping[str, Any]) -> str | None:
    """Return the device of the battery's mode select, for entities picked by hand."""
    entity_id = user_input.get(Role.FORCIBLE_MODE.value)
    entry = er.async_get(hass).async_get(entity_id) if entity_id else None
    return entry.device_id if entry is not None else None


def enable_entities(hass: HomeAssistant, found: FoundBattery) -> None:
    """Enable the control entities the connector created disabled (it reloads them)."""
    registry = er.async_get(hass)
    for entity_id in found.disabled.values():
        registry.async_update_entity(entity_id, disabled_by=None)


def manual_title(hass: HomeAssistant, user_input: Mapping[str, Any], fallback: str) -> str:
    """Return the title of a battery picked by hand: its mode select's device or prefix."""
    entity_id = str(user_input.get(Role.FORCIBLE_MODE.value, ""))
    entry = er.async_get(hass).async_get(entity_id) if entity_id else None
    device = dr.async_get(hass).async_get(entry.device_id) if entry and entry.device_id else None
    if device is not None:
        return device_name(device)
    object_id = split_entity_id(entity_id)[1] if "." in entity_id else ""
    slug = ROLE_SLUGS[Role.FORCIBLE_MODE][1]
    return object_id.removesuffix(slug).rstrip("_") or object_id or fallback
