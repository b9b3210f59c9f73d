"""The first flow: the hub with all its batteries, and the defaults that make it quick."""

from __future__ import annotations

from typing import Any

from homeassistant.config_entries import SOURCE_USER, ConfigEntryState
from homeassistant.core import HomeAssistant
from homeassistant.data_entry_flow import FlowResult, FlowResultType
from homeassistant.helpers import entity_registry as er
import pytest

from custom_components.marstek_strategy.adapters.phases import default_phase, phase_from_name
from custom_components.marstek_strategy.const import (
    CONF_DEVICE_ID,
    CONF_GRID_SENSOR,
    CONF_PHASE,
    CONF_PHASE_COUNT,
    DOMAIN,
    SUBENTRY_BATTERY,
    Role,
)
from tests.conftest import FakeBattery, LilyGoFleet, P1Meter, make_hub_entry
from tests.integration.test_config_flow import (  # noqa: F401 - the autouse translation check
    check_translations,
    select_options,
    suggested,
)

L1, L2, L3 = "phase_l1_sensor", "phase_l2_sensor", "phase_l3_sensor"


def _roles(battery: FakeBattery, **changes: str) -> dict[str, str]:
    return {**{role.value: eid for role, eid in battery.entity_ids.items()}, **changes}


async def _to_batteries(
    hass: HomeAssistant, p1_meter: P1Meter, phase_count: str = "3"
) -> FlowResult[Any, Any]:
    """Start the hub flow and answer the meter steps with the proposals."""
    result = await hass.config_entries.flow.async_init(DOMAIN, context={"source": SOURCE_USER})
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {CONF_GRID_SENSOR: p1_meter.grid, CONF_PHASE_COUNT: phase_count}
    )
    if phase_count == "3":
        assert result["step_id"] == "phases"
        result = await hass.config_entries.flow.async_configure(
            result["flow_id"], suggested(result)
        )
    return result


async def test_hub_with_three_batteries_in_one_flow(
    hass: HomeAssistant, lilygo_fleet: LilyGoFleet, p1_meter: P1Meter
) -> None:
    """Meter, phases (proposed), the batteries found, each confirmed: one entry, three batteries."""
    # Added out of order: the phase comes from the name, not from the order.
    bat3 = await lilygo_fleet.add_battery("LilyGo L3")
    bat1 = await lilygo_fleet.add_battery("LilyGo L1")
    bat2 = await lilygo_fleet.add_battery("LilyGo L2")
    result = await hass.config_entries.flow.async_init(DOMAIN, context={"source": SOURCE_USER})
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {CONF_GRID_SENSOR: p1_meter.grid, CONF_PHASE_COUNT: "3"}
    )
    assert result["step_id"] == "phases"
    # The phase sensors sit on the grid sensor's device: proposed.
    assert suggested(result) == dict(zip((L1, L2, L3), p1_meter.phases, strict=True))
    result = await hass.config_entries.flow.async_configure(result["flow_id"], suggested(result))

    assert result["step_id"] == "batteries"
    assert result["description_placeholders"] == {"count": "3"}
    found = [bat1.device_id, bat2.device_id, bat3.device_id]  # by name
    assert [option["value"] for option in select_options(result, "batteries")] == found
    assert suggested(result) == {"batteries": found}  # all proposed
    result = await hass.config_entries.flow.async_configure(result["flow_id"], {"batteries": found})
    for index, battery in enumerate((bat1, bat2, bat3), start=1):
        assert result["step_id"] == "battery"
        placeholders = result["description_placeholders"]
        assert placeholders["index"] == str(index)
        assert placeholders["count"] == "3"
        assert placeholders["device"] == battery.name
        assert placeholders["found_required"] == placeholders["required"] == "4"
        assert suggested(result) == {CONF_PHASE: f"L{index}", **_roles(battery)}
        result = await hass.config_entries.flow.async_configure(
            result["flow_id"], suggested(result)
        )

    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert result["description_placeholders"] == {
        "count": "3",
        "batteries": "LilyGo L1, LilyGo L2, LilyGo L3",
    }
    entry = result["result"]
    await hass.async_block_till_done()
    assert entry.state is ConfigEntryState.LOADED
    batteries = {s.title: s for s in entry.subentries.values()}
    assert set(batteries) == {"LilyGo L1", "LilyGo L2", "LilyGo L3"}
    for battery, phase in ((bat1, "L1"), (bat2, "L2"), (bat3, "L3")):
        subentry = batteries[battery.name]
        assert subentry.subentry_type == SUBENTRY_BATTERY
        assert subentry.unique_id == battery.device_id
        assert dict(subentry.data) == battery.subentry_data(phase)["data"]
    # Each battery's entities were made with the entry.
    registry = er.async_get(hass)
    with_subentry = {
        e.config_subentry_id
        for e in er.async_entries_for_config_entry(registry, entry.entry_id)
        if e.config_subentry_id
    }
    assert with_subentry == {s.subentry_id for s in entry.subentries.values()}
    assert await hass.config_entries.async_unload(entry.entry_id)


