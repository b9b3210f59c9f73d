"""The hub's options flow: pace and timing, dry run, stop behaviour, phase limits, peak cap."""

from __future__ import annotations

from collections.abc import Mapping
import math
from typing import Any, Final

from homeassistant.config_entries import ConfigFlowResult, OptionsFlow
from homeassistant.const import UnitOfElectricCurrent, UnitOfPower, UnitOfTime
from homeassistant.helpers.selector import (
    BooleanSelector,
    NumberSelector,
    NumberSelectorConfig,
    NumberSelectorMode,
    SelectSelector,
    SelectSelectorConfig,
    SelectSelectorMode,
)
import voluptuous as vol

from ..adapters.loop_options import NUMBER_RANGES
from ..const import (
    CONF_DRY_RUN,
    CONF_INTERVAL,
    CONF_KEEPALIVE,
    CONF_MAIN_FUSE_A,
    CONF_PACE,
    CONF_PEAK_CAP_KW,
    CONF_PHASE_FEED_IN_LIMIT_W,
    CONF_REFRESH_METER,
    CONF_SETTLE_DELAY,
    CONF_STALE_TIMEOUT,
    CONF_STOP_BEHAVIOR,
    DEFAULT_INTERVAL,
    DEFAULT_OPTIONS,
    SUBENTRY_BATTERY,
    Role,
    StopBehavior,
)
from ..core.inflight import allowed_interval, interval_allowed
from ..core.pace import Pace
from .forms import form_schema

# Options: (minimum, maximum, step) in seconds; the ranges are the loop's (NUMBER_RANGES).
OPTION_RANGES: Final[dict[str, tuple[float, float, float]]] = {
    CONF_INTERVAL: (*NUMBER_RANGES[CONF_INTERVAL], 0.5),
    CONF_SETTLE_DELAY: (*NUMBER_RANGES[CONF_SETTLE_DELAY], 0.5),
    CONF_STALE_TIMEOUT: (*NUMBER_RANGES[CONF_STALE_TIMEOUT], 1.0),
    # Some firmware drops RS485 control after 90 to 120 s without a write; the form asks
    # at least 5 s (a stored 0, off, from older releases, still runs).
    CONF_KEEPALIVE: (5.0, NUMBER_RANGES[CONF_KEEPALIVE][1], 1.0),
}


class MarstekStrategyOptionsFlow(OptionsFlow):
    """The hub's timing, dry-run and phase-limit options; the update listener reloads the entry."""

    def _ac_power_everywhere(self) -> bool:
        """Return whether every battery has an AC power sensor (short intervals, meter pace)."""
        return all(
            subentry.data.get(Role.AC_POWER)
            for subentry in self.config_entry.subentries.values()
            if subentry.subentry_type == SUBENTRY_BATTERY
        )

    def _timing_errors(self, user_input: Mapping[str, Any]) -> dict[str, str]:
        """Return the error of the interval, pace or stale timeout (the first found)."""
        if not interval_allowed(user_input[CONF_INTERVAL]):
            return {CONF_INTERVAL: "interval_not_allowed"}
        if user_input[CONF_INTERVAL] < DEFAULT_INTERVAL and not self._ac_power_everywhere():
            return {CONF_INTERVAL: "interval_needs_ac_power"}
        if user_input.get(CONF_PACE) == Pace.METER and not self._ac_power_everywhere():
            return {CONF_PACE: "pace_needs_ac_power"}
        if user_input[CONF_STALE_TIMEOUT] < user_input[CONF_INTERVAL]:
            return {CONF_STALE_TIMEOUT: "stale_timeout_too_short"}
        return {}

    async def async_step_init(self, user_input: dict[str, Any] | None = None) -> ConfigFlowResult:
        """Edit the options."""
        errors: dict[str, str] = {}
        if user_input is not None:
            errors = not_a_number(user_input) or self._timing_errors(user_input)
            errors.update(phase_limit_errors(user_input))
            if not errors:
                return self.async_create_entry(data=user_input)
        fields: dict[vol.Marker, Any] = {}
        # Optional: an entry saved before the option runs the fixed pace.
        fields[vol.Optional(CONF_PACE)] = SelectSelector(
            SelectSelectorConfig(
                options=[pace.value for pace in Pace],
                translation_key=CONF_PACE,
                mode=SelectSelectorMode.LIST,
            )
        )
        for key in (CONF_INTERVAL, CONF_SETTLE_DELAY, CONF_STALE_TIMEOUT):
            fields[vol.Required(key)] = _seconds_selector(key)
        fields[vol.Required(CONF_REFRESH_METER)] = BooleanSelector()
        fields[vol.Required(CONF_KEEPALIVE)] = _seconds_selector(CONF_KEEPALIVE)
        fields[vol.Required(CONF_DRY_RUN)] = BooleanSelector()
        fields[vol.Required(CONF_STOP_BEHAVIOR)] = SelectSelector(
            SelectSelectorConfig(
                options=[behavior.value for behavior in StopBehavior],
                translation_key=CONF_STOP_BEHAVIOR,
                mode=SelectSelectorMode.LIST,
            )
        )
        fields.update(_phase_limit_fields())
        fields[vol.Optional(CONF_PEAK_CAP_KW)] = NumberSelector(
            NumberSelectorConfig(
                min=NUMBER_RANGES[CONF_PEAK_CAP_KW][0],
                max=NUMBER_RANGES[CONF_PEAK_CAP_KW][1],
                step=0.1,
                unit_of_measurement=UnitOfPower.KILO_WATT,
                mode=NumberSelectorMode.BOX,
            )
        )
        suggested = user_input or {**DEFAULT_OPTIONS, **self.config_entry.options}
        if user_input is None:  # an interval stored before the allowed ones: as it runs
            suggested[CONF_INTERVAL] = allowed_interval(float(suggested[CONF_INTERVAL]))
        return self.async_show_form(
            step_id="init",
            data_schema=form_schema(self, vol.Schema(fields), suggested),
            errors=errors,
        )


