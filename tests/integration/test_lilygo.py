"""Finding a battery's LilyGo entities: names, variants, fallbacks, devices."""

from __future__ import annotations

from homeassistant.core import HomeAssistant
from homeassistant.exceptions import ServiceValidationError
from homeassistant.helpers import device_registry as dr, entity_registry as er
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.marstek_strategy.adapters.lilygo import (
    Candidate,
    device_candidates,
    find_battery_devices,
    find_battery_entities,
    has_required_roles,
    match_quality,
    match_roles,
    name_slug,
    role_for,
)
from custom_components.marstek_strategy.const import DOMAIN, REQUIRED_ROLES, Role
from tests.conftest import FORCIBLE_SLASHES, FRACTION_SLASH, LilyGoFleet, P1Meter

# Entity names exactly as the ESPHome configs name them, with their role.
ESPHOME_NAMES = [
    ("sensor", "Marstek Battery State Of Charge", Role.SOC),
    ("sensor", "Marstek AC Power", Role.AC_POWER),
    ("sensor", "Marstek Battery Power", Role.BATTERY_POWER),
    ("sensor", "Battery Power", Role.BATTERY_POWER),
    ("select", f"Marstek Forcible Charge{FRACTION_SLASH}Discharge", Role.FORCIBLE_MODE),
    ("select", "Marstek Forcible Charge/Discharge", Role.FORCIBLE_MODE),
    ("select", "Forcible Charge-Discharge", Role.FORCIBLE_MODE),
    ("select", "Marstek RS485 Control Mode", Role.RS485_MODE),
    ("number", "Marstek Forcible Charge Power", Role.CHARGE_POWER),
    ("number", "Forcible Discharge Power", Role.DISCHARGE_POWER),
    ("number", "Marstek Max. Charge Power", Role.MAX_CHARGE_POWER),
    ("number", "Max. Discharge Power", Role.MAX_DISCHARGE_POWER),
    ("number", "Charging Cutoff Capacity", Role.CHARGE_CUTOFF),
    ("number", "Marstek Discharging Cutoff Capacity", Role.DISCHARGE_CUTOFF),
    # Names that must match no role.
    ("sensor", "Marstek Battery Voltage", None),
    ("select", "Marstek User Work Mode", None),
    ("number", "Marstek Charge To SOC", None),
    ("sensor", "Marstek AC Voltage", None),
    ("sensor", "Marstek Battery Total Energy", None),
    ("number", "Led Brightness", None),
]


@pytest.mark.parametrize(("domain", "name", "role"), ESPHOME_NAMES)
def test_role_for_esphome_names(domain: str, name: str, role: Role | None) -> None:
    """Every ESPHome name maps to its role by domain and slug; the others to none."""
    assert role_for(domain, name_slug(name)) is role


def test_name_slug() -> None:
    """The prefix is optional and the three spellings of Charge/Discharge slugify alike."""
    for slash in FORCIBLE_SLASHES:
        assert name_slug(f"Marstek Forcible Charge{slash}Discharge") == (
            "forcible_charge_discharge"
        )
    assert name_slug("Max. Charge Power") == "max_charge_power"
    assert name_slug("Marstek RS485 Control Mode") == "rs485_control_mode"


def test_role_for_wrong_domain() -> None:
    """The domain must fit: a sensor named like the forcible select is no select."""
    assert role_for("sensor", "forcible_charge_discharge") is None
    assert role_for("number", "battery_state_of_charge") is None


def test_match_quality_order() -> None:
    """Exact name beats a name with the device in it, which beats the entity id."""
    role = Role.SOC
    assert match_quality(role, "sensor.x", "Marstek Battery State Of Charge") == 0
    assert match_quality(role, "sensor.x", "lilygo-rs485 Marstek Battery State Of Charge") == 1
    assert match_quality(role, "sensor.bat_marstek_battery_state_of_charge", None) == 2
    assert match_quality(role, "sensor.battery_state_of_charge", "Renamed") == 2
    assert match_quality(role, "sensor.bat_soc", "SoC") is None
    assert match_quality(role, "number.bat_marstek_battery_state_of_charge", None) is None


def test_match_roles_prefers_best_and_is_order_independent() -> None:
    """The best match wins per role; ties go to the first entity id."""
    candidates = [
        Candidate("sensor.z_battery_state_of_charge", None),
        Candidate("sensor.b_soc", "Marstek Battery State Of Charge"),
        Candidate("sensor.a_soc", "Battery State Of Charge"),
        Candidate("number.bat_forcible_charge_power", "Something else"),
        Candidate("number.bat_max_charge_power", "Marstek Max. Charge Power"),
        Candidate("select.bat_user_work_mode", "Marstek User Work Mode"),
        Candidate("sensor.bat_battery_power", "Marstek Battery Power"),
        Candidate("sensor.bat_battery_voltage", "Marstek Battery Voltage"),
    ]
    expected = {
        Role.SOC: "sensor.a_soc",
        Role.BATTERY_POWER: "sensor.bat_battery_power",
        Role.CHARGE_POWER: "number.bat_forcible_charge_power",
        Role.MAX_CHARGE_POWER: "number.bat_max_charge_power",
    }
    assert match_roles(candidates) == expected
    assert match_roles(reversed(candidates)) == expected
    assert not has_required_roles(expected)


@pytest.mark.parametrize("prefix", ["Marstek ", ""])
@pytest.mark.parametrize("slash", FORCIBLE_SLASHES)
async def test_find_battery_entities_fleet(
    hass: HomeAssistant, lilygo_fleet: LilyGoFleet, prefix: str, slash: str
) -> None:
    """A fake LilyGo device yields all its roles, whatever the naming variant."""
    battery = await lilygo_fleet.add_battery("lilygo-bat1", prefix=prefix, slash=slash)
    found = find_battery_entities(hass, battery.device_id)
    assert found == battery.entity_ids
    assert set(found) == set(Role)
    assert has_required_roles(found)


