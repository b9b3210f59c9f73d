"""Two peers' allocation rules, ported from their public descriptions and source (not copied).

Both run in the same frame as ``crossover`` (bench/controllers/crossover.py), so that only the
allocation differs from the engine's: the demand integrates the grid reading onto the commanded
total with the seed's correction factors, the same 30 W dead band (it only holds off a start),
the same software cutoffs, and the integration's own loop policy (``control.decide``: writes,
6.5 s / 12 s timing, keep-alive). Their own regulation loops (a PD controller, a per-battery
balancer) are not ported: the bench compares allocations.

``omni`` (ffunes/Marstek-Venus-Energy-Manager, now Omnibattery, ``power_distribution.py``):

- order: highest SoC first discharging, lowest first charging; a battery active in that
  direction counts 5 points better; ties by the battery's energy counter in that direction
  (kWh), an active one 2.5 kWh better;
- selection: add batteries in that order until the request is at most the added batteries'
  combined maximum times the activation fraction of the battery just added (its crossover,
  1500 W discharging / 1750 W charging, over its maximum, clamped to 0.50..0.95);
- hysteresis: a battery active before stays while the request is above the selected
  capacity times (the first's fraction - 0.10, at least 0.50): it leaves at -10 points; a new
  last battery joins only when the request is above the capacity without it times (the
  previous one's fraction + 0.10, at most 0.95): it joins at +10 points;
- hold: while a split (more than one battery) is called for, every selected battery's 120 s
  hold is refreshed; a battery active before whose hold has not run out stays selected;
- split: in proportion to each battery's maximum, capped at it (the excess shared again),
  every share rounded to 5 W.

``astra`` (tomquist/AstraMeter, ``ct002/balancer.py``, the efficiency window):

- the house's demand ``|battery AC power + grid|`` is smoothed by an EMA with 0.1 per meter
  sample (the battery power as last reported);
- limiting starts when the demand per battery is below M (``min_efficient_power``) and ends
  when it is at least 1.2 M; while limiting, slots = clamp(int(EMA / M), 1, n - 1); growing
  the slots while limiting takes the same 1.2 margin (int(EMA / 1.2 M), never fewer than
  before); shrinking is immediate;
- the first ``slots`` batteries of a priority list run; every 900 s the head of the list moves
  to its end (rotation for even wear);
- split: even over the running batteries, capped at each maximum (water-filling); the
  batteries left out get 0 (the grid takes what the running ones cannot);
- its default M is 0 (off: every battery runs); the bench's default is 750 W.

Not ported: AstraMeter's fade EMA between sets, its probe hand-off and saturation swap (a
battery at its cutoff is simply not a consumer here); Omnibattery's voltage taper in the limit
(the simulated battery enforces its taper itself) and its system power cap.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
import math

from bench.controllers.bounds import water_fill
from bench.controllers.crossover import DEAD_BAND_W, CrossoverController
from bench.loop import Sim

# ----------------------------------------------------------------------------- omni
OMNI_CROSSOVER_DISCHARGE_W = 1500.0
OMNI_CROSSOVER_CHARGE_W = 1750.0
OMNI_MIN_ACTIVATION = 0.50
OMNI_MAX_ACTIVATION = 0.95
OMNI_HYSTERESIS_GAP = 0.10
OMNI_HOLD_S = 120.0
OMNI_SOC_HYSTERESIS = 5.0
OMNI_ENERGY_HYSTERESIS_KWH = 2.5


def omni_activation(crossover_w: float, limit_w: float) -> float:
    """The share of a battery's maximum from which a split is called for (0.50..0.95)."""
    if limit_w <= 0:
        return OMNI_MAX_ACTIVATION
    return max(OMNI_MIN_ACTIVATION, min(OMNI_MAX_ACTIVATION, crossover_w / limit_w))


def round_5w(value: float) -> int:
    """The nearest multiple of 5 W (Python's round: halves to even, as the peer does)."""
    return round(value / 5) * 5


def omni_split(total_w: float, chosen: Sequence[int], limits: dict[int, float]) -> dict[int, int]:
    """Split total_w over chosen in proportion to their limits, capped at them, 5 W steps."""
    out = dict.fromkeys(chosen, 0)
    capacity = sum(limits[i] for i in chosen)
    if capacity <= 0:
        return out
    left = min(total_w, capacity)
    waiting = list(chosen)
    while left > 0 and waiting:
        weight = sum(limits[i] for i in waiting)
        if weight <= 0:
            break
        full = [i for i in waiting if left * limits[i] / weight >= limits[i]]
        if not full:
            for i in waiting:
                out[i] = round_5w(left * limits[i] / weight)
            break
        for i in full:
            out[i] = round_5w(limits[i])
            left -= limits[i]
            waiting.remove(i)
    return out


