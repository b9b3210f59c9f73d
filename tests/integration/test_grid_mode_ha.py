"""Grid modes (issue 23) through Home Assistant: the service, the select and number, expiry
(also across a restart), the peak cap and the safety rules in every mode, on a real hass with
the fake LilyGo fleet and P1 meter of conftest.py.

The fake meter does not see the batteries: it reports what a test sets, as the house alone
would; each mode's setpoints follow from that and the plan in force, as the engine counts them.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from homeassistant.config_entries import ConfigEntryState
from homeassistant.core import HomeAssistant
from homeassistant.exceptions import ServiceValidationError
from homeassistant.helpers import issue_registry as ir
from homeassistant.util import dt as dt_util
from hypothesis import assume, given, settings as hyp_settings, strategies as st
import pytest
from pytest_homeassistant_custom_component.common import async_fire_time_changed
import voluptuous as vol

from custom_components.marstek_strategy.adapters.storage import StoreClosedError, read_store
from custom_components.marstek_strategy.const import (
    CONF_PEAK_CAP_KW,
    DOMAIN,
    SERVICE_SET_GRID_MODE,
    Role,
)
from custom_components.marstek_strategy.core.grid_mode import GridMode, GridRequest
from custom_components.marstek_strategy.core.peak_cap import PeakMeter
from custom_components.marstek_strategy.diagnostics import async_get_config_entry_diagnostics
from tests.conftest import FakeBattery, Hub, LilyGoFleet
from tests.core.test_grid_mode_store import (
    BAD_METER_FIELD,
    BAD_REQUEST_FIELD,
    stored_meters,
    stored_requests,
)


def _signed(battery: FakeBattery) -> float:
    """The battery's setpoint: + discharging, - charging, 0 stopped."""
    mode = battery.state(Role.FORCIBLE_MODE)
    if mode == "charge":
        return -float(battery.state(Role.CHARGE_POWER))
    if mode == "discharge":
        return float(battery.state(Role.DISCHARGE_POWER))
    return 0.0


def _fleet_w(lilygo_fleet: LilyGoFleet) -> float:
    return sum(_signed(b) for b in lilygo_fleet.batteries.values())


def _effect(lilygo_fleet: LilyGoFleet) -> float:
    """W the fleet takes off the grid, as the engine counts it (the meter's model here)."""
    total = 0.0
    for battery in lilygo_fleet.batteries.values():
        watts = _signed(battery)
        total += watts * 0.975 if watts > 0 else watts * 1.045
    return total


async def _run(hub: Hub, house: float, seconds: float) -> None:
    """Let seconds pass with the meter showing the house less what the fleet delivers."""
    left = seconds
    while left > 1e-9:
        step = min(1.0, left)
        await hub.tick(step, grid=house - _effect(hub.fleet), step=step)
        left -= step


async def _hub(lilygo_fleet: LilyGoFleet, make_hub: Any, grid: float = 0.0, **kwargs: Any) -> Hub:
    bat1 = await lilygo_fleet.add_battery("lilygo-bat1", soc=50)
    bat2 = await lilygo_fleet.add_battery("lilygo-bat2", soc=50)
    hub: Hub = await make_hub([(bat1, "L1"), (bat2, "L1")], grid=grid, **kwargs)
    return hub


async def _set(hass: HomeAssistant, **data: Any) -> Any:
    return await hass.services.async_call(
        DOMAIN, SERVICE_SET_GRID_MODE, data, blocking=True, return_response=True
    )


async def test_charge_through_the_service(
    hass: HomeAssistant, lilygo_fleet: LilyGoFleet, make_hub: Any
) -> None:
    """Charge 2000 W for an hour: the response, the select, the number and the fleet."""
    hub = await _hub(lilygo_fleet, make_hub, grid=300.0)
    response = await _set(hass, mode="charge", power=2000, duration={"hours": 1})
    assert response["mode"] == "charge"
    assert response["power"] == 2000.0
    until = dt_util.parse_datetime(response["until"])
    assert until is not None
    assert abs((until - dt_util.utcnow()).total_seconds() - 3600) < 2
    await _run(hub, 300.0, 13)
    assert hub.state("select", "grid_mode") == "charge"
    assert float(hub.state("number", "requested_power")) == 2000.0
    # The fleet draws 2000 W at the meter: commanded W times the charge release factor.
    assert _fleet_w(lilygo_fleet) * 1.045 == pytest.approx(-2000.0, abs=15)
    attrs = hass.states.get(hub.entity_id("select", "grid_mode"))
    assert attrs is not None
    assert attrs.attributes["limited_by"] == "none"
    assert attrs.attributes["power"] == 2000.0


