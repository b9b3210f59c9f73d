"""The Lovelace card: served by the integration and loaded in every frontend page."""

from __future__ import annotations

import shutil
import subprocess
from typing import Any

from homeassistant.core import HomeAssistant
from homeassistant.setup import async_setup_component
import pytest

from custom_components.marstek_strategy.card import CARD_FILE, CARD_URL
from tests.conftest import Hub, LilyGoFleet


async def test_card_served_and_registered(
    hass: HomeAssistant, hass_client: Any, lilygo_fleet: LilyGoFleet, make_hub: Any
) -> None:
    """With the frontend: the card's URL is served and added to the pages' modules, once."""
    from homeassistant.components.frontend import DATA_EXTRA_MODULE_URL

    assert await async_setup_component(hass, "http", {})
    modules: set[str] = set()
    hass.data[DATA_EXTRA_MODULE_URL] = modules
    hass.config.components.add("frontend")
    bat1 = await lilygo_fleet.add_battery("LilyGo L1")
    hub: Hub = await make_hub([(bat1, "L1")])
    assert modules == {f"{CARD_URL}?v=0.1.0"}
    client = await hass_client()  # the test server's routes are fixed once it runs
    response = await client.get(CARD_URL)
    assert response.status == 200
    body = await response.text()
    assert 'customElements.define("marstek-strategy-card"' in body
    # A reload does not register it twice (a second static route would raise).
    assert await hass.config_entries.async_reload(hub.entry.entry_id)
    await hass.async_block_till_done()
    assert modules == {f"{CARD_URL}?v=0.1.0"}
    # The card finds the meter's phases through the grid power sensor.
    state = hass.states.get(hub.entity_id("sensor", "grid_power"))
    assert state is not None
    assert state.attributes["phase_sensors"] == {}


async def test_card_served_without_frontend(
    hass: HomeAssistant, hass_client: Any, lilygo_fleet: LilyGoFleet, make_hub: Any
) -> None:
    """Without the frontend the file is still served (nothing to add it to)."""
    assert await async_setup_component(hass, "http", {})
    bat1 = await lilygo_fleet.add_battery("LilyGo L1")
    await make_hub([(bat1, "L1")])
    client = await hass_client()
    response = await client.get(CARD_URL)
    assert response.status == 200


@pytest.mark.skipif(shutil.which("node") is None, reason="node is not installed")
def test_card_is_valid_javascript() -> None:
    """The card parses (the browser walkthrough renders it)."""
    subprocess.run(["node", "--check", str(CARD_FILE)], check=True)  # noqa: S603, S607
