"""Dedicated tests of three review fixes (commit e9e28ad); each fails without its fix."""

from __future__ import annotations

import logging
from typing import Any
from unittest.mock import patch

from homeassistant.core import Context, HomeAssistant
from homeassistant.setup import async_setup_component
import pytest

from custom_components.marstek_strategy.card import CARD_URL, async_register_card
from custom_components.marstek_strategy.const import CONF_KEEPALIVE, Role
from tests.conftest import Hub, LilyGoFleet


async def test_failsafe_keepalive_counts_from_entering_failsafe(
    hass: HomeAssistant, lilygo_fleet: LilyGoFleet, make_hub: Any
) -> None:
    """The stop is asserted again one keep-alive period after entering fail-safe, not sooner.

    The last keep-alive while running was long before: counted from it, the stops would all
    be written again in the first fail-safe cycle after entering.
    """
    bat1 = await lilygo_fleet.add_battery("lilygo-bat1", soc=80)
    hub: Hub = await make_hub([(bat1, "L1")], grid=1500, options={CONF_KEEPALIVE: 30.0})
    await hub.tick(26, grid=1500, step=6.5)  # running; its keep-alive was at the start
    assert bat1.state(Role.FORCIBLE_MODE) == "discharge"
    hub.meter.set_available(False)
    await hub.tick(6.5, step=6.5)  # enters fail-safe: every stop written
    assert hub.state("sensor", "status") == "fail_safe"
    assert bat1.state(Role.FORCIBLE_MODE) == "stop"
    lilygo_fleet.clear_writes()
    await hub.tick(6.5 * 3, step=6.5)  # 19.5 s into fail-safe: nothing to assert yet
    assert lilygo_fleet.writes == []
    await hub.tick(6.5 * 2, step=6.5)  # 32.5 s: the keep-alive asserts the stop again
    assert "stop" in bat1.values(Role.FORCIBLE_MODE)


async def test_a_hand_change_on_a_removed_battery_after_its_stop_is_left_alone(
    hass: HomeAssistant,
    lilygo_fleet: LilyGoFleet,
    make_hub: Any,
    hass_admin_user: Any,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A battery removed while offline is stopped once back; a person then drives it.

    It stays among the loop's targets (its stop was owed at the reload) but is no longer
    driven: its change is neither an error nor taken as a battery of the plan.
    """
    bat1 = await lilygo_fleet.add_battery("lilygo-bat1", soc=80)
    bat2 = await lilygo_fleet.add_battery("lilygo-bat2", soc=70)
    hub: Hub = await make_hub([(bat1, "L1"), (bat2, "L1")], grid=3000)
    await hub.tick(12, grid=3000, step=12)
    assert bat2.state(Role.FORCIBLE_MODE) == "discharge"
    bat2.set_available(False)
    assert hass.config_entries.async_remove_subentry(hub.entry, hub.subentry_id(bat2))
    await hass.async_block_till_done()
    await hub.tick(13, grid=3000, step=6.5)
    bat2.set_available(True)
    await hub.tick(6.5, grid=3000, step=6.5)
    assert bat2.state(Role.FORCIBLE_MODE) == "stop"  # its stop is made
    assert [b.title for b in hub.coordinator.targets] == ["lilygo-bat1", "lilygo-bat2"]
    caplog.clear()
    with caplog.at_level(logging.ERROR):
        await hass.services.async_call(
            "select",
            "select_option",
            {"entity_id": bat2.entity_ids[Role.FORCIBLE_MODE], "option": "discharge"},
            blocking=True,
            context=Context(user_id=hass_admin_user.id),
        )
        await hass.async_block_till_done()
        lilygo_fleet.clear_writes()
        await hub.tick(20, grid=3000, step=6.5)
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert bat2.state(Role.FORCIBLE_MODE) == "discharge"  # a person drives it now
    assert not bat2.writes
    assert bat1.state(Role.FORCIBLE_MODE) == "discharge"


async def test_the_card_is_registered_again_after_a_failed_attempt(
    hass: HomeAssistant, hass_client: Any
) -> None:
    """Serving the card fails once (the HTTP server not ready): the next setup serves it."""
    assert await async_setup_component(hass, "http", {})
    assert hass.http is not None
    real = hass.http.async_register_static_paths
    attempts: list[Any] = []

    async def fails_once(configs: Any) -> None:
        attempts.append(configs)
        if len(attempts) == 1:
            raise RuntimeError("not ready")
        await real(configs)

    with patch.object(hass.http, "async_register_static_paths", fails_once):
        with pytest.raises(RuntimeError):
            await async_register_card(hass)
        await async_register_card(hass)
        await async_register_card(hass)  # once served, not again
    assert len(attempts) == 2
    client = await hass_client()
    response = await client.get(CARD_URL)
    assert response.status == 200
