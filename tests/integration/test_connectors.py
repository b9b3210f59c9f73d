"""Issue 20: batteries of marstek_modbus and of the modbus YAML packages, end to end.

Each connector's fixture reproduces the entities it really creates (tests/connector_fleet.py):
a hub with three batteries is set up through the flow (marstek_modbus in English, Dutch and
German: its names and entity ids follow the language), then driven: a cycle of writes in the
connector's words and steps, a stop, the read-back against a change nobody told us about and a
write that fails without an error, and the hand back.
"""

from __future__ import annotations

from collections.abc import Callable, Generator
import logging
from typing import Any

from homeassistant.config_entries import SOURCE_USER, ConfigEntry, ConfigEntryState
from homeassistant.core import HomeAssistant
from homeassistant.data_entry_flow import FlowResult, FlowResultType
from homeassistant.helpers import entity_registry as er
import pytest
from pytest_homeassistant_custom_component.common import (
    async_fire_time_changed_exact,
    mock_config_flow,
)

from custom_components.marstek_strategy.const import (
    CONF_CONNECTOR,
    CONF_DEVICE_ID,
    CONF_DRY_RUN,
    CONF_GRID_SENSOR,
    CONF_PHASE,
    CONF_PHASE_COUNT,
    CONF_STOP_BEHAVIOR,
    DOMAIN,
    SUBENTRY_BATTERY,
    Role,
)
from tests.conftest import P1Meter, _FakeFlow
from tests.connector_fleet import ConnectorFleet, FakeUnit
from tests.integration.test_config_flow import check_translations, select_options, suggested

__all__ = ["check_translations"]  # every flow result's text is checked (autouse fixture)

L1, L2, L3 = "phase_l1_sensor", "phase_l2_sensor", "phase_l3_sensor"
HOUSE_W = -1234.0  # the house exports this much without the batteries (PV surplus)


@pytest.fixture
def fleet(hass: HomeAssistant, request: pytest.FixtureRequest) -> Generator[ConnectorFleet]:
    """An empty fleet; the test's language parameter, if any, names its entities."""
    with (
        mock_config_flow("marstek_modbus", _FakeFlow),
        mock_config_flow("modbus", _FakeFlow),
        mock_config_flow("template", _FakeFlow),
    ):
        yield ConnectorFleet(hass, getattr(request, "param", "en"))


async def _hub_flow(hass: HomeAssistant, meter: P1Meter) -> FlowResult[Any, Any]:
    """Start a hub on a three-phase meter: the flow stops at the batteries found."""
    result = await hass.config_entries.flow.async_init(DOMAIN, context={"source": SOURCE_USER})
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {CONF_GRID_SENSOR: meter.grid, CONF_PHASE_COUNT: "3"}
    )
    return await hass.config_entries.flow.async_configure(result["flow_id"], suggested(result))


def _loop(
    fleet: ConnectorFleet, meter: P1Meter, house: list[float] | None = None
) -> Callable[[], None]:
    """Close the loop: the grid is the house's power (house[0]) less what batteries deliver."""
    house = house if house is not None else [HOUSE_W]

    def grid() -> None:
        delivered = sum(float(unit.state(Role.AC_POWER)) for unit in fleet.units)
        meter.set(house[0] - delivered)

    fleet.on_change = grid
    return grid


async def _tick(
    hass: HomeAssistant, freezer: Any, grid: Callable[[], None], seconds: float
) -> None:
    """Let seconds pass in half seconds, the meter reporting at every step."""
    for _ in range(int(seconds * 2)):
        freezer.tick(0.5)
        grid()
        async_fire_time_changed_exact(hass)
        await hass.async_block_till_done()


async def _set_options(hass: HomeAssistant, entry: ConfigEntry, **options: Any) -> None:
    hass.config_entries.async_update_entry(entry, options={**entry.options, **options})
    await hass.async_block_till_done()


