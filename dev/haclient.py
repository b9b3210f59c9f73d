"""A small Home Assistant HTTP client (standard library, aiohttp for one websocket call).

It does what a person does in the UI, through the same HTTP endpoints the frontend uses:
onboarding (owner account), logging in, config flows and config subentry flows, service calls
and state reads.

Command line (used by ``scripts/develop``)::

    python dev/haclient.py onboard  http://127.0.0.1:8123
    python dev/haclient.py configure http://127.0.0.1:8123
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import time
from typing import Any
import urllib.error
import urllib.parse
import urllib.request

import aiohttp

USERNAME = "dev"
PASSWORD = "dev"  # noqa: S105 - the documented login of the local development instance
OWNER_NAME = "Developer"

#: The simulated site's entities, as the dev component names them.
GRID_SENSOR = "sensor.p1_meter_power"
PHASE_SENSORS = (
    "sensor.p1_meter_power_phase_1",
    "sensor.p1_meter_power_phase_2",
    "sensor.p1_meter_power_phase_3",
)
BATTERIES = (("LilyGo L1", "L1"), ("LilyGo L2", "L2"), ("LilyGo L3", "L3"))
#: The dev/modbus package's selects (their registers are read every 10 s).
MODBUS_PROBES = tuple(
    f"select.marstek_m{n}_{key}"
    for n in (1, 2, 3)
    for key in ("forcible_charge_discharge", "rs485_control_mode")
)
#: Integrations the onboarding's core_config step sets up; they need packages or network.
ONBOARDING_EXTRAS = ("google_translate", "met", "radio_browser")
#: Device name -> device id of the boards' devices (the simulator's, or ESPHome's).
DEVICES_TEMPLATE = (
    "{% set ns = namespace(d={}) %}"
    "{% for e in integration_entities('DOMAIN') %}"
    "{% set ns.d = dict(ns.d, **{device_attr(device_id(e), 'name'): device_id(e)}) %}"
    "{% endfor %}{{ ns.d | tojson }}"
)


class HAError(RuntimeError):
    """A request failed or Home Assistant answered something unexpected."""


class HAClient:
    """Talk to one Home Assistant instance."""

    def __init__(self, base: str, token: str | None = None) -> None:
        """Create a client for base (for example ``http://127.0.0.1:8123``)."""
        self.base = base.rstrip("/")
        self.client_id = f"{self.base}/"
        self.token = token

    # ---------------------------------------------------------------- transport
    def request(
        self,
        method: str,
        path: str,
        body: Any = None,
        *,
        form: dict[str, str] | None = None,
        auth: bool = True,
        timeout: float = 30.0,
    ) -> Any:
        """Send a request; return the decoded JSON answer (or text)."""
        headers = {}
        data = None
        if form is not None:
            data = urllib.parse.urlencode(form).encode()
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        elif body is not None:
            data = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
        if auth and self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        req = urllib.request.Request(  # noqa: S310 - http to loopback only
            self.base + path, data=data, headers=headers, method=method
        )
        try:
            with urllib.request.urlopen(req, timeout=timeout) as resp:  # noqa: S310
                text = resp.read().decode()
        except urllib.error.HTTPError as err:
            detail = err.read().decode(errors="replace")
            raise HAError(f"{method} {path} -> {err.code}: {detail}") from err
        try:
            return json.loads(text) if text else None
        except json.JSONDecodeError:
            return text

    def get(self, path: str) -> Any:
        """GET path."""
        return self.request("GET", path)

    def post(self, path: str, body: Any = None) -> Any:
        """POST JSON to path."""
        return self.request("POST", path, body if body is not None else {})

    def wait_until_up(self, timeout: float = 300.0, proc: Any = None) -> float:
        """Wait until the HTTP API answers; return the seconds waited."""
        start = time.monotonic()
        while time.monotonic() - start < timeout:
            if proc is not None and proc.poll() is not None:
                raise HAError(f"Home Assistant exited with code {proc.returncode}")
            try:
                # Needs no login (an unauthenticated /api/ would count as a failed login);
                # any HTTP answer, even "onboarding required", means Home Assistant is up.
                self.request("GET", "/auth/providers", auth=False, timeout=5)
            except HAError:
                return time.monotonic() - start
            except OSError:
                time.sleep(0.5)
            else:
                return time.monotonic() - start
        raise HAError(f"Home Assistant did not answer within {timeout:.0f} s")

    # ---------------------------------------------------------------- auth
    def _token_from_code(self, code: str) -> dict[str, Any]:
        tokens = self.request(
            "POST",
            "/auth/token",
            form={"grant_type": "authorization_code", "code": code, "client_id": self.client_id},
            auth=False,
        )
        self.token = tokens["access_token"]
        return tokens

    def onboard(self) -> bool:
        """Create the owner, finish onboarding if needed and log in; True if onboarded now."""
        try:
            answer = self.request("GET", "/api/onboarding", auth=False)
        except HAError as err:
            if "-> 404" not in str(err):
                raise
            answer = []  # onboarded earlier: Home Assistant no longer serves onboarding
        steps = {s["step"]: s["done"] for s in answer}
        if not steps:
            self.login()
            return False
        did = False
        if not steps.get("user"):
            answer = self.request(
                "POST",
                "/api/onboarding/users",
                {
                    "client_id": self.client_id,
                    "name": OWNER_NAME,
                    "username": USERNAME,
                    "password": PASSWORD,
                    "language": "en",
                },
                auth=False,
            )
            self._token_from_code(answer["auth_code"])
            did = True
        else:
            self.login()
        if not steps.get("core_config"):
            self.post("/api/onboarding/core_config")
            self._remove_onboarding_leftovers()
            did = True
        if not steps.get("analytics"):
            self.post("/api/onboarding/analytics")
            did = True
        if not steps.get("integration"):
            self.post(
                "/api/onboarding/integration",
                {"client_id": self.client_id, "redirect_uri": f"{self.base}/?auth_callback=1"},
            )
            did = True
        return did

    def websocket(self, message: dict[str, Any]) -> dict[str, Any]:
        """Send one command over the websocket API (logged in); return the answer.

        The one place that is not standard library: aiohttp, which every Home Assistant venv
        has (the HTTP API has no endpoint for what needs this).
        """

        async def send() -> dict[str, Any]:
            url = self.base.replace("http", "ws", 1) + "/api/websocket"
            async with aiohttp.ClientSession() as session, session.ws_connect(url) as ws:
                await ws.receive_json()  # auth_required
                await ws.send_json({"type": "auth", "access_token": self.token})
                auth = await ws.receive_json()
                if auth.get("type") != "auth_ok":
                    raise HAError(f"websocket login failed: {auth}")
                await ws.send_json({"id": 1, **message})
                answer: dict[str, Any] = await ws.receive_json()
                return answer

        return asyncio.run(send())

    def promote_http_config(self) -> bool:
        """Confirm the YAML `http:` config (2026.x runs it as a trial); True if promoted.

        Unconfirmed, Home Assistant restarts on its stored default (port 8123, every
        interface) after 5 minutes. Older releases have no such command; nothing to do there.
        """
        answer = self.websocket({"type": "http/config/promote"})
        return bool(answer.get("success"))

    def _remove_onboarding_leftovers(self) -> None:
        """Remove the entries onboarding adds that cannot load here (no packages, no network)."""
        deadline = time.monotonic() + 5.0
        while time.monotonic() < deadline:
            for entry in self.get("/api/config/config_entries/entry"):
                if entry["domain"] in ONBOARDING_EXTRAS and entry["state"] != "loaded":
                    self.request("DELETE", f"/api/config/config_entries/entry/{entry['entry_id']}")
            time.sleep(0.5)

    def login(self, username: str = USERNAME, password: str = PASSWORD) -> None:
        """Log in through the login flow, as the frontend does."""
        self.login_tokens(username, password)

    def login_tokens(self, username: str = USERNAME, password: str = PASSWORD) -> dict[str, Any]:
        """Log in through the login flow; return the tokens (access and refresh)."""
        flow = self.request(
            "POST",
            "/auth/login_flow",
            {
                "client_id": self.client_id,
                "handler": ["homeassistant", None],
                "redirect_uri": f"{self.base}/?auth_callback=1",
            },
            auth=False,
        )
        result = self.request(
            "POST",
            f"/auth/login_flow/{flow['flow_id']}",
            {"username": username, "password": password, "client_id": self.client_id},
            auth=False,
        )
        if result.get("type") != "create_entry":
            raise HAError(f"login failed: {result}")
        return self._token_from_code(result["result"])

    # ---------------------------------------------------------------- states and services
    def state(self, entity_id: str) -> dict[str, Any]:
        """Return an entity's state object."""
        return self.get(f"/api/states/{entity_id}")

    def value(self, entity_id: str) -> float:
        """Return an entity's state as a number."""
        return float(self.state(entity_id)["state"])

    def states(self) -> list[dict[str, Any]]:
        """Return all states."""
        return self.get("/api/states")

    def call(self, domain: str, service: str, **data: Any) -> Any:
        """Call a service."""
        return self.post(f"/api/services/{domain}/{service}", data)

    def call_response(self, domain: str, service: str, **data: Any) -> Any:
        """Call a service that returns a response; return the response."""
        answer = self.post(f"/api/services/{domain}/{service}?return_response", data)
        return answer["service_response"]

    def template(self, template: str) -> str:
        """Render a template."""
        return self.post("/api/template", {"template": template})

    def integration_entities(self, domain: str) -> list[str]:
        """Return the entity ids of an integration's entities."""
        rendered = self.template("{{ integration_entities('" + domain + "') | list | tojson }}")
        # The API answers with text; the client decodes it when it is JSON already.
        return rendered if isinstance(rendered, list) else json.loads(rendered)

    def device_id(self, entity_id: str) -> str:
        """Return the device id of an entity."""
        device = str(self.template("{{ device_id('" + entity_id + "') }}")).strip()
        if not device or device == "None":
            raise HAError(f"{entity_id} has no device")
        return device

    def modbus_reload_if_dead(self, wait: float = 15.0) -> bool:
        """Reload HA's modbus when the package's selects have no value after wait seconds,
        then wait for them; True if it reloaded.

        HA's modbus connects once at its start and never retries a server that was not up
        then (dev/marstek_sim starts its Modbus servers after modbus set up). The hub's flow
        needs the values: an unavailable template select has no options, and the flow
        refuses it as no mode select.
        """

        def valued() -> bool:
            try:
                return all(self.state(e)["state"] != "unavailable" for e in MODBUS_PROBES)
            except HAError:
                return False  # not there yet

        def wait_valued(seconds: float) -> bool:
            end = time.monotonic() + seconds
            while time.monotonic() < end:
                if valued():
                    return True
                time.sleep(0.5)
            return False

        if wait_valued(wait):
            return False
        self.call("modbus", "reload")
        if not wait_valued(60.0):
            raise HAError(f"the modbus selects have no value after a reload: {MODBUS_PROBES}")
        return True

    def subentries(self, entry_id: str) -> list[dict[str, Any]]:
        """Return a config entry's subentries (id, type, title, unique id)."""
        answer = self.websocket({"type": "config_entries/subentries/list", "entry_id": entry_id})
        if not answer.get("success"):
            raise HAError(f"listing the subentries failed: {answer}")
        result: list[dict[str, Any]] = answer["result"]
        return result

    # ---------------------------------------------------------------- flows
    def run_flow(
        self, index: str, start: dict[str, Any], answers: dict[str, Any], max_steps: int = 8
    ) -> dict[str, Any]:
        """Run a data entry flow through its HTTP endpoints, answering each form's fields.

        A field is answered from ``answers`` when its name is there, else left at the form's
        default (or suggested value), as a person accepting the proposal would.
        """
        result = self.post(index, start)
        for _ in range(max_steps):
            kind = result.get("type")
            if kind in ("create_entry", "abort"):
                return result
            if kind == "menu":
                raise HAError(f"flow shows a menu, not supported: {result}")
            if kind != "form":
                raise HAError(f"unexpected flow result: {result}")
            if result.get("errors"):
                raise HAError(f"form {result['step_id']} has errors: {result['errors']}")
            user_input: dict[str, Any] = {}
            for field in result.get("data_schema", []):
                name = field["name"]
                if name in answers:
                    user_input[name] = answers[name]
                    continue
                suggested = (field.get("description") or {}).get("suggested_value")
                if suggested is not None:
                    user_input[name] = suggested
                elif "default" in field:
                    user_input[name] = field["default"]
                elif field.get("required"):
                    raise HAError(f"no answer for required field {name!r} in {result}")
            result = self.post(f"{index}/{result['flow_id']}", user_input)
        raise HAError(f"flow did not finish in {max_steps} steps: {result}")

    def add_esphome_boards(self, host: str, ports: list[int]) -> list[dict[str, Any]]:
        """Add ESPHome devices as a person does: the ESPHome flow with host and port each."""
        entries = []
        for port in ports:
            result = self.run_flow(
                "/api/config/config_entries/flow",
                {"handler": "esphome"},
                {"host": host, "port": port},
            )
            if result["type"] == "abort" and result.get("reason") == "already_configured":
                continue  # added at an earlier start (scripts/develop)
            if result["type"] != "create_entry":
                raise HAError(f"ESPHome flow for {host}:{port} did not create an entry: {result}")
            entries.append(result["result"])
        return entries

    def configure_strategy(
        self, domain: str = "marstek_strategy", board_domain: str = "marstek_sim"
    ) -> dict[str, Any]:
        """Create the hub entry with the simulated batteries (the hub flow proposes them all).

        board_domain is the integration whose devices are the boards (``esphome`` for the
        emulated boards).

        Batteries missing afterwards (an interrupted earlier run) are added with "Add battery".
        """
        entries = self.get(f"/api/config/config_entries/entry?domain={domain}")
        if entries:
            entry = entries[0]
            if entry.get("num_subentries", 0) >= len(BATTERIES):
                return entry
        else:
            answers: dict[str, Any] = {
                "grid_sensor": GRID_SENSOR,
                "phase_count": "3",
                "phase_l1_sensor": PHASE_SENSORS[0],
                "phase_l2_sensor": PHASE_SENSORS[1],
                "phase_l3_sensor": PHASE_SENSORS[2],
            }
            result = self.run_flow("/api/config/config_entries/flow", {"handler": domain}, answers)
            if result["type"] != "create_entry":
                raise HAError(f"hub flow did not create an entry: {result}")
            entry = result["result"]
        entry_id = entry["entry_id"]
        # The hub's own flow proposes every battery found (devices and device-less groups);
        # a device battery's unique id is its device id. Only those still missing go through
        # "Add battery" (whose form, with nothing left to choose, asks for entities by hand).
        subentries = self.subentries(entry_id)
        if len(subentries) >= len(BATTERIES):
            return entry
        if board_domain == "modbus":
            raise HAError(f"the hub flow added {len(subentries)} of the Modbus batteries")
        used = {s.get("unique_id") for s in subentries}
        devices = self.template(DEVICES_TEMPLATE.replace("DOMAIN", board_domain))
        devices = devices if isinstance(devices, dict) else json.loads(devices)
        for name, phase in BATTERIES:
            if name not in devices:
                raise HAError(f"no simulated device {name!r} (found {sorted(devices)})")
            device = devices[name]
            if device in used:
                continue
            try:
                result = self.run_flow(
                    "/api/config/config_entries/subentries/flow",
                    {"handler": [entry_id, "battery"]},
                    {"device_id": device, "device": device, "phase": phase},
                )
            except HAError as err:
                if "device_in_use" in str(err):
                    continue  # added before (an earlier, interrupted run)
                raise
            if result["type"] == "abort" and result.get("reason") in (
                "already_configured",
                "no_devices",  # every battery was added in the hub's own flow
            ):
                continue
            if result["type"] != "create_entry":
                raise HAError(f"battery flow for {name} did not create a subentry: {result}")
        return entry


def main(argv: list[str]) -> int:
    """Run ``onboard`` or ``configure`` against a base URL."""
    if len(argv) != 3 or argv[1] not in ("onboard", "configure"):
        print(__doc__, file=sys.stderr)
        return 2
    client = HAClient(argv[2])
    client.wait_until_up()
    if client.onboard():
        print(f"Onboarding done: log in as {USERNAME} / {PASSWORD}")
    if client.promote_http_config():
        print("The http: configuration (port, loopback) is confirmed")
    board_domain = "marstek_sim"
    if ports := os.environ.get("MARSTEK_ESPHOME_PORTS"):
        client.add_esphome_boards("127.0.0.1", [int(p) for p in ports.split(",")])
        print(f"ESPHome boards added: 127.0.0.1:{ports}")
        board_domain = "esphome"
    if os.environ.get("MARSTEK_SIM_BOARD_API") == "modbus":
        board_domain = "modbus"
        if client.modbus_reload_if_dead():
            print("modbus reloaded: its servers were not up when Home Assistant started")
    if argv[1] == "configure":
        entry = client.configure_strategy(board_domain=board_domain)
        print(f"Strategy configured: entry {entry['entry_id']} with the simulated batteries")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