async def test_discharge_and_hold(
    hass: HomeAssistant, lilygo_fleet: LilyGoFleet, make_hub: Any
) -> None:
    """Discharge 1500 W to the grid with the house at 0; hold keeps the charge."""
    hub = await _hub(lilygo_fleet, make_hub)
    await _set(hass, mode="discharge", power=1500, until=dt_util.now() + timedelta(hours=2))
    await _run(hub, 0.0, 13)
    assert _fleet_w(lilygo_fleet) * 0.975 == pytest.approx(1500.0, abs=15)
    await _set(hass, mode="hold", duration="01:00:00")
    await _run(hub, 1500.0, 26)  # importing: hold does not discharge
    assert _fleet_w(lilygo_fleet) == 0.0
    await _run(hub, -1000.0, 26)  # exporting: hold soaks it up
    assert _fleet_w(lilygo_fleet) * 1.045 == pytest.approx(-1000.0, abs=15)
    await _set(hass, mode="hold", duration="01:00:00", soak=False)
    await _run(hub, -1000.0, 26)
    assert _fleet_w(lilygo_fleet) == 0.0


@pytest.mark.parametrize(
    ("data", "key"),
    [
        ({"mode": "charge", "power": 0}, "power_required"),
        ({"mode": "charge", "power": 30000}, "power_out_of_range"),
        ({"mode": "hold", "target_soc": 80}, "hold_takes_no_target_soc"),
        ({"mode": "charge", "power": 100, "duration": "30:00:00"}, "duration_out_of_range"),
        ({"mode": "charge", "power": 100, "until": "2001-01-01 00:00:00"}, "end_in_past"),
        (
            {"mode": "discharge", "power": 100, "duration": "01:00:00", "target_soc": 20},
            "one_end_only",
        ),
        ({"mode": "zero", "duration": "01:00:00"}, "zero_takes_no_end"),
        ({"mode": "charge", "power": 100, "target_soc": 120}, "target_soc_out_of_range"),
        ({"mode": "charge", "power": 100, "config_entry_id": "nope"}, "hub_not_found"),
    ],
)
async def test_invalid_input(
    hass: HomeAssistant,
    lilygo_fleet: LilyGoFleet,
    make_hub: Any,
    data: dict[str, Any],
    key: str,
) -> None:
    """Each invalid call raises a translated ServiceValidationError and changes nothing."""
    hub = await _hub(lilygo_fleet, make_hub)
    with pytest.raises(ServiceValidationError) as caught:
        await _set(hass, **data)
    assert caught.value.translation_domain == DOMAIN
    assert caught.value.translation_key == key
    assert hub.state("select", "grid_mode") == "zero"
    assert hub.coordinator.grid.request.mode is GridMode.ZERO


async def test_schema_refuses_an_unknown_mode(
    hass: HomeAssistant, lilygo_fleet: LilyGoFleet, make_hub: Any
) -> None:
    await _hub(lilygo_fleet, make_hub)
    with pytest.raises(vol.Invalid):
        await _set(hass, mode="boost")


async def test_the_hub_must_be_loaded_and_chosen(
    hass: HomeAssistant, lilygo_fleet: LilyGoFleet, make_hub: Any
) -> None:
    hub = await _hub(lilygo_fleet, make_hub)
    response = await _set(hass, mode="hold", config_entry_id=hub.entry.entry_id)
    assert response["mode"] == "hold"
    assert response["soak"] is True
    assert await hass.config_entries.async_unload(hub.entry.entry_id)
    for data, key in (
        ({"config_entry_id": hub.entry.entry_id}, "hub_not_loaded"),
        ({}, "hub_required"),
    ):
        with pytest.raises(ServiceValidationError) as caught:
            await _set(hass, mode="hold", **data)
        assert caught.value.translation_key == key


