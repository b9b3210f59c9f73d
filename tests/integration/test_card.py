"""The Lovelace card: served by the integration and loaded in every frontend page."""

from __future__ import annotations

from functools import partial
import json
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


# The card in node with the few browser objects it touches; prints its figures' texts.
_RENDER_FIGURES = r"""
globalThis.window = globalThis;
globalThis.HTMLElement = class { attachShadow() { this.shadowRoot = { innerHTML: "" }; } };
globalThis.customElements = {
  get: () => undefined,
  define: (name, cls) => { globalThis.Card = cls; },
};
await import(process.argv[2]);
const entities = {}, states = {};
const add = (key, value, unit) => {
  const id = `sensor.${key}`;
  entities[id] = {
    entity_id: id, platform: "marstek_strategy", translation_key: key, device_id: "hub",
  };
  states[id] = { entity_id: id, state: value, attributes: { unit_of_measurement: unit } };
};
add("status", "running", undefined);
add("total_energy_charged", "-0.001", "kWh");
add("total_energy_discharged", "-1.25", "kWh");
add("conversion_loss_today", "0.004", "kWh");
add("saved_today", "\u22120.00", "EUR");
const card = new Card();
card.setConfig({});
card.hass = {
  entities, states, devices: {}, language: "en",
  formatEntityState: (s) => s.attributes.unit_of_measurement === "EUR"
    ? s.state : `${Number(s.state).toFixed(2)} ${s.attributes.unit_of_measurement}`,
};
const figures = [...card._html.matchAll(/data-key="(\w+)"><span>[^<]*<\/span><b>([^<]*)<\/b>/g)];
console.log(JSON.stringify(Object.fromEntries(figures.map((m) => [m[1], m[2]]))));
"""


@pytest.mark.skipif(shutil.which("node") is None, reason="node is not installed")
def test_card_shows_no_negative_zero(tmp_path: Any) -> None:
    """A figure that rounds to zero shows 0.00, not -0.00; a real negative keeps its sign."""
    script = tmp_path / "render.mjs"
    script.write_text(_RENDER_FIGURES)
    result = subprocess.run(  # noqa: S603
        ["node", str(script), str(CARD_FILE)],  # noqa: S607
        check=True,
        capture_output=True,
        text=True,
    )
    assert json.loads(result.stdout) == {
        "charged": "0.00 kWh",
        "discharged": "-1.25 kWh",
        "loss": "0.00 kWh",
        "saved": "0.00",
    }


# The card rendered in node from the real states of a hub: the hub's entities as the
# frontend's hass.entities and hass.states give them; prints the grid mode line's parts.
_RENDER_GRID_MODE = r"""
globalThis.window = globalThis;
globalThis.HTMLElement = class { attachShadow() { this.shadowRoot = { innerHTML: "" }; } };
globalThis.customElements = {
  get: () => undefined,
  define: (name, cls) => { globalThis.Card = cls; },
};
const fs = await import("node:fs");
await import(process.argv[2]);
const { entities, states } = JSON.parse(fs.readFileSync(process.argv[3], "utf8"));
const card = new Card();
card.setConfig({});
card.hass = {
  entities, states, devices: {}, language: "en",
  formatEntityState: (s) => `state:${s.state}`,
  formatEntityAttributeValue: (s, name) => `${name}:${s.attributes[name]}`,
};
const line = card._html.match(
  /<div class="grid-mode" data-mode="(\w*)" data-limit="(\w*)">([\s\S]*?)<\/div>/);
const parts = line
  ? [...line[3].matchAll(/<span class="([\w-]+)"><span>[^<]*<\/span> <b>([^<]*)<\/b>/g)] : [];
console.log(JSON.stringify(line && {
  mode: line[1], limit: line[2], name: line[3].match(/class="mode-name">([^<]*)</)[1],
  parts: Object.fromEntries(parts.map((m) => [m[1], m[2]])),
}));
"""


