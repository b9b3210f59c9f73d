"""The read-back's not_responding over a window of cycles, through a real hass.

A battery that delivers only every third cycle used to be reset by each good reading (3 bad
cycles in a row were needed), so it ran on for ever with its power counted as delivered. Now
3 bad cycles among its last 5 take it out, at 6.5 s and at 2 s. Fails without the window.
"""

from __future__ import annotations

from typing import Any

import pytest

from custom_components.marstek_strategy.const import CONF_INTERVAL, Role
from tests.conftest import Hub, LilyGoFleet


@pytest.mark.parametrize("interval", [6.5, 2.0])
async def test_battery_delivering_every_third_cycle_is_not_responding(
    lilygo_fleet: LilyGoFleet, make_hub: Any, caplog: pytest.LogCaptureFixture, interval: float
) -> None:
    """Its AC power shows what it was told one cycle in three, 0 W in the two others."""
    bat1 = await lilygo_fleet.add_battery("lilygo-bat1", soc=60)
    bat1.follow = False
    hub: Hub = await make_hub([(bat1, "L1")], grid=600, options={CONF_INTERVAL: interval})
    seen, cycle = len(hub.cycles), 0
    for _ in range(round(150 / 0.5)):
        await hub.tick(0.5, grid=600)
        if hub.state("sensor", "reason", bat1) == "not_responding":
            break
        if len(hub.cycles) > seen:  # a cycle ran: set what the next one reads
            seen, cycle = len(hub.cycles), cycle + 1
            told = 0.0
            if bat1.state(Role.FORCIBLE_MODE) == "discharge":
                told = float(bat1.state(Role.DISCHARGE_POWER))
            bat1.set(Role.AC_POWER, told if cycle % 3 == 0 else 0.0)
    assert hub.state("sensor", "reason", bat1) == "not_responding"
    assert caplog.text.count("does not deliver what it is told") == 1
