"""Constants of the development-only Marstek simulator."""

from __future__ import annotations

import logging
from typing import Final

DOMAIN: Final = "marstek_sim"
LOGGER = logging.getLogger(__package__)

CONF_SPEED: Final = "speed"
CONF_START_TIME: Final = "start_time"
CONF_PREFIX: Final = "prefix"
CONF_SEPARATOR: Final = "separator"
CONF_BATTERIES: Final = "batteries"
CONF_PHASE: Final = "phase"
CONF_SOC: Final = "soc"
CONF_POLL: Final = "poll_interval"
CONF_AC_POWER_INTERVAL: Final = "ac_power_interval"
CONF_SOC_INTERVAL: Final = "soc_interval"
CONF_RS485_TIMEOUT: Final = "rs485_timeout"
CONF_RS485_MODE: Final = "rs485_mode"
CONF_HOUSE_BASE: Final = "house_base_load"
CONF_PV_PEAK: Final = "pv_peak"
CONF_METER_NAME: Final = "meter_name"
#: How Home Assistant reaches the boards: "entities" (this integration's own entities, the fast
#: path), "esphome" (an ESPHome native API server per board, for HA's esphome integration) or
#: "modbus" (a Modbus TCP server per board, for HA's modbus integration).
CONF_BOARD_API: Final = "board_api"
#: The first board's server port (the others follow: +1, +2, ...).
CONF_API_PORT: Final = "api_port"
BOARD_APIS: Final = ("entities", "esphome", "modbus")

DEFAULT_BATTERIES: Final = [
    {"name": "LilyGo L1", "phase": "L1", "soc": 65.0},
    {"name": "LilyGo L2", "phase": "L2", "soc": 50.0},
    {"name": "LilyGo L3", "phase": "L3", "soc": 35.0},
]
