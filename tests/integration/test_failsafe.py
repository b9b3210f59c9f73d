"""Fail-safe: no battery is left running on bad information."""

from __future__ import annotations

from typing import Any

from homeassistant.core import HomeAssistant
import pytest

from custom_components.marstek_strategy.const import CONF_REFRESH_METER, Role
from custom_components.marstek_strategy.core.engine import Strategy
from custom_components.marstek_strategy.core.readings import (
    BatterySettings,
    BatteryValues,
    Cause,
    Participation,
    Problem,
    battery_reading,
    meter_problem,
    parse_number,
)
from tests.conftest import FakeBattery, Hub, LilyGoFleet


def _levels(caplog: pytest.LogCaptureFixture, text: str) -> list[str]:
    """The levels of the records that contain text."""
    return [r.levelname for r in caplog.records if text in r.getMessage()]


def _stopped(battery: FakeBattery) -> bool:
    return (
        battery.state(Role.FORCIBLE_MODE) == "stop"
        and float(battery.state(Role.CHARGE_POWER)) == 0
        and float(battery.state(Role.DISCHARGE_POWER)) == 0
    )


def _set_state(battery: FakeBattery, role: Role, value: str) -> None:
    """Write a state the fake entity would refuse (as a broken sensor might report)."""
    hass = battery.fleet.hass
    entity_id = battery.entity_ids[role]
    state = hass.states.get(entity_id)
    assert state is not None
    hass.states.async_set(entity_id, value, state.attributes)


async def _running_hub(lilygo_fleet: LilyGoFleet, make_hub: Any, **kwargs: Any) -> Hub:
    """Two batteries discharging on one phase."""
    bat1 = await lilygo_fleet.add_battery("lilygo-bat1", soc=80)
    bat2 = await lilygo_fleet.add_battery("lilygo-bat2", soc=70)
    hub: Hub = await make_hub([(bat1, "L1"), (bat2, "L1")], grid=1500, **kwargs)
    await hub.tick(12, grid=1500, step=12)
    assert bat1.state(Role.FORCIBLE_MODE) == "discharge"
    assert bat2.state(Role.FORCIBLE_MODE) == "discharge"
    return hub


async def test_meter_unavailable_stops_all_and_resumes(
    hass: HomeAssistant,
    lilygo_fleet: LilyGoFleet,
    make_hub: Any,
    caplog: pytest.LogCaptureFixture,
) -> None:
    hub = await _running_hub(lilygo_fleet, make_hub)
    bat1, bat2 = lilygo_fleet.batteries.values()
    hub.meter.set_available(False)
    await hub.tick(6.5, step=6.5)
    assert hub.state("sensor", "status") == "fail_safe"
    assert hub.state("sensor", "fail_safe_cause") == "meter_unavailable"
    cause = hass.states.get(hub.entity_id("sensor", "fail_safe_cause"))
    assert cause is not None
    assert cause.attributes["source"] == hub.meter.grid
    assert _stopped(bat1)
    assert _stopped(bat2)
    assert hub.state("sensor", "reason", bat1) == "fail_safe"
    assert hub.state("sensor", "setpoint_power", bat1) == "0"
    # while it lasts: only stops (the keep-alive repeats them), logged once
    lilygo_fleet.clear_writes()
    await hub.tick(6.5 * 3, step=6.5)
    assert {w.value for w in lilygo_fleet.writes} <= {"stop", 0}
    assert caplog.text.count("Fail-safe (meter_unavailable") == 1
    assert _levels(caplog, "Fail-safe (meter_unavailable") == ["INFO"]  # log-when-unavailable
    # back: resumes by itself
    hub.meter.set_available(True)
    await hub.tick(6.5, grid=1500, step=6.5)
    assert hub.state("sensor", "status") == "settling"
    assert hub.state("sensor", "fail_safe_cause") == "none"
    assert bat1.state(Role.FORCIBLE_MODE) == "discharge"
    assert caplog.text.count("Meter is back") == 1
    assert _levels(caplog, "Meter is back") == ["INFO"]


async def test_meter_missing(hass: HomeAssistant, lilygo_fleet: LilyGoFleet, make_hub: Any) -> None:
    hub = await _running_hub(lilygo_fleet, make_hub, options={CONF_REFRESH_METER: False})
    hass.states.async_remove(hub.meter.grid)
    await hub.tick(6.5, step=6.5)
    assert hub.state("sensor", "fail_safe_cause") == "meter_missing"
    assert all(_stopped(b) for b in lilygo_fleet.batteries.values())


