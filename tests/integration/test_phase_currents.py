"""Phase current sensors (issue 13) through Home Assistant: the flows, the loop, diagnostics.

The fake P1 meter gets three real current sensors on its device (``P1Meter.add_currents``);
the house below closes the loop: each phase's power is its load minus what its batteries do,
and L1's current carries a reactive share its power does not show (a heat pump, a poor
power factor), so the fuse binds on the current before it would on the power.
"""

from __future__ import annotations

from collections.abc import Generator
import json
import math
from typing import Any
from unittest.mock import AsyncMock, patch

from homeassistant.config_entries import SOURCE_RECONFIGURE, SOURCE_USER
from homeassistant.core import HomeAssistant
from homeassistant.data_entry_flow import FlowResultType
import pytest

from custom_components.marstek_strategy.const import (
    CONF_GRID_SENSOR,
    CONF_MAIN_FUSE_A,
    CONF_PHASE_COUNT,
    CONF_PHASE_CURRENT_SENSORS,
    CONF_PHASE_SENSORS,
    CONF_REFRESH_METER,
    DEFAULT_OPTIONS,
    DOMAIN,
    Role,
)
from custom_components.marstek_strategy.core.model import MARGIN_W, POWER_FACTOR
from custom_components.marstek_strategy.diagnostics import async_get_config_entry_diagnostics
from tests.conftest import Hub, LilyGoFleet, P1Meter, make_hub_entry

D, C = 0.975, 1.045  # the engine's release factors
I1, I2, I3 = CONF_PHASE_CURRENT_SENSORS
REACTIVE_A = 4.0  # what L1's current carries beyond its power / 230 V


@pytest.fixture
def mock_setup_entry() -> Generator[AsyncMock]:
    """Keep the runtime out of the flow tests."""
    with patch(
        "custom_components.marstek_strategy.async_setup_entry", return_value=True
    ) as mock_setup:
        yield mock_setup


def _suggested(result: Any) -> dict[str, Any]:
    return {
        str(key): key.description["suggested_value"]
        for key in result["data_schema"].schema
        if key.description and "suggested_value" in key.description
    }


def _powers(meter: P1Meter) -> dict[str, str]:
    return dict(zip(CONF_PHASE_SENSORS, meter.phases, strict=True))


# --------------------------------------------------------------------------------------------
# The flows


async def test_first_flow_proposes_and_accepts_the_current_sensors(
    hass: HomeAssistant, p1_meter: P1Meter, mock_setup_entry: AsyncMock
) -> None:
    """The phase step proposes the meter's current sensors next to its power sensors."""
    currents = await p1_meter.add_currents()
    result = await hass.config_entries.flow.async_init(DOMAIN, context={"source": SOURCE_USER})
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {CONF_GRID_SENSOR: p1_meter.grid, CONF_PHASE_COUNT: "3"}
    )
    assert result["step_id"] == "phases"
    chosen = {**_powers(p1_meter), **dict(zip(CONF_PHASE_CURRENT_SENSORS, currents, strict=True))}
    assert _suggested(result) == chosen
    result = await hass.config_entries.flow.async_configure(result["flow_id"], chosen)
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert result["data"] == {CONF_GRID_SENSOR: p1_meter.grid, CONF_PHASE_COUNT: 3, **chosen}


async def test_current_sensors_are_optional(
    hass: HomeAssistant, p1_meter: P1Meter, mock_setup_entry: AsyncMock
) -> None:
    """A meter without phase currents (or a user who wants none): the power sensors only."""
    await p1_meter.add_currents()
    result = await hass.config_entries.flow.async_init(DOMAIN, context={"source": SOURCE_USER})
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {CONF_GRID_SENSOR: p1_meter.grid, CONF_PHASE_COUNT: "3"}
    )
    result = await hass.config_entries.flow.async_configure(result["flow_id"], _powers(p1_meter))
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert not set(CONF_PHASE_CURRENT_SENSORS) & set(result["data"])


