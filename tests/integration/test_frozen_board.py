"""A hung board: its battery's sensors stop reporting while Home Assistant shows them available.

The battery is taken out (reason ``readings_frozen``, its power counted as unknown) within the
connector's limit plus two cycles of the hang (its power no longer delivered, the next cycle
raises its setpoint: a change that no report answers; the limit counts from the check before
that write), the other takes over, it is said once in the log, and the
battery takes part again by itself at its sensors' next report. A battery that stands still
with quiet sensors is never taken out, nor one running at a steady setpoint whose readings do
not change (Home Assistant's ESPHome integration passes on changed values only). Fails
without core/frozen.py's wiring (the battery then stays ``running`` on its frozen values until
Home Assistant marks it unavailable).
"""

from __future__ import annotations

from typing import Any

import pytest

from custom_components.marstek_strategy.adapters.profiles import ESPHOME
from custom_components.marstek_strategy.const import CONF_INTERVAL, Role
from custom_components.marstek_strategy.core.frozen import FROZEN_CHANGE_W
from tests.conftest import FakeBattery, Hub, LilyGoFleet

LIMIT = ESPHOME.frozen_s  # the fake fleet is an ESPHome fleet
STEP = 0.5
FROZE = "none of its sensors has reported"
FRESH = "its sensors report again"


def _discharging(battery: FakeBattery) -> bool:
    return (
        battery.state(Role.FORCIBLE_MODE) == "discharge"
        and float(battery.state(Role.DISCHARGE_POWER)) >= 100
    )


async def _closed(hub: Hub, seconds: float, load_w: float, hung: FakeBattery | None = None) -> None:
    """Let seconds pass, the meter showing the load minus what the batteries really deliver.

    A hung battery delivers nothing (its writes went nowhere), whatever its frozen AC shows.
    """
    for _ in range(round(seconds / STEP)):
        delivered = sum(
            float(battery.state(Role.AC_POWER))
            for battery in hub.fleet.batteries.values()
            if battery is not hung
        )
        hub.meter.set(load_w - delivered)
        await hub.tick(STEP)


@pytest.mark.parametrize("interval", [6.5, 2.0])
async def test_hung_board_is_taken_out_and_comes_back(
    lilygo_fleet: LilyGoFleet, make_hub: Any, caplog: pytest.LogCaptureFixture, interval: float
) -> None:
    """Running, its sensors go silent: out within the limit + two cycles, the other takes over;
    back by itself at the next report; said once each way."""
    bat1 = await lilygo_fleet.add_battery("lilygo-bat1", soc=90)
    bat2 = await lilygo_fleet.add_battery("lilygo-bat2", soc=60)
    hub: Hub = await make_hub(
        [(bat1, "L1"), (bat2, "L1")], grid=0, options={CONF_INTERVAL: interval}
    )
    await _closed(hub, 40, load_w=700)
    running = [b for b in (bat1, bat2) if _discharging(b)]
    assert len(running) == 1, [(b.name, b.state(Role.FORCIBLE_MODE)) for b in (bat1, bat2)]
    hung = running[0]
    other = bat2 if hung is bat1 else bat1
    # The board hangs: its last report now, then nothing (writes reach no battery).
    hung.follow = False
    hung.set(Role.AC_POWER, float(hung.state(Role.AC_POWER)))
    waited = 0.0
    while hub.state("sensor", "reason", hung) != "readings_frozen":
        assert waited <= LIMIT + 2 * interval + STEP, f"still {hub.state('sensor', 'reason', hung)}"
        assert hub.state("sensor", "reason", hung) == "running"
        await _closed(hub, STEP, load_w=700, hung=hung)
        waited += STEP
    assert waited > LIMIT  # not before the limit
    await _closed(hub, 20, load_w=700, hung=hung)
    assert hub.state("sensor", "reason", hung) == "readings_frozen"
    assert hung.state(Role.FORCIBLE_MODE) == "stop"  # told to stop (a hung board may not)
    assert _discharging(other)
    assert abs(float(other.state(Role.AC_POWER)) - 700) < 150  # the other covers the load
    assert caplog.text.count(FROZE) == 1
    # The board answers again: its next report brings it back by itself.
    hung.follow = True
    hung.set(Role.AC_POWER, 0.0)
    await _closed(hub, interval + STEP, load_w=700)
    assert hub.state("sensor", "reason", hung) != "readings_frozen"
    await _closed(hub, 60, load_w=700)
    assert hub.state("sensor", "reason", hung) != "readings_frozen"
    assert caplog.text.count(FROZE) == 1
    assert caplog.text.count(FRESH) == 1