async def _render_grid_mode(hass: HomeAssistant, tmp_path: Any) -> Any:
    """Render the card in node from the integration's entities and states; its grid mode line."""
    from homeassistant.helpers import entity_registry as er
    from homeassistant.helpers.json import JSONEncoder

    entities: dict[str, Any] = {}
    states: dict[str, Any] = {}
    for entry in er.async_get(hass).entities.values():
        if (
            entry.platform != "marstek_strategy"
            or (state := hass.states.get(entry.entity_id)) is None
        ):
            continue
        entities[entry.entity_id] = {
            "entity_id": entry.entity_id,
            "platform": entry.platform,
            "translation_key": entry.translation_key,
            "device_id": entry.device_id,
        }
        states[entry.entity_id] = state.as_dict()
    data = tmp_path / "hass.json"
    data.write_text(json.dumps({"entities": entities, "states": states}, cls=JSONEncoder))
    script = tmp_path / "render.mjs"
    script.write_text(_RENDER_GRID_MODE)
    result = await hass.async_add_executor_job(
        partial(
            subprocess.run,
            ["node", str(script), str(CARD_FILE), str(data)],
            check=True,
            capture_output=True,
            text=True,
        )
    )
    return json.loads(result.stdout)


@pytest.mark.skipif(shutil.which("node") is None, reason="node is not installed")
async def test_card_shows_the_grid_mode_its_power_end_and_limit(
    hass: HomeAssistant, lilygo_fleet: LilyGoFleet, make_hub: Any, freezer: Any, tmp_path: Any
) -> None:
    """The card's grid mode line is the grid mode select's state and attributes, as the
    integration sets them: zero alone; a charge with its power, its end and the peak cap that
    limits it; a discharge down to a state of charge."""
    from custom_components.marstek_strategy.const import CONF_PEAK_CAP_KW, DOMAIN

    freezer.move_to("2027-01-14T16:01:00+00:00")
    bat1 = await lilygo_fleet.add_battery("LilyGo L1", soc=50)
    hub: Hub = await make_hub([(bat1, "L1")], grid=1500.0, options={CONF_PEAK_CAP_KW: 2.5})
    await hub.tick(13, grid=1500.0)
    assert await _render_grid_mode(hass, tmp_path) == {
        "mode": "zero",
        "limit": "none",
        "name": "state:zero",
        "parts": {},
    }
    await hass.services.async_call(
        DOMAIN,
        "set_grid_mode",
        {"mode": "charge", "power": 3000, "duration": "01:00:00"},
        blocking=True,
    )
    await hub.tick(13, grid=1500.0)
    select = hass.states.get(hub.entity_id("select", "grid_mode"))
    assert select is not None
    assert select.attributes["limited_by"] == "peak_cap"  # the house alone is near the cap
    shown = await _render_grid_mode(hass, tmp_path)
    assert shown == {
        "mode": "charge",
        "limit": "peak_cap",
        "name": "state:charge",
        "parts": {
            "power": "3,000 W",
            "until": f"until:{select.attributes['until'].isoformat()}",
            "limit": "limited_by:peak_cap",
        },
    }
    await hass.services.async_call(
        DOMAIN,
        "set_grid_mode",
        {"mode": "discharge", "power": 800, "target_soc": 20},
        blocking=True,
    )
    await hub.tick(13, grid=0.0)
    shown = await _render_grid_mode(hass, tmp_path)
    assert shown["mode"] == "discharge"
    assert shown["parts"]["power"] == "800 W"
    assert shown["parts"]["target-soc"] == "target_soc:20"  # JSON gives 20.0 as 20
    assert "until" in shown["parts"]  # at most MAX_LENGTH: a target alone still has an end
    # Hold from the select: it keeps the requested power for later, but runs at none.
    await hass.services.async_call(
        "select",
        "select_option",
        {"entity_id": hub.entity_id("select", "grid_mode"), "option": "hold"},
        blocking=True,
    )
    await hub.tick(13, grid=0.0)
    select = hass.states.get(hub.entity_id("select", "grid_mode"))
    assert select is not None
    assert select.attributes["power"] is None
    shown = await _render_grid_mode(hass, tmp_path)
    assert (shown["mode"], sorted(shown["parts"])) == ("hold", ["until"])
