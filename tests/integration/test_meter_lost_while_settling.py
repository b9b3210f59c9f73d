"""At the fixed pace, a meter lost while the loop waits stops the batteries at once (redteam6).

After a start the next cycle waits the settle delay (12 s by default, up to 120 s), and the
interval between cycles may be up to 60 s. A meter that went unavailable, missing, no number
or implausible in between was noticed only at that cycle: the batteries ran on it for the
whole settle (12 s at the defaults, two minutes at the longest). The meter pace runs such a
report at once already.
"""

from __future__ import annotations

import asyncio
from typing import Any

from homeassistant.core import HomeAssistant
import pytest

from custom_components.marstek_strategy.const import (
    CONF_REFRESH_METER,
    CONF_SETTLE_DELAY,
    DOMAIN,
    SERVICE_SET_GRID_MODE,
    Role,
)
from tests.conftest import Hub, LilyGoFleet


async def _settling(lilygo_fleet: LilyGoFleet, make_hub: Any, settle_s: float) -> Hub:
    bat1 = await lilygo_fleet.add_battery("lilygo-bat1", soc=80)
    hub: Hub = await make_hub(
        [(bat1, "L1")],
        grid=1500,
        options={CONF_SETTLE_DELAY: settle_s, CONF_REFRESH_METER: False},
    )
    assert hub.state("sensor", "status") == "settling"
    assert bat1.state(Role.FORCIBLE_MODE) == "discharge"
    return hub


@pytest.mark.parametrize("settle_s", [12.0, 120.0])
async def test_a_meter_gone_unavailable_while_settling_stops_at_once(
    hass: HomeAssistant, lilygo_fleet: LilyGoFleet, make_hub: Any, settle_s: float
) -> None:
    hub = await _settling(lilygo_fleet, make_hub, settle_s)
    (bat1,) = lilygo_fleet.batteries.values()
    await hub.tick(1)
    hub.meter.set_available(False)
    await hub.tick(0.5)
    assert bat1.state(Role.FORCIBLE_MODE) == "stop"
    assert hub.state("sensor", "fail_safe_cause") == "meter_unavailable"
    cycles = len(hub.cycles)
    await hub.tick(5, step=0.5)  # one cycle for it, not one per report or sensor
    assert len(hub.cycles) == cycles
    hub.meter.set_available(True)
    await hub.tick(7, grid=1500, step=0.5)  # fail-safe cycles every 6.5 s: back by itself
    assert hub.state("sensor", "fail_safe_cause") == "none"
    assert bat1.state(Role.FORCIBLE_MODE) == "discharge"


async def test_an_implausible_meter_while_settling_stops_at_once(
    hass: HomeAssistant, lilygo_fleet: LilyGoFleet, make_hub: Any
) -> None:
    hub = await _settling(lilygo_fleet, make_hub, 12.0)
    (bat1,) = lilygo_fleet.batteries.values()
    await hub.tick(1)
    hub.meter.set(-1e12)
    await hub.tick(0.5)
    assert bat1.state(Role.FORCIBLE_MODE) == "stop"
    assert hub.state("sensor", "fail_safe_cause") == "meter_implausible"


async def test_a_valid_report_while_settling_runs_no_cycle(
    hass: HomeAssistant, lilygo_fleet: LilyGoFleet, make_hub: Any
) -> None:
    hub = await _settling(lilygo_fleet, make_hub, 12.0)
    cycles = len(hub.cycles)
    await hub.tick(10, grid=3000, step=0.5)
    assert len(hub.cycles) == cycles


@pytest.mark.parametrize("back", [True, False])
async def test_a_meter_lost_while_a_cycle_runs(
    hass: HomeAssistant, lilygo_fleet: LilyGoFleet, make_hub: Any, back: bool
) -> None:
    """A meter lost while a cycle runs (a grid mode starting a charge; it holds the lock).

    Still lost when that cycle ends: the cycle for it runs then and stops. Back by then:
    no cycle runs for it. It ran on the meter as it was back: a plan inside the settle of
    the start just made, on a meter that cannot show it yet.
    """
    bat1 = await lilygo_fleet.add_battery("lilygo-bat1", soc=50)
    hub: Hub = await make_hub([(bat1, "L1")], grid=0, options={CONF_REFRESH_METER: False})
    await hub.tick(13, grid=0, step=6.5)
    cycles = len(hub.cycles)
    call = hass.async_create_task(
        hass.services.async_call(
            DOMAIN,
            SERVICE_SET_GRID_MODE,
            {"mode": "charge", "power": 1000, "duration": {"minutes": 30}},
            blocking=True,
        )
    )
    await asyncio.sleep(0)  # the grid mode's cycle runs
    hub.meter.set_available(False)
    await asyncio.sleep(0)
    if back:
        hub.meter.set_available(True)
    await hass.async_block_till_done()
    await call
    assert len(hub.cycles) > cycles
    if not back:
        assert bat1.state(Role.FORCIBLE_MODE) == "stop"
        assert hub.state("sensor", "fail_safe_cause") == "meter_unavailable"
        return
    assert hub.state("sensor", "status") == "settling"
    assert bat1.state(Role.FORCIBLE_MODE) == "charge"
    after = len(hub.cycles)
    await hub.tick(11.5, grid=0)
    assert len(hub.cycles) == after  # nothing inside the 12 s settle
