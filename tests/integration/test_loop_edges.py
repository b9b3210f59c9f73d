"""Edges of the loop's timing: cycles no pace, settle or least gap allows (adapters/loop.py)."""

from __future__ import annotations

import asyncio
from datetime import datetime
from typing import Any

from homeassistant.core import HomeAssistant
from homeassistant.util import dt as dt_util
import pytest
from pytest_homeassistant_custom_component.common import async_fire_time_changed_exact

from custom_components.marstek_strategy.const import DOMAIN, SERVICE_SET_GRID_MODE
from tests.conftest import Hub, LilyGoFleet
from tests.integration.test_pace_ha import _steady


def _starts(hub: Hub) -> list[tuple[datetime, str]]:
    """Follow each cycle's time and status (not the listeners' other updates)."""
    seen: list[tuple[datetime, str]] = []
    last = [hub.coordinator.data]

    def _note() -> None:
        data = hub.coordinator.data
        if data is not None and data is not last[0]:
            last[0] = data
            seen.append((data.time, str(data.status)))

    hub.coordinator.async_add_listener(_note)
    return seen


async def _update_entity(hass: HomeAssistant, hub: Hub) -> None:
    await hass.services.async_call(
        "homeassistant",
        "update_entity",
        {"entity_id": hub.entity_id("sensor", "status")},
        blocking=True,
    )
    await hass.async_block_till_done()


async def test_update_entity_runs_no_cycle_inside_the_least_gap(
    hass: HomeAssistant, lilygo_fleet: LilyGoFleet, make_hub: Any
) -> None:
    """homeassistant.update_entity on a hub sensor (an automation polling it) is no cycle.

    At the meter pace no cycle starts within 2 s of the last; at the fixed pace the next
    cycle is the timer's. A cycle 0.5 s after a write reads a meter that does not show it
    yet (at 6.5 s the command counts as delivered: the change is made twice).
    """
    hub = await _steady(lilygo_fleet, make_hub)
    starts = _starts(hub)
    while not starts:
        await hub.tick(0.5, grid=0)
    await hub.tick(0.5)  # 0.5 s after a cycle's start, the meter silent
    await _update_entity(hass, hub)
    assert len(starts) == 1


async def test_a_timer_firing_during_a_grid_mode_cycle_keeps_its_settle(
    hass: HomeAssistant, lilygo_fleet: LilyGoFleet, make_hub: Any
) -> None:
    """set_grid_mode starts a charge while the 6.5 s timer is due: one cycle, then 12 s.

    The timer fires while the grid mode's cycle writes; it then ran a second cycle at once,
    inside the settle of the start just made, on a meter that cannot show it yet.
    """
    bat1 = await lilygo_fleet.add_battery("lilygo-bat1", soc=50)
    hub: Hub = await make_hub([(bat1, "L1")], grid=0)
    starts = _starts(hub)
    while not starts:
        await hub.tick(0.5, grid=0)
    await hub.tick(6.0, grid=0)  # 0.5 s before the timer
    starts.clear()
    call = hass.async_create_task(
        hass.services.async_call(
            DOMAIN,
            SERVICE_SET_GRID_MODE,
            {"mode": "charge", "power": 1000, "duration": {"minutes": 30}},
            blocking=True,
        )
    )
    await asyncio.sleep(0)  # the grid mode's cycle is writing
    hub.freezer.tick(0.5)
    async_fire_time_changed_exact(hass)  # the timer fires meanwhile
    await hass.async_block_till_done()
    await call
    assert [status for _, status in starts] == ["settling"]
    await hub.tick(11.5, grid=0)
    assert len(starts) == 1  # nothing inside the 12 s settle
    await hub.tick(0.5, grid=0)
    assert len(starts) == 2
    assert (starts[1][0] - starts[0][0]).total_seconds() == pytest.approx(12.0)
    assert dt_util.utcnow() == starts[1][0]