class OmniSelector:
    """Omnibattery's choice of batteries for one direction at a time, with its state."""

    def __init__(self) -> None:
        self.active: dict[bool, list[int]] = {True: [], False: []}  # charging -> batteries
        self.hold_until: dict[bool, dict[int, float]] = {True: {}, False: {}}

    def clear(self) -> None:
        for charging in (True, False):
            self.active[charging] = []
            self.hold_until[charging].clear()

    def select(
        self,
        total_w: float,
        available: Sequence[int],
        limits: dict[int, float],
        *,
        charging: bool,
        now: float,
        soc: Callable[[int], float],
        energy_kwh: Callable[[int], float],
    ) -> list[int]:
        """The batteries to run for total_w (setpoint W) in one direction at time now."""
        if total_w <= 0:
            self.clear()
            return []
        if len(available) <= 1:
            self.clear()
            self.active[charging] = list(available)
            return list(available)
        total_w = min(total_w, sum(limits[i] for i in available))
        crossover = OMNI_CROSSOVER_CHARGE_W if charging else OMNI_CROSSOVER_DISCHARGE_W
        previous = self.active[charging]
        hold = self.hold_until[charging]

        def key(i: int) -> tuple[float, float, int]:
            active = i in previous
            bonus = OMNI_SOC_HYSTERESIS if active else 0.0
            energy = energy_kwh(i) - (OMNI_ENERGY_HYSTERESIS_KWH if active else 0.0)
            if charging:
                return (soc(i) - bonus, energy, i)
            return (-(soc(i) + bonus), energy, i)

        order = sorted(available, key=key)
        selected: list[int] = []
        combined = 0.0
        for i in order:
            selected.append(i)
            combined += limits[i]
            if total_w <= combined * omni_activation(crossover, limits[i]):
                break
        if previous:
            # A battery active before stays until the request falls 10 points below.
            for i in previous:
                if i not in selected and i in available:
                    first = limits[selected[0]] if selected else limits[i]
                    leave = max(
                        OMNI_MIN_ACTIVATION,
                        omni_activation(crossover, first) - OMNI_HYSTERESIS_GAP,
                    )
                    if total_w > combined * leave:
                        selected.append(i)
                        combined += limits[i]
            # A new last battery joins only 10 points above.
            if len(selected) > 1 and selected[-1] not in previous:
                last = selected[-1]
                without = combined - limits[last]
                join = min(
                    omni_activation(crossover, limits[selected[-2]]) + OMNI_HYSTERESIS_GAP,
                    OMNI_MAX_ACTIVATION,
                )
                if total_w <= without * join:
                    selected.pop()
                    combined -= limits[last]
        if len(selected) > 1:  # a split is called for: refresh every selected battery's hold
            for i in selected:
                hold[i] = now + OMNI_HOLD_S
        for i in previous:
            if i not in selected and i in available and hold.get(i, 0.0) > now:
                selected.append(i)
        for i in list(hold):
            if hold[i] <= now or i not in selected:
                del hold[i]
        self.active[charging] = list(selected)
        self.active[not charging] = []
        self.hold_until[not charging].clear()
        return selected


class _PeerController(CrossoverController):
    """The crossover controller's frame (demand, cutoffs, loop policy), another allocation."""

    def _demand(self, sim: Sim) -> float:
        """Signed house demand (+ = the house imports) as the crossover frame estimates it."""
        total = 0.0
        for i, board in enumerate(sim.boards):
            if board.mode == "discharge":
                total += self.powers[i] * 0.975
            elif board.mode == "charge":
                total -= self.powers[i] * 1.045
        return total + sim.grid_w()

    def _caps(self, sim: Sim, eligible: Sequence[int], mode: str) -> dict[int, float]:
        return {
            i: float(
                sim.setups[i].max_discharge_w if mode == "discharge" else sim.setups[i].max_charge_w
            )
            for i in eligible
        }


class OmniController(_PeerController):
    """Omnibattery's allocation (see the module's docstring) in the crossover frame."""

    name = "omni"

    def __init__(self) -> None:
        super().__init__()
        self.selector = OmniSelector()

    def _allocate(self, sim: Sim) -> list[float]:
        n = len(sim.boards)
        demand = self._demand(sim)
        mode = "discharge" if demand > 0 else "charge"
        running = bool(self.selector.active[mode == "charge"])
        if abs(demand) < DEAD_BAND_W and not running:
            self.selector.clear()
            return [0.0] * n
        need = demand / 0.975 if mode == "discharge" else -demand / 1.045
        eligible = [i for i in range(n) if self._eligible(sim, i, mode)]
        caps = self._caps(sim, eligible, mode)

        def energy(i: int) -> float:
            b = sim.batteries[i]
            return (b.ac_in_wh if mode == "charge" else b.ac_out_wh) / 1000.0

        chosen = self.selector.select(
            need,
            eligible,
            caps,
            charging=mode == "charge",
            now=sim.now,
            soc=lambda i: float(sim.soc(i)),
            energy_kwh=energy,
        )
        shares = omni_split(need, chosen, caps)
        sign = 1.0 if mode == "discharge" else -1.0
        powers = [0.0] * n
        for i, watts in shares.items():
            powers[i] = sign * watts
        return powers