async def test_a_wrong_current_sensor_gets_an_error(
    hass: HomeAssistant, p1_meter: P1Meter, mock_setup_entry: AsyncMock
) -> None:
    """A current in W, a power sensor, a phase power chosen again, a missing one: refused."""
    currents = await p1_meter.add_currents(unit="mA")  # mA is a current too
    hass.states.async_set(
        "sensor.amps_in_w", "3", {"device_class": "current", "unit_of_measurement": "W"}
    )
    hass.states.async_set(
        "sensor.amps_text", "abc", {"device_class": "current", "unit_of_measurement": "A"}
    )
    hass.states.async_set(
        "input_number.amps", "3", {"device_class": "current", "unit_of_measurement": "A"}
    )
    result = await hass.config_entries.flow.async_init(DOMAIN, context={"source": SOURCE_USER})
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {CONF_GRID_SENSOR: p1_meter.grid, CONF_PHASE_COUNT: "3"}
    )
    powers = _powers(p1_meter)
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"],
        {**powers, I1: "sensor.amps_in_w", I2: p1_meter.phases[1], I3: "sensor.gone"},
    )
    assert result["step_id"] == "phases"
    assert result["errors"] == {
        I1: "not_current_sensor",
        I2: "duplicate_sensor",
        I3: "entity_not_found",
    }
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"],
        {**powers, I1: "input_number.amps", I2: "sensor.amps_text", I3: currents[0]},
    )
    assert result["errors"] == {I1: "not_current_sensor", I2: "not_numeric"}
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {**powers, I1: p1_meter.grid, I3: currents[2]}
    )
    assert result["errors"] == {I1: "duplicate_sensor"}
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {**powers, I1: currents[0], I3: currents[2]}
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert (result["data"][I1], result["data"][I3]) == (currents[0], currents[2])
    assert I2 not in result["data"]


async def test_reconfigure_shows_the_current_sensors_and_can_drop_them(
    hass: HomeAssistant, p1_meter: P1Meter, mock_setup_entry: AsyncMock
) -> None:
    """Reconfigure suggests the sensors chosen; leaving a current field empty removes it."""
    currents = await p1_meter.add_currents()
    entry = make_hub_entry(p1_meter, phase_count=3)
    chosen = dict(zip(CONF_PHASE_CURRENT_SENSORS, currents, strict=True))
    entry.add_to_hass(hass)
    hass.config_entries.async_update_entry(entry, data={**entry.data, I1: currents[0]})
    result = await hass.config_entries.flow.async_init(
        DOMAIN, context={"source": SOURCE_RECONFIGURE, "entry_id": entry.entry_id}
    )
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {CONF_GRID_SENSOR: p1_meter.grid, CONF_PHASE_COUNT: "3"}
    )
    assert result["step_id"] == "reconfigure_phases"
    assert _suggested(result) == {**_powers(p1_meter), I1: currents[0]}
    result = await hass.config_entries.flow.async_configure(result["flow_id"], _powers(p1_meter))
    assert result["reason"] == "reconfigure_successful"
    assert I1 not in entry.data
    # A new grid sensor proposes the sensors of its device again, currents too.
    hass.config_entries.async_update_entry(entry, data={CONF_GRID_SENSOR: p1_meter.phases[0]})
    result = await hass.config_entries.flow.async_init(
        DOMAIN, context={"source": SOURCE_RECONFIGURE, "entry_id": entry.entry_id}
    )
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {CONF_GRID_SENSOR: p1_meter.grid, CONF_PHASE_COUNT: "3"}
    )
    assert _suggested(result) == {**_powers(p1_meter), **chosen}


# --------------------------------------------------------------------------------------------
# The loop


class _House:
    """Each phase's power is its load minus what its batteries do; currents follow it.

    L1's current is its power / 230 V plus REACTIVE_A, signed (a HomeWizard); L2's and L3's
    are unsigned, as DSMR reports them.
    """

    def __init__(self, hub: Hub, phases: list[tuple[Any, str]]) -> None:
        self.hub = hub
        self.phases = phases
        self.load = {"L1": 0.0, "L2": 0.0, "L3": 0.0}
        self.amps: list[float] = []  # L1's current, each step
        self.silent: set[str] = set()  # phases whose current sensor stops reporting

    def phase_w(self) -> dict[str, float]:
        watts = dict(self.load)
        for battery, phase in self.phases:
            mode = battery.state(Role.FORCIBLE_MODE)
            if mode == "discharge":
                watts[phase] -= float(battery.state(Role.DISCHARGE_POWER)) * D
            elif mode == "charge":
                watts[phase] += float(battery.state(Role.CHARGE_POWER)) * C
        return watts

    async def run(self, seconds: float) -> None:
        meter = self.hub.meter
        for _ in range(round(seconds / 0.5)):
            watts = self.phase_w()
            l1 = math.copysign(abs(watts["L1"]) / 230 + REACTIVE_A, watts["L1"])
            self.amps.append(l1)
            meter.set(sum(watts.values()), watts["L1"], watts["L2"], watts["L3"])
            for phase, sensor, amps in zip(
                ("L1", "L2", "L3"),
                meter.currents,
                (l1, abs(watts["L2"]) / 230, abs(watts["L3"]) / 230),
                strict=True,
            ):
                if phase not in self.silent:
                    sensor.report(round(amps, 2))
            await self.hub.tick(0.5)


