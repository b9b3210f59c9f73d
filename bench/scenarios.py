"""The benchmark's scenarios: a house, its batteries and how the meter is read."""

from __future__ import annotations

from dataclasses import dataclass, field, replace

from bench.sim.battery import MEASURED_EFFICIENCY, BatteryParams
from bench.sim.house import HouseSpec

type Table = tuple[tuple[float, float, float], ...]


@dataclass(frozen=True, slots=True)
class BatterySetup:
    """One battery: its phase, starting state of charge and the integration's settings."""

    phase: str = "L1"
    soc: float = 50.0
    charge_cutoff: float = 100.0
    discharge_cutoff: float = 12.0  # the seed's floor (the LilyGo register's minimum)
    max_charge_w: int = 2500
    max_discharge_w: int = 2500
    params: BatteryParams = field(default_factory=BatteryParams)


@dataclass(frozen=True, slots=True)
class Scenario:
    """A house, its batteries, the meter polling and where the load profile comes from."""

    name: str
    description: str
    house: HouseSpec
    batteries: tuple[BatterySetup, ...]
    meter_poll_s: float = 1.0
    profile: str | None = None  # "bdew_h0": the house's base from demandlib (bench venv)
    profile_kwh_per_year: float = 3500.0
    profile_date: str = "2025-03-19"
    extra: tuple[str, ...] = ()  # controllers run only here (bench.controllers.EXTRA)

    @property
    def phase_count(self) -> int:
        return self.house.phases


def three(socs: tuple[float, float, float]) -> tuple[BatterySetup, ...]:
    return tuple(
        BatterySetup(phase=ph, soc=soc) for ph, soc in zip(("L1", "L2", "L3"), socs, strict=True)
    )


SUMMER = HouseSpec(seed=11, day_of_year=172, pv_kwp=6.0, cloud_fraction=0.08)
CLOUDY = HouseSpec(
    seed=12,
    day_of_year=120,
    pv_kwp=5.0,
    pv_inverter_w=4600.0,
    cloud_fraction=0.65,
    clear_spell_s=(20.0, 300.0),
    cloud_spell_s=(20.0, 240.0),
    cloud_depth=(0.15, 0.45),
    cloud_ramp_s=6.0,
    appliances=("kettle", "microwave", "washing_machine", "dishwasher", "hob"),
)
WINTER = HouseSpec(
    seed=13,
    day_of_year=355,
    pv_kwp=6.0,
    cloud_fraction=0.3,
    base_w=260.0,
    heat_pump_w=1500.0,
    appliances=("kettle", "microwave", "oven", "hob", "washing_machine", "dishwasher"),
)
EVENING = HouseSpec(
    seed=14,
    day_of_year=300,
    start_h=16.0,
    duration_h=8.0,
    pv_kwp=6.0,
    cloud_fraction=0.2,
    appliances=("kettle", "microwave", "oven", "hob", "dishwasher"),
)
NIGHT = HouseSpec(
    seed=15,
    day_of_year=60,
    start_h=22.0,
    duration_h=9.0,
    pv_kwp=0.0,
    base_w=250.0,
    base_noise=0.25,
    appliances=(),
)

