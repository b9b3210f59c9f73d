"""A house at one-second resolution: per-phase load and PV from a fixed seed (pure Python).

Load = base (a daily shape or a 15-minute profile such as BDEW H0, with slow random variation),
fridge and freezer cycling, small devices, and the scenario's appliances (kettle, microwave,
oven, induction hob, washing machine, dishwasher, heat pump, EV). PV = a clear-sky curve for the
day of year and latitude, times a cloud process (passing clouds with short ramps), clipped at the
inverter's rating and spread over the inverter's phases.

Everything comes from ``random.Random(seed)``: the same spec gives the same house.
"""

from __future__ import annotations

from array import array
from collections.abc import Callable
from dataclasses import dataclass
import math
import random

PHASES = ("L1", "L2", "L3")


@dataclass(frozen=True, slots=True)
class HouseSpec:
    """What a house is made of; every number is a parameter."""

    seed: int = 1
    phases: int = 3  # 1: everything on L1
    day_of_year: int = 172
    start_h: float = 0.0  # local solar time at the first second
    duration_h: float = 24.0
    latitude_deg: float = 52.0
    # PV
    pv_kwp: float = 6.0
    pv_inverter_w: float = 5000.0
    pv_phases: tuple[str, ...] = PHASES  # a three-phase inverter spreads evenly
    cloud_fraction: float = 0.1  # share of the daylight spent under a cloud
    clear_spell_s: tuple[float, float] = (1200.0, 5400.0)  # duration of a clear spell
    cloud_spell_s: tuple[float, float] = (60.0, 400.0)  # duration of a cloud
    cloud_depth: tuple[float, float] = (0.25, 0.6)  # PV under a cloud, share of clear sky
    cloud_ramp_s: float = 15.0
    # Load
    base_w: float = 200.0  # mean base load of the house (all phases), scaled by the shape
    base_noise: float = 0.15  # relative sigma of the slow base variation
    profile_kw: tuple[float, ...] | None = None  # 15-min profile (kW) from start_h on
    profile_base_share: float = 0.55  # share of the profile carried by the smooth base
    appliances: tuple[str, ...] = ("kettle", "microwave", "washing_machine", "oven", "hob")
    heat_pump_w: float = 0.0  # electric power of a heat pump at full modulation (3 phases)
    ev_w: float = 0.0  # EV charger power (11000: three phases, 3700: one phase)
    ev_start_h: float = 18.0
    ev_kwh: float = 20.0


@dataclass(slots=True)
class House:
    """Per-phase load and PV (W, >= 0) for every second; net = load - pv."""

    spec: HouseSpec
    load: tuple[array[float], ...]
    pv: tuple[array[float], ...]

    @property
    def seconds(self) -> int:
        return len(self.load[0])

    def net(self, phase: int) -> array[float]:
        """Grid power of a phase without batteries (W, positive = import)."""
        return array("d", (a - b for a, b in zip(self.load[phase], self.pv[phase], strict=True)))

    def totals(self) -> dict[str, float]:
        """Energy of the day (kWh): load, pv and net import/export without batteries."""
        n = self.seconds
        load = sum(sum(arr) for arr in self.load) / 3.6e6
        pv = sum(sum(arr) for arr in self.pv) / 3.6e6
        imp = exp = 0.0
        for k in range(n):
            total = sum(arr[k] for arr in self.load) - sum(arr[k] for arr in self.pv)
            if total > 0:
                imp += total
            else:
                exp -= total
        return {
            "load_kwh": load,
            "pv_kwh": pv,
            "import_kwh": imp / 3.6e6,
            "export_kwh": exp / 3.6e6,
        }


# ----------------------------------------------------------------------------- helpers
def _hour(spec: HouseSpec, k: int) -> float:
    return (spec.start_h + k / 3600.0) % 24.0


