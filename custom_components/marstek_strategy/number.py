"""Numbers: the user's cutoffs, power limits, grid target and requested power (restored)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
import math

from homeassistant.components.number import (
    NumberDeviceClass,
    NumberEntity,
    NumberEntityDescription,
    NumberMode,
    RestoreNumber,
)
from homeassistant.const import PERCENTAGE, EntityCategory, UnitOfPower
from homeassistant.core import HomeAssistant
from homeassistant.exceptions import ServiceValidationError
from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback

from .adapters.batteries import BatteryConfig
from .const import DOMAIN
from .coordinator import MarstekConfigEntry, MarstekCoordinator
from .core.grid_mode import MAX_POWER_W as MAX_REQUESTED_W
from .core.readings import (
    CHARGE_CUTOFF_RANGE,
    DISCHARGE_CUTOFF_RANGE,
    GRID_TARGET_LIMIT_W,
    MAX_POWER_W,
    BatterySettings,
    Settings,
)
from .entity import MarstekBatteryEntity, MarstekHubEntity
from .services import async_set_power

PARALLEL_UPDATES = 0


@dataclass(frozen=True, kw_only=True)
class BatteryNumberDescription(NumberEntityDescription):
    """A battery setting and where it lives in BatterySettings."""

    get_fn: Callable[[BatterySettings], float]
    set_fn: Callable[[BatterySettings, float], None]


def _check_number(value: float) -> float:
    """Return value; refuse NaN, which number.set_value lets past its range check."""
    if not math.isfinite(value):
        raise ServiceValidationError(
            translation_domain=DOMAIN,
            translation_key="not_a_number",
            translation_placeholders={"value": str(value)},
        )
    return value


def _set_charge_cutoff(settings: BatterySettings, value: float) -> None:
    if value < settings.discharge_cutoff:
        raise ServiceValidationError(
            translation_domain=DOMAIN,
            translation_key="charge_cutoff_too_low",
            translation_placeholders={"value": f"{settings.discharge_cutoff:g}"},
        )
    settings.charge_cutoff = value


def _set_discharge_cutoff(settings: BatterySettings, value: float) -> None:
    if value > settings.charge_cutoff:
        raise ServiceValidationError(
            translation_domain=DOMAIN,
            translation_key="discharge_cutoff_too_high",
            translation_placeholders={"value": f"{settings.charge_cutoff:g}"},
        )
    settings.discharge_cutoff = value


def _set_max_charge(settings: BatterySettings, value: float) -> None:
    settings.max_charge_w = int(value)


def _set_max_discharge(settings: BatterySettings, value: float) -> None:
    settings.max_discharge_w = int(value)


BATTERY_NUMBERS: tuple[BatteryNumberDescription, ...] = (
    BatteryNumberDescription(
        key="charge_cutoff",
        native_min_value=CHARGE_CUTOFF_RANGE[0],
        native_max_value=CHARGE_CUTOFF_RANGE[1],
        native_step=1,
        native_unit_of_measurement=PERCENTAGE,
        mode=NumberMode.BOX,
        entity_category=EntityCategory.CONFIG,
        get_fn=lambda settings: settings.charge_cutoff,
        set_fn=_set_charge_cutoff,
    ),
    BatteryNumberDescription(
        key="discharge_cutoff",
        native_min_value=DISCHARGE_CUTOFF_RANGE[0],
        native_max_value=DISCHARGE_CUTOFF_RANGE[1],
        native_step=1,
        native_unit_of_measurement=PERCENTAGE,
        mode=NumberMode.BOX,
        entity_category=EntityCategory.CONFIG,
        get_fn=lambda settings: settings.discharge_cutoff,
        set_fn=_set_discharge_cutoff,
    ),
    BatteryNumberDescription(
        key="max_charge_power",
        device_class=NumberDeviceClass.POWER,
        native_min_value=0,
        native_max_value=MAX_POWER_W,
        native_step=1,
        native_unit_of_measurement=UnitOfPower.WATT,
        mode=NumberMode.BOX,
        entity_category=EntityCategory.CONFIG,
        get_fn=lambda settings: settings.max_charge_w,
        set_fn=_set_max_charge,
    ),
    BatteryNumberDescription(
        key="max_discharge_power",
        device_class=NumberDeviceClass.POWER,
        native_min_value=0,
        native_max_value=MAX_POWER_W,
        native_step=1,
        native_unit_of_measurement=UnitOfPower.WATT,
        mode=NumberMode.BOX,
        entity_category=EntityCategory.CONFIG,
        get_fn=lambda settings: settings.max_discharge_w,
        set_fn=_set_max_discharge,
    ),
)

GRID_TARGET = NumberEntityDescription(
    key="grid_target",
    device_class=NumberDeviceClass.POWER,
    native_min_value=-GRID_TARGET_LIMIT_W,
    native_max_value=GRID_TARGET_LIMIT_W,
    native_step=1,
    native_unit_of_measurement=UnitOfPower.WATT,
    mode=NumberMode.BOX,
    entity_category=EntityCategory.CONFIG,
)

REQUESTED_POWER = NumberEntityDescription(
    key="requested_power",
    device_class=NumberDeviceClass.POWER,
    native_min_value=0,
    native_max_value=MAX_REQUESTED_W,
    native_step=10,
    native_unit_of_measurement=UnitOfPower.WATT,
    mode=NumberMode.BOX,
)


async def async_setup_entry(
    hass: HomeAssistant,
    entry: MarstekConfigEntry,
    async_add_entities: AddConfigEntryEntitiesCallback,
) -> None:
    """Add the grid target and each battery's numbers."""
    coordinator = entry.runtime_data.coordinator
    async_add_entities(
        [
            GridTargetNumber(coordinator, entry.runtime_data.settings),
            RequestedPowerNumber(coordinator, entry.runtime_data.settings),
        ]
    )
    for battery in coordinator.batteries:
        settings = entry.runtime_data.settings.batteries[battery.subentry_id]
        async_add_entities(
            (
                BatteryNumber(coordinator, battery, settings, description)
                for description in BATTERY_NUMBERS
            ),
            config_subentry_id=battery.subentry_id,
        )


