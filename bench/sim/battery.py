"""A Marstek Venus E battery as a LilyGo RS485 board drives it, in pure Python.

Every default is a parameter of :class:`BatteryParams` (sources: shared/marstek-facts.md), so a
user can calibrate the model to their own battery. Sign convention of ``ac_power_w``: positive =
discharging into the house, negative = charging, as the LilyGo ``ac_power`` sensor reports.

Model, per battery:

- A forced setpoint (``command(mode, power_w)``) becomes the target after a dead time; from
  ``stop`` (relay open) a few seconds more. The AC power then approaches the target as a first
  order lag. A zero target opens the relay again once the power has reached zero.
- The AC power actually delivered differs from the commanded number by a gain (about +4.5 %
  while charging, -2.5 % while discharging, as the seed's correction factors say).
- The battery itself enforces its cutoffs (it stops charging at the charging cutoff and
  discharging at the discharging cutoff), the charge taper near full (1500 W from 95 %, 1000 W
  from 99 %) and its maximum powers.
- Conversion loss is the measured efficiency table (AC power against DC power), interpolated;
  below the table's lowest power a running inverter keeps the loss of that lowest point (a fixed
  cost). A battery that is not converting draws a standby power from its cells.
- The state of charge is exact internally (``soc_pct``) and reported as a whole number on a
  slower cadence (``reported_soc``), as the ESPHome configurations do.
- Each closing of the relay (a start from standing still) costs ``start_cost_wh`` from the
  cells (0 by default: no measurement of it yet; the report shows what 0.25 or 1 Wh would do).

Energy balance, kept exactly by construction::

    ac_in_wh - ac_out_wh == (stored_wh - initial stored_wh) + loss_wh + standby_wh + start_wh
"""

from __future__ import annotations

from bisect import bisect_right
from collections import deque
from dataclasses import dataclass
import math

#: Measured efficiency (ffunes/Marstek-Venus-Energy-Manager, multi-battery page):
#: AC power (W), charge efficiency (DC/AC), discharge efficiency (AC/DC).
#: The engine's ``DEFAULT_EFFICIENCY_TABLE`` holds the same figures on purpose, as a separate
#: value: this is the simulated plant, that is the controller's model of it, and the benchmark
#: must be able to give the plant other figures than the model (a miscalibrated model).
MEASURED_EFFICIENCY: tuple[tuple[float, float, float], ...] = (
    (63.0, 0.603, 0.750),
    (125.0, 0.772, 0.738),
    (250.0, 0.885, 0.856),
    (375.0, 0.922, 0.885),
    (500.0, 0.938, 0.898),
    (750.0, 0.949, 0.909),
    (1000.0, 0.955, 0.912),
    (1500.0, 0.954, 0.909),
    (2000.0, 0.950, 0.901),
    (2500.0, 0.944, 0.893),
)

MODES = ("charge", "discharge", "stop")


@dataclass(frozen=True, slots=True)
class BatteryParams:
    """Every number of the battery model (defaults: a Marstek Venus E, see the facts page)."""

    capacity_wh: float = 5120.0
    #: (AC W, charge efficiency, discharge efficiency), sorted by AC power.
    efficiency_table: tuple[tuple[float, float, float], ...] = MEASURED_EFFICIENCY
    #: Drawn from the cells while the inverter is not converting (estimate: 5 to 10 W).
    standby_w: float = 7.0
    #: Drawn from the cells each time the relay closes (a start from standing still), Wh.
    start_cost_wh: float = 0.0
    #: Delay between a command and the start of the power change.
    dead_time_s: float = 0.75
    #: Extra delay when the command arrives while the relay is open (from ``stop``).
    from_stop_extra_s: float = 3.0
    #: Time constant of the first-order approach to the target; 0 = instant.
    tau_s: float = 1.5
    #: Actual AC power per commanded watt (the seed measured +4.5 % charging, -2.5 % discharging).
    charge_gain: float = 1.045
    discharge_gain: float = 0.975
    #: The LilyGo numbers' ranges and the battery's own limits (W).
    max_charge_w: float = 2500.0
    max_discharge_w: float = 2500.0
    #: Charge power limit from a state of charge on (newer firmware): (SoC %, AC W), ascending.
    charge_taper: tuple[tuple[float, float], ...] = ((95.0, 1500.0), (99.0, 1000.0))
    #: The battery's own cutoffs (v2 registers; the BMS floor is about 11 %).
    charge_cutoff_pct: float = 100.0
    discharge_cutoff_pct: float = 11.0
    #: Below this state of charge a discharge command delivers 0 W (seen "sometimes" below
    #: about 20 %); 0 disables it.
    weak_discharge_below_pct: float = 0.0
    #: After stopping at a cutoff (or full/empty cells), the battery resumes that direction
    #: only once the state of charge has moved this far back.
    cutoff_hysteresis_pct: float = 1.0
    #: Cadence of the reported (whole %) state of charge and of the reported AC power.
    soc_report_interval_s: float = 30.0
    power_report_interval_s: float = 5.0
    #: Age of the reported AC power's value at its report (s): a battery that averages or
    #: samples its AC power before the board reads it (0: the power at the poll).
    power_report_lag_s: float = 0.0
    #: The AC power snaps onto its target when within this many watts.
    snap_w: float = 1.0


