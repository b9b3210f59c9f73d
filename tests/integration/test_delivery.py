"""The in-flight estimate wired into the loop (delivery.py), and the cycle interval option."""

from __future__ import annotations

from dataclasses import dataclass, field
import math
from typing import Any

from homeassistant.core import HomeAssistant
from homeassistant.data_entry_flow import FlowResultType
from hypothesis import given, strategies as st
import pytest

from bench.learn import fast_reversals
from custom_components.marstek_strategy.adapters.delivery import loop_times
from custom_components.marstek_strategy.const import (
    CONF_INTERVAL,
    CONF_PACE,
    CONF_SETTLE_DELAY,
    CONF_STALE_TIMEOUT,
    DEFAULT_OPTIONS,
    Role,
)
from custom_components.marstek_strategy.core.inflight import (
    INTERVALS_S,
    Response,
    allowed_interval,
    interval_allowed,
)
from tests.conftest import FakeBattery, Hub, LilyGoFleet

# ----------------------------------------------------------------------------- pure parts


@pytest.mark.parametrize(
    ("stored", "runs"),
    [(2.0, 2.0), (2.5, 3.0), (4.5, 5.0), (6.0, 6.5), (6.5, 6.5), (8.0, 8.0), (99.0, 60.0)],
)
def test_stored_interval_runs_at_the_next_allowed(stored: float, runs: float) -> None:
    assert allowed_interval(stored) == runs


def test_nonsense_interval_runs_at_the_default() -> None:
    assert allowed_interval(math.nan) == 6.5


@given(st.floats(min_value=0.0, max_value=60.0))
def test_allowed_interval_is_allowed_and_never_faster(value: float) -> None:
    runs = allowed_interval(value)
    assert interval_allowed(runs)
    assert runs >= value


def test_loop_times() -> None:
    assert loop_times(6.5, 12.0, True) == (6.5, 12.0)
    assert loop_times(10.0, 20.0, False) == (10.0, 20.0)
    assert loop_times(2.0, 12.0, True) == (2.0, 4.0)  # dead time + relay delay of a start
    assert loop_times(5.0, 12.0, True) == (5.0, 5.0)  # never shorter than the interval
    assert loop_times(2.0, 12.0, False) == (6.5, 12.0)  # no AC power on a battery: refused
    assert loop_times(2.0, 12.0, True, Response(dead_time_s=1.0, from_stop_s=6.0)) == (2.0, 7.0)


# --------------------------------------------------------------------- in Home Assistant

NO_AC = [role for role in Role if role is not Role.AC_POWER]


def _estimates(hub: Hub) -> list[float | None]:
    return [state.reading.delivered_w for state in hub.coordinator.data.batteries.values()]


async def test_default_interval_keeps_the_seeds_law(
    hass: HomeAssistant, lilygo_fleet: LilyGoFleet, make_hub: Any
) -> None:
    bat1 = await lilygo_fleet.add_battery("lilygo-bat1", soc=80)
    hub: Hub = await make_hub([(bat1, "L1")], grid=600)
    assert (hub.coordinator.interval_s, hub.coordinator.settle_s) == (6.5, 12.0)
    await hub.tick(12, grid=0, step=12)
    assert _estimates(hub) == [None]  # every command counts as delivered


async def test_short_interval_uses_the_estimate_where_ac_power_exists(
    hass: HomeAssistant, lilygo_fleet: LilyGoFleet, make_hub: Any
) -> None:
    bat1 = await lilygo_fleet.add_battery("lilygo-bat1", soc=80)
    bat1.follow = False  # the AC power lags: still 0 W
    hub: Hub = await make_hub([(bat1, "L1")], grid=600, options={CONF_INTERVAL: 2.0})
    assert (hub.coordinator.interval_s, hub.coordinator.settle_s) == (2.0, 4.0)
    assert hub.coordinator.data.delay_s == 4.0  # the start's settle, not 12 s
    assert bat1.values(Role.DISCHARGE_POWER) == [616]
    await hub.tick(4.5, grid=600)  # the cycle at 4 s: the relay is still closing
    assert _estimates(hub) == [0.0]
    bat1.set(Role.AC_POWER, 300)  # on its way, 0.75 s after it began
    await hub.tick(1.5, grid=300)
    (estimate,) = _estimates(hub)
    assert estimate is not None
    assert 300 < estimate < 616 * 0.975  # the reading plus what came since
    # The seed's law would count 600 W delivered and add the 300 W import on top (923 W).
    assert 616 < bat1.values(Role.DISCHARGE_POWER)[-1] < 900


