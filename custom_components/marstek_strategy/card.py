"""The Lovelace card shipped with the integration: served and registered by it."""

from __future__ import annotations

from pathlib import Path
from typing import Final

# 2026.x re-exports StaticPathConfig from http.server (not in an __all__), 2025.x defines it here.
from homeassistant.components.http import (  # type: ignore[attr-defined, unused-ignore]
    StaticPathConfig,
)
from homeassistant.core import HomeAssistant
from homeassistant.loader import async_get_integration

from .const import DOMAIN, LOGGER

CARD_FILE: Final = Path(__file__).parent / "frontend" / "marstek-strategy-card.js"
CARD_URL: Final = f"/{DOMAIN}_static/marstek-strategy-card.js"
_REGISTERED: Final = f"{DOMAIN}_card_registered"


async def async_register_card(hass: HomeAssistant) -> None:
    """Serve the card and load it in every frontend page (once per Home Assistant run)."""
    if hass.data.get(_REGISTERED) or hass.http is None:
        return
    await hass.http.async_register_static_paths(
        [StaticPathConfig(CARD_URL, str(CARD_FILE), cache_headers=False)]
    )
    hass.data[_REGISTERED] = True  # only once it is served: a failed attempt is tried again
    if "frontend" not in hass.config.components:
        LOGGER.debug("No frontend: the card is served at %s but not loaded", CARD_URL)
        return
    from homeassistant.components.frontend import add_extra_js_url  # noqa: PLC0415

    version = (await async_get_integration(hass, DOMAIN)).version
    add_extra_js_url(hass, f"{CARD_URL}?v={version}")