class _Curve:
    """Piecewise-linear loss curves (W of loss at W of AC power) built from the table."""

    __slots__ = ("_charge_loss", "_discharge_loss", "_xs")

    def __init__(self, table: tuple[tuple[float, float, float], ...]) -> None:
        if not table:
            raise ValueError("efficiency_table is empty")
        rows = sorted(table)
        self._xs = [row[0] for row in rows]
        # Charge: DC = AC * eff, loss = AC * (1 - eff). Discharge: AC = DC * eff,
        # loss = DC - AC = AC * (1 / eff - 1).
        self._charge_loss = [ac * (1.0 - ce) for ac, ce, _ in rows]
        self._discharge_loss = [ac * (1.0 / de - 1.0) for ac, _, de in rows]

    def _interp(self, ys: list[float], ac_w: float) -> float:
        xs = self._xs
        if ac_w <= xs[0]:
            return ys[0]  # a running inverter's fixed cost
        if ac_w >= xs[-1]:
            return ys[-1] * ac_w / xs[-1]  # hold the efficiency
        i = bisect_right(xs, ac_w)
        x0, x1 = xs[i - 1], xs[i]
        return ys[i - 1] + (ys[i] - ys[i - 1]) * (ac_w - x0) / (x1 - x0)

    def charge_loss_w(self, ac_w: float) -> float:
        return self._interp(self._charge_loss, ac_w)

    def discharge_loss_w(self, ac_w: float) -> float:
        return self._interp(self._discharge_loss, ac_w)


def loss_curve(params: BatteryParams | None = None) -> _Curve:
    """Return the loss curves of params (``charge_loss_w(ac)``, ``discharge_loss_w(ac)``)."""
    return _Curve((params or BatteryParams()).efficiency_table)