class GridTargetNumber(MarstekHubEntity, RestoreNumber):
    """The grid power the strategy aims at (positive: a little import)."""

    entity_description = GRID_TARGET

    def __init__(self, coordinator: MarstekCoordinator, settings: Settings) -> None:
        """Set up the number."""
        super().__init__(coordinator, GRID_TARGET.key)
        self._settings = settings

    async def async_added_to_hass(self) -> None:
        """Restore the last value."""
        await super().async_added_to_hass()
        if self.coordinator.config_entry.runtime_data.settings_stored:
            return  # the store has it (restore state only for an entry made before the store)
        last = await self.async_get_last_number_data()
        if last is not None and last.native_value is not None and math.isfinite(last.native_value):
            self._settings.grid_target_w = float(
                min(max(last.native_value, -GRID_TARGET_LIMIT_W), GRID_TARGET_LIMIT_W)
            )

    @property
    def native_value(self) -> float:
        """Return the target."""
        return self._settings.grid_target_w

    async def async_set_native_value(self, value: float) -> None:
        """Set the target; the next cycle uses it."""
        self._settings.grid_target_w = _check_number(value)
        self.coordinator.config_entry.runtime_data.save_settings()
        self.async_write_ha_state()


class RequestedPowerNumber(MarstekHubEntity, NumberEntity):
    """The fleet's power for the grid modes charge and discharge (grid W)."""

    entity_description = REQUESTED_POWER

    def __init__(self, coordinator: MarstekCoordinator, settings: Settings) -> None:
        """Set up the number."""
        super().__init__(coordinator, REQUESTED_POWER.key)
        self._settings = settings

    @property
    def native_value(self) -> float:
        """Return the power the grid modes charge or discharge at."""
        current = self.coordinator.grid.request
        if current.power_w > 0:
            return current.power_w
        return self._settings.requested_power_w

    async def async_set_native_value(self, value: float) -> None:
        """Set the power; a charge or discharge in force takes it at once."""
        await async_set_power(self.coordinator.config_entry, _check_number(value))
        self.async_write_ha_state()


class BatteryNumber(MarstekBatteryEntity, RestoreNumber):
    """A per-battery limit."""

    entity_description: BatteryNumberDescription

    def __init__(
        self,
        coordinator: MarstekCoordinator,
        battery: BatteryConfig,
        settings: BatterySettings,
        description: BatteryNumberDescription,
    ) -> None:
        """Set up the number."""
        super().__init__(coordinator, battery, description.key)
        self.entity_description = description
        self._settings = settings

    async def async_added_to_hass(self) -> None:
        """Restore the last value (ignored when it breaks the cutoff order)."""
        await super().async_added_to_hass()
        if self.coordinator.config_entry.runtime_data.settings_stored:
            return  # the store has it (restore state only for an entry made before the store)
        last = await self.async_get_last_number_data()
        if last is None or last.native_value is None or not math.isfinite(last.native_value):
            return
        value = min(
            max(last.native_value, self.entity_description.native_min_value or 0),
            self.entity_description.native_max_value or MAX_POWER_W,
        )
        try:
            self.entity_description.set_fn(self._settings, value)
        except ServiceValidationError:
            return

    @property
    def native_value(self) -> float:
        """Return the setting."""
        return self.entity_description.get_fn(self._settings)

    async def async_set_native_value(self, value: float) -> None:
        """Change the setting; the next cycle uses it."""
        self.entity_description.set_fn(self._settings, _check_number(value))
        self.coordinator.config_entry.runtime_data.save_settings()
        self.async_write_ha_state()