async def _switch(hass: HomeAssistant, entry: ConfigEntry, service: str) -> None:
    entity_id = er.async_get(hass).async_get_entity_id(
        "switch", DOMAIN, f"{entry.entry_id}_strategy_enabled"
    )
    await hass.services.async_call("switch", service, {"entity_id": entity_id}, blocking=True)
    await hass.async_block_till_done()


def _reason(hass: HomeAssistant, entry: ConfigEntry, unit: FakeUnit) -> str:
    subentry = next(s for s in entry.subentries.values() if s.title == unit.name)
    entity_id = er.async_get(hass).async_get_entity_id(
        "sensor", DOMAIN, f"{subentry.subentry_id}_reason"
    )
    assert entity_id is not None
    state = hass.states.get(entity_id)
    assert state is not None
    return state.state


# --------------------------------------------------------------------------------------------
# marstek_modbus (ViperRNMC/marstek_venus_modbus)

NAMES = ("Marstek Venus Modbus", "Marstek Venus Modbus 2", "Marstek Venus Modbus 3")
MODE_IDS = {  # its entity ids follow the language of the names
    "en": "select.marstek_venus_modbus_force_mode",
    "nl": "select.marstek_venus_modbus_geforceerde_modus",
    "de": "select.marstek_venus_modbus_erzwungener_modus",
}


async def _marstek_modbus_hub(
    hass: HomeAssistant, fleet: ConnectorFleet, meter: P1Meter
) -> tuple[ConfigEntry, list[FakeUnit]]:
    """Three marstek_modbus batteries set up through the flow, their control enabled there."""
    units = [await fleet.add_marstek_modbus(name, soc=60) for name in NAMES]
    assert units[0].entity_id(Role.FORCIBLE_MODE) == MODE_IDS[fleet.language]
    registry = er.async_get(hass)
    assert registry.async_get(MODE_IDS[fleet.language]).disabled_by is not None  # type: ignore[union-attr]
    assert hass.states.get(MODE_IDS[fleet.language]) is None

    result = await _hub_flow(hass, meter)
    assert result["step_id"] == "batteries"
    keys = [option["value"] for option in select_options(result, "batteries")]
    labels = [option["label"] for option in select_options(result, "batteries")]
    assert labels == [f"{name} (Marstek Venus Modbus)" for name in NAMES]
    result = await hass.config_entries.flow.async_configure(result["flow_id"], {"batteries": keys})
    for index, unit in enumerate(units, start=1):
        # The control entities are disabled by default: named, and enabled on request.
        assert result["step_id"] == "enable"
        placeholders = result["description_placeholders"]
        assert unit.entity_id(Role.FORCIBLE_MODE) in placeholders["entities"]
        assert unit.entity_id(Role.RS485_MODE) in placeholders["entities"]
        assert placeholders["connector"] == "Marstek Venus Modbus"
        result = await hass.config_entries.flow.async_configure(
            result["flow_id"], {"enable_entities": True}
        )
        assert result["step_id"] == "battery"
        assert result["description_placeholders"]["found"] == "12"  # every role, any language
        assert suggested(result) == {CONF_PHASE: f"L{index}", **{
            role.value: entity_id for role, entity_id in unit.entity_ids.items()
        }}  # fmt: skip
        result = await hass.config_entries.flow.async_configure(
            result["flow_id"], suggested(result)
        )
    assert result["type"] is FlowResultType.CREATE_ENTRY
    entry: ConfigEntry = result["result"]
    for unit in units:
        subentry = next(s for s in entry.subentries.values() if s.title == unit.name)
        assert subentry.data[CONF_CONNECTOR] == "marstek_modbus"
        assert subentry.data[CONF_DEVICE_ID] == subentry.unique_id
        assert registry.async_get(unit.entity_id(Role.FORCIBLE_MODE)).disabled_by is None  # type: ignore[union-attr]
    return entry, units


