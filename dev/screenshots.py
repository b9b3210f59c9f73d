"""Take the README's screenshots from a running dev instance with headless Chromium.

Usage (with ``scripts/develop --configured`` running)::

    .venv/bin/python dev/screenshots.py [http://127.0.0.1:8123] [--drive]

and, on an instance where no battery is added yet (``scripts/develop``), the "Add battery"
dialog (it adds the hub if needed)::

    .venv/bin/python dev/screenshots.py --add-battery

``--since=2026-11-24T10:04:00+00:00`` starts the history there. ``--drive`` first
plays a few minutes of load steps on the simulated house so that the history shows the
setpoints moving. Chromium is driven through its DevTools protocol with aiohttp (installed
with Home Assistant); the frontend is logged in with the dev user's tokens, as its own login
page would do.
"""

from __future__ import annotations

import asyncio
import base64
from collections.abc import AsyncIterator
import contextlib
from datetime import UTC, datetime, timedelta
import json
import os
from pathlib import Path
import shutil
import socket
import sys
import tempfile
import time
from typing import Any

import aiohttp

sys.path.insert(0, str(Path(__file__).resolve().parent))

from haclient import GRID_SENSOR, PHASE_SENSORS, HAClient

REPO = Path(__file__).resolve().parent.parent
IMAGES = REPO / "docs" / "images"
CHROMIUM_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--hide-scrollbars",
    "--force-device-scale-factor=1",
)
# Load steps (W per phase) played on the simulated house for the history screenshot.
DRIVE = (
    {"load_l1": 400, "load_l2": 300, "load_l3": 250},
    {"load_l1": 2400},
    {"load_l3": 1800},
    {"load_l1": 400, "load_l3": 250, "pv_l1": 2500},
    {"pv_l1": 0, "load_l2": 1200},
    {"load_l2": 300},
)
DRIVE_STEP_S = 45
# Defines deepAll(root, predicate): every element, shadow roots included, that matches.
DEEP_ALL = """
window.deepAll = (root, pred) => {
  const out = [];
  const walk = (node) => {
    if (node.nodeType === 1 && pred(node)) out.push(node);
    if (node.shadowRoot) walk(node.shadowRoot);
    for (const child of node.children || []) walk(child);
  };
  walk(root);
  return out;
};
"""


