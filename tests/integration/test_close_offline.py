"""Closing while a board does not answer: the log names the battery that may run on (redteam6).

Unloaded (the entry disabled or reloaded) or with Home Assistant stopping, a battery whose
board is offline cannot take its stop. The stop is kept and made when the integration runs
again, but nothing shows that meanwhile: no sensor runs, and the log said only "retrying next
cycle" at info level.
"""

from __future__ import annotations

from typing import Any

from homeassistant.config_entries import ConfigEntryDisabler
from homeassistant.core import HomeAssistant
import pytest

from custom_components.marstek_strategy.const import Role
from tests.conftest import Hub, LilyGoFleet

MESSAGE = "a stop was not taken"


def _warnings(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [
        r.getMessage()
        for r in caplog.records
        if r.levelname == "WARNING" and MESSAGE in r.getMessage()
    ]


async def _offline_while_discharging(lilygo_fleet: LilyGoFleet, make_hub: Any) -> Hub:
    bat1 = await lilygo_fleet.add_battery("lilygo-bat1", soc=80)
    bat2 = await lilygo_fleet.add_battery("lilygo-bat2", soc=80)
    hub: Hub = await make_hub([(bat1, "L1"), (bat2, "L1")], grid=3000)
    await hub.tick(13, grid=3000, step=6.5)
    assert bat1.state(Role.FORCIBLE_MODE) == "discharge"
    bat1.set_available(False)
    return hub


async def test_disabling_the_hub_names_a_battery_whose_stop_is_kept(
    hass: HomeAssistant, lilygo_fleet: LilyGoFleet, make_hub: Any, caplog: pytest.LogCaptureFixture
) -> None:
    hub = await _offline_while_discharging(lilygo_fleet, make_hub)
    bat1, bat2 = lilygo_fleet.batteries.values()
    assert await hass.config_entries.async_set_disabled_by(
        hub.entry.entry_id, ConfigEntryDisabler.USER
    )
    await hass.async_block_till_done()
    assert bat2.state(Role.FORCIBLE_MODE) == "stop"
    warnings = _warnings(caplog)
    assert len(warnings) == 1
    assert bat1.name in warnings[0]
    assert bat2.name not in warnings[0]


async def test_home_assistant_stopping_names_a_battery_whose_stop_is_kept(
    hass: HomeAssistant, lilygo_fleet: LilyGoFleet, make_hub: Any, caplog: pytest.LogCaptureFixture
) -> None:
    await _offline_while_discharging(lilygo_fleet, make_hub)
    bat1, bat2 = lilygo_fleet.batteries.values()
    await hass.async_stop()
    assert bat2.state(Role.FORCIBLE_MODE) == "stop"
    warnings = _warnings(caplog)
    assert len(warnings) == 1
    assert bat1.name in warnings[0]


async def test_closing_with_every_stop_made_warns_of_nothing(
    hass: HomeAssistant, lilygo_fleet: LilyGoFleet, make_hub: Any, caplog: pytest.LogCaptureFixture
) -> None:
    bat1 = await lilygo_fleet.add_battery("lilygo-bat1", soc=80)
    hub: Hub = await make_hub([(bat1, "L1")], grid=1500)
    await hub.tick(13, grid=1500, step=6.5)
    assert await hass.config_entries.async_unload(hub.entry.entry_id)
    assert bat1.state(Role.FORCIBLE_MODE) == "stop"
    assert not _warnings(caplog)


async def test_reloads_while_the_board_stays_offline_say_it_once(
    hass: HomeAssistant, lilygo_fleet: LilyGoFleet, make_hub: Any, caplog: pytest.LogCaptureFixture
) -> None:
    """Each reload is a closing; a board offline through several says its stop once.

    Renaming a removed battery's entities reloaded the hub ten times in 0.6 s in the e2e, and
    each closing logged the same warning. Once the stop is made, a later closing that cannot
    make it says so again.
    """
    hub = await _offline_while_discharging(lilygo_fleet, make_hub)
    bat1, _ = lilygo_fleet.batteries.values()
    for _ in range(3):
        assert await hass.config_entries.async_reload(hub.entry.entry_id)
        await hass.async_block_till_done()
    assert len(_warnings(caplog)) == 1

    bat1.set_available(True)  # the stop owed is made, then the plan runs it again
    await hub.tick(20, grid=3000, step=6.5)
    assert bat1.state(Role.FORCIBLE_MODE) == "discharge"
    assert await hass.config_entries.async_reload(hub.entry.entry_id)  # every stop made
    await hass.async_block_till_done()
    assert len(_warnings(caplog)) == 1
    await hub.tick(20, grid=3000, step=6.5)
    assert bat1.state(Role.FORCIBLE_MODE) == "discharge"
    bat1.set_available(False)
    assert await hass.config_entries.async_reload(hub.entry.entry_id)
    await hass.async_block_till_done()
    assert len(_warnings(caplog)) == 2
