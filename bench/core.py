"""Load the integration's pure modules (engine, control) without Home Assistant.

Importing ``custom_components.marstek_strategy.engine`` would run the integration's
``__init__``, which imports Home Assistant. This registers a namespace-like package whose
path is the integration folder, so ``engine`` and ``control`` (and their relative imports)
load as they are, from the same files the integration runs.
"""

from __future__ import annotations

import importlib
import importlib.machinery
import importlib.util
from pathlib import Path
import sys
from types import ModuleType

PACKAGE = "marstek_strategy_core"
INTEGRATION_DIR = Path(__file__).resolve().parent.parent / "custom_components" / "marstek_strategy"


def _package() -> ModuleType:
    if PACKAGE in sys.modules:
        return sys.modules[PACKAGE]
    spec = importlib.machinery.ModuleSpec(PACKAGE, None, is_package=True)
    module = importlib.util.module_from_spec(spec)
    module.__path__ = [str(INTEGRATION_DIR)]
    sys.modules[PACKAGE] = module
    return module


def load(name: str) -> ModuleType:
    """Return the integration module ``name`` (for example ``"engine"``), loaded purely."""
    _package()
    return importlib.import_module(f"{PACKAGE}.{name}")


engine = load("engine")
control = load("control")