SCENARIOS: tuple[Scenario, ...] = (
    Scenario(
        "summer",
        "June, 6 kWp PV with a few clouds, 3 batteries on 3 phases, low start",
        SUMMER,
        three((20.0, 35.0, 50.0)),
    ),
    Scenario(
        "cloudy",
        "May, 5 kWp PV under fast passing clouds (65 % of the time), 3 batteries on 3 phases",
        CLOUDY,
        three((40.0, 55.0, 70.0)),
    ),
    Scenario(
        "winter",
        "December, little PV, a 1.5 kW heat pump, 3 batteries on 3 phases",
        WINTER,
        three((70.0, 80.0, 90.0)),
    ),
    Scenario(
        "evening",
        "16:00 to 24:00, oven, induction hob, kettle, microwave: heavy short loads",
        EVENING,
        three((85.0, 90.0, 95.0)),
    ),
    Scenario(
        "night",
        "22:00 to 07:00, 100 to 400 W base load only (low-power losses dominate)",
        NIGHT,
        three((70.0, 80.0, 60.0)),
    ),
    Scenario(
        "bdew_h0",
        "BDEW H0 profile (demandlib, 3500 kWh/a, March) with stochastic detail, 5 kWp PV",
        replace(
            CLOUDY,
            seed=16,
            day_of_year=78,
            pv_kwp=5.0,
            pv_inverter_w=4600.0,
            cloud_fraction=0.3,
            clear_spell_s=(300.0, 1800.0),
            cloud_spell_s=(60.0, 600.0),
            appliances=(),
        ),
        three((30.0, 45.0, 60.0)),
        profile="bdew_h0",
    ),
    Scenario(
        "single_phase",
        "One phase: 2 batteries on L1, 3.6 kWp single-phase PV, April",
        HouseSpec(
            seed=17,
            phases=1,
            day_of_year=105,
            pv_kwp=3.6,
            pv_inverter_w=3600.0,
            pv_phases=("L1",),
            cloud_fraction=0.25,
        ),
        (BatterySetup("L1", 40.0), BatterySetup("L1", 60.0)),
    ),
    Scenario(
        "six_batteries",
        "June, 10 kWp PV, 11 kW EV in the evening, 6 batteries (2 per phase)",
        replace(
            SUMMER,
            seed=18,
            pv_kwp=10.0,
            pv_inverter_w=8000.0,
            cloud_fraction=0.2,
            ev_w=11000.0,
            ev_start_h=18.5,
            ev_kwh=18.0,
        ),
        tuple(
            BatterySetup(ph, soc)
            for ph, soc in zip(
                ("L1", "L1", "L2", "L2", "L3", "L3"), (25, 40, 55, 30, 65, 45), strict=True
            )
        ),
    ),
)


def skewed(table: Table, charge_low: float, discharge_low: float, shift: float) -> Table:
    """The plant's own curve unlike the model's: loss times a factor at low power, rows shifted.

    The loss at and below 375 W is multiplied by charge_low / discharge_low, fading linearly to
    the model's at 1000 W; every row's power is multiplied by shift.
    """
    rows = []
    for ac, charge, discharge in table:
        fade = min(1.0, max(0.0, (1000.0 - ac) / (1000.0 - 375.0)))
        c_loss = (1.0 - charge) * (1.0 + (charge_low - 1.0) * fade)
        d_loss = (1.0 / discharge - 1.0) * (1.0 + (discharge_low - 1.0) * fade)
        rows.append((round(ac * shift, 1), 1.0 - c_loss, 1.0 / (1.0 + d_loss)))
    return tuple(rows)


def worse(table: Table, points: float) -> Table:
    """A battery whose charge and discharge efficiencies are points (%) lower."""
    return tuple((ac, c - points / 100.0, d - points / 100.0) for ac, c, d in table)


#: The plant unlike the model: +20 % loss at low power discharging, -20 % charging, the curve
#: shifted 15 % up in power.
OFF_MODEL = skewed(MEASURED_EFFICIENCY, 0.8, 1.2, 1.15)
#: The slower plant: dead time 2 s, time constant 4 s, relay from stop 6 s more.
SLOW = BatteryParams(dead_time_s=2.0, tau_s=4.0, from_stop_extra_s=6.0)


def _base(name: str) -> Scenario:
    return next(scenario for scenario in SCENARIOS if scenario.name == name)


def _variant(name: str, description: str, **changes: object) -> Scenario:
    """The cloudy day from 05:00 to 21:00 with one thing changed (the suite's variants)."""
    base = _base("cloudy")
    base = replace(base, house=replace(base.house, start_h=5.0, duration_h=16.0))
    return replace(base, name=name, description=description, **changes)  # type: ignore[arg-type]