async def test_an_implausible_ac_reading_is_not_believed(
    hass: HomeAssistant, lilygo_fleet: LilyGoFleet, make_hub: Any
) -> None:
    """A 25 kW AC reading (a register misread) does not steer the fleet (review finding)."""
    bat1 = await lilygo_fleet.add_battery("lilygo-bat1", soc=80)
    bat1.follow = False
    hub: Hub = await make_hub([(bat1, "L1")], grid=600, options={CONF_INTERVAL: 2.0})
    await hub.tick(4.5, grid=0)
    bat1.set(Role.AC_POWER, 25000)
    await hub.tick(2, grid=0)
    (estimate,) = _estimates(hub)
    assert estimate is not None
    assert abs(estimate) < 700  # the model, not 25 kW
    assert bat1.values(Role.DISCHARGE_POWER)[-1] < 1000  # not driven to 2500 W by it


async def test_short_interval_is_refused_without_ac_power_on_every_battery(
    hass: HomeAssistant, lilygo_fleet: LilyGoFleet, make_hub: Any, caplog: Any
) -> None:
    bat1 = await lilygo_fleet.add_battery("lilygo-bat1", soc=80)
    bat2 = await lilygo_fleet.add_battery("lilygo-bat2", soc=80, roles=NO_AC)
    hub: Hub = await make_hub([(bat1, "L1"), (bat2, "L1")], grid=600, options={CONF_INTERVAL: 2.0})
    assert (hub.coordinator.interval_s, hub.coordinator.settle_s) == (6.5, 12.0)
    assert "needs an AC power sensor on every battery" in caplog.text
    await hub.tick(12, grid=0, step=12)
    assert _estimates(hub) == [None, None]


async def test_reload_starts_with_nothing_in_flight(
    hass: HomeAssistant, lilygo_fleet: LilyGoFleet, make_hub: Any
) -> None:
    """After a reload the estimate is the battery's reading, nothing of the old commands."""
    bat1 = await lilygo_fleet.add_battery("lilygo-bat1", soc=80)
    bat1.follow = False
    hub: Hub = await make_hub([(bat1, "L1")], grid=600, options={CONF_INTERVAL: 2.0})
    assert hub.coordinator.delivery.models[0].target_w == pytest.approx(616 * 0.975)
    before = hub.coordinator
    bat1.set(Role.AC_POWER, 250)
    hass.config_entries.async_update_entry(
        hub.entry, options={**hub.entry.options, CONF_STALE_TIMEOUT: 31.0}
    )
    await hass.async_block_till_done()
    assert hub.coordinator is not before
    assert hub.coordinator.delivery.models == [None]  # nothing known before the first cycle
    await hub.tick(0, grid=0)
    assert _estimates(hub) == [pytest.approx(250.0)]  # what it reads, nothing assumed


async def test_dry_run_feeds_what_the_batteries_do(
    hass: HomeAssistant, lilygo_fleet: LilyGoFleet, make_hub: Any
) -> None:
    bat1 = await lilygo_fleet.add_battery(
        "lilygo-bat1", soc=80, mode="charge", charge_power=500, ac_power=-500
    )
    hub: Hub = await make_hub([(bat1, "L1")], grid=0, options={CONF_INTERVAL: 2.0, "dry_run": True})
    assert not lilygo_fleet.writes
    assert hub.coordinator.delivery.models[0].target_w == pytest.approx(-500 * 1.045)
    assert hub.coordinator.delivery.diagnostics() == [
        {"battery": "lilygo-bat1", "ac_power_sensor": True, "target_w": -522.5}
    ]