def daily_shape(hour: float) -> float:
    """Relative base load over the day (1.0 = the mean): low at night, evening peak."""
    # A smooth sum of bumps; integrates to about 24 over the day.
    morning = 0.6 * math.exp(-(((hour - 7.5) / 1.2) ** 2))
    midday = 0.35 * math.exp(-(((hour - 12.5) / 2.0) ** 2))
    evening = 1.1 * math.exp(-(((hour - 19.5) / 2.2) ** 2))
    night = 0.55
    return night + morning + midday + evening


def clear_sky_w_per_m2(day_of_year: int, latitude_deg: float, hour: float) -> float:
    """Clear-sky global irradiance (Haurwitz) at local solar time (W/m2)."""
    decl = math.radians(23.45) * math.sin(2 * math.pi * (284 + day_of_year) / 365.0)
    lat = math.radians(latitude_deg)
    hour_angle = math.radians(15.0 * (hour - 12.0))
    sin_elev = math.sin(lat) * math.sin(decl) + math.cos(lat) * math.cos(decl) * math.cos(
        hour_angle
    )
    if sin_elev <= 0.01:
        return 0.0
    return 1098.0 * sin_elev * math.exp(-0.057 / sin_elev)


class _Builder:
    def __init__(self, spec: HouseSpec) -> None:
        self.spec = spec
        self.rng = random.Random(spec.seed)
        self.n = round(spec.duration_h * 3600)
        self.load = tuple(array("d", bytes(8 * self.n)) for _ in PHASES)
        self.pv = tuple(array("d", bytes(8 * self.n)) for _ in PHASES)

    def phase(self, index: int) -> int:
        return index if self.spec.phases == 3 else 0

    def add(self, phase: int, start: int, powers: list[float]) -> None:
        arr = self.load[self.phase(phase)]
        for i, watts in enumerate(powers):
            k = start + i
            if 0 <= k < self.n:
                arr[k] += watts
            elif k >= self.n:
                break

    def start_between(self, first_h: float, last_h: float) -> int | None:
        """A start second between two hours of the day, or None when outside the window."""
        spec = self.spec
        hour = self.rng.uniform(first_h, last_h)
        k = round(((hour - spec.start_h) % 24.0) * 3600)
        return k if k < self.n else None


