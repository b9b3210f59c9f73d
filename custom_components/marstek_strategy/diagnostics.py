"""Diagnostics: configuration, settings, the last cycle and the write log."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict
import math
from typing import Any

from homeassistant.components.diagnostics import async_redact_data
from homeassistant.config_entries import ConfigEntryState
from homeassistant.core import HomeAssistant

from .const import CONF_MAIN_FUSE_A, CONF_PHASE_FEED_IN_LIMIT_W, DEFAULT_OPTIONS
from .coordinator import MarstekConfigEntry, MarstekCoordinator
from .core.control import WriteRecord
from .core.cycle import CycleData
from .core.model import Reason
from .core.phase_limits import PhaseView

# Nothing the integration stores is secret (entity ids and numbers); kept for new fields.
TO_REDACT: set[str] = set()


async def async_get_config_entry_diagnostics(
    hass: HomeAssistant, entry: MarstekConfigEntry
) -> dict[str, Any]:
    """Return what a support request needs (only the entry while it is not loaded)."""
    entry_data = async_redact_data(
        {
            "title": entry.title,
            "data": dict(entry.data),
            "options": dict(entry.options),
            "subentries": [
                {
                    "subentry_id": subentry.subentry_id,
                    "type": subentry.subentry_type,
                    "title": subentry.title,
                    "data": dict(subentry.data),
                }
                for subentry in entry.subentries.values()
            ],
        },
        TO_REDACT,
    )
    if entry.state is not ConfigEntryState.LOADED:
        return {"entry": entry_data}  # asked while it loads, reloads or failed to: no loop
    runtime = entry.runtime_data
    coordinator = runtime.coordinator
    settings = runtime.settings
    return {
        "entry": entry_data,
        "settings": asdict(settings),
        "loop": {
            "pace": coordinator.pace,  # fixed, or meter (interval_s: its silent meter's timer)
            "interval_s": coordinator.interval_s,
            "settle_s": coordinator.settle_s,
            "stale_s": coordinator.reader.stale_s,
            "keepalive_s": coordinator.options.keepalive_s,
            "refresh_meter": coordinator.reader.refresh_meter,
            "dry_run": coordinator.options.dry_run,
            **_loop(coordinator),
        },
        "last_cycle": _cycle(coordinator.data, coordinator),
        "phase_limits": _phase_limits(entry, coordinator),
        "readback": _readback(coordinator),
        "write_log": [_write(record) for record in coordinator.write_log],
        "learned_losses": coordinator.learned.diagnostics(),
    }


def _loop(coordinator: MarstekCoordinator) -> dict[str, Any]:
    """Return the loop's state: lifecycle, pending stops, what was told, the plan."""
    plan = coordinator.plan
    return {
        "lifecycle": coordinator.lifecycle.phase,
        "pending_stops": sorted(
            b.title for b in coordinator.targets if b.subentry_id in coordinator.lifecycle.pending
        ),
        "stop_behavior": coordinator.options.stop_behavior,
        "commanded": [
            {"battery": battery.title, **asdict(commanded)}
            for battery, commanded in zip(
                coordinator.batteries, coordinator.commanded or [], strict=False
            )
        ],
        "plan": None
        if plan is None
        else {
            "mode": plan.mode,
            "setpoints": [
                {"mode": s.mode, "power_w": s.power_w, "reason": s.reason} for s in plan.setpoints
            ],
        },
        "fail_safe": coordinator.lifecycle.cause,
        "grid_mode": coordinator.grid.request.as_dict(),
        "peak_cap_w": coordinator.grid.peak_cap_w,
        "peak": coordinator.grid.peak.as_dict(),
        "delivery": coordinator.delivery.diagnostics(),
    }


def _cycle(data: CycleData | None, coordinator: MarstekCoordinator) -> dict[str, Any] | None:
    if data is None:
        return None
    titles = {battery.subentry_id: battery.title for battery in coordinator.batteries}
    return {
        "time": data.time.isoformat(),
        "status": data.status,
        "cause": data.cause,
        "cause_entity_id": data.cause_entity_id,
        "grid_w": data.grid_w,
        "engine_grid_w": data.engine_grid_w,
        "delay_s": data.delay_s,
        "total_setpoint_w": data.total_setpoint_w,
        "batteries": [
            {
                "battery": titles.get(subentry_id, subentry_id),
                "reading": None if state.reading is None else asdict(state.reading),
                "problem": state.problem,
                "setpoint": {"mode": state.setpoint.mode, "power_w": state.setpoint.power_w},
                "reason": state.reason,
            }
            for subentry_id, state in data.batteries.items()
        ],
    }


def _write(record: WriteRecord) -> dict[str, Any]:
    return {**asdict(record), "time": record.time.isoformat()}


def _number(value: float | None) -> float | None:
    """Return a value JSON can carry: None for one that is not a finite number."""
    return value if value is not None and math.isfinite(value) else None


def _phase_limits(entry: MarstekConfigEntry, coordinator: MarstekCoordinator) -> dict[str, Any]:
    """Return the configured phase limits and each phase's budgets of the last cycle."""
    options = {**DEFAULT_OPTIONS, **entry.options}
    limits = coordinator.options.phase_limits
    titles = [battery.title for battery in coordinator.batteries]
    setpoints = coordinator.plan.setpoints if coordinator.plan else ()
    limited = {
        index
        for index, setpoint in enumerate(setpoints)
        if setpoint.reason is Reason.LIMITED_BY_PHASE
    }
    return {
        "main_fuse_a": options[CONF_MAIN_FUSE_A],
        "feed_in_limit_w": options[CONF_PHASE_FEED_IN_LIMIT_W],
        "import_w": limits.import_w,
        "export_w": limits.export_w,
        "margin_w": limits.margin_w,
        "current_sensors": coordinator.reader.meter.currents,
        "phases": {
            phase or "grid": {
                "power_w": _number(view.power_w),
                "current_a": _number(view.current_a),
                "charge_budget_w": view.charge_budget_w,
                "discharge_budget_w": view.discharge_budget_w,
                "batteries": [titles[i] for i in view.batteries if i < len(titles)],
                "limited_by_phase": [
                    titles[i] for i in view.batteries if i in limited and i < len(titles)
                ],
            }
            for phase, view in _phases(coordinator).items()
        },
    }


def _phases(coordinator: MarstekCoordinator) -> Mapping[str, PhaseView]:
    """Return the phase views of the last plan (none before the first)."""
    steered = coordinator.grid.steered
    return {} if steered is None else steered.phases


def _readback(coordinator: MarstekCoordinator) -> list[dict[str, Any]]:
    """Return each battery's read-back memory (readback.Track)."""
    readback = coordinator.reads.readback
    return [
        {"battery": title, **asdict(track)}
        for title, track in zip(readback.titles, readback.tracks, strict=False)
    ]