# --------------------------------------------------------------- a load step on a lagging plant


@dataclass
class Plant:
    """The fake boards' AC power with dead time, relay delay and a first-order lag."""

    batteries: list[FakeBattery]
    response: Response = field(default_factory=Response)
    ac: list[float] = field(default_factory=list)
    goal: list[float] = field(default_factory=list)  # what each battery heads for now
    told: list[float] = field(default_factory=list)
    pending: list[list[tuple[float, float]]] = field(default_factory=list)  # (due, target)

    def __post_init__(self) -> None:
        for battery in self.batteries:
            battery.follow = False
        count = len(self.batteries)
        self.ac, self.goal, self.told = [0.0] * count, [0.0] * count, [0.0] * count
        self.pending = [[] for _ in self.batteries]

    def _target(self, battery: FakeBattery) -> float:
        mode = battery.state(Role.FORCIBLE_MODE)
        if mode == "discharge":
            return float(battery.state(Role.DISCHARGE_POWER)) * self.response.discharge_gain
        if mode == "charge":
            return -float(battery.state(Role.CHARGE_POWER)) * self.response.charge_gain
        return 0.0

    def step(self, now: float, dt: float) -> float:
        """Move every battery on by dt; return the AC power of all (W, + = discharging)."""
        response = self.response
        for index, battery in enumerate(self.batteries):
            target = self._target(battery)
            if target != self.told[index]:
                delay = response.dead_time_s
                if self.goal[index] == 0.0 and abs(self.ac[index]) < 1.0:
                    delay += response.from_stop_s  # the relay closes first
                self.pending[index].append((now + delay, target))
                self.told[index] = target
            while self.pending[index] and self.pending[index][0][0] <= now:
                self.goal[index] = self.pending[index].pop(0)[1]
            share = 1 - math.exp(-dt / response.tau_s)
            self.ac[index] += (self.goal[index] - self.ac[index]) * share
            battery.set(Role.AC_POWER, round(self.ac[index], 1))
        return sum(self.ac)


STEPS = ((1500.0, 60), (-900.0, 60), (2600.0, 60), (300.0, 60))


async def _run_steps(hub: Hub, plant: Plant, *, estimate: bool = True) -> list[float]:
    """Drive the load steps in 0.5 s; return the grid each second."""
    hub.coordinator.delivery.active = estimate
    grid: list[float] = []
    now = 0.0
    load = 0.0
    for level, seconds in STEPS:
        for _ in range(seconds * 2):
            load = level
            delivered = plant.step(now, 0.5)
            now += 0.5
            await hub.tick(0.5, grid=round(load - delivered, 1))
            if now == int(now):
                grid.append(load - delivered)
    return grid


@pytest.mark.parametrize(
    ("interval", "pace"), [*((i, "fixed") for i in INTERVALS_S if i < 6.5), (6.5, "meter")]
)
async def test_short_interval_follows_load_steps_without_ringing(
    hass: HomeAssistant, lilygo_fleet: LilyGoFleet, make_hub: Any, interval: float, pace: str
) -> None:
    bat1 = await lilygo_fleet.add_battery("lilygo-bat1", soc=60, max_discharge_power=2500)
    bat2 = await lilygo_fleet.add_battery("lilygo-bat2", soc=60, max_discharge_power=2500)
    plant = Plant([bat1, bat2])
    hub: Hub = await make_hub(
        [(bat1, "L1"), (bat2, "L1")], grid=0, options={CONF_INTERVAL: interval, CONF_PACE: pace}
    )
    grid = await _run_steps(hub, plant)
    response = plant.response
    follow = response.dead_time_s + 3 * response.tau_s
    assert fast_reversals(grid, follow) == 0
    for start in range(0, len(grid), 60):  # each step is met: the last 20 s near zero
        assert max(abs(w) for w in grid[start + 40 : start + 60]) < 100, start