async def test_meter_not_a_number(
    hass: HomeAssistant, lilygo_fleet: LilyGoFleet, make_hub: Any
) -> None:
    hub = await _running_hub(lilygo_fleet, make_hub, options={CONF_REFRESH_METER: False})
    state = hass.states.get(hub.meter.grid)
    assert state is not None
    hass.states.async_set(hub.meter.grid, "abc", state.attributes)
    await hub.tick(6.5, step=6.5)
    assert hub.state("sensor", "fail_safe_cause") == "meter_invalid"
    assert all(_stopped(b) for b in lilygo_fleet.batteries.values())


async def test_meter_stale_even_when_we_refresh_it(
    hass: HomeAssistant, lilygo_fleet: LilyGoFleet, make_hub: Any
) -> None:
    """A meter that stops reporting is stale after 30 s, although homeassistant.update_entity
    (called before every cycle) rewrites its state and so moves last_reported."""
    hub = await _running_hub(lilygo_fleet, make_hub)
    refreshes = hub.meter.refreshes
    await hub.tick(6.5 * 2, step=6.5)  # 13 s without a report of its own
    assert hub.state("sensor", "status") == "running"
    await hub.tick(6.5 * 3, step=6.5)  # 32.5 s
    assert hub.meter.refreshes > refreshes
    assert hub.state("sensor", "status") == "fail_safe"
    assert hub.state("sensor", "fail_safe_cause") == "meter_stale"
    assert all(_stopped(b) for b in lilygo_fleet.batteries.values())
    await hub.tick(6.5, grid=1500, step=6.5)  # it reports again (unchanged value)
    assert hub.state("sensor", "status") == "settling"


async def test_meter_stale_without_refresh(
    hass: HomeAssistant, lilygo_fleet: LilyGoFleet, make_hub: Any
) -> None:
    hub = await _running_hub(lilygo_fleet, make_hub, options={CONF_REFRESH_METER: False})
    await hub.tick(6.5 * 5, step=6.5)
    assert hub.state("sensor", "fail_safe_cause") == "meter_stale"


async def test_phase_sensor_bad_stops_all(
    hass: HomeAssistant, lilygo_fleet: LilyGoFleet, make_hub: Any
) -> None:
    bat1 = await lilygo_fleet.add_battery("lilygo-bat1", soc=80)
    bat2 = await lilygo_fleet.add_battery("lilygo-bat2", soc=80)
    hub: Hub = await make_hub(
        [(bat1, "L1"), (bat2, "L2")],
        phase_count=3,
        grid=1500,
        options={CONF_REFRESH_METER: False},
    )
    assert bat1.state(Role.FORCIBLE_MODE) == "discharge"
    state = hass.states.get(hub.meter.phases[1])
    assert state is not None
    hass.states.async_set(hub.meter.phases[1], "unavailable", state.attributes)
    await hub.tick(12, step=12)
    assert hub.state("sensor", "status") == "fail_safe"
    cause = hass.states.get(hub.entity_id("sensor", "fail_safe_cause"))
    assert cause is not None
    assert cause.state == "meter_unavailable"
    assert cause.attributes["source"] == hub.meter.phases[1]
    assert _stopped(bat1)
    assert _stopped(bat2)


async def test_failsafe_retries_a_stop_that_failed(
    hass: HomeAssistant, lilygo_fleet: LilyGoFleet, make_hub: Any
) -> None:
    hub = await _running_hub(lilygo_fleet, make_hub)
    bat1 = lilygo_fleet.batteries["lilygo-bat1"]
    bat1.fail_writes.add(Role.FORCIBLE_MODE)
    hub.meter.set_available(False)
    await hub.tick(6.5, step=6.5)
    assert bat1.state(Role.FORCIBLE_MODE) == "discharge"
    assert float(bat1.state(Role.DISCHARGE_POWER)) == 0  # the 0 W still went out
    bat1.fail_writes.clear()
    await hub.tick(6.5, step=6.5)
    assert _stopped(bat1)


