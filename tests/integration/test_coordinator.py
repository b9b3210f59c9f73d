"""The control loop driven by the clock: timing, written values, writes only on change."""

from __future__ import annotations

from datetime import timedelta
from typing import Any
from unittest.mock import patch

from homeassistant.const import ATTR_UNIT_OF_MEASUREMENT
from homeassistant.core import Context, HomeAssistant, State
import pytest
from pytest_homeassistant_custom_component.common import async_mock_service

from custom_components.marstek_strategy.adapters.writer import number_value as _number_value
from custom_components.marstek_strategy.const import (
    CONF_DRY_RUN,
    CONF_KEEPALIVE,
    CONF_REFRESH_METER,
    Role,
)
from tests.conftest import FakeBattery, Hub, LilyGoFleet


def _gaps(hub: Hub) -> list[float]:
    """Seconds between consecutive cycles."""
    return [
        round((later - earlier).total_seconds(), 1)
        for earlier, later in zip(hub.cycles, hub.cycles[1:], strict=False)
    ]


def _written(battery: FakeBattery) -> list[tuple[str, float | str]]:
    return [(w.role.value, w.value) for w in battery.writes]


async def test_cycles_follow_settle_then_interval(
    hass: HomeAssistant, lilygo_fleet: LilyGoFleet, make_hub: Any
) -> None:
    """Entering discharge waits 12 s before the next cycle; steady cycles 6.5 s apart."""
    bat1 = await lilygo_fleet.add_battery("lilygo-bat1", soc=80)
    hub: Hub = await make_hub([(bat1, "L1")], grid=600)
    assert hub.state("sensor", "status") == "settling"
    assert hub.coordinator.data.delay_s == 12.0
    start = len(hub.cycles)
    await hub.tick(11.9, grid=0, step=0.1)
    assert len(hub.cycles) == start  # not before 12 s
    await hub.tick(0.1, grid=0, step=0.1)
    assert len(hub.cycles) == start + 1
    assert hub.state("sensor", "status") == "running"
    await hub.tick(6.4, grid=0, step=0.1)
    assert len(hub.cycles) == start + 1  # not before 6.5 s
    await hub.tick(12.9, grid=0, step=0.1)
    assert len(hub.cycles) == start + 3
    assert _gaps(hub)[-3:] == [12.0, 6.5, 6.5]


async def test_written_values_and_writes_only_on_change(
    hass: HomeAssistant, lilygo_fleet: LilyGoFleet, make_hub: Any
) -> None:
    """The first cycle enables RS485 and sets power then mode; then only changes."""
    bat1 = await lilygo_fleet.add_battery("lilygo-bat1", soc=80, rs485="disable")
    hub: Hub = await make_hub([(bat1, "L1")], grid=600)
    # 600 W import, discharge correction 1.026: 616 W.
    assert _written(bat1) == [
        ("rs485_mode_entity", "enable"),
        ("discharge_power_entity", 616),
        ("forcible_mode_entity", "discharge"),
    ]
    assert float(bat1.state(Role.DISCHARGE_POWER)) == 616
    assert hub.state("sensor", "setpoint_power", bat1) == "616"
    assert hub.state("sensor", "setpoint_mode", bat1) == "discharge"
    assert hub.state("sensor", "reason", bat1) == "running"
    reason = hass.states.get(hub.entity_id("sensor", "reason", bat1))
    assert reason is not None
    assert reason.attributes["detail"] == "started_for_phase"
    assert hub.state("sensor", "total_setpoint") == "616"
    assert hub.state("sensor", "grid_power") == "600.0"

    lilygo_fleet.clear_writes()
    await hub.tick(12 + 6.5, grid=0)  # balanced: nothing changes, nothing is written
    assert lilygo_fleet.writes == []

    await hub.tick(6.5, grid=100)  # more import: only the power number changes
    assert _written(bat1) == [("discharge_power_entity", 719)]
    # each write carries its own context
    assert hub.coordinator.write_log[-1].context_id == bat1.writes[-1].context_id


