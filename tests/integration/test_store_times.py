"""Times in the store at the edge of what Python can hold are damaged, not read (redteam6).

A time such as year 1 at +14:00 is valid ISO and aware, but lies before the first UTC
moment Python can hold: converted to local time (the entities' attributes) it raised
OverflowError. The month-peak sensor then failed at every cycle, and a grid mode's select
could not be added.
"""

from __future__ import annotations

from typing import Any

from homeassistant.core import HomeAssistant
from homeassistant.helpers import issue_registry as ir
from homeassistant.util import dt as dt_util
import pytest

from custom_components.marstek_strategy.const import DOMAIN, Role
from tests.conftest import Hub, LilyGoFleet, P1Meter, make_hub_entry


@pytest.mark.parametrize(
    ("item", "stored"),
    [
        (
            "peak",
            {
                "month": "{month}",
                "month_peak_w": 3000.0,
                "month_peak_at": "0001-01-01T00:00:00+14:00",
            },
        ),
        (
            "grid_mode",
            {"mode": "charge", "power_w": 800.0, "until": "9999-12-31T23:59:59-14:00"},
        ),
    ],
)
async def test_a_time_past_the_calendar_is_damaged(  # noqa: PLR0917
    hass: HomeAssistant,
    lilygo_fleet: LilyGoFleet,
    p1_meter: P1Meter,
    freezer: Any,
    hass_storage: dict[str, Any],
    caplog: pytest.LogCaptureFixture,
    item: str,
    stored: dict[str, Any],
) -> None:
    bat1 = await lilygo_fleet.add_battery("lilygo-bat1", soc=60)
    p1_meter.set(0)
    entry = make_hub_entry(p1_meter, [(bat1, "L1")])
    month = dt_util.now().strftime("%Y-%m")
    data = {
        key: value.format(month=month) if isinstance(value, str) else value
        for key, value in stored.items()
    }
    hass_storage[f"{DOMAIN}.{entry.entry_id}"] = {
        "version": 2,
        "minor_version": 1,
        "key": f"{DOMAIN}.{entry.entry_id}",
        "data": {"settings": {}, "pending": [], item: data},
    }
    entry.add_to_hass(hass)
    hub = Hub(hass, entry, p1_meter, lilygo_fleet, freezer)
    assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()
    await hub.tick(20, grid=0, step=6.5)
    assert "OverflowError" not in caplog.text
    assert hub.state("select", "grid_mode") == "zero"
    assert hub.state("sensor", "month_peak_import") not in ("unknown", "unavailable")
    assert bat1.state(Role.FORCIBLE_MODE) == "stop"
    issue = ir.async_get(hass).async_get_issue(DOMAIN, f"store_damaged_{entry.entry_id}")
    assert issue is not None
    assert issue.translation_placeholders is not None
    assert issue.translation_placeholders["dropped"] == item
