"""Fake batteries of the other connectors, built from the entities each one really creates.

The facts (platform, translation key or object id, name in en/nl/de, options, unit, min, max,
step, enabled by default, device or none) are those of the public sources, read December 2026:

* ``marstek_modbus`` (ViperRNMC/marstek_venus_modbus): one config entry and one device per
  battery, ``has_entity_name`` with ``translation_key`` = the register map's key and unique id
  ``<entry_id>_<key>``; ``registers/e_v12.yaml`` for the options, steps and which entities are
  enabled by default, ``translations/{en,nl,de}.json`` for the names; numbers carry no unit
  (number.py keeps the unit for its writes only); writes log and return without an error, the
  state is set optimistically and read again after a failed write; polled every 10 s.
* Home Assistant ``modbus`` YAML sensors and ``template`` select/number entities in the
  ``marstek_mN_*`` naming (v3 LAN-port packages, no cutoff registers): no device; a template
  entity without ``unique_id`` is not in the entity registry at all.

Every write reaches the fake as the service call Home Assistant makes (select_option,
set_value, turn_on/turn_off) and is recorded in the connector's own words (``standby``,
``on``). A unit's AC power follows its forced mode and power while RS485 control is on.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from homeassistant.components.number import NumberEntity, NumberMode
from homeassistant.components.select import SelectEntity
from homeassistant.components.sensor import SensorDeviceClass, SensorEntity, SensorStateClass
from homeassistant.components.switch import SwitchEntity
from homeassistant.config_entries import ConfigEntry
from homeassistant.const import PERCENTAGE, Platform, UnitOfPower
from homeassistant.core import HomeAssistant
from homeassistant.helpers import entity_registry as er
from homeassistant.helpers.device_registry import DeviceInfo
from homeassistant.helpers.entity import Entity
from homeassistant.helpers.entity_platform import AddEntitiesCallback
from pytest_homeassistant_custom_component.common import (
    MockConfigEntry,
    MockModule,
    MockPlatform,
    mock_integration,
    mock_platform,
)

from custom_components.marstek_strategy.const import Role

PLATFORMS = (Platform.SENSOR, Platform.NUMBER, Platform.SELECT, Platform.SWITCH)
W, PCT = UnitOfPower.WATT, PERCENTAGE
POWER, BATTERY = SensorDeviceClass.POWER, SensorDeviceClass.BATTERY


@dataclass(frozen=True)
class Fact:
    """One entity a connector creates for a battery."""

    role: Role | None  # None: the User Work Mode select (hand back writes it)
    domain: str
    key: str  # translation key and unique-id suffix, or the object id's slug
    names: Mapping[str, str]  # language -> the entity's name
    value: Any
    platform: str
    options: tuple[str, ...] = ()
    unit: str | None = None
    device_class: str | None = None
    low: float | None = None
    high: float | None = None
    step: float | None = None
    enabled: bool = True


def _names(en: str, nl: str | None = None, de: str | None = None) -> dict[str, str]:
    return {"en": en, "nl": nl or en, "de": de or en}


_VM = "marstek_modbus"
# registers/e_v12.yaml and translations/*.json of ViperRNMC/marstek_venus_modbus.
MARSTEK_MODBUS_FACTS: tuple[Fact, ...] = (
    Fact(Role.SOC, "sensor", "battery_soc", _names("Battery SoC", "Batterij SoC", "SoC Batterie"),
         60.0, _VM, unit=PCT, device_class=BATTERY),
    Fact(Role.AC_POWER, "sensor", "ac_power", _names("AC Power", "AC-vermogen", "AC-Leistung"),
         0.0, _VM, unit=W, device_class=POWER),
    Fact(Role.BATTERY_POWER, "sensor", "battery_power",
         _names("Battery Power", "Batterijvermogen", "Batterieleistung"),
         0.0, _VM, unit=W, device_class=POWER),
    Fact(Role.INVERTER_STATE, "sensor", "inverter_state",
         _names("Inverter State", "Omvormer Status", "Wechselrichter-Status"), "Standby", _VM),
    Fact(Role.FORCIBLE_MODE, "select", "force_mode",
         _names("Force Mode", "Geforceerde Modus", "Erzwungener Modus"), "standby", _VM,
         options=("standby", "charge", "discharge"), enabled=False),
    Fact(Role.CHARGE_POWER, "number", "set_charge_power",
         _names("Set Charge Power", "Forceer Laadvermogen", "Ladeleistung einstellen"),
         0.0, _VM, low=0, high=2500, step=50, enabled=False),
    Fact(Role.DISCHARGE_POWER, "number", "set_discharge_power",
         _names("Set Discharge Power", "Forceer Ontlaadvermogen", "Entladeleistung einstellen"),
         0.0, _VM, low=0, high=2500, step=50, enabled=False),
    Fact(Role.MAX_CHARGE_POWER, "number", "max_charge_power",
         _names("Max Charge Power", "Max. Laadvermogen", "Maximale Ladeleistung"),
         2500.0, _VM, low=0, high=2500, step=50, enabled=False),
    Fact(Role.MAX_DISCHARGE_POWER, "number", "max_discharge_power",
         _names("Max Discharge Power", "Max. Ontlaadvermogen", "Maximale Entladeleistung"),
         2500.0, _VM, low=0, high=2500, step=50, enabled=False),
    Fact(Role.CHARGE_CUTOFF, "number", "charging_cutoff_capacity",
         _names("Charging Cutoff Capacity", "Laadstopcapaciteit", "Ladeabschaltkapazität"),
         100.0, _VM, low=80, high=100, step=1, enabled=False),
    Fact(Role.DISCHARGE_CUTOFF, "number", "discharging_cutoff_capacity",
         _names("Discharging Cutoff Capacity", "Ontlaadstopcapaciteit",
                "Entladeabschaltkapazität"),
         12.0, _VM, low=12, high=30, step=1, enabled=False),
    Fact(Role.RS485_MODE, "switch", "rs485_control_mode",
         _names("RS485 Control Mode", "RS485 Bedrijfsmodus", "RS485-Steuermodus"), False, _VM,
         enabled=False),
    Fact(None, "select", "user_work_mode", _names("User Work Mode", "Gebruikersmodus",
                                                   "Benutzer-Modus"),
         "anti_feed", _VM, options=("manual", "anti_feed", "trade_mode")),
)  # fmt: skip

# The modbus YAML packages: modbus sensors, template selects and numbers; no cutoffs (v3).
MODBUS_YAML_FACTS: tuple[Fact, ...] = (
    Fact(Role.SOC, "sensor", "battery_state_of_charge", {}, 60.0, "modbus", unit=PCT,
         device_class=BATTERY),
    Fact(Role.AC_POWER, "sensor", "ac_power", {}, 0.0, "modbus", unit=W, device_class=POWER),
    Fact(Role.BATTERY_POWER, "sensor", "battery_power", {}, 0.0, "modbus", unit=W,
         device_class=POWER),
    Fact(Role.INVERTER_STATE, "sensor", "inverter_state", {}, "Standby", "modbus"),
    Fact(Role.FORCIBLE_MODE, "select", "forcible_charge_discharge", {}, "stop", "template",
         options=("stop", "charge", "discharge")),
    Fact(Role.RS485_MODE, "select", "rs485_control_mode", {}, "disable", "template",
         options=("disable", "enable")),
    Fact(Role.CHARGE_POWER, "number", "forcible_charge_power", {}, 0.0, "template", unit=W,
         low=0, high=2500, step=1),
    Fact(Role.DISCHARGE_POWER, "number", "forcible_discharge_power", {}, 0.0, "template",
         unit=W, low=0, high=2500, step=1),
    Fact(Role.MAX_CHARGE_POWER, "number", "max_charge_power", {}, 2500.0, "template", unit=W,
         low=0, high=2500, step=1),
    Fact(Role.MAX_DISCHARGE_POWER, "number", "max_discharge_power", {}, 2500.0, "template",
         unit=W, low=0, high=2500, step=1),
    Fact(None, "select", "user_work_mode", {}, "anti-feed", "template",
         options=("manual", "anti-feed", "ai")),
)  # fmt: skip


@dataclass
class Written:
    """One service call that reached a fake unit, in the connector's words."""

    unit: str
    key: str
    value: Any


