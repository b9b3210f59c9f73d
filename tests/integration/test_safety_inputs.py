"""Issue 8, inputs and read-back, through a real hass: each defect's test failed before its fix."""

from __future__ import annotations

import time
from typing import Any

from homeassistant.core import Context, HomeAssistant, State
import pytest
from pytest_homeassistant_custom_component.common import async_fire_time_changed_exact

from custom_components.marstek_strategy.adapters import inputs
from custom_components.marstek_strategy.const import CONF_KEEPALIVE, Role
from custom_components.marstek_strategy.core.control import Write, WriteKind
from custom_components.marstek_strategy.core.readback import ReadbackSettings
from tests.conftest import FakeBattery, Hub, LilyGoFleet

CYCLE = 6.5
GRACE = ReadbackSettings().grace_s


def _set_state(battery: FakeBattery, role: Role, value: str) -> None:
    """Write a state the fake entity would not (a broken or booting board)."""
    hass = battery.fleet.hass
    entity_id = battery.entity_ids[role]
    state = hass.states.get(entity_id)
    assert state is not None
    hass.states.async_set(entity_id, value, state.attributes)


def _running(battery: FakeBattery) -> bool:
    mode = battery.state(Role.FORCIBLE_MODE)
    if mode == "charge":
        return float(battery.state(Role.CHARGE_POWER)) > 0
    return mode == "discharge" and float(battery.state(Role.DISCHARGE_POWER)) > 0


async def _closed(hub: Hub, seconds: float, load_w: float) -> None:
    """Let seconds pass, the meter showing the house load minus what the batteries deliver."""
    for _ in range(round(seconds / 0.5)):
        delivered = sum(
            float(battery.state(Role.AC_POWER)) for battery in hub.fleet.batteries.values()
        )
        hub.meter.set(load_w - delivered)
        await hub.tick(0.5)


async def _two(lilygo_fleet: LilyGoFleet, make_hub: Any, **kwargs: Any) -> Hub:
    bat1 = await lilygo_fleet.add_battery("lilygo-bat1", soc=50)
    bat2 = await lilygo_fleet.add_battery("lilygo-bat2", soc=50)
    phases = ("L1", "L2") if kwargs.get("phase_count") == 3 else ("L1", "L1")
    hub: Hub = await make_hub([(bat1, phases[0]), (bat2, phases[1])], **kwargs)
    return hub


# ------------------------------------------------------------------------ plausibility


async def test_impossible_meter_value_never_charges(
    lilygo_fleet: LilyGoFleet, make_hub: Any
) -> None:
    """Defect 4: -1e12 W reported again and again is not acted on."""
    hub = await _two(lilygo_fleet, make_hub, grid=0)
    await hub.tick(CYCLE * 4, grid=-1e12, step=0.5)
    assert hub.state("sensor", "status") == "fail_safe"
    assert hub.state("sensor", "fail_safe_cause") == "meter_implausible"
    assert not any(_running(battery) for battery in lilygo_fleet.batteries.values())


async def test_total_contradicting_the_phases_never_discharges(
    lilygo_fleet: LilyGoFleet, make_hub: Any
) -> None:
    """Defect 5: total +3000 W while every phase exports 1000 W."""
    hub = await _two(lilygo_fleet, make_hub, grid=0, phase_count=3)
    for _ in range(int(CYCLE * 4 / 0.5)):
        hub.meter.set(3000, -1000, -1000, -1000)
        await hub.tick(0.5)
        assert not any(_running(battery) for battery in lilygo_fleet.batteries.values())
    assert hub.state("sensor", "fail_safe_cause") == "meter_inconsistent"
    # agreeing again: resumes
    await hub.tick(CYCLE * 3, grid=1500, step=0.5)
    assert hub.state("sensor", "status") in ("running", "settling")


