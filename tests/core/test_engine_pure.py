"""The engine and the loop policy load and run without Home Assistant."""

from __future__ import annotations

from pathlib import Path
import subprocess
import sys

ROOT = Path(__file__).resolve().parent.parent.parent

SCRIPT = """
import sys
sys.modules["homeassistant"] = None  # any import of Home Assistant now fails
from bench.core import control, engine
fleet = [engine.BatteryReading(50, 100, 12, 800, 800, 0.0)]
plan = engine.allocate(500.0, fleet, engine.Plan.all_stop(1), engine.StrategySettings())
assert plan.mode is engine.Mode.DISCHARGE, plan
assert control.Commanded().mode is engine.Mode.STOP
assert not [name for name in sys.modules if name.startswith("homeassistant.")]
print("ok")
"""


def test_engine_and_control_import_with_home_assistant_blocked() -> None:
    result = subprocess.run(  # noqa: S603 - our own interpreter and script
        [sys.executable, "-c", SCRIPT],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "ok"