async def test_keepalive_refreshes_rs485_and_setpoints(
    hass: HomeAssistant, lilygo_fleet: LilyGoFleet, make_hub: Any
) -> None:
    """Every 30 s RS485 enable, power and mode are sent again, unchanged or not."""
    bat1 = await lilygo_fleet.add_battery("lilygo-bat1", soc=80)
    hub: Hub = await make_hub([(bat1, "L1")], grid=600)
    lilygo_fleet.clear_writes()
    await hub.tick(12 + 6.5 + 6.5, grid=0)  # 25 s after the first keep-alive
    assert lilygo_fleet.writes == []
    await hub.tick(6.5, grid=0)  # 31.5 s: keep-alive
    assert _written(bat1) == [
        ("rs485_mode_entity", "enable"),
        ("discharge_power_entity", 616),
        ("forcible_mode_entity", "discharge"),
    ]
    lilygo_fleet.clear_writes()
    await hub.tick(6.5 * 4, grid=0)
    assert lilygo_fleet.writes == []


async def test_keepalive_off(hass: HomeAssistant, lilygo_fleet: LilyGoFleet, make_hub: Any) -> None:
    bat1 = await lilygo_fleet.add_battery("lilygo-bat1", soc=80, rs485="enable")
    await make_hub([(bat1, "L1")], grid=0, options={CONF_KEEPALIVE: 0})
    await lilygo_fleet.batteries["lilygo-bat1"].fleet.hass.async_block_till_done()
    hub_writes = list(lilygo_fleet.writes)
    assert hub_writes == []  # stopped and grid balanced: nothing to say, no keep-alive


async def test_dry_run_writes_nothing(
    hass: HomeAssistant, lilygo_fleet: LilyGoFleet, make_hub: Any
) -> None:
    """Dry-run computes and shows the plan, and never writes a battery."""
    bat1 = await lilygo_fleet.add_battery("lilygo-bat1", soc=80)
    hub: Hub = await make_hub([(bat1, "L1")], grid=600, options={CONF_DRY_RUN: True})
    await hub.tick(30, grid=600)
    assert lilygo_fleet.writes == []
    assert hub.state("sensor", "status") == "dry_run"
    assert hub.state("sensor", "setpoint_mode", bat1) == "discharge"
    assert int(hub.state("sensor", "setpoint_power", bat1)) > 0
    assert {record.result for record in hub.coordinator.write_log} == {"dry_run"}
    # nothing was written, so nothing settles: every cycle after the interval (a true dry
    # run plans from what the batteries do, which a dry run does not change)
    assert _gaps(hub)[:3] == [6.5, 6.5, 6.5]
    await hass.config_entries.async_unload(hub.entry.entry_id)
    assert lilygo_fleet.writes == []  # not even the stop on unload


async def test_startup_takes_over_what_batteries_do(
    hass: HomeAssistant, lilygo_fleet: LilyGoFleet, make_hub: Any
) -> None:
    """A restart does not jolt a discharging battery: the plan in force comes from it."""
    bat1 = await lilygo_fleet.add_battery(
        "lilygo-bat1", soc=80, mode="discharge", discharge_power=616
    )
    hub: Hub = await make_hub([(bat1, "L1")], grid=0)
    assert "stop" not in bat1.values(Role.FORCIBLE_MODE)
    assert set(bat1.values(Role.DISCHARGE_POWER)) <= {616}
    assert hub.state("sensor", "setpoint_power", bat1) == "616"
    assert hub.coordinator.data.delay_s == 6.5  # no mode entered: no settle delay


async def test_meter_refresh_option(
    hass: HomeAssistant, lilygo_fleet: LilyGoFleet, make_hub: Any
) -> None:
    bat1 = await lilygo_fleet.add_battery("lilygo-bat1", soc=80)
    hub: Hub = await make_hub([(bat1, "L1")], grid=0)
    assert hub.meter.refreshes == 1  # the grid sensor, before the first cycle
    await hub.tick(6.5, grid=0)
    assert hub.meter.refreshes == 2