@pytest.mark.parametrize(
    ("change", "problem"),
    [
        (lambda bat: bat.set_available(False, Role.SOC), "entity_unavailable"),
        (lambda bat: _set_state(bat, Role.SOC, "abc"), "soc_invalid"),
        (lambda bat: bat.set(Role.SOC, 150), "soc_invalid"),
        (lambda bat: bat.set(Role.SOC, -1), "soc_invalid"),
        (lambda bat: bat.set(Role.CHARGE_CUTOFF, 10), "cutoff_invalid"),
        (lambda bat: bat.set_available(False, Role.RS485_MODE), "entity_unavailable"),
    ],
)
async def test_bad_battery_takes_no_part_others_carry_on(
    lilygo_fleet: LilyGoFleet,
    make_hub: Any,
    caplog: pytest.LogCaptureFixture,
    change: Any,
    problem: str,
) -> None:
    hub = await _running_hub(lilygo_fleet, make_hub)
    bat1, bat2 = lilygo_fleet.batteries.values()
    change(bat2)
    await hub.tick(6.5 * 2, grid=1500, step=6.5)
    assert hub.state("sensor", "status") in ("running", "settling")
    assert bat1.state(Role.FORCIBLE_MODE) == "discharge"
    assert float(bat2.state(Role.DISCHARGE_POWER)) == 0
    assert hub.state("sensor", "reason", bat2) == "readings_unavailable"
    assert hub.coordinator.data.batteries[hub.subentry_id(bat2)].problem == problem
    assert caplog.text.count("lilygo-bat2 takes no part") == 1
    assert _levels(caplog, "lilygo-bat2 takes no part") == ["INFO"]  # log-when-unavailable


async def test_offline_battery_keeps_its_power_and_the_others_do_not_take_it_over(
    lilygo_fleet: LilyGoFleet, make_hub: Any
) -> None:
    """A board that goes offline keeps its last setpoint: its power is not the others' to cover.

    The grid already shows what it delivers; releasing it in the engine made the others
    add the same power again (about 600 W of export for as long as the board is away).
    """
    bat1 = await lilygo_fleet.add_battery("lilygo-bat1", soc=80)
    bat2 = await lilygo_fleet.add_battery("lilygo-bat2", soc=70)
    hub: Hub = await make_hub([(bat1, "L1"), (bat2, "L1")], grid=600)
    await hub.tick(12 + 6.5 * 2, grid=0, step=0.5)
    running = float(bat1.state(Role.DISCHARGE_POWER))
    assert bat1.state(Role.FORCIBLE_MODE) == "discharge"
    assert running > 500
    assert bat2.state(Role.FORCIBLE_MODE) == "stop"
    bat1.set_available(False)  # still discharging: the grid stays balanced
    await hub.tick(6.5 * 4, grid=0, step=0.5)
    assert hub.state("sensor", "reason", bat1) == "readings_unavailable"
    assert bat2.state(Role.FORCIBLE_MODE) == "stop"
    assert float(bat2.state(Role.DISCHARGE_POWER)) == 0
    # a load step is still covered by the others
    await hub.tick(6.5 * 2, grid=500, step=0.5)
    assert bat2.state(Role.FORCIBLE_MODE) == "discharge"
    assert 400 < float(bat2.state(Role.DISCHARGE_POWER)) < 700
    # back: taken as it is (still running at its last setpoint)
    bat1.set_available(True)
    await hub.tick(6.5, grid=0, step=0.5)
    assert hub.coordinator.data.batteries[hub.subentry_id(bat1)].problem is None
    assert bat1.state(Role.FORCIBLE_MODE) == "discharge"


async def test_removed_battery_entity_takes_it_out(
    hass: HomeAssistant, lilygo_fleet: LilyGoFleet, make_hub: Any
) -> None:
    hub = await _running_hub(lilygo_fleet, make_hub)
    bat2 = lilygo_fleet.batteries["lilygo-bat2"]
    hass.states.async_remove(bat2.entity_ids[Role.SOC])
    await hub.tick(6.5, grid=1500, step=6.5)
    assert hub.coordinator.data.batteries[hub.subentry_id(bat2)].problem == "entity_missing"


