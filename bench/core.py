"""Load the integration's pure core (``custom_components/marstek_strategy/core``).

Python runs a package's ``__init__`` before any module below it, and the integration's
``__init__`` imports Home Assistant (as Home Assistant expects of it), which the benchmark's
environment does not have. ``core/`` however is a self-contained package: none of its
imports leaves it (``tests/core/test_purity.py`` checks that). So it is loaded here as a
top-level package of its own, ``marstek_core``, from its own folder and its own
``__init__``: the very files the integration runs, and nothing outside ``core/`` is
reachable from it.
"""

from __future__ import annotations

import importlib
import importlib.util
from pathlib import Path
import sys
from types import ModuleType

PACKAGE = "marstek_core"
CORE_DIR = (
    Path(__file__).resolve().parent.parent / "custom_components" / "marstek_strategy" / "core"
)


def _package() -> ModuleType:
    if PACKAGE in sys.modules:
        return sys.modules[PACKAGE]
    spec = importlib.util.spec_from_file_location(
        PACKAGE, CORE_DIR / "__init__.py", submodule_search_locations=[str(CORE_DIR)]
    )
    if spec is None or spec.loader is None:
        raise ImportError(PACKAGE)
    module = importlib.util.module_from_spec(spec)
    sys.modules[PACKAGE] = module
    spec.loader.exec_module(module)
    return module


def load(name: str) -> ModuleType:
    """Return the core module ``name`` (for example ``"engine"``), loaded on its own."""
    _package()
    return importlib.import_module(f"{PACKAGE}.{name}")


engine = load("engine")
control = load("control")
