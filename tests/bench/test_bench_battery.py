"""The simulated battery's physics: energy balance, timing, limits, reporting."""

from __future__ import annotations

from dataclasses import replace
import itertools
import random

import pytest

from bench.sim.battery import Battery, BatteryParams, loss_curve


def _run_random(seed: int, steps: int = 4000) -> Battery:
    rng = random.Random(seed)
    battery = Battery(soc=rng.uniform(15, 95))
    for _ in range(steps):
        if rng.random() < 0.1:
            mode = rng.choice(("charge", "discharge", "stop"))
            battery.command(mode, 0 if mode == "stop" else rng.uniform(0, 2500))
        battery.step(rng.choice((0.25, 1.0, 2.5, 6.5)))
    return battery


@pytest.mark.parametrize("seed", range(6))
def test_energy_balance_closes(seed: int) -> None:
    battery = _run_random(seed)
    moved = battery.ac_in_wh + battery.ac_out_wh
    assert moved > 100
    assert battery.loss_wh > 0
    assert abs(battery.energy_balance_error_wh()) < 1e-6
    stored = battery.stored_wh - battery.initial_stored_wh
    assert battery.ac_in_wh - battery.ac_out_wh == pytest.approx(
        stored + battery.loss_wh + battery.standby_wh, abs=1e-6
    )


def test_energy_balance_to_full_and_empty() -> None:
    battery = Battery(soc=90.0)
    battery.command("charge", 2500)
    battery.step(4 * 3600)
    for _ in range(3 * 3600):
        battery.step(1.0)
    assert battery.soc_pct == pytest.approx(100.0, abs=1.5)
    assert battery.ac_power_w == 0.0
    battery.command("discharge", 2500)
    for _ in range(4 * 3600):
        battery.step(1.0)
    assert battery.soc_pct <= battery.discharge_cutoff_pct + 0.1
    assert battery.soc_pct > battery.discharge_cutoff_pct - 1.0
    assert battery.ac_power_w == 0.0
    assert abs(battery.energy_balance_error_wh()) < 1e-6


def test_determinism() -> None:
    a, b = _run_random(42), _run_random(42)
    assert (a.soc_pct, a.ac_in_wh, a.ac_out_wh, a.loss_wh, a.standby_wh, a.reported_soc) == (
        b.soc_pct,
        b.ac_in_wh,
        b.ac_out_wh,
        b.loss_wh,
        b.standby_wh,
        b.reported_soc,
    )


def test_dead_time_and_first_order_approach() -> None:
    params = BatteryParams()
    battery = Battery(params)
    battery.command("discharge", 1000)
    battery.step(params.dead_time_s + params.from_stop_extra_s - 0.01)
    assert battery.ac_power_w == 0.0
    battery.step(0.01 + 5 * params.tau_s)
    target = 1000 * params.discharge_gain
    assert battery.ac_power_w == pytest.approx(target, rel=0.01)
    # Running already: a change starts after the dead time only (no relay delay).
    battery.command("discharge", 500)
    battery.step(params.dead_time_s - 0.01)
    assert battery.ac_power_w == pytest.approx(target, rel=0.01)
    battery.step(0.01 + params.tau_s)
    assert 500 * params.discharge_gain < battery.ac_power_w < target - 100


def test_stop_opens_relay_and_start_takes_longer() -> None:
    battery = Battery()
    battery.command("charge", 1000)
    battery.step(20)
    assert battery.relay_closed
    assert battery.ac_power_w == pytest.approx(-1045, rel=0.01)
    battery.command("stop", 0)
    for _ in range(20):
        battery.step(1.0)
    assert battery.ac_power_w == 0.0
    assert not battery.relay_closed
    assert battery.dc_power_w == pytest.approx(-battery.params.standby_w)


def test_instant_battery_without_lag() -> None:
    battery = Battery(replace(BatteryParams(), dead_time_s=0, from_stop_extra_s=0, tau_s=0))
    battery.command("discharge", 300)
    battery.step(1.0)
    assert battery.ac_power_w == pytest.approx(300 * 0.975)


def test_charge_taper_near_full() -> None:
    battery = Battery(soc=96.0)
    battery.command("charge", 2500)
    battery.step(15)
    assert battery.ac_power_w == pytest.approx(-1500, abs=2)
    battery = Battery(soc=99.2)
    battery.command("charge", 2500)
    battery.step(15)
    assert battery.ac_power_w == pytest.approx(-1000, abs=2)