# ----------------------------------------------------------------------------- astra
ASTRA_HYSTERESIS_FACTOR = 1.2
ASTRA_ROTATION_S = 900.0
ASTRA_DEMAND_ALPHA = 0.1
ASTRA_DEFAULT_M_W = 750.0


def astra_slots(demand_ema: float, n: int, prev_slots: int, limiting: bool, m_w: float) -> int:
    """How many batteries run: AstraMeter's efficiency window with its 1.2 hysteresis.

    prev_slots is how many ran before and limiting whether some were left out before.
    """
    if m_w <= 0 or n < 2:
        return n
    per = demand_ema / n
    enter = per < m_w * ASTRA_HYSTERESIS_FACTOR if limiting else per < m_w
    if not enter:
        return n
    slots = max(1, min(n - 1, int(demand_ema / m_w)))
    if limiting and 1 <= prev_slots < slots:
        grown = int(demand_ema / (m_w * ASTRA_HYSTERESIS_FACTOR))
        slots = max(prev_slots, min(n - 1, grown))
    return slots


class AstraWindow:
    """The efficiency window's state: priority list, rotation clock, demand EMA."""

    def __init__(self, count: int, m_w: float = ASTRA_DEFAULT_M_W) -> None:
        self.m_w = m_w
        self.priority = list(range(count))
        self.left_out: set[int] = set()
        self.last_rotation = 0.0
        self.ema: float | None = None

    def sample(self, raw_abs_demand_w: float) -> None:
        """One meter sample of |battery power + grid| into the EMA."""
        if self.ema is None:
            self.ema = raw_abs_demand_w
        else:
            self.ema += ASTRA_DEMAND_ALPHA * (raw_abs_demand_w - self.ema)

    def running(self, now: float, consumers: Sequence[int]) -> list[int]:
        """The consumers (batteries able to run) that get a share now, in priority order."""
        if now - self.last_rotation >= ASTRA_ROTATION_S:
            self.last_rotation = now
            self.priority.append(self.priority.pop(0))
        order = [i for i in self.priority if i in consumers]
        n = len(order)
        prev = max(0, n - len(self.left_out & set(order)))
        limiting = bool(self.left_out & set(order))
        slots = astra_slots(self.ema or 0.0, n, prev, limiting, self.m_w)
        self.left_out = set(order[slots:])
        return order[:slots]


class AstraController(_PeerController):
    """AstraMeter's efficiency window (see the module's docstring) in the crossover frame."""

    def __init__(self, m_w: float = ASTRA_DEFAULT_M_W, name: str | None = None) -> None:
        super().__init__()
        self.name = name or "astra"
        self.m_w = m_w
        self.window = AstraWindow(0, m_w)  # sized in start()
        self.last_sample = -1

    def start(self, sim: Sim) -> float:
        self.window = AstraWindow(len(sim.boards), self.m_w)
        return super().start(sim)

    def _samples(self, sim: Sim) -> None:
        """Feed the EMA every meter sample since the last cycle (as the peer's listener)."""
        meter = sim.meter
        completed = min(meter.count, math.floor(sim.now + 1e-9))
        step = max(1, round(meter.poll_s))
        if step > 1:
            completed = (completed // step) * step
        battery_w = sum(b.reported_ac_power_w for b in sim.batteries)
        first = max(self.last_sample + 1, 0)
        for k in range(first, completed):
            if (k + 1) % step == 0:
                self.window.sample(abs(battery_w + round(meter.total[k])))
        self.last_sample = max(self.last_sample, completed - 1)

    def _allocate(self, sim: Sim) -> list[float]:
        self._samples(sim)
        n = len(sim.boards)
        demand = self._demand(sim)
        mode = "discharge" if demand > 0 else "charge"
        running = any(p != 0 for p in self.powers) and mode == self.active_mode
        if abs(demand) < DEAD_BAND_W and not running:
            self.active_mode = "stop"
            return [0.0] * n
        self.active_mode = mode
        need = demand / 0.975 if mode == "discharge" else -demand / 1.045
        eligible = [i for i in range(n) if self._eligible(sim, i, mode)]
        chosen = self.window.running(sim.now, eligible)
        caps = self._caps(sim, eligible, mode)
        shares = water_fill(min(need, sum(caps[i] for i in chosen)), [caps[i] for i in chosen])
        sign = 1.0 if mode == "discharge" else -1.0
        powers = [0.0] * n
        for i, watts in zip(chosen, shares, strict=True):
            powers[i] = sign * watts
        return powers
