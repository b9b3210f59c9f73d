"""The development board emulators against the real client libraries, without Home Assistant.

``dev/marstek_sim/esphome_board.py`` is driven with aioesphomeapi's own ``APIClient`` (what
Home Assistant's esphome integration uses) and ``dev/marstek_sim/modbus_board.py`` with
pymodbus's own TCP client (what its modbus integration uses). Skipped where those packages are
not installed (they come with the integrations' requirements; see requirements_test.txt).
"""

from __future__ import annotations

import asyncio
import socket

import pytest

pytest.importorskip("aioesphomeapi")
pytest.importorskip("pymodbus")

from aioesphomeapi import APIClient
from pymodbus.client import AsyncModbusTcpClient

from dev.marstek_sim.esphome_board import EsphomeBoard
from dev.marstek_sim.modbus_board import ModbusBoard
from dev.marstek_sim.site import Board, BoardConfig

#: Real loopback sockets: a server and the client library's own connection.
pytestmark = pytest.mark.usefixtures("socket_enabled")


def _port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _board() -> Board:
    return Board(BoardConfig(name="LilyGo L1", phase="L1", soc=60.0, poll_s=1.0, ac_power_s=1.0))


async def _until(check, seconds: float = 5.0) -> None:  # type: ignore[no-untyped-def]
    for _ in range(int(seconds / 0.05)):
        if check():
            return
        await asyncio.sleep(0.05)
    raise AssertionError("condition not met in time")


async def test_esphome_board_speaks_the_native_api() -> None:
    """Device info, the LilyGo entity list, state pushes on the poll and commands, through
    aioesphomeapi's client; a reboot drops the connection and RS485 reads unknown after it."""
    board = _board()
    server = EsphomeBoard(board, _port(), prefix="Marstek ", separator="\u2044", index=0)
    await server.start()
    client = APIClient("127.0.0.1", server.port, None)
    try:
        await client.connect(login=True)
        info = await client.device_info()
        assert (info.name, info.friendly_name) == ("lilygo-l1", "LilyGo L1")
        assert not info.uses_password
        entities, _services = await client.list_entities_services()
        by_name = {e.name: e for e in entities}
        mode = by_name["Marstek Forcible Charge\u2044Discharge"]
        assert mode.options == ["stop", "charge", "discharge"]
        assert mode.object_id == "marstek_forcible_charge_discharge"
        power = by_name["Marstek Forcible Discharge Power"]
        assert (power.min_value, power.max_value, power.step, power.unit_of_measurement) == (
            0.0,
            2500.0,
            1.0,
            "W",
        )
        assert by_name["Marstek AC Power"].unit_of_measurement == "W"
        assert by_name["Marstek Discharging Cutoff Capacity"].min_value == 12.0
        rs485 = by_name["Marstek RS485 Control Mode"]
        states: dict[int, object] = {}
        client.subscribe_states(lambda state: states.__setitem__(state.key, state))
        await _until(lambda: rs485.key in states)
        assert states[rs485.key].state == "disable"  # type: ignore[attr-defined]

        client.select_command(rs485.key, "enable")
        client.number_command(power.key, 700.0)
        client.select_command(mode.key, "discharge")
        await _until(lambda: board.effective == ("discharge", 700.0))
        # Not optimistic: the select shows the write only after the next register read.
        assert states[mode.key].state == "stop"  # type: ignore[attr-defined]
        board.step(1.0)
        server.step()
        await _until(lambda: states[mode.key].state == "discharge")  # type: ignore[attr-defined]

        server.reboot()
        await _until(lambda: not client._connection or not client._connection.is_connected)
        assert board.effective == ("stop", 0.0)
    finally:
        await client.disconnect(force=True)
        await server.stop()

    # After the boot the RS485 select has no state (Home Assistant shows unknown).
    server = EsphomeBoard(board, _port(), prefix="Marstek ", separator="/", index=0)
    await server.start()
    client = APIClient("127.0.0.1", server.port, None)
    try:
        await client.connect(login=True)
        entities, _services = await client.list_entities_services()
        assert "Marstek Forcible Charge/Discharge" in {e.name for e in entities}
        key = next(e.key for e in entities if e.name == "Marstek RS485 Control Mode")
        states = {}
        client.subscribe_states(lambda state: states.__setitem__(state.key, state))
        await _until(lambda: key in states)
        assert states[key].missing_state  # type: ignore[attr-defined]
    finally:
        await client.disconnect(force=True)
        await server.stop()


async def test_esphome_board_offline_refuses_and_late_writes_wait() -> None:
    """An offline board closes the connection; a late write reaches the battery late."""
    board = _board()
    server = EsphomeBoard(board, _port(), prefix="Marstek ", separator="\u2044", index=0)
    await server.start()
    client = APIClient("127.0.0.1", server.port, None)
    try:
        await client.connect(login=True)
        entities, _services = await client.list_entities_services()
        rs485 = next(e.key for e in entities if e.name == "Marstek RS485 Control Mode")
        server.write_delay_s = 0.3
        client.select_command(rs485, "enable")
        await asyncio.sleep(0.1)
        assert board.registers["rs485_mode"] == "disable"
        await _until(lambda: board.registers["rs485_mode"] == "enable")
        board.available = False
        server.step()
        await _until(lambda: not client._connection or not client._connection.is_connected)
        with pytest.raises(Exception):  # noqa: B017, PT011 - whichever connection error
            await APIClient("127.0.0.1", server.port, None).connect(login=True)
    finally:
        await client.disconnect(force=True)
        await server.stop()


async def test_modbus_board_register_map() -> None:
    """The Venus register map through pymodbus's client: reads, RS485-gated writes, invalid
    values ignored, unknown registers refused, RS485 neither value after a reboot."""
    board = _board()
    server = ModbusBoard(board, _port())
    await server.start()
    client = AsyncModbusTcpClient("127.0.0.1", port=server.port, timeout=1, retries=0)
    try:
        assert await client.connect()
        soc = await client.read_holding_registers(32104, count=1)
        assert soc.registers == [60]
        assert (await client.read_holding_registers(42000, count=1)).registers == [21947]
        # Forcible writes act only while RS485 control is enabled.
        await client.write_register(42021, 900)
        await client.write_register(42010, 2)
        assert board.effective == ("stop", 0.0)
        await client.write_register(42000, 21930)
        assert board.effective == ("discharge", 900.0)
        await client.write_register(42010, 7)  # not a mode: ignored
        assert board.registers["forcible_mode"] == "discharge"
        for _ in range(10):
            board.step(1.0)
        ac = (await client.read_holding_registers(32202, count=2)).registers
        assert 800 < (ac[0] << 16 | ac[1]) < 900  # +: discharging
        dc = (await client.read_holding_registers(32102, count=2)).registers
        assert dc[0] == 0xFFFF  # int32 below zero: the cells discharge
        assert (await client.read_holding_registers(30000, count=1)).isError()
        server.reboot()
        server._away_until = 0.0
        await asyncio.sleep(0.2)
        client.close()
        assert await client.connect()
        assert (await client.read_holding_registers(42000, count=1)).registers == [0]
        # A silent gateway: the request times out.
        server.silent = True
        with pytest.raises(Exception):  # noqa: B017, PT011 - pymodbus's timeout error
            await client.read_holding_registers(32104, count=1)
    finally:
        client.close()
        server.silent = False
        await asyncio.sleep(0.5)  # the held request ends before the server stops
        await server.stop()