async def test_meter_refresh_off(
    hass: HomeAssistant, lilygo_fleet: LilyGoFleet, make_hub: Any
) -> None:
    bat1 = await lilygo_fleet.add_battery("lilygo-bat1", soc=80)
    hub: Hub = await make_hub([(bat1, "L1")], grid=0, options={CONF_REFRESH_METER: False})
    await hub.tick(13, grid=0)
    assert hub.meter.refreshes == 0


async def test_meter_refresh_failure_is_logged_once(
    hass: HomeAssistant,
    lilygo_fleet: LilyGoFleet,
    make_hub: Any,
    caplog: pytest.LogCaptureFixture,
) -> None:
    bat1 = await lilygo_fleet.add_battery("lilygo-bat1", soc=80)
    hub: Hub = await make_hub([(bat1, "L1")], grid=0)
    hass.services.async_remove("homeassistant", "update_entity")
    await hub.tick(20, grid=0)
    assert caplog.text.count("Could not refresh the meter entities") == 1
    assert hub.state("sensor", "status") == "running"


async def test_three_phase_reads_the_battery_phase(
    hass: HomeAssistant, lilygo_fleet: LilyGoFleet, make_hub: Any
) -> None:
    bat1 = await lilygo_fleet.add_battery("lilygo-bat1", soc=80)
    bat2 = await lilygo_fleet.add_battery("lilygo-bat2", soc=80)
    hub: Hub = await make_hub([(bat1, "L1"), (bat2, "L3")], phase_count=3, grid=None)
    hub.meter.set(300, l1=-200, l2=100, l3=400)
    await hub.tick(12, step=12)
    batteries = hub.coordinator.data.batteries
    assert batteries[hub.subentry_id(bat1)].reading.phase_w == -200
    assert batteries[hub.subentry_id(bat2)].reading.phase_w == 400


async def test_three_phase_batteries_on_two_phases_with_equal_power(
    hass: HomeAssistant, lilygo_fleet: LilyGoFleet, make_hub: Any
) -> None:
    """L1 and L2 both import 1000 W: the second battery to start is the one on L2."""
    bat1 = await lilygo_fleet.add_battery("lilygo-bat1", soc=50)
    bat2 = await lilygo_fleet.add_battery("lilygo-bat2", soc=50)
    bat3 = await lilygo_fleet.add_battery("lilygo-bat3", soc=50)
    hub: Hub = await make_hub([(bat1, "L1"), (bat2, "L1"), (bat3, "L2")], phase_count=3, grid=None)
    hub.meter.set(1500, l1=1000, l2=1000, l3=-500)
    await hub.tick(12, step=12)
    batteries = hub.coordinator.data.batteries
    assert [batteries[hub.subentry_id(b)].reading.phase for b in (bat1, bat2, bat3)] == [
        "L1",
        "L1",
        "L2",
    ]
    assert [bat.state(Role.FORCIBLE_MODE) for bat in (bat1, bat2, bat3)] == [
        "discharge",
        "stop",
        "discharge",
    ]


async def test_single_phase_readings_have_no_phase_label(
    hass: HomeAssistant, lilygo_fleet: LilyGoFleet, make_hub: Any
) -> None:
    bat1 = await lilygo_fleet.add_battery("lilygo-bat1", soc=50)
    hub: Hub = await make_hub([(bat1, "L2")], grid=500)
    assert hub.coordinator.data.batteries[hub.subentry_id(bat1)].reading.phase is None


