"""The LilyGo RS485 board in front of a simulated battery: entity writes in, battery commands out.

Write kinds are the values of ``control.WriteKind``: ``rs485_enable`` (select rs485_control_mode
set to ``enable``), ``charge_power`` / ``discharge_power`` (the forcible power numbers) and
``mode`` (the forcible_charge_discharge select). The battery follows the forced setpoint only
while RS485 control is enabled; otherwise it stands still (in the simulator). Optionally the
board drops to ``stop`` when RS485 control has not been refreshed for ``rs485_timeout_s``
(some v3 firmware does after 90 to 120 s).
"""

from __future__ import annotations

from .battery import MODES, Battery


class LilyGo:
    """Entity state of one board; counts writes and mode changes."""

    def __init__(self, battery: Battery, rs485_timeout_s: float = 0.0) -> None:
        self.battery = battery
        self.rs485_enabled = False
        self.mode = "stop"
        self.charge_w = 0
        self.discharge_w = 0
        self.rs485_timeout_s = rs485_timeout_s
        self.writes = 0
        self.mode_changes = 0
        self.starts = 0  # times the battery was asked to run after standing still
        self._last_enable_s = 0.0
        self._applied: tuple[str, float] = ("stop", 0.0)

    def write(self, kind: str, value: int | str) -> None:
        """Apply one entity write (as Home Assistant's number/select services would)."""
        self.writes += 1
        if kind == "rs485_enable":
            self.rs485_enabled = True
            self._last_enable_s = self.battery.time_s
        elif kind == "charge_power":
            self.charge_w = max(0, min(2500, int(value)))
        elif kind == "discharge_power":
            self.discharge_w = max(0, min(2500, int(value)))
        elif kind == "mode":
            if value not in MODES:
                raise ValueError(f"unknown mode {value!r}")
            if value != self.mode:
                self.mode_changes += 1
            self.mode = str(value)
        else:
            raise ValueError(f"unknown write kind {kind!r}")
        self._apply()

    def poll(self) -> None:
        """Let the board time out RS485 control (call once in a while)."""
        if (
            self.rs485_timeout_s > 0
            and self.rs485_enabled
            and self.battery.time_s - self._last_enable_s > self.rs485_timeout_s
        ):
            self.rs485_enabled = False
            self._apply()

    @property
    def forced(self) -> tuple[str, float]:
        """The (mode, power) the battery is asked for now."""
        if not self.rs485_enabled or self.mode == "stop":
            return ("stop", 0.0)
        power = self.charge_w if self.mode == "charge" else self.discharge_w
        return (self.mode, float(power)) if power > 0 else ("stop", 0.0)

    @property
    def setpoint_w(self) -> float:
        """The forced setpoint signed as the AC power sensor (+ = discharge)."""
        mode, power = self.forced
        return power if mode == "discharge" else -power if mode == "charge" else 0.0

    def _apply(self) -> None:
        forced = self.forced
        if forced != self._applied:
            if self._applied[0] == "stop" and forced[0] != "stop":
                self.starts += 1
            self._applied = forced
            self.battery.command(*forced)