async def test_the_end_returns_to_zero(
    hass: HomeAssistant, lilygo_fleet: LilyGoFleet, make_hub: Any
) -> None:
    """At its end a request returns to zero by itself: the fleet follows the grid again."""
    hub = await _hub(lilygo_fleet, make_hub)
    await _set(hass, mode="charge", power=2000, duration={"minutes": 2})
    await _run(hub, 0.0, 60)
    assert _fleet_w(lilygo_fleet) < -1500
    await _run(hub, 0.0, 80)
    assert hub.state("select", "grid_mode") == "zero"
    assert _fleet_w(lilygo_fleet) == 0.0
    state = hass.states.get(hub.entity_id("select", "grid_mode"))
    assert state is not None
    assert state.attributes["ended"] == "time"


async def test_the_power_defaults_to_the_number(
    hass: HomeAssistant, lilygo_fleet: LilyGoFleet, make_hub: Any
) -> None:
    """A charge without a power runs at the Requested power number's value."""
    hub = await _hub(lilygo_fleet, make_hub)
    number = hub.entity_id("number", "requested_power")
    await hass.services.async_call(
        "number", "set_value", {"entity_id": number, "value": 1800}, blocking=True
    )
    response = await _set(hass, mode="charge", duration="00:30:00")
    assert response["power"] == 1800.0


