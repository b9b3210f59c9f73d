"""The development simulator's site model (dev/marstek_sim/site.py), without Home Assistant."""

from __future__ import annotations

import pytest

from dev.marstek_sim.site import Board, BoardConfig, House, Site


def _site(**board_kwargs: object) -> Site:
    boards = [
        Board(BoardConfig(name=f"LilyGo {phase}", phase=phase, soc=50.0, **board_kwargs))
        for phase in ("L1", "L2", "L3")
    ]
    house = House(manual_load=[1000.0, 300.0, 200.0], manual_pv=[0.0, 0.0, 0.0])
    return Site(boards, house)


def _run(site: Site, seconds: int) -> None:
    for _ in range(seconds):
        site.step(1.0)


def test_forced_setpoint_acts_only_with_rs485_enabled() -> None:
    site = _site()
    board = site.board("L1")
    board.write("discharge_power", 800)
    board.write("forcible_mode", "discharge")
    _run(site, 20)
    assert board.battery.ac_power_w == 0.0
    assert site.phase_w[0] == 1000
    board.write("rs485_mode", "enable")
    _run(site, 20)
    assert board.battery.ac_power_w == pytest.approx(800 * 0.975, abs=2)
    assert site.phase_w[0] == pytest.approx(1000 - 780, abs=2)
    assert site.grid_w == sum(site.phase_w)


def test_dead_time_then_lag() -> None:
    site = _site(rs485_mode="enable")
    board = site.board("L2")
    board.write("charge_power", 1000)
    board.write("forcible_mode", "charge")
    site.step(1.0)
    assert board.battery.ac_power_w == 0.0  # dead time plus the start from stop
    _run(site, 15)
    assert board.battery.ac_power_w == pytest.approx(-1045, abs=2)
    assert site.phase_w[1] == pytest.approx(300 + 1045, abs=2)


def test_written_state_shows_at_the_next_poll() -> None:
    site = _site(poll_s=5.0)
    board = site.board("L3")
    board.write("forcible_mode", "charge")
    assert board.reported["forcible_mode"] == "stop"
    polls = board.polls
    _run(site, 5)
    assert board.polls == polls + 1
    assert board.reported["forcible_mode"] == "charge"


def test_work_mode_and_rs485_interlock() -> None:
    board = _site().board("L1")
    board.write("rs485_mode", "enable")
    assert board.registers["work_mode"] == "anti-feed"
    board.write("work_mode", "manual")
    assert board.registers["rs485_mode"] == "disable"


def test_rs485_timeout_drops_control() -> None:
    site = _site(rs485_mode="enable", rs485_timeout_s=30.0)
    board = site.board("L1")
    board.write("discharge_power", 500)
    board.write("forcible_mode", "discharge")
    _run(site, 20)
    assert board.battery.ac_power_w > 400
    _run(site, 20)
    assert board.registers["rs485_mode"] == "disable"
    assert board.effective == ("stop", 0.0)
    _run(site, 10)
    assert board.battery.ac_power_w == 0.0


@pytest.mark.parametrize(
    ("register", "value"),
    [
        ("charge_power", 2501),
        ("discharge_power", -1),
        ("charge_cutoff", 79),
        ("discharge_cutoff", 31),
        ("forcible_mode", "Charge"),
        ("rs485_mode", "on"),
    ],
)
def test_writes_outside_the_lilygo_ranges_are_refused(register: str, value: object) -> None:
    board = _site().board("L1")
    with pytest.raises(ValueError):  # noqa: PT011
        board.write(register, value)


def test_speed_advances_simulated_time() -> None:
    site = _site()
    site.speed = 10.0
    start = site.seconds_of_day
    site.step(1.0)
    assert site.seconds_of_day == pytest.approx(start + 10.0)
    assert site.board("L1").battery.time_s == pytest.approx(10.0)


def test_profile_has_load_steps_and_pv_by_day_only() -> None:
    house = House()
    night, noon = 2 * 3600.0, 13 * 3600.0 + 5 * 60.0
    assert house.pv(0, night) == 0.0
    assert house.pv(0, noon) > 500.0
    kettle = 20 * 60.0  # minute 20 of an even hour: the kettle on L1
    assert house.load(0, kettle) - house.load(0, kettle - 120.0) == pytest.approx(2000.0, abs=100)


def test_set_soc_reports_at_once_and_the_cutoff_acts() -> None:
    site = _site(rs485_mode="enable")
    board = site.board("L1")
    board.set_soc(11.6)
    assert board.reported["soc"] == 12
    board.write("discharge_power", 800)
    board.write("forcible_mode", "discharge")
    _run(site, 20)
    assert board.battery.ac_power_w == 0.0  # below its 12 % discharging cutoff
    with pytest.raises(ValueError, match="outside"):
        board.set_soc(101)


def test_dev_configuration_is_valid_for_the_simulator() -> None:
    from pathlib import Path

    from homeassistant.util.yaml import load_yaml

    from dev.marstek_sim import CONFIG_SCHEMA, DOMAIN

    config = load_yaml(Path(__file__).parent.parent / "config" / "configuration.yaml")
    assert "default_config" not in config  # its go2rtc, camera and dhcp parts cannot run here
    sim = CONFIG_SCHEMA({DOMAIN: config[DOMAIN]})[DOMAIN]
    assert [(b["name"], b["phase"]) for b in sim["batteries"]] == [
        ("LilyGo L1", "L1"),
        ("LilyGo L2", "L2"),
        ("LilyGo L3", "L3"),
    ]
    assert sim["speed"] == 1.0


def test_battery_power_is_read_with_the_ac_power_and_shows_the_losses() -> None:
    """Battery Power (DC, + charging) is read with AC Power: their ratio is the efficiency."""
    site = _site(rs485_mode="enable", ac_power_s=10.0, poll_s=5.0)
    board = site.board("L1")
    board.write("discharge_power", 800)
    board.write("forcible_mode", "discharge")
    reads = board.power_reads
    _run(site, 30)
    assert board.power_reads == reads + 3  # every 10 s, not on every 5 s poll
    ac, dc = board.reported["ac_power"], board.reported["battery_power"]
    assert ac > 700
    assert dc < 0  # discharging: DC power leaves the cells
    assert 0.85 < ac / -dc < 0.95  # the simulated discharge efficiency near 800 W
    board.write("forcible_mode", "charge")
    board.write("charge_power", 1000)
    _run(site, 30)
    ac, dc = board.reported["ac_power"], board.reported["battery_power"]
    assert ac < -900
    assert 0.9 < dc / -ac < 1.0  # charging: DC into the cells per AC W taken