def test_limits_and_software_cutoffs() -> None:
    battery = Battery(soc=50.0)
    battery.max_discharge_w = 800
    battery.command("discharge", 2500)
    battery.step(20)
    assert battery.ac_power_w == pytest.approx(800 * 0.975, rel=0.01)
    battery.discharge_cutoff_pct = 60.0
    battery.step(20)
    assert battery.ac_power_w == 0.0


def test_loss_matches_measured_table() -> None:
    curve = loss_curve()
    assert curve.charge_loss_w(1000) == pytest.approx(45.0)
    assert curve.discharge_loss_w(1000) == pytest.approx(1000 / 0.912 - 1000)
    # Below the table a running inverter keeps its fixed cost; above it the efficiency holds.
    assert curve.charge_loss_w(10) == pytest.approx(curve.charge_loss_w(63))
    assert curve.charge_loss_w(5000) == pytest.approx(2 * curve.charge_loss_w(2500))
    # Interpolated between points.
    assert curve.charge_loss_w(250) < curve.charge_loss_w(300) < curve.charge_loss_w(375)


def test_reported_soc_is_whole_and_slow() -> None:
    battery = Battery(replace(BatteryParams(), soc_report_interval_s=60), soc=50.0)
    battery.command("charge", 2500)
    seen = []
    for _ in range(300):
        battery.step(1.0)
        seen.append(battery.reported_soc)
        assert isinstance(battery.reported_soc, int)
    changes = sum(1 for a, b in itertools.pairwise(seen) if a != b)
    assert changes <= 5
    assert seen[-1] == round(battery.soc_pct) or battery.soc_pct - seen[-1] < 3


def test_rejects_bad_commands() -> None:
    battery = Battery()
    with pytest.raises(ValueError, match="mode"):
        battery.command("boost", 100)
    with pytest.raises(ValueError, match="power"):
        battery.command("charge", float("nan"))
    with pytest.raises(ValueError, match="soc"):
        Battery(soc=120)


def test_asking_what_a_battery_could_deliver_never_changes_its_latches() -> None:
    """available_w is a query: a battery at its cutoff that is not asked to run stays unlatched.

    Before the fix, available_w set the empty latch at the cutoff and cleared it above: a
    query changed whether the battery later resumed.
    """
    battery = Battery(BatteryParams(), soc=10.5)  # below its own 11 % discharging cutoff
    assert battery.available_w("discharge") == 0.0
    assert battery._empty_latch is False
    battery._empty_latch = True
    battery._stored_wh = 0.2 * battery.params.capacity_wh  # well above the cutoff again
    assert battery.available_w("discharge") > 0
    assert battery._empty_latch is True


def test_the_plant_table_is_not_the_engine_object() -> None:
    """The simulated plant has its own table: the engine's model is graded, not copied."""
    from bench.core import engine
    from bench.scenarios import SUITE
    from bench.sim.battery import MEASURED_EFFICIENCY

    assert MEASURED_EFFICIENCY is not engine.DEFAULT_EFFICIENCY_TABLE
    plant_tables = {id(b.params.efficiency_table) for s in SUITE for b in s.batteries}
    assert id(engine.DEFAULT_EFFICIENCY_TABLE) not in plant_tables
    off = {b.params.efficiency_table for s in SUITE if s.name == "v_off_model" for b in s.batteries}
    assert off
    assert all(table != engine.DEFAULT_EFFICIENCY_TABLE for table in off)


@pytest.mark.parametrize("lag_s", [1.0, 2.0])
def test_a_late_ac_report_shows_the_power_lag_s_before(lag_s: float) -> None:
    """power_report_lag_s: each AC report carries the power of lag_s before (a battery that
    averages its AC power); with 0 the power at the poll, as before."""
    on_time = Battery(BatteryParams(power_report_interval_s=1.0))
    late = Battery(BatteryParams(power_report_interval_s=1.0, power_report_lag_s=lag_s))
    seen: list[tuple[float, float]] = []
    for battery in (on_time, late):
        battery.command("discharge", 2000.0)
    for _ in range(15):
        for battery in (on_time, late):
            battery.step(1.0)
        seen.append((on_time.reported_ac_power_w, late.reported_ac_power_w))
    shift = round(lag_s)
    assert [late_w for _, late_w in seen[shift:]] == [w for w, _ in seen[:-shift]]
    assert seen[-1][0] > 1000.0  # on its way: the lag shows
    assert seen[shift + 4][1] < seen[shift + 4][0]