async def test_battery_back_takes_part_again(
    hass: HomeAssistant,
    lilygo_fleet: LilyGoFleet,
    make_hub: Any,
    caplog: pytest.LogCaptureFixture,
) -> None:
    hub = await _running_hub(lilygo_fleet, make_hub)
    bat2 = lilygo_fleet.batteries["lilygo-bat2"]
    bat2.set_available(False, Role.SOC)
    await hub.tick(6.5 * 2, grid=1500, step=6.5)
    bat2.set_available(True, Role.SOC)
    await hub.tick(6.5 * 2, grid=1500, step=6.5)
    assert hub.coordinator.data.batteries[hub.subentry_id(bat2)].problem is None
    assert "lilygo-bat2 takes part again" in caplog.text


# Pure rules (readings.py)


def test_parse_number() -> None:
    assert parse_number("12.5") == 12.5
    assert parse_number(None) is None
    assert parse_number("unavailable") is None
    assert parse_number("nan") is None
    assert parse_number("inf") is None


def test_meter_problem() -> None:
    assert meter_problem(None, None, 30) is Cause.METER_MISSING
    assert meter_problem("unavailable", 1, 30) is Cause.METER_UNAVAILABLE
    assert meter_problem("unknown", 1, 30) is Cause.METER_UNAVAILABLE
    assert meter_problem("x", 1, 30) is Cause.METER_INVALID
    assert meter_problem("5", 31, 30) is Cause.METER_STALE
    assert meter_problem("5", None, 30) is Cause.METER_STALE
    assert meter_problem("5", 30, 30) is None


def test_battery_reading_limits_and_participation() -> None:
    values = BatteryValues(
        soc=50,
        own_charge_cutoff=95,
        own_discharge_cutoff=15,
        own_max_charge_w=2000,
        own_max_discharge_w=800,
        target_max_charge_w=2500,
        target_max_discharge_w=None,
    )
    settings = BatterySettings(
        charge_cutoff=100,
        discharge_cutoff=20,
        max_charge_w=2500,
        max_discharge_w=600,
        participation=Participation.CHARGE_ONLY,
    )
    reading, problem = battery_reading(values, settings, phase_w=-300)
    assert problem is None
    assert (reading.charge_cutoff, reading.discharge_cutoff) == (95, 20)
    assert (reading.max_charge_w, reading.max_discharge_w) == (2000, 600)
    assert (reading.allow_charge, reading.allow_discharge) == (True, False)
    assert reading.phase_w == -300
    off, _ = battery_reading(values, BatterySettings(participation=Participation.OFF), 0)
    assert (off.allow_charge, off.allow_discharge, off.available) == (False, False, True)
    discharge_only, _ = battery_reading(
        values, BatterySettings(participation=Participation.DISCHARGE_ONLY), 0
    )
    assert (discharge_only.allow_charge, discharge_only.allow_discharge) == (False, True)


@pytest.mark.parametrize(
    ("values", "problem"),
    [
        (BatteryValues(soc=None), Problem.SOC_INVALID),
        (BatteryValues(soc=101), Problem.SOC_INVALID),
        (BatteryValues(soc=50, own_charge_cutoff=10), Problem.CUTOFF_INVALID),
        (BatteryValues(soc=50, own_discharge_cutoff=120), Problem.CUTOFF_INVALID),
        (BatteryValues(soc=50, control_ok=False), Problem.ENTITY_UNAVAILABLE),
        (
            BatteryValues(soc=50, control_ok=False, control_missing=True),
            Problem.ENTITY_MISSING,
        ),
    ],
)
def test_battery_reading_problems(values: BatteryValues, problem: Problem) -> None:
    reading, found = battery_reading(values, BatterySettings(), phase_w=0)
    assert found is problem
    assert reading.available is False
    assert reading.soc == 0


def test_strategy_values_are_known() -> None:
    assert Strategy.PRIORITY.value == "priority"


async def test_long_failsafe_repeats_stop_only_at_keepalive(
    hass: HomeAssistant, lilygo_fleet: LilyGoFleet, make_hub: Any
) -> None:
    """In a long fail-safe the stop is sent again every keep-alive, not every cycle."""
    hub = await _running_hub(lilygo_fleet, make_hub)
    bat1 = lilygo_fleet.batteries["lilygo-bat1"]
    hub.meter.set_available(False)
    await hub.tick(6.5, step=6.5)
    lilygo_fleet.clear_writes()
    await hub.tick(6.5 * 10, step=6.5)  # 65 s
    assert 1 <= bat1.values(Role.FORCIBLE_MODE).count("stop") <= 3
