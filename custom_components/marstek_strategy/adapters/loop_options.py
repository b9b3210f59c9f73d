"""The hub's options as the loop runs them, and the meter reader and read-back built from them."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
import math
from typing import Any, Final

from homeassistant.config_entries import ConfigEntry
from homeassistant.core import HomeAssistant
from homeassistant.helpers import issue_registry as ir

from ..const import (
    CONF_DRY_RUN,
    CONF_GRID_SENSOR,
    CONF_INTERVAL,
    CONF_KEEPALIVE,
    CONF_MAIN_FUSE_A,
    CONF_PACE,
    CONF_PEAK_CAP_KW,
    CONF_PHASE_COUNT,
    CONF_PHASE_CURRENT_SENSORS,
    CONF_PHASE_FEED_IN_LIMIT_W,
    CONF_PHASE_SENSORS,
    CONF_REFRESH_METER,
    CONF_SETTLE_DELAY,
    CONF_STALE_TIMEOUT,
    CONF_STOP_BEHAVIOR,
    DEFAULT_OPTIONS,
    DOMAIN,
    LOGGER,
    PHASES,
    StopBehavior,
)
from ..core import readback
from ..core.model import PhaseLimits
from ..core.pace import Pace
from ..core.readings import VOLTS_PER_PHASE
from .batteries import BatteryConfig
from .inputs import ReadbackInput
from .profiles import profile_named
from .reader import Reader

#: What a stored number option may hold (the options form's ranges; a keep-alive of 0 is off).
#: Anything else (a text, a bool, a value out of range: a hand edit, a damaged file) runs at
#: its default, so that the entry still loads and makes the stops it owes.
NUMBER_RANGES: Final[dict[str, tuple[float, float]]] = {
    CONF_INTERVAL: (2.0, 60.0),
    CONF_SETTLE_DELAY: (0.0, 120.0),
    CONF_STALE_TIMEOUT: (5.0, 600.0),
    CONF_KEEPALIVE: (0.0, 90.0),
    CONF_MAIN_FUSE_A: (6.0, 100.0),
    CONF_PHASE_FEED_IN_LIMIT_W: (0.0, 25000.0),
    CONF_PEAK_CAP_KW: (0.0, 50.0),
}


def checked_options(entry_options: Mapping[str, Any]) -> tuple[dict[str, Any], list[str]]:
    """Return the options with defaults filled in, and the keys whose stored value was unusable.

    A number must be a real number within NUMBER_RANGES, a switch a bool, a choice one of its
    values. Any unusable option turns dry run on: nothing is driven on a setting nobody chose
    (a main fuse at its default could be above the real one); the stops owed are still made.
    """
    options = {**DEFAULT_OPTIONS, **entry_options}
    replaced: list[str] = []
    for key, (low, high) in NUMBER_RANGES.items():
        value = options[key]
        if (
            isinstance(value, bool)
            or not isinstance(value, int | float)
            or not math.isfinite(value)
            or not low <= value <= high
        ):
            options[key] = DEFAULT_OPTIONS[key]
            replaced.append(key)
    for key in (CONF_DRY_RUN, CONF_REFRESH_METER):
        if not isinstance(options[key], bool):
            options[key] = True if key == CONF_DRY_RUN else DEFAULT_OPTIONS[key]
            replaced.append(key)
    for key, allowed in (
        (CONF_STOP_BEHAVIOR, {behavior.value for behavior in StopBehavior}),
        (CONF_PACE, {pace.value for pace in Pace}),
    ):
        if not isinstance(options[key], str) or options[key] not in allowed:
            options[key] = DEFAULT_OPTIONS[key]
            replaced.append(key)
    if replaced:
        options[CONF_DRY_RUN] = True
    return options, replaced


@dataclass(frozen=True, slots=True)
class LoopOptions:
    """The entry's options, defaults filled in (interval and settle as asked, see delivery)."""

    keepalive_s: float  # 0: off
    dry_run: bool
    phase_limits: PhaseLimits
    stop_behavior: StopBehavior
    peak_cap_w: float
    interval_s: float
    settle_s: float
    stale_s: float
    refresh_meter: bool
    fuse_a: float
    pace: Pace = Pace.FIXED  # as asked; delivery.paced says whether it runs
    replaced: tuple[str, ...] = ()  # stored options that were unusable (at their defaults)

    @classmethod
    def of(cls, entry_options: Mapping[str, Any]) -> LoopOptions:
        """Return the options of an entry; an unusable stored option runs at its default."""
        options, replaced = checked_options(entry_options)
        if replaced:
            LOGGER.warning(
                "Stored options %s are not usable (a hand edit or a damaged file?); running "
                "them at their defaults (dry run on); save the options form to fix them",
                ", ".join(sorted(replaced)),
            )
        fuse_a = float(options[CONF_MAIN_FUSE_A])
        return cls(
            keepalive_s=float(options[CONF_KEEPALIVE]),
            dry_run=bool(options[CONF_DRY_RUN]),
            phase_limits=PhaseLimits.from_fuse(
                fuse_a, float(options[CONF_PHASE_FEED_IN_LIMIT_W]), VOLTS_PER_PHASE
            ),
            stop_behavior=StopBehavior(options[CONF_STOP_BEHAVIOR]),
            peak_cap_w=float(options[CONF_PEAK_CAP_KW]) * 1000.0,
            interval_s=float(options[CONF_INTERVAL]),
            settle_s=float(options[CONF_SETTLE_DELAY]),
            stale_s=float(options[CONF_STALE_TIMEOUT]),
            refresh_meter=bool(options[CONF_REFRESH_METER]),
            fuse_a=fuse_a,
            pace=Pace(options[CONF_PACE]),
            replaced=tuple(sorted(replaced)),
        )