@dataclass
class FakeUnit:
    """One battery as a connector shows it: its entities' values, its writes."""

    fleet: ConnectorFleet
    name: str
    facts: tuple[Fact, ...]
    object_prefix: str = ""  # modbus YAML: marstek_mN_
    entry: MockConfigEntry | None = None  # marstek_modbus: its own config entry
    unique_ids: bool = True  # modbus YAML: False makes entities the registry never sees
    unitless_numbers: bool = False
    values: dict[str, Any] = field(default_factory=dict)
    silent: set[str] = field(default_factory=set)  # keys whose writes fail without an error
    entities: dict[str, _UnitEntity] = field(default_factory=dict)  # the current objects

    def fact(self, key: str) -> Fact:
        return next(f for f in self.facts if f.key == key)

    def key_of(self, role: Role | None) -> str:
        return next(f.key for f in self.facts if f.role is role)

    def unique_id(self, fact: Fact) -> str | None:
        if self.entry is not None:
            return f"{self.entry.entry_id}_{fact.key}"
        return f"{self.object_prefix}{fact.key}" if self.unique_ids else None

    def entity_id(self, role: Role | None) -> str:
        """The entity id of a role's entity (also while it is disabled)."""
        fact = self.fact(self.key_of(role))
        if (entity := self.entities.get(fact.key)) is not None and entity.entity_id:
            return entity.entity_id
        unique_id = self.unique_id(fact)
        assert unique_id is not None
        entity_id = er.async_get(self.fleet.hass).async_get_entity_id(
            fact.domain, fact.platform, unique_id
        )
        assert entity_id is not None
        return entity_id

    @property
    def entity_ids(self) -> dict[Role, str]:
        return {f.role: self.entity_id(f.role) for f in self.facts if f.role is not None}

    def state(self, role: Role | None) -> str:
        state = self.fleet.hass.states.get(self.entity_id(role))
        assert state is not None
        return state.state

    def set(self, role: Role | None, value: Any) -> None:
        """Report a value, as the connector would after reading the register."""
        key = self.key_of(role)
        self.values[key] = value
        if (entity := self.entities.get(key)) is not None and entity.hass is not None:
            entity.async_write_ha_state()

    @property
    def writes(self) -> list[Written]:
        return [w for w in self.fleet.writes if w.unit == self.name]

    def values_of(self, role: Role | None) -> list[Any]:
        key = self.key_of(role)
        return [w.value for w in self.writes if w.key == key]

    def write(self, key: str, value: Any) -> None:
        """A service call reached the unit: record it; take it unless it fails silently."""
        self.fleet.writes.append(Written(self.name, key, value))
        if key in self.silent:
            return  # logged and returned; the next read shows the old value
        self.set(self.fact(key).role, value)
        self.react()

    def react(self) -> None:
        """RS485 on: the work mode reads anti-feed, AC power follows the forced setpoint."""
        rs485 = self.values[self.key_of(Role.RS485_MODE)]
        on = rs485 is True or rs485 == "enable"
        work_mode = self.fact(self.key_of(None))
        if on:
            self.set(None, next(o for o in work_mode.options if o.startswith("anti")))
        mode = self.values[self.key_of(Role.FORCIBLE_MODE)]
        power = 0.0
        if on and mode == "charge":
            power = -float(self.values[self.key_of(Role.CHARGE_POWER)])
        elif on and mode == "discharge":
            power = float(self.values[self.key_of(Role.DISCHARGE_POWER)])
        self.set(Role.AC_POWER, power)
        self.set(Role.BATTERY_POWER, -power)
        self.fleet.on_change()


