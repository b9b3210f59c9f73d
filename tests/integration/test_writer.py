"""Writes under faults: concurrency, one deadline, stale readings, reductions, what was told
(issue 8, defects 6, 9, 11; "Writes under faults")."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
import contextlib
import logging
from typing import Any
from unittest.mock import patch

from homeassistant.core import HomeAssistant
import pytest

from custom_components.marstek_strategy.const import CONF_KEEPALIVE, Role
from tests.conftest import Hub, LilyGoFleet


async def _hang(*_args: Any) -> None:
    await asyncio.sleep(3600)


#: The write methods of a battery's entities, patched to hang while its gateway is dead.
_WRITERS = (
    (Role.FORCIBLE_MODE, "async_select_option"),
    (Role.RS485_MODE, "async_select_option"),
    (Role.CHARGE_POWER, "async_set_native_value"),
    (Role.DISCHARGE_POWER, "async_set_native_value"),
)


@contextlib.contextmanager
def _gateway_dead(battery: Any, tried: list[float] | None = None) -> Iterator[None]:
    """Every write to battery hangs (noted in tried) until the block ends: a dead gateway."""
    answer = asyncio.Event()  # set on the way out: nothing left hanging at teardown
    loop = asyncio.get_running_loop()

    async def dead(*_args: Any) -> None:
        if tried is not None:
            tried.append(loop.time())
        await answer.wait()

    with contextlib.ExitStack() as stack:
        stack.callback(answer.set)
        for role, method in _WRITERS:
            stack.enter_context(patch.object(battery.entities[role], method, dead))
        yield


async def _step(hass: HomeAssistant, hub: Hub, grid: float) -> None:
    """Half a second with the meter at grid; no block_till_done (writes hang)."""
    from pytest_homeassistant_custom_component.common import async_fire_time_changed

    hub.meter.set(grid)
    hub.freezer.tick(0.5)
    async_fire_time_changed(hass)
    for _ in range(300):
        await asyncio.sleep(0)


async def test_hung_boards_do_not_delay_the_others(
    hass: HomeAssistant, lilygo_fleet: LilyGoFleet, make_hub: Any
) -> None:
    """Defect 6: two hung boards delay a cycle by one deadline, not one timeout per write."""
    from pytest_homeassistant_custom_component.common import async_fire_time_changed

    bat1 = await lilygo_fleet.add_battery("lilygo-bat1", soc=90)
    bat2 = await lilygo_fleet.add_battery("lilygo-bat2", soc=80)
    bat3 = await lilygo_fleet.add_battery("lilygo-bat3", soc=70)
    hub: Hub = await make_hub([(bat1, "L1"), (bat2, "L1"), (bat3, "L1")], grid=0)
    with (
        patch.object(bat1.entities[Role.DISCHARGE_POWER], "async_set_native_value", _hang),
        patch.object(bat2.entities[Role.DISCHARGE_POWER], "async_set_native_value", _hang),
    ):
        hub.meter.set(2400)
        hub.freezer.tick(6.5)
        async_fire_time_changed(hass)  # the cycle starts; the hung writes hang
        for _ in range(100):
            await asyncio.sleep(0)
        # the third battery is written at once, while the first two still hang
        assert bat3.state(Role.FORCIBLE_MODE) == "discharge"
        assert float(bat3.state(Role.DISCHARGE_POWER)) > 0
        hub.freezer.tick(10)  # one deadline (10 s) ends every hung write
        async_fire_time_changed(hass)
        await hass.async_block_till_done()
    for battery in (bat1, bat2):
        assert battery.state(Role.FORCIBLE_MODE) == "stop"  # never a mode without its power
    timed_out = [r for r in hub.coordinator.write_log if r.detail == "timed out"]
    assert {r.battery for r in timed_out} == {"lilygo-bat1", "lilygo-bat2"}


async def test_no_start_on_readings_older_than_the_stale_timeout(
    hass: HomeAssistant, lilygo_fleet: LilyGoFleet, make_hub: Any
) -> None:
    """A slow stop makes the readings too old: the start planned on them waits a cycle."""
    bat1 = await lilygo_fleet.add_battery("lilygo-bat1", soc=80, mode="charge", charge_power=500)
    bat2 = await lilygo_fleet.add_battery("lilygo-bat2", soc=80)
    select = bat1.entities[Role.FORCIBLE_MODE]
    original = select.async_select_option

    async def _slow(option: str) -> None:
        hub.freezer.tick(0.3)  # the write takes 0.3 s
        await original(option)

    hub: Hub = await make_hub(
        [(bat1, "L1"), (bat2, "L1")],
        grid=-500,
        options={"stale_timeout": 30.0, "refresh_meter": False},
    )
    await hub.tick(12, grid=0, step=12)
    # bat1 charges 500 W; now it may only discharge and the house imports: it stops, bat2
    # starts. The meter last reported 29.9 s before the cycle.
    await hass.services.async_call(
        "select",
        "select_option",
        {"entity_id": hub.entity_id("select", "participation", bat1), "option": "off"},
        blocking=True,
    )
    hub.meter.set(1500)
    lilygo_fleet.clear_writes()
    with patch.object(select, "async_select_option", _slow):
        await hub.tick(29.9, step=29.9)
    assert bat1.state(Role.FORCIBLE_MODE) == "stop"  # lowering goes
    assert bat2.state(Role.FORCIBLE_MODE) == "stop"  # not started on 30 s old readings
    stale = [r for r in hub.coordinator.write_log if "stale" in (r.detail or "")]
    assert {r.battery for r in stale} == {"lilygo-bat2"}
    await hub.tick(6.5, grid=1500, step=6.5)  # read again: fresh, it starts
    assert bat2.state(Role.FORCIBLE_MODE) == "discharge"


async def test_lower_power_goes_after_a_failed_keepalive_enable(
    hass: HomeAssistant, lilygo_fleet: LilyGoFleet, make_hub: Any
) -> None:
    """Defect 9: the RS485 enable of a keep-alive fails; the lower power still goes."""
    bat1 = await lilygo_fleet.add_battery("lilygo-bat1", soc=80)
    hub: Hub = await make_hub([(bat1, "L1")], grid=600, options={CONF_KEEPALIVE: 6.5})
    await hub.tick(12, grid=0, step=12)
    before = float(bat1.state(Role.DISCHARGE_POWER))
    assert before > 500
    bat1.fail_writes.add(Role.RS485_MODE)
    await hub.tick(6.5, grid=-300, step=6.5)
    assert float(bat1.state(Role.DISCHARGE_POWER)) < before - 200
    assert hub.state("sensor", "setpoint_power", bat1) == str(
        int(float(bat1.state(Role.DISCHARGE_POWER)))
    )


async def test_setpoint_shows_what_the_battery_was_told_after_a_failed_write(
    hass: HomeAssistant, lilygo_fleet: LilyGoFleet, make_hub: Any
) -> None:
    """Defect 11: the power write failed and the mode was not sent: the battery stands."""
    bat1 = await lilygo_fleet.add_battery("lilygo-bat1", soc=80)
    bat1.fail_writes.add(Role.DISCHARGE_POWER)
    hub: Hub = await make_hub([(bat1, "L1")], grid=600)
    assert bat1.state(Role.FORCIBLE_MODE) == "stop"
    assert hub.state("sensor", "setpoint_mode", bat1) == "stop"
    assert hub.state("sensor", "setpoint_power", bat1) == "0"
    assert hub.state("sensor", "total_setpoint") == "0"


async def test_setpoint_in_fail_safe_shows_a_stop_that_failed(
    hass: HomeAssistant, lilygo_fleet: LilyGoFleet, make_hub: Any
) -> None:
    """Defect 11: in fail-safe, a battery whose stop failed is shown as it still runs."""
    bat1 = await lilygo_fleet.add_battery("lilygo-bat1", soc=80)
    hub: Hub = await make_hub([(bat1, "L1")], grid=600)
    await hub.tick(12, grid=0, step=12)
    assert bat1.state(Role.FORCIBLE_MODE) == "discharge"
    bat1.fail_writes.update({Role.FORCIBLE_MODE, Role.DISCHARGE_POWER})
    hub.meter.set_available(False)
    await hub.tick(6.5, step=6.5)
    assert hub.state("sensor", "status") == "fail_safe"
    assert bat1.state(Role.FORCIBLE_MODE) == "discharge"
    assert hub.state("sensor", "setpoint_mode", bat1) == "discharge"
    assert int(hub.state("sensor", "setpoint_power", bat1)) > 0
    assert hub.state("sensor", "reason", bat1) == "fail_safe"


async def test_a_refresh_asked_for_does_not_shorten_the_settle_delay(
    hass: HomeAssistant, lilygo_fleet: LilyGoFleet, make_hub: Any
) -> None:
    """homeassistant.update_entity on a hub sensor while settling runs no cycle."""
    bat1 = await lilygo_fleet.add_battery("lilygo-bat1", soc=80)
    hub: Hub = await make_hub([(bat1, "L1")], grid=600)
    assert hub.state("sensor", "status") == "settling"
    lilygo_fleet.clear_writes()
    await hub.tick(2, grid=900)
    await hass.services.async_call(
        "homeassistant",
        "update_entity",
        {"entity_id": hub.entity_id("sensor", "status")},
        blocking=True,
    )
    await hub.tick(9.5, grid=900)
    assert lilygo_fleet.writes == []  # 11.5 s: still settling
    await hub.tick(0.5, grid=900)
    assert float(bat1.state(Role.DISCHARGE_POWER)) > 800 or bat1.writes


async def test_a_battery_whose_writes_time_out_holds_neither_the_cycle_nor_the_others(
    hass: HomeAssistant,
    lilygo_fleet: LilyGoFleet,
    make_hub: Any,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A dead Modbus gateway: its battery's writes time out, its readings still look valid.

    It goes on with its last setpoint and cannot be stopped. After its first timeout it is
    not counted on (reason not_responding, said once): the other battery covers the demand,
    written at once (not after the dead one's stop timed out); each later cycle waits
    PROBE_TIMEOUT_S for it, not the full deadline; its stop goes as soon as it answers (the
    e2e --modbus board-offline check: the grid stayed 1.2 kW off for 75 s, L1's stop holding
    every cycle for the whole deadline).
    """

    from custom_components.marstek_strategy.adapters.writer import (
        PROBE_TIMEOUT_S,
        WRITE_TIMEOUT_S,
    )

    caplog.set_level(logging.INFO)
    bat1 = await lilygo_fleet.add_battery("lilygo-bat1", soc=90, max_discharge_power=2500)
    bat2 = await lilygo_fleet.add_battery("lilygo-bat2", soc=80, max_discharge_power=2500)
    hub: Hub = await make_hub([(bat1, "L1"), (bat2, "L1")], grid=500)
    await hub.tick(12, grid=0, step=12)
    assert bat1.state(Role.FORCIBLE_MODE) == "discharge"  # the first in priority
    assert bat2.state(Role.FORCIBLE_MODE) == "stop"
    told = float(bat1.state(Role.DISCHARGE_POWER))
    loop = asyncio.get_running_loop()
    tried: list[float] = []

    async def until(done: Callable[[], bool], grid: float, what: str) -> None:
        for _ in range(80):  # 40 s at most
            if done():
                return
            await _step(hass, hub, grid)
        pytest.fail(f"not within 40 s: {what}")

    async def cycle(grid: float) -> float:
        """Let the next cycle run; return how long it wrote (from its first try of bat1)."""
        cycles, attempts = len(hub.cycles), len(tried)
        await until(lambda: len(tried) > attempts, grid, "a write to bat1")
        start = tried[attempts]
        await until(lambda: len(hub.cycles) > cycles, grid, "the end of the cycle")
        return loop.time() - start

    with _gateway_dead(bat1, tried):
        took = await cycle(-200)  # less load: bat1 is lowered; the write hangs
        assert took >= WRITE_TIMEOUT_S - 0.5  # (0.5 s steps)
        assert hub.coordinator.writer.not_answering == frozenset({0})
        # A kettle: bat1 goes on with its setpoint; the house imports 1.2 kW more.
        attempts = len(tried)
        await until(lambda: len(tried) > attempts, 1200, "bat1's stop")
        # bat2 is written at once, while bat1's stop is still being tried
        assert bat2.state(Role.FORCIBLE_MODE) == "discharge"
        assert float(bat2.state(Role.DISCHARGE_POWER)) > 1000  # the whole demand
        cycles = len(hub.cycles)
        await until(lambda: len(hub.cycles) > cycles, 0, "the end of the cycle")
        assert loop.time() - tried[attempts] <= PROBE_TIMEOUT_S + 0.5
        assert hub.state("sensor", "reason", bat1) == "not_responding"
        assert bat1.state(Role.FORCIBLE_MODE) == "discharge"  # it goes on: shown as it is
        assert hub.state("sensor", "setpoint_mode", bat1) == "discharge"
        assert float(hub.state("sensor", "setpoint_power", bat1)) == told
        took = await cycle(0)  # its stop is tried again, PROBE_TIMEOUT_S long
        assert took <= PROBE_TIMEOUT_S + 0.5
    said = [r for r in caplog.records if "does not answer" in r.getMessage()]
    assert len(said) == 1
    assert said[0].levelno == logging.WARNING
    modes = len(bat1.values(Role.FORCIBLE_MODE))
    await hub.tick(20, grid=0)  # it answers again: its stop goes first, then it takes part
    assert bat1.values(Role.FORCIBLE_MODE)[modes:][0] == "stop"
    assert hub.coordinator.writer.not_answering == frozenset()
    assert hub.state("sensor", "reason", bat1) != "not_responding"
    assert "Battery lilygo-bat1 answers again" in caplog.text


