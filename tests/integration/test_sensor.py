"""Sensors: setpoints with the energy dashboard's sign, modes, reasons, hub status."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from homeassistant.core import HomeAssistant

from custom_components.marstek_strategy.core.cycle import Status
from custom_components.marstek_strategy.core.engine import Mode, Reason, Setpoint
from custom_components.marstek_strategy.core.explain import REASON_STATES
from custom_components.marstek_strategy.core.readings import Cause
from custom_components.marstek_strategy.sensor import REASONS
from tests.conftest import Hub, LilyGoFleet

COMPONENT = Path(__file__).parent.parent.parent / "custom_components" / "marstek_strategy"
LANGUAGE_FILES = [
    "strings.json",
    *sorted(f"translations/{path.name}" for path in (COMPONENT / "translations").glob("*.json")),
]


async def test_setpoint_signs(
    hass: HomeAssistant, lilygo_fleet: LilyGoFleet, make_hub: Any
) -> None:
    """Discharging is positive, charging negative (as the energy dashboard counts)."""
    bat1 = await lilygo_fleet.add_battery("lilygo-bat1", soc=50)
    hub: Hub = await make_hub([(bat1, "L1")], grid=-1000)
    assert hub.state("sensor", "setpoint_mode", bat1) == "charge"
    charge = int(hub.state("sensor", "setpoint_power", bat1))
    assert charge == -957  # 1000 W export, charge correction 0.957
    assert hub.state("sensor", "total_setpoint") == str(charge)
    assert hub.state("sensor", "grid_power") == "-1000.0"
    assert hub.state("sensor", "status") == "settling"


async def test_sensors_before_the_first_cycle(
    hass: HomeAssistant, lilygo_fleet: LilyGoFleet, make_hub: Any
) -> None:
    bat1 = await lilygo_fleet.add_battery("lilygo-bat1", soc=50)
    hub: Hub = await make_hub([(bat1, "L1")])
    hub.coordinator.data = None
    hub.coordinator.async_update_listeners()
    await hass.async_block_till_done()
    assert hub.state("sensor", "status") == "unknown"
    assert hub.state("sensor", "setpoint_power", bat1) == "unknown"
    state = hass.states.get(hub.entity_id("sensor", "fail_safe_cause"))
    assert state is not None
    assert "source" not in state.attributes


def test_every_state_is_translated() -> None:
    """Every enum value the sensors and selects can show has an English and Dutch name."""
    from custom_components.marstek_strategy.sensor import CAUSES, STATUSES

    for name in LANGUAGE_FILES:
        entity = json.loads((COMPONENT / name).read_text())["entity"]
        sensor = entity["sensor"]
        assert set(sensor["status"]["state"]) == set(STATUSES) >= {s.value for s in Status}
        assert set(sensor["fail_safe_cause"]["state"]) == set(CAUSES) >= {c.value for c in Cause}
        assert set(sensor["setpoint_mode"]["state"]) == {m.value for m in Mode}
        assert set(sensor["reason"]["state"]) == set(REASON_STATES)
        assert set(sensor["reason"]["state_attributes"]["detail"]["state"]) == set(REASONS)
        assert set(REASONS) >= {r.value for r in Reason}
        from custom_components.marstek_strategy.core.engine import Strategy
        from custom_components.marstek_strategy.core.readings import Participation

        select = entity["select"]
        assert set(select["strategy"]["state"]) == {s.value for s in Strategy}
        assert set(select["participation"]["state"]) == {p.value for p in Participation}


def test_signed_power() -> None:
    from custom_components.marstek_strategy.core.cycle import signed_power

    assert signed_power(Setpoint(Mode.DISCHARGE, 500)) == 500
    assert signed_power(Setpoint(Mode.CHARGE, 500)) == -500
    assert signed_power(Setpoint(Mode.STOP, 0)) == 0


def test_every_entity_has_a_name_and_an_icon() -> None:
    """Each translation key used by the platforms has a name (en, nl) and an icon."""
    from custom_components.marstek_strategy.number import (
        BATTERY_NUMBERS,
        GRID_TARGET,
        REQUESTED_POWER,
    )
    from custom_components.marstek_strategy.select import GRID_MODE, PARTICIPATION, STRATEGY
    from custom_components.marstek_strategy.sensor import (
        BATTERY_ENERGY,
        BATTERY_SENSORS,
        HUB_ENERGY,
        HUB_SENSORS,
        MIRROR_SENSORS,
        PEAK_SENSORS,
    )

    sensors = (
        *HUB_SENSORS,
        *PEAK_SENSORS,
        *BATTERY_SENSORS,
        *MIRROR_SENSORS,
        *BATTERY_ENERGY,
        *HUB_ENERGY,
    )
    keys = {
        "sensor": {d.key for d in sensors} | {"learned_efficiency"},
        "number": {d.key for d in (*BATTERY_NUMBERS, GRID_TARGET, REQUESTED_POWER)},
        "select": {STRATEGY.key, PARTICIPATION.key, GRID_MODE.key},
        "switch": {"strategy_enabled"},
        "button": {"forget_learned"},
    }
    icons = json.loads((COMPONENT / "icons.json").read_text())["entity"]
    for name in LANGUAGE_FILES:
        entity = json.loads((COMPONENT / name).read_text())["entity"]
        for platform, platform_keys in keys.items():
            assert set(entity[platform]) == platform_keys
            assert all(entity[platform][key]["name"] for key in platform_keys)
    for platform, platform_keys in keys.items():
        assert set(icons[platform]) == platform_keys
