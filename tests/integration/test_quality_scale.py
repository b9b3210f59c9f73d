"""quality_scale.yaml lists every rule of the Integration Quality Scale, each done or exempt."""

from __future__ import annotations

import json
from pathlib import Path

import yaml

INTEGRATION = Path(__file__).parent.parent.parent / "custom_components" / "marstek_strategy"

# The 54 rules (since 2026-07: docs-triggers and docs-conditions in Bronze).
RULES = {
    "bronze": {
        "action-setup", "appropriate-polling", "brands", "common-modules",
        "config-flow-test-coverage", "config-flow", "dependency-transparency", "docs-actions",
        "docs-conditions", "docs-high-level-description", "docs-installation-instructions",
        "docs-removal-instructions", "docs-triggers", "entity-event-setup", "entity-unique-id",
        "has-entity-name", "runtime-data", "test-before-configure", "test-before-setup",
        "unique-config-entry",
    },
    "silver": {
        "action-exceptions", "config-entry-unloading", "docs-configuration-parameters",
        "docs-installation-parameters", "entity-unavailable", "integration-owner",
        "log-when-unavailable", "parallel-updates", "reauthentication-flow", "test-coverage",
    },
    "gold": {
        "devices", "diagnostics", "discovery-update-info", "discovery", "docs-data-update",
        "docs-examples", "docs-known-limitations", "docs-supported-devices",
        "docs-supported-functions", "docs-troubleshooting", "docs-use-cases", "dynamic-devices",
        "entity-category", "entity-device-class", "entity-disabled-by-default",
        "entity-translations", "exception-translations", "icon-translations",
        "reconfiguration-flow", "repair-issues", "stale-devices",
    },
    "platinum": {"async-dependency", "inject-websession", "strict-typing"},
}  # fmt: skip


def test_every_rule_listed_done_or_exempt_with_a_reason() -> None:
    rules = yaml.safe_load((INTEGRATION / "quality_scale.yaml").read_text())["rules"]
    expected = set().union(*RULES.values())
    assert len(expected) == 54
    assert set(rules) == expected
    for name, rule in rules.items():
        status = rule if isinstance(rule, str) else rule["status"]
        assert status in ("done", "exempt"), name
        if status == "exempt":
            assert rule["comment"].strip(), name
    manifest = json.loads((INTEGRATION / "manifest.json").read_text())
    assert manifest["quality_scale"] == "platinum"  # every rule holds


def test_license_present() -> None:
    """HACS's validation needs a LICENSE (MIT, as pyproject.toml says)."""
    text = (INTEGRATION.parent.parent / "LICENSE").read_text()
    assert text.startswith("MIT License")