async def test_a_failed_store_of_the_end_does_not_stop_the_loop(
    hass: HomeAssistant,
    lilygo_fleet: LilyGoFleet,
    make_hub: Any,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """The end still holds in memory (and after a restart: the stored end has passed)."""
    hub = await _hub(lilygo_fleet, make_hub)
    await _set(hass, mode="charge", power=2000, duration={"minutes": 1})
    store = hub.entry.runtime_data.store

    async def _broken(_request: Any) -> None:
        raise OSError("disk full")

    store.async_save_grid_request = _broken
    await _run(hub, 0.0, 80)
    assert hub.state("select", "grid_mode") == "zero"
    assert hub.state("sensor", "status") == "running"
    assert "Storing the end of the grid mode failed" in caplog.text
    assert _fleet_w(lilygo_fleet) == 0.0


async def test_the_target_state_of_charge_ends_it(
    hass: HomeAssistant, lilygo_fleet: LilyGoFleet, make_hub: Any
) -> None:
    hub = await _hub(lilygo_fleet, make_hub)
    await _set(hass, mode="charge", power=2000, target_soc=80)
    await _run(hub, 0.0, 13)
    assert _fleet_w(lilygo_fleet) < 0
    for battery in lilygo_fleet.batteries.values():
        battery.set(Role.SOC, 82)
    await _run(hub, 0.0, 13)
    assert hub.state("select", "grid_mode") == "zero"
    assert hub.coordinator.grid.ending == "target_soc"


async def test_the_end_holds_across_a_restart(
    hass: HomeAssistant, lilygo_fleet: LilyGoFleet, make_hub: Any
) -> None:
    """The request is stored: it runs on after a reload, and ends while Home Assistant is down."""
    hub = await _hub(lilygo_fleet, make_hub)
    await _set(hass, mode="discharge", power=1000, duration={"minutes": 30})
    await _run(hub, 0.0, 13)
    assert _fleet_w(lilygo_fleet) > 900
    assert await hass.config_entries.async_unload(hub.entry.entry_id)
    assert _fleet_w(lilygo_fleet) == 0.0  # stopped on unload
    assert await hass.config_entries.async_setup(hub.entry.entry_id)
    await _run(hub, 0.0, 13)
    assert hub.state("select", "grid_mode") == "discharge"  # restored from the store
    assert _fleet_w(lilygo_fleet) > 900
    assert await hass.config_entries.async_unload(hub.entry.entry_id)
    hub.freezer.tick(timedelta(hours=1))  # down past its end
    hub.meter.set(0.0)
    assert await hass.config_entries.async_setup(hub.entry.entry_id)
    assert hub.entry.state is ConfigEntryState.LOADED
    await _run(hub, 0.0, 13)
    assert hub.state("select", "grid_mode") == "zero"
    assert _fleet_w(lilygo_fleet) == 0.0


async def test_the_select_and_the_number(
    hass: HomeAssistant, lilygo_fleet: LilyGoFleet, make_hub: Any
) -> None:
    """The select runs a mode at the Requested power (for at most 24 h); the number moves it."""
    hub = await _hub(lilygo_fleet, make_hub)
    number = hub.entity_id("number", "requested_power")
    select = hub.entity_id("select", "grid_mode")
    await hass.services.async_call(
        "number", "set_value", {"entity_id": number, "value": 1200}, blocking=True
    )
    await hass.services.async_call(
        "select", "select_option", {"entity_id": select, "option": "charge"}, blocking=True
    )
    await _run(hub, 0.0, 13)
    assert _fleet_w(lilygo_fleet) * 1.045 == pytest.approx(-1200.0, abs=15)
    until = hub.coordinator.grid.request.until
    assert until is not None
    assert until - dt_util.utcnow() <= timedelta(hours=24)
    await hass.services.async_call(
        "number", "set_value", {"entity_id": number, "value": 2400}, blocking=True
    )
    await _run(hub, 0.0, 13)
    assert _fleet_w(lilygo_fleet) * 1.045 == pytest.approx(-2400.0, abs=20)
    assert hub.coordinator.grid.request.until == until  # the same end
    with pytest.raises(ServiceValidationError):  # charge needs a power
        await hass.services.async_call(
            "number", "set_value", {"entity_id": number, "value": 0}, blocking=True
        )
    await hass.services.async_call(
        "select", "select_option", {"entity_id": select, "option": "zero"}, blocking=True
    )
    await hass.services.async_call(
        "number", "set_value", {"entity_id": number, "value": 0}, blocking=True
    )
    with pytest.raises(ServiceValidationError):
        await hass.services.async_call(
            "select", "select_option", {"entity_id": select, "option": "discharge"}, blocking=True
        )
    assert hub.state("select", "grid_mode") == "zero"


@pytest.mark.parametrize(
    ("mode", "power", "grid"),
    [("charge", 2000, 0.0), ("discharge", 2000, 0.0), ("hold", None, -1500.0)],
)
async def test_a_stale_meter_stops_the_fleet_in_every_mode(  # noqa: PLR0917
    hass: HomeAssistant,
    lilygo_fleet: LilyGoFleet,
    make_hub: Any,
    mode: str,
    power: int | None,
    grid: float,
) -> None:
    """The fail-safe comes first: a stale meter stops a charge or discharge the user asked."""
    hub = await _hub(lilygo_fleet, make_hub, grid=grid)
    data: dict[str, Any] = {"mode": mode, "duration": "02:00:00"}
    if power is not None:
        data["power"] = power
    await _set(hass, **data)
    await _run(hub, grid, 13)
    assert _fleet_w(lilygo_fleet) != 0.0
    await hub.tick(40, step=6.5)  # the meter stops reporting: stale after 30 s
    assert hub.state("sensor", "status") == "fail_safe"
    assert hub.state("sensor", "fail_safe_cause") == "meter_stale"
    assert _fleet_w(lilygo_fleet) == 0.0
    await _run(hub, grid, 13)  # back: the mode resumes by itself
    assert hub.state("select", "grid_mode") == mode
    assert _fleet_w(lilygo_fleet) != 0.0


@pytest.mark.parametrize("mode", ["charge", "discharge"])
async def test_an_unavailable_battery_takes_no_part_in_any_mode(
    hass: HomeAssistant, lilygo_fleet: LilyGoFleet, make_hub: Any, mode: str
) -> None:
    hub = await _hub(lilygo_fleet, make_hub)
    bat1, bat2 = lilygo_fleet.batteries.values()
    await _set(hass, mode=mode, power=4000, duration="01:00:00")
    await _run(hub, 0.0, 13)
    assert _signed(bat1) != 0.0
    bat1.set_available(False, Role.SOC)
    await _run(hub, 0.0, 26)
    assert hub.state("sensor", "reason", bat1) == "readings_unavailable"
    assert _signed(bat2) != 0.0


@pytest.mark.parametrize("mode", ["charge", "discharge"])
async def test_cutoffs_hold_in_every_mode(
    hass: HomeAssistant, lilygo_fleet: LilyGoFleet, make_hub: Any, mode: str
) -> None:
    """A battery at its cutoff for the mode's direction does not run; the other does."""
    hub = await _hub(lilygo_fleet, make_hub)
    bat1, bat2 = lilygo_fleet.batteries.values()
    bat1.set(Role.SOC, 100 if mode == "charge" else 10)
    await _set(hass, mode=mode, power=3000, duration="01:00:00")
    await _run(hub, 0.0, 26)
    assert _signed(bat1) == 0.0
    assert hub.state("sensor", "reason", bat1) == "at_cutoff"
    assert _signed(bat2) != 0.0
    state = hass.states.get(hub.entity_id("select", "grid_mode"))
    assert state is not None
    assert state.attributes["limited_by"] == "batteries"  # 2500 W of the 3000 asked


async def test_the_peak_cap_limits_a_charge_and_discharges_in_hold(
    hass: HomeAssistant, lilygo_fleet: LilyGoFleet, make_hub: Any, freezer: Any
) -> None:
    """A 2.5 kW cap: a charge from the grid stops at the cap; hold discharges to keep it."""
    freezer.move_to("2027-01-14T16:01:00+00:00")  # a minute into a quarter hour
    hub = await _hub(lilygo_fleet, make_hub, grid=1500.0, options={CONF_PEAK_CAP_KW: 2.5})
    await _set(hass, mode="charge", power=3000, duration="01:00:00")
    await _run(hub, 1500.0, 26)
    allowed = hub.coordinator.grid.import_allowed_w()
    # under the cap less its 100 W margin, with what the quarter's first seconds left over
    assert 2400.0 <= allowed < 2500.0
    charged = -_fleet_w(lilygo_fleet) * 1.045
    assert 0 < charged <= allowed - 1500.0 + 5
    assert charged < 3000 - 500
    state = hass.states.get(hub.entity_id("select", "grid_mode"))
    assert state is not None
    assert state.attributes["limited_by"] == "peak_cap"
    await _set(hass, mode="hold", duration="01:00:00")
    await _run(hub, 4000.0, 26)
    # discharges for the cap: the import follows the allowance within a cycle's lag, under
    # the cap itself (the margin covers the lag)
    assert 4000.0 - _fleet_w(lilygo_fleet) * 0.975 <= 2500.0
    assert 4000.0 - _fleet_w(lilygo_fleet) * 0.975 <= hub.coordinator.grid.import_allowed_w() + 50
    quarter = hass.states.get(hub.entity_id("sensor", "quarter_hour_import"))
    assert quarter is not None
    assert float(quarter.state) > 0
    assert quarter.attributes["cap"] == 2500.0
    assert quarter.attributes["allowed"] is not None
    await _run(hub, 1000.0, 15 * 60)  # a quarter hour closes
    peak = hass.states.get(hub.entity_id("sensor", "month_peak_import"))
    assert peak is not None
    assert float(peak.state) > 0
    assert peak.attributes["month"] == dt_util.now().strftime("%Y-%m")
    diagnostics = await async_get_config_entry_diagnostics(hass, hub.entry)
    assert diagnostics["loop"]["peak_cap_w"] == 2500.0
    assert diagnostics["loop"]["grid_mode"]["mode"] == "hold"
    # The month's peak and the running quarter hour survive a reload (the store keeps them).
    month_peak = float(peak.state)
    assert await hass.config_entries.async_unload(hub.entry.entry_id)
    assert await hass.config_entries.async_setup(hub.entry.entry_id)
    await _run(hub, 1000.0, 2)
    kept = hass.states.get(hub.entity_id("sensor", "month_peak_import"))
    assert kept is not None
    assert float(kept.state) == month_peak


# A damaged store: the grid request and the peak meter are read item by item with the rest.

GOOD_SETTINGS = {"enabled": False, "strategy": "equal", "grid_target_w": 25.0, "batteries": {}}


@hyp_settings(max_examples=120, deadline=None)
@given(stored=stored_requests(), meter=stored_meters(), data=st.data())
def test_a_bad_request_or_meter_in_the_store_loses_nothing_else(
    stored: dict[str, Any], meter: dict[str, Any], data: Any
) -> None:
    """One bad field in the grid request (or the peak meter): that item alone is dropped,
    named, and given its safe default; the settings, stops and the other item are kept."""
    which = data.draw(st.sampled_from(["grid_mode", "peak"]))
    fields = BAD_REQUEST_FIELD if which == "grid_mode" else BAD_METER_FIELD
    field = data.draw(st.sampled_from(sorted(fields)))
    value = data.draw(fields[field])
    if (which, field, stored["mode"]) == ("grid_mode", "target_soc", "hold"):
        assume(value is not None)
    good = {"settings": GOOD_SETTINGS, "pending": [], "grid_mode": stored, "peak": meter}
    document = {**good, which: {**good[which], field: value}}
    kept, read = read_store(good), read_store(document)
    assert read.dropped == [which]
    assert (read.settings, read.pending) == (kept.settings, kept.pending)
    assert read.settings is not None
    assert read.settings.grid_target_w == 25.0
    if which == "grid_mode":
        assert (read.grid_request, read.peak) == (GridRequest(), kept.peak)
    else:
        assert (read.grid_request, read.peak) == (kept.grid_request, PeakMeter())


def test_an_old_store_without_a_grid_mode_drops_nothing() -> None:
    """A store of a version before the grid modes: no request, a fresh meter, nothing named."""
    read = read_store({"settings": GOOD_SETTINGS, "pending": []})
    assert (read.dropped, read.grid_request, read.peak) == ([], GridRequest(), PeakMeter())


async def test_a_hold_stored_with_soak_false_as_text_is_no_request(
    hass: HomeAssistant,
    lilygo_fleet: LilyGoFleet,
    make_hub: Any,
    hass_storage: dict[str, Any],
) -> None:
    """A hold whose soak reads "false" (a text) came back as a soaking hold; now the hub
    is at zero, says so in a repair issue, and keeps its settings."""
    hub = await _hub(lilygo_fleet, make_hub)
    await _set(hass, mode="hold", duration={"hours": 2}, soak=False)
    await hass.services.async_call(
        "number",
        "set_value",
        {"entity_id": hub.entity_id("number", "grid_target"), "value": 40},
        blocking=True,
    )
    await _run(hub, 0.0, 13)
    assert hub.state("select", "grid_mode") == "hold"
    assert await hass.config_entries.async_unload(hub.entry.entry_id)
    data = hass_storage[f"{DOMAIN}.{hub.entry.entry_id}"]["data"]
    assert data["grid_mode"]["soak"] is False
    data["grid_mode"]["soak"] = "false"
    assert await hass.config_entries.async_setup(hub.entry.entry_id)
    await _run(hub, 0.0, 13)
    assert hub.state("select", "grid_mode") == "zero"
    assert float(hub.state("number", "grid_target")) == 40.0  # the settings are kept
    issue = ir.async_get(hass).async_get_issue(DOMAIN, f"store_damaged_{hub.entry.entry_id}")
    assert issue is not None
    assert issue.translation_placeholders is not None
    assert issue.translation_placeholders["dropped"] == "grid_mode"


async def test_an_unloaded_store_writes_nothing_over_the_next_entry(
    hass: HomeAssistant, hass_storage: dict[str, Any], lilygo_fleet: LilyGoFleet, make_hub: Any
) -> None:
    """A call queued during a reload, run on the old entry's data, writes nothing to disk.

    Before, the old store's delayed save put its requested power (and pending stops) over
    what the new entry had loaded; a grid mode now fails with a clear error instead.
    """
    hub = await _hub(lilygo_fleet, make_hub)
    old = hub.entry.runtime_data
    assert await hass.config_entries.async_reload(hub.entry.entry_id)
    await hass.async_block_till_done()
    key = f"{DOMAIN}.{hub.entry.entry_id}"
    on_disk = hass_storage[key]["data"]
    old.settings.requested_power_w = 700.0  # what set_grid_mode does after its await
    old.save_settings()
    old.store.save_peak(PeakMeter())
    await old.store.async_save()
    with pytest.raises(StoreClosedError):
        await old.store.async_save_grid_request(GridRequest(GridMode.HOLD))
    async_fire_time_changed(hass, dt_util.utcnow() + timedelta(seconds=10))
    await hass.async_block_till_done()
    assert hass_storage[key]["data"] == on_disk
    assert hub.entry.runtime_data.store.closed is False  # the new entry's store writes
