"""Test helpers for what differs between the Home Assistant versions the tests run on."""

from __future__ import annotations

from typing import Any

from homeassistant.helpers import config_validation as cv


def serialize_schema(schema: Any) -> Any:
    """Serialize a flow's data schema the way the frontend receives it.

    Home Assistant 2025.x uses voluptuous_serialize; 2026.x replaced it with probatio.
    """
    try:
        import probatio  # type: ignore[import-not-found,unused-ignore]
    except ImportError:
        import voluptuous_serialize  # type: ignore[import-untyped,unused-ignore]

        return voluptuous_serialize.convert(schema, custom_serializer=cv.custom_serializer)
    return probatio.to_field_list(schema, custom_serializer=cv.custom_serializer)


def device_by_identifier(hass: Any, identifier: tuple[str, str]) -> Any:
    """Return the device with identifier, or None (the registry's async_get_device raises in
    tests from 2026.x; walking the registry's devices works on both versions)."""
    from homeassistant.helpers import device_registry as dr

    for entry in hass.config_entries.async_entries():
        for device in dr.async_entries_for_config_entry(dr.async_get(hass), entry.entry_id):
            if identifier in device.identifiers:
                return device
    return None
