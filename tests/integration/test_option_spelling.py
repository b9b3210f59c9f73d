"""Select options in a board's own spelling: written once, read back as written, never rewritten."""

from __future__ import annotations

from typing import Any

from homeassistant.core import State

from custom_components.marstek_strategy.adapters.profiles import MARSTEK_MODBUS, canonical_state
from custom_components.marstek_strategy.const import CONF_KEEPALIVE, Role
from tests.conftest import FakeBattery, Hub, LilyGoFleet


def _follows_capitalised_enable(battery: FakeBattery) -> None:
    """Make the fake board take RS485 control on its own spelling, ``Enable``."""

    def on_write(role: Role) -> None:
        if battery.state(Role.RS485_MODE) != "Enable":
            return
        mode = battery.state(Role.FORCIBLE_MODE)
        power = 0.0
        if mode == "charge":
            power = -float(battery.state(Role.CHARGE_POWER))
        elif mode == "discharge":
            power = float(battery.state(Role.DISCHARGE_POWER))
        battery.set(Role.AC_POWER, power)

    battery.on_write = on_write  # type: ignore[method-assign]


async def test_a_tolerantly_matched_option_is_read_back_as_written(
    lilygo_fleet: LilyGoFleet, make_hub: Any
) -> None:
    """The writer writes a board's own spelling (``Enable`` for ``enable``, issue 18.7's
    tolerance); the reader must read it back as the same option, or the read-back takes
    RS485 control as off and the enable is written again and again."""
    bat1 = await lilygo_fleet.add_battery("lilygo-bat1", soc=80, rs485="disable")
    entity = bat1.entities[Role.RS485_MODE]
    entity._attr_options = ["disable", "Enable"]  # type: ignore[attr-defined]
    entity.async_write_ha_state()
    _follows_capitalised_enable(bat1)
    hub: Hub = await make_hub([(bat1, "L1")], grid=600, options={CONF_KEEPALIVE: 0})
    await hub.tick(120, grid=600, step=6.5)
    written = bat1.values(Role.RS485_MODE)
    assert written[:1] == ["Enable"]
    assert written.count("Enable") == 1, written
    assert hub.state("sensor", "reason", bat1) != "not_responding"


def test_a_connectors_word_in_another_spelling_is_read_as_its_option() -> None:
    """The writer writes ``Standby`` to a board offering it for the connector's ``standby``
    (stop); reading it must give ``stop`` again, not a mode that is none."""
    state = State("select.venus_force_mode", "Standby", {"options": ["Standby", "Charge"]})
    read = canonical_state(MARSTEK_MODBUS, Role.FORCIBLE_MODE, state)
    assert read is not None
    assert read.state == "stop"
    charging = State("select.venus_force_mode", "Charge")
    assert canonical_state(MARSTEK_MODBUS, Role.FORCIBLE_MODE, charging).state == "charge"  # type: ignore[union-attr]