class Battery:
    """One simulated battery; drive it with :meth:`command` and advance it with :meth:`step`."""

    def __init__(self, params: BatteryParams | None = None, soc: float = 50.0) -> None:
        self.params = params or BatteryParams()
        p = self.params
        if not 0.0 <= soc <= 100.0:
            raise ValueError(f"soc {soc} outside 0..100")
        self._curve = _Curve(p.efficiency_table)
        # Settings a LilyGo exposes as numbers (writable at run time).
        self.max_charge_w = p.max_charge_w
        self.max_discharge_w = p.max_discharge_w
        self.charge_cutoff_pct = p.charge_cutoff_pct
        self.discharge_cutoff_pct = p.discharge_cutoff_pct
        # State.
        self.time_s = 0.0
        self._stored_wh = soc / 100.0 * p.capacity_wh
        self.initial_stored_wh = self._stored_wh
        self._power = 0.0  # actual AC W, + = discharging
        self._relay_closed = False
        self._mode = "stop"  # the command in force (after the dead time)
        self._setpoint = 0.0
        self.commanded_mode = "stop"  # the last command received
        self.commanded_w = 0.0
        self._pending: deque[tuple[float, str, float]] = deque()
        self._full_latch = False
        self._empty_latch = False
        # Counters (Wh).
        self.ac_in_wh = 0.0
        self.ac_out_wh = 0.0
        self.loss_wh = 0.0
        self.standby_wh = 0.0
        self.start_wh = 0.0  # drawn by starts (start_cost_wh each)
        self.relay_starts = 0  # times the relay closed
        self.dc_power_w = 0.0  # mean DC power of the last step, + = charging the cells
        self.commands = 0
        # Reported values.
        self.reported_soc = round(soc)
        self.reported_ac_power_w = 0.0
        self._powers: deque[tuple[float, float]] = deque()  # (time, AC W), power_report_lag_s
        self._next_soc_report = p.soc_report_interval_s
        self._next_power_report = p.power_report_interval_s

    # ---------------------------------------------------------------- properties
    @property
    def soc_pct(self) -> float:
        """Exact state of charge (%)."""
        return 100.0 * self._stored_wh / self.params.capacity_wh

    @property
    def stored_wh(self) -> float:
        """Energy in the cells (Wh)."""
        return self._stored_wh

    @property
    def ac_power_w(self) -> float:
        """Actual AC power (W): positive = discharging into the house, negative = charging."""
        return self._power

    @property
    def mode(self) -> str:
        """The forced mode in force (after the dead time)."""
        return self._mode

    @property
    def relay_closed(self) -> bool:
        """Whether the grid relay is closed (the inverter is on)."""
        return self._relay_closed

    @property
    def target_w(self) -> float:
        """The AC power the battery is heading for now (W, signed as ``ac_power_w``)."""
        return self._target()

    # ---------------------------------------------------------------- control
    def command(self, mode: str, power_w: float) -> None:
        """Apply a forced setpoint as the LilyGo would (mode charge/discharge/stop, power W)."""
        if mode not in MODES:
            raise ValueError(f"unknown mode {mode!r}")
        if not math.isfinite(power_w) or power_w < 0:
            raise ValueError(f"power {power_w!r} must be a finite number >= 0")
        p = self.params
        self.commands += 1
        self.commanded_mode = mode
        self.commanded_w = float(power_w)
        delay = p.dead_time_s
        starting = mode != "stop" and power_w > 0
        if starting and not self._relay_closed:
            last_stop = not self._pending or self._pending[-1][1] == "stop"
            if last_stop:
                delay += p.from_stop_extra_s
        due = self.time_s + delay
        if self._pending:
            due = max(due, self._pending[-1][0])
        self._pending.append((due, mode, float(power_w)))

    def _target(self) -> float:
        return self._deliverable(self._mode, self._setpoint)

    def available_w(self, mode: str) -> float:
        """AC W the battery would deliver now at its maximum in mode (0: it would not run).

        A query: the full/empty latches are read as they would be now, never changed.
        """
        if mode == "charge":
            return -self._deliverable("charge", self.max_charge_w, query=True)
        if mode == "discharge":
            return self._deliverable("discharge", self.max_discharge_w, query=True)
        return 0.0

    def _deliverable(self, mode: str, setpoint: float, *, query: bool = False) -> float:
        """The signed AC power a setpoint gives now (cutoffs, latches, limits, taper).

        Updates the latch of mode's direction unless query.
        """
        p = self.params
        if mode == "stop" or setpoint <= 0:
            return 0.0
        soc = self.soc_pct
        if mode == "charge":
            full = self._full_latch
            if soc >= self.charge_cutoff_pct:
                full = True
            elif soc < self.charge_cutoff_pct - p.cutoff_hysteresis_pct:
                full = False
            if not query:
                self._full_latch = full
            if full:
                return 0.0
            power = min(setpoint, self.max_charge_w) * p.charge_gain
            for threshold, limit in p.charge_taper:
                if soc >= threshold:
                    power = min(power, limit)
            return -power
        empty = self._empty_latch
        if soc <= self.discharge_cutoff_pct:
            empty = True
        elif soc > self.discharge_cutoff_pct + p.cutoff_hysteresis_pct:
            empty = False
        if not query:
            self._empty_latch = empty
        if empty or soc < p.weak_discharge_below_pct:
            return 0.0
        return min(setpoint, self.max_discharge_w) * p.discharge_gain

    # ---------------------------------------------------------------- physics
    def step(self, dt_s: float) -> None:
        """Advance the battery by dt_s seconds."""
        if dt_s < 0:
            raise ValueError("dt_s must be >= 0")
        end = self.time_s + dt_s
        while self.time_s < end - 1e-12:
            t_next = end
            if self._pending and self._pending[0][0] < t_next:
                t_next = max(self._pending[0][0], self.time_s)
            if t_next > self.time_s:
                self._advance(t_next - self.time_s)
                self.time_s = t_next
            while self._pending and self._pending[0][0] <= self.time_s + 1e-12:
                _, self._mode, self._setpoint = self._pending.popleft()
                if self._target() != 0.0:
                    self._close_relay()
        self.time_s = end
        lag = self.params.power_report_lag_s
        if lag > 0.0:
            self._powers.append((end, self._power))
            while len(self._powers) > 1 and self._powers[1][0] <= end - lag + 1e-9:
                self._powers.popleft()
        self._report()

    def _close_relay(self) -> None:
        """Close the relay; a start from open counts and costs start_cost_wh from the cells."""
        if self._relay_closed:
            return
        self._relay_closed = True
        self.relay_starts += 1
        cost = min(self.params.start_cost_wh, self._stored_wh)
        self._stored_wh -= cost
        self.start_wh += cost

    def _advance(self, dt: float) -> None:
        p = self.params
        target = self._target()
        if target != 0.0:
            self._close_relay()  # e.g. resumes by itself below a cutoff again
        p0 = self._power
        tau = p.tau_s
        if tau <= 0 or abs(target - p0) <= p.snap_w:
            p1 = target
            mean = target if tau <= 0 else (p0 + target) / 2.0
        else:
            decay = math.exp(-dt / tau)
            p1 = target + (p0 - target) * decay
            mean = target + (p0 - target) * tau / dt * (1.0 - decay)
            if abs(p1 - target) <= p.snap_w:
                p1 = target
        hours = dt / 3600.0
        converting = self._relay_closed and (mean != 0.0 or target != 0.0)
        if not converting:
            self._power = p1
            if target == 0.0 and p1 == 0.0:
                self._relay_closed = False
            drain = min(p.standby_w * hours, self._stored_wh)
            self._stored_wh -= drain
            self.standby_wh += drain
            self.dc_power_w = -drain / hours if hours > 0 else 0.0
            return
        if mean < 0:  # charging
            ac = -mean
            loss = self._curve.charge_loss_w(ac)
            dc = ac - loss  # into the cells (may be negative: the inverter's fixed cost)
        else:
            ac = mean
            loss = self._curve.discharge_loss_w(ac)
            dc = -(ac + loss)
        dc_wh = dc * hours
        scale = 1.0
        room = p.capacity_wh - self._stored_wh
        if dc_wh > room:  # cells full within this step: the BMS stops the flow
            scale = room / dc_wh if dc_wh > 0 else 0.0
            p1 = 0.0
            self._full_latch = True
        elif -dc_wh > self._stored_wh:  # cells empty
            scale = self._stored_wh / -dc_wh
            p1 = 0.0
            self._empty_latch = True
        dc_wh *= scale
        self._stored_wh = min(p.capacity_wh, max(0.0, self._stored_wh + dc_wh))
        if mean < 0:
            self.ac_in_wh += ac * hours * scale
        else:
            self.ac_out_wh += ac * hours * scale
        self.loss_wh += loss * hours * scale
        self._power = p1
        self.dc_power_w = dc * scale
        if target == 0.0 and p1 == 0.0:
            self._relay_closed = False

    def _report(self) -> None:
        p = self.params
        if self.time_s + 1e-9 >= self._next_soc_report:
            self.reported_soc = round(self.soc_pct)
            while self._next_soc_report <= self.time_s + 1e-9:
                self._next_soc_report += max(p.soc_report_interval_s, 1e-3)
        if self.time_s + 1e-9 >= self._next_power_report:
            # _powers is kept only with power_report_lag_s: its oldest is the power lag_s ago
            self.reported_ac_power_w = round(self._powers[0][1] if self._powers else self._power)
            while self._next_power_report <= self.time_s + 1e-9:
                self._next_power_report += max(p.power_report_interval_s, 1e-3)

    def energy_balance_error_wh(self) -> float:
        """AC in - AC out - (change in stored + loss + standby + starts); zero up to rounding."""
        stored_change = self._stored_wh - self.initial_stored_wh
        spent = self.loss_wh + self.standby_wh + self.start_wh
        return self.ac_in_wh - self.ac_out_wh - (stored_change + spent)
