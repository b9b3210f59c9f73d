"""A meter sensor that loses its unit at run time is no number of watts: fail-safe.

The config flow takes only a grid or phase sensor in W or kW. A sensor that later reports
without a unit (a template or MQTT sensor reconfigured, an integration that drops it) may
still count in kW: read as W it is 1000 times too small, so a battery discharging into an
export of 2 kW sees a balanced grid and runs on. Found by redteam6.
"""

from __future__ import annotations

from typing import Any

from homeassistant.const import UnitOfPower
from homeassistant.core import HomeAssistant
import pytest

from custom_components.marstek_strategy.const import Role
from tests.conftest import Hub, LilyGoFleet


def _units(hub: Hub, unit: str | None, *, phases: bool) -> None:
    """Give the meter's total (and its phases) another unit; shown at their next report."""
    sensors = hub.meter._sensors if phases else hub.meter._sensors[:1]
    for sensor in sensors:
        sensor._attr_native_unit_of_measurement = unit


@pytest.mark.parametrize("phase_count", [1, 3])
async def test_a_meter_without_a_unit_stops_every_battery_and_resumes(
    hass: HomeAssistant,
    lilygo_fleet: LilyGoFleet,
    make_hub: Any,
    phase_count: int,
    caplog: pytest.LogCaptureFixture,
) -> None:
    bat1 = await lilygo_fleet.add_battery("lilygo-bat1", soc=80)
    hub: Hub = await make_hub([(bat1, "L1")], grid=1500, phase_count=phase_count)
    await hub.tick(13, grid=1500, step=6.5)
    assert bat1.state(Role.FORCIBLE_MODE) == "discharge"
    _units(hub, None, phases=phase_count == 3)
    await hub.tick(13, grid=0, step=6.5)  # a kW meter would say 2 kW export now
    state = hass.states.get(hub.meter.grid)
    assert state is not None
    assert "unit_of_measurement" not in state.attributes
    assert hub.state("sensor", "status") == "fail_safe"
    assert hub.state("sensor", "fail_safe_cause") == "meter_invalid"
    assert bat1.state(Role.FORCIBLE_MODE) == "stop"
    assert caplog.text.count("Fail-safe (meter_invalid") == 1
    _units(hub, UnitOfPower.WATT, phases=phase_count == 3)
    await hub.tick(13, grid=1500, step=6.5)
    assert hub.state("sensor", "fail_safe_cause") == "none"
    assert bat1.state(Role.FORCIBLE_MODE) == "discharge"