class _UnitEntity(Entity):
    """Common parts: the fact, the unit, names, unique id, device (or none)."""

    _attr_should_poll = False

    def __init__(self, unit: FakeUnit, fact: Fact) -> None:
        self.unit = unit
        self.fact = fact
        self._attr_unique_id = unit.unique_id(fact)
        self._attr_entity_registry_enabled_default = fact.enabled
        if unit.entry is not None:  # has_entity_name, translated names, a device
            self._attr_has_entity_name = True
            self._attr_translation_key = fact.key
            self._attr_name = fact.names[unit.fleet.language]
            self._attr_device_info = DeviceInfo(
                identifiers={(fact.platform, unit.entry.entry_id)},
                name=unit.name,
                manufacturer="Marstek",
                model="Venus E",
            )
        else:  # modbus YAML: named marstek_mN_<key>, no device
            self._attr_name = f"{unit.object_prefix}{fact.key}".replace("_", " ").title()
        if fact.device_class:
            self._attr_device_class = fact.device_class  # type: ignore[assignment]

    @property
    def value(self) -> Any:
        return self.unit.values[self.fact.key]

    async def async_added_to_hass(self) -> None:
        self.unit.entities[self.fact.key] = self

    async def async_will_remove_from_hass(self) -> None:
        if self.unit.entities.get(self.fact.key) is self:
            del self.unit.entities[self.fact.key]


class _Sensor(_UnitEntity, SensorEntity):
    def __init__(self, unit: FakeUnit, fact: Fact) -> None:
        super().__init__(unit, fact)
        self._attr_native_unit_of_measurement = fact.unit
        if fact.unit:
            self._attr_state_class = SensorStateClass.MEASUREMENT

    @property
    def native_value(self) -> Any:
        return self.value


class _Select(_UnitEntity, SelectEntity):
    def __init__(self, unit: FakeUnit, fact: Fact) -> None:
        super().__init__(unit, fact)
        self._attr_options = list(fact.options)

    @property
    def current_option(self) -> str | None:
        return str(self.value)

    async def async_select_option(self, option: str) -> None:
        self.unit.write(self.fact.key, option)


