"""The end-to-end test's log check fails on deprecation lines that name the integration."""

from __future__ import annotations

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