def not_a_number(user_input: Mapping[str, Any]) -> dict[str, str]:
    """Return an error for each number that is NaN or infinite.

    A NumberSelector's range check lets NaN past (the text "nan" through the API: NaN < min
    and NaN > max are both false); saved, the next load found the options damaged and ran
    dry run.
    """
    return {
        key: "not_a_number"
        for key, value in user_input.items()
        if isinstance(value, float) and not math.isfinite(value)
    }


def phase_limit_errors(user_input: Mapping[str, Any]) -> dict[str, str]:
    """Return the errors of the phase limits: neither may be left empty.

    An empty main fuse ran silently on 25 A (a 16 A site allowed 5175 W per phase instead of
    3312 W); an empty feed-in limit silently meant none. The fuse must be given; no feed-in
    limit is an explicit 0.
    """
    errors: dict[str, str] = {}
    if user_input.get(CONF_MAIN_FUSE_A) is None:
        errors[CONF_MAIN_FUSE_A] = "main_fuse_required"
    if user_input.get(CONF_PHASE_FEED_IN_LIMIT_W) is None:
        errors[CONF_PHASE_FEED_IN_LIMIT_W] = "feed_in_limit_required"
    return errors


def _phase_limit_fields() -> dict[vol.Marker, Any]:
    """Return the per-phase limit options: the main fuse (A) and the feed-in limit (W)."""
    return {
        vol.Optional(CONF_MAIN_FUSE_A): NumberSelector(
            NumberSelectorConfig(
                min=NUMBER_RANGES[CONF_MAIN_FUSE_A][0],
                max=NUMBER_RANGES[CONF_MAIN_FUSE_A][1],
                step=1.0,
                unit_of_measurement=UnitOfElectricCurrent.AMPERE,
                mode=NumberSelectorMode.BOX,
            )
        ),
        vol.Optional(CONF_PHASE_FEED_IN_LIMIT_W): NumberSelector(
            NumberSelectorConfig(
                min=NUMBER_RANGES[CONF_PHASE_FEED_IN_LIMIT_W][0],
                max=NUMBER_RANGES[CONF_PHASE_FEED_IN_LIMIT_W][1],
                step=10.0,
                unit_of_measurement=UnitOfPower.WATT,
                mode=NumberSelectorMode.BOX,
            )
        ),
    }


def _seconds_selector(key: str) -> NumberSelector:
    minimum, maximum, step = OPTION_RANGES[key]
    return NumberSelector(
        NumberSelectorConfig(
            min=minimum,
            max=maximum,
            step=step,
            unit_of_measurement=UnitOfTime.SECONDS,
            mode=NumberSelectorMode.BOX,
        )
    )
