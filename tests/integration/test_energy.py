"""Energy: charged and discharged per battery and in total, the loss, the saving."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any

from homeassistant.core import HomeAssistant, State
from homeassistant.helpers import entity_registry as er
from homeassistant.util import dt as dt_util
from hypothesis import example, given, strategies as st
import pytest
from pytest_homeassistant_custom_component.common import mock_restore_cache_with_extra_data

from custom_components.marstek_strategy.const import Role
from custom_components.marstek_strategy.core.energy import (
    MAX_GAP_S,
    EnergyMeter,
    Sample,
    interval_loss_w,
)
from custom_components.marstek_strategy.core.engine import Mode, loss_w
from tests.conftest import Hub, LilyGoFleet

T0 = datetime(2026, 12, 1, 12, 0, 0)
DAY = date(2026, 12, 1)


def _run(meter: EnergyMeter, steps: list[tuple[float, dict[str, float | None]]]) -> None:
    """Apply (seconds, powers) steps: hold powers for seconds each."""
    now = T0
    meter.advance(now, DAY)
    for seconds, powers in steps:
        for key, power in powers.items():
            meter.set(key, Sample(power))
        now += timedelta(seconds=seconds)
        meter.advance(now, DAY)


@given(power=st.floats(-2500, 2500), seconds=st.floats(0.1, MAX_GAP_S))
def test_constant_power_integrates_exactly(power: float, seconds: float) -> None:
    """P watts for t seconds are P * t / 3.6e6 kWh, on the side of its sign."""
    seconds = timedelta(seconds=seconds).total_seconds()  # the clock's resolution: 1 us
    meter = EnergyMeter()
    _run(meter, [(seconds, {"a": power})])
    kwh = abs(power) * seconds / 3_600_000
    assert meter.total_discharged == pytest.approx(kwh if power > 0 else 0.0)
    assert meter.total_charged == pytest.approx(kwh if power < 0 else 0.0)
    mode = Mode.DISCHARGE if power > 0 else Mode.CHARGE
    assert meter.loss_today == pytest.approx(loss_w(mode, abs(power)) * seconds / 3_600_000)
    assert meter.saved_today == pytest.approx(0.0, abs=1e-9)  # one battery: nothing to split


_POWERS = st.dictionaries(st.sampled_from("abc"), st.one_of(st.none(), st.floats(-2500, 2500)))


@given(steps=st.lists(st.tuples(st.floats(0.1, 120), _POWERS), max_size=12), cut=st.floats(0, 1))
@example(steps=[(0.328125, {"a": 4.0})], cut=0.5)  # a split off the microsecond grid
def test_counters_only_grow_and_add_up(
    steps: list[tuple[float, dict[str, float | None]]], cut: float
) -> None:
    """Charged, discharged and loss never fall; splitting a step in two changes nothing."""
    meter = EnergyMeter()
    before = (0.0, 0.0, 0.0)
    now = T0
    meter.advance(now, DAY)
    for seconds, powers in steps:
        for key, power in powers.items():
            meter.set(key, Sample(power))
        now += timedelta(seconds=seconds)
        meter.advance(now, DAY)
        after = (meter.total_charged, meter.total_discharged, meter.loss_today)
        assert all(b <= a + 1e-12 for b, a in zip(before, after, strict=True))
        before = after
    if steps:
        whole, split = EnergyMeter(), EnergyMeter()
        seconds, powers = steps[0]
        _run(whole, [(seconds, powers)])
        first = round(seconds * cut, 6)  # whole microseconds, the clock's resolution
        _run(split, [(first, powers), (seconds - first, {})])
        assert split.total_charged == pytest.approx(whole.total_charged)
        assert split.total_discharged == pytest.approx(whole.total_discharged)
        assert split.loss_today == pytest.approx(whole.loss_today)
        assert split.saved_today == pytest.approx(whole.saved_today, rel=1e-6, abs=1e-12)


@given(total=st.floats(0.01, 7500))
def test_an_even_split_saves_nothing(total: float) -> None:
    """Powers that are an even split save nothing against one."""
    share = total / 3
    powers = {k: Sample(share) for k in "abc"}
    actual, even = interval_loss_w(powers)
    assert even == pytest.approx(actual)


def test_one_battery_instead_of_three_saves() -> None:
    """600 W from one battery instead of 200 W from each of three: less fixed loss."""
    actual, even = interval_loss_w({"a": Sample(600), "b": Sample(0), "c": Sample(0)})
    assert even > actual
    assert actual == pytest.approx(loss_w(Mode.DISCHARGE, 600))
    assert even == pytest.approx(3 * loss_w(Mode.DISCHARGE, 200))


def test_beyond_the_max_the_even_split_is_what_they_did() -> None:
    """More than the batteries' max: no saving claimed."""
    powers = {"a": Sample(2500, 2500, 800), "b": Sample(900, 2500, 800)}
    actual, even = interval_loss_w(powers)
    assert even == actual


