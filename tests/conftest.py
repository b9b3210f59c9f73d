"""Shared fixtures: a fake LilyGo/ESPHome battery fleet and a fake P1 meter in a real `hass`.

The fleet and the meter are REAL entities of mocked integrations (`esphome` and `homewizard`),
set up through config entries, so the entity and device registries, the states (with `min`,
`max`, `step`, `mode`, `options`, unit and device class) and the services
(`number.set_value`, `select.select_option`, `homeassistant.update_entity`) all behave as in
Home Assistant: an out-of-range `number.set_value` raises `ServiceValidationError`, a call to
an unavailable entity is skipped, and the integration's own number/select entities keep
working through the same services.

Use::

    async def test_x(hass, lilygo_fleet, p1_meter):
        bat1 = await lilygo_fleet.add_battery("lilygo-bat1", soc=80)
        bat2 = await lilygo_fleet.add_battery("lilygo-bat2", prefix="", slash="-", v3=True)
        entry = make_hub_entry(p1_meter, [(bat1, "L1"), (bat2, "L2")], phase_count=3)
        entry.add_to_hass(hass)
        await hass.config_entries.async_setup(entry.entry_id)
        p1_meter.set(grid=-1200)                     # W, positive = import
        ...
        assert lilygo_fleet.writes[-1].value == 1200  # every write, in order
        assert bat1.values(Role.CHARGE_POWER) == [...]

`FakeBattery`: `entity_ids[Role]`, `device_id`, `name`, `set(role, value)` (as if the
battery reported it), `set_available(available, *roles)`, `state(role)`, `writes`,
`values(role)`, `fail_writes` (a set of roles whose writes raise `HomeAssistantError`),
`follow` (AC power follows the forced mode and power, default on), `subentry_data(phase)`.
`LilyGoFleet`: `add_battery(...)`, `batteries`, `writes` (all batteries, in order),
`clear_writes()`, `entry` (the esphome config entry).
`P1Meter`: `grid`, `phases` (entity ids), `set(grid, l1=None, l2=None, l3=None)` (also when
the value is unchanged: that moves `last_reported` like a live meter),
`set_available(available)`, `refreshes` (count of `homeassistant.update_entity` calls),
`await add_currents(unit="A")` (three phase current sensors on the same device; their ids),
`set_currents(l1, l2, l3)`, `currents` (the current sensor entities).
For nonsense states write directly: `hass.states.async_set(entity_id, "abc", attributes)`;
the fake entity overwrites it on its next write.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, Callable, Generator, Iterable, Sequence
from dataclasses import dataclass, field
import os
from typing import Any
from unittest.mock import PropertyMock, patch

from homeassistant.components.number import NumberEntity, NumberMode
from homeassistant.components.select import SelectEntity
from homeassistant.components.sensor import SensorDeviceClass, SensorEntity, SensorStateClass
from homeassistant.config_entries import ConfigEntry, ConfigFlow, ConfigSubentryData
from homeassistant.const import PERCENTAGE, Platform, UnitOfPower
from homeassistant.core import HomeAssistant
from homeassistant.exceptions import HomeAssistantError
from homeassistant.helpers import device_registry as dr
from homeassistant.helpers.device_registry import DeviceInfo
from homeassistant.helpers.entity import Entity
from homeassistant.helpers.entity_platform import AddEntitiesCallback
from homeassistant.setup import async_setup_component
from hypothesis import settings as hypothesis_settings
import pytest
from pytest_homeassistant_custom_component.common import (
    MockConfigEntry,
    MockModule,
    MockPlatform,
    mock_config_flow,
    mock_integration,
    mock_platform,
)

from custom_components.marstek_strategy.const import (
    CONF_DEVICE_ID,
    CONF_GRID_SENSOR,
    CONF_PHASE,
    CONF_PHASE_COUNT,
    CONF_PHASE_SENSORS,
    DEFAULT_OPTIONS,
    DOMAIN,
    SUBENTRY_BATTERY,
    Role,
)

# Hypothesis profiles. "ci" (when CI=true): the examples follow from each test alone
# (derandomize, no example database), so a submission never lands or fails by the luck of
# the draw. "dev" (elsewhere): new random examples every run and three times as many for
# the tests that do not fix their own number, the wider search that finds what CI cannot.
# HYPOTHESIS_PROFILE=ci reproduces CI's examples locally.
hypothesis_settings.register_profile(
    "ci", derandomize=True, database=None, deadline=None, print_blob=True
)
hypothesis_settings.register_profile("dev", deadline=None, max_examples=300)
hypothesis_settings.load_profile(
    os.environ.get("HYPOTHESIS_PROFILE")
    or ("ci" if os.environ.get("CI", "").lower() in ("true", "1") else "dev")
)

FRACTION_SLASH = "\u2044"  # as the ESPHome configs write Charge\u2044Discharge
FORCIBLE_SLASHES = (
    FRACTION_SLASH,
    "/",
    "-",
)  # U+2044 as the ESPHome configs write it, and the others

# Role -> (platform, name without the "Marstek " prefix); "{slash}" is one of FORCIBLE_SLASHES.
ROLE_NAMES: dict[Role, tuple[Platform, str]] = {
    Role.SOC: (Platform.SENSOR, "Battery State Of Charge"),
    Role.AC_POWER: (Platform.SENSOR, "AC Power"),
    Role.BATTERY_POWER: (Platform.SENSOR, "Battery Power"),
    Role.FORCIBLE_MODE: (Platform.SELECT, "Forcible Charge{slash}Discharge"),
    Role.RS485_MODE: (Platform.SELECT, "RS485 Control Mode"),
    Role.CHARGE_POWER: (Platform.NUMBER, "Forcible Charge Power"),
    Role.DISCHARGE_POWER: (Platform.NUMBER, "Forcible Discharge Power"),
    Role.MAX_CHARGE_POWER: (Platform.NUMBER, "Max. Charge Power"),
    Role.MAX_DISCHARGE_POWER: (Platform.NUMBER, "Max. Discharge Power"),
    Role.CHARGE_CUTOFF: (Platform.NUMBER, "Charging Cutoff Capacity"),
    Role.DISCHARGE_CUTOFF: (Platform.NUMBER, "Discharging Cutoff Capacity"),
    Role.INVERTER_STATE: (Platform.SENSOR, "Inverter State"),
}
V3_MISSING_ROLES = (Role.CHARGE_CUTOFF, Role.DISCHARGE_CUTOFF)  # Venus E v3 has no cutoffs

_FAKE_PLATFORMS = (Platform.SENSOR, Platform.NUMBER, Platform.SELECT)


@pytest.fixture(autouse=True)
def auto_enable_custom_integrations(enable_custom_integrations: None) -> None:
    """Load custom integrations in every test."""
    return


@pytest.fixture
def entity_registry_enabled_by_default() -> Generator[None]:
    """Create entities that are disabled by default as enabled."""
    with patch(
        "homeassistant.helpers.entity.Entity.entity_registry_enabled_default",
        new_callable=PropertyMock,
        return_value=True,
    ):
        yield


# --------------------------------------------------------------------------------------------
# A mocked integration whose entities we add at will.


class _FakeFlow(ConfigFlow):
    """The config flow handler the mocked integrations' entries need to load."""

    VERSION = 1