async def test_kilowatt_meter_and_grid_target(
    hass: HomeAssistant, lilygo_fleet: LilyGoFleet, make_hub: Any
) -> None:
    """A meter in kW is converted; the grid target is subtracted before the engine."""
    bat1 = await lilygo_fleet.add_battery("lilygo-bat1", soc=80)
    hub: Hub = await make_hub([(bat1, "L1")], grid=0, options={CONF_REFRESH_METER: False})
    await hass.services.async_call(
        "number",
        "set_value",
        {"entity_id": hub.entity_id("number", "grid_target"), "value": 50},
        blocking=True,
    )
    attributes = dict(hass.states.get(hub.meter.grid).attributes)
    attributes[ATTR_UNIT_OF_MEASUREMENT] = "kW"
    hass.states.async_set(hub.meter.grid, "0.65", attributes)
    await hub.tick(6.5, step=6.5)
    data = hub.coordinator.data
    assert data.grid_w == 650
    assert data.engine_grid_w == 600
    assert float(bat1.state(Role.DISCHARGE_POWER)) == 616

    attributes[ATTR_UNIT_OF_MEASUREMENT] = "parsec"
    hass.states.async_set(hub.meter.grid, "0.65", attributes)
    await hub.tick(12, step=12)
    assert hub.state("sensor", "status") == "fail_safe"
    assert hub.state("sensor", "fail_safe_cause") == "meter_invalid"


async def test_effective_limits_are_the_stricter(
    hass: HomeAssistant, lilygo_fleet: LilyGoFleet, make_hub: Any
) -> None:
    """The battery's own max power (800 W) wins over the integration's (2500 W), and ours
    wins when lower."""
    bat1 = await lilygo_fleet.add_battery("lilygo-bat1", soc=80, max_discharge_power=800)
    hub: Hub = await make_hub([(bat1, "L1")], grid=2000)
    assert float(bat1.state(Role.DISCHARGE_POWER)) == 800
    await hass.services.async_call(
        "number",
        "set_value",
        {"entity_id": hub.entity_id("number", "max_discharge_power", bat1), "value": 500},
        blocking=True,
    )
    await hub.tick(12, grid=2000, step=12)
    assert float(bat1.state(Role.DISCHARGE_POWER)) == 500
    reading = hub.coordinator.data.batteries[hub.subentry_id(bat1)].reading
    assert reading.max_discharge_w == 500
    assert reading.max_charge_w == 2500