def variants() -> tuple[Scenario, ...]:
    """The variants: plant off the model, mixed fleet, one 800 W battery, slow plant, 5 s meter."""
    cloudy = _base("cloudy")
    off = BatteryParams(efficiency_table=OFF_MODEL)
    return (
        _variant(
            "v_off_model",
            "cloudy; the plant's curve unlike the model (low-power loss +20 % discharging, "
            "-20 % charging, rows 15 % higher in power)",
            batteries=tuple(replace(b, params=off) for b in cloudy.batteries),
            extra=("efficiency_known", "efficiency_learned"),
        ),
        _variant(
            "v_mixed_fleet",
            "cloudy; battery 2 is 5 points less efficient (the engine is not told)",
            batteries=(
                *cloudy.batteries[:2],
                replace(
                    cloudy.batteries[2],
                    params=BatteryParams(efficiency_table=worse(MEASURED_EFFICIENCY, 5.0)),
                ),
            ),
            extra=("efficiency_known", "efficiency_learned"),
        ),
        _variant(
            "v_one_800w",
            "cloudy; battery 1 limited to 800 W both ways",
            batteries=(
                cloudy.batteries[0],
                replace(
                    cloudy.batteries[1],
                    max_charge_w=800,
                    max_discharge_w=800,
                    params=BatteryParams(max_charge_w=800.0, max_discharge_w=800.0),
                ),
                cloudy.batteries[2],
            ),
        ),
        _variant(
            "v_slow_plant",
            "cloudy; slower plant: dead time 2 s, time constant 4 s, relay from stop +6 s",
            batteries=tuple(replace(b, params=SLOW) for b in cloudy.batteries),
        ),
        _variant("v_meter_5s", "cloudy; the meter polled every 5 s", meter_poll_s=5.0),
    )


#: The --quick subset: short windows of three scenarios.
QUICK: tuple[tuple[str, float, float], ...] = (
    ("cloudy", 11.0, 1.0),  # name, start hour, hours
    ("evening", 17.0, 1.5),
    ("night", 0.0, 1.5),
    ("v_mixed_fleet", 11.0, 1.0),
    ("v_slow_plant", 11.0, 1.0),
)


def by_name(name: str) -> Scenario:
    for scenario in (*SCENARIOS, *VARIANTS):
        if scenario.name == name:
            return scenario
    raise KeyError(name)


BASE: tuple[Scenario, ...] = SCENARIOS
VARIANTS: tuple[Scenario, ...] = variants()
#: The default suite: the base scenarios and the variants.
SUITE: tuple[Scenario, ...] = (*BASE, *VARIANTS)


def window(scenario: Scenario, start_h: float, hours: float) -> Scenario:
    """The same scenario cut to a window (start_h is the hour of day)."""
    house = replace(scenario.house, start_h=start_h, duration_h=hours)
    return replace(scenario, name=f"{scenario.name}@{start_h:g}h+{hours:g}h", house=house)


def daytime(scenarios: list[Scenario]) -> list[Scenario]:
    """The scenarios that span 08:00-16:00 cut to it (``--daytime``); the others as they are."""
    return [
        window(s, 8.0, 8.0)
        if s.house.start_h <= 8.0 and s.house.start_h + s.house.duration_h >= 16.0
        else s
        for s in scenarios
    ]


def bdew_h0(day: str, kwh_per_year: float, start_h: float, duration_h: float) -> tuple[float, ...]:
    """The BDEW H0 profile (kW per 15 min) of a day from demandlib (benchmark venv only)."""
    import warnings

    from demandlib import bdew  # type: ignore[import-not-found,import-untyped,unused-ignore]
    import pandas as pd  # type: ignore[import-not-found,import-untyped,unused-ignore]

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        year = int(day[:4])
        profile = bdew.ElecSlp(year).get_scaled_power_profiles({"h0": kwh_per_year})["h0"]
    start = pd.Timestamp(day) + pd.Timedelta(hours=start_h)
    values = profile.loc[start : start + pd.Timedelta(hours=duration_h + 0.25)]
    return tuple(float(v) for v in values.to_numpy())


def resolve(scenario: Scenario) -> HouseSpec:
    """The scenario's house spec with its real profile filled in where it has one."""
    if scenario.profile == "bdew_h0":
        kw = bdew_h0(
            scenario.profile_date,
            scenario.profile_kwh_per_year,
            scenario.house.start_h,
            scenario.house.duration_h,
        )
        return replace(scenario.house, profile_kw=kw)
    return scenario.house


def with_plant(
    scenario: Scenario, *, standby_w: float | None = None, start_cost_wh: float | None = None
) -> Scenario:
    """The scenario with every battery's standby and start cost set (None: unchanged).

    The engine's own model keeps its defaults: only the plant changes (what a user whose
    batteries draw another standby would see).
    """
    changes: dict[str, float] = {}
    if standby_w is not None:
        changes["standby_w"] = standby_w
    if start_cost_wh is not None:
        changes["start_cost_wh"] = start_cost_wh
    if not changes:
        return scenario
    batteries = tuple(
        replace(b, params=replace(b.params, **changes))  # type: ignore[arg-type]
        for b in scenario.batteries
    )
    return replace(scenario, batteries=batteries)