async def test_the_seeds_law_rings_at_2_s(
    hass: HomeAssistant, lilygo_fleet: LilyGoFleet, make_hub: Any
) -> None:
    """The defect fixed: 2 s cycles without the estimate (every command counted delivered)."""
    bat1 = await lilygo_fleet.add_battery("lilygo-bat1", soc=60, max_discharge_power=2500)
    bat2 = await lilygo_fleet.add_battery("lilygo-bat2", soc=60, max_discharge_power=2500)
    plant = Plant([bat1, bat2])
    hub: Hub = await make_hub([(bat1, "L1"), (bat2, "L1")], grid=0, options={CONF_INTERVAL: 2.0})
    grid = await _run_steps(hub, plant, estimate=False)
    response = plant.response
    assert fast_reversals(grid, response.dead_time_s + 3 * response.tau_s) > 0


# ------------------------------------------------------------------------------ options flow


async def _options(hass: HomeAssistant, hub: Hub, interval: float) -> Any:
    result = await hass.config_entries.options.async_init(hub.entry.entry_id)
    return await hass.config_entries.options.async_configure(
        result["flow_id"], {**DEFAULT_OPTIONS, **hub.entry.options, CONF_INTERVAL: interval}
    )


@pytest.mark.parametrize("interval", [*INTERVALS_S, 10.0, 30.0])
async def test_options_accept_the_allowed_intervals(
    hass: HomeAssistant, lilygo_fleet: LilyGoFleet, make_hub: Any, interval: float
) -> None:
    bat1 = await lilygo_fleet.add_battery("lilygo-bat1")
    hub: Hub = await make_hub([(bat1, "L1")])
    result = await _options(hass, hub, interval)
    assert result["type"] is FlowResultType.CREATE_ENTRY
    await hass.async_block_till_done()
    assert hub.entry.options[CONF_INTERVAL] == interval
    assert hub.coordinator.interval_s == interval


@pytest.mark.parametrize("interval", [2.5, 3.5, 6.0])
async def test_options_refuse_other_short_intervals(
    hass: HomeAssistant, lilygo_fleet: LilyGoFleet, make_hub: Any, interval: float
) -> None:
    bat1 = await lilygo_fleet.add_battery("lilygo-bat1")
    hub: Hub = await make_hub([(bat1, "L1")])
    result = await _options(hass, hub, interval)
    assert result["type"] is FlowResultType.FORM
    assert result["errors"] == {CONF_INTERVAL: "interval_not_allowed"}


async def test_options_refuse_a_short_interval_without_ac_power_on_every_battery(
    hass: HomeAssistant, lilygo_fleet: LilyGoFleet, make_hub: Any
) -> None:
    """The form says so, instead of a loop silently at 6.5 s and a log line (review)."""
    bat1 = await lilygo_fleet.add_battery("lilygo-bat1")
    bat2 = await lilygo_fleet.add_battery("lilygo-bat2", roles=NO_AC)
    hub: Hub = await make_hub([(bat1, "L1"), (bat2, "L2")])
    result = await _options(hass, hub, 2.0)
    assert result["type"] is FlowResultType.FORM
    assert result["errors"] == {CONF_INTERVAL: "interval_needs_ac_power"}
    result = await _options(hass, hub, 10.0)  # 6.5 s and longer need nothing more
    assert result["type"] is FlowResultType.CREATE_ENTRY