async def test_failed_write_is_retried_and_loop_goes_on(
    hass: HomeAssistant,
    lilygo_fleet: LilyGoFleet,
    make_hub: Any,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A failing power write is retried every cycle; the mode that needs it waits."""
    bat1 = await lilygo_fleet.add_battery("lilygo-bat1", soc=80)
    bat1.fail_writes.add(Role.DISCHARGE_POWER)
    hub: Hub = await make_hub([(bat1, "L1")], grid=600)
    assert bat1.state(Role.FORCIBLE_MODE) == "stop"  # not discharging on an old power
    results = [(r.kind.value, r.result) for r in hub.coordinator.write_log]
    assert ("discharge_power", "failed") in results
    assert ("mode", "skipped") in results
    await hub.tick(12 * 3, grid=600)  # entering discharge: settle delay each time
    assert len(hub.cycles) == 4  # the loop goes on
    assert caplog.text.count("failed (HomeAssistantError") == 1  # logged once
    assert [r.levelname for r in caplog.records if "failed (HomeAssistantError" in r.message] == [
        "INFO"
    ]
    bat1.fail_writes.clear()
    await hub.tick(12, grid=600)
    assert bat1.state(Role.FORCIBLE_MODE) == "discharge"
    assert float(bat1.state(Role.DISCHARGE_POWER)) == 616
    assert "works again" in caplog.text


async def test_write_raising_an_unexpected_error_fails_only_that_battery(
    hass: HomeAssistant,
    lilygo_fleet: LilyGoFleet,
    make_hub: Any,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Any device will do: one whose integration raises something else than a Home
    Assistant error must not stop every battery (it stopped them all, every cycle)."""
    bat1 = await lilygo_fleet.add_battery("lilygo-bat1", soc=80)
    bat2 = await lilygo_fleet.add_battery("lilygo-bat2", soc=70)
    number = bat2.entities[Role.DISCHARGE_POWER]

    async def _broken(value: float) -> None:
        raise RuntimeError("modbus link lost")

    with patch.object(number, "async_set_native_value", _broken):
        hub: Hub = await make_hub([(bat1, "L1"), (bat2, "L1")], grid=1500)
        await hub.tick(12 + 6.5, grid=1500, step=0.5)
    assert hub.state("sensor", "status") in ("running", "settling")
    assert bat1.state(Role.FORCIBLE_MODE) == "discharge"
    assert float(bat1.state(Role.DISCHARGE_POWER)) > 0
    assert bat2.state(Role.FORCIBLE_MODE) == "stop"
    failed = [r for r in hub.coordinator.write_log if r.result == "failed"]
    assert failed
    assert {r.battery for r in failed} == {"lilygo-bat2"}
    assert "modbus link lost" in (failed[0].detail or "")
    assert caplog.text.count("forcible_discharge_power failed (RuntimeError") == 1  # once


async def test_unexpected_error_on_one_battery_does_not_keep_the_others_running(
    hass: HomeAssistant, lilygo_fleet: LilyGoFleet, make_hub: Any
) -> None:
    """Fail-safe: the first battery's mode select raises; the second must still stop."""
    bat1 = await lilygo_fleet.add_battery("lilygo-bat1", soc=80)
    bat2 = await lilygo_fleet.add_battery("lilygo-bat2", soc=70)
    hub: Hub = await make_hub([(bat1, "L1"), (bat2, "L1")], grid=1500)
    await hub.tick(12, grid=1500, step=12)
    assert bat2.state(Role.FORCIBLE_MODE) == "discharge"

    async def _broken(option: str) -> None:
        raise RuntimeError("link lost")

    with patch.object(bat1.entities[Role.FORCIBLE_MODE], "async_select_option", _broken):
        hub.meter.set_available(False)
        await hub.tick(6.5, step=6.5)
        assert hub.state("sensor", "status") == "fail_safe"
        assert bat2.state(Role.FORCIBLE_MODE) == "stop"
        assert float(bat2.state(Role.DISCHARGE_POWER)) == 0
        assert float(bat1.state(Role.DISCHARGE_POWER)) == 0  # its number still worked


async def test_unavailable_target_is_skipped(
    hass: HomeAssistant, lilygo_fleet: LilyGoFleet, make_hub: Any
) -> None:
    bat1 = await lilygo_fleet.add_battery("lilygo-bat1", soc=80)
    bat2 = await lilygo_fleet.add_battery("lilygo-bat2", soc=80)
    hub: Hub = await make_hub([(bat1, "L1"), (bat2, "L1")], grid=600)
    bat1.set_available(False, Role.FORCIBLE_MODE)
    lilygo_fleet.clear_writes()
    await hub.tick(12, grid=600, step=12)
    # bat1 takes no part; its mode select cannot be written, its number is set to 0
    skipped = [r for r in hub.coordinator.write_log if r.result == "skipped"]
    assert skipped
    assert skipped[0].entity_id == bat1.entity_ids[Role.FORCIBLE_MODE]
    assert bat1.values(Role.DISCHARGE_POWER) == [0]
    assert hub.state("sensor", "reason", bat1) == "readings_unavailable"


async def test_engine_error_stops_every_battery(
    hass: HomeAssistant,
    lilygo_fleet: LilyGoFleet,
    make_hub: Any,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A bug in a cycle is a fail-safe: every battery stops, the loop goes on."""
    bat1 = await lilygo_fleet.add_battery("lilygo-bat1", soc=80)
    hub: Hub = await make_hub([(bat1, "L1")], grid=600)
    with patch(
        "custom_components.marstek_strategy.core.engine.allocate",
        side_effect=RuntimeError("boom"),
    ):
        await hub.tick(12, grid=600, step=12)
        assert hub.state("sensor", "status") == "fail_safe"
        assert hub.state("sensor", "fail_safe_cause") == "error"
        assert bat1.state(Role.FORCIBLE_MODE) == "stop"
        assert float(bat1.state(Role.DISCHARGE_POWER)) == 0
        with patch(
            "custom_components.marstek_strategy.core.control.decide",
            side_effect=RuntimeError("boom again"),
        ):
            await hub.tick(6.5, grid=600, step=6.5)
            assert hub.state("sensor", "status") == "fail_safe"
    await hub.tick(6.5, grid=600, step=6.5)
    assert hub.state("sensor", "status") == "settling"
    assert bat1.state(Role.FORCIBLE_MODE) == "discharge"
    assert "Control cycle failed" in caplog.text


async def test_engine_error_in_dry_run_writes_nothing(
    hass: HomeAssistant, lilygo_fleet: LilyGoFleet, make_hub: Any
) -> None:
    """A bug in a dry-run cycle writes nothing: a dry run never drives (review finding)."""
    bat1 = await lilygo_fleet.add_battery("lilygo-bat1", soc=80, mode="discharge")
    hub: Hub = await make_hub([(bat1, "L1")], grid=600, options={CONF_DRY_RUN: True})
    before = list(bat1.writes)
    with patch(
        "custom_components.marstek_strategy.core.engine.allocate",
        side_effect=RuntimeError("boom"),
    ):
        for _ in range(3):
            await hub.tick(6.5, grid=600, step=6.5)
    assert hub.state("sensor", "fail_safe_cause") == "error"
    assert bat1.writes == before
    assert bat1.state(Role.FORCIBLE_MODE) == "discharge"


def test_number_value_clamps_and_rounds() -> None:
    state = State("number.x", "0", {"min": 0, "max": 2500, "step": 50})
    assert _number_value(state, 616) == 600
    assert _number_value(state, 630) == 650
    assert _number_value(state, 3000) == 2500
    assert _number_value(state, -10) == 0
    offset = State("number.y", "0", {"min": 12, "max": 30, "step": 5})
    assert _number_value(offset, 20) == 22
    bare = State("number.z", "0", {})
    assert _number_value(bare, 616.4) == 616.4


async def test_write_clamped_to_target_range(
    hass: HomeAssistant, lilygo_fleet: LilyGoFleet, make_hub: Any
) -> None:
    """A target with a coarser step gets the rounded value, never a rejected one."""
    bat1 = await lilygo_fleet.add_battery("lilygo-bat1", soc=80)
    entity = bat1.entities[Role.DISCHARGE_POWER]
    entity._attr_native_step = 100  # type: ignore[attr-defined]
    entity.async_write_ha_state()
    await make_hub([(bat1, "L1")], grid=600)
    assert bat1.values(Role.DISCHARGE_POWER) == [600]


async def test_select_option_not_offered_is_skipped(
    hass: HomeAssistant, lilygo_fleet: LilyGoFleet, make_hub: Any
) -> None:
    bat1 = await lilygo_fleet.add_battery("lilygo-bat1", soc=80, rs485="disable")
    entity = bat1.entities[Role.RS485_MODE]
    entity._attr_options = ["disable", "on"]  # type: ignore[attr-defined]
    entity.async_write_ha_state()
    hub: Hub = await make_hub([(bat1, "L1")], grid=600)
    first = hub.coordinator.write_log[0]
    assert (first.kind.value, first.result, first.detail) == (
        "rs485_enable",
        "skipped",
        "not an option",
    )
    assert bat1.state(Role.FORCIBLE_MODE) == "stop"


async def test_cycle_times_use_the_interval_option(
    hass: HomeAssistant, lilygo_fleet: LilyGoFleet, make_hub: Any
) -> None:
    bat1 = await lilygo_fleet.add_battery("lilygo-bat1", soc=80)
    hub: Hub = await make_hub(
        [(bat1, "L1")], grid=0, options={"interval": 5.0, "settle_delay": 10.0}
    )
    await hub.tick(15, grid=0, step=0.5)
    assert _gaps(hub)[:3] == [5.0, 5.0, 5.0]
    assert hub.coordinator.data.time - hub.cycles[0] == timedelta(seconds=15)


async def test_battery_back_is_taken_as_it_is(
    hass: HomeAssistant, lilygo_fleet: LilyGoFleet, make_hub: Any
) -> None:
    """A LilyGo that reconnects while its battery runs on is not left uncontrolled."""
    bat1 = await lilygo_fleet.add_battery("lilygo-bat1", soc=80)
    bat2 = await lilygo_fleet.add_battery(
        "lilygo-bat2", soc=80, mode="discharge", discharge_power=800
    )
    bat2.set_available(False)
    hub: Hub = await make_hub([(bat1, "L1"), (bat2, "L1")], grid=0)
    assert hub.coordinator.data.batteries[hub.subentry_id(bat2)].problem is not None
    await hub.tick(6.5, grid=0, step=6.5)
    bat2.set_available(True)
    await hub.tick(6.5, grid=0, step=6.5)
    assert hub.state("sensor", "setpoint_mode", bat2) == "discharge"
    assert hub.state("sensor", "setpoint_power", bat2) == "800"
    assert hub.coordinator.commanded[1].discharge_w == 800


async def test_battery_without_rs485_select(
    hass: HomeAssistant, lilygo_fleet: LilyGoFleet, make_hub: Any
) -> None:
    roles = [r for r in Role if r is not Role.RS485_MODE]
    bat1 = await lilygo_fleet.add_battery("lilygo-bat1", soc=80, roles=roles, v3=True)
    hub: Hub = await make_hub([(bat1, "L1")], grid=600)
    assert _written(bat1) == [
        ("discharge_power_entity", 616),
        ("forcible_mode_entity", "discharge"),
    ]
    reading = hub.coordinator.data.batteries[hub.subentry_id(bat1)].reading
    assert (reading.charge_cutoff, reading.discharge_cutoff) == (100, 12)


async def test_cycle_after_stop_does_nothing(
    hass: HomeAssistant, lilygo_fleet: LilyGoFleet, make_hub: Any
) -> None:
    bat1 = await lilygo_fleet.add_battery("lilygo-bat1", soc=80)
    hub: Hub = await make_hub([(bat1, "L1")], grid=600)
    coordinator = hub.coordinator
    await coordinator.async_stop_batteries()
    lilygo_fleet.clear_writes()
    await coordinator._async_timer_fired()  # a timer that fired as the loop closed
    assert coordinator.data.status == "disabled"
    assert lilygo_fleet.writes == []
    await coordinator.async_cycle_now()  # ignored once stopped
    assert lilygo_fleet.writes == []


async def test_failing_stop_in_an_error_keeps_the_loop(
    hass: HomeAssistant,
    lilygo_fleet: LilyGoFleet,
    make_hub: Any,
    caplog: pytest.LogCaptureFixture,
) -> None:
    bat1 = await lilygo_fleet.add_battery("lilygo-bat1", soc=80)
    hub: Hub = await make_hub([(bat1, "L1")], grid=600)
    with (
        patch(
            "custom_components.marstek_strategy.core.engine.allocate",
            side_effect=RuntimeError("boom"),
        ),
        patch(
            "custom_components.marstek_strategy.core.control.stop_writes",
            side_effect=RuntimeError("no stop"),
        ),
    ):
        await hub.tick(12, grid=600, step=12)
        assert hub.state("sensor", "status") == "fail_safe"
        assert "Stopping the batteries failed" in caplog.text
    await hub.tick(6.5, grid=600, step=6.5)  # the loop goes on
    assert hub.state("sensor", "status") == "running"


async def test_meter_refresh_recovers(
    hass: HomeAssistant,
    lilygo_fleet: LilyGoFleet,
    make_hub: Any,
    caplog: pytest.LogCaptureFixture,
) -> None:
    bat1 = await lilygo_fleet.add_battery("lilygo-bat1", soc=80)
    hub: Hub = await make_hub([(bat1, "L1")], grid=0)
    hass.services.async_remove("homeassistant", "update_entity")
    await hub.tick(6.5, grid=0, step=6.5)
    calls = async_mock_service(hass, "homeassistant", "update_entity")
    await hub.tick(6.5, grid=0, step=6.5)
    assert "Refreshing the meter entities works again" in caplog.text
    assert calls[0].data["entity_id"] == [hub.meter.grid]


async def test_closed_loop_settles_and_goes_quiet(
    hass: HomeAssistant, lilygo_fleet: LilyGoFleet, make_hub: Any
) -> None:
    """The meter follows the batteries' AC power: the grid settles near zero, then only the
    keep-alive writes."""
    bat1 = await lilygo_fleet.add_battery("lilygo-bat1", soc=80, max_discharge_power=2500)
    bat2 = await lilygo_fleet.add_battery("lilygo-bat2", soc=60, max_discharge_power=2500)
    load_w = 3000.0

    def grid() -> float:
        return load_w - sum(float(b.state(Role.AC_POWER)) for b in (bat1, bat2))

    hub: Hub = await make_hub([(bat1, "L1"), (bat2, "L1")], grid=grid())
    for _ in range(240):  # 2 minutes in 0.5 s steps, the meter reporting every step
        await hub.tick(0.5, grid=grid())
    assert abs(grid()) < 100
    lilygo_fleet.clear_writes()
    for _ in range(120):
        await hub.tick(0.5, grid=grid())
    # a minute later: only keep-alives (RS485, power, mode of the running batteries)
    assert len(lilygo_fleet.writes) <= 2 * 3 * 2
    assert {w.role for w in lilygo_fleet.writes} <= {
        Role.RS485_MODE,
        Role.DISCHARGE_POWER,
        Role.FORCIBLE_MODE,
    }
    assert hub.state("sensor", "status") == "running"


async def test_change_by_a_person_is_taken_as_it_is(
    hass: HomeAssistant, lilygo_fleet: LilyGoFleet, make_hub: Any, hass_admin_user: Any
) -> None:
    """Someone stops a discharging battery by hand: the next cycle knows it is stopped and
    starts it again if the grid needs it (not only at the next keep-alive)."""
    bat1 = await lilygo_fleet.add_battery("lilygo-bat1", soc=80)
    hub: Hub = await make_hub([(bat1, "L1")], grid=600)
    await hub.tick(12, grid=0, step=12)
    await hass.services.async_call(
        "select",
        "select_option",
        {"entity_id": bat1.entity_ids[Role.FORCIBLE_MODE], "option": "stop"},
        blocking=True,
        context=Context(user_id=hass_admin_user.id),
    )
    await hass.async_block_till_done()
    assert hub.coordinator.commanded[0].mode == "stop"
    lilygo_fleet.clear_writes()
    await hub.tick(6.5, grid=600, step=6.5)  # the battery stopped: import again
    assert bat1.state(Role.FORCIBLE_MODE) == "discharge"
    assert ("forcible_mode_entity", "discharge") in _written(bat1)


async def test_battery_reports_are_not_taken_for_a_person(
    hass: HomeAssistant, lilygo_fleet: LilyGoFleet, make_hub: Any
) -> None:
    bat1 = await lilygo_fleet.add_battery("lilygo-bat1", soc=80)
    hub: Hub = await make_hub([(bat1, "L1")], grid=600)
    bat1.set(Role.DISCHARGE_POWER, 500)  # the LilyGo reports (no user, no parent)
    await hass.async_block_till_done()
    assert hub.coordinator.commanded[0].discharge_w == 616
