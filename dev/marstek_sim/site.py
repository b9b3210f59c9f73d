"""The simulated site, without Home Assistant: LilyGo boards, a house and a P1 meter.

Each :class:`Board` is a LilyGo RS485 board in front of a battery from ``bench.sim.battery``
(the benchmark's physics, imported, never copied). It keeps the registers the ESPHome
configuration exposes and reads them back on the board's poll cadence, as ESPHome's
``modbus_controller`` does: a written select or number shows its new state at the next poll,
the AC power at the next power poll and the state of charge on the battery's own slow cadence.

The :class:`House` gives each phase a load and a PV production: a deterministic day profile
(base load, appliance steps, a PV bell between 7:00 and 19:00) unless held at manual values.
The :class:`Site` steps everything and computes the meter: per phase, house load minus PV minus
the AC power of the batteries on that phase (positive = import).
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
import math
from pathlib import Path
import sys
from typing import Any

try:
    from bench.sim.battery import Battery, BatteryParams
except ImportError:  # started without the repo root on sys.path: find it from this file
    sys.path.append(str(Path(__file__).resolve().parents[2]))
    from bench.sim.battery import Battery, BatteryParams

PHASES = ("L1", "L2", "L3")
RS485_OPTIONS = ("enable", "disable")
FORCIBLE_OPTIONS = ("stop", "charge", "discharge")
WORK_MODE_OPTIONS = ("manual", "anti-feed", "ai")

#: Register name -> (min, max) for the numbers a LilyGo exposes.
NUMBER_RANGES: dict[str, tuple[float, float]] = {
    "charge_power": (0.0, 2500.0),
    "discharge_power": (0.0, 2500.0),
    "max_charge_power": (0.0, 2500.0),
    "max_discharge_power": (0.0, 2500.0),
    "charge_cutoff": (80.0, 100.0),
    "discharge_cutoff": (12.0, 30.0),
}
SELECT_OPTIONS: dict[str, tuple[str, ...]] = {
    "rs485_mode": RS485_OPTIONS,
    "forcible_mode": FORCIBLE_OPTIONS,
    "work_mode": WORK_MODE_OPTIONS,
}


@dataclass
class BoardConfig:
    """How one simulated LilyGo board and its battery start."""

    name: str
    phase: str
    soc: float = 50.0
    #: ESPHome ``update_interval`` of the modbus controller: written registers show then.
    poll_s: float = 5.0
    #: Cadence of the reported AC power (the common config reads it every other poll).
    ac_power_s: float = 10.0
    #: Cadence of the reported state of charge (merged register ranges make it slow).
    soc_s: float = 60.0
    #: Some v3 firmware drops RS485 control unless ``enable`` is rewritten within this many
    #: seconds; 0 = holds the last setpoint forever.
    rs485_timeout_s: float = 0.0
    rs485_mode: str = "disable"
    #: Naming variant of this board's entities (None: the site's): the common config names
    #: them "Marstek Forcible Charge\u2044Discharge"; others drop the prefix, spell "/" or "-".
    prefix: str | None = None
    separator: str | None = None
    max_charge_power: float = 2500.0
    max_discharge_power: float = 2500.0
    charge_cutoff: float = 100.0
    discharge_cutoff: float = 12.0


class Board:
    """A LilyGo RS485 board driving one Marstek battery."""

    def __init__(self, config: BoardConfig) -> None:
        """Create the board and its battery."""
        if config.phase not in PHASES:
            raise ValueError(f"phase {config.phase!r} is not one of {PHASES}")
        self.config = config
        self.name = config.name
        self.phase = config.phase
        self.battery = Battery(
            BatteryParams(
                soc_report_interval_s=config.soc_s,
                power_report_interval_s=config.ac_power_s,
                max_charge_w=config.max_charge_power,
                max_discharge_w=config.max_discharge_power,
                charge_cutoff_pct=config.charge_cutoff,
                discharge_cutoff_pct=config.discharge_cutoff,
            ),
            soc=config.soc,
        )
        self.available = True
        self.registers: dict[str, Any] = {
            "rs485_mode": config.rs485_mode,
            "work_mode": "anti-feed" if config.rs485_mode == "enable" else "manual",
            "forcible_mode": "stop",
            "charge_power": 0.0,
            "discharge_power": 0.0,
            "max_charge_power": config.max_charge_power,
            "max_discharge_power": config.max_discharge_power,
            "charge_cutoff": config.charge_cutoff,
            "discharge_cutoff": config.discharge_cutoff,
        }
        #: What Home Assistant sees (ESPHome publishes it on the poll cadence).
        self.reported: dict[str, Any] = dict(self.registers)
        self.reported["soc"] = self.battery.reported_soc
        self.reported["ac_power"] = 0.0
        self.reported["battery_power"] = 0.0
        self._since_poll = 0.0
        self.polls = 0
        #: Reads of the power registers: AC Power and Battery Power are read together, on
        #: the AC power's cadence, so their ratio is the conversion efficiency at that moment.
        self.power_reads = 0
        self._since_enable = 0.0
        self._effective: tuple[str, float] = ("stop", 0.0)
        #: The last writes (simulated time, register, value) and how many there were.
        self.writes: deque[tuple[float, str, Any]] = deque(maxlen=200)
        self.write_count = 0
        #: A fault: the board takes every write and changes nothing (scripts/e2e --faults).
        self.ignore_writes = False
        #: What the polls published that changed (simulated time, register, value): what Home
        #: Assistant was shown, and when (scripts/e2e --faults judges the read-back by it).
        self.published: deque[tuple[float, str, Any]] = deque(maxlen=200)
        #: When the Marstek app last started the battery (simulated time; None: never).
        self.app_started_s: float | None = None
        #: How many writes the board had taken then (the writes after it are the later ones).
        self.app_started_writes = 0

    # ------------------------------------------------------------------ writes
    def write(self, register: str, value: Any) -> None:
        """Write a register as Home Assistant's number/select service would."""
        if register in SELECT_OPTIONS:
            if value not in SELECT_OPTIONS[register]:
                raise ValueError(f"{value!r} is not an option of {register}")
        elif register in NUMBER_RANGES:
            low, high = NUMBER_RANGES[register]
            value = float(value)
            if not low <= value <= high:
                raise ValueError(f"{value} outside {low}..{high} for {register}")
        else:
            raise KeyError(register)
        self.writes.append((self.battery.time_s, register, value))
        self.write_count += 1
        if self.ignore_writes:
            return
        self.registers[register] = value
        if register == "rs485_mode":
            self._since_enable = 0.0
            if value == "enable":
                self.registers["work_mode"] = "anti-feed"
        elif register == "work_mode":
            self.registers["rs485_mode"] = "disable"
        elif register == "max_charge_power":
            self.battery.max_charge_w = value
        elif register == "max_discharge_power":
            self.battery.max_discharge_w = value
        elif register == "charge_cutoff":
            self.battery.charge_cutoff_pct = value
        elif register == "discharge_cutoff":
            self.battery.discharge_cutoff_pct = value
        self._apply()

    def _apply(self) -> None:
        regs = self.registers
        mode = regs["forcible_mode"] if regs["rs485_mode"] == "enable" else "stop"
        power = {"charge": regs["charge_power"], "discharge": regs["discharge_power"]}.get(
            mode, 0.0
        )
        effective = (mode, float(power))
        if effective != self._effective:
            self._effective = effective
            self.battery.command(mode, float(power))

    def app_start(self, power_w: float) -> None:
        """The Marstek app (or cloud) starts a forced discharge: no Home Assistant write.

        The board shows it at its next poll, as it shows any register change.
        """
        self.registers.update(
            rs485_mode="enable", forcible_mode="discharge", discharge_power=float(power_w)
        )
        self.app_started_s = self.battery.time_s
        self.app_started_writes = self.write_count
        self._apply()

    def reboot(self) -> None:
        """The board reboots: selects reset (RS485 reads unknown until written), stop, 0 W."""
        self.registers.update(
            rs485_mode="unknown", forcible_mode="stop", charge_power=0.0, discharge_power=0.0
        )
        self._apply()
        self._publish()

    def _publish(self) -> None:
        """Show the registers as read now (a poll), noting what changed."""
        for register, value in self.registers.items():
            if self.reported.get(register) != value:
                self.published.append((self.battery.time_s, register, value))
        self.reported.update(self.registers)

    def set_soc(self, soc: float) -> None:
        """Move the battery's state of charge (a development shortcut; reported at once)."""
        if not 0.0 <= soc <= 100.0:
            raise ValueError(f"soc {soc} outside 0..100")
        battery = self.battery
        # bench.sim.battery has no setter: its stored energy is the state of charge.
        battery._stored_wh = soc / 100.0 * battery.params.capacity_wh
        battery.reported_soc = round(soc)
        self.reported["soc"] = battery.reported_soc

    @property
    def effective(self) -> tuple[str, float]:
        """The forced setpoint the battery acts on (stop unless RS485 control is enabled)."""
        return self._effective

    # ------------------------------------------------------------------ time
    def step(self, dt_s: float) -> None:
        """Advance the battery and publish what the board would have read by now."""
        timeout = self.config.rs485_timeout_s
        if timeout > 0 and self.registers["rs485_mode"] == "enable":
            self._since_enable += dt_s
            if self._since_enable >= timeout:
                self.registers["rs485_mode"] = "disable"
                self._apply()
        next_read = self.battery._next_power_report  # bench.sim.battery has no read hook
        self.battery.step(dt_s)
        self.reported["soc"] = self.battery.reported_soc
        self.reported["ac_power"] = self.battery.reported_ac_power_w
        if self.battery._next_power_report != next_read:  # the powers were read just now
            self.power_reads += 1
            self.reported["battery_power"] = round(self.battery.dc_power_w)
        self._since_poll += dt_s
        if self._since_poll + 1e-9 >= self.config.poll_s:
            self._since_poll = 0.0
            self.polls += 1
            self._publish()


