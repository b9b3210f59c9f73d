"""A Marstek Venus as Home Assistant's ``modbus`` integration sees it: a Modbus TCP server.

Development only. One :class:`ModbusBoard` is a ``pymodbus`` Modbus TCP server in front of one
simulated :class:`~.site.Board` (a v3 LAN port, or an RS485-to-TCP gateway in front of a v1/v2
battery), with the public Venus E register map (``../shared/marstek-facts.md``): the holding
registers below, read live (Home Assistant's scan interval is the poll), written through the
same board logic as the ESPHome path (RS485 control gates the forcible registers). Any unit id
answers. Faults (``marstek_sim.fault`` / ``set_available``): offline (connections dropped, no
answers), ``drop_connection``, ``reboot`` (away :data:`REBOOT_S`, then RS485 reads 0, neither
value), ``silent`` (a gateway that times out: requests wait, unanswered, until ``answer``) and
``late_writes`` (a write is acknowledged at once and acts ``delay`` seconds later).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
import logging
import time
from typing import Any

from pymodbus import datastore
from pymodbus.server import ModbusTcpServer

from .site import Board

LOGGER = logging.getLogger(__name__)

REBOOT_S = 5.0
RS485_VALUES = {"enable": 21930, "disable": 21947}
FORCIBLE_VALUES = {"stop": 0, "charge": 1, "discharge": 2}
WORK_MODE_VALUES = {"manual": 0, "anti-feed": 1, "ai": 2}
#: Inverter state (35100): 1 standby, 2 charge, 3 discharge.
STANDBY, CHARGING, DISCHARGING = 1, 2, 3

#: Writable register -> (Board register, decode the raw value or None when it is not valid).
WRITABLE: dict[int, tuple[str, Callable[[int], Any]]] = {
    42000: ("rs485_mode", {v: k for k, v in RS485_VALUES.items()}.get),
    42010: ("forcible_mode", {v: k for k, v in FORCIBLE_VALUES.items()}.get),
    42020: ("charge_power", float),
    42021: ("discharge_power", float),
    43000: ("work_mode", {v: k for k, v in WORK_MODE_VALUES.items()}.get),
    44000: ("charge_cutoff", lambda raw: raw / 10.0),
    44001: ("discharge_cutoff", lambda raw: raw / 10.0),
    44002: ("max_charge_power", float),
    44003: ("max_discharge_power", float),
}


def _int32(value: float) -> list[int]:
    raw = round(value) & 0xFFFFFFFF
    return [raw >> 16, raw & 0xFFFF]


def registers(board: Board) -> dict[int, int]:
    """Every readable holding register of the board's battery, as the Venus answers now."""
    battery = board.battery
    regs = board.registers
    ac = round(battery.ac_power_w)
    state = DISCHARGING if ac > 1 else CHARGING if ac < -1 else STANDBY
    out = dict(zip((32102, 32103), _int32(battery.dc_power_w), strict=True))
    out[32104] = int(board.reported["soc"])
    out.update(zip((32202, 32203), _int32(ac), strict=True))
    out[35100] = state
    out[42000] = RS485_VALUES.get(regs["rs485_mode"], 0)  # after a boot: neither value
    out[42010] = FORCIBLE_VALUES[regs["forcible_mode"]]
    out[42020] = int(regs["charge_power"])
    out[42021] = int(regs["discharge_power"])
    out[43000] = WORK_MODE_VALUES[regs["work_mode"]]
    out[44000] = round(regs["charge_cutoff"] * 10)
    out[44001] = round(regs["discharge_cutoff"] * 10)
    out[44002] = int(regs["max_charge_power"])
    out[44003] = int(regs["max_discharge_power"])
    return out


