"""A load step at 2 s cycles: the read-back waits for an AC report that could show it.

Steady at 200 W, the house load jumps by 2000 W: the battery is told more (the engine ramps
it up) and its AC power still reads 200 W for the seconds a setpoint takes to show (ESPHome's
AC power reports every 4-15 s). It was out as not_responding after three "low" cycles of 2 s
(4 s after a step in the field, 10 s here where the setpoint ramps), its power no longer
counted, for 300 s. Now it keeps running; a battery that does not deliver is still taken
out, after fresh reports. Fails without the fix in core/readback.py.
"""

from __future__ import annotations

from typing import Any

import pytest

from custom_components.marstek_strategy.const import CONF_INTERVAL, Role
from tests.conftest import FakeBattery, Hub, LilyGoFleet

STEP = 0.5


def _told(battery: FakeBattery) -> float:
    if battery.state(Role.FORCIBLE_MODE) != "discharge":
        return 0.0
    return float(battery.state(Role.DISCHARGE_POWER))


async def _closed(hub: Hub, battery: FakeBattery, seconds: float, load_w: float) -> None:
    """Let seconds pass, the meter showing the load minus what the battery delivers."""
    for _ in range(round(seconds / STEP)):
        hub.meter.set(load_w - float(battery.state(Role.AC_POWER)))
        await hub.tick(STEP)


async def _steady_at_200(lilygo_fleet: LilyGoFleet, make_hub: Any) -> tuple[Hub, FakeBattery]:
    bat1 = await lilygo_fleet.add_battery("lilygo-bat1", soc=60)
    hub: Hub = await make_hub([(bat1, "L1")], grid=0, options={CONF_INTERVAL: 2.0})
    await _closed(hub, bat1, 60, load_w=200)
    assert 150 <= _told(bat1) <= 250, bat1.state(Role.DISCHARGE_POWER)
    assert hub.state("sensor", "reason", bat1) == "running"
    return hub, bat1


async def test_load_step_at_2s_cycles_keeps_a_healthy_battery(
    lilygo_fleet: LilyGoFleet, make_hub: Any, caplog: pytest.LogCaptureFixture
) -> None:
    """2200 W told, its AC power unchanged (no report) for 12 s (ESPHome reports every 4-15 s),
    then it shows the power."""
    hub, bat1 = await _steady_at_200(lilygo_fleet, make_hub)
    bat1.follow = False  # the inverter ramps; the AC sensor has nothing new to report
    for _ in range(6):
        await _closed(hub, bat1, 2, load_w=2200)
        assert hub.state("sensor", "reason", bat1) == "running"
    assert _told(bat1) >= 600  # raised (the engine ramps it up)
    bat1.follow = True
    bat1.set(Role.AC_POWER, _told(bat1))  # the setpoint shows
    for _ in range(30):
        await _closed(hub, bat1, 2, load_w=2200)
        assert hub.state("sensor", "reason", bat1) == "running"
    assert "does not deliver what it is told" not in caplog.text


async def test_load_step_on_a_battery_that_does_not_deliver_takes_it_out(
    lilygo_fleet: LilyGoFleet, make_hub: Any, caplog: pytest.LogCaptureFixture
) -> None:
    """2200 W told, its AC power reports 200 W every 5 s: out after a few fresh reports."""
    hub, bat1 = await _steady_at_200(lilygo_fleet, make_hub)
    bat1.follow = False
    waited = 0.0
    while hub.state("sensor", "reason", bat1) != "not_responding":
        assert waited < 60, hub.state("sensor", "reason", bat1)
        if waited % 5 == 0:
            bat1.set(Role.AC_POWER, 200.0 + waited % 2)  # a new reading, still 200 W
        await _closed(hub, bat1, STEP, load_w=2200)
        waited += STEP
    assert waited > 15  # not before a report could show the raise (grace_s)
    assert caplog.text.count("does not deliver what it is told") == 1
