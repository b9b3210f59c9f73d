"""Constants for the Marstek multi-battery strategy integration."""

from __future__ import annotations

from enum import StrEnum
import logging
from typing import Final

DOMAIN: Final = "marstek_strategy"
LOGGER = logging.getLogger(__package__)

# Hub (config entry) data.
CONF_GRID_SENSOR: Final = "grid_sensor"
CONF_PHASE_COUNT: Final = "phase_count"  # 1 or 3
CONF_PHASE_SENSORS: Final = ("phase_l1_sensor", "phase_l2_sensor", "phase_l3_sensor")
# Optional per-phase current sensors (A) for the phase limits' fuse (three-phase hubs).
CONF_PHASE_CURRENT_SENSORS: Final = (
    "phase_l1_current_sensor",
    "phase_l2_current_sensor",
    "phase_l3_current_sensor",
)

# Hub options (entry.options), with their defaults.
CONF_INTERVAL: Final = "interval"
CONF_SETTLE_DELAY: Final = "settle_delay"
CONF_STALE_TIMEOUT: Final = "stale_timeout"
CONF_REFRESH_METER: Final = "refresh_meter"
CONF_KEEPALIVE: Final = "keepalive"
CONF_DRY_RUN: Final = "dry_run"
CONF_PACE: Final = "pace"  # when cycles run: core/pace.Pace ("fixed" or "meter")

DEFAULT_INTERVAL: Final = 6.5
DEFAULT_SETTLE_DELAY: Final = 12.0
DEFAULT_STALE_TIMEOUT: Final = 30.0
DEFAULT_REFRESH_METER: Final = True
DEFAULT_KEEPALIVE: Final = 30.0
DEFAULT_DRY_RUN: Final = False
DEFAULT_PACE: Final = "fixed"

# Options shared by several features (wired by the features that use them).
CONF_MAIN_FUSE_A: Final = "main_fuse_a"  # per-phase main fuse, A (plausibility, phase limits)
CONF_PHASE_FEED_IN_LIMIT_W: Final = "phase_feed_in_limit_w"  # per-phase feed-in limit, W; 0 = none
CONF_STOP_BEHAVIOR: Final = "stop_behavior"  # what "stopped" means: see StopBehavior
DEFAULT_MAIN_FUSE_A: Final = 25.0
DEFAULT_PHASE_FEED_IN_LIMIT_W: Final = 0.0
# Quarter-hour peak cap (kW; 0 = off): the running quarter-hour average import (grid_mode.py).
CONF_PEAK_CAP_KW: Final = "peak_cap_kw"
DEFAULT_PEAK_CAP_KW: Final = 0.0


class StopBehavior(StrEnum):
    """What the integration leaves a battery in when the strategy stops driving it."""

    HOLD_STOPPED = "hold_stopped"  # forcible stop, RS485 control kept (the seed's behaviour)
    HAND_BACK = "hand_back"  # release RS485 control so the battery runs its own work mode


DEFAULT_STOP_BEHAVIOR: Final = StopBehavior.HOLD_STOPPED

DEFAULT_OPTIONS: Final[dict[str, float | bool | str]] = {
    CONF_INTERVAL: DEFAULT_INTERVAL,
    CONF_SETTLE_DELAY: DEFAULT_SETTLE_DELAY,
    CONF_STALE_TIMEOUT: DEFAULT_STALE_TIMEOUT,
    CONF_REFRESH_METER: DEFAULT_REFRESH_METER,
    CONF_KEEPALIVE: DEFAULT_KEEPALIVE,
    CONF_DRY_RUN: DEFAULT_DRY_RUN,
    CONF_STOP_BEHAVIOR: DEFAULT_STOP_BEHAVIOR.value,
    CONF_MAIN_FUSE_A: DEFAULT_MAIN_FUSE_A,
    CONF_PHASE_FEED_IN_LIMIT_W: DEFAULT_PHASE_FEED_IN_LIMIT_W,
    CONF_PEAK_CAP_KW: DEFAULT_PEAK_CAP_KW,
    CONF_PACE: DEFAULT_PACE,
}
# A new hub starts in dry run: nothing is written until the user turns dry run off.
NEW_HUB_OPTIONS: Final[dict[str, float | bool | str]] = {**DEFAULT_OPTIONS, CONF_DRY_RUN: True}

# The grid mode service (grid_mode.py) and its fields.
SERVICE_SET_GRID_MODE: Final = "set_grid_mode"
ATTR_CONFIG_ENTRY_ID: Final = "config_entry_id"
ATTR_MODE: Final = "mode"
ATTR_POWER: Final = "power"
ATTR_UNTIL: Final = "until"
ATTR_DURATION: Final = "duration"
ATTR_TARGET_SOC: Final = "target_soc"
ATTR_SOAK: Final = "soak"

# Battery subentries.
SUBENTRY_BATTERY: Final = "battery"
CONF_DEVICE_ID: Final = "device_id"
CONF_PHASE: Final = "phase"  # one of PHASES
CONF_CONNECTOR: Final = "connector"  # the connector profile's key (absent: ESPHome)
PHASES: Final = ("L1", "L2", "L3")


class Role(StrEnum):
    """A LilyGo entity's job for this integration; the key under which it is stored."""

    SOC = "soc_entity"
    FORCIBLE_MODE = "forcible_mode_entity"
    CHARGE_POWER = "charge_power_entity"
    DISCHARGE_POWER = "discharge_power_entity"
    RS485_MODE = "rs485_mode_entity"
    AC_POWER = "ac_power_entity"
    BATTERY_POWER = "battery_power_entity"  # DC side, positive while charging (learned.py)
    MAX_CHARGE_POWER = "max_charge_power_entity"
    MAX_DISCHARGE_POWER = "max_discharge_power_entity"
    CHARGE_CUTOFF = "charge_cutoff_entity"
    DISCHARGE_CUTOFF = "discharge_cutoff_entity"
    INVERTER_STATE = "inverter_state_entity"


REQUIRED_ROLES: Final = (
    Role.SOC,
    Role.FORCIBLE_MODE,
    Role.CHARGE_POWER,
    Role.DISCHARGE_POWER,
)
OPTIONAL_ROLES: Final = tuple(role for role in Role if role not in REQUIRED_ROLES)