async def test_old_stored_interval_is_normalised(
    hass: HomeAssistant, lilygo_fleet: LilyGoFleet, make_hub: Any
) -> None:
    """An entry made when any 0.5 s step from 2 s was allowed runs at the next allowed one."""
    bat1 = await lilygo_fleet.add_battery("lilygo-bat1")
    hub: Hub = await make_hub([(bat1, "L1")], options={CONF_INTERVAL: 2.5, CONF_SETTLE_DELAY: 12.0})
    assert (hub.coordinator.interval_s, hub.coordinator.settle_s) == (3.0, 4.0)
    result = await hass.config_entries.options.async_init(hub.entry.entry_id)
    schema = result["data_schema"].schema
    (key,) = (k for k in schema if k == CONF_INTERVAL)
    assert key.description["suggested_value"] == 3.0


@pytest.mark.parametrize("pace", ["fixed", "meter"])
async def test_a_battery_that_takes_no_part_has_no_estimate_but_its_rise(
    hass: HomeAssistant, lilygo_fleet: LilyGoFleet, make_hub: Any, pace: str
) -> None:
    """Issue 18.1 through Home Assistant: a battery whose state of charge becomes unavailable
    while it discharges at 2 s keeps no in-flight estimate (none of it is headroom); its
    phase's budget takes it from its fresh AC power (it goes on, or it stops)."""
    bat1 = await lilygo_fleet.add_battery("lilygo-bat1", soc=80)
    options = {CONF_INTERVAL: 2.0, CONF_PACE: pace}
    hub: Hub = await make_hub([(bat1, "L1")], grid=600, options=options)
    await hub.tick(10, grid=0)
    bat1.set(Role.AC_POWER, 600)
    bat1.set_available(False, Role.SOC)
    await hub.tick(2, grid=0)
    (state,) = hub.coordinator.data.batteries.values()
    assert state.reading is not None
    assert state.reading.delivered_w is None
    assert state.reading.rise_w is not None
    low, high = state.reading.rise_w
    assert high == 600.0  # it stops: L1 imports its 600 W more
    assert -700.0 < low <= 0.0  # it goes on, or reaches its command (~665 W) still in force
    bat1.set_available(False, Role.AC_POWER)  # nothing fresh: from its model to its command
    await hub.tick(2, grid=0)
    (state,) = hub.coordinator.data.batteries.values()
    assert state.reading is not None
    assert state.reading.rise_w is not None
    low, high = state.reading.rise_w
    assert low == -high
    assert bat1.values(Role.FORCIBLE_MODE)[-1] == "stop"  # and its stop is written


@pytest.mark.parametrize("pace", ["fixed", "meter"])
async def test_an_ac_power_against_the_command_takes_the_battery_out_at_2_s(
    hass: HomeAssistant, lilygo_fleet: LilyGoFleet, make_hub: Any, pace: str
) -> None:
    """Issue 18.2 through Home Assistant: an AC power sensor of the wrong sign at 2 s (the
    battery does what it is told, its sensor reads the other way). Believed, the plan turned
    round every few cycles and each reversal restarted the read-back's grace: 30 reversals
    at 2.5 kW in 2 minutes. It ends `not_responding` and stopped, as at 6.5 s."""
    bat1 = await lilygo_fleet.add_battery("lilygo-bat1", soc=60, max_discharge_power=2500)
    bat1.follow = False
    options = {CONF_INTERVAL: 2.0, CONF_PACE: pace}
    hub: Hub = await make_hub([(bat1, "L1")], grid=1500, options=options)
    for _ in range(60):  # 2 minutes
        mode = bat1.state(Role.FORCIBLE_MODE)
        actual = 0.0
        if mode == "discharge":
            actual = float(bat1.state(Role.DISCHARGE_POWER)) * 0.975
        elif mode == "charge":
            actual = -float(bat1.state(Role.CHARGE_POWER)) * 1.045
        bat1.set(Role.AC_POWER, -actual)  # the wrong sign
        await hub.tick(2, grid=1500 - actual)
    (state,) = hub.coordinator.data.batteries.values()
    assert state.problem == "not_responding"
    assert bat1.state(Role.FORCIBLE_MODE) == "stop"
    reversals = [value for value in bat1.values(Role.FORCIBLE_MODE) if value != "stop"]
    assert len(reversals) < 8  # not 30