class _FakeIntegration:
    """A mocked integration (`esphome`, `homewizard`) with sensor/number/select platforms."""

    def __init__(self, hass: HomeAssistant, domain: str) -> None:
        self.hass = hass
        self.domain = domain
        self._adders: dict[Platform, AddEntitiesCallback] = {}
        self.entry = MockConfigEntry(domain=domain, title=domain)

    async def async_setup(self) -> None:
        async def setup_entry(hass: HomeAssistant, entry: ConfigEntry) -> bool:
            await hass.config_entries.async_forward_entry_setups(entry, _FAKE_PLATFORMS)
            return True

        async def unload_entry(hass: HomeAssistant, entry: ConfigEntry) -> bool:
            return await hass.config_entries.async_unload_platforms(entry, _FAKE_PLATFORMS)

        mock_integration(
            self.hass,
            MockModule(self.domain, async_setup_entry=setup_entry, async_unload_entry=unload_entry),
        )
        mock_platform(self.hass, f"{self.domain}.config_flow")
        for platform in _FAKE_PLATFORMS:
            mock_platform(
                self.hass,
                f"{self.domain}.{platform}",
                MockPlatform(async_setup_entry=self._platform_setup(platform)),
            )
        self.entry.add_to_hass(self.hass)
        assert await self.hass.config_entries.async_setup(self.entry.entry_id)
        await self.hass.async_block_till_done()

    def _platform_setup(self, platform: Platform) -> Callable[..., Any]:
        async def setup(
            hass: HomeAssistant, entry: ConfigEntry, async_add_entities: AddEntitiesCallback
        ) -> None:
            self._adders[platform] = async_add_entities

        return setup

    async def async_add(self, entities: Iterable[Entity]) -> None:
        for entity in entities:
            platform = {
                SensorEntity: Platform.SENSOR,
                NumberEntity: Platform.NUMBER,
                SelectEntity: Platform.SELECT,
            }[next(c for c in (SensorEntity, NumberEntity, SelectEntity) if isinstance(entity, c))]
            self._adders[platform]([entity])
        await self.hass.async_block_till_done()


