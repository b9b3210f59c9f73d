"""The reason sensor in the logbook and the recorder: a few stable states, the detail per cycle.

The logbook shows a line for every change of an enum sensor's state, and the recorder keeps
every state with its attributes: the state says only whether a battery runs, is not needed
or is held out (and why); the engine's reason of the cycle and the sentence are attributes
the recorder skips.
"""

from __future__ import annotations

from typing import Any

from homeassistant.core import Event, EventStateChangedData, HomeAssistant, callback
import pytest

from custom_components.marstek_strategy.const import Role
from custom_components.marstek_strategy.core.explain import REASON_STATES
from tests.conftest import Hub, LilyGoFleet


async def _closed(hub: Hub, seconds: float, load_w: float) -> None:
    """Let seconds pass, the meter showing the house load minus what the batteries deliver."""
    for _ in range(round(seconds / 0.5)):
        delivered = sum(
            float(battery.state(Role.AC_POWER)) for battery in hub.fleet.batteries.values()
        )
        hub.meter.set(load_w - delivered)
        await hub.tick(0.5)


@pytest.mark.parametrize(
    ("strategy", "before", "after"),
    [("priority", 300, 3500), ("efficiency", 300, 3500), ("priority", 3500, 300)],
)
async def test_a_load_step_is_at_most_one_logbook_line_per_battery(  # noqa: PLR0917
    hass: HomeAssistant,
    lilygo_fleet: LilyGoFleet,
    make_hub: Any,
    strategy: str,
    before: float,
    after: float,
) -> None:
    """Three batteries, the house load steps: in the next 40 s each battery's reason state
    changes only when it starts or stops (before: capped_by_max, started_for_phase, running,
    efficiency_split... one line each); the detail follows the cycles."""
    batteries = [
        await lilygo_fleet.add_battery(f"LilyGo {n}", soc=soc, max_discharge_power=2500)
        for n, soc in ((1, 80), (2, 70), (3, 60))
    ]
    hub: Hub = await make_hub([(b, "L1") for b in batteries], grid=before)
    await hass.services.async_call(
        "select",
        "select_option",
        {"entity_id": hub.entity_id("select", "strategy"), "option": strategy},
        blocking=True,
    )
    await _closed(hub, 60, load_w=before)
    ids = {hub.entity_id("sensor", "reason", b): b.name for b in batteries}
    lines: dict[str, list[str]] = {name: [] for name in ids.values()}

    @callback
    def _changed(event: Event[EventStateChangedData]) -> None:
        old, new = event.data["old_state"], event.data["new_state"]
        if event.data["entity_id"] not in ids or old is None or new is None:
            return
        if old.state != new.state:  # what the logbook shows
            lines[ids[event.data["entity_id"]]].append(f"{old.state} -> {new.state}")

    unsub = hass.bus.async_listen("state_changed", _changed)
    await _closed(hub, 40, load_w=after)
    unsub()
    assert all(len(changes) <= 1 for changes in lines.values()), lines
    allowed = {"not_needed -> running", "running -> not_needed"}
    assert {c for changes in lines.values() for c in changes} <= allowed, lines


class TestRecorder:
    """With the recorder (set up before hass, so before the custom integrations)."""

    @pytest.fixture(autouse=True)
    def auto_enable_custom_integrations(
        self, recorder_mock: Any, enable_custom_integrations: None
    ) -> None:
        """Load the recorder, then custom integrations."""
        return

    async def test_recorder_keeps_the_state_not_the_detail_and_sentence(
        self, recorder_mock: Any, hass: HomeAssistant, lilygo_fleet: LilyGoFleet, make_hub: Any
    ) -> None:
        """History holds the reason states; the per-cycle detail and sentence are not."""
        from homeassistant.components.recorder import history
        from homeassistant.components.recorder.util import session_scope
        from homeassistant.util import dt as dt_util
        from pytest_homeassistant_custom_component.components.recorder.common import (
            async_wait_recording_done,
        )

        start = dt_util.utcnow()
        bat1 = await lilygo_fleet.add_battery("LilyGo 1", soc=80, max_discharge_power=2500)
        hub: Hub = await make_hub([(bat1, "L1")], grid=600)
        await _closed(hub, 20, load_w=3000)
        entity_id = hub.entity_id("sensor", "reason", bat1)
        live = hass.states.get(entity_id)
        assert live is not None
        assert live.state == "running"
        assert {"detail", "explanation"} <= set(live.attributes)
        await async_wait_recording_done(hass)

        def _history() -> list[Any]:
            with session_scope(hass=hass, read_only=True) as session:
                states = history.get_significant_states_with_session(
                    hass, session, start, None, [entity_id], significant_changes_only=False
                )
            return list(states[entity_id])

        recorded = await recorder_mock.async_add_executor_job(_history)
        assert recorded
        assert {state.state for state in recorded} <= set(REASON_STATES)
        for state in recorded:
            assert "detail" not in state.attributes
            assert "explanation" not in state.attributes