async def _hub_with_currents(
    hass: HomeAssistant, lilygo_fleet: LilyGoFleet, p1_meter: P1Meter, freezer: Any, **options: Any
) -> tuple[Hub, list[Any]]:
    """Two 2500 W batteries (bat1 on L1, bat2 on L2) on a hub with the three current sensors."""
    currents = await p1_meter.add_currents()
    bats = [
        await lilygo_fleet.add_battery(name, soc=60, max_discharge_power=2500.0)
        for name in ("lilygo-bat1", "lilygo-bat2")
    ]
    entry = make_hub_entry(p1_meter, [(bats[0], "L1"), (bats[1], "L2")], phase_count=3)
    entry.add_to_hass(hass)
    hass.config_entries.async_update_entry(
        entry,
        data={**entry.data, **dict(zip(CONF_PHASE_CURRENT_SENSORS, currents, strict=True))},
        options={**DEFAULT_OPTIONS, **options},
    )
    hub = Hub(hass, entry, p1_meter, lilygo_fleet, freezer)
    assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()
    await hub.tick(0)
    return hub, bats


async def test_a_measured_phase_current_limits_the_plan(
    hass: HomeAssistant, lilygo_fleet: LilyGoFleet, p1_meter: P1Meter, freezer: Any
) -> None:
    """PV on L2 and L3, 1500 W of load on L1 that draws 10.5 A; a 16 A fuse set in the options.

    4.5 kW of export: bat2 on L2 can take 2500 W, bat1 on L1 should take about 1740 W.

    On its power L1 could take 1542 W more; on its current only about 890 W: bat1 charges
    that much (limited by its phase), bat2 runs full, the rest of the export stays unmet,
    and L1's current never exceeds the fuse less the plan's margin.
    """
    hub, (bat1, bat2) = await _hub_with_currents(hass, lilygo_fleet, p1_meter, freezer)
    result = await hass.config_entries.options.async_init(hub.entry.entry_id)
    await hass.config_entries.options.async_configure(
        result["flow_id"], {**DEFAULT_OPTIONS, CONF_MAIN_FUSE_A: 16.0}
    )
    await hass.async_block_till_done()
    assert hub.coordinator.reader.meter.currents == {
        phase: sensor.entity_id
        for phase, sensor in zip(("L1", "L2", "L3"), p1_meter.currents, strict=True)
    }
    house = _House(hub, [(bat1, "L1"), (bat2, "L2")])
    house.load.update(L1=1500.0, L2=-3000.0, L3=-3000.0)
    await house.run(90)
    fuse_room_a = 16.0 - MARGIN_W / (230 * POWER_FACTOR)
    assert max(house.amps) <= fuse_room_a + 0.1
    assert bat1.state(Role.FORCIBLE_MODE) == "charge"
    assert 500 < float(bat1.state(Role.CHARGE_POWER)) < 1000  # on its power: 1542 W
    assert float(bat2.state(Role.CHARGE_POWER)) == 2500
    assert hub.state("sensor", "reason", bat1) == "limited_by_phase"
    # Diagnostics: the limits, L1's budget from its current, who was limited.
    diagnostics = await async_get_config_entry_diagnostics(hass, hub.entry)
    json.dumps(diagnostics)
    limits = diagnostics["phase_limits"]
    assert (limits["main_fuse_a"], limits["feed_in_limit_w"]) == (16.0, 0.0)
    assert limits["import_w"] == pytest.approx(16 * 230 * 0.9)
    assert limits["current_sensors"]["L1"] == p1_meter.currents[0].entity_id
    l1 = limits["phases"]["L1"]
    assert l1["batteries"] == l1["limited_by_phase"] == ["lilygo-bat1"]
    assert l1["current_a"] == pytest.approx(house.amps[-2], abs=0.05)
    assert 0 <= l1["charge_budget_w"] < 1000 < l1["discharge_budget_w"]
    assert limits["phases"]["L2"]["limited_by_phase"] == []
    assert "L3" not in limits["phases"]  # no battery there
    readback = {track["battery"]: track for track in diagnostics["readback"]}
    assert readback["lilygo-bat1"]["health"] == "ok"
    assert readback["lilygo-bat1"]["commanded"]["mode"] == "charge"