# --------------------------------------------------------------------------------------------
# Fake LilyGo battery entities.


@dataclass
class Write:
    """One service call that reached a fake battery entity."""

    seq: int  # order over the whole fleet
    battery: str  # device name
    role: Role
    entity_id: str
    value: float | str
    context_id: str | None
    ok: bool = True  # False: the write raised (see FakeBattery.fail_writes)


class _FakeEntityMixin(Entity):
    """Common parts of the fake battery entities."""

    _attr_has_entity_name = True
    _attr_should_poll = False

    def __init__(self, battery: FakeBattery, role: Role, name: str) -> None:
        self.battery = battery
        self.role = role
        self._attr_name = name
        self._attr_unique_id = f"{battery.mac}-{role.value}"
        self._attr_device_info = DeviceInfo(
            connections={(dr.CONNECTION_NETWORK_MAC, battery.mac)},
            name=battery.name,
            manufacturer="Espressif",
            model="LilyGo T-CAN485",
            sw_version="2025.4.0 (ESPHome)",
        )

    def _record(self, value: float | str) -> None:
        ok = self.role not in self.battery.fail_writes
        context = self._context
        self.battery.fleet.record(
            Write(
                seq=len(self.battery.fleet.writes),
                battery=self.battery.name,
                role=self.role,
                entity_id=self.entity_id,
                value=value,
                context_id=context.id if context else None,
                ok=ok,
            )
        )
        if not ok:
            raise HomeAssistantError(f"Simulated write failure on {self.entity_id}")


class FakeSensor(_FakeEntityMixin, SensorEntity):
    """A LilyGo sensor (state of charge, AC power, inverter state)."""

    _attr_state_class = SensorStateClass.MEASUREMENT

    def __init__(self, battery: FakeBattery, role: Role, name: str, value: float | str) -> None:
        super().__init__(battery, role, name)
        if role is Role.INVERTER_STATE:  # a text sensor: Standby, Charge, Discharge, Fault, ...
            self._attr_state_class = None
        elif role is Role.SOC:
            self._attr_device_class = SensorDeviceClass.BATTERY
            self._attr_native_unit_of_measurement = PERCENTAGE
        else:
            self._attr_device_class = SensorDeviceClass.POWER
            self._attr_native_unit_of_measurement = UnitOfPower.WATT
        self._attr_native_value = value

    def report(self, value: Any) -> None:
        self._attr_native_value = value
        self.async_write_ha_state()


