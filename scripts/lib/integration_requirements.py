"""Print the requirements of Home Assistant integrations and of everything they depend on.

Used by scripts/setup for a requirements file's "# integrations:" line: the packages come from
the installed Home Assistant's own manifests (its pins), following each manifest's
"dependencies" (esphome needs bluetooth, usb, assist_pipeline, ... set up before it).
    python integration_requirements.py DOMAIN ...
"""

import json
import pathlib
import sys

from homeassistant import components

BASE = pathlib.Path(components.__file__).parent


def requirements(domains: list[str]) -> list[str]:
    """Return the requirements of the domains and their dependencies, each once, in order."""
    seen: set[str] = set()
    found: list[str] = []
    todo = list(domains)
    while todo:
        domain = todo.pop(0)
        if domain in seen:
            continue
        seen.add(domain)
        manifest = json.loads((BASE / domain / "manifest.json").read_text())
        found += [r for r in manifest.get("requirements", []) if r not in found]
        todo += manifest.get("dependencies", [])
    return found


if __name__ == "__main__":
    print(*requirements(sys.argv[1:]), sep="\n")
