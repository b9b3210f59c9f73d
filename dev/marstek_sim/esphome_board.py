"""A LilyGo board as Home Assistant's ``esphome`` integration sees it: the ESPHome native API.

Development only. One :class:`EsphomeBoard` is an asyncio TCP server (plaintext, no password)
in front of one simulated :class:`~.site.Board`. It answers the native API with the message
definitions of the ``aioesphomeapi`` package (its ``api_pb2`` messages and the message numbers
of ``aioesphomeapi.core``) in plaintext frames (0x00, varint length, varint type), as an
ESPHome firmware built from the common LilyGo configuration does: device info, the entity list
(names, options, units, min/max/step of ``../shared/marstek-facts.md``), state pushes on the
board's poll cadence (a select or number shows a write at the next register read, AC Power and
Battery Power on the power cadence), select and number commands. So Home Assistant's own client
decides the entity ids, the units it shows, availability and reconnection.

Faults at the protocol level (``marstek_sim.fault`` and ``marstek_sim.set_available``):

- offline (``set_available`` false): open connections are closed and new ones refused, as a
  board whose WiFi is gone; the battery keeps its last setpoint;
- ``drop_connection``: the TCP connection is closed once; the board answers again at once;
- ``reboot``: the connection drops, the board is away for :data:`REBOOT_S`, then its selects
  read as after a boot (RS485 ``unknown``, stop, 0 W);
- ``silent``: the board stops answering but keeps the connection open (a half-open TCP
  connection); the client notices only through its own keep-alive; ``answer`` ends it;
- ``late_writes``: commands reach the battery ``delay`` seconds late; ``accept_writes`` ends it.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
import logging
import time
from typing import Any

from aioesphomeapi import api_pb2
from aioesphomeapi.core import MESSAGE_TYPE_TO_PROTO

from .site import NUMBER_RANGES, SELECT_OPTIONS, Board

LOGGER = logging.getLogger(__name__)

#: Seconds a rebooting board does not answer (an ESP32 with WiFi needs about 5 s).
REBOOT_S = 5.0
#: The API version the firmware announces (ESPHome 2025.x announces 1.10 and higher).
API_VERSION = (1, 10)
ESPHOME_VERSION = "2025.3.3"

TYPE_OF: dict[type[Any], int] = {cls: number for number, cls in MESSAGE_TYPE_TO_PROTO.items()}
STATE_CLASS_MEASUREMENT = 1


@dataclass(frozen=True)
class EntitySpec:
    """One entity of the LilyGo configuration: what it is and which register it shows."""

    kind: str  # sensor, select, number
    register: str  # the Board's register (or reported value) it shows
    name: str  # without the "Marstek " prefix
    unit: str = ""
    device_class: str = ""
    accuracy: int = 0
    icon: str = ""


#: The entities of the common LilyGo configuration (fonske lilygo-rs485.yaml), in its order.
ENTITIES: tuple[EntitySpec, ...] = (
    EntitySpec("sensor", "soc", "Battery State Of Charge", "%", "battery"),
    EntitySpec("sensor", "ac_power", "AC Power", "W", "power"),
    EntitySpec("sensor", "battery_power", "Battery Power", "W", "power"),
    EntitySpec("sensor", "total_energy", "Battery Total Energy", "kWh", "energy_storage", 3),
    EntitySpec("select", "rs485_mode", "RS485 Control Mode", icon="mdi:connection"),
    EntitySpec("select", "forcible_mode", "Forcible Charge\u2044Discharge"),
    EntitySpec("select", "work_mode", "User Work Mode", icon="mdi:auto-mode"),
    EntitySpec("number", "charge_power", "Forcible Charge Power", "W"),
    EntitySpec("number", "discharge_power", "Forcible Discharge Power", "W"),
    EntitySpec("number", "max_charge_power", "Max. Charge Power", "W"),
    EntitySpec("number", "max_discharge_power", "Max. Discharge Power", "W"),
    EntitySpec("number", "charge_cutoff", "Charging Cutoff Capacity", "%"),
    EntitySpec("number", "discharge_cutoff", "Discharging Cutoff Capacity", "%"),
)


def message(cls: type[Any], **fields: Any) -> Any:
    """Build a message, leaving out fields this aioesphomeapi release does not define."""
    known = cls.DESCRIPTOR.fields_by_name
    return cls(**{k: v for k, v in fields.items() if k in known})


def object_id(name: str) -> str:
    """ESPHome's object id: lowercase, every character but a-z, 0-9, - and _ becomes _."""
    return "".join(c if c.isascii() and (c.isalnum() or c in "-_") else "_" for c in name.lower())


