"""The safety watchers: who changes the batteries, and what happens to configured entities.

They follow the meter's reports (its clock), the batteries' control entities (a person or an
automation driving one), and the entity registry (repair issues; renamed entities of a stop
still to be made).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, Final

from homeassistant.const import ATTR_ENTITY_ID
from homeassistant.core import CALLBACK_TYPE, Event, HomeAssistant, callback
from homeassistant.helpers import entity_registry as er
from homeassistant.helpers.event import (
    async_track_entity_registry_updated_event,
    async_track_state_change_event,
    async_track_state_report_event,
)

from ..const import LOGGER, Role
from ..core import lifecycle
from .batteries import BatteryConfig
from .reader import Reader
from .stops import Stops
from .storage import EntryStore
from .told import Told
from .writer import Writer

_COMMANDED_ROLES: Final = (
    Role.FORCIBLE_MODE,
    Role.CHARGE_POWER,
    Role.DISCHARGE_POWER,
    Role.RS485_MODE,
)


def _all(unsubs: Sequence[CALLBACK_TYPE]) -> CALLBACK_TYPE:
    @callback
    def _unsub() -> None:
        for unsub in unsubs:
            unsub()

    return _unsub


@callback
def async_track_states(
    hass: HomeAssistant,
    reader: Reader,
    also_reported: Sequence[str],
    *,
    stops: Stops,
    told: Told,
    writer: Writer,
) -> CALLBACK_TYPE:
    """Follow the meter's reports and changes made to the batteries by someone else.

    also_reported are further entities whose reports the reader's clock takes (the batteries'
    AC power sensors, for the in-flight estimate; their measured sensors, for frozen readings).
    """
    targets = stops.targets
    controls = {
        entity_id: index
        for index, battery in enumerate(targets)
        for role, entity_id in battery.entities.items()
        if role in _COMMANDED_ROLES
    }

    @callback
    def _control_changed(event: Event[Any]) -> None:
        """Take a battery as it is after a person or an automation changed it."""
        context = event.context
        if writer.is_own(context) or not (context.user_id or context.parent_id):
            return  # our own write, or the battery reporting
        index = controls[event.data[ATTR_ENTITY_ID]]
        battery = targets[index]
        if battery.subentry_id in stops.state.pending:
            LOGGER.info("%s is driven by hand: its pending stop is dropped", battery.title)
            if stops.event(lifecycle.DrivenByHand(battery.subentry_id)):
                hass.async_create_task(stops.async_save_pending())
            return
        commanded = told.commanded
        if commanded is None or not stops.state.drives or index >= len(commanded):
            return  # off (a person drives them), or a removed battery whose stop is made
        LOGGER.info("%s was changed outside the strategy", event.data[ATTR_ENTITY_ID])
        told.changed_by_hand(index)

    reported = [*reader.followed_entities, *also_reported]
    return _all(
        [
            async_track_state_change_event(hass, reported, reader.async_reported),
            async_track_state_report_event(hass, reported, reader.async_reported),
            async_track_state_change_event(hass, list(controls), _control_changed),
        ]
    )


@callback
def async_watch_registry(
    hass: HomeAssistant,
    repairs: Callable[[], CALLBACK_TYPE],
    orphans: Sequence[BatteryConfig],
    store: EntryStore,
    entry_id: str,
) -> CALLBACK_TYPE:
    """Raise repair issues for configured entities; follow pending stops' renames.

    The entities of removed batteries whose stop is still to be made (orphans) are followed
    too: a stop renamed away is written to its new entity after a reload.
    """
    unsubs = [repairs()]
    pending = [entity for battery in orphans for entity in battery.entities.values()]

    async def _async_renamed(old_entity_id: str, new_entity_id: str) -> None:
        if await store.async_follow_rename(old_entity_id, new_entity_id):
            hass.config_entries.async_schedule_reload(entry_id)

    @callback
    def _renamed(event: Event[er.EventEntityRegistryUpdatedData]) -> None:
        data = event.data
        if data["action"] == "update" and "old_entity_id" in data:
            hass.async_create_task(_async_renamed(data["old_entity_id"], data["entity_id"]))

    if pending:
        unsubs.append(async_track_entity_registry_updated_event(hass, pending, _renamed))
    return _all(unsubs)
