"""Reasons that explain: the reason states and codes, the sentence, the device page sensors."""

from __future__ import annotations

import json
from pathlib import Path
import re
from typing import Any

from homeassistant.core import HomeAssistant
from hypothesis import given, strategies as st

from custom_components.marstek_strategy.const import DOMAIN, Role
from custom_components.marstek_strategy.core.engine import BatteryReading, Mode, Reason
from custom_components.marstek_strategy.core.explain import (
    REASON_STATES,
    TEMPLATE_KEYS,
    explain,
    reason_state,
    render,
    watts,
)
from custom_components.marstek_strategy.sensor import REASONS
from tests.compat import device_by_identifier
from tests.conftest import Hub, LilyGoFleet, P1Meter

COMPONENT = Path(__file__).parent.parent.parent / "custom_components" / DOMAIN
LANGUAGES = sorted(path.stem for path in (COMPONENT / "translations").glob("*.json"))


def _sentences(language: str) -> dict[str, str]:
    tree = json.loads((COMPONENT / "translations" / f"{language}.json").read_text())
    prefix = "explanation_"
    return {k.removeprefix(prefix): v for k, v in tree["common"].items() if k.startswith(prefix)}


def _detail(hub: Hub, battery: Any) -> str:
    state = hub.hass.states.get(hub.entity_id("sensor", "reason", battery))
    assert state is not None
    return str(state.attributes["detail"])


def _explanation(hub: Hub, battery: Any) -> str:
    state = hub.hass.states.get(hub.entity_id("sensor", "reason", battery))
    assert state is not None
    return str(state.attributes["explanation"])


async def test_capped_and_started_for_phase_explained(
    hass: HomeAssistant, lilygo_fleet: LilyGoFleet, p1_meter: P1Meter, make_hub: Any
) -> None:
    """3,000 W on L1: the L1 battery at its maximum, the rest on the other one."""
    bat1 = await lilygo_fleet.add_battery("LilyGo L1", soc=80, max_discharge_power=2500)
    bat2 = await lilygo_fleet.add_battery("LilyGo L2", soc=80, max_discharge_power=2500)
    p1_meter.set(3000, l1=2800, l2=100, l3=100)
    hub: Hub = await make_hub([(bat1, "L1"), (bat2, "L2")], phase_count=3, grid=None)
    assert hub.state("sensor", "reason", bat1) == hub.state("sensor", "reason", bat2) == "running"
    assert _detail(hub, bat1) == "capped_by_max"
    assert _detail(hub, bat2) == "started_for_phase"
    assert _explanation(hub, bat1) == (
        "2,500 W, its maximum; the rest of the demand is on LilyGo L2."
    )
    text = _explanation(hub, bat2)
    assert re.fullmatch(
        r"\d+ W of its 2,500 W, started first: phase L2 needs it most \(\d+ W\); "
        r"the rest of the demand is on LilyGo L1\.",
        text,
    ), text


async def test_explanation_in_the_users_language(
    hass: HomeAssistant, lilygo_fleet: LilyGoFleet, make_hub: Any
) -> None:
    """Dutch: Dutch words and a dot for thousands."""
    hass.config.language = "nl"
    bat1 = await lilygo_fleet.add_battery("LilyGo L1", soc=80, max_discharge_power=2500)
    hub: Hub = await make_hub([(bat1, "L1")], grid=3000)
    assert _detail(hub, bat1) == "capped_by_max"
    assert _explanation(hub, bat1) == "2.500 W, haar maximum; het net neemt de rest."


async def test_stopped_explained_and_no_cause_is_none(
    hass: HomeAssistant, lilygo_fleet: LilyGoFleet, make_hub: Any
) -> None:
    """No demand: stopped, and the fail-safe cause reads "none", not "unknown"."""
    bat1 = await lilygo_fleet.add_battery("LilyGo L1", soc=80)
    hub: Hub = await make_hub([(bat1, "L1")], grid=0)
    assert _explanation(hub, bat1) == "Stopped: the demand is too small to start a battery."
    assert hub.state("sensor", "fail_safe_cause") == "none"
    hub.meter.set_available(False)
    await hub.tick(10)
    assert hub.state("sensor", "fail_safe_cause") == "meter_unavailable"
    assert _explanation(hub, bat1) == "Stopped: fail-safe, the meter cannot be trusted."


async def test_status_without_batteries(
    hass: HomeAssistant, lilygo_fleet: LilyGoFleet, make_hub: Any
) -> None:
    """A hub without batteries does not say "running": it says to add one."""
    hub: Hub = await make_hub([], grid=500)
    assert hub.state("sensor", "status") == "no_batteries"


