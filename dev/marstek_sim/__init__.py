"""Development-only simulator: LilyGo RS485 boards with Marstek batteries, a house, a P1 meter.

Not part of the product. ``scripts/develop`` and ``scripts/e2e`` link it into the dev
configuration's ``custom_components`` folder; the physics comes from ``bench.sim.battery``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
import importlib
import os
import time
from typing import Any

from homeassistant.config_entries import SOURCE_IMPORT, ConfigEntry
from homeassistant.const import CONF_NAME, EVENT_HOMEASSISTANT_FINAL_WRITE, Platform
from homeassistant.core import (
    Event,
    HomeAssistant,
    ServiceCall,
    ServiceResponse,
    SupportsResponse,
    callback,
)
from homeassistant.exceptions import ServiceValidationError
from homeassistant.helpers import config_validation as cv
from homeassistant.helpers.event import async_track_time_interval
from homeassistant.helpers.typing import ConfigType
from homeassistant.util import dt as dt_util
import voluptuous as vol

from .const import (
    BOARD_APIS,
    CONF_AC_POWER_INTERVAL,
    CONF_API_PORT,
    CONF_BATTERIES,
    CONF_BOARD_API,
    CONF_HOUSE_BASE,
    CONF_METER_NAME,
    CONF_PHASE,
    CONF_POLL,
    CONF_PREFIX,
    CONF_PV_PEAK,
    CONF_RS485_MODE,
    CONF_RS485_TIMEOUT,
    CONF_SEPARATOR,
    CONF_SOC,
    CONF_SOC_INTERVAL,
    CONF_SPEED,
    CONF_START_TIME,
    DEFAULT_BATTERIES,
    DOMAIN,
    LOGGER,
)
from .site import PHASES, Board, BoardConfig, House, Site

PLATFORMS = [Platform.NUMBER, Platform.SELECT, Platform.SENSOR]

BATTERY_SCHEMA = vol.Schema(
    {
        vol.Required(CONF_NAME): cv.string,
        vol.Required(CONF_PHASE): vol.In(PHASES),
        vol.Optional(CONF_SOC, default=50.0): vol.All(vol.Coerce(float), vol.Range(0, 100)),
        vol.Optional(CONF_POLL, default=5.0): vol.All(vol.Coerce(float), vol.Range(0.5, 60)),
        vol.Optional(CONF_AC_POWER_INTERVAL, default=10.0): vol.All(
            vol.Coerce(float), vol.Range(0.5, 60)
        ),
        vol.Optional(CONF_SOC_INTERVAL, default=60.0): vol.All(
            vol.Coerce(float), vol.Range(1, 600)
        ),
        vol.Optional(CONF_RS485_TIMEOUT, default=0.0): vol.All(
            vol.Coerce(float), vol.Range(0, 3600)
        ),
        vol.Optional(CONF_RS485_MODE, default="disable"): vol.In(("enable", "disable")),
        vol.Optional(CONF_PREFIX): str,
        vol.Optional(CONF_SEPARATOR): vol.In(("\u2044", "/", "-")),
    }
)
THREE_FLOATS = vol.All(vol.Length(3, 3), [vol.Coerce(float)])
CONFIG_SCHEMA = vol.Schema(
    {
        DOMAIN: vol.Schema(
            {
                vol.Optional(CONF_SPEED, default=1.0): vol.All(
                    vol.Coerce(float), vol.Range(0.1, 100)
                ),
                vol.Optional(CONF_START_TIME): cv.string,
                vol.Optional(CONF_PREFIX, default="Marstek "): str,
                vol.Optional(CONF_SEPARATOR, default="\u2044"): vol.In(("\u2044", "/", "-")),
                vol.Optional(CONF_METER_NAME, default="P1 meter"): cv.string,
                vol.Optional(CONF_BOARD_API, default="entities"): vol.In(BOARD_APIS),
                vol.Optional(CONF_API_PORT, default=6053): cv.port,
                vol.Optional(CONF_HOUSE_BASE, default=[180.0, 120.0, 150.0]): THREE_FLOATS,
                vol.Optional(CONF_PV_PEAK, default=[1200.0, 0.0, 0.0]): THREE_FLOATS,
                vol.Optional(CONF_BATTERIES, default=DEFAULT_BATTERIES): vol.All(
                    cv.ensure_list, [BATTERY_SCHEMA]
                ),
            }
        )
    },
    extra=vol.ALLOW_EXTRA,
)

BATTERY_OR_METER = vol.Any(vol.In((*PHASES, "meter")), cv.string)
SERVICE_SET_HOUSE = "set_house"
SERVICE_SET_SOC = "set_soc"
SERVICE_SET_AVAILABLE = "set_available"
SERVICE_GET_WRITES = "get_writes"
SERVICE_FAULT = "fault"
FAULTS = ("ignore_writes", "accept_writes", "app_start", "reboot")
#: Faults of the protocol servers (board_api esphome or modbus; see esphome_board.py and
#: modbus_board.py): the connection drops once, the server stops answering ("silent", a hung
#: board or a Modbus gateway that times out) until "answer", writes act "delay" s late.
PROTOCOL_FAULTS = ("drop_connection", "silent", "answer", "late_writes")
FAULT_SCHEMA = vol.Schema(
    {
        vol.Required("battery"): cv.string,
        vol.Required("fault"): vol.In(FAULTS + PROTOCOL_FAULTS),
        vol.Optional("power", default=800.0): vol.All(vol.Coerce(float), vol.Range(0, 2500)),
        vol.Optional("delay", default=8.0): vol.All(vol.Coerce(float), vol.Range(0, 120)),
    }
)
SET_HOUSE_SCHEMA = vol.Schema(
    {
        **{vol.Optional(f"load_{p.lower()}"): vol.Any(None, vol.Coerce(float)) for p in PHASES},
        **{vol.Optional(f"pv_{p.lower()}"): vol.Any(None, vol.Coerce(float)) for p in PHASES},
        vol.Optional("profile", default=False): cv.boolean,
    }
)
SET_SOC_SCHEMA = vol.Schema(
    {
        vol.Required("battery"): cv.string,
        vol.Required("soc"): vol.All(vol.Coerce(float), vol.Range(0, 100)),
    }
)
SET_AVAILABLE_SCHEMA = vol.Schema(
    {
        vol.Required("target"): BATTERY_OR_METER,
        vol.Required("available"): cv.boolean,
        # Meter only: false keeps the last values but stops reporting (a stale meter).
        vol.Optional("reporting", default=True): cv.boolean,
    }
)


@dataclass
class SimData:
    """The running site and the entities listening to it."""

    site: Site
    prefix: str
    separator: str
    meter_name: str
    #: "entities", "esphome" or "modbus" (const.CONF_BOARD_API).
    board_api: str = "entities"
    #: Board phase -> its protocol server (EsphomeBoard or ModbusBoard), if board_api has one.
    servers: dict[str, Any] = field(default_factory=dict)
    listeners: list[Callable[[], None]] = field(default_factory=list)

    @property
    def entity_boards(self) -> list[Board]:
        """The boards this integration gives entities (none when a protocol server does)."""
        return self.site.boards if self.board_api == "entities" else []

    @callback
    def async_add_listener(self, listener: Callable[[], None]) -> Callable[[], None]:
        """Call listener after every simulation step; return the remover."""
        self.listeners.append(listener)
        return lambda: self.listeners.remove(listener)


type SimConfigEntry = ConfigEntry[SimData]


async def async_setup(hass: HomeAssistant, config: ConfigType) -> bool:
    """Import the YAML configuration into the entry and register the services."""
    if DOMAIN in config:
        hass.async_create_task(
            hass.config_entries.flow.async_init(
                DOMAIN, context={"source": SOURCE_IMPORT}, data=dict(config[DOMAIN])
            )
        )
    _register_services(hass)
    return True


def _seconds_of_day(start_time: str | None) -> float:
    if start_time:
        hours, _, minutes = start_time.partition(":")
        return int(hours) * 3600.0 + int(minutes or 0) * 60.0
    now = dt_util.now()
    return now.hour * 3600.0 + now.minute * 60.0 + now.second


async def async_setup_entry(hass: HomeAssistant, entry: SimConfigEntry) -> bool:
    """Build the site and step it every second."""
    conf: dict[str, Any] = CONFIG_SCHEMA({DOMAIN: dict(entry.data)})[DOMAIN]
    boards = [
        Board(
            BoardConfig(
                name=battery[CONF_NAME],
                phase=battery[CONF_PHASE],
                soc=battery[CONF_SOC],
                poll_s=battery[CONF_POLL],
                ac_power_s=battery[CONF_AC_POWER_INTERVAL],
                soc_s=battery[CONF_SOC_INTERVAL],
                rs485_timeout_s=battery[CONF_RS485_TIMEOUT],
                rs485_mode=battery[CONF_RS485_MODE],
                prefix=battery.get(CONF_PREFIX),
                separator=battery.get(CONF_SEPARATOR),
            )
        )
        for battery in conf[CONF_BATTERIES]
    ]
    house = House(base_w=tuple(conf[CONF_HOUSE_BASE]), pv_peak_w=tuple(conf[CONF_PV_PEAK]))
    site = Site(
        boards,
        house,
        seconds_of_day=_seconds_of_day(conf.get(CONF_START_TIME)),
        speed=conf[CONF_SPEED],
    )
    # scripts/e2e --faults: a battery left running when Home Assistant went down, started as
    # the app starts one (no write of Home Assistant): MARSTEK_SIM_RUNNING_AT_START=L1:800.
    if running := os.environ.get("MARSTEK_SIM_RUNNING_AT_START"):
        phase, _, power = running.partition(":")
        site.board(phase).app_start(float(power or 800.0))
    data = SimData(
        site, conf[CONF_PREFIX], conf[CONF_SEPARATOR], conf[CONF_METER_NAME], conf[CONF_BOARD_API]
    )
    entry.runtime_data = data
    await _start_servers(hass, data, conf[CONF_API_PORT])
    entry.async_on_unload(lambda: hass.async_create_task(_stop_servers(data)))
    last = time.monotonic()

    @callback
    def _tick(_now: datetime) -> None:
        nonlocal last
        now = time.monotonic()
        site.step(min(now - last, 5.0))
        last = now
        for listener in list(data.listeners):
            listener()

    entry.async_on_unload(async_track_time_interval(hass, _tick, timedelta(seconds=1)))

    @callback
    def _final(_event: Event) -> None:
        # What each battery was left doing when Home Assistant stopped (scripts/e2e checks it).
        LOGGER.info(
            "Simulated batteries at shutdown: %s",
            ", ".join(f"{b.phase} {b.effective[0]} {b.effective[1]:.0f} W" for b in site.boards),
        )

    entry.async_on_unload(hass.bus.async_listen_once(EVENT_HOMEASSISTANT_FINAL_WRITE, _final))
    await hass.config_entries.async_forward_entry_setups(entry, PLATFORMS)
    LOGGER.info(
        "Simulating %d LilyGo boards at %.1fx speed: %s",
        len(boards),
        site.speed,
        ", ".join(f"{b.name} on {b.phase}" for b in boards),
    )
    return True


async def _start_servers(hass: HomeAssistant, data: SimData, base_port: int) -> None:
    """Start a protocol server per board (board_api esphome or modbus) on base_port + i."""
    if data.board_api == "entities":
        return
    # Imported only here (only these paths need aioesphomeapi or pymodbus), in the executor:
    # protobuf's first import blocks.
    module = await hass.async_add_import_executor_job(
        importlib.import_module, f".{data.board_api}_board", __package__
    )
    for index, board in enumerate(data.site.boards):
        prefix = data.prefix if board.config.prefix is None else board.config.prefix
        separator = data.separator if board.config.separator is None else board.config.separator
        server: Any
        if data.board_api == "esphome":
            server = module.EsphomeBoard(
                board, base_port + index, prefix=prefix, separator=separator, index=index
            )
        else:
            server = module.ModbusBoard(board, base_port + index)
        await server.start()
        data.servers[board.phase] = server
        data.listeners.append(server.step)


async def _stop_servers(data: SimData) -> None:
    for server in data.servers.values():
        await server.stop()


async def async_unload_entry(hass: HomeAssistant, entry: SimConfigEntry) -> bool:
    """Unload the platforms."""
    return await hass.config_entries.async_unload_platforms(entry, PLATFORMS)


def _site(hass: HomeAssistant) -> Site:
    entries = hass.config_entries.async_loaded_entries(DOMAIN)
    if not entries:
        raise ServiceValidationError("The Marstek simulator is not loaded")
    return entries[0].runtime_data.site


def _register_services(hass: HomeAssistant) -> None:
    @callback
    def set_house(call: ServiceCall) -> None:
        house = _site(hass).house
        if call.data["profile"]:
            house.manual_load = [None, None, None]
            house.manual_pv = [None, None, None]
        for index, phase in enumerate(PHASES):
            if (key := f"load_{phase.lower()}") in call.data:
                house.manual_load[index] = call.data[key]
            if (key := f"pv_{phase.lower()}") in call.data:
                house.manual_pv[index] = call.data[key]

    @callback
    def set_soc(call: ServiceCall) -> None:
        try:
            board = _site(hass).board(call.data["battery"])
        except KeyError as err:
            raise ServiceValidationError(f"No simulated battery {err}") from err
        board.set_soc(call.data["soc"])

    @callback
    def set_available(call: ServiceCall) -> None:
        site = _site(hass)
        if call.data["target"] == "meter":
            site.meter_available = call.data["available"]
            site.meter_reporting = call.data["reporting"]
            return
        try:
            site.board(call.data["target"]).available = call.data["available"]
        except KeyError as err:
            raise ServiceValidationError(f"No simulated battery {err}") from err

    @callback
    def fault(call: ServiceCall) -> None:
        try:
            board = _site(hass).board(call.data["battery"])
        except KeyError as err:
            raise ServiceValidationError(f"No simulated battery {err}") from err
        kind = call.data["fault"]
        server = hass.config_entries.async_loaded_entries(DOMAIN)[0].runtime_data.servers.get(
            board.phase
        )
        if kind in PROTOCOL_FAULTS and server is None:
            raise ServiceValidationError(f"{kind} needs board_api esphome or modbus")
        if kind in ("ignore_writes", "accept_writes"):
            board.ignore_writes = kind == "ignore_writes"
            if server is not None:
                server.write_delay_s = 0.0
        elif kind == "app_start":
            board.app_start(call.data["power"])
        elif kind == "reboot":
            if server is not None:
                server.reboot()
            else:
                board.reboot()
        elif kind == "drop_connection":
            server.drop()
        elif kind in ("silent", "answer"):
            server.silent = kind == "silent"
        else:
            server.write_delay_s = call.data["delay"]

    @callback
    def get_writes(call: ServiceCall) -> ServiceResponse:
        last = call.data["last"]
        return {
            board.phase: {
                "time": round(board.battery.time_s, 1),
                "count": board.write_count,
                "last": [
                    {"time": round(t, 1), "register": r, "value": v} for t, r, v in board.writes
                ][-last:]
                if last
                else [],
                "published": [
                    {"time": round(t, 1), "register": r, "value": v} for t, r, v in board.published
                ][-last:]
                if last
                else [],
                "app_started": board.app_started_s,
                "app_started_writes": board.app_started_writes,
                "effective_mode": board.effective[0],
                "effective_power": board.effective[1],
                "ac_power": round(board.battery.ac_power_w, 1),
                "soc": round(board.battery.soc_pct, 2),
            }
            for board in _site(hass).boards
        }

    hass.services.async_register(
        DOMAIN,
        SERVICE_GET_WRITES,
        get_writes,
        vol.Schema({vol.Optional("last", default=20): vol.All(int, vol.Range(0, 200))}),
        supports_response=SupportsResponse.ONLY,
    )
    hass.services.async_register(DOMAIN, SERVICE_SET_HOUSE, set_house, SET_HOUSE_SCHEMA)
    hass.services.async_register(DOMAIN, SERVICE_SET_SOC, set_soc, SET_SOC_SCHEMA)
    hass.services.async_register(DOMAIN, SERVICE_SET_AVAILABLE, set_available, SET_AVAILABLE_SCHEMA)
    hass.services.async_register(DOMAIN, SERVICE_FAULT, fault, FAULT_SCHEMA)
