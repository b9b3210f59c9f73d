"""A connector's vocabulary and number steps, pure: what a battery was told, in its own words.

Every connector (an ESPHome board, Home Assistant's modbus YAML with template entities, the
marstek_modbus integration) drives the same registers with other words: ``standby`` is stop,
``anti_feed`` is anti-feed, a switch's ``on`` is RS485 ``enable``. The rest of the integration
speaks one vocabulary (``stop``/``charge``/``discharge``, ``enable``/``disable``, W); these
functions translate at the edge, both ways, and give the power a number with a step really
takes (a battery told 123 W with steps of 50 W is told 100 W, and that is what it was told).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
import math

# RS485 control as a switch: its states, in the integration's words.
SWITCH_OPTIONS: Mapping[str, str] = {"enable": "on", "disable": "off"}


@dataclass(frozen=True, slots=True)
class Vocabulary:
    """The options a connector uses for the integration's canonical ones (canonical -> native).

    An option not in ``options`` is the same in both vocabularies.
    """

    options: Mapping[str, str] = field(default_factory=dict)

    def native(self, canonical: str, offered: Sequence[str] | None = None) -> str:
        """Return the connector's option for a canonical one.

        offered is the entity's options where known: an entity that offers the canonical
        option and not the mapped one (a hand-picked entity of another kind) gets the
        canonical one.
        """
        mapped = self.options.get(canonical, canonical)
        if offered is not None and mapped not in offered and canonical in offered:
            return canonical
        return mapped

    def canonical(self, native: str) -> str:
        """Return the canonical option for a connector's one (unknown ones unchanged)."""
        for canonical, mapped in self.options.items():
            if mapped == native:
                return canonical
        return native

    def canonical_options(self, offered: Sequence[str]) -> list[str]:
        """Return an entity's options in the canonical vocabulary."""
        return [self.canonical(option) for option in offered]


def snap(
    value: float,
    low: float | None,
    high: float | None,
    step: float | None,
    *,
    down: bool = False,
) -> float:
    """Return the value a number with min low, max high and step takes for value.

    Rounded to the nearest step counted from low (from 0 without a min), or down to one
    (down: a power is never raised by its step), then clamped.
    """
    if down and high is not None and math.isfinite(high):
        value = min(value, high)  # then down to a step: a max off the steps is never passed
    if step is not None and math.isfinite(step) and step > 0:
        base = low if low is not None and math.isfinite(low) else 0.0
        steps = (value - base) / step
        # A tolerance for binary fractions (1.148 kW in steps of 0.001 kW is 1148 steps).
        count = math.floor(steps + 1e-6) if down else round(steps)
        value = base + count * step
    if high is not None and math.isfinite(high):
        value = min(value, high)
    if low is not None and math.isfinite(low):
        value = max(value, low)
    return value


def readback_grace_s(poll_s: float, base_s: float) -> float:
    """Return how long a report may lag a write: base_s, or two polls of a slower connector.

    A write shows at the connector's next read; one poll may just have been missed.
    """
    return max(base_s, 2.0 * poll_s)