async def test_a_battery_whose_start_timed_out_is_tried_again_every_cycle(
    hass: HomeAssistant, lilygo_fleet: LilyGoFleet, make_hub: Any
) -> None:
    """A start that timed out leaves it told stop: its stop is written again every cycle.

    Without the probe nothing was to be written to it (the plan stops it, and it was told
    stop), so nothing told that it answers again: with the keep-alive off it stayed out of
    the strategy for good (a review found it).
    """

    bat1 = await lilygo_fleet.add_battery("lilygo-bat1", soc=90, max_discharge_power=2500)
    bat2 = await lilygo_fleet.add_battery("lilygo-bat2", soc=80, max_discharge_power=2500)
    hub: Hub = await make_hub([(bat1, "L1"), (bat2, "L1")], grid=0, options={CONF_KEEPALIVE: 0})
    await hub.tick(12, grid=0, step=12)
    assert bat1.state(Role.FORCIBLE_MODE) == "stop"
    with _gateway_dead(bat1):
        for _ in range(40):  # 20 s: a start of bat1 is tried and times out
            await _step(hass, hub, 600)
            if hub.coordinator.writer.not_answering:
                break
        assert hub.coordinator.writer.not_answering == frozenset({0})
        assert hub.coordinator.commanded[0].mode.value == "stop"  # the start never went
    await hub.tick(30, grid=600)  # the gateway is back
    assert hub.coordinator.writer.not_answering == frozenset()
    assert hub.state("sensor", "reason", bat1) != "not_responding"