class FakeNumber(_FakeEntityMixin, NumberEntity):
    """A LilyGo number (forcible powers, max powers, cutoffs)."""

    _attr_mode = NumberMode.BOX

    def __init__(
        self,
        battery: FakeBattery,
        role: Role,
        name: str,
        value: float,
        spec: tuple[float, float, float, str],
    ) -> None:
        super().__init__(battery, role, name)
        (
            self._attr_native_min_value,
            self._attr_native_max_value,
            self._attr_native_step,
            self._attr_native_unit_of_measurement,
        ) = spec
        self._attr_native_value = value

    async def async_set_native_value(self, value: float) -> None:
        self._record(value)
        self._attr_native_value = value
        self.async_write_ha_state()
        self.battery.on_write(self.role)

    def report(self, value: Any) -> None:
        self._attr_native_value = value
        self.async_write_ha_state()


class FakeSelect(_FakeEntityMixin, SelectEntity):
    """A LilyGo select (forcible mode, RS485 control mode, user work mode)."""

    def __init__(
        self, battery: FakeBattery, role: Role, name: str, options: list[str], value: str
    ) -> None:
        super().__init__(battery, role, name)
        self._attr_options = options
        self._attr_current_option = value

    async def async_select_option(self, option: str) -> None:
        self._record(option)
        self._attr_current_option = option
        self.async_write_ha_state()
        self.battery.on_write(self.role)

    def report(self, value: Any) -> None:
        self._attr_current_option = value
        self.async_write_ha_state()


@dataclass
class FakeBattery:
    """One Marstek Venus E behind a LilyGo board: a device with its ESPHome entities."""

    fleet: LilyGoFleet
    name: str
    mac: str
    entities: dict[Role, _FakeEntityMixin] = field(default_factory=dict)
    extras: list[Entity] = field(default_factory=list)  # entities that map to no role
    fail_writes: set[Role] = field(default_factory=set)
    follow: bool = True  # AC power follows forced mode/power (when RS485 control is enabled)
    # Battery Power (DC, + charging) follows the AC power with these efficiencies.
    charge_efficiency: float = 0.95  # DC W into the cells per AC W taken
    discharge_efficiency: float = 0.90  # AC W delivered per DC W taken from the cells
    device_id: str = ""

    @property
    def entity_ids(self) -> dict[Role, str]:
        """Role -> entity id of this battery's entities."""
        return {role: entity.entity_id for role, entity in self.entities.items()}

    def state(self, role: Role) -> str:
        """The current state string of a role's entity."""
        state = self.fleet.hass.states.get(self.entities[role].entity_id)
        assert state is not None
        return state.state

    def set(self, role: Role, value: float | str) -> None:
        """Report a new value from the battery (as the LilyGo would)."""
        entity = self.entities[role]
        entity.report(value)  # type: ignore[attr-defined]

    def set_available(self, available: bool, *roles: Role) -> None:
        """Make some (default: all) of the battery's entities (un)available."""
        for role in roles or tuple(self.entities):
            entity = self.entities[role]
            entity._attr_available = available
            entity.async_write_ha_state()

    @property
    def writes(self) -> list[Write]:
        """The writes that reached this battery, in order."""
        return [w for w in self.fleet.writes if w.battery == self.name]

    def values(self, role: Role) -> list[float | str]:
        """The values written (successfully) to one role, in order."""
        return [w.value for w in self.writes if w.role is role and w.ok]

    def on_write(self, role: Role) -> None:
        """React to a write like the battery does."""
        if role is Role.RS485_MODE and self.state(Role.RS485_MODE) == "enable":
            work_mode = next((e for e in self.extras if isinstance(e, FakeSelect)), None)
            if work_mode is not None:
                work_mode.report("anti-feed")
        if not self.follow or Role.AC_POWER not in self.entities:
            return
        if Role.RS485_MODE in self.entities and self.state(Role.RS485_MODE) != "enable":
            return
        mode = self.state(Role.FORCIBLE_MODE)
        power = 0.0
        if mode == "charge":
            power = -float(self.state(Role.CHARGE_POWER))
            if Role.MAX_CHARGE_POWER in self.entities:
                power = max(power, -float(self.state(Role.MAX_CHARGE_POWER)))
        elif mode == "discharge":
            power = float(self.state(Role.DISCHARGE_POWER))
            if Role.MAX_DISCHARGE_POWER in self.entities:
                power = min(power, float(self.state(Role.MAX_DISCHARGE_POWER)))
        self.set(Role.AC_POWER, power)
        if Role.BATTERY_POWER in self.entities:
            self.set(Role.BATTERY_POWER, self.dc_power(power))

    def dc_power(self, ac_w: float) -> float:
        """The Battery Power (DC, + charging) that goes with an AC power (+ discharging)."""
        if ac_w < 0:
            return round(-ac_w * self.charge_efficiency, 1)
        return round(-ac_w / self.discharge_efficiency, 1)

    def subentry_data(self, phase: str = "L1") -> ConfigSubentryData:
        """The battery subentry the config flow makes for this battery."""
        return ConfigSubentryData(
            data={
                CONF_DEVICE_ID: self.device_id,
                CONF_PHASE: phase,
                **{role.value: entity_id for role, entity_id in self.entity_ids.items()},
            },
            subentry_type=SUBENTRY_BATTERY,
            title=self.name,
            unique_id=self.device_id,
        )


