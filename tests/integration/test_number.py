"""Numbers: restored across restarts, edit the settings, refuse a broken cutoff order."""

from __future__ import annotations

from typing import Any

from homeassistant.core import HomeAssistant, State
from homeassistant.exceptions import ServiceValidationError
import pytest
from pytest_homeassistant_custom_component.common import mock_restore_cache_with_extra_data

from custom_components.marstek_strategy.const import Role
from tests.conftest import Hub, LilyGoFleet


def _stored(value: float, low: float, high: float, unit: str) -> dict[str, Any]:
    return {
        "native_value": value,
        "native_min_value": low,
        "native_max_value": high,
        "native_step": 1,
        "native_unit_of_measurement": unit,
    }


async def test_numbers_restored(
    hass: HomeAssistant, lilygo_fleet: LilyGoFleet, make_hub: Any
) -> None:
    bat1 = await lilygo_fleet.add_battery("lilygo-bat1", soc=50)
    mock_restore_cache_with_extra_data(
        hass,
        [
            (State("number.lilygo_bat1_strategy_charge_cutoff", "90"), _stored(90, 20, 100, "%")),
            (
                State("number.lilygo_bat1_strategy_discharge_cutoff", "20"),
                _stored(20, 0, 80, "%"),
            ),
            (
                State("number.lilygo_bat1_strategy_max_charge_power", "1200"),
                _stored(1200, 0, 2500, "W"),
            ),
            (
                State("number.lilygo_bat1_strategy_max_discharge_power", "9999"),
                _stored(9999, 0, 2500, "W"),
            ),
            (State("number.marstek_strategy_grid_target", "25"), _stored(25, -1000, 1000, "W")),
        ],
    )
    hub: Hub = await make_hub([(bat1, "L1")], grid=-3000)
    settings = hub.entry.runtime_data.settings
    battery = settings.batteries[hub.subentry_id(bat1)]
    assert (battery.charge_cutoff, battery.discharge_cutoff) == (90, 20)
    assert (battery.max_charge_w, battery.max_discharge_w) == (1200, 2500)
    assert settings.grid_target_w == 25
    assert float(hub.state("number", "charge_cutoff", bat1)) == 90
    # the restored limit is used by the first cycle
    assert float(bat1.state(Role.CHARGE_POWER)) == 1200


async def test_restored_cutoff_breaking_the_order_is_ignored(
    hass: HomeAssistant, lilygo_fleet: LilyGoFleet, make_hub: Any
) -> None:
    bat1 = await lilygo_fleet.add_battery("lilygo-bat1", soc=50)
    mock_restore_cache_with_extra_data(
        hass,
        [(State("number.lilygo_bat1_strategy_charge_cutoff", "10"), _stored(5, 20, 100, "%"))],
    )
    hub: Hub = await make_hub([(bat1, "L1")])
    battery = hub.entry.runtime_data.settings.batteries[hub.subentry_id(bat1)]
    assert battery.charge_cutoff == 20  # clamped to the number's range


async def test_set_numbers(hass: HomeAssistant, lilygo_fleet: LilyGoFleet, make_hub: Any) -> None:
    bat1 = await lilygo_fleet.add_battery("lilygo-bat1", soc=50)
    hub: Hub = await make_hub([(bat1, "L1")])
    battery = hub.entry.runtime_data.settings.batteries[hub.subentry_id(bat1)]
    for key, value in (
        ("charge_cutoff", 95),
        ("discharge_cutoff", 15),
        ("max_charge_power", 1500),
        ("max_discharge_power", 700),
    ):
        await hass.services.async_call(
            "number",
            "set_value",
            {"entity_id": hub.entity_id("number", key, bat1), "value": value},
            blocking=True,
        )
        assert float(hub.state("number", key, bat1)) == value
    assert (battery.charge_cutoff, battery.discharge_cutoff) == (95, 15)
    assert (battery.max_charge_w, battery.max_discharge_w) == (1500, 700)


@pytest.mark.parametrize(
    ("first", "second", "key"),
    [
        (("charge_cutoff", 40), ("discharge_cutoff", 50), "discharge_cutoff_too_high"),
        (("discharge_cutoff", 50), ("charge_cutoff", 40), "charge_cutoff_too_low"),
    ],
)
async def test_cutoff_order_is_enforced(
    lilygo_fleet: LilyGoFleet,
    make_hub: Any,
    first: tuple[str, float],
    second: tuple[str, float],
    key: str,
) -> None:
    bat1 = await lilygo_fleet.add_battery("lilygo-bat1", soc=50)
    hub: Hub = await make_hub([(bat1, "L1")])
    hass = hub.hass
    await hass.services.async_call(
        "number",
        "set_value",
        {"entity_id": hub.entity_id("number", first[0], bat1), "value": first[1]},
        blocking=True,
    )
    with pytest.raises(ServiceValidationError) as err:
        await hass.services.async_call(
            "number",
            "set_value",
            {"entity_id": hub.entity_id("number", second[0], bat1), "value": second[1]},
            blocking=True,
        )
    assert err.value.translation_key == key
    assert err.value.translation_domain == "marstek_strategy"
    assert float(hub.state("number", first[0], bat1)) == first[1]


