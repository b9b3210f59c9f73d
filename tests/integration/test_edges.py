"""Edges an outside tester probes: out-of-range stores, services and lifecycle corners."""

from __future__ import annotations

from typing import Any

from homeassistant.core import HomeAssistant
from homeassistant.helpers import issue_registry as ir
from homeassistant.util import dt as dt_util

from custom_components.marstek_strategy.const import DOMAIN, Role
from tests.conftest import Hub, LilyGoFleet, P1Meter, make_hub_entry


async def _hub_on_store(
    hass: HomeAssistant,
    lilygo_fleet: LilyGoFleet,
    p1_meter: P1Meter,
    freezer: Any,
    hass_storage: dict[str, Any],
    *,
    settings: dict[str, Any],
) -> Hub:
    """A hub with one battery whose store holds settings (as if written by hand or a bug)."""
    bat1 = await lilygo_fleet.add_battery("lilygo-bat1", soc=60)
    p1_meter.set(0)
    entry = make_hub_entry(p1_meter, [(bat1, "L1")])
    hass_storage[f"{DOMAIN}.{entry.entry_id}"] = {
        "version": 2,
        "minor_version": 1,
        "key": f"{DOMAIN}.{entry.entry_id}",
        "data": {"settings": settings, "pending": []},
    }
    entry.add_to_hass(hass)
    hub = Hub(hass, entry, p1_meter, lilygo_fleet, freezer)
    assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()
    hub.cycles.append(dt_util.utcnow())
    await hub.tick(0)
    return hub


async def test_a_stored_grid_target_out_of_range_never_exports(
    hass: HomeAssistant,
    lilygo_fleet: LilyGoFleet,
    p1_meter: P1Meter,
    freezer: Any,
    hass_storage: dict[str, Any],
) -> None:
    """A grid target of -1 MW in the store is dropped (named), not aimed at: no discharge."""
    hub = await _hub_on_store(
        hass, lilygo_fleet, p1_meter, freezer, hass_storage, settings={"grid_target_w": -1e6}
    )
    await hub.tick(20, grid=0, step=2)
    (bat1,) = lilygo_fleet.batteries.values()
    assert bat1.state(Role.FORCIBLE_MODE) != "discharge"
    assert float(hub.state("number", "grid_target")) == 0
    issue = ir.async_get(hass).async_get_issue(DOMAIN, f"store_damaged_{hub.entry.entry_id}")
    assert issue is not None
    assert issue.translation_placeholders is not None
    assert issue.translation_placeholders["dropped"] == "settings.grid_target_w"
