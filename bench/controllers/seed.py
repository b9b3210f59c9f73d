"""The seed's computation and loop with the original script's arithmetic, defects included.

Kept separate from the engine on purpose: the benchmark measures what the engine's fixes change.
Three batteries on three phases is what the seed supports; here it runs on any count (the phase
power of each battery is the one of its own phase), which is the most generous reading.

The arithmetic is the original's (seed-strategy.md, "The original's arithmetic, exactly"):
- a battery at its cutoff is set to 0 without its power added back to the demand; one within
  15 points (``<= 15``) is released and its power added back; after a direction change the
  release is judged again against the new direction;
- the phase step (B) is skipped only when some battery is held back;
- power to remove is taken from the first running battery by index (the original's bug);
- watts are truncated with ``int()``.
Other readings: "more than N points" is a distance above N, "within 10 points" of the opposite
cutoff a distance below 10 (the seed README's worked example: above 90 %, below 85 %); steps 1
and 2 measure distances for the previous overall mode (stop counts as charging).
Writes: every cycle the power number of each running battery's mode (the description says the
numbers are written and only the select is spared); a stopped battery gets its select only.
"""

from __future__ import annotations

from dataclasses import dataclass

from bench.loop import Sim

CHARGE, DISCHARGE, STOP = "c", "d", "s"
WORDS = {CHARGE: "charge", DISCHARGE: "discharge", STOP: "stop"}


@dataclass(frozen=True, slots=True)
class SeedBattery:
    soc: float
    top: float
    bottom: float
    max_charge: float
    max_discharge: float
    phase: float


def seed_cycle(
    grid: float,
    batteries: list[SeedBattery],
    mode: str,
    modes: list[str],
    powers: list[float],
) -> tuple[str, list[str], list[float]]:
    """One run of the seed's pyscript service: (overall mode, modes, powers)."""
    n = len(batteries)
    powers = list(powers)
    direction = 1 if mode in (CHARGE, STOP) else -1
    release_factor = 1.045 if direction == 1 else 0.975

    def dist(b: SeedBattery, d: int) -> float:
        return b.top - b.soc if d == 1 else b.soc - b.bottom

    at_cutoff = [dist(b, direction) <= 0 for b in batteries]
    released = [False] * n
    # 1. Release batteries near their cutoff; one at its cutoff just stops.
    for i, b in enumerate(batteries):
        if at_cutoff[i]:
            powers[i] = 0.0
            released[i] = True
        elif dist(b, direction) <= 15:
            grid -= direction * release_factor * powers[i]
            powers[i] = 0.0
            released[i] = True
    # 2. Batteries left behind: near the opposite cutoff; the others far from it are held.
    held = [False] * n
    if any(dist(b, -direction) < 10 for b in batteries):
        for i, b in enumerate(batteries):
            if dist(b, -direction) > 15 and not released[i]:
                grid -= direction * release_factor * powers[i]
                powers[i] = 0.0
                released[i] = held[i] = True
    # 3. Charge taper.
    if mode == CHARGE:
        for i, b in enumerate(batteries):
            if b.soc >= 95 and powers[i] > 1250:
                powers[i] = 1250.0
    # 4. Direction.
    total = sum(powers)
    if direction * total < grid:
        new_mode, delta = DISCHARGE, 1.026 * grid
    else:
        new_mode, delta = CHARGE, -0.957 * grid
    new_dir = 1 if new_mode == CHARGE else -1
    cap = [b.max_charge if new_mode == CHARGE else b.max_discharge for b in batteries]
    at_new_cutoff = [dist(b, new_dir) <= 0 for b in batteries]
    # 5. Mode change: the release is judged again for the new direction.
    if new_mode != mode:
        powers = [0.0] * n
        delta -= total
        if delta < 30:
            return STOP, [STOP] * n, [0.0] * n
        released = [held[i] or dist(b, new_dir) <= 15 for i, b in enumerate(batteries)]
    # 6. Step A: batteries already running.
    running = [i for i in range(n) if powers[i] > 0 and not released[i]]
    if delta > 0:
        while delta > 0:
            options = [i for i in running if powers[i] < cap[i] and not at_new_cutoff[i]]
            if not options:
                break
            i = max(options, key=lambda j: powers[j])
            add = min(delta, cap[i] - powers[i])
            powers[i] += add
            delta -= add
    elif delta < 0:
        while delta < 0:
            options = [i for i in running if powers[i] > 0]
            if not options:
                break
            i = options[0]  # the original takes from the first by index, not the lowest
            take = min(-delta, powers[i])
            powers[i] -= take
            delta += take
    # 7. Step B: start a battery by phase (with the seed's defect in the choice), skipped
    # when a battery is held back.
    if not any(held):
        while delta > 0:
            eligible = [
                i
                for i, b in enumerate(batteries)
                if powers[i] == 0 and not released[i] and dist(b, new_dir) > 15
            ]
            if not eligible:
                break
            pick = eligible[0]
            for i in eligible:
                signed = batteries[i].phase if new_mode == CHARGE else -batteries[i].phase
                if signed < 0:
                    pick = i
            add = min(delta, cap[pick])
            powers[pick] = add
            delta -= add
            if add <= 0:
                break
    # 8. Step C: the rest, by state of charge.
    if delta > 0:
        idle = [i for i in range(n) if powers[i] == 0 and not at_new_cutoff[i]]
        idle.sort(key=lambda j: batteries[j].soc, reverse=new_mode == DISCHARGE)
        for i in idle:
            if delta <= 0:
                break
            add = min(delta, cap[i])
            powers[i] = add
            delta -= add
    # 9. Step D: merge a small setpoint.
    nonzero = [i for i in range(n) if powers[i] > 0]
    if len(nonzero) >= 2:
        small = min(nonzero, key=lambda j: powers[j])
        high = max(nonzero, key=lambda j: powers[j])
        if powers[small] < 500 and powers[high] > powers[small]:
            if powers[high] + powers[small] <= cap[high]:
                powers[high] += powers[small]
                powers[small] = 0.0
            else:
                half = (powers[high] + powers[small]) / 2
                powers[high] = powers[small] = half
    # 10. Result.
    out_modes: list[str] = []
    for i in range(n):
        if powers[i] <= 0 or at_new_cutoff[i]:
            powers[i] = 0.0
            out_modes.append(STOP)
        else:
            out_modes.append(new_mode)
    overall = STOP if all(m == STOP for m in out_modes) else new_mode
    return overall, out_modes, [float(int(p)) for p in powers]


