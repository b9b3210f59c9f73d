"""Issue 20, the pure parts: a connector's words and steps, its read-back, the Open API figure.

core/connector.py (vocabulary, snap, grace), adapters/profiles.py (a state in the
integration's words), and the read-back's rule for writes that fail without an error.
"""

from __future__ import annotations

import math

from homeassistant.core import State
from hypothesis import given, strategies as st

from custom_components.marstek_strategy.adapters.profiles import (
    ESPHOME,
    MARSTEK_MODBUS,
    MODBUS_YAML,
    PROFILES,
    canonical_state,
    profile_named,
    role_domains,
)
from custom_components.marstek_strategy.const import Role
from custom_components.marstek_strategy.core import readback
from custom_components.marstek_strategy.core.connector import Vocabulary, readback_grace_s, snap
from custom_components.marstek_strategy.core.control import Commanded
from custom_components.marstek_strategy.core.model import Mode


def test_vocabulary_both_ways() -> None:
    """standby is stop, anti_feed is anti-feed; what it does not map is the same word."""
    words = MARSTEK_MODBUS.vocabulary
    assert words.native("stop") == "standby"
    assert words.canonical("standby") == "stop"
    assert words.native("charge") == "charge"
    assert words.native("anti-feed") == "anti_feed"
    assert words.canonical_options(["standby", "charge", "discharge"]) == [
        "stop",
        "charge",
        "discharge",
    ]
    # A hand-picked entity that offers the canonical word and not the mapped one gets it.
    assert words.native("stop", ["stop", "charge", "discharge"]) == "stop"
    assert Vocabulary().native("stop") == "stop"


@given(st.sampled_from(PROFILES), st.sampled_from(["stop", "charge", "discharge", "anti-feed"]))
def test_vocabulary_round_trip(profile: object, word: str) -> None:
    """Every profile's words translate back to the word they came from."""
    assert isinstance(profile, type(ESPHOME))
    assert profile.vocabulary.canonical(profile.vocabulary.native(word)) == word


def test_snap_steps() -> None:
    """Told 123 W in steps of 50: 100 W (down: never more than planned); the writer rounds."""
    assert snap(123, 0, 2500, 50, down=True) == 100
    assert snap(149.9, 0, 2500, 50, down=True) == 100
    assert snap(150, 0, 2500, 50, down=True) == 150
    assert snap(630, 0, 2500, 50) == 650  # the writer's rounding of an exact value: as before
    assert snap(3000, 0, 2500, 50, down=True) == 2500
    assert math.isclose(snap(1.148, 0, 2.5, 0.001, down=True), 1.148)  # kW in steps of 1 W
    assert snap(616.4, None, None, None) == 616.4


@given(
    st.floats(0, 5000, allow_nan=False),
    st.sampled_from([1.0, 5.0, 50.0, 100.0]),
    st.sampled_from([0.0, 10.0]),
)
def test_snap_down_properties(value: float, step: float, low: float) -> None:
    """Down to a step: never above the value (within range), on a step, and stable."""
    high = 2500.0
    told = snap(value, low, high, step, down=True)
    assert low <= told <= high
    if low <= value <= high:
        assert told <= value + 1e-6
        assert value - told < step + 1e-6
    if told < high:  # the max itself need not be on a step
        assert math.isclose((told - low) / step, round((told - low) / step), abs_tol=1e-6)
    assert snap(told, low, high, step, down=True) == told


def test_grace_follows_polling() -> None:
    """A report lags a write by up to two polls; ESPHome keeps its 15 s."""
    assert readback_grace_s(5, 15) == 15
    assert ESPHOME.readback_grace_s == 15
    assert MARSTEK_MODBUS.readback_grace_s == 20
    assert MODBUS_YAML.readback_grace_s == 30


def test_profiles_as_data() -> None:
    """One entry per connector; unknown keys are ESPHome; RS485 control may be a switch."""
    assert profile_named(None) is ESPHOME
    assert profile_named("nonsense") is ESPHOME
    assert profile_named("marstek_modbus") is MARSTEK_MODBUS
    assert role_domains(Role.RS485_MODE) == ("select", "switch")
    assert role_domains(Role.SOC) == ("sensor",)
    for profile in PROFILES:
        assert set(profile.keys) == set(Role), profile.key
    assert Role.FORCIBLE_MODE in MARSTEK_MODBUS.disabled_by_default
    assert MARSTEK_MODBUS.silent_write_failures
    assert not ESPHOME.silent_write_failures


