"""Diagnostics: configuration, settings, the last cycle and the write log."""

from __future__ import annotations

import json
from typing import Any

from homeassistant.core import HomeAssistant

from custom_components.marstek_strategy.const import Role
from custom_components.marstek_strategy.diagnostics import async_get_config_entry_diagnostics
from tests.conftest import Hub, LilyGoFleet, P1Meter, make_hub_entry


async def test_diagnostics(
    hass: HomeAssistant,
    lilygo_fleet: LilyGoFleet,
    make_hub: Any,
) -> None:
    bat1 = await lilygo_fleet.add_battery("lilygo-bat1", soc=80)
    bat2 = await lilygo_fleet.add_battery("lilygo-bat2", soc=70)
    hub: Hub = await make_hub([(bat1, "L1"), (bat2, "L1")], grid=600)
    bat2.set_available(False, Role.SOC)
    await hub.tick(12, grid=600, step=12)
    result = await async_get_config_entry_diagnostics(hass, hub.entry)
    assert isinstance(result, dict)
    json.dumps(result)  # serialisable
    entry = result["entry"]
    assert entry["data"]["grid_sensor"] == hub.meter.grid
    assert [sub["title"] for sub in entry["subentries"]] == ["lilygo-bat1", "lilygo-bat2"]
    assert entry["subentries"][0]["data"][Role.SOC] == bat1.entity_ids[Role.SOC]
    assert result["settings"]["enabled"] is True
    assert result["settings"]["batteries"][hub.subentry_id(bat1)]["charge_cutoff"] == 100
    loop = result["loop"]
    assert loop["interval_s"] == 6.5
    assert loop["commanded"][0]["mode"] == "discharge"
    assert loop["plan"]["setpoints"][0]["mode"] == "discharge"
    cycle = result["last_cycle"]
    assert cycle["status"] == "running"
    assert cycle["grid_w"] == 600
    batteries = {b["battery"]: b for b in cycle["batteries"]}
    assert batteries["lilygo-bat1"]["reading"]["soc"] == 80
    assert batteries["lilygo-bat2"]["problem"] == "entity_unavailable"
    assert batteries["lilygo-bat2"]["reason"] == "unavailable"
    log = result["write_log"]
    assert "lilygo-bat1" in {record["battery"] for record in log}
    assert {"time", "kind", "entity_id", "value", "result", "context_id"} <= set(log[0])
    assert all(record["result"] == "ok" for record in log)


async def test_diagnostics_before_the_first_cycle(
    hass: HomeAssistant,
    lilygo_fleet: LilyGoFleet,
    make_hub: Any,
) -> None:
    bat1 = await lilygo_fleet.add_battery("lilygo-bat1", soc=80)
    hub: Hub = await make_hub([(bat1, "L1")])
    hub.coordinator.data = None
    hub.coordinator.plan = None
    result = await async_get_config_entry_diagnostics(hass, hub.entry)
    assert result["last_cycle"] is None
    assert result["loop"]["plan"] is None


async def test_diagnostics_of_an_entry_not_loaded(
    hass: HomeAssistant, lilygo_fleet: LilyGoFleet, p1_meter: P1Meter
) -> None:
    """Asked while the entry is not loaded (a reload, a failed set-up): the entry, no error.

    The e2e on 2026.11.0 asked during a reload and got a 500 (no runtime_data).
    """
    bat1 = await lilygo_fleet.add_battery("lilygo-bat1")
    entry = make_hub_entry(p1_meter, [(bat1, "L1")])
    entry.add_to_hass(hass)
    data = await async_get_config_entry_diagnostics(hass, entry)
    assert set(data) == {"entry"}
    assert [s["title"] for s in data["entry"]["subentries"]] == [bat1.name]
    json.dumps(data)