async def test_find_battery_entities_v3(hass: HomeAssistant, lilygo_fleet: LilyGoFleet) -> None:
    """A v3 battery has no cutoff numbers: those roles are absent."""
    battery = await lilygo_fleet.add_battery("lilygo-v3", v3=True)
    found = find_battery_entities(hass, battery.device_id)
    assert Role.CHARGE_CUTOFF not in found
    assert Role.DISCHARGE_CUTOFF not in found
    assert has_required_roles(found)


async def test_entity_id_fallback_and_disabled(hass: HomeAssistant) -> None:
    """Without useful original names the entity id suffix decides; disabled ones are skipped."""
    entry = MockConfigEntry(domain="modbus")
    entry.add_to_hass(hass)
    device = dr.async_get(hass).async_get_or_create(
        config_entry_id=entry.entry_id, identifiers={("modbus", "venus")}, name="Venus"
    )
    registry = er.async_get(hass)
    soc = registry.async_get_or_create(
        "sensor",
        "modbus",
        "soc",
        device_id=device.id,
        suggested_object_id="venus_battery_state_of_charge",
    )
    registry.async_get_or_create(
        "select",
        "modbus",
        "mode",
        device_id=device.id,
        suggested_object_id="venus_forcible_charge_discharge",
        disabled_by=er.RegistryEntryDisabler.USER,
    )
    assert find_battery_entities(hass, device.id) == {Role.SOC: soc.entity_id}


async def test_own_entities_are_never_candidates(hass: HomeAssistant) -> None:
    """This integration's own numbers ("Max charge power") never fill a battery role."""
    entry = MockConfigEntry(domain=DOMAIN)
    entry.add_to_hass(hass)
    device = dr.async_get(hass).async_get_or_create(
        config_entry_id=entry.entry_id, identifiers={(DOMAIN, "bat")}, name="Battery"
    )
    er.async_get(hass).async_get_or_create(
        "number", DOMAIN, "max", device_id=device.id, original_name="Max charge power"
    )
    assert device_candidates(hass, device.id) == []
    assert find_battery_devices(hass) == []


async def test_find_battery_devices_order(
    hass: HomeAssistant, lilygo_fleet: LilyGoFleet, p1_meter: P1Meter
) -> None:
    """ESPHome devices first (by name), then other devices with matches; none without."""
    bat_b = await lilygo_fleet.add_battery("lilygo-b")
    bat_a = await lilygo_fleet.add_battery("Lilygo-A")
    other = MockConfigEntry(domain="modbus")
    other.add_to_hass(hass)
    device_registry = dr.async_get(hass)
    foreign = device_registry.async_get_or_create(
        config_entry_id=other.entry_id, identifiers={("modbus", "x")}, name="Aardvark"
    )
    er.async_get(hass).async_get_or_create(
        "sensor", "modbus", "soc", device_id=foreign.id, original_name="Battery State Of Charge"
    )
    disabled = device_registry.async_get_or_create(
        config_entry_id=other.entry_id, identifiers={("modbus", "y")}, name="Disabled"
    )
    er.async_get(hass).async_get_or_create(
        "sensor", "modbus", "soc2", device_id=disabled.id, original_name="Battery State Of Charge"
    )
    device_registry.async_update_device(disabled.id, disabled_by=dr.DeviceEntryDisabler.USER)
    device_registry.async_update_device(bat_b.device_id, name_by_user="Attic battery")

    devices = find_battery_devices(hass)
    assert [(d.name, d.esphome) for d in devices] == [
        ("Attic battery", True),
        ("Lilygo-A", True),
        ("Aardvark", False),
    ]
    assert devices[1].device_id == bat_a.device_id
    assert devices[1].matched == bat_a.entity_ids
    assert set(devices[2].matched) == {Role.SOC}
    # The P1 meter's power sensors are no battery.
    assert all(d.name != "P1 meter" for d in devices)


async def test_fleet_records_writes_and_follows(
    hass: HomeAssistant, lilygo_fleet: LilyGoFleet
) -> None:
    """The fake battery validates like HA, records writes in order, and follows them."""
    battery = await lilygo_fleet.add_battery("lilygo-bat1", rs485="disable")
    ids = battery.entity_ids
    await hass.services.async_call(
        "select",
        "select_option",
        {"entity_id": ids[Role.FORCIBLE_MODE], "option": "discharge"},
        blocking=True,
    )
    await hass.services.async_call(
        "number",
        "set_value",
        {"entity_id": ids[Role.DISCHARGE_POWER], "value": 600},
        blocking=True,
    )
    assert battery.state(Role.AC_POWER) == "0.0"  # RS485 control is off: ignored
    await hass.services.async_call(
        "select",
        "select_option",
        {"entity_id": ids[Role.RS485_MODE], "option": "enable"},
        blocking=True,
    )
    assert battery.state(Role.AC_POWER) == "600.0"
    with pytest.raises(ServiceValidationError):
        await hass.services.async_call(
            "number",
            "set_value",
            {"entity_id": ids[Role.DISCHARGE_POWER], "value": 3000},
            blocking=True,
        )
    assert [(w.role, w.value) for w in lilygo_fleet.writes] == [
        (Role.FORCIBLE_MODE, "discharge"),
        (Role.DISCHARGE_POWER, 600),
        (Role.RS485_MODE, "enable"),
    ]
    assert [w.seq for w in battery.writes] == [0, 1, 2]
    assert battery.values(Role.DISCHARGE_POWER) == [600]
    assert set(REQUIRED_ROLES) <= set(ids)