def test_gaps_unknown_powers_and_a_new_day() -> None:
    """A long silence is not counted; unknown power counts nothing; today's reset at midnight."""
    meter = EnergyMeter()
    _run(meter, [(60, {"a": 1000.0, "b": None})])
    assert meter.total_discharged == pytest.approx(1000 * 60 / 3_600_000)
    assert "b" not in meter.discharged
    assert meter.loss_today > 0
    meter.advance(T0 + timedelta(seconds=60 + MAX_GAP_S + 1), DAY)
    assert meter.total_discharged == pytest.approx(1000 * 60 / 3_600_000)  # the gap: nothing
    meter.advance(T0 + timedelta(days=1), DAY + timedelta(days=1))
    assert meter.loss_today == meter.saved_today == 0.0
    assert meter.total_discharged > 0  # the totals go on


# --------------------------------------------------------------------------------------------
# Through Home Assistant


def _value(hub: Hub, key: str, battery: Any = None) -> float:
    return float(hub.state("sensor", key, battery))


async def test_energy_sensors_follow_the_batteries_ac_power(
    hass: HomeAssistant, lilygo_fleet: LilyGoFleet, make_hub: Any, freezer: Any
) -> None:
    """1,000 W discharged for an hour by one battery, 500 W charged by the other: kWh counted.

    The hour starts at local noon: run at 23:xx local time, it crossed midnight, and the
    "today" sensors rightly started again (the test failed depending on the hour it ran).
    """
    freezer.move_to(datetime(2026, 6, 15, 12, 0, tzinfo=dt_util.get_default_time_zone()))
    bat1 = await lilygo_fleet.add_battery("LilyGo L1", soc=60)
    bat2 = await lilygo_fleet.add_battery("LilyGo L2", soc=60)
    bat1.follow = bat2.follow = False  # the powers are set by the test
    hub: Hub = await make_hub([(bat1, "L1"), (bat2, "L1")], grid=0)
    bat1.set(Role.AC_POWER, 1000)
    bat2.set(Role.AC_POWER, -500)
    await hass.async_block_till_done()
    for _ in range(6):
        await hub.tick(600, grid=0, step=10)
    assert _value(hub, "energy_discharged", bat1) == pytest.approx(1.0, abs=0.01)
    assert _value(hub, "energy_charged", bat1) == 0.0
    assert _value(hub, "energy_charged", bat2) == pytest.approx(0.5, abs=0.01)
    assert _value(hub, "total_energy_discharged") == pytest.approx(1.0, abs=0.01)
    assert _value(hub, "total_energy_charged") == pytest.approx(0.5, abs=0.01)
    loss = loss_w(Mode.DISCHARGE, 1000) + loss_w(Mode.CHARGE, 500)
    assert _value(hub, "conversion_loss_today") == pytest.approx(loss / 1000, rel=0.02)
    # An even split of 1,000 W discharge over two batteries loses more: a saving.
    saved = 2 * loss_w(Mode.DISCHARGE, 500) + 2 * loss_w(Mode.CHARGE, 250) - loss
    assert _value(hub, "saved_today") == pytest.approx(saved / 1000, rel=0.02)
    state = hass.states.get(hub.entity_id("sensor", "saved_today"))
    assert state is not None
    assert state.attributes["state_class"] == "total"
    assert state.attributes["last_reset"]
    charged = hass.states.get(hub.entity_id("sensor", "energy_charged", bat1))
    assert charged is not None
    assert charged.attributes["state_class"] == "total_increasing"
    assert charged.attributes["unit_of_measurement"] == "kWh"