async def test_batteries_default_to_the_next_free_phase(
    hass: HomeAssistant, lilygo_fleet: LilyGoFleet, p1_meter: P1Meter
) -> None:
    """Names without a phase: L1, L2, L3 in turn (not every battery on L1)."""
    batteries = [await lilygo_fleet.add_battery(f"lilygo-bat{i}") for i in (1, 2, 3, 4)]
    result = await _to_batteries(hass, p1_meter)
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {"batteries": [b.device_id for b in batteries]}
    )
    phases = []
    while result["type"] is FlowResultType.FORM:
        phases.append(suggested(result)[CONF_PHASE])
        result = await hass.config_entries.flow.async_configure(
            result["flow_id"], suggested(result)
        )
    assert phases == ["L1", "L2", "L3", "L1"]


async def test_add_battery_defaults_to_the_free_phase(
    hass: HomeAssistant, lilygo_fleet: LilyGoFleet, p1_meter: P1Meter
) -> None:
    """ "Add battery" later proposes the phase without a battery, or the one the name says."""
    bat1 = await lilygo_fleet.add_battery("lilygo-bat1")
    bat2 = await lilygo_fleet.add_battery("lilygo-bat2")
    await lilygo_fleet.add_battery("lilygo-bat3")
    entry = make_hub_entry(p1_meter, [(bat1, "L1"), (bat2, "L3")], phase_count=3)
    entry.add_to_hass(hass)
    result = await hass.config_entries.subentries.async_init(
        (entry.entry_id, SUBENTRY_BATTERY), context={"source": SOURCE_USER}
    )
    assert suggested(result)[CONF_PHASE] == "L2"

    await lilygo_fleet.add_battery("Garage L3")  # listed first (by name): its name says L3
    result = await hass.config_entries.subentries.async_init(
        (entry.entry_id, SUBENTRY_BATTERY), context={"source": SOURCE_USER}
    )
    assert suggested(result)[CONF_PHASE] == "L3"


async def test_single_phase_hub_with_a_battery(
    hass: HomeAssistant, lilygo_fleet: LilyGoFleet, p1_meter: P1Meter
) -> None:
    """A single-phase site: no phase step; the batteries sit on L1 whatever their name says."""
    bat = await lilygo_fleet.add_battery("LilyGo L2")
    result = await _to_batteries(hass, p1_meter, phase_count="1")
    assert result["step_id"] == "batteries"
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {"batteries": [bat.device_id]}
    )
    assert select_options(result, CONF_PHASE) == ["L1"]
    assert suggested(result)[CONF_PHASE] == "L1"
    result = await hass.config_entries.flow.async_configure(result["flow_id"], suggested(result))
    assert result["type"] is FlowResultType.CREATE_ENTRY
    (subentry,) = result["result"].subentries.values()
    assert subentry.data[CONF_PHASE] == "L1"
    await hass.async_block_till_done()


async def test_hub_without_choosing_batteries(
    hass: HomeAssistant, lilygo_fleet: LilyGoFleet, p1_meter: P1Meter
) -> None:
    """Choosing none sets up the hub alone ("Add battery" later)."""
    await lilygo_fleet.add_battery("lilygo-bat1")
    result = await _to_batteries(hass, p1_meter)
    result = await hass.config_entries.flow.async_configure(result["flow_id"], {})
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert result["description_placeholders"] == {"count": "0", "batteries": "-"}
    assert not result["result"].subentries
    await hass.async_block_till_done()


async def test_a_count_of_batteries_by_hand_that_is_no_number_is_none(
    hass: HomeAssistant, lilygo_fleet: LilyGoFleet, p1_meter: P1Meter
) -> None:
    """NaN (the text "nan" through the API) passes the count's selector: no battery by hand.

    int(NaN) raised ValueError: the flow ended in an unknown error.
    """
    await lilygo_fleet.add_battery("lilygo-bat1")
    result = await _to_batteries(hass, p1_meter)
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {"batteries": [], "manual": "nan"}
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert not result["result"].subentries
    await hass.async_block_till_done()


