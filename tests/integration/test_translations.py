"""The translation files against hassfest's rules, in every language (hassfest reads only
strings.json and en.json).

The rules are those of home-assistant/core script/hassfest/translations.py (checked against
its current version): no placeholder in an entity's state, attribute name, attribute state
or unit (core PR 161447, January 2026), translation keys in lowercase snake case, no leading
or trailing spaces, no HTML, no URL, no placeholder in single quotes, placeholders that are
identifiers, no combined references. Home Assistant drops a translation whose placeholders
differ from the English ones, so those must match too.
"""

from __future__ import annotations

from collections.abc import Iterator
import json
from pathlib import Path
import re
import string
from typing import Any

import pytest

from custom_components.marstek_strategy.const import DOMAIN

COMPONENT = Path(__file__).parents[2] / "custom_components" / DOMAIN
FILES = [
    "strings.json",
    *sorted(f"translations/{p.name}" for p in (COMPONENT / "translations").glob("*.json")),
]

#: A translation key: lowercase letters, digits, - and _, not at either end, none doubled.
TRANSLATION_KEY = re.compile(r"^(?!.*[_-]{2})(?![_-])[a-z0-9_-]+(?<![_-])$")
#: A slug: lowercase letters, digits and _ (platforms, exception and common keys).
SLUG = re.compile(r"^[a-z0-9_]+$")
URL = re.compile(r"(ftp|ftps|scp|https?|mqtts?|socket|socks5)://|www\.", re.IGNORECASE)
HTML = re.compile(r"<\s*/?\s*[a-z][a-z0-9]*(\s[^>]*)?/?>", re.IGNORECASE)
QUOTED_PLACEHOLDER = re.compile(r"'\{\w+\}'")
REFERENCE = re.compile(r"\[%key:")


def _load(name: str) -> dict[str, Any]:
    tree: dict[str, Any] = json.loads((COMPONENT / name).read_text(encoding="utf-8"))
    return tree


def _leaves(
    tree: dict[str, Any], path: tuple[str, ...] = ()
) -> Iterator[tuple[tuple[str, ...], str]]:
    for key, value in tree.items():
        if isinstance(value, dict):
            yield from _leaves(value, (*path, key))
        else:
            yield (*path, key), value


def placeholders(text: str) -> set[str]:
    """Return the {name} placeholders of a string (as Home Assistant formats it)."""
    return {field for _, field, _, _ in string.Formatter().parse(text) if field}


def _no_placeholder_here(path: tuple[str, ...]) -> bool:
    """Whether hassfest forbids placeholders at path (entity state, attribute, unit)."""
    if len(path) < 4 or path[0] not in ("entity", "entity_component"):
        return False
    rest = path[3:] if path[0] == "entity" else path[2:]
    return rest[0] in ("state", "unit_of_measurement") or (
        rest[0] == "state_attributes" and len(rest) >= 3 and rest[2] in ("name", "state")
    )


def hassfest_errors(tree: dict[str, Any]) -> list[str]:
    """Return what hassfest's translation rules reject in one translation tree."""
    errors: list[str] = []
    for path, value in _leaves(tree):
        where = ".".join(path)
        if not isinstance(value, str):
            errors.append(f"{where}: not a string")
            continue
        if value != value.strip():
            errors.append(f"{where}: leading or trailing spaces")
        if HTML.search(value):
            errors.append(f"{where}: HTML")
        if URL.search(value):
            errors.append(f"{where}: a URL (use a description placeholder)")
        if QUOTED_PLACEHOLDER.search(value):
            errors.append(f"{where}: a placeholder in single quotes")
        if REFERENCE.search(value):
            errors.append(
                f"{where}: a [%key:...%] reference (not resolved for a custom integration)"
            )
        try:
            names = placeholders(value)
        except ValueError as err:
            errors.append(f"{where}: {err}")
            continue
        if any(not name.isidentifier() for name in names):
            errors.append(f"{where}: a placeholder that is not an identifier")
        if names and _no_placeholder_here(path):
            errors.append(f"{where}: placeholders are not allowed in entity state translations")
    for platform, entities in tree.get("entity", {}).items():
        if not SLUG.match(platform):
            errors.append(f"entity.{platform}: not a slug")
        for key, entity in entities.items():
            keys = [key, *entity.get("state", {}), *entity.get("state_attributes", {})]
            for attribute in entity.get("state_attributes", {}).values():
                keys += list(attribute.get("state", {}))
            errors += [
                f"entity.{platform}.{key}: key {k!r}" for k in keys if not TRANSLATION_KEY.match(k)
            ]
    for section in ("exceptions", "common", "config_subentries"):
        errors += [f"{section}.{k}: not a slug" for k in tree.get(section, {}) if not SLUG.match(k)]
    for selector in tree.get("selector", {}).values():
        options = selector.get("options", {})
        errors += [f"selector option {k!r}" for k in options if not TRANSLATION_KEY.match(k)]
    flows = [
        tree.get("config", {}),
        tree.get("options", {}),
        *tree.get("config_subentries", {}).values(),
    ]
    for flow in flows:
        for step_id, step in flow.get("step", {}).items():
            extra = set(step.get("data_description", {})) - set(step.get("data", {}))
            errors += [
                f"step {step_id}: data_description {k} is not in data" for k in sorted(extra)
            ]
    return errors


@pytest.mark.parametrize("name", FILES)
def test_hassfest_rules_hold_in_every_language(name: str) -> None:
    assert hassfest_errors(_load(name)) == []


def test_english_is_strings_json() -> None:
    assert _load("translations/en.json") == _load("strings.json")


@pytest.mark.parametrize("name", FILES[1:])
def test_every_language_has_the_keys_and_placeholders_of_english(name: str) -> None:
    english = dict(_leaves(_load("strings.json")))
    other = dict(_leaves(_load(name)))
    assert sorted(".".join(p) for p in other.keys() - english.keys()) == []
    assert sorted(".".join(p) for p in english.keys() - other.keys()) == []
    differ = [
        ".".join(p) for p, text in english.items() if placeholders(text) != placeholders(other[p])
    ]
    assert differ == []


def test_the_rules_reject_what_hassfest_rejects() -> None:
    """The checker itself: the explanation templates as they were (January 2026) fail."""
    old = {
        "entity": {
            "sensor": {
                "reason": {
                    "state": {"running": "Running"},
                    "state_attributes": {
                        "explanation": {"name": "Explanation", "state": {"running": "{power} W"}}
                    },
                }
            }
        }
    }
    assert hassfest_errors(old) == [
        "entity.sensor.reason.state_attributes.explanation.state.running: "
        "placeholders are not allowed in entity state translations"
    ]
    bad = {
        "entity": {"sensor": {"Reason": {"state": {"not__ok": "{x}", "ok": " a"}}}},
        "common": {"explanation_running": "{power} W of <b>{max}</b> W, see https://x.org"},
        "config": {"step": {"user": {"data": {}, "data_description": {"a": "'{b}'"}}}},
    }
    errors = hassfest_errors(bad)
    assert len(errors) == 8, errors
    assert hassfest_errors({"common": {"explanation_running": "{power} W"}}) == []