class LilyGoFleet:
    """A fleet of fake LilyGo batteries in the `esphome` domain."""

    def __init__(self, hass: HomeAssistant) -> None:
        self.hass = hass
        self._integration = _FakeIntegration(hass, "esphome")
        self.batteries: dict[str, FakeBattery] = {}
        self.writes: list[Write] = []

    @property
    def entry(self) -> MockConfigEntry:
        """The esphome config entry the batteries' devices belong to."""
        return self._integration.entry

    def record(self, write: Write) -> None:
        """Record one write."""
        self.writes.append(write)

    def clear_writes(self) -> None:
        """Forget the writes so far."""
        self.writes.clear()

    async def async_setup(self) -> None:
        """Set up the mocked esphome integration."""
        await self._integration.async_setup()

    async def add_battery(
        self,
        name: str = "lilygo-bat1",
        *,
        prefix: str = "Marstek ",
        slash: str = FRACTION_SLASH,
        v3: bool = False,
        roles: Iterable[Role] | None = None,
        extras: bool = True,
        soc: float = 50.0,
        mode: str = "stop",
        rs485: str = "enable",
        charge_power: float = 0.0,
        discharge_power: float = 0.0,
        max_charge_power: float = 2500.0,
        max_discharge_power: float = 800.0,
        charge_cutoff: float = 100.0,
        discharge_cutoff: float = 12.0,
        ac_power: float = 0.0,
    ) -> FakeBattery:
        """Add a battery device with its entities, named as the ESPHome configs name them.

        `prefix` "Marstek " or ""; `slash` one of FORCIBLE_SLASHES; `v3` drops the cutoff
        numbers; `roles` limits the role entities made (default all); `extras` adds entities
        that match no role ("AC Voltage", "User Work Mode", "Charge To SOC").
        """
        index = len(self.batteries) + 1
        battery = FakeBattery(fleet=self, name=name, mac=f"aa:bb:cc:dd:ee:{index:02x}")
        wanted = set(Role if roles is None else roles)
        if v3:
            wanted -= set(V3_MISSING_ROLES)

        def label(role: Role) -> str:
            return prefix + ROLE_NAMES[role][1].format(slash=slash)

        watt = UnitOfPower.WATT
        numbers: dict[Role, tuple[float, tuple[float, float, float, str]]] = {
            Role.CHARGE_POWER: (charge_power, (0, 2500, 1, watt)),
            Role.DISCHARGE_POWER: (discharge_power, (0, 2500, 1, watt)),
            Role.MAX_CHARGE_POWER: (max_charge_power, (0, 2500, 1, watt)),
            Role.MAX_DISCHARGE_POWER: (max_discharge_power, (0, 2500, 1, watt)),
            Role.CHARGE_CUTOFF: (charge_cutoff, (80, 100, 1, PERCENTAGE)),
            Role.DISCHARGE_CUTOFF: (discharge_cutoff, (12, 30, 1, PERCENTAGE)),
        }
        for role in Role:
            if role not in wanted:
                continue
            entity: _FakeEntityMixin
            if role in numbers:
                entity = FakeNumber(battery, role, label(role), *numbers[role])
            elif role is Role.SOC:
                entity = FakeSensor(battery, role, label(role), soc)
            elif role is Role.AC_POWER:
                entity = FakeSensor(battery, role, label(role), ac_power)
            elif role is Role.BATTERY_POWER:
                entity = FakeSensor(battery, role, label(role), battery.dc_power(ac_power))
            elif role is Role.INVERTER_STATE:
                entity = FakeSensor(battery, role, label(role), "Standby")
            elif role is Role.FORCIBLE_MODE:
                entity = FakeSelect(
                    battery, role, label(role), ["stop", "charge", "discharge"], mode
                )
            else:
                entity = FakeSelect(battery, role, label(role), ["enable", "disable"], rs485)
            battery.entities[role] = entity
        if extras:
            battery.extras = [
                _ExtraSelect(battery, prefix + "User Work Mode", ["manual", "anti-feed", "ai"]),
                _ExtraSensor(battery, prefix + "AC Voltage"),
                _ExtraNumber(battery, prefix + "Charge To SOC"),
            ]
        self.batteries[name] = battery
        await self._integration.async_add([*battery.entities.values(), *battery.extras])
        # The board's device by its MAC, among the esphome entry's devices (portable: the
        # registry's async_get_device raises in tests from 2026.x).
        connection = (dr.CONNECTION_NETWORK_MAC, battery.mac)
        (device,) = (
            device
            for device in dr.async_entries_for_config_entry(
                dr.async_get(self.hass), self.entry.entry_id
            )
            if connection in device.connections
        )
        battery.device_id = device.id
        return battery