def varuint(value: int) -> bytes:
    """A protobuf varint: 7 bits a byte, low bits first, the high bit set on all but the last."""
    out = bytearray()
    while value > 0x7F:
        out.append(value & 0x7F | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def frame(msg: Any) -> bytes:
    """One plaintext frame: 0x00, varint length, varint message type, the message."""
    data = msg.SerializeToString()
    return b"\x00" + varuint(len(data)) + varuint(TYPE_OF[type(msg)]) + data


async def _read_varuint(reader: asyncio.StreamReader) -> int:
    result = shift = 0
    while True:
        byte = (await reader.readexactly(1))[0]
        result |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return result
        shift += 7


class _Connection:
    """One API client (Home Assistant) connected to the board."""

    def __init__(
        self, board: EsphomeBoard, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        self.board = board
        self.reader = reader
        self.writer = writer
        self.subscribed = False

    def send(self, *messages: Any) -> None:
        if self.board.silent or self.writer.is_closing():
            return
        self.writer.write(b"".join(frame(m) for m in messages))

    def close(self) -> None:
        if not self.writer.is_closing():
            self.writer.close()

    async def serve(self) -> None:
        try:
            while True:
                if (await self.reader.readexactly(1)) != b"\x00":
                    LOGGER.warning("%s: not a plaintext frame; closing", self.board.name)
                    return
                length = await _read_varuint(self.reader)
                kind = await _read_varuint(self.reader)
                data = await self.reader.readexactly(length)
                if self.board.silent:
                    continue  # a board that hangs reads and answers nothing
                cls = MESSAGE_TYPE_TO_PROTO.get(kind)
                if cls is None:
                    continue
                msg = cls()
                msg.ParseFromString(data)
                if not self.handle(msg):
                    return
        except (asyncio.IncompleteReadError, ConnectionError):
            return
        finally:
            self.close()

    def handle(self, msg: Any) -> bool:
        """Answer one request; False ends the connection."""
        board = self.board
        name = type(msg).__name__
        if name == "HelloRequest":
            self.send(
                message(
                    api_pb2.HelloResponse,
                    api_version_major=API_VERSION[0],
                    api_version_minor=API_VERSION[1],
                    server_info=f"{board.node_name} (esphome v{ESPHOME_VERSION})",
                    name=board.node_name,
                )
            )
        elif name in ("ConnectRequest", "AuthenticationRequest"):
            response = getattr(api_pb2, name.replace("Request", "Response"))
            self.send(message(response, invalid_password=False))
        elif name == "DeviceInfoRequest":
            self.send(board.device_info())
        elif name == "ListEntitiesRequest":
            self.send(*board.list_entities(), api_pb2.ListEntitiesDoneResponse())
        elif name == "SubscribeStatesRequest":
            self.subscribed = True
            self.send(*board.states(everything=True))
        elif name == "PingRequest":
            self.send(api_pb2.PingResponse())
        elif name == "DisconnectRequest":
            self.send(api_pb2.DisconnectResponse())
            return False
        elif name == "GetTimeRequest":
            self.send(message(api_pb2.GetTimeResponse, epoch_seconds=int(time.time())))
        elif name in ("SelectCommandRequest", "NumberCommandRequest"):
            board.command(msg.key, msg.state)
        # Logs, Home Assistant states and services, Bluetooth: this board has none to give.
        return True


class EsphomeBoard:
    """The native API server of one simulated LilyGo board."""

    def __init__(
        self,
        board: Board,
        port: int,
        *,
        prefix: str,
        separator: str,
        index: int,
        host: str = "127.0.0.1",
    ) -> None:
        """Serve board on host:port; entity names are ``<prefix><name>``."""
        self.sim = board
        self.name = board.name
        self.node_name = object_id(board.name).replace("_", "-")
        self.host = host
        self.port = port
        self.mac = f"02:00:00:00:4C:{index + 1:02X}"
        self.entities = dict(enumerate(ENTITIES, start=1))  # key 0 is not a valid key
        self.names = {
            key: f"{prefix}{spec.name}".replace("\u2044", separator)
            for key, spec in self.entities.items()
        }
        self._server: asyncio.Server | None = None
        self._connections: set[_Connection] = set()
        self._tasks: set[asyncio.Task[None]] = set()
        self._away_until = 0.0
        self._polls = -1
        self._power_reads = -1
        self.silent = False
        self.write_delay_s = 0.0
        self._loop: asyncio.AbstractEventLoop | None = None

    # ------------------------------------------------------------------ server
    async def start(self) -> None:
        """Listen for API clients."""
        self._loop = asyncio.get_running_loop()
        self._server = await asyncio.start_server(self._accept, self.host, self.port)
        LOGGER.info("%s: ESPHome native API on %s:%d", self.name, self.host, self.port)

    async def stop(self) -> None:
        """Close every connection and stop listening."""
        for connection in list(self._connections):
            connection.close()
        for task in list(self._tasks):
            task.cancel()
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()

    @property
    def answering(self) -> bool:
        """Whether the board accepts connections (online and not booting)."""
        return self.sim.available and time.monotonic() >= self._away_until

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if not self.answering:
            writer.close()  # offline: as good as refused
            return
        connection = _Connection(self, reader, writer)
        self._connections.add(connection)
        try:
            await connection.serve()
        finally:
            self._connections.discard(connection)

    def drop(self, away_s: float = 0.0) -> None:
        """Close every connection; refuse new ones for away_s seconds."""
        self._away_until = max(self._away_until, time.monotonic() + away_s)
        for connection in list(self._connections):
            connection.close()

    def reboot(self) -> None:
        """Reboot: the connection drops, the board is away, then reads as after a boot."""
        self.sim.reboot()
        self.drop(REBOOT_S)

    # ------------------------------------------------------------------ API content
    def device_info(self) -> Any:
        """The DeviceInfoResponse of a LilyGo T-CAN485 running the common configuration."""
        return message(
            api_pb2.DeviceInfoResponse,
            uses_password=False,
            name=self.node_name,
            friendly_name=self.name,
            mac_address=self.mac,
            esphome_version=ESPHOME_VERSION,
            compilation_time="Mar 30 2025, 12:00:00",
            model="esp32dev",
            manufacturer="Espressif",
            project_name="fonske.MarstekVenus-LilygoRS485",
            project_version="1.0",
            has_deep_sleep=False,
        )

    def list_entities(self) -> list[Any]:
        """One ListEntities response per entity."""
        out = []
        for key, spec in self.entities.items():
            name = self.names[key]
            common = {
                "object_id": object_id(name),
                "key": key,
                "name": name,
                "unique_id": f"{self.node_name}{spec.kind}{object_id(name)}",
                "icon": spec.icon,
            }
            if spec.kind == "sensor":
                out.append(
                    message(
                        api_pb2.ListEntitiesSensorResponse,
                        **common,
                        unit_of_measurement=spec.unit,
                        accuracy_decimals=spec.accuracy,
                        device_class=spec.device_class,
                        state_class=STATE_CLASS_MEASUREMENT,
                    )
                )
            elif spec.kind == "select":
                out.append(
                    message(
                        api_pb2.ListEntitiesSelectResponse,
                        **common,
                        options=list(SELECT_OPTIONS[spec.register]),
                    )
                )
            else:
                low, high = NUMBER_RANGES[spec.register]
                out.append(
                    message(
                        api_pb2.ListEntitiesNumberResponse,
                        **common,
                        min_value=low,
                        max_value=high,
                        step=1.0,
                        unit_of_measurement=spec.unit,
                    )
                )
        return out

    def _value(self, spec: EntitySpec) -> Any:
        if spec.register == "total_energy":
            return self.sim.battery.params.capacity_wh / 1000.0
        value = self.sim.reported[spec.register]
        if spec.register in ("ac_power", "battery_power") and value:
            # A running inverter's measured power moves a watt or more from read to read; the
            # simulation's settles exactly, and Home Assistant's ESPHome client drops a value
            # equal to the last one: a steady battery would look hung (core/frozen.py).
            value += 1 if self.sim.power_reads % 2 else -1
        return value

    def states(
        self, *, everything: bool = False, registers: bool = True, powers: bool = True
    ) -> list[Any]:
        """State messages: every entity, or those the board has just read."""
        out = []
        for key, spec in self.entities.items():
            power = spec.register in ("ac_power", "battery_power")
            if not everything and not (powers if power else registers):
                continue
            value = self._value(spec)
            if spec.kind == "sensor":
                out.append(message(api_pb2.SensorStateResponse, key=key, state=float(value)))
            elif spec.kind == "select":
                known = value in SELECT_OPTIONS[spec.register]
                out.append(
                    message(
                        api_pb2.SelectStateResponse,
                        key=key,
                        state=value if known else "",
                        missing_state=not known,
                    )
                )
            else:
                out.append(message(api_pb2.NumberStateResponse, key=key, state=float(value)))
        return out

    def command(self, key: int, value: Any) -> None:
        """A select or number command: the board writes the register (late, if so set)."""
        spec = self.entities.get(key)
        if spec is None or spec.kind == "sensor":
            return
        if spec.kind == "number":
            value = float(value)

        def write() -> None:
            try:
                self.sim.write(spec.register, value)
            except ValueError as err:  # ESPHome clamps or drops what the register refuses
                LOGGER.warning("%s: write %s=%r refused: %s", self.name, spec.register, value, err)

        if self.write_delay_s > 0 and self._loop is not None:
            self._loop.call_later(self.write_delay_s, write)
        else:
            write()

    def step(self) -> None:
        """After a simulation step: push what the board read since the last step."""
        if not self.sim.available and self._connections:
            self.drop()
        registers = self.sim.polls != self._polls
        powers = self.sim.power_reads != self._power_reads
        self._polls, self._power_reads = self.sim.polls, self.sim.power_reads
        if not (registers or powers):
            return
        states = self.states(registers=registers, powers=powers)
        for connection in list(self._connections):
            if connection.subscribed:
                connection.send(*states)