def meter_reader(hass: HomeAssistant, data: Mapping[str, Any], options: LoopOptions) -> Reader:
    """Return the reader of the hub's meter: the grid sensor, and on three phases their sensors."""
    phase_sensors: dict[str, str] = {}
    current_sensors: dict[str, str] = {}
    if int(data.get(CONF_PHASE_COUNT, 1)) == 3:
        phase_sensors = {
            phase: data[key]
            for phase, key in zip(PHASES, CONF_PHASE_SENSORS, strict=True)
            if data.get(key)
        }
        current_sensors = {
            phase: data[key]
            for phase, key in zip(PHASES, CONF_PHASE_CURRENT_SENSORS, strict=True)
            if data.get(key) and phase in phase_sensors
        }
    return Reader(
        hass,
        data[CONF_GRID_SENSOR],
        phase_sensors,
        options.stale_s,
        options.refresh_meter,
        fuse_a=options.fuse_a,  # meter plausibility: the same option
        current_sensors=current_sensors,
    )


def readback_input(batteries: Sequence[BatteryConfig]) -> ReadbackInput:
    """Return the read-back of batteries: a report lags a write by the connector's polling."""
    return ReadbackInput(
        [battery.title for battery in batteries],
        settings=[
            readback.ReadbackSettings(
                grace_s=profile_named(b.connector).readback_grace_s,
                redrift_limit=3 if profile_named(b.connector).silent_write_failures else 0,
            )
            for b in batteries
        ],
    )


OPTIONS_ISSUE = "options_damaged"


def options_issue(hass: HomeAssistant, entry: ConfigEntry[Any], replaced: Sequence[str]) -> None:
    """Raise a repair issue naming the unusable stored options, or withdraw it (none left)."""
    issue_id = f"{OPTIONS_ISSUE}_{entry.entry_id}"
    if not replaced:
        ir.async_delete_issue(hass, DOMAIN, issue_id)
        return
    ir.async_create_issue(
        hass,
        DOMAIN,
        issue_id,
        is_fixable=False,
        is_persistent=False,
        severity=ir.IssueSeverity.WARNING,
        translation_key=OPTIONS_ISSUE,
        translation_placeholders={"name": entry.title, "options": ", ".join(replaced)},
    )
