"""The meter's total against its phases over time, through a real hass (readings.agreement).

A contradiction broken by one agreeing report every 4 s once kept a discharge running for good
(probe test_contradictory_phases_in_discharge_2s): every agreeing report restarted the 5 s
count. These runs check the fail-safe comes and holds at 2 s and 6.5 s cycles, and that lone
blips at load steps (the total and its phases landing a moment apart) stop nothing.
"""

from __future__ import annotations

from typing import Any

from homeassistant.core import HomeAssistant
import pytest

from custom_components.marstek_strategy.const import CONF_INTERVAL, CONF_PACE
from tests.conftest import Hub, LilyGoFleet
from tests.integration.test_grid_mode_ha import _effect, _fleet_w, _set

TICK = 0.5


async def _discharging(
    lilygo_fleet: LilyGoFleet, make_hub: Any, interval: float, pace: str = "fixed"
) -> Hub:
    """Two batteries on L1 and L2 of a three-phase meter, discharging 1500 W to the grid."""
    bat1 = await lilygo_fleet.add_battery("lilygo-bat1", soc=50)
    bat2 = await lilygo_fleet.add_battery("lilygo-bat2", soc=50)
    hub: Hub = await make_hub(
        [(bat1, "L1"), (bat2, "L2")],
        phase_count=3,
        grid=0.0,
        options={CONF_INTERVAL: interval, CONF_PACE: pace},
    )
    await _set(hub.hass, mode="discharge", power=1500, duration="01:00:00")
    for _ in range(round(4 * interval / TICK)):
        await hub.tick(TICK, grid=-_effect(hub.fleet))
    assert _fleet_w(lilygo_fleet) > 1000
    return hub


@pytest.mark.parametrize(("interval", "pace"), [(2.0, "fixed"), (6.5, "fixed"), (6.5, "meter")])
async def test_contradiction_broken_by_one_agreeing_report_stops_and_stays_stopped(
    hass: HomeAssistant, lilygo_fleet: LilyGoFleet, make_hub: Any, interval: float, pace: str
) -> None:
    """Total 0 W against phases summing 3000 W for 3.5 s, one agreeing report, again and again.

    Without the fix the 2 s loop never stopped (1539 W for good) and the 6.5 s loop started
    again at every agreeing reading.
    """
    hub = await _discharging(lilygo_fleet, make_hub, interval, pace)
    stopped_at: float | None = None
    for n in range(round(90 / TICK)):
        if n % 8 == 7:
            hub.meter.set(0.0)  # one agreeing report
        else:
            hub.meter.set(0.0, 3000.0, 0.0, 0.0)
        await hub.tick(TICK)
        if stopped_at is None and _fleet_w(lilygo_fleet) == 0.0:
            stopped_at = n * TICK
        elif stopped_at is not None:
            assert _fleet_w(lilygo_fleet) == 0.0, f"started again at {n * TICK} s"
    assert stopped_at is not None
    assert stopped_at <= 30.0
    assert hub.state("sensor", "status") == "fail_safe"
    assert hub.state("sensor", "fail_safe_cause") == "meter_inconsistent"
    # the meter agrees again: the discharge resumes by itself
    for _ in range(round((4 * interval + 10) / TICK)):
        await hub.tick(TICK, grid=-_effect(hub.fleet))
    assert hub.state("sensor", "fail_safe_cause") == "none"
    assert _fleet_w(lilygo_fleet) > 1000


@pytest.mark.parametrize(
    ("interval", "spacing", "pace"),
    [(2.0, 6.0, "fixed"), (6.5, 13.0, "fixed"), (6.5, 6.0, "meter")],
)
async def test_lone_blips_at_load_steps_stop_nothing(
    hass: HomeAssistant,
    lilygo_fleet: LilyGoFleet,
    make_hub: Any,
    interval: float,
    spacing: float,
    *,
    pace: str,
) -> None:
    """At every load step a cycle reads the new total against the old phases: it holds, no more.

    The house steps between 500 W and 2500 W every `spacing` s; the phases follow the total
    only after a cycle has read the total alone.
    """
    hub = await _discharging(lilygo_fleet, make_hub, interval, pace)
    house, blips, elapsed = 500.0, 0, 0.0
    while elapsed < 150.0:
        old = house - _effect(hub.fleet)
        house = 3000.0 - house  # the load step
        total = house - _effect(hub.fleet)
        cycles = len(hub.cycles)
        hub.meter.set(total, old / 3, old / 3, old / 3)  # the total lands first
        waited = 0.0
        while len(hub.cycles) == cycles:  # until a cycle has read it
            await hub.tick(TICK)
            waited += TICK
            assert waited <= interval + TICK
        blips += 1
        assert hub.coordinator.reader._mismatch.last[1], "the cycle did not see the blip"
        for _ in range(round((spacing - waited) / TICK)):
            await hub.tick(TICK, grid=house - _effect(hub.fleet))
            assert hub.state("sensor", "status") != "fail_safe"
        elapsed += spacing
    assert blips >= 10
    assert hub.state("sensor", "fail_safe_cause") == "none"
    assert _fleet_w(lilygo_fleet) > 1000