@dataclass
class House:
    """Per-phase load and PV: a deterministic day profile, or manual values."""

    base_w: tuple[float, float, float] = (180.0, 120.0, 150.0)
    pv_peak_w: tuple[float, float, float] = (1200.0, 0.0, 0.0)
    manual_load: list[float | None] = field(default_factory=lambda: [None, None, None])
    manual_pv: list[float | None] = field(default_factory=lambda: [None, None, None])

    def profile_load(self, phase: int, seconds_of_day: float) -> float:
        """Return the profile's load on a phase (W) at a time of day."""
        minute = int(seconds_of_day // 60)
        load = self.base_w[phase]
        # A fridge cycling on every phase, a kettle on L1, washing machine on L2, oven on L3.
        if minute % 30 < 12:
            load += 90.0
        if phase == 0 and minute % 120 in (20, 21, 22):
            load += 2000.0
        if phase == 1 and 600 <= minute % 1440 < 690 and minute % 10 < 6:
            load += 1800.0
        if phase == 2 and 1050 <= minute % 1440 < 1110:
            load += 2200.0 if minute % 4 < 3 else 0.0
        # Evening: lights and TV.
        if 1080 <= minute % 1440 < 1380:
            load += 150.0
        return load

    def profile_pv(self, phase: int, seconds_of_day: float) -> float:
        """Return the profile's PV production on a phase (W) at a time of day."""
        hour = seconds_of_day / 3600.0 % 24.0
        if not 7.0 < hour < 19.0:
            return 0.0
        bell = math.sin(math.pi * (hour - 7.0) / 12.0) ** 2
        # Passing clouds: a deterministic dip of 60 % for 2 of every 11 minutes.
        cloud = 0.4 if int(seconds_of_day // 60) % 11 < 2 else 1.0
        return self.pv_peak_w[phase] * bell * cloud

    def load(self, phase: int, seconds_of_day: float) -> float:
        """Return the load on a phase (W)."""
        manual = self.manual_load[phase]
        return manual if manual is not None else self.profile_load(phase, seconds_of_day)

    def pv(self, phase: int, seconds_of_day: float) -> float:
        """Return the PV production on a phase (W)."""
        manual = self.manual_pv[phase]
        return manual if manual is not None else self.profile_pv(phase, seconds_of_day)


class Site:
    """Boards, house and meter; ``step`` advances them all."""

    def __init__(
        self,
        boards: list[Board],
        house: House | None = None,
        seconds_of_day: float = 12 * 3600.0,
        speed: float = 1.0,
    ) -> None:
        """Create the site at a time of day; ``speed`` simulated seconds per real second."""
        self.boards = boards
        self.house = house or House()
        self.seconds_of_day = seconds_of_day
        self.speed = speed
        self.meter_available = True
        self.meter_reporting = True
        self.load_w = [0.0, 0.0, 0.0]
        self.pv_w = [0.0, 0.0, 0.0]
        self.phase_w = [0.0, 0.0, 0.0]
        self._measure()

    @property
    def grid_w(self) -> float:
        """Total grid power (W, positive = import), the signed sum of the phases."""
        return sum(self.phase_w)

    def board(self, name_or_phase: str) -> Board:
        """Return the board with this name or on this phase."""
        for board in self.boards:
            if name_or_phase in (board.name, board.phase):
                return board
        raise KeyError(name_or_phase)

    def step(self, real_dt_s: float) -> None:
        """Advance by real_dt_s real seconds (times ``speed`` simulated seconds)."""
        dt = real_dt_s * self.speed
        # Sub-steps of at most 1 s keep the dead time and the lag resolved.
        steps = max(1, math.ceil(dt - 1e-9))
        for _ in range(steps):
            for board in self.boards:
                board.step(dt / steps)
        self.seconds_of_day = (self.seconds_of_day + dt) % 86400.0
        self._measure()

    def _measure(self) -> None:
        for phase in range(3):
            self.load_w[phase] = self.house.load(phase, self.seconds_of_day)
            self.pv_w[phase] = self.house.pv(phase, self.seconds_of_day)
            batteries = sum(
                board.battery.ac_power_w for board in self.boards if board.phase == PHASES[phase]
            )
            self.phase_w[phase] = round(self.load_w[phase] - self.pv_w[phase] - batteries)