class _ExtraSelect(FakeSelect):
    """User Work Mode: matches no role (and shares the select domain with two roles)."""

    def __init__(self, battery: FakeBattery, name: str, options: list[str]) -> None:
        super().__init__(battery, Role.FORCIBLE_MODE, name, options, "anti-feed")
        self._attr_unique_id = f"{battery.mac}-user_work_mode"

    async def async_select_option(self, option: str) -> None:
        self._attr_current_option = option
        self.async_write_ha_state()


class _ExtraSensor(FakeSensor):
    """AC Voltage: a sensor that matches no role (a W sensor here, to tempt the matching)."""

    def __init__(self, battery: FakeBattery, name: str) -> None:
        super().__init__(battery, Role.AC_POWER, name, 0.0)
        self._attr_unique_id = f"{battery.mac}-ac_voltage"


class _ExtraNumber(FakeNumber):
    """Charge To SOC: a % number that is no cutoff."""

    def __init__(self, battery: FakeBattery, name: str) -> None:
        super().__init__(battery, Role.CHARGE_CUTOFF, name, 100.0, (12, 100, 1, PERCENTAGE))
        self._attr_unique_id = f"{battery.mac}-charge_to_soc"

    async def async_set_native_value(self, value: float) -> None:
        self._attr_native_value = value
        self.async_write_ha_state()


@pytest.fixture
async def lilygo_fleet(hass: HomeAssistant) -> AsyncGenerator[LilyGoFleet]:
    """A fleet of fake LilyGo batteries (empty: call `await fleet.add_battery(...)`)."""
    with mock_config_flow("esphome", _FakeFlow):
        fleet = LilyGoFleet(hass)
        await fleet.async_setup()
        yield fleet


# --------------------------------------------------------------------------------------------
# Fake P1 meter.