def _contexts() -> tuple[type[Any], Any]:
    """The server context for this pymodbus: (context class, how to wrap it for the server).

    pymodbus 3.8 (Home Assistant 2025.4) asks a per-unit "slave" context
    (``async_getValues(fc, address, count)``); 3.13 (2026.11) asks the server context itself
    (``async_getValues(device_id, fc, address, count)``, errors as ``ExcCodes``).
    """
    if hasattr(datastore, "ModbusBaseSlaveContext"):

        class _UnitContext(datastore.ModbusBaseSlaveContext):  # type: ignore[misc,name-defined]
            def __init__(self, owner: ModbusBoard) -> None:
                self.owner = owner

            def reset(self) -> None:
                """Nothing to reset: the registers are the battery's."""

            def validate(self, fc_as_hex: int, address: int, count: int = 1) -> bool:
                return self.owner.valid(fc_as_hex, address, count)

            async def async_getValues(  # noqa: N802 - pymodbus's name
                self, fc_as_hex: int, address: int, count: int = 1
            ) -> Sequence[int]:
                return await self.owner.read(address, count)

            async def async_setValues(  # noqa: N802 - pymodbus's name
                self, fc_as_hex: int, address: int, values: Sequence[int | bool]
            ) -> None:
                await self.owner.write_many(address, values)

        return _UnitContext, lambda unit: datastore.ModbusServerContext(unit, single=True)

    from pymodbus.constants import ExcCodes  # noqa: PLC0415 - pymodbus 3.13 only

    class _ServerContext(datastore.ModbusServerContext):  # type: ignore[misc]
        def __init__(self, owner: ModbusBoard) -> None:  # no super(): it wants a datastore
            self.owner = owner
            self.simdevices: list[Any] = []
            self._devices: dict[int, Any] = {}

        def device_ids(self) -> list[int]:
            return [0]

        async def async_getValues(  # noqa: N802 - pymodbus's name
            self, device_id: int, func_code: int, address: int, count: int = 1
        ) -> Any:
            if not self.owner.valid(func_code, address, count):
                return ExcCodes.ILLEGAL_ADDRESS
            return await self.owner.read(address, count)

        async def async_setValues(  # noqa: N802 - pymodbus's name
            self, device_id: int, func_code: int, address: int, values: list[int]
        ) -> Any:
            if not self.owner.valid(func_code, address, len(values)):
                return ExcCodes.ILLEGAL_ADDRESS
            await self.owner.write_many(address, values)
            return None

    return _ServerContext, lambda context: context


class ModbusBoard:
    """The Modbus TCP server of one simulated Venus battery."""

    def __init__(self, board: Board, port: int, *, host: str = "127.0.0.1") -> None:
        """Serve board on host:port."""
        self.sim = board
        self.name = board.name
        self.host = host
        self.port = port
        self.silent = False
        self.write_delay_s = 0.0
        self._away_until = 0.0
        self._was_available = True
        context_class, wrap = _contexts()
        self._server = ModbusTcpServer(wrap(context_class(self)), address=(host, port))
        self._task: asyncio.Task[None] | None = None

    @property
    def answering(self) -> bool:
        """Whether requests get an answer (online, not booting, not silent)."""
        return self.sim.available and not self.silent and time.monotonic() >= self._away_until

    async def wait_answering(self) -> None:
        """Hold a request until the server answers again (the client times out first)."""
        while not self.answering:  # noqa: ASYNC110 - a time and two flags, not one event
            await asyncio.sleep(0.2)

    def valid(self, func_code: int, address: int, count: int) -> bool:
        """Only holding registers of the map: read (3), write one (6) or several (16)."""
        if func_code == 3:
            known = registers(self.sim)
            return all(a in known for a in range(address, address + count))
        if func_code in (6, 16):
            return all(a in WRITABLE for a in range(address, address + count))
        return False

    async def read(self, address: int, count: int) -> list[int]:
        """Read registers (a silent gateway never answers)."""
        await self.wait_answering()
        known = registers(self.sim)
        return [known.get(a, 0) for a in range(address, address + count)]

    async def write_many(self, address: int, values: Sequence[int | bool]) -> None:
        """Write registers through the board (a silent gateway never answers)."""
        await self.wait_answering()
        for offset, raw in enumerate(values):
            self.write(address + offset, int(raw))

    async def start(self) -> None:
        """Listen for Modbus TCP clients."""
        await self._server.serve_forever(background=True)
        LOGGER.info("%s: Modbus TCP on %s:%d", self.name, self.host, self.port)

    async def stop(self) -> None:
        """Stop listening and close every connection."""
        await self._server.shutdown()

    def write(self, address: int, raw: int) -> None:
        """Write one register through the board (ignored when the value is not valid)."""
        register, decode = WRITABLE[address]
        value = decode(raw)
        if value is None:
            LOGGER.warning("%s: %d is not a value of register %d", self.name, raw, address)
            return

        def apply() -> None:
            try:
                self.sim.write(register, value)
            except ValueError as err:
                LOGGER.warning("%s: write %d=%d refused: %s", self.name, address, raw, err)

        if self.write_delay_s > 0:
            asyncio.get_running_loop().call_later(self.write_delay_s, apply)
        else:
            apply()

    def drop(self, away_s: float = 0.0) -> None:
        """Close every client connection; answer nothing for away_s seconds."""
        self._away_until = max(self._away_until, time.monotonic() + away_s)
        for connection in list(self._server.active_connections.values()):
            connection.close()

    def reboot(self) -> None:
        """Reboot: connections drop, the battery is away, then reads as after a boot."""
        self.sim.reboot()
        self.drop(REBOOT_S)

    def step(self) -> None:
        """After a simulation step: a board going offline drops its connections."""
        available = self.sim.available
        if self._was_available and not available:
            self.drop()
        self._was_available = available
