"""Connector profiles, as data: how each way of connecting a Marstek shows its entities.

One entry per connector; a newcomer adds one. A profile is matched by what does not change
with the user's language or a rename: the entity registry's platform (the integration that
made the entity) and its translation key or unique-id suffix, names and entity ids only as a
fallback. It knows the connector's option words, the unit of a number that has none, whether
RS485 control is a select or a switch, the power step, whether a write can fail without an
error (then only the read-back confirms it), its polling period (the read-back's grace follows
it) and which control entities it creates disabled.

Sources (public, read December 2026): the ESPHome configs of fonske, declercqjp, Blerk666 and
whyisthisbroken; the v3 LAN-port modbus YAML packages and the HBC ``marstek_mN_*`` entities;
ViperRNMC/marstek_venus_modbus (``registers/*.yaml``, ``translations/*.json``, number.py,
switch.py, coordinator.py). See docs/connectors.md.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Final

from homeassistant.const import ATTR_UNIT_OF_MEASUREMENT, PERCENTAGE, UnitOfPower
from homeassistant.core import State, split_entity_id

from ..const import Role
from ..core.connector import SWITCH_OPTIONS, Vocabulary, readback_grace_s
from ..core.control import RS485_DISABLE_OPTION, RS485_ENABLE_OPTION, match_option
from ..core.model import Mode
from .lilygo import ROLE_SLUGS

READBACK_GRACE_S: Final = 15.0  # the read-back's grace for a connector that reads often

# The slugs the ESPHome configs' names give (after an optional "Marstek " prefix); the modbus
# YAML packages use the same words in their object ids (marstek_m1_<slug>).
LILYGO_KEYS: Final = ROLE_SLUGS
POWER_NUMBERS: Final = (
    Role.CHARGE_POWER,
    Role.DISCHARGE_POWER,
    Role.MAX_CHARGE_POWER,
    Role.MAX_DISCHARGE_POWER,
)
CUTOFF_NUMBERS: Final = (Role.CHARGE_CUTOFF, Role.DISCHARGE_CUTOFF)


@dataclass(frozen=True, slots=True)
class Profile:
    """How one connector shows a battery in Home Assistant.

    keys: role -> (entity domain, key), the key being the translation key or unique-id
    suffix where the connector sets them (``by_key``), else the slug of the name or object id.
    unitless: the unit a number of that role is in when it has none.
    """

    key: str
    name: str
    platforms: tuple[str, ...]  # the integrations (registry platforms) that make its entities
    keys: Mapping[Role, tuple[str, str]]
    by_key: bool  # matched on translation key / unique-id suffix (else on names)
    device: bool  # a battery is a device (else a group of entities by object-id prefix)
    work_mode_key: str | None = "user_work_mode"
    vocabulary: Vocabulary = field(default_factory=Vocabulary)
    unitless: Mapping[Role, str] = field(default_factory=dict)
    power_step_w: float | None = None  # where the number does not say its step
    silent_write_failures: bool = False  # a failed write returns without an error
    poll_s: float = 5.0  # how often the connector reads the battery's control registers
    # Longest silence of all its measured sensors (AC power, battery power, SoC, inverter
    # state) after it was told a change before its readings count as frozen (core/frozen.py).
    frozen_s: float = 60.0
    # Longest silence of them all while it runs without a change (None: frozen_s, for an
    # integration that rewrites every poll, unchanged values too).
    steady_s: float | None = None
    disabled_by_default: frozenset[Role] = frozenset()
    fault_checked: bool = True  # its Inverter State can read "Fault"

    @property
    def readback_grace_s(self) -> float:
        """Return how long a report may lag a write on this connector."""
        return readback_grace_s(self.poll_s, READBACK_GRACE_S)

    def domain(self, role: Role) -> str:
        """Return the domain of the role's entity on this connector."""
        return self.keys[role][0]