async def test_power_number_re_flashed_to_kilowatt(
    lilygo_fleet: LilyGoFleet, make_hub: Any
) -> None:
    """Defect 3: a board whose power numbers change to kW at runtime gets kW, not watts."""
    hub = await _two(lilygo_fleet, make_hub, grid=0)
    bat1 = lilygo_fleet.batteries["lilygo-bat1"]
    for role in (Role.CHARGE_POWER, Role.DISCHARGE_POWER, Role.MAX_CHARGE_POWER):
        number = bat1.entities[role]
        number._attr_native_unit_of_measurement = "kW"  # type: ignore[attr-defined]
        number._attr_native_max_value = 2.5  # type: ignore[attr-defined]
        number._attr_native_step = 0.001  # type: ignore[attr-defined]
        number._attr_native_value = 2.5 if role is Role.MAX_CHARGE_POWER else 0  # type: ignore[attr-defined]
        number.async_write_ha_state()
    await hub.tick(12 + CYCLE * 2, grid=-1200, step=0.5)
    written = [float(v) for v in bat1.values(Role.CHARGE_POWER) if float(v) > 0]
    assert written
    assert 1.1 < written[0] < 1.2  # kW: the engine's 1148 W (the fixed meter then ramps it)
    assert max(written) <= 2.5
    assert bat1.state(Role.FORCIBLE_MODE) == "charge"
    # a unit that is no power at all: the battery is taken out, with its reason
    number = bat1.entities[Role.DISCHARGE_POWER]
    number._attr_native_unit_of_measurement = "%"  # type: ignore[attr-defined]
    number.async_write_ha_state()
    await hub.tick(12, grid=-1200, step=0.5)
    assert hub.state("sensor", "reason", bat1) == "unit_unsupported"


async def test_unit_of_a_number_is_read_at_every_write(
    lilygo_fleet: LilyGoFleet, make_hub: Any
) -> None:
    """A number whose unit is not power is never written."""
    bat1 = await lilygo_fleet.add_battery("lilygo-bat1", soc=50)
    hub: Hub = await make_hub([(bat1, "L1")], grid=0)
    number = bat1.entities[Role.CHARGE_POWER]
    number._attr_native_unit_of_measurement = "A"  # type: ignore[attr-defined]
    number.async_write_ha_state()
    writer = hub.coordinator.writer
    write = Write(0, WriteKind.CHARGE_POWER, 1000)
    record = await writer._async_write_one(write, hub.hass.loop.time() + 10, dry_run=False)
    assert record.result == "skipped"
    assert bat1.values(Role.CHARGE_POWER) == []


# ------------------------------------------------------------------------ liveness


async def test_constant_phase_of_a_live_meter_is_not_stale(
    hass: HomeAssistant, lilygo_fleet: LilyGoFleet, make_hub: Any
) -> None:
    """Defect 8: L3 holds a constant value and never reports (MQTT without force_update)."""
    hub = await _two(lilygo_fleet, make_hub, grid=0, phase_count=3)
    total, l1, l2, _l3 = hub.meter._sensors
    hub.meter.set(150, 0, 0, 150)  # L3 stays at 150 W from now on, silently
    for step in range(int(120 / 0.5)):
        swing = 20.0 if step % 2 else -20.0
        l1.report(swing)
        l2.report(-swing)
        total.report(150.0)
        await hub.tick(0.5)
    assert hub.state("sensor", "status") != "fail_safe"
    # the live phases stop too: then it is stale
    await hub.tick(40, step=0.5)
    assert hub.state("sensor", "fail_safe_cause") == "meter_stale"