class SeedController:
    """The seed's loop: refresh the meter, compute, write, wait 12 s after a start else 6.5 s."""

    name = "seed"
    per_second = False

    def __init__(self) -> None:
        self.mode = STOP
        self.modes: list[str] = []
        self.powers: list[float] = []

    def start(self, sim: Sim) -> float:
        n = len(sim.boards)
        self.modes = [STOP] * n
        self.powers = [0.0] * n
        for i in range(n):
            sim.write(i, "rs485_enable", "enable")
            sim.write(i, "mode", "stop")
        return 8.0

    def cycle(self, sim: Sim) -> float:
        batteries = [
            SeedBattery(
                soc=float(sim.soc(i)),
                top=setup.charge_cutoff,
                bottom=setup.discharge_cutoff,
                max_charge=setup.max_charge_w,
                max_discharge=setup.max_discharge_w,
                phase=sim.phase_w(i),
            )
            for i, setup in enumerate(sim.setups)
        ]
        mode, modes, powers = seed_cycle(
            sim.grid_w(), batteries, self.mode, self.modes, self.powers
        )
        started = False
        for i, (new, power) in enumerate(zip(modes, powers, strict=True)):
            if new == CHARGE:
                sim.write(i, "charge_power", int(power))
            elif new == DISCHARGE:
                sim.write(i, "discharge_power", int(power))
            if new != self.modes[i]:
                sim.write(i, "mode", WORDS[new])
                started = started or new != STOP
        self.mode, self.modes, self.powers = mode, modes, powers
        return 12.0 if started else 6.5

    def second(self, sim: Sim, k: int) -> None:
        raise NotImplementedError