class _MeterSensor(SensorEntity):
    """One power sensor of the fake P1 meter."""

    _attr_has_entity_name = True
    _attr_should_poll = False
    _attr_device_class = SensorDeviceClass.POWER
    _attr_state_class = SensorStateClass.MEASUREMENT
    _attr_native_unit_of_measurement = UnitOfPower.WATT

    def __init__(self, meter: P1Meter, key: str, name: str, value: float) -> None:
        self.meter = meter
        self._attr_name = name
        self._attr_unique_id = f"p1-{key}"
        self._attr_native_value = value
        self._attr_device_info = DeviceInfo(
            identifiers={("homewizard", "p1")}, name="P1 meter", manufacturer="HomeWizard"
        )

    async def async_update(self) -> None:
        """Count forced refreshes (`homeassistant.update_entity`)."""
        self.meter.refreshes += 1

    def report(self, value: float | None) -> None:
        self._attr_native_value = value
        self.async_write_ha_state()


class _CurrentSensor(_MeterSensor):
    """One phase current sensor of the fake P1 meter (A, or mA)."""

    _attr_device_class = SensorDeviceClass.CURRENT

    def __init__(self, meter: P1Meter, key: str, name: str, value: float, unit: str) -> None:
        super().__init__(meter, key, name, value)
        self._attr_native_unit_of_measurement = unit


class P1Meter:
    """A fake P1 meter: total grid power and the three phases, W, positive = import."""

    def __init__(self, hass: HomeAssistant) -> None:
        self.hass = hass
        self._integration = _FakeIntegration(hass, "homewizard")
        self.refreshes = 0
        self.currents: list[_CurrentSensor] = []  # add_currents()
        self._sensors = [
            _MeterSensor(self, "power", "Power", 0.0),
            _MeterSensor(self, "power_l1", "Power phase 1", 0.0),
            _MeterSensor(self, "power_l2", "Power phase 2", 0.0),
            _MeterSensor(self, "power_l3", "Power phase 3", 0.0),
        ]

    async def async_setup(self) -> None:
        """Set up the mocked homewizard integration and its sensors."""
        await async_setup_component(self.hass, "homeassistant", {})
        await self._integration.async_setup()
        await self._integration.async_add(self._sensors)

    @property
    def grid(self) -> str:
        """Entity id of the total grid power sensor."""
        return self._sensors[0].entity_id

    @property
    def phases(self) -> tuple[str, str, str]:
        """Entity ids of the L1, L2, L3 power sensors."""
        return (self._sensors[1].entity_id, self._sensors[2].entity_id, self._sensors[3].entity_id)

    def set(
        self,
        grid: float | None,
        l1: float | None = None,
        l2: float | None = None,
        l3: float | None = None,
    ) -> None:
        """Report readings (phases default to a third of the total each)."""
        third = None if grid is None else grid / 3
        for sensor, value in zip(self._sensors, (grid, l1, l2, l3), strict=True):
            sensor.report(third if value is None and sensor is not self._sensors[0] else value)

    def set_available(self, available: bool) -> None:
        """Make the meter's sensors (un)available."""
        for sensor in self._sensors:
            sensor._attr_available = available
            sensor.async_write_ha_state()

    async def add_currents(self, unit: str = "A") -> tuple[str, str, str]:
        """Add the meter's phase current sensors (0 A); return their entity ids (L1..L3)."""
        self.currents = [
            _CurrentSensor(self, f"current_l{n}", f"Current phase {n}", 0.0, unit)
            for n in (1, 2, 3)
        ]
        await self._integration.async_add(self.currents)
        return tuple(sensor.entity_id for sensor in self.currents)  # type: ignore[return-value]

    def set_currents(self, l1: float | None, l2: float | None, l3: float | None) -> None:
        """Report the phase currents (in the sensors' unit; also when unchanged)."""
        for sensor, value in zip(self.currents, (l1, l2, l3), strict=True):
            sensor.report(value)


@pytest.fixture
async def p1_meter(hass: HomeAssistant) -> AsyncGenerator[P1Meter]:
    """A fake P1 meter with grid power 0 W."""
    with mock_config_flow("homewizard", _FakeFlow):
        meter = P1Meter(hass)
        await meter.async_setup()
        yield meter