async def test_wall_clock_step_does_not_make_a_live_meter_dead(
    lilygo_fleet: LilyGoFleet, make_hub: Any, freezer: Any
) -> None:
    """Ages are monotonic: the wall clock jumping an hour ahead (NTP) is no stale meter."""
    hub = await _two(lilygo_fleet, make_hub, grid=1500, options={"refresh_meter": False})
    await hub.tick(12 + CYCLE, grid=1500, step=0.5)
    offset = [0.0]
    hub.coordinator.reader.monotonic = lambda: time.monotonic() - offset[0]
    freezer.tick(3600)  # the wall clock steps; the monotonic clock does not
    offset[0] += 3600
    async_fire_time_changed_exact(hub.hass)
    await hub.hass.async_block_till_done()
    await hub.tick(CYCLE, step=CYCLE)  # the meter has not reported since the step
    assert hub.state("sensor", "status") != "fail_safe"
    assert any(_running(battery) for battery in lilygo_fleet.batteries.values())
    await hub.tick(35, step=0.5)  # ... and after the stale timeout, it is stale
    assert hub.state("sensor", "fail_safe_cause") == "meter_stale"


# ------------------------------------------------------------------------ read-back


async def test_self_started_battery_is_stopped_again(
    lilygo_fleet: LilyGoFleet, make_hub: Any, caplog: pytest.LogCaptureFixture
) -> None:
    """Defect 2: the app starts a stopped battery (a report without a HA context)."""
    bat1 = await lilygo_fleet.add_battery("lilygo-bat1", soc=60)
    hub: Hub = await make_hub([(bat1, "L1")], grid=0)
    await hub.tick(GRACE + CYCLE, grid=0, step=0.5)
    assert bat1.state(Role.FORCIBLE_MODE) == "stop"
    bat1.set(Role.DISCHARGE_POWER, 800)
    bat1.set(Role.FORCIBLE_MODE, "discharge")
    bat1.set(Role.AC_POWER, 800)
    await _closed(hub, GRACE + CYCLE * 2, load_w=0)
    assert bat1.state(Role.FORCIBLE_MODE) == "stop"
    assert float(bat1.state(Role.DISCHARGE_POWER)) == 0
    assert caplog.text.count("reports a state it was not told") == 1
    assert "reported by the board itself" in caplog.text


async def test_keepalive_holds_a_stopped_battery(lilygo_fleet: LilyGoFleet, make_hub: Any) -> None:
    """A stopped battery gets RS485 enable and stop at every keep-alive (firmware fallback)."""
    bat1 = await lilygo_fleet.add_battery("lilygo-bat1", soc=60)
    hub: Hub = await make_hub([(bat1, "L1")], grid=0, options={CONF_KEEPALIVE: 30})
    lilygo_fleet.clear_writes()
    await hub.tick(65, grid=0, step=0.5)
    values = [(w.role, w.value) for w in bat1.writes]
    assert values.count((Role.RS485_MODE, "enable")) >= 2
    assert values.count((Role.FORCIBLE_MODE, "stop")) >= 2


async def test_battery_running_while_showing_stop_is_stopped_again(
    lilygo_fleet: LilyGoFleet, make_hub: Any, caplog: pytest.LogCaptureFixture
) -> None:
    """The select shows stop but the AC power shows 700 W: the stop is written again."""
    bat1 = await lilygo_fleet.add_battery("lilygo-bat1", soc=100)  # full: it cannot charge
    hub: Hub = await make_hub([(bat1, "L1")], grid=0, options={CONF_KEEPALIVE: 0})
    await hub.tick(GRACE, grid=0, step=0.5)
    bat1.follow = False
    bat1.set(Role.AC_POWER, 700)
    lilygo_fleet.clear_writes()
    await _closed(hub, CYCLE * 5, load_w=0)
    assert ("stop" in bat1.values(Role.FORCIBLE_MODE)) is True
    assert caplog.text.count("runs although told to stop") == 1