# ----------------------------------------------------------------------------- base load
def _base(b: _Builder) -> None:
    spec, rng, n = b.spec, b.rng, b.n
    theta = 1.0 / 600.0  # the slow variation relaxes over ten minutes
    sigma = spec.base_noise * math.sqrt(2 * theta)
    shares = (0.4, 0.3, 0.3)
    profile = spec.profile_kw
    for ph in range(3):
        arr = b.load[b.phase(ph)]
        x = 0.0
        for k in range(n):
            x += -theta * x + sigma * rng.gauss(0.0, 1.0)
            if profile is not None:
                slot = min(k // 900, len(profile) - 1)
                nxt = min(slot + 1, len(profile) - 1)
                frac = (k % 900) / 900.0
                level = 1000.0 * (profile[slot] * (1 - frac) + profile[nxt] * frac)
                level *= spec.profile_base_share
            else:
                level = spec.base_w * daily_shape(_hour(spec, k))
            arr[k] += max(20.0, level * shares[ph] * (1.0 + x))
    # Fridge (L1) and freezer (L2): compressor cycles with a start spike.
    for ph, watts, on_s, off_s in (
        (0, 90.0, (600, 1200), (1200, 2400)),
        (1, 110.0, (900, 1500), (1500, 3000)),
    ):
        k = -rng.randrange(0, 3000)
        while k < n:
            on = rng.randint(*on_s)
            powers = [watts * (3.0 if i < 2 else 1.0) for i in range(on)]
            b.add(ph, k, powers)
            k += on + rng.randint(*off_s)
    # Small devices in the evening: TV, lights, a PC on random phases.
    for watts, first, last, dur in (
        (120.0, 18.5, 20.5, (5400, 10800)),
        (60.0, 17.0, 19.0, (10800, 18000)),
        (150.0, 9.0, 14.0, (3600, 14400)),
    ):
        start = b.start_between(first, last)
        if start is not None:
            b.add(
                rng.randrange(3),
                start,
                [watts * (1 + 0.05 * rng.gauss(0, 1)) for _ in range(rng.randint(*dur))],
            )


def _profile_detail(b: _Builder) -> None:
    """Carry the profile's remaining energy in each 15 minutes as appliance-like pulses."""
    spec, rng = b.spec, b.rng
    share = 1.0 - spec.profile_base_share
    for slot, kw in enumerate(spec.profile_kw or ()):
        energy = kw * 1000.0 * share * 900.0  # J to place in this slot
        while energy > 1.0:
            watts = rng.uniform(700.0, 2400.0)
            duration = max(5, min(900, round(min(energy / watts, rng.uniform(30, 400)))))
            watts = min(watts, energy / duration)
            start = slot * 900 + rng.randrange(0, 900)
            b.add(rng.randrange(3), start, [watts] * duration)
            energy -= watts * duration


# ----------------------------------------------------------------------------- appliances
def _kettle(b: _Builder) -> None:
    for first, last in ((6.5, 8.5), (10.0, 11.0), (12.0, 13.5), (15.5, 17.0), (19.0, 22.0)):
        if b.rng.random() < 0.8:
            start = b.start_between(first, last)
            if start is not None:
                b.add(0, start, [b.rng.uniform(1900, 2200)] * b.rng.randint(100, 240))


def _microwave(b: _Builder) -> None:
    rng = b.rng
    for first, last in ((7.0, 9.0), (12.0, 13.5), (17.5, 19.5), (21.0, 23.0)):
        if rng.random() < 0.6:
            start = b.start_between(first, last)
            if start is None:
                continue
            duty = rng.choice((1.0, 1.0, 0.5, 0.3))
            powers = [1250.0 if (i % 30) < 30 * duty else 60.0 for i in range(rng.randint(60, 360))]
            b.add(1, start, powers)


def _oven(b: _Builder) -> None:
    rng = b.rng
    start = b.start_between(17.0, 18.5)
    if start is None:
        return
    heat = [2900.0] * rng.randint(480, 780)
    cycling: list[float] = []
    while len(cycling) < rng.randint(1800, 3600):
        on, off = rng.randint(40, 90), rng.randint(60, 150)
        cycling += [2900.0] * on + [40.0] * off
    b.add(1, start, heat + cycling)


def _hob(b: _Builder) -> None:
    rng = b.rng
    for first, last in ((12.0, 12.5), (17.5, 18.5)):
        if rng.random() < 0.7:
            start = b.start_between(first, last)
            if start is None:
                continue
            powers: list[float] = []
            for _ in range(rng.randint(3, 6)):  # cooking stages
                level = rng.choice((3600.0, 2200.0, 1400.0, 700.0))
                pulse = level < 1500  # low settings pulse on and off
                for i in range(rng.randint(180, 600)):
                    powers.append(
                        2000.0
                        if pulse and (i % 12) < 12 * level / 2000
                        else (0.0 if pulse else level)
                    )
            b.add(2, start, powers)


def _washing(b: _Builder) -> None:
    rng = b.rng
    start = b.start_between(9.0, 20.0)
    if start is None:
        return
    powers = [2050.0] * rng.randint(600, 1200)  # heating the water
    for i in range(rng.randint(2400, 3600)):  # washing: the drum turns both ways
        powers.append(250.0 + 150.0 * math.sin(i / 7.0) if (i // 20) % 2 else 30.0)
    powers += [450.0 + rng.uniform(-50, 50) for _ in range(420)]  # spin
    b.add(2, start, powers)


def _dishwasher(b: _Builder) -> None:
    rng = b.rng
    start = b.start_between(19.5, 21.5)
    if start is None:
        return
    powers = [80.0] * 300 + [2100.0] * rng.randint(900, 1300) + [80.0] * 1800
    powers += [2100.0] * rng.randint(500, 800) + [20.0] * 2400
    b.add(0, start, powers)


def _heat_pump(b: _Builder) -> None:
    spec, rng, n = b.spec, b.rng, b.n
    k = 0
    while k < n:
        on = rng.randint(2400, 5400)
        level = rng.uniform(0.4, 1.0)
        for i in range(on):
            if k + i >= n:
                break
            ramp = min(1.0, i / 120.0)
            watts = spec.heat_pump_w * level * ramp * (1 + 0.03 * math.sin(i / 37.0))
            for ph in range(3):
                b.load[b.phase(ph)][k + i] += watts / 3.0
            level = min(1.0, max(0.3, level + rng.gauss(0, 0.002)))
        k += on
        # defrost or pause
        k += rng.randint(300, 1500)


def _ev(b: _Builder) -> None:
    spec = b.spec
    start = b.start_between(spec.ev_start_h, spec.ev_start_h + 0.25)
    if start is None:
        return
    duration = round(spec.ev_kwh * 3.6e6 / spec.ev_w)
    if spec.ev_w > 7400:
        for ph in range(3):
            b.add(ph, start, [spec.ev_w / 3.0] * duration)
    else:
        b.add(0, start, [spec.ev_w] * duration)


APPLIANCES: dict[str, Callable[[_Builder], None]] = {
    "kettle": _kettle,
    "microwave": _microwave,
    "oven": _oven,
    "hob": _hob,
    "washing_machine": _washing,
    "dishwasher": _dishwasher,
}


# ----------------------------------------------------------------------------- PV
def _pv(b: _Builder) -> None:
    spec, rng, n = b.spec, b.rng, b.n
    if spec.pv_kwp <= 0:
        return
    # The cloud process: alternate clear spells and clouds, ramping between them.
    factor = array("d", [1.0]) * n
    k = 0
    target = 1.0
    level = 1.0
    clear_mean = sum(spec.clear_spell_s) / 2
    cloud_mean = sum(spec.cloud_spell_s) / 2
    # Scale the clear spells so that the cloud fraction comes out as asked.
    if spec.cloud_fraction > 0:
        scale = cloud_mean * (1 - spec.cloud_fraction) / (spec.cloud_fraction * clear_mean)
    else:
        scale = 1e9
    clouded = rng.random() < spec.cloud_fraction
    step = 1.0 / max(spec.cloud_ramp_s, 1.0)
    while k < n:
        if clouded:
            length = round(rng.uniform(*spec.cloud_spell_s))
            target = rng.uniform(*spec.cloud_depth)
        else:
            length = round(rng.uniform(*spec.clear_spell_s) * scale)
            target = 1.0
        for i in range(min(length, n - k)):
            level += max(-step, min(step, target - level))
            factor[k + i] = level
        k += length
        clouded = not clouded
    phases = [PHASES.index(p) for p in spec.pv_phases]
    for k in range(n):
        ghi = clear_sky_w_per_m2(spec.day_of_year, spec.latitude_deg, _hour(spec, k))
        if ghi <= 0:
            continue
        watts = min(spec.pv_inverter_w, spec.pv_kwp * ghi * 0.85 * factor[k])
        share = watts / len(phases)
        for ph in phases:
            b.pv[b.phase(ph)][k] += share


def build_house(spec: HouseSpec) -> House:
    """Generate the house of spec (deterministic from spec.seed)."""
    b = _Builder(spec)
    _base(b)
    if spec.profile_kw is not None:
        _profile_detail(b)
    for name in spec.appliances:
        APPLIANCES[name](b)
    if spec.heat_pump_w > 0:
        _heat_pump(b)
    if spec.ev_w > 0:
        _ev(b)
    _pv(b)
    return House(spec, b.load, b.pv)