async def test_grid_target_shifts_the_balance(
    hass: HomeAssistant, lilygo_fleet: LilyGoFleet, make_hub: Any
) -> None:
    bat1 = await lilygo_fleet.add_battery("lilygo-bat1", soc=50)
    hub: Hub = await make_hub([(bat1, "L1")], grid=0)
    await hass.services.async_call(
        "number",
        "set_value",
        {"entity_id": hub.entity_id("number", "grid_target"), "value": -300},
        blocking=True,
    )
    assert hub.state("number", "grid_target") == "-300.0"
    await hub.tick(6.5, grid=0, step=6.5)
    # aiming at 300 W export: the battery discharges
    assert hub.coordinator.data.engine_grid_w == 300
    assert bat1.state(Role.FORCIBLE_MODE) == "discharge"


async def test_restored_pair_breaking_the_order_keeps_the_first(
    hass: HomeAssistant, lilygo_fleet: LilyGoFleet, make_hub: Any
) -> None:
    bat1 = await lilygo_fleet.add_battery("lilygo-bat1", soc=50)
    mock_restore_cache_with_extra_data(
        hass,
        [
            (State("number.lilygo_bat1_strategy_charge_cutoff", "30"), _stored(30, 20, 100, "%")),
            (
                State("number.lilygo_bat1_strategy_discharge_cutoff", "40"),
                _stored(40, 0, 80, "%"),
            ),
        ],
    )
    hub: Hub = await make_hub([(bat1, "L1")])
    battery = hub.entry.runtime_data.settings.batteries[hub.subentry_id(bat1)]
    assert (battery.charge_cutoff, battery.discharge_cutoff) == (30, 12)


@pytest.mark.parametrize(
    "key", ["charge_cutoff", "discharge_cutoff", "max_charge_power", "max_discharge_power"]
)
async def test_battery_number_refuses_a_value_that_is_not_a_number(
    hass: HomeAssistant, lilygo_fleet: LilyGoFleet, make_hub: Any, key: str
) -> None:
    """number.set_value lets NaN past its range check: the number refuses it."""
    bat1 = await lilygo_fleet.add_battery("lilygo-bat1", soc=50)
    hub: Hub = await make_hub([(bat1, "L1")])
    before = hub.state("number", key, bat1)
    with pytest.raises(ServiceValidationError) as err:
        await hass.services.async_call(
            "number",
            "set_value",
            {"entity_id": hub.entity_id("number", key, bat1), "value": "nan"},
            blocking=True,
        )
    assert err.value.translation_key == "not_a_number"
    assert hub.state("number", key, bat1) == before


async def test_grid_target_refuses_nan_and_batteries_keep_running(
    hass: HomeAssistant, lilygo_fleet: LilyGoFleet, make_hub: Any
) -> None:
    """A NaN grid target would stop every battery while the status says running."""
    bat1 = await lilygo_fleet.add_battery("lilygo-bat1", soc=50)
    hub: Hub = await make_hub([(bat1, "L1")], grid=500)
    with pytest.raises(ServiceValidationError) as err:
        await hass.services.async_call(
            "number",
            "set_value",
            {"entity_id": hub.entity_id("number", "grid_target"), "value": "nan"},
            blocking=True,
        )
    assert err.value.translation_key == "not_a_number"
    assert hub.entry.runtime_data.settings.grid_target_w == 0
    await hub.tick(12, grid=0, step=12)
    assert bat1.state(Role.FORCIBLE_MODE) == "discharge"


async def test_restored_nan_is_ignored(
    hass: HomeAssistant, lilygo_fleet: LilyGoFleet, make_hub: Any
) -> None:
    bat1 = await lilygo_fleet.add_battery("lilygo-bat1", soc=50)
    nan = float("nan")
    mock_restore_cache_with_extra_data(
        hass,
        [
            (State("number.lilygo_bat1_strategy_charge_cutoff", "nan"), _stored(nan, 20, 100, "%")),
            (
                State("number.lilygo_bat1_strategy_max_charge_power", "nan"),
                _stored(nan, 0, 2500, "W"),
            ),
            (State("number.marstek_strategy_grid_target", "nan"), _stored(nan, -1000, 1000, "W")),
        ],
    )
    hub: Hub = await make_hub([(bat1, "L1")])
    settings = hub.entry.runtime_data.settings
    battery = settings.batteries[hub.subentry_id(bat1)]
    assert (battery.charge_cutoff, battery.max_charge_w, settings.grid_target_w) == (100, 2500, 0)