async def test_battery_step_errors_name_the_field_and_the_battery(
    hass: HomeAssistant, lilygo_fleet: LilyGoFleet, p1_meter: P1Meter
) -> None:
    """An entity of the battery confirmed before: "already used by battery X", on that field."""
    bat1 = await lilygo_fleet.add_battery("lilygo-bat1")
    bat2 = await lilygo_fleet.add_battery("lilygo-bat2")
    result = await _to_batteries(hass, p1_meter)
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {"batteries": [bat1.device_id, bat2.device_id]}
    )
    result = await hass.config_entries.flow.async_configure(result["flow_id"], suggested(result))
    assert result["description_placeholders"]["device"] == "lilygo-bat2"
    answer = {
        CONF_PHASE: "L2",
        **_roles(
            bat2,
            soc_entity=bat1.entity_ids[Role.SOC],
            ac_power_entity=bat2.entity_ids[Role.SOC],  # a % sensor: wrong here only
            rs485_mode_entity=bat2.entity_ids[Role.SOC],  # a sensor, not a select
        ),
    }
    result = await hass.config_entries.flow.async_configure(result["flow_id"], answer)
    assert result["step_id"] == "battery"
    assert result["errors"] == {
        "soc_entity": "entity_in_use",
        "ac_power_entity": "not_power_sensor",
        "rs485_mode_entity": "wrong_domain",
    }
    assert result["description_placeholders"]["battery"] == "lilygo-bat1"
    # The AC power sensor as state of charge: the SoC field only, not the AC power field.
    answer = {CONF_PHASE: "L2", **_roles(bat2, soc_entity=bat2.entity_ids[Role.AC_POWER])}
    result = await hass.config_entries.flow.async_configure(result["flow_id"], answer)
    assert result["errors"] == {"soc_entity": "not_soc_sensor"}
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {CONF_PHASE: "L2", **_roles(bat2)}
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert len(result["result"].subentries) == 2
    await hass.async_block_till_done()


async def test_device_in_use_names_the_battery(
    hass: HomeAssistant, lilygo_fleet: LilyGoFleet, p1_meter: P1Meter
) -> None:
    """A device taken by another flow meanwhile: the error says by which battery."""
    bat1 = await lilygo_fleet.add_battery("lilygo-bat1")
    await lilygo_fleet.add_battery("lilygo-bat2")
    entry = make_hub_entry(p1_meter, phase_count=3)
    entry.add_to_hass(hass)
    first = await hass.config_entries.subentries.async_init(
        (entry.entry_id, SUBENTRY_BATTERY), context={"source": SOURCE_USER}
    )
    second = await hass.config_entries.subentries.async_init(
        (entry.entry_id, SUBENTRY_BATTERY), context={"source": SOURCE_USER}
    )
    result = await hass.config_entries.subentries.async_configure(
        first["flow_id"], {CONF_DEVICE_ID: bat1.device_id, CONF_PHASE: "L1"}
    )
    await hass.config_entries.subentries.async_configure(result["flow_id"], _roles(bat1))
    result = await hass.config_entries.subentries.async_configure(
        second["flow_id"], {CONF_DEVICE_ID: bat1.device_id, CONF_PHASE: "L1"}
    )
    assert result["errors"] == {CONF_DEVICE_ID: "device_in_use"}
    assert result["description_placeholders"] == {"battery": "lilygo-bat1"}


async def test_pickers_filter_by_device_class(
    hass: HomeAssistant, lilygo_fleet: LilyGoFleet, p1_meter: P1Meter
) -> None:
    """The state of charge picker lists battery sensors, the AC power picker power sensors."""
    bat = await lilygo_fleet.add_battery("lilygo-bat1")
    result = await _to_batteries(hass, p1_meter)
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {"batteries": [bat.device_id]}
    )
    filters = {
        str(key): selector.config["filter"]
        for key, selector in result["data_schema"].schema.items()
        if str(key) != CONF_PHASE
    }
    assert filters["soc_entity"] == [{"domain": ["sensor"], "device_class": ["battery"]}]
    assert filters["ac_power_entity"] == [{"domain": ["sensor"], "device_class": ["power"]}]
    assert filters["charge_power_entity"] == [{"domain": ["number"]}]


async def test_soc_sensor_of_another_device_class_is_refused(
    hass: HomeAssistant, lilygo_fleet: LilyGoFleet, p1_meter: P1Meter
) -> None:
    """A humidity sensor in % is no state of charge."""
    bat = await lilygo_fleet.add_battery("lilygo-bat1")
    hass.states.async_set(
        "sensor.humidity", "40", {"unit_of_measurement": "%", "device_class": "humidity"}
    )
    result = await _to_batteries(hass, p1_meter)
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {"batteries": [bat.device_id]}
    )
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {CONF_PHASE: "L1", **_roles(bat, soc_entity="sensor.humidity")}
    )
    assert result["errors"] == {"soc_entity": "not_soc_sensor"}


