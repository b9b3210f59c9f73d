"""The energy counters count only AC powers they can believe (redteam6).

A misread register (an AC power of 1e12 W for a few seconds) was counted: the battery's and
the hub's total_increasing energy sensors jumped by millions of kWh for good (the recorder's
long-term statistics and the Energy dashboard keep that jump). A sensor in MW or in a unit
that is no power was counted as W. The loop itself believes no AC power beyond 3000 W.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from homeassistant.core import HomeAssistant
from homeassistant.util import dt as dt_util
import pytest

from custom_components.marstek_strategy.const import Role
from tests.conftest import Hub, LilyGoFleet


def _value(hub: Hub, key: str, battery: Any = None) -> float:
    return float(hub.state("sensor", key, battery))


@pytest.mark.parametrize(
    ("state", "unit", "counted"),
    [("1e12", "W", False), ("-1e12", "W", False), ("0.001", "MW", True), ("1000", "A", False)],
)
async def test_an_implausible_ac_power_is_not_counted(  # noqa: PLR0917
    hass: HomeAssistant,
    lilygo_fleet: LilyGoFleet,
    make_hub: Any,
    freezer: Any,
    state: str,
    unit: str,
    counted: bool,
) -> None:
    """30 s of a reading between two stretches of 1000 W for 6 min: counted as it says."""
    freezer.move_to(datetime(2026, 6, 15, 12, 0, tzinfo=dt_util.get_default_time_zone()))
    bat1 = await lilygo_fleet.add_battery("LilyGo L1", soc=60)
    bat1.follow = False  # the powers are set by the test
    hub: Hub = await make_hub([(bat1, "L1")], grid=0)
    bat1.set(Role.AC_POWER, 1000)
    await hass.async_block_till_done()
    await hub.tick(360, grid=0, step=10)  # 0.1 kWh
    ac = bat1.entity_ids[Role.AC_POWER]
    attributes = {**hass.states.get(ac).attributes, "unit_of_measurement": unit}  # type: ignore[union-attr]
    hass.states.async_set(ac, state, attributes)
    await hub.tick(30, grid=0, step=10)
    bat1.set(Role.AC_POWER, 1000)
    await hass.async_block_till_done()
    await hub.tick(360, grid=0, step=10)
    # 2 x 6 min of 1000 W (0.2 kWh) and some of the glitch's 30 s: each step of the tick
    # is 10 s, so a reading counted shows as 20-30 s of 1000 W, one not counted as 0-10 s.
    glitch_s = (_value(hub, "energy_discharged", bat1) - 0.2) * 3_600_000 / 1000.0
    if counted:
        assert 20.0 <= glitch_s <= 31.0
    else:
        assert -1.0 <= glitch_s <= 11.0
    assert _value(hub, "total_energy_discharged") == _value(hub, "energy_discharged", bat1)
    assert _value(hub, "energy_charged", bat1) == 0.0
    assert _value(hub, "total_energy_charged") == 0.0
    assert _value(hub, "conversion_loss_today") <= 0.1