async def test_energy_sensors_restore_across_restarts(
    hass: HomeAssistant, lilygo_fleet: LilyGoFleet, make_hub: Any
) -> None:
    """The counters go on from their last value; yesterday's daily values do not come back."""
    bat1 = await lilygo_fleet.add_battery("LilyGo L1", soc=60)
    bat1.follow = False
    from homeassistant.util import dt as dt_util

    now = dt_util.utcnow()
    yesterday = now - timedelta(days=1)

    def restored(entity_id: str, value: float, when: datetime) -> tuple[State, dict[str, Any]]:
        state = State(entity_id, str(value), last_updated=when, last_changed=when)
        return state, {"native_value": value, "native_unit_of_measurement": "kWh"}

    mock_restore_cache_with_extra_data(
        hass,
        [
            restored("sensor.lilygo_l1_strategy_energy_discharged", 12.5, now),
            # the hub's own total: more than this battery's (a battery removed since)
            restored("sensor.marstek_strategy_total_energy_discharged", 20.0, now),
            restored("sensor.marstek_strategy_conversion_loss_today", 0.3, now),
            restored("sensor.marstek_strategy_saved_today", 0.2, yesterday),
        ],
    )
    hub: Hub = await make_hub([(bat1, "L1")], grid=0)
    assert hub.entity_id("sensor", "energy_discharged", bat1) == (
        "sensor.lilygo_l1_strategy_energy_discharged"
    )
    assert _value(hub, "energy_discharged", bat1) == 12.5
    assert _value(hub, "total_energy_discharged") == 20.0
    assert _value(hub, "conversion_loss_today") == 0.3
    assert _value(hub, "saved_today") == 0.0
    bat1.set(Role.AC_POWER, 1800)  # a power a Venus delivers (beyond 3000 W: not counted)
    await hass.async_block_till_done()
    await hub.tick(200, grid=0, step=10)
    assert _value(hub, "energy_discharged", bat1) == pytest.approx(12.6, abs=0.001)


async def test_hub_totals_never_go_down(
    hass: HomeAssistant, lilygo_fleet: LilyGoFleet, make_hub: Any
) -> None:
    """Issue 18.6: the hub's totals were the sum of the counters that exist now; removing a
    battery, or disabling its counter, dropped them (2.0 -> 1.0 kWh), which the recorder reads
    as a meter reset. The hub keeps and restores its own counters."""
    bat1 = await lilygo_fleet.add_battery("LilyGo L1", soc=60)
    bat2 = await lilygo_fleet.add_battery("LilyGo L2", soc=60)
    bat3 = await lilygo_fleet.add_battery("LilyGo L3", soc=60)
    for battery in (bat1, bat2, bat3):
        battery.follow = False
    hub: Hub = await make_hub([(bat1, "L1"), (bat2, "L1"), (bat3, "L1")], grid=0)
    for battery in (bat1, bat2, bat3):
        battery.set(Role.AC_POWER, 1000)
    await hass.async_block_till_done()
    await hub.tick(3600, grid=0, step=60)
    assert _value(hub, "total_energy_discharged") == pytest.approx(3.0, abs=0.02)
    registry = er.async_get(hass)
    registry.async_update_entity(
        hub.entity_id("sensor", "energy_discharged", bat3),
        disabled_by=er.RegistryEntryDisabler.USER,
    )
    assert hass.config_entries.async_remove_subentry(hub.entry, hub.subentry_id(bat2))
    await hass.async_block_till_done()
    await hub.tick(0)
    assert _value(hub, "total_energy_discharged") == pytest.approx(3.0, abs=0.02)
    await hub.tick(1800, grid=0, step=60)  # bat1 and bat3 go on: their increments count
    assert _value(hub, "total_energy_discharged") == pytest.approx(4.0, abs=0.03)
