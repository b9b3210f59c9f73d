"""The simulated LilyGo board: RS485 gate, forced setpoints, counters, time-out."""

from __future__ import annotations

import pytest

from bench.sim.battery import Battery
from bench.sim.lilygo import LilyGo


def test_battery_ignores_setpoints_until_rs485_is_enabled() -> None:
    board = LilyGo(Battery())
    board.write("discharge_power", 800)
    board.write("mode", "discharge")
    board.battery.step(20)
    assert board.battery.ac_power_w == 0.0
    board.write("rs485_enable", "enable")
    board.battery.step(20)
    assert board.battery.ac_power_w == pytest.approx(800 * 0.975, rel=0.01)
    assert board.setpoint_w == 800
    assert board.writes == 3
    assert board.mode_changes == 1


def test_charge_setpoint_and_stop() -> None:
    board = LilyGo(Battery())
    board.write("rs485_enable", "enable")
    board.write("charge_power", 1000)
    board.write("mode", "charge")
    board.battery.step(20)
    assert board.setpoint_w == -1000
    assert board.battery.ac_power_w < -1000
    board.write("charge_power", 3000)  # clamped to the number's range
    assert board.charge_w == 2500
    board.write("mode", "stop")
    board.battery.step(20)
    assert board.battery.ac_power_w == 0.0
    assert board.forced == ("stop", 0.0)


def test_rs485_time_out_stops_the_battery() -> None:
    board = LilyGo(Battery(), rs485_timeout_s=90)
    board.write("rs485_enable", "enable")
    board.write("discharge_power", 500)
    board.write("mode", "discharge")
    board.battery.step(60)
    board.poll()
    assert board.battery.ac_power_w > 0
    board.battery.step(60)
    board.poll()
    board.battery.step(20)
    assert not board.rs485_enabled
    assert board.battery.ac_power_w == 0.0


def test_rejects_unknown_writes() -> None:
    board = LilyGo(Battery())
    with pytest.raises(ValueError, match="mode"):
        board.write("mode", "boost")
    with pytest.raises(ValueError, match="kind"):
        board.write("work_mode", "manual")


def test_counts_starts_from_standstill() -> None:
    board = LilyGo(Battery())
    board.write("rs485_enable", "enable")
    board.write("discharge_power", 500)
    board.write("mode", "discharge")
    board.write("discharge_power", 700)  # running already: not a start
    board.write("mode", "stop")
    board.write("mode", "discharge")
    assert board.starts == 2