def make_hub_entry(
    meter: P1Meter,
    batteries: Sequence[tuple[FakeBattery, str]] = (),
    *,
    phase_count: int = 1,
    options: dict[str, Any] | None = None,
    title: str = "Marstek strategy",
) -> MockConfigEntry:
    """A ready hub config entry with battery subentries, as the config flow would make it.

    Not yet added: call `entry.add_to_hass(hass)` and `hass.config_entries.async_setup(...)`.
    `options` override the defaults (the flow stores all options).
    """
    data: dict[str, Any] = {CONF_GRID_SENSOR: meter.grid, CONF_PHASE_COUNT: phase_count}
    if phase_count == 3:
        data.update(zip(CONF_PHASE_SENSORS, meter.phases, strict=True))
    return MockConfigEntry(
        domain=DOMAIN,
        title=title,
        data=data,
        options={**DEFAULT_OPTIONS, **(options or {})},
        subentries_data=[battery.subentry_data(phase) for battery, phase in batteries],
    )


# --------------------------------------------------------------------------------------------
# The strategy hub set up on the fleet, driven by the clock (runtime tests).


@dataclass
class Hub:
    """A loaded strategy hub, with helpers to let time pass and read its entities."""

    hass: HomeAssistant
    entry: MockConfigEntry
    meter: P1Meter
    fleet: LilyGoFleet
    freezer: Any
    cycles: list[Any] = field(default_factory=list)  # utc time of every cycle

    @property
    def coordinator(self) -> Any:
        """The entry's coordinator."""
        return self.entry.runtime_data.coordinator

    def subentry_id(self, battery: FakeBattery) -> str:
        """The subentry id of a battery."""
        return next(
            sub.subentry_id
            for sub in self.entry.subentries.values()
            if sub.unique_id == battery.device_id
        )

    def entity_id(self, platform: str, key: str, battery: FakeBattery | None = None) -> str:
        """Entity id of one of the hub's (battery None) or a battery's entities."""
        from homeassistant.helpers import entity_registry as er

        owner = self.entry.entry_id if battery is None else self.subentry_id(battery)
        entity_id = er.async_get(self.hass).async_get_entity_id(platform, DOMAIN, f"{owner}_{key}")
        assert entity_id is not None
        return entity_id

    def state(self, platform: str, key: str, battery: FakeBattery | None = None) -> str:
        """State of one of the hub's or a battery's entities."""
        state = self.hass.states.get(self.entity_id(platform, key, battery))
        assert state is not None
        return state.state

    async def tick(self, seconds: float, grid: float | None = None, step: float = 0.5) -> None:
        """Let seconds pass in steps, the meter reporting grid (if given) at every step."""
        from pytest_homeassistant_custom_component.common import async_fire_time_changed_exact

        left = seconds
        while True:
            delta = min(step, left)
            left -= delta
            self.freezer.tick(delta)
            if grid is not None:
                self.meter.set(grid)
            async_fire_time_changed_exact(self.hass)
            await self.hass.async_block_till_done()
            if left <= 1e-9:
                return


@pytest.fixture
async def make_hub(
    hass: HomeAssistant, lilygo_fleet: LilyGoFleet, p1_meter: P1Meter, freezer: Any
) -> Callable[..., Any]:
    """Set up a hub on batteries [(FakeBattery, phase)]; the first cycle runs at once."""

    async def _make(
        batteries: Sequence[tuple[FakeBattery, str]],
        *,
        phase_count: int = 1,
        options: dict[str, Any] | None = None,
        grid: float | None = 0.0,
    ) -> Hub:
        from homeassistant.util import dt as dt_util

        if grid is not None:
            p1_meter.set(grid)
        entry = make_hub_entry(p1_meter, batteries, phase_count=phase_count, options=options)
        entry.add_to_hass(hass)
        hub = Hub(hass, entry, p1_meter, lilygo_fleet, freezer)
        assert await hass.config_entries.async_setup(entry.entry_id)
        entry.runtime_data.coordinator.async_add_listener(
            lambda: hub.cycles.append(dt_util.utcnow())
        )
        await hass.async_block_till_done()
        await hub.tick(0)  # the first cycle, due now
        return hub

    return _make