async def test_battery_device_shows_soc_and_ac_power_and_links_its_lilygo(
    hass: HomeAssistant, lilygo_fleet: LilyGoFleet, make_hub: Any
) -> None:
    """Beside the setpoint: the LilyGo's state of charge and AC power, live; a link to it."""
    bat1 = await lilygo_fleet.add_battery("LilyGo L1", soc=64)
    bat2 = await lilygo_fleet.add_battery(
        "LilyGo L2", soc=40, roles=[r for r in Role if r is not Role.AC_POWER]
    )
    hub: Hub = await make_hub([(bat1, "L1"), (bat2, "L1")], grid=0)
    assert hub.state("sensor", "state_of_charge", bat1) == "64.0"
    assert hub.state("sensor", "ac_power", bat1) == "0.0"
    bat1.set(Role.AC_POWER, -850)
    bat1.set(Role.SOC, 65)
    await hass.async_block_till_done()
    assert hub.state("sensor", "ac_power", bat1) == "-850.0"
    assert hub.state("sensor", "state_of_charge", bat1) == "65.0"
    bat1.set_available(False, Role.SOC)
    await hass.async_block_till_done()
    assert hub.state("sensor", "state_of_charge", bat1) == "unavailable"
    hass.states.async_set(bat1.entity_ids[Role.AC_POWER], "1.5", {"unit_of_measurement": "kW"})
    await hass.async_block_till_done()
    assert hub.state("sensor", "ac_power", bat1) == "1500.0"
    hass.states.async_set(bat1.entity_ids[Role.AC_POWER], "abc", {})
    await hass.async_block_till_done()
    assert hub.state("sensor", "ac_power", bat1) == "unknown"
    # A battery without an AC power entity has no AC power sensor.
    ids = {s.subentry_id: s for s in hub.entry.subentries.values()}
    for battery in (bat1, bat2):
        device = device_by_identifier(hass, (DOMAIN, hub.subentry_id(battery)))
        assert device is not None
        assert device.configuration_url == (
            f"homeassistant://config/devices/device/{battery.device_id}"
        )
        assert device.via_device_id is None
    assert ids
    from homeassistant.helpers import entity_registry as er

    assert (
        er.async_get(hass).async_get_entity_id(
            "sensor", DOMAIN, f"{hub.subentry_id(bat2)}_ac_power"
        )
        is None
    )


# --------------------------------------------------------------------------------------------
# Pure


def test_every_reason_and_key_has_a_sentence_in_every_language() -> None:
    """Each template key is translated; reasons shown have a state name."""
    for language in LANGUAGES:
        sentences = _sentences(language)
        assert set(sentences) == set(TEMPLATE_KEYS), language
        english = _sentences("en")
        for key, text in sentences.items():
            wanted = set(re.findall(r"{(\w+)}", english[key]))
            if key.startswith("rest_on_"):  # appended to the sentence
                assert text.startswith("{sentence}"), (language, key)
            assert set(re.findall(r"{(\w+)}", text)) == wanted, (language, key)
    assert {r.value for r in Reason} <= set(REASONS)


_READING = st.builds(
    BatteryReading,
    soc=st.floats(0, 100),
    charge_cutoff=st.just(100.0),
    discharge_cutoff=st.just(12.0),
    max_charge_w=st.integers(0, 2500),
    max_discharge_w=st.integers(0, 2500),
    phase_w=st.floats(-10000, 10000),
    phase=st.sampled_from([None, "L1", "L2", "L3"]),
)


@given(
    reason=st.sampled_from(REASONS),
    mode=st.sampled_from(list(Mode)),
    power=st.integers(0, 2500),
    reading=st.one_of(st.none(), _READING),
    others=st.lists(st.sampled_from(["LilyGo L1", "Garage"]), max_size=2),
    language=st.sampled_from(LANGUAGES),
)
def test_every_explanation_renders_completely(  # noqa: PLR0917
    reason: str,
    mode: Mode,
    power: int,
    reading: BatteryReading | None,
    others: list[str],
    language: str,
) -> None:
    """Whatever the plan: a known key and no placeholder left unfilled."""
    sentences = _sentences(language)
    text = explain(reason, mode, power, reading, others=others, language=language)
    assert text.key in sentences
    sentence = render(sentences[text.key], text.placeholders)
    if text.tail_key is not None:
        tail = {**(text.tail_placeholders or {}), "sentence": sentence}
        sentence = render(sentences[text.tail_key], tail)
    assert "{" not in sentence, sentence
    if power > 0 and mode is not Mode.STOP:
        assert watts(power, language) in sentence
    assert reason_state(reason, mode, power) in REASON_STATES


def test_watts() -> None:
    """Thousands as each language writes them; whole watts."""
    assert watts(1200.4) == "1,200"
    assert watts(1200, "nl") == "1.200"
    assert watts(1200, "de") == "1.200"
    assert watts(1200, "fr") == "1\u202f200"
    assert watts(950, "en-GB") == "950"


async def test_a_stopped_battery_names_the_ones_that_run(
    hass: HomeAssistant, lilygo_fleet: LilyGoFleet, make_hub: Any
) -> None:
    """Two batteries, a demand one covers: the stopped one says which one covers it."""
    bat1 = await lilygo_fleet.add_battery("LilyGo L1", soc=80, max_discharge_power=2500)
    bat2 = await lilygo_fleet.add_battery("LilyGo L2", soc=70, max_discharge_power=2500)
    hub: Hub = await make_hub([(bat1, "L1"), (bat2, "L1")], grid=1000)
    assert hub.state("sensor", "reason", bat2) == "not_needed"
    assert _detail(hub, bat2) == "idle"
    assert _explanation(hub, bat2) == "Stopped: not needed, the demand is on LilyGo L1."