def test_canonical_state() -> None:
    """A state in the integration's words: options, a switch, a number without a unit."""
    mode = State("select.m", "standby", {"options": ["standby", "charge", "discharge"]})
    canonical = canonical_state(MARSTEK_MODBUS, Role.FORCIBLE_MODE, mode)
    assert canonical is not None
    assert canonical.state == "stop"
    assert canonical.attributes["options"] == ["stop", "charge", "discharge"]
    switch = canonical_state(MARSTEK_MODBUS, Role.RS485_MODE, State("switch.r", "on"))
    assert switch is not None
    assert switch.state == "enable"
    number = State("number.c", "100", {"min": 0, "max": 2500})
    power = canonical_state(MARSTEK_MODBUS, Role.CHARGE_POWER, number)
    assert power is not None
    assert power.attributes["unit_of_measurement"] == "W"
    assert power.attributes["step"] == 50
    cutoff = canonical_state(MARSTEK_MODBUS, Role.CHARGE_CUTOFF, State("number.x", "90", {}))
    assert cutoff is not None
    assert cutoff.attributes["unit_of_measurement"] == "%"
    same = State("select.m", "stop", {"options": ["stop", "charge", "discharge"]})
    assert canonical_state(ESPHOME, Role.FORCIBLE_MODE, same) is same  # ESPHome: untouched
    assert canonical_state(ESPHOME, None, same) is same
    assert canonical_state(ESPHOME, Role.SOC, None) is None


def _silent(limit: int) -> list[readback.Check]:
    """Told charge 500 W every cycle; the battery keeps showing standby (stop)."""
    settings = readback.ReadbackSettings(grace_s=20, redrift_limit=limit)
    told = Commanded(Mode.CHARGE, 500, 0, True)
    shows = readback.Report(mode="stop", charge_w=500, discharge_w=0, rs485="enable")
    track, checks = readback.Track(), []
    for cycle in range(40):
        result = readback.check(told, shows, track, cycle * 6.5, settings)
        checks.append(result)
        # The policy writes charge again; it "succeeds" (silently fails): told again.
        track = result.track
    return checks


def test_writes_failing_silently_exclude_the_battery() -> None:
    """Adopted three times without once showing what it was told: not responding.

    Without the rule (limit 0, ESPHome) such a battery is corrected for ever and never out.
    """
    checks = _silent(3)
    adopted = [i for i, c in enumerate(checks) if c.adopt is not None]
    excluded = [i for i, c in enumerate(checks) if c.exclude is readback.Problem.NOT_RESPONDING]
    assert len(adopted) >= 3
    assert excluded
    assert excluded[0] >= adopted[2]
    assert readback.Event.NOT_RESPONDING in checks[excluded[0]].events
    assert not [c for c in _silent(0) if c.exclude is not None]


def _unseen_s(poll_s: float, interval_s: float = 6.5) -> float:
    """Seconds the read-back needs, at worst, to see a battery that silently left its setpoint.

    Told to discharge 800 W for long; at some moment within a poll it delivers 0 W. Its AC
    power is read every poll_s (between polls the last value read is reported); the cycle
    runs every interval_s with the grace of that connector's polling.
    """
    return max(_unseen_once(poll_s, interval_s, 1000.0 + k) for k in range(int(poll_s) + 1))


def _unseen_once(poll_s: float, interval_s: float, left: float) -> float:
    settings = readback.ReadbackSettings(grace_s=readback_grace_s(poll_s, 15.0))
    told = Commanded(Mode.DISCHARGE, 0, 800, True)
    track = readback.Track()
    now = 0.0
    while now < 5000:
        last_poll = math.floor(now / poll_s) * poll_s
        ac = 800.0 if last_poll < left else 0.0
        report = readback.Report("discharge", 0, 800, "enable", ac_power_w=ac)
        result = readback.check(told, report, track, now, settings)
        track = result.track
        if result.exclude is readback.Problem.NOT_RESPONDING:
            return now - left
        now += interval_s
    raise AssertionError("never seen")


def test_open_api_polling_hides_a_battery_that_left_its_setpoint() -> None:
    """The measured reason the Open API is not supported (docs/connectors.md).

    With the Open API's 60 s telemetry a battery that silently left passive mode is
    counted as delivering for more than a minute (ESPHome: 20 s, marstek_modbus: 30 s),
    twice the stale timeout (30 s) after which the integration stops everything for a meter
    it cannot see; and the 10 s between commands the vendor asks for is longer than the
    cycle (6.5 s).
    """
    esphome, modbus, open_api = _unseen_s(5), _unseen_s(10), _unseen_s(60, interval_s=10)
    assert esphome <= 20
    assert modbus <= 30
    assert open_api > 60
    assert open_api > 2 * 30