async def test_phase_sensors_not_proposed_when_ambiguous(
    hass: HomeAssistant, lilygo_fleet: LilyGoFleet, p1_meter: P1Meter
) -> None:
    """Two sensors for one phase on the meter's device (consumed and produced): none proposed."""
    registry = er.async_get(hass)
    grid = registry.async_get(p1_meter.grid)
    assert grid is not None
    extra = registry.async_get_or_create(
        "sensor",
        "homewizard",
        "produced_l2",
        device_id=grid.device_id,
        original_name="Power produced phase 2",
    )
    hass.states.async_set(
        extra.entity_id, "0", {"device_class": "power", "unit_of_measurement": "W"}
    )
    result = await hass.config_entries.flow.async_init(DOMAIN, context={"source": SOURCE_USER})
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {CONF_GRID_SENSOR: p1_meter.grid, CONF_PHASE_COUNT: "3"}
    )
    l1, _l2, l3 = p1_meter.phases
    assert suggested(result) == {L1: l1, L3: l3}


async def test_single_instance_says_how_to_add_batteries(
    hass: HomeAssistant, p1_meter: P1Meter
) -> None:
    """The "only one" abort tells the user where "Add battery" is."""
    from tests.integration.test_config_flow import _load

    make_hub_entry(p1_meter).add_to_hass(hass)
    result = await hass.config_entries.flow.async_init(DOMAIN, context={"source": SOURCE_USER})
    assert result["reason"] == "single_instance_allowed"
    text = _load("strings.json")["config"]["abort"]["single_instance_allowed"]
    assert '"Add battery"' in text
    finish = _load("strings.json")["config"]["create_entry"]["default"]
    assert '"Add battery"' in finish


@pytest.mark.parametrize(
    ("name", "phase"),
    [
        ("LilyGo L1", "L1"),
        ("lilygo-l2", "L2"),
        ("Battery phase 3", "L3"),
        ("Power phase L2", "L2"),
        ("p1_meter_power_phase_1", "L1"),
        ("lilygo-bat1", None),
        ("Garage", None),
        ("L1 and L2", None),
        ("L12", None),
    ],
)
def test_phase_from_name(name: str, phase: str | None) -> None:
    """A phase only when the name says exactly one."""
    assert phase_from_name(name) == phase


def test_default_phase() -> None:
    """The name wins; else the least used phase, the first of equals."""
    assert default_phase("bat", [], ["L1", "L2", "L3"]) == "L1"
    assert default_phase("bat", ["L1", "L3"], ["L1", "L2", "L3"]) == "L2"
    assert default_phase("bat", ["L1", "L2", "L3"], ["L1", "L2", "L3"]) == "L1"
    assert default_phase("bat L3", ["L3"], ["L1", "L2", "L3"]) == "L3"
    assert default_phase("bat L3", [], ["L1"]) == "L1"


async def test_battery_step_duplicates_and_units(
    hass: HomeAssistant, lilygo_fleet: LilyGoFleet, p1_meter: P1Meter
) -> None:
    """One number for both powers: flagged where it is chosen again; a SoC not in %."""
    bat = await lilygo_fleet.add_battery("lilygo-bat1")
    hass.states.async_set(
        "sensor.soc_wh", "40", {"unit_of_measurement": "Wh", "device_class": "battery"}
    )
    result = await _to_batteries(hass, p1_meter)
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {"batteries": [bat.device_id]}
    )
    answer = _roles(
        bat,
        soc_entity="sensor.soc_wh",
        discharge_power_entity=bat.entity_ids[Role.CHARGE_POWER],
    )
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {CONF_PHASE: "L1", **answer}
    )
    assert result["errors"] == {
        "soc_entity": "not_soc_sensor",
        "discharge_power_entity": "duplicate_entity",
    }


async def test_phase_sensors_not_proposed_for_a_meter_without_device(
    hass: HomeAssistant, p1_meter: P1Meter
) -> None:
    """A grid sensor without a device (a template sensor): the phases start empty."""
    hass.states.async_set("sensor.net", "5", {"device_class": "power", "unit_of_measurement": "W"})
    result = await hass.config_entries.flow.async_init(DOMAIN, context={"source": SOURCE_USER})
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {CONF_GRID_SENSOR: "sensor.net", CONF_PHASE_COUNT: "3"}
    )
    assert result["step_id"] == "phases"
    assert suggested(result) == {}


@pytest.mark.parametrize("language", ["de", "fr", "nl"])
def test_every_language_has_every_key(language: str) -> None:
    """German, French and Dutch have every key English has, with the same placeholders."""
    import re

    from tests.integration.test_config_flow import _load

    def leaves(tree: Any, path: str = "") -> dict[str, str]:
        if isinstance(tree, str):
            return {path: tree}
        found: dict[str, str] = {}
        for key, value in tree.items():
            found.update(leaves(value, f"{path}/{key}"))
        return found

    english = leaves(_load("strings.json"))
    other = leaves(_load(f"translations/{language}.json"))
    assert set(other) == set(english)
    for key, text in english.items():
        assert set(re.findall(r"{(\w+)}", other[key])) == set(re.findall(r"{(\w+)}", text)), key
        assert other[key].strip(), key
