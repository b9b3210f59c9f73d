"""Pure: why a battery got its setpoint, as a stable state and a sentence with the numbers.

The reason sensor's state is one of a few stable values (``reason_state``: what the logbook
shows); the engine's reason of the cycle is its detail. The sensor looks the sentence's key
up in the translations (common.explanation_<key>: placeholders are not allowed in an
entity's state translations) and fills in the placeholders; nothing here knows Home
Assistant.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Final

from .model import BatteryReading, Mode, Reason

#: Reasons of a running battery that have a sentence of their own.
RUNNING_KEYS: Final = frozenset(
    {
        Reason.RUNNING,
        Reason.STARTED_FOR_PHASE,
        Reason.NEAR_CUTOFF,
        Reason.BEHIND_PRIORITY,
        Reason.MERGED_SMALL,
        Reason.CAPPED_BY_TAPER,
        Reason.CAPPED_BY_MAX,
        Reason.EFFICIENCY_SPLIT,
        Reason.EQUAL_SHARE,
    }
)
#: Reasons of a stopped battery that have a sentence of their own (key "stopped_<reason>").
STOPPED_KEYS: Final = frozenset(
    {
        Reason.UNAVAILABLE,
        Reason.NOT_ALLOWED,
        Reason.AT_CUTOFF,
        Reason.DEAD_BAND,
        Reason.IDLE,
        Reason.NEAR_CUTOFF,
        Reason.HELD_BACK,
        Reason.MERGED_SMALL,
        "fail_safe",
        "disabled",
        "not_responding",  # the read-back's exclusions (readings.SHOWN_PROBLEMS)
        "inverter_fault",
        "unit_unsupported",
        "readings_frozen",
    }
)
#: Every template key (the translations hold one sentence per key).
TEMPLATE_KEYS: Final = frozenset(
    {str(reason) for reason in RUNNING_KEYS}
    | {f"stopped_{reason}" for reason in STOPPED_KEYS}
    | {"rest_on_others", "rest_on_grid", "none_running"}
)

#: Reasons that are a state of the reason sensor of their own: the battery is held out of
#: the strategy's normal running and stopping, so each change is worth a logbook line.
HELD_STATES: Final = (
    str(Reason.AT_CUTOFF),
    str(Reason.NOT_ALLOWED),
    str(Reason.LIMITED_BY_PHASE),
    "fail_safe",
    "disabled",
    "not_responding",  # the read-back's exclusions (readings.SHOWN_PROBLEMS)
    "inverter_fault",
    "unit_unsupported",
    "readings_frozen",
)
#: The reason sensor's states; "unavailable" is not one (it is Home Assistant's own state of
#: an entity that cannot be read), a battery without readings is "readings_unavailable".
REASON_STATES: Final = ("running", "not_needed", "readings_unavailable", *HELD_STATES)

# Thousands separators as each language writes them ("1,200 W", "1.200 W", "1 200 W").
_THOUSANDS: Final[Mapping[str, str]] = {"en": ",", "nl": ".", "de": ".", "fr": "\u202f"}


@dataclass(frozen=True, slots=True)
class Explanation:
    """A sentence to translate: its template key, placeholders, and the tail's."""

    key: str
    placeholders: dict[str, str]
    tail_key: str | None = None  # for a running battery: who takes the rest of the demand
    tail_placeholders: dict[str, str] | None = None


def watts(value: float, language: str = "en") -> str:
    """Return whole watts with the language's thousands separator."""
    text = f"{round(value):,}"
    return text.replace(",", _THOUSANDS.get(language.split("-", maxsplit=1)[0], ","))


def reason_state(reason: str, mode: Mode, power_w: int) -> str:
    """Return the reason sensor's state: running or not needed, unless held out by reason.

    The engine's reason changes from cycle to cycle while the battery runs (its share, its
    cap, the set it runs in); those belong in the detail, not in the state.
    """
    if reason in HELD_STATES:
        return reason
    if reason == Reason.UNAVAILABLE:
        return "readings_unavailable"
    return "running" if power_w > 0 and mode is not Mode.STOP else "not_needed"


def explain(
    reason: str,
    mode: Mode,
    power_w: int,
    reading: BatteryReading | None,
    *,
    others: Sequence[str] = (),
    language: str = "en",
) -> Explanation:
    """Explain one battery's setpoint.

    reason is the engine's reason (or fail_safe, disabled), others the names of the other
    batteries running in the same mode.
    """
    soc = "" if reading is None else f"{reading.soc:.0f}"
    if power_w <= 0 or mode is Mode.STOP:
        key = f"stopped_{reason}" if reason in STOPPED_KEYS else "stopped_idle"
        placeholders = {"soc": soc, "others": ", ".join(others)}
        if key == "stopped_idle" and not others:
            key = "none_running"
        return Explanation(key, placeholders)
    limit = 0
    if reading is not None:
        limit = reading.max_charge_w if mode is Mode.CHARGE else reading.max_discharge_w
    key = reason if reason in RUNNING_KEYS else str(Reason.RUNNING)
    placeholders = {
        "power": watts(power_w, language),
        "max": watts(max(limit, power_w), language),
        "soc": soc,
        "phase": "" if reading is None or reading.phase is None else reading.phase,
        "phase_power": "" if reading is None else watts(abs(reading.phase_w), language),
    }
    if others:
        return Explanation(key, placeholders, "rest_on_others", {"others": ", ".join(others)})
    if key in (Reason.CAPPED_BY_MAX, Reason.CAPPED_BY_TAPER):
        return Explanation(key, placeholders, "rest_on_grid", {})
    return Explanation(key, placeholders)


def render(template: str, placeholders: Mapping[str, str]) -> str:
    """Fill {name} placeholders in a template (unknown ones stay as they are)."""
    for name, value in placeholders.items():
        template = template.replace("{" + name + "}", value)
    return template
