"""The end-to-end test's log check fails on deprecation lines that name the integration."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from dev import e2e

SHUTDOWN = (
    "2026-12-01 21:00:09.000 INFO (MainThread) [custom_components.marstek_sim] "
    "Simulated batteries at shutdown: L1 stop 0 W, L2 stop 0 W, L3 stop 0 W"
)
FRAME = (
    "2026-12-01 21:00:05.123 WARNING (MainThread) [homeassistant.helpers.frame] Detected that "
    "custom integration 'marstek_strategy' accesses device_registry.devices as a mapping at "
    "custom_components/marstek_strategy/lilygo.py, line 138. This will stop working in Home "
    "Assistant 2027.9"
)
OTHER = (
    "2026-12-01 21:00:06.000 WARNING (MainThread) [homeassistant.helpers.frame] Detected that "
    "custom integration 'marstek_sim' uses a deprecated constant"
)


def _log(tmp_path: Path, *lines: str) -> Path:
    log = tmp_path / "home-assistant.log"
    log.write_text("\n".join([*lines, SHUTDOWN]) + "\n")
    return log


def test_deprecation_naming_the_integration_fails(tmp_path: Path) -> None:
    with pytest.raises(e2e.E2EError, match="deprecated use"):
        e2e.check_log(_log(tmp_path, FRAME))


def test_other_deprecations_pass(tmp_path: Path) -> None:
    e2e.check_log(_log(tmp_path, OTHER))


def test_failed_websocket_command_of_any_integration_fails(tmp_path: Path) -> None:
    """The UI stayed on Loading... when get_services failed in another integration."""
    failed = (
        "2026-12-01 21:00:07.000 ERROR (MainThread) [homeassistant.components.websocket_api"
        ".http.connection] [140] Error handling message: Unknown error (unknown_error) Developer "
        "from 127.0.0.1 (Chromium)\nTraceback (most recent call last):\n"
        "ModuleNotFoundError: No module named 'pymicro_vad'"
    )
    with pytest.raises(e2e.E2EError, match="websocket command of the frontend failed"):
        e2e.check_log(_log(tmp_path, failed))


def test_errors_of_the_integration_fail_those_of_hubs_named_marstek_pass(tmp_path: Path) -> None:
    """HA's modbus logs a dead hub with its name (marstek_m1): not the integration's error."""
    hub = (
        "2026-12-01 21:00:07.000 ERROR (MainThread) [homeassistant.components.modbus.modbus] "
        "Pymodbus: marstek_m1: Error: device: 1 address: 32202 -> Modbus Error"
    )
    e2e.check_log(_log(tmp_path, hub))
    ours = "2026-12-01 21:00:08.000 ERROR (MainThread) [custom_components.marstek_strategy] boom"
    with pytest.raises(e2e.E2EError, match="logged errors"):
        e2e.check_log(_log(tmp_path, ours))


def test_the_e2e_damages_the_store_as_the_store_reads_damage(tmp_path: Path) -> None:
    """--faults' damaged store (two items) is read by the integration's own reader: the
    stop it owes is kept, and both damaged items are named (what the repair issue shows)."""
    from custom_components.marstek_strategy.adapters.storage import read_store

    storage = tmp_path / ".storage"
    storage.mkdir()
    entities = {"forcible_mode_entity": "select.lilygo_l2_mode", "soc_entity": "sensor.l2_soc"}
    entry = {
        "entry_id": "hub1",
        "domain": "marstek_strategy",
        "subentries": [
            {"subentry_id": "s2", "title": "LilyGo L2", "data": {"phase": "L2", **entities}}
        ],
    }
    (storage / "core.config_entries").write_text(
        json.dumps({"data": {"entries": [{"domain": "other"}, entry]}})
    )
    settings = {"enabled": True, "strategy": "priority", "batteries": {"s2": {}}}
    (storage / "marstek_strategy.hub1").write_text(
        json.dumps({"version": 2, "data": {"settings": settings, "pending": []}})
    )
    assert e2e.damage_store(tmp_path) == ("hub1", "L2")
    data = json.loads((storage / "marstek_strategy.hub1").read_text())["data"]
    stored = read_store(data)
    assert stored.settings is not None
    assert not stored.settings.enabled
    assert list(stored.pending) == ["s2"]
    assert dict(stored.pending["s2"].entities) == entities
    assert stored.dropped == ["settings.batteries", "pending[1]"]