@pytest.mark.parametrize("interval", [6.5, 2.0])
async def test_quiet_battery_that_stands_still_is_never_taken_out(
    lilygo_fleet: LilyGoFleet, make_hub: Any, caplog: pytest.LogCaptureFixture, interval: float
) -> None:
    """No demand for minutes, no sensor reports: not judged; then started: not out at once."""
    bat1 = await lilygo_fleet.add_battery("lilygo-bat1", soc=60)
    hub: Hub = await make_hub([(bat1, "L1")], grid=0, options={CONF_INTERVAL: interval})
    for _ in range(int(3 * LIMIT / 10)):
        await hub.tick(10, grid=0, step=STEP)  # its sensors are never written again
        assert hub.state("sensor", "reason", bat1) != "readings_frozen"
    assert bat1.state(Role.FORCIBLE_MODE) == "stop"
    await _closed(hub, 30, load_w=700)  # started after the long quiet stop
    assert _discharging(bat1)
    assert hub.state("sensor", "reason", bat1) == "running"
    assert FROZE not in caplog.text


@pytest.mark.parametrize("interval", [6.5, 2.0])
async def test_running_at_a_steady_setpoint_without_reports_is_never_taken_out(
    lilygo_fleet: LilyGoFleet, make_hub: Any, caplog: pytest.LogCaptureFixture, interval: float
) -> None:
    """Running at a constant setpoint, its readings exactly constant (no report) for 5 minutes:
    it keeps running (before the fix it was out as readings_frozen after 60 s, back at the
    next report, and so on every minute)."""
    bat1 = await lilygo_fleet.add_battery("lilygo-bat1", soc=60)
    hub: Hub = await make_hub([(bat1, "L1")], grid=0, options={CONF_INTERVAL: interval})
    await _closed(hub, 40, load_w=700)
    assert _discharging(bat1)
    told = float(bat1.state(Role.DISCHARGE_POWER))
    bat1.follow = False  # its AC power, battery power, SoC and state stay as they are
    for _ in range(int(300 / 10)):
        await hub.tick(10, grid=0, step=STEP)  # the house is balanced: no change
        assert hub.state("sensor", "reason", bat1) == "running"
        # steady: it may settle by a few W, never by a change (FROZEN_CHANGE_W)
        assert abs(float(bat1.state(Role.DISCHARGE_POWER)) - told) < FROZEN_CHANGE_W
    assert _discharging(bat1)
    assert FROZE not in caplog.text


async def test_a_hung_board_pinned_at_its_setpoint_is_out_after_the_steady_limit(
    lilygo_fleet: LilyGoFleet, make_hub: Any, caplog: pytest.LogCaptureFixture
) -> None:
    """Its setpoint never changes (the house balanced at it), its board hangs: no change to
    answer, so only the steady limit (15 min on ESPHome) takes it out; it was never judged."""
    bat1 = await lilygo_fleet.add_battery("lilygo-bat1", soc=60)
    hub: Hub = await make_hub([(bat1, "L1")], grid=0)
    await _closed(hub, 40, load_w=700)
    assert _discharging(bat1)
    bat1.follow = False  # hung: nothing it reports moves again
    steady = ESPHOME.steady_s
    assert steady is not None
    await hub.tick(steady - 30, grid=0, step=6.5)
    assert hub.state("sensor", "reason", bat1) == "running"
    await hub.tick(60, grid=0, step=6.5)
    assert hub.state("sensor", "reason", bat1) == "readings_frozen"
    assert caplog.text.count(FROZE) == 1