class Browser:
    """A headless Chromium page driven through the DevTools protocol."""

    def __init__(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        """Wrap the page's websocket."""
        self._ws = ws
        self._id = 0

    async def send(self, method: str, **params: Any) -> dict[str, Any]:
        """Send a command and return its result."""
        self._id += 1
        await self._ws.send_json({"id": self._id, "method": method, "params": params})
        while True:
            message = await self._ws.receive_json(timeout=60)
            if message.get("id") == self._id:
                if "error" in message:
                    raise RuntimeError(f"{method}: {message['error']}")
                return message.get("result", {})

    async def evaluate(self, expression: str) -> Any:
        """Evaluate JavaScript in the page."""
        result = await self.send("Runtime.evaluate", expression=expression, awaitPromise=True)
        return result.get("result", {}).get("value")

    async def resize(self, width: int, height: int) -> None:
        """Set the viewport."""
        await self.send(
            "Emulation.setDeviceMetricsOverride",
            width=width,
            height=height,
            deviceScaleFactor=1,
            mobile=False,
        )

    async def open(self, url: str, width: int, height: int, wait: float) -> None:
        """Open url in a viewport of this size and give the frontend time to render."""
        await self.resize(width, height)
        await self.send("Page.navigate", url=url)
        await asyncio.sleep(wait)

    async def click(self, tag: str, text: str) -> None:
        """Click the first element (shadow roots included) with this tag and text."""
        found = await self.evaluate(
            f"(() => {{ const n = deepAll(document, e => e.tagName === {json.dumps(tag)} && "
            f"e.textContent.toLowerCase().includes({json.dumps(text)}))[0]; "
            "if (n) n.click(); return !!n; })()"
        )
        if not found:
            raise LookupError(f"no {tag} with text {text!r}")

    async def save(self, name: str) -> None:
        """Save a PNG screenshot as docs/images/<name>.png."""
        data = await self.send("Page.captureScreenshot", format="png")
        path = IMAGES / f"{name}.png"
        path.write_bytes(base64.b64decode(data["data"]))
        print(f"saved {path.relative_to(REPO)}")

    async def shot(self, url: str, name: str, width: int, height: int, wait: float) -> None:
        """Open url and save a PNG screenshot as docs/images/<name>.png."""
        await self.open(url, width, height, wait)
        await self.save(name)


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _drive(client: HAClient) -> None:
    client.call("switch", "turn_on", entity_id=_find(client, "switch.", ""))
    for step in DRIVE:
        client.call("marstek_sim", "set_house", **step)
        print(f"house: {step}; grid {client.value('sensor.p1_meter_power'):.0f} W", flush=True)
        time.sleep(DRIVE_STEP_S)


def _find(client: HAClient, prefix: str, suffix: str) -> str:
    for entity_id in client.integration_entities("marstek_strategy"):
        if entity_id.startswith(prefix) and entity_id.endswith(suffix):
            return entity_id
    raise LookupError(f"{prefix}*{suffix}")


@contextlib.asynccontextmanager
async def _browser(base: str, tokens: dict[str, Any]) -> AsyncIterator[Browser]:
    """Start headless Chromium, log the frontend in with the tokens, yield the page."""
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        raise SystemExit("chromium not found (Debian: apt-get install chromium)")
    IMAGES.mkdir(parents=True, exist_ok=True)
    profile = tempfile.mkdtemp(prefix="marstek-chromium-")
    port = _free_port()
    proc = await asyncio.create_subprocess_exec(
        chromium,
        *CHROMIUM_FLAGS,
        f"--user-data-dir={profile}",
        f"--remote-debugging-port={port}",
        "about:blank",
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.DEVNULL,
    )
    try:
        async with aiohttp.ClientSession() as session:
            pages: list[dict[str, Any]] = []
            for _ in range(50):
                with contextlib.suppress(aiohttp.ClientError):
                    async with session.get(f"http://127.0.0.1:{port}/json") as resp:
                        pages = [t for t in await resp.json() if t["type"] == "page"]
                        if pages:
                            break
                await asyncio.sleep(0.2)
            async with session.ws_connect(pages[0]["webSocketDebuggerUrl"], max_msg_size=0) as ws:
                browser = Browser(ws)
                await browser.send("Page.enable")
                await browser.send("Page.navigate", url=f"{base}/auth/authorize")
                await asyncio.sleep(2)
                stored = {
                    **tokens,
                    "hassUrl": base,
                    "clientId": f"{base}/",
                    "expires": int(time.time() * 1000) + tokens["expires_in"] * 1000,
                }
                await browser.evaluate(
                    f"localStorage.setItem('hassTokens', {json.dumps(json.dumps(stored))})"
                )
                await browser.evaluate(DEEP_ALL)
                yield browser
    finally:
        proc.terminate()
        await asyncio.wait_for(proc.wait(), timeout=20)
        shutil.rmtree(profile, ignore_errors=True)


async def _add_battery(base: str) -> None:
    """The "Add battery" dialog: its device step and the entities discovery found."""
    client = HAClient(base)
    tokens = client.login_tokens()
    if not client.get("/api/config/config_entries/entry?domain=marstek_strategy"):
        client.run_flow(
            "/api/config/config_entries/flow",
            {"handler": "marstek_strategy"},
            {
                "grid_sensor": GRID_SENSOR,
                "phase_count": "3",
                **{f"phase_l{i + 1}_sensor": PHASE_SENSORS[i] for i in range(3)},
            },
        )
    async with _browser(base, tokens) as browser:
        await browser.open(f"{base}/config/integrations/integration/marstek_strategy", 1280, 900, 6)
        await browser.evaluate(DEEP_ALL)
        await browser.click("HA-MD-MENU-ITEM", "add battery")
        await asyncio.sleep(4)
        await browser.save("add-battery")
        await browser.click("MWC-BUTTON", "submit")
        await asyncio.sleep(4)
        await browser.resize(1280, 1200)
        await asyncio.sleep(2)
        await browser.save("add-battery-entities")


async def _configured(base: str, drive: bool, since: datetime | None) -> None:
    """The integration, its hub and a battery device, and the setpoints' history."""
    client = HAClient(base)
    tokens = client.login_tokens()
    if drive:
        await asyncio.to_thread(_drive, client)
    ids = client.integration_entities("marstek_strategy")
    setpoints = sorted(i for i in ids if i.endswith("_setpoint_power"))
    hub_device = client.device_id(_find(client, "switch.", ""))
    battery_device = client.device_id(setpoints[0])
    window = timedelta(seconds=len(DRIVE) * DRIVE_STEP_S + 30)
    start = (since or datetime.now(UTC) - window).strftime("%Y-%m-%dT%H:%M:%S.000Z")
    history = (
        f"{base}/history?entity_id="
        + ",".join(["sensor.p1_meter_power", *setpoints])
        + f"&start_date={start}"
    )
    async with _browser(base, tokens) as browser:
        integration = f"{base}/config/integrations/integration/marstek_strategy"
        await browser.shot(integration, "integration", 1280, 900, 6)
        await browser.shot(
            f"{base}/config/devices/device/{hub_device}", "hub-device", 1280, 1100, 6
        )
        battery = f"{base}/config/devices/device/{battery_device}"
        await browser.shot(battery, "battery-device", 1280, 1100, 6)
        await browser.shot(history, "setpoints-history", 1280, 660, 25)


def main() -> int:
    """Take the screenshots."""
    args = [a for a in sys.argv[1:] if not a.startswith("--")]
    base = (args[0] if args else "http://127.0.0.1:8123").rstrip("/")
    since = next(
        (datetime.fromisoformat(a[8:]) for a in sys.argv if a.startswith("--since=")), None
    )
    if "--add-battery" in sys.argv:
        asyncio.run(_add_battery(base))
    else:
        asyncio.run(_configured(base, "--drive" in sys.argv, since))
    return 0


if __name__ == "__main__":
    os.environ.setdefault("TZ", "Europe/Amsterdam")
    sys.exit(main())