@pytest.mark.parametrize("how", ["stale", "unavailable"])
async def test_an_unusable_current_sensor_raises_nobody_on_its_phase(
    hass: HomeAssistant, lilygo_fleet: LilyGoFleet, p1_meter: P1Meter, freezer: Any, how: str
) -> None:
    """L1's current sensor goes silent (past the 30 s stale timeout) or unavailable.

    No fail-safe: bat1 on L1 keeps its power when the load rises, bat2 on L2 takes the
    rest; once the sensor reports again bat1 raises its power.
    """
    hub, (bat1, bat2) = await _hub_with_currents(
        hass, lilygo_fleet, p1_meter, freezer, **{CONF_REFRESH_METER: False}
    )
    house = _House(hub, [(bat1, "L1"), (bat2, "L2")])
    house.load.update(L1=400.0, L2=400.0, L3=400.0)
    await house.run(60)
    before = float(bat1.state(Role.DISCHARGE_POWER))
    assert bat1.state(Role.FORCIBLE_MODE) == "discharge"
    assert 0 < before < 2000
    if how == "stale":
        house.silent.add("L1")
        await house.run(35)  # past the stale timeout (30 s) at the same load
    else:
        sensor = p1_meter.currents[0]
        sensor._attr_available = False
        sensor.async_write_ha_state()
    house.load.update(L1=1500.0, L2=1500.0, L3=1500.0)  # more than both can cover
    await house.run(60)
    assert hub.state("sensor", "status") != "fail_safe"
    assert float(bat1.state(Role.DISCHARGE_POWER)) <= before
    assert hub.state("sensor", "reason", bat1) == "limited_by_phase"
    assert float(bat2.state(Role.DISCHARGE_POWER)) == 2500
    diagnostics = await async_get_config_entry_diagnostics(hass, hub.entry)
    assert diagnostics["phase_limits"]["phases"]["L1"]["current_a"] is None
    assert diagnostics["phase_limits"]["phases"]["L1"]["discharge_budget_w"] is None
    house.silent.clear()
    p1_meter.currents[0]._attr_available = True
    await house.run(60)
    assert float(bat1.state(Role.DISCHARGE_POWER)) > before + 200


async def test_a_renamed_current_sensor_is_followed_and_a_removed_one_repaired(
    hass: HomeAssistant, lilygo_fleet: LilyGoFleet, p1_meter: P1Meter, freezer: Any
) -> None:
    """The current sensors are configured entities like the power sensors.

    Renamed: the hub follows it (else its phase could never raise again); removed: a repair.
    """
    from homeassistant.helpers import entity_registry as er, issue_registry as ir

    hub, _bats = await _hub_with_currents(hass, lilygo_fleet, p1_meter, freezer)
    registry = er.async_get(hass)
    old = p1_meter.currents[0].entity_id
    registry.async_update_entity(old, new_entity_id="sensor.l1_amps")
    await hass.async_block_till_done()
    assert hub.entry.data[I1] == "sensor.l1_amps"
    registry.async_remove("sensor.l1_amps")
    await hass.async_block_till_done()
    issue_id = f"entity_removed_{hub.entry.entry_id}_sensor.l1_amps"
    assert ir.async_get(hass).async_get_issue(DOMAIN, issue_id) is not None


async def test_reconfigure_refuses_an_own_entity_as_a_current_sensor(
    hass: HomeAssistant, lilygo_fleet: LilyGoFleet, p1_meter: P1Meter, freezer: Any
) -> None:
    """The hub's own sensors are no meter: refused as a phase current too."""
    hub, _bats = await _hub_with_currents(hass, lilygo_fleet, p1_meter, freezer)
    result = await hass.config_entries.flow.async_init(
        DOMAIN, context={"source": SOURCE_RECONFIGURE, "entry_id": hub.entry.entry_id}
    )
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {CONF_GRID_SENSOR: p1_meter.grid, CONF_PHASE_COUNT: "3"}
    )
    own = hub.entity_id("sensor", "grid_power")
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {**_powers(p1_meter), I2: own}
    )
    assert result["errors"] == {I2: "own_entity"}
