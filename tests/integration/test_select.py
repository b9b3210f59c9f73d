"""Selects: strategy and participation, restored across restarts."""

from __future__ import annotations

from typing import Any

from homeassistant.core import HomeAssistant, State
from pytest_homeassistant_custom_component.common import mock_restore_cache

from custom_components.marstek_strategy.const import Role
from custom_components.marstek_strategy.core.engine import Strategy
from custom_components.marstek_strategy.core.readings import Participation
from tests.conftest import Hub, LilyGoFleet


async def test_selects_restored(
    hass: HomeAssistant, lilygo_fleet: LilyGoFleet, make_hub: Any
) -> None:
    bat1 = await lilygo_fleet.add_battery("lilygo-bat1", soc=50)
    mock_restore_cache(
        hass,
        [
            State("select.marstek_strategy_strategy", "equal"),
            State("select.lilygo_bat1_strategy_participation", "charge_only"),
        ],
    )
    hub: Hub = await make_hub([(bat1, "L1")])
    settings = hub.entry.runtime_data.settings
    assert settings.strategy is Strategy.EQUAL
    assert settings.batteries[hub.subentry_id(bat1)].participation is Participation.CHARGE_ONLY
    assert hub.state("select", "strategy") == "equal"
    assert hub.state("select", "participation", bat1) == "charge_only"


async def test_unknown_restored_option_is_ignored(
    hass: HomeAssistant, lilygo_fleet: LilyGoFleet, make_hub: Any
) -> None:
    bat1 = await lilygo_fleet.add_battery("lilygo-bat1", soc=50)
    mock_restore_cache(
        hass,
        [
            State("select.marstek_strategy_strategy", "gone"),
            State("select.lilygo_bat1_strategy_participation", "unavailable"),
        ],
    )
    hub: Hub = await make_hub([(bat1, "L1")])
    assert hub.state("select", "strategy") == "priority"
    assert hub.state("select", "participation", bat1) == "auto"


async def test_strategy_select(
    hass: HomeAssistant, lilygo_fleet: LilyGoFleet, make_hub: Any
) -> None:
    bat1 = await lilygo_fleet.add_battery("lilygo-bat1", soc=50)
    hub: Hub = await make_hub([(bat1, "L1")])
    await hass.services.async_call(
        "select",
        "select_option",
        {"entity_id": hub.entity_id("select", "strategy"), "option": "equal"},
        blocking=True,
    )
    assert hub.entry.runtime_data.settings.strategy is Strategy.EQUAL
    assert hub.state("select", "strategy") == "equal"


async def test_participation_discharge_only_and_off(
    hass: HomeAssistant, lilygo_fleet: LilyGoFleet, make_hub: Any
) -> None:
    bat1 = await lilygo_fleet.add_battery("lilygo-bat1", soc=50)
    hub: Hub = await make_hub([(bat1, "L1")], grid=-800)
    assert bat1.state(Role.FORCIBLE_MODE) == "charge"
    await hass.services.async_call(
        "select",
        "select_option",
        {"entity_id": hub.entity_id("select", "participation", bat1), "option": "discharge_only"},
        blocking=True,
    )
    await hub.tick(12, grid=-800, step=12)
    assert bat1.state(Role.FORCIBLE_MODE) == "stop"
    assert hub.state("sensor", "reason", bat1) == "not_allowed"
    await hub.tick(6.5, grid=800, step=6.5)
    assert bat1.state(Role.FORCIBLE_MODE) == "discharge"
    await hass.services.async_call(
        "select",
        "select_option",
        {"entity_id": hub.entity_id("select", "participation", bat1), "option": "off"},
        blocking=True,
    )
    await hub.tick(12, grid=800, step=12)
    assert bat1.state(Role.FORCIBLE_MODE) == "stop"
