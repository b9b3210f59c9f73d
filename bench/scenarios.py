"""The benchmark's scenarios: a house, its batteries and how the meter is read."""

from __future__ import annotations

from dataclasses import dataclass, field, replace

from bench.sim.battery import BatteryParams
from bench.sim.house import HouseSpec


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

#: The --quick subset: short windows of three scenarios.
QUICK: tuple[tuple[str, float, float], ...] = (
    ("cloudy", 11.0, 1.0),  # name, start hour, hours
    ("evening", 17.0, 1.5),
    ("night", 0.0, 1.5),
)


def by_name(name: str) -> Scenario:
    for scenario in SCENARIOS:
        if scenario.name == name:
            return scenario
    raise KeyError(name)


def window(scenario: Scenario, start_h: float, hours: float) -> Scenario:
    """The same scenario cut to a window (start_h is the hour of day)."""
    house = replace(scenario.house, start_h=start_h, duration_h=hours)
    return replace(scenario, name=f"{scenario.name}@{start_h:g}h+{hours:g}h", house=house)


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