@pytest.mark.parametrize("fleet", ["en", "nl", "de"], indirect=True)
async def test_marstek_modbus_hub_in_the_flow(
    hass: HomeAssistant, fleet: ConnectorFleet, p1_meter: P1Meter, freezer: Any
) -> None:
    """Found by translation key in any language; disabled control entities enabled."""
    entry, units = await _marstek_modbus_hub(hass, fleet, p1_meter)
    assert len(entry.subentries) == 3
    # marstek_modbus reloads its entries once their entities are enabled (30 s later).
    freezer.tick(31)
    async_fire_time_changed_exact(hass)
    await hass.async_block_till_done()
    assert units[2].state(Role.FORCIBLE_MODE) == "standby"
    assert units[2].state(Role.RS485_MODE) == "off"


async def test_marstek_modbus_drive_stop_readback_hand_back(
    hass: HomeAssistant,
    fleet: ConnectorFleet,
    p1_meter: P1Meter,
    freezer: Any,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Its words (standby, a switch), its steps (50 W, told 1200 W for 1234 W), its read-back."""
    caplog.set_level(logging.INFO)
    entry, units = await _marstek_modbus_hub(hass, fleet, p1_meter)
    house = [HOUSE_W]
    grid = _loop(fleet, p1_meter, house)
    await _tick(hass, freezer, grid, 31)  # their integration reloads them, enabled
    await _set_options(hass, entry, **{CONF_DRY_RUN: False})
    assert entry.state is ConfigEntryState.LOADED
    await _tick(hass, freezer, grid, 60)

    # A cycle of writes: RS485 on through the switch, powers in steps of 50 W, "charge".
    charging = [u for u in units if u.state(Role.FORCIBLE_MODE) == "charge"]
    assert charging
    for unit in charging:
        assert unit.state(Role.RS485_MODE) == "on"
        assert True in unit.values_of(Role.RS485_MODE)
    powers = [v for u in units for v in u.values_of(Role.CHARGE_POWER)]
    assert powers
    assert all(float(v) % 50 == 0 for v in powers)
    delivered = -sum(float(u.state(Role.AC_POWER)) for u in units)
    assert delivered == 1200  # 1234 W down to the step: never more than planned

    # Told 1200 W, it shows 1200 W: no drift, nothing written again between keep-alives.
    fleet.writes.clear()
    await _tick(hass, freezer, grid, 60)
    per_unit = [set(u.values_of(Role.CHARGE_POWER)) for u in charging]
    assert all(len(values) <= 1 for values in per_unit)  # keep-alives repeat the same value
    assert len([w for w in fleet.writes if w.key == "set_charge_power"]) <= 2 * len(charging)
    assert "reports a state it was not told" not in caplog.text

    # The Marstek app puts one in standby: after its polling grace, the read-back corrects it.
    unit = charging[0]
    unit.set(Role.FORCIBLE_MODE, "standby")
    fleet.writes.clear()
    await _tick(hass, freezer, grid, 30)
    assert "reports a state it was not told" in caplog.text
    assert "charge" in unit.values_of(Role.FORCIBLE_MODE)
    assert unit.state(Role.FORCIBLE_MODE) == "charge"

    # Writes that fail without an error (all three batteries needed): only the read-back
    # sees it, adopting standby again and again; then it counts on that battery no more.
    house[0] = -6000.0
    await _tick(hass, freezer, grid, 60)
    assert all(u.state(Role.FORCIBLE_MODE) == "charge" for u in units)
    unit.silent = {"force_mode"}
    unit.set(Role.FORCIBLE_MODE, "standby")
    unit.react()
    await _tick(hass, freezer, grid, 120)
    assert unit.state(Role.FORCIBLE_MODE) == "standby"
    assert _reason(hass, entry, unit) == "not_responding"
    assert "does not deliver what it is told" in caplog.text
    unit.silent = set()
    house[0] = HOUSE_W

    # A stop: standby and 0 W, in the connector's words; RS485 control kept (hold stopped).
    await _switch(hass, entry, "turn_off")
    for each in units:
        assert each.state(Role.FORCIBLE_MODE) == "standby"
        assert float(each.state(Role.CHARGE_POWER)) == 0
    assert "standby" in unit.values_of(Role.FORCIBLE_MODE)

    # Hand back: RS485 switch off and the work mode to anti_feed (found by its key).
    await _switch(hass, entry, "turn_on")
    await _set_options(hass, entry, **{CONF_STOP_BEHAVIOR: "hand_back"})
    await _tick(hass, freezer, grid, 40)
    fleet.writes.clear()
    await _switch(hass, entry, "turn_off")
    for each in units:
        assert each.state(Role.FORCIBLE_MODE) == "standby"
        assert each.state(Role.RS485_MODE) == "off"
        assert False in each.values_of(Role.RS485_MODE)
        assert "anti_feed" in each.values_of(None)
    await hass.config_entries.async_unload(entry.entry_id)


# --------------------------------------------------------------------------------------------
# Home Assistant's modbus YAML + template entities (marstek_mN_*, no device)


async def _modbus_yaml_hub(
    hass: HomeAssistant, fleet: ConnectorFleet, meter: P1Meter
) -> tuple[ConfigEntry, list[FakeUnit]]:
    """m1 as the packages make it, m2 with numbers without a unit, m3 without unique ids."""
    units = [
        await fleet.add_modbus_yaml(1),
        await fleet.add_modbus_yaml(2, unitless=True),
        await fleet.add_modbus_yaml(3, unique_ids=False),
    ]
    registry = er.async_get(hass)
    assert registry.async_get(units[2].entity_id(Role.FORCIBLE_MODE)) is None
    assert units[0].entity_id(Role.FORCIBLE_MODE) == "select.marstek_m1_forcible_charge_discharge"

    result = await _hub_flow(hass, meter)
    assert result["step_id"] == "batteries"
    options = select_options(result, "batteries")
    assert [o["label"] for o in options] == [f"marstek_m{n} (Modbus YAML)" for n in (1, 2, 3)]
    assert suggested(result) == {"batteries": [o["value"] for o in options]}
    result = await hass.config_entries.flow.async_configure(result["flow_id"], suggested(result))
    for unit in units:
        assert result["step_id"] == "battery"
        assert result["description_placeholders"]["found"] == "10"  # v3: no cutoffs
        assert result["description_placeholders"]["found_required"] == "4"
        result = await hass.config_entries.flow.async_configure(
            result["flow_id"], suggested(result)
        )
        assert result.get("errors") in (None, {}), (unit.name, result.get("errors"))
    assert result["type"] is FlowResultType.CREATE_ENTRY
    entry: ConfigEntry = result["result"]
    for unit in units:
        subentry = next(s for s in entry.subentries.values() if s.title == unit.name)
        assert CONF_DEVICE_ID not in subentry.data
        assert subentry.data[CONF_CONNECTOR] == "modbus_yaml"
        assert subentry.unique_id == f"group:modbus_yaml:{unit.object_prefix}"
    return entry, units


async def test_modbus_yaml_drive_stop_readback_hand_back(
    hass: HomeAssistant,
    fleet: ConnectorFleet,
    p1_meter: P1Meter,
    freezer: Any,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Entities without a device: found by prefix, driven, stopped, read back, handed back."""
    caplog.set_level(logging.INFO)
    entry, units = await _modbus_yaml_hub(hass, fleet, p1_meter)
    grid = _loop(fleet, p1_meter)
    await _set_options(hass, entry, **{CONF_DRY_RUN: False})
    await _tick(hass, freezer, grid, 60)
    charging = [u for u in units if u.state(Role.FORCIBLE_MODE) == "charge"]
    assert charging
    for unit in charging:
        assert unit.state(Role.RS485_MODE) == "enable"
    delivered = -sum(float(u.state(Role.AC_POWER)) for u in units)
    assert abs(delivered - 1234) <= 5

    # Changed behind its back (no context): read back after the mode sensor's grace.
    unit = charging[0]
    unit.set(Role.FORCIBLE_MODE, "stop")
    await _tick(hass, freezer, grid, 45)
    assert "reports a state it was not told" in caplog.text
    assert unit.state(Role.FORCIBLE_MODE) == "charge"

    await _switch(hass, entry, "turn_off")
    for each in units:
        assert each.state(Role.FORCIBLE_MODE) == "stop"
        assert float(each.state(Role.CHARGE_POWER)) == 0

    # Hand back without a device: the work mode select found by the object-id prefix.
    await _switch(hass, entry, "turn_on")
    await _set_options(hass, entry, **{CONF_STOP_BEHAVIOR: "hand_back"})
    await _tick(hass, freezer, grid, 40)
    await _switch(hass, entry, "turn_off")
    for each in units:
        assert each.state(Role.RS485_MODE) == "disable"
        assert each.state(None) == "anti-feed"
        assert "anti-feed" in each.values_of(None)
    await hass.config_entries.async_unload(entry.entry_id)


async def test_add_battery_group_and_by_hand(
    hass: HomeAssistant, fleet: ConnectorFleet, p1_meter: P1Meter
) -> None:
    """Add battery offers a group without a device, and always the entities by hand."""
    m1 = await fleet.add_modbus_yaml(1)
    m2 = await fleet.add_modbus_yaml(2, unique_ids=False)
    entry = await _empty_hub(hass, p1_meter)
    result = await hass.config_entries.subentries.async_init(
        (entry.entry_id, SUBENTRY_BATTERY), context={"source": SOURCE_USER}
    )
    assert result["step_id"] == "user"
    assert [o["label"] for o in select_options(result, CONF_DEVICE_ID)] == [
        "marstek_m1 (Modbus YAML)",
        "marstek_m2 (Modbus YAML)",
    ]
    result = await hass.config_entries.subentries.async_configure(
        result["flow_id"],
        {CONF_DEVICE_ID: "group:modbus_yaml:marstek_m1_", CONF_PHASE: "L1"},
    )
    assert result["step_id"] == "entities"
    result = await hass.config_entries.subentries.async_configure(
        result["flow_id"], suggested(result)
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert result["title"] == "marstek_m1"

    # By hand: m2's entities picked one by one (its template entities are not in the registry).
    result = await hass.config_entries.subentries.async_init(
        (entry.entry_id, SUBENTRY_BATTERY), context={"source": SOURCE_USER}
    )
    result = await hass.config_entries.subentries.async_configure(
        result["flow_id"],
        {CONF_DEVICE_ID: "group:modbus_yaml:marstek_m2_", CONF_PHASE: "L2", "manual": True},
    )
    assert result["step_id"] == "entities"
    assert suggested(result) == {}
    # m1's entities are refused: they belong to the first battery.
    taken = {role.value: entity_id for role, entity_id in m1.entity_ids.items()}
    result = await hass.config_entries.subentries.async_configure(result["flow_id"], taken)
    assert result["errors"][Role.FORCIBLE_MODE.value] == "entity_in_use"
    picked = {role.value: entity_id for role, entity_id in m2.entity_ids.items()}
    result = await hass.config_entries.subentries.async_configure(result["flow_id"], picked)
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert result["title"] == "marstek_m2"
    subentry = next(s for s in entry.subentries.values() if s.title == "marstek_m2")
    assert subentry.data[CONF_CONNECTOR] == "modbus_yaml"
    assert subentry.unique_id == m2.entity_id(Role.FORCIBLE_MODE)

    # Nothing left to find: the phase, then the entities by hand.
    result = await hass.config_entries.subentries.async_init(
        (entry.entry_id, SUBENTRY_BATTERY), context={"source": SOURCE_USER}
    )
    assert result["step_id"] == "manual"


async def test_add_marstek_modbus_battery_keeping_its_entities_disabled(
    hass: HomeAssistant, fleet: ConnectorFleet, p1_meter: P1Meter
) -> None:
    """Declining to enable them: the entities step names every disabled one."""
    unit = await fleet.add_marstek_modbus("Venus", soc=60)
    entry = await _empty_hub(hass, p1_meter)
    result = await hass.config_entries.subentries.async_init(
        (entry.entry_id, SUBENTRY_BATTERY), context={"source": SOURCE_USER}
    )
    result = await hass.config_entries.subentries.async_configure(
        result["flow_id"], {CONF_DEVICE_ID: suggested(result)[CONF_DEVICE_ID], CONF_PHASE: "L1"}
    )
    assert result["step_id"] == "enable"
    result = await hass.config_entries.subentries.async_configure(
        result["flow_id"], {"enable_entities": False}
    )
    assert result["step_id"] == "entities"
    result = await hass.config_entries.subentries.async_configure(
        result["flow_id"], suggested(result)
    )
    assert result["errors"][Role.FORCIBLE_MODE.value] == "entity_disabled"
    assert result["errors"][Role.RS485_MODE.value] == "entity_disabled"
    assert Role.SOC.value not in result["errors"]
    assert float(unit.state(Role.SOC)) == 60


async def _empty_hub(hass: HomeAssistant, meter: P1Meter) -> ConfigEntry:
    from tests.conftest import make_hub_entry

    entry = make_hub_entry(meter, [], phase_count=3)
    entry.add_to_hass(hass)
    return entry


async def test_reconfigure_a_battery_without_a_device(
    hass: HomeAssistant, fleet: ConnectorFleet, p1_meter: P1Meter
) -> None:
    """Reconfigure keeps a group's connector and needs no device; its unit-less numbers pass."""
    m1 = await fleet.add_modbus_yaml(1, unitless=True)
    entry = await _empty_hub(hass, p1_meter)
    result = await hass.config_entries.subentries.async_init(
        (entry.entry_id, SUBENTRY_BATTERY), context={"source": SOURCE_USER}
    )
    result = await hass.config_entries.subentries.async_configure(
        result["flow_id"], {CONF_DEVICE_ID: "group:modbus_yaml:marstek_m1_", CONF_PHASE: "L1"}
    )
    result = await hass.config_entries.subentries.async_configure(
        result["flow_id"], suggested(result)
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY
    (subentry,) = entry.subentries.values()
    result = await hass.config_entries.subentries.async_init(
        (entry.entry_id, SUBENTRY_BATTERY),
        context={"source": "reconfigure", "subentry_id": subentry.subentry_id},
    )
    assert result["step_id"] == "reconfigure"
    picked = {role.value: entity_id for role, entity_id in m1.entity_ids.items()}
    result = await hass.config_entries.subentries.async_configure(
        result["flow_id"], {CONF_PHASE: "L3", **picked}
    )
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "reconfigure_successful"
    assert dict(entry.subentries[subentry.subentry_id].data) == {
        CONF_PHASE: "L3",
        CONF_CONNECTOR: "modbus_yaml",
        **picked,
    }


async def test_discovery_leaves_out_what_is_no_battery(
    hass: HomeAssistant, fleet: ConnectorFleet
) -> None:
    """A lone AC power sensor is no battery, a device of the connector without its mode select
    neither; a group without a User Work Mode select hands back without one."""
    from custom_components.marstek_strategy.adapters.discovery import (
        find_batteries,
        find_work_mode,
    )
    from custom_components.marstek_strategy.adapters.profiles import MODBUS_YAML

    hass.states.async_set("sensor.inverter_ac_power", "12", {"unit_of_measurement": "W"})
    other = await fleet.add_marstek_modbus("Venus without mode", soc=50)
    er.async_get(hass).async_remove(other.entity_id(Role.FORCIBLE_MODE))
    hass.states.async_set("select.marstek_m9_forcible_charge_discharge", "stop")
    assert [found.key for found in find_batteries(hass)] == ["group:modbus_yaml:marstek_m9_"]
    mode = {Role.FORCIBLE_MODE: "select.marstek_m9_forcible_charge_discharge"}
    assert find_work_mode(hass, mode, MODBUS_YAML) is None
    assert find_work_mode(hass, {}, MODBUS_YAML) is None
    assert find_work_mode(hass, {Role.FORCIBLE_MODE: "select.something"}, MODBUS_YAML) is None
