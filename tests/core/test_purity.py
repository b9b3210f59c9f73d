"""core/ stays pure: no Home Assistant, and no import leaves the package.

Two checks, one on the text and one on the run: every file in ``core/`` is walked with
``ast`` for imports of ``homeassistant`` (or anything outside the standard library and
``core/`` itself), and every module is imported in a fresh interpreter with Home Assistant
blocked, as the benchmark loads it (``bench/core.py``).
"""

from __future__ import annotations

import ast
from pathlib import Path
import subprocess
import sys

import pytest

ROOT = Path(__file__).resolve().parent.parent.parent
CORE = ROOT / "custom_components" / "marstek_strategy" / "core"
MODULES = sorted(path.stem for path in CORE.glob("*.py") if path.stem != "__init__")


def bad_imports(source: str) -> list[str]:
    """Return the imports in source that a core module may not make."""
    bad: list[str] = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level > 1:  # from .. import x: leaves core/
                bad.append("." * node.level + (node.module or ""))
                continue
            if node.level == 1:  # from . import x / from .x import y: inside core/
                continue
            names = [node.module or ""]
        else:
            continue
        for name in names:
            top = name.split(".")[0]
            if top not in sys.stdlib_module_names or top == "homeassistant":
                bad.append(name)
    return bad


def test_core_has_the_modules() -> None:
    assert {"engine", "model", "phase_limits", "control", "readings"} <= set(MODULES)


@pytest.mark.parametrize("module", MODULES)
def test_core_module_imports_only_core_and_the_standard_library(module: str) -> None:
    assert bad_imports((CORE / f"{module}.py").read_text()) == []


@pytest.mark.parametrize(
    "source",
    [
        "import homeassistant",
        "from homeassistant.core import HomeAssistant",
        "from ..const import DOMAIN",
        "from .. import const",
        "from custom_components.marstek_strategy import const",
        "import voluptuous",
        "def f():\n    from ..adapters import reader\n",
    ],
)
def test_the_check_catches_a_bad_import(source: str) -> None:
    assert bad_imports(source)


def test_the_check_lets_core_and_the_standard_library_pass() -> None:
    source = (
        "from __future__ import annotations\nimport math\nfrom . import engine\n"
        "from .model import Mode\nfrom collections.abc import Sequence\n"
    )
    assert bad_imports(source) == []


SCRIPT = f"""
import sys
sys.modules["homeassistant"] = None  # any import of Home Assistant now fails
from bench.core import load
for name in {MODULES!r}:
    load(name)
outside = ("homeassistant", "custom_components")
assert not [m for m, v in sys.modules.items() if v and m.split(".")[0] in outside]
print("ok")
"""


def test_every_core_module_runs_with_home_assistant_blocked() -> None:
    result = subprocess.run(  # noqa: S603 - our own interpreter and script
        [sys.executable, "-c", SCRIPT],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "ok"
