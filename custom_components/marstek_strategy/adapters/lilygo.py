"""Find a Marstek battery's LilyGo/ESPHome entities on its device."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Final, Protocol

from homeassistant.core import HomeAssistant, split_entity_id
from homeassistant.helpers import device_registry as dr, entity_registry as er
from homeassistant.util import slugify

from ..const import DOMAIN, REQUIRED_ROLES, Role

ESPHOME_DOMAIN: Final = "esphome"
NAME_PREFIX: Final = "marstek_"

# Role -> (entity domain, slug of the ESPHome entity name without the "Marstek " prefix).
# "Forcible Charge\u2044Discharge" (U+2044 fraction slash), "Charge/Discharge" and
# "Charge-Discharge" all slugify to "forcible_charge_discharge".
ROLE_SLUGS: Final[dict[Role, tuple[str, str]]] = {
    Role.SOC: ("sensor", "battery_state_of_charge"),
    Role.FORCIBLE_MODE: ("select", "forcible_charge_discharge"),
    Role.CHARGE_POWER: ("number", "forcible_charge_power"),
    Role.DISCHARGE_POWER: ("number", "forcible_discharge_power"),
    Role.RS485_MODE: ("select", "rs485_control_mode"),
    Role.AC_POWER: ("sensor", "ac_power"),
    Role.BATTERY_POWER: ("sensor", "battery_power"),
    Role.MAX_CHARGE_POWER: ("number", "max_charge_power"),
    Role.MAX_DISCHARGE_POWER: ("number", "max_discharge_power"),
    Role.CHARGE_CUTOFF: ("number", "charging_cutoff_capacity"),
    Role.DISCHARGE_CUTOFF: ("number", "discharging_cutoff_capacity"),
    Role.INVERTER_STATE: ("sensor", "inverter_state"),
}
ROLE_DOMAINS: Final[dict[Role, str]] = {role: domain for role, (domain, _) in ROLE_SLUGS.items()}

# How well an entity matched a role: lower is better.
_EXACT_NAME: Final = 0  # the original name's slug, after an optional "marstek_" prefix
_NAME_SUFFIX: Final = 1  # the original name's slug ends with "_<slug>" (device name included)
_ENTITY_ID_SUFFIX: Final = 2  # the entity id's object id is or ends with "_<slug>"


def name_slug(name: str) -> str:
    """Slugify an entity's original name and drop an optional "marstek_" prefix."""
    return slugify(name).removeprefix(NAME_PREFIX)


def role_for(domain: str, slug: str) -> Role | None:
    """Return the role whose domain and slug are exactly these, if any."""
    for role, (role_domain, role_slug) in ROLE_SLUGS.items():
        if domain == role_domain and slug == role_slug:
            return role
    return None


def match_quality(role: Role, entity_id: str, original_name: str | None) -> int | None:
    """Return how well an entity fits a role (lower is better), or None when it does not."""
    domain, object_id = split_entity_id(entity_id)
    role_domain, role_slug = ROLE_SLUGS[role]
    if domain != role_domain:
        return None
    if original_name:
        slug = name_slug(original_name)
        if slug == role_slug:
            return _EXACT_NAME
        if slug.endswith(f"_{role_slug}"):
            return _NAME_SUFFIX
    if object_id == role_slug or object_id.endswith(f"_{role_slug}"):
        return _ENTITY_ID_SUFFIX
    return None


@dataclass(frozen=True, slots=True)
class Candidate:
    """An entity that may fill a role."""

    entity_id: str
    original_name: str | None


def match_roles(candidates: Iterable[Candidate]) -> dict[Role, str]:
    """Map each role to its best-matching entity id; unmatched roles are absent.

    Ties go to the alphabetically first entity id, so the result does not depend on order.
    """
    best: dict[Role, tuple[int, str]] = {}
    for candidate in candidates:
        for role in Role:
            quality = match_quality(role, candidate.entity_id, candidate.original_name)
            if quality is None:
                continue
            key = (quality, candidate.entity_id)
            if role not in best or key < best[role]:
                best[role] = key
    return {role: best[role][1] for role in Role if role in best}


def device_candidates(hass: HomeAssistant, device_id: str) -> list[Candidate]:
    """Return the enabled entities of a device (never this integration's) as candidates."""
    registry = er.async_get(hass)
    return [
        Candidate(entry.entity_id, entry.original_name)
        for entry in er.async_entries_for_device(registry, device_id)
        if entry.platform != DOMAIN
    ]


def find_battery_entities(hass: HomeAssistant, device_id: str) -> dict[Role, str]:
    """Return role -> entity id for a battery's device (roles without a match are absent)."""
    return match_roles(device_candidates(hass, device_id))


def has_required_roles(matched: dict[Role, str]) -> bool:
    """Return whether every required role was matched."""
    return all(role in matched for role in REQUIRED_ROLES)


@dataclass(frozen=True, slots=True)
class BatteryDevice:
    """A device that looks like a LilyGo battery."""

    device_id: str
    name: str
    esphome: bool
    matched: dict[Role, str]


class NamedDevice(Protocol):
    """What a device name needs: a registry device entry (2026.x also has child devices)."""

    @property
    def id(self) -> str:
        """The device id."""

    @property
    def name(self) -> str | None:
        """The integration's name for it."""

    @property
    def name_by_user(self) -> str | None:
        """The name a person gave it."""


def device_name(device: NamedDevice) -> str:
    """Return the name a person sees for a device."""
    return device.name_by_user or device.name or device.id


def find_battery_devices(hass: HomeAssistant) -> list[BatteryDevice]:
    """Return the devices with a battery entity: ESPHome ones first, then by name.

    Devices are listed per config entry (the registry's mapping and
    ``DeviceEntry.config_entries`` are deprecated in 2026.x); a device of several entries is
    an ESPHome device when one of them is ESPHome's.
    """
    device_registry = dr.async_get(hass)
    devices: dict[str, dr.DeviceEntry] = {}
    esphome: set[str] = set()
    for entry in hass.config_entries.async_entries():
        for device in dr.async_entries_for_config_entry(device_registry, entry.entry_id):
            devices.setdefault(device.id, device)
            if entry.domain == ESPHOME_DOMAIN:
                esphome.add(device.id)
    found: list[BatteryDevice] = []
    for device in devices.values():
        if device.disabled:
            continue
        matched = find_battery_entities(hass, device.id)
        if not matched:
            continue
        found.append(
            BatteryDevice(
                device_id=device.id,
                name=device_name(device),
                esphome=device.id in esphome,
                matched=matched,
            )
        )
    found.sort(key=lambda d: (not d.esphome, d.name.casefold(), d.device_id))
    return found