ESPHOME: Final = Profile(
    key="esphome",
    name="ESPHome",
    platforms=("esphome",),
    keys=LILYGO_KEYS,
    by_key=False,
    device=True,
    poll_s=5.0,
    # Home Assistant's ESPHome client drops a value equal to the last one (unless the sensor
    # has force_update), so a report is a changed value; AC power is read every 4 to 15 s and
    # a running inverter's power moves. A hung board is marked unavailable after about 126 s.
    frozen_s=60.0,
    # Held at a steady setpoint its readings may not change for minutes: judged only after
    # 15 min (a board whose RS485 side hangs while its setpoint is pinned stays "available").
    steady_s=900.0,
)
MODBUS_YAML: Final = Profile(
    key="modbus_yaml",
    name="Modbus YAML",
    platforms=("modbus", "template"),
    keys=LILYGO_KEYS,
    by_key=False,
    device=False,
    # A template number often has no unit: the packages' powers are W, their cutoffs %.
    unitless={
        **dict.fromkeys(POWER_NUMBERS, UnitOfPower.WATT),
        **dict.fromkeys(CUTOFF_NUMBERS, PERCENTAGE),
    },
    # The mode select's state follows a sensor of register 42010 (up to 15 s after a write).
    poll_s=15.0,
    # The modbus integration writes every scan (an unchanged value too) and makes a sensor
    # unavailable when its read fails; scan intervals of up to a minute are common.
    frozen_s=120.0,
)
MARSTEK_MODBUS: Final = Profile(
    key="marstek_modbus",
    name="Marstek Venus Modbus",
    platforms=("marstek_modbus", "marstek_venus_modbus"),
    keys={
        Role.SOC: ("sensor", "battery_soc"),
        Role.FORCIBLE_MODE: ("select", "force_mode"),
        Role.CHARGE_POWER: ("number", "set_charge_power"),
        Role.DISCHARGE_POWER: ("number", "set_discharge_power"),
        Role.RS485_MODE: ("switch", "rs485_control_mode"),
        Role.AC_POWER: ("sensor", "ac_power"),
        Role.BATTERY_POWER: ("sensor", "battery_power"),
        Role.MAX_CHARGE_POWER: ("number", "max_charge_power"),
        Role.MAX_DISCHARGE_POWER: ("number", "max_discharge_power"),
        Role.CHARGE_CUTOFF: ("number", "charging_cutoff_capacity"),
        Role.DISCHARGE_CUTOFF: ("number", "discharging_cutoff_capacity"),
        Role.INVERTER_STATE: ("sensor", "inverter_state"),
    },
    by_key=True,
    device=True,
    vocabulary=Vocabulary({"stop": "standby", "anti-feed": "anti_feed"}),
    unitless={
        **dict.fromkeys(POWER_NUMBERS, UnitOfPower.WATT),
        **dict.fromkeys(CUTOFF_NUMBERS, PERCENTAGE),
    },
    power_step_w=50.0,
    silent_write_failures=True,  # its writes log and return; the state is set optimistically
    poll_s=10.0,  # the "high" scan interval
    # Its coordinator rewrites every sensor at each tick (its shortest scan interval, up to
    # 60 s), after a failed read too: its reports go on with old values (not seen here).
    frozen_s=120.0,
    disabled_by_default=frozenset(
        {
            Role.FORCIBLE_MODE,
            Role.CHARGE_POWER,
            Role.DISCHARGE_POWER,
            Role.RS485_MODE,
            Role.MAX_CHARGE_POWER,
            Role.MAX_DISCHARGE_POWER,
            Role.CHARGE_CUTOFF,
            Role.DISCHARGE_CUTOFF,
        }
    ),
    fault_checked=False,  # Sleep, Standby, Charge, Discharge, Backup Mode, OTA Upgrade, Bypass
)
PROFILES: Final[tuple[Profile, ...]] = (ESPHOME, MODBUS_YAML, MARSTEK_MODBUS)
# The options the integration reads in a role's select: a board's spelling of one of them
# (``Enable``, as the writer matches it tolerantly) is read as it.
CANONICAL_OPTIONS: Final[dict[Role, tuple[str, ...]]] = {
    Role.FORCIBLE_MODE: tuple(mode.value for mode in Mode),
    Role.RS485_MODE: (RS485_ENABLE_OPTION, RS485_DISABLE_OPTION),
}
BY_KEY: Final[dict[str, Profile]] = {profile.key: profile for profile in PROFILES}


def profile_named(key: str | None) -> Profile:
    """Return the profile of a key stored with a battery (absent or unknown: ESPHome)."""
    return BY_KEY.get(key or "", ESPHOME)


def profile_of_platform(platform: str | None) -> Profile | None:
    """Return the profile of the integration that made an entity, if any."""
    return next((p for p in PROFILES if platform in p.platforms), None)


def role_domains(role: Role) -> tuple[str, ...]:
    """Return every domain a role's entity has on some connector (the picker's filter)."""
    return tuple(dict.fromkeys(profile.domain(role) for profile in PROFILES))


def canonical_attributes(
    profile: Profile, role: Role, domain: str, attributes: Mapping[str, Any]
) -> dict[str, Any]:
    """Return a battery entity's attributes in the integration's words.

    The select's options in the canonical vocabulary, a switch's as enable/disable, a
    number's missing unit (and a power number's missing step) from the profile.
    """
    canonical = dict(attributes)
    if domain == "switch":
        canonical["options"] = list(SWITCH_OPTIONS)
    elif domain == "select":
        if isinstance(options := canonical.get("options"), list):
            canonical["options"] = profile.vocabulary.canonical_options(options)
    elif domain == "number":
        if canonical.get(ATTR_UNIT_OF_MEASUREMENT) is None and role in profile.unitless:
            canonical[ATTR_UNIT_OF_MEASUREMENT] = profile.unitless[role]
        if canonical.get("step") is None and profile.power_step_w and role in POWER_NUMBERS:
            canonical["step"] = profile.power_step_w
    return canonical


def canonical_state(profile: Profile, role: Role | None, state: State | None) -> State | None:
    """Return a battery entity's state in the integration's words (the same object if equal).

    The mode select's option (``standby`` -> ``stop``), RS485 control as a switch (on/off ->
    enable/disable), and the attributes as ``canonical_attributes`` gives them.
    """
    if state is None or role is None:
        return state
    domain = split_entity_id(state.entity_id)[0]
    value = state.state
    if domain == "switch":
        switch = {native: canonical for canonical, native in SWITCH_OPTIONS.items()}
        value = switch.get(value, value)
    elif domain == "select":
        value = profile.vocabulary.canonical(value)
        if (known := CANONICAL_OPTIONS.get(role)) is not None and value not in known:
            # Either word, in another spelling (``Standby`` for the connector's ``standby``).
            spelled = {
                spelling: option
                for option in known
                for spelling in (option, profile.vocabulary.native(option))
            }
            matched = match_option(value, list(spelled))
            value = value if matched is None else spelled[matched]
    attributes = canonical_attributes(profile, role, domain, state.attributes)
    if value == state.state and attributes == dict(state.attributes):
        return state
    return State(
        state.entity_id,
        value,
        attributes,
        last_changed=state.last_changed,
        last_reported=state.last_reported,
        last_updated=state.last_updated,
        context=state.context,
        validate_entity_id=False,
    )