class _Number(_UnitEntity, NumberEntity):
    _attr_mode = NumberMode.BOX

    def __init__(self, unit: FakeUnit, fact: Fact) -> None:
        super().__init__(unit, fact)
        self._attr_native_min_value = float(fact.low or 0)
        self._attr_native_max_value = float(fact.high or 100)
        self._attr_native_step = fact.step
        self._attr_native_unit_of_measurement = None if unit.unitless_numbers else fact.unit

    @property
    def native_value(self) -> float:
        return float(self.value)

    async def async_set_native_value(self, value: float) -> None:
        self.unit.write(self.fact.key, value)


class _Switch(_UnitEntity, SwitchEntity):
    @property
    def is_on(self) -> bool:
        return bool(self.value)

    async def async_turn_on(self, **kwargs: Any) -> None:
        self.unit.write(self.fact.key, True)

    async def async_turn_off(self, **kwargs: Any) -> None:
        self.unit.write(self.fact.key, False)


_CLASSES: dict[str, type[_UnitEntity]] = {
    "sensor": _Sensor,
    "select": _Select,
    "number": _Number,
    "switch": _Switch,
}


class ConnectorFleet:
    """Batteries of one connector, in one language, behind mocked integrations.

    ``on_change`` is called after every unit's reaction (a closed-loop meter hooks in).
    """

    def __init__(self, hass: HomeAssistant, language: str = "en") -> None:
        self.hass = hass
        self.language = language
        self.units: list[FakeUnit] = []
        self.writes: list[Written] = []
        self.on_change: Callable[[], None] = lambda: None
        self._entries: dict[str, MockConfigEntry] = {}  # platform -> its entry (YAML)
        self._mocked: set[str] = set()

    def _mock(self, domain: str) -> None:
        """Mock an integration whose platforms add the units' entities of that platform."""
        if domain in self._mocked:
            return
        self._mocked.add(domain)

        async def setup_entry(hass: HomeAssistant, entry: ConfigEntry) -> bool:
            await hass.config_entries.async_forward_entry_setups(entry, PLATFORMS)
            return True

        async def unload_entry(hass: HomeAssistant, entry: ConfigEntry) -> bool:
            return await hass.config_entries.async_unload_platforms(entry, PLATFORMS)

        mock_integration(
            self.hass,
            MockModule(domain, async_setup_entry=setup_entry, async_unload_entry=unload_entry),
        )
        mock_platform(self.hass, f"{domain}.config_flow")
        for platform in PLATFORMS:
            mock_platform(
                self.hass,
                f"{domain}.{platform}",
                MockPlatform(async_setup_entry=self._platform_setup(domain, str(platform))),
            )

    def _platform_setup(self, domain: str, platform: str) -> Callable[..., Any]:
        async def setup(hass: HomeAssistant, entry: ConfigEntry, add: AddEntitiesCallback) -> None:
            entities = [
                _CLASSES[fact.domain](unit, fact)
                for unit in self.units
                if unit.entry is None or unit.entry.entry_id == entry.entry_id
                for fact in unit.facts
                if fact.platform == domain and fact.domain == platform
            ]
            add(entities)

        return setup

    async def add_marstek_modbus(self, name: str, soc: float = 60.0) -> FakeUnit:
        """A battery of marstek_modbus: its own config entry and device, titled name."""
        self._mock("marstek_modbus")
        entry = MockConfigEntry(domain="marstek_modbus", title=name)
        unit = FakeUnit(self, name, MARSTEK_MODBUS_FACTS, entry=entry)
        unit.values = {fact.key: fact.value for fact in unit.facts}
        unit.values["battery_soc"] = soc
        self.units.append(unit)
        entry.add_to_hass(self.hass)
        assert await self.hass.config_entries.async_setup(entry.entry_id)
        await self.hass.async_block_till_done()
        return unit

    async def add_modbus_yaml(
        self, index: int, soc: float = 60.0, *, unique_ids: bool = True, unitless: bool = False
    ) -> FakeUnit:
        """A battery of the modbus YAML packages: marstek_m<index>_* entities, no device."""
        unit = FakeUnit(
            self,
            f"marstek_m{index}",
            MODBUS_YAML_FACTS,
            object_prefix=f"marstek_m{index}_",
            unique_ids=unique_ids,
            unitless_numbers=unitless,
        )
        unit.values = {fact.key: fact.value for fact in unit.facts}
        unit.values["battery_state_of_charge"] = soc
        self.units.append(unit)
        for domain in ("modbus", "template"):
            self._mock(domain)
            if domain not in self._entries:
                entry = MockConfigEntry(domain=domain, title=domain)
                self._entries[domain] = entry
                entry.add_to_hass(self.hass)
                assert await self.hass.config_entries.async_setup(entry.entry_id)
            else:
                assert await self.hass.config_entries.async_reload(self._entries[domain].entry_id)
        await self.hass.async_block_till_done()
        return unit