async def test_battery_that_does_not_deliver_is_not_responding(
    lilygo_fleet: LilyGoFleet, make_hub: Any, caplog: pytest.LogCaptureFixture
) -> None:
    """Discharge commanded, 0 W delivered: excluded, the other takes over, probed later."""
    bat1 = await lilygo_fleet.add_battery("lilygo-bat1", soc=50)
    bat2 = await lilygo_fleet.add_battery("lilygo-bat2", soc=50)
    bat1.follow = False  # its AC power stays at 0 W
    hub: Hub = await make_hub([(bat1, "L1"), (bat2, "L1")], grid=600)
    await hub.tick(12 + CYCLE * 6, grid=600, step=0.5)
    assert hub.state("sensor", "reason", bat1) == "not_responding"
    assert bat1.state(Role.FORCIBLE_MODE) == "stop"
    assert bat2.state(Role.FORCIBLE_MODE) == "discharge"
    assert caplog.text.count("does not deliver what it is told") == 1
    # after the back-off it is probed, delivers, and takes part again
    bat1.follow = True
    await hub.tick(ReadbackSettings().backoff_s + 60, grid=600, step=1.0)
    assert hub.state("sensor", "reason", bat1) != "not_responding"
    assert caplog.text.count("does not deliver what it is told") == 1


async def test_rs485_unknown_enables_instead_of_dropping(
    lilygo_fleet: LilyGoFleet, make_hub: Any
) -> None:
    """A select reading unknown (before its first read) is not enabled: enable, keep it."""
    bat1 = await lilygo_fleet.add_battery("lilygo-bat1", soc=60, rs485="enable")
    hub: Hub = await make_hub([(bat1, "L1")], grid=0)
    _set_state(bat1, Role.RS485_MODE, "unknown")
    lilygo_fleet.clear_writes()
    await hub.tick(GRACE + CYCLE * 3, grid=1000, step=0.5)
    assert hub.coordinator.data.batteries[hub.subentry_id(bat1)].problem is None
    assert "enable" in bat1.values(Role.RS485_MODE)
    assert bat1.state(Role.FORCIBLE_MODE) == "discharge"


async def test_inverter_fault_takes_the_battery_out(
    lilygo_fleet: LilyGoFleet, make_hub: Any, caplog: pytest.LogCaptureFixture
) -> None:
    hub = await _two(lilygo_fleet, make_hub, grid=600)
    bat1, _bat2 = lilygo_fleet.batteries.values()
    await hub.tick(12 + CYCLE, grid=600, step=0.5)
    bat1.set(Role.INVERTER_STATE, "Fault")
    await hub.tick(CYCLE * 2, grid=600, step=0.5)
    assert hub.state("sensor", "reason", bat1) == "inverter_fault"
    assert not _running(bat1)
    bat1.set(Role.INVERTER_STATE, "Standby")
    await hub.tick(CYCLE * 2, grid=600, step=0.5)
    assert hub.state("sensor", "reason", bat1) != "inverter_fault"
    assert caplog.text.count("reports an inverter fault") == 1
    assert caplog.text.count("inverter fault cleared") == 1


def test_inputs_from_states() -> None:
    """inputs.py: states to the read-back's report, units and who changed a state."""
    own = Context()
    user = Context(user_id="abc")
    board = Context()
    mode = State("select.m", "discharge", context=board)
    charge = State("number.c", "1.2", {"unit_of_measurement": "kW", "max": "2.5"})
    states = {Role.FORCIBLE_MODE: mode, Role.CHARGE_POWER: charge, Role.RS485_MODE: None}
    report = inputs.report(states, has_rs485=True)
    assert report.charge_w == 1200
    assert report.rs485 == "unknown"  # configured, but no state: not enabled
    assert report.ac_power_w is None
    assert inputs.report(states, has_rs485=False).rs485 is None
    assert inputs.max_w(charge) == 2500
    assert inputs.units_ok(states)
    assert not inputs.units_ok(
        {Role.AC_POWER: State("sensor.a", "1", {"unit_of_measurement": "A"})}
    )
    assert inputs.value(State("sensor.soc", "55"), Role.SOC) == 55
    assert inputs.who(None, ()) == "no state"
    assert "this integration" in inputs.who(State("select.m", "stop", context=own), {own.id})
    assert "user abc" in inputs.who(State("select.m", "stop", context=user), ())
    assert "board itself" in inputs.who(mode, ())
