"""End-to-end test: a real Home Assistant with the integration and the simulated site.

Starts Home Assistant as its own process on a free loopback port with a temporary config
folder (the dev configuration), onboards it, adds the hub and the three batteries through the
HTTP flow endpoints the UI uses, switches the strategy on, and checks through the REST API:

1. the setpoint sensors move and the grid power converges to the target;
2. after a load step the grid power is back within 50 W of the target (time measured);
3. a meter that goes unavailable stops every battery (status ``fail_safe``) and the strategy
   resumes by itself when it is back; a running board that goes offline keeps its last
   setpoint, as a real one does; once the integration has noticed (its reason
   ``readings_unavailable`` or ``not_responding``) the others take a load step without taking
   its power over (``--long``: also a meter that stops reporting, and boards that drop RS485 control
   after 90 s without a keep-alive: running boards must keep it, all must answer later);
   (``--faults``: a battery the Marstek app starts by itself is stopped (or driven by the
   strategy) again within a bound and the log says so once, a board that reboots (RS485 reads
   unknown) is enabled again within a bound, a board that ignores writes is said once and the
   strategy recovers when it answers again, a running battery removed while its board is
   offline and then its entities renamed is stopped within a bound once its board is back,
   and after Home Assistant stopped, the hub's store damaged (two items) with a stop still
   owed: the next start loads, makes that stop within a bound, says so once and raises a
   repair issue naming what was dropped);
   (``--modes``: each grid mode through ``marstek_strategy.set_grid_mode`` with a 10 A fuse
   and an 800 W feed-in limit per phase: charge and discharge run about the requested power
   and, asked more, stop at the fuse and the feed-in limit on every phase; hold never
   discharges and soaks up export; its duration returns the hub to zero by itself; an
   invalid call gets the validation message, HTTP 400 where Home Assistant's REST API gives
   it (2026.x));
4. switching the strategy off leaves every simulated battery at ``stop``, with no more writes;
5. stopping Home Assistant while the strategy runs leaves every simulated battery at ``stop``.

``--esphome`` runs the same checks through Home Assistant's own ``esphome`` integration: the
boards are ESPHome native API servers (``dev/marstek_sim/esphome_board.py``), added through the
ESPHome flow with host and port; ``--faults`` then also drops a board's connection, lets a
board answer writes late and lets one hang (a half-open connection: taken out as
``readings_frozen`` before Home Assistant marks it unavailable). ``--modbus`` checks Home
Assistant's own ``modbus`` integration and the template package ``dev/modbus`` against the
Modbus TCP emulators (read, write, availability when a server drops or a gateway times out, a
reboot), then sets up the hub with the package's device-less entity groups (``marstek_mN_``)
in the hub's own flow and runs the strategy checks 1-5 through them.

``--browser`` runs the first hour in Chromium instead (``dev/browser/walkthrough.mjs``): log in,
add the hub with the three batteries in one flow, a first dashboard with the card, the dry-run
plan on it, start, the card following a load step and showing a charge asked through the
service (its translated grid mode line); any error of the page fails it. With
``--current`` (what ``scripts/e2e`` passes for 2026.11.0) Home Assistant runs in its own
environment (``scripts/current run``) with its config folder in the repository's ``config/``,
and the screenshots go to ``docs/images``.

Home Assistant is stopped cleanly; on failure its log is printed. The last line gives the
convergence time after the load step and the residual grid power.
"""

from __future__ import annotations

from collections.abc import Callable
import json
import math
import os
from pathlib import Path
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from haclient import GRID_SENSOR, PHASE_SENSORS, HAClient, HAError

REPO = Path(__file__).resolve().parent.parent
HASS = Path(sys.executable).parent / "hass"  # the Home Assistant of the venv running this
#: --current: Home Assistant 2026.11.0 in its environment (the test runs on the host, where the
#: browser walkthrough's Node and Chromium are; they reach it over loopback).
CURRENT = (str(REPO / "scripts" / "current"), "run")
PREPARE_WITH_ITS_PYTHON = 'MARSTEK_PYTHON="$(command -v python)" exec "$0" "$1"'
BROWSER = REPO / "dev" / "browser"  # --browser: the walkthrough (node, playwright-core)
IMAGES = REPO / "docs" / "images"
SCREENSHOTS = (
    "flow-batteries",
    "flow-battery",
    "flow-done",
    "card-dry-run",
    "card-load-step",
    "battery-device-page",
)
TOLERANCE_W = 50.0
HOLD_S = 5.0  # the grid must stay within the tolerance this long to count as converged
CONVERGE_TIMEOUT_S = 75.0
BASE_LOAD = {"load_l1": 700.0, "load_l2": 450.0, "load_l3": 350.0}
STEP_LOAD = {"load_l1": 2200.0}  # a kettle on L1: +1500 W
BATTERY_PHASES = ("l1", "l2", "l3")
KEEPALIVE_TIMEOUT_S = 90.0  # --long: boards drop RS485 control after this without enable
ROLE_COUNT = 11  # the LilyGo entities a battery subentry maps (const.Role)
#: dev/modbus's package: no cutoff numbers, the inverter state only as a raw register sensor.
MODBUS_ROLE_COUNT = 9
QUIET_S = 8.0  # after off, no writes for longer than one cycle (6.5 s)
BOARD_PHASES = ("L1", "L2", "L3")
CYCLE_S = 6.5  # the strategy's cycle (default interval)
KEEPALIVE_S = 30.0  # the strategy's keep-alive period (default)
#: --faults: a battery the app started must be stopped (or driven) again within this, less
#: than a keep-alive period: the read-back must catch it (poll 5 s + a settle cycle 12 s).
SELF_START_BOUND_S = 25.0
REBOOT_BOUND_S = 30.0  # --faults: a rebooted board has RS485 enabled again within this
#: --faults: a removed battery's pending stop is made this soon after its board is back (the
#: board's next poll shows it available, then one cycle).
REMOVED_STOP_BOUND_S = 20.0
#: --faults: after a start on a damaged store, a stop it kept is made this soon after Home
#: Assistant answers (the first cycle runs once it has started).
DAMAGED_STOP_BOUND_S = 30.0
STORE_DAMAGED_ISSUE = "store_damaged"
#: What the integration's read-back logs (once per change) about a battery.
READBACK_NOTICES = ("reports a state it was not told", "runs although told to stop")
NOT_DELIVERING = "does not deliver what it is told"
#: --esphome --faults: writes reach the battery this late (with 8 s the strategy's 6.5 s loop
#: swings the grid by +-1.2 kW after a load drop and does not settle within 75 s).
LATE_WRITE_S = 3.0
ESPHOME_ENTITIES = 13  # the entities of one emulated board (esphome_board.ENTITIES)
#: --modes: the hub's phase limits for the grid modes (options): a 10 A fuse carries
#: 10 A x 230 V x 0.9 = 2070 W per phase (PhaseLimits.from_fuse), the feed-in limit 800 W.
MODES_FUSE_A = 10.0
MODES_FUSE_W = MODES_FUSE_A * 230.0 * 0.9
MODES_FEED_IN_W = 800.0
#: --modes: a phase may read this far past its limit (the meter's rounding, nothing more).
LIMIT_TOLERANCE_W = 25.0
#: --modes: the fleet may miss the requested power by this much (W) once settled.
FLEET_TOLERANCE_W = 60.0
#: --modes: the hold's duration; it must return to zero by itself after it.
HOLD_DURATION_S = 90.0
#: What the integration answers to a power out of range (strings.json, exceptions).
#: (Home Assistant drops the final full stop of a translated message.)
POWER_OUT_OF_RANGE = "The power must be between 0 and 20000 W"
#: A board gone offline is noticed within this: its entities unavailable (ESPHome, the
#: simulator), or through Modbus its register reads (12 s each) or a write (10 s deadline;
#: one at the latest at the next 30 s keep-alive) time out.
NOTICE_OFFLINE_S = 60.0
OFFLINE_REASONS = ("readings_unavailable", "not_responding")
#: A hung board's battery is out on its frozen readings within ESPHome's limit (60 s) from the
#: first change it is told after the hang (the step load going) and a cycle or two: well
#: before the 126 s after which Home Assistant marks the board unavailable.
FROZEN_BOUND_S = 90.0
FROZEN_NOTICE = "none of its sensors has reported"
#: A hung board's battery is out as one of these (whichever check notices first).
HUNG_REASONS = ("readings_frozen", "not_responding")


class E2EError(AssertionError):
    """A check of the end-to-end test failed."""


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _free_ports(count: int) -> tuple[int, ...]:
    """count consecutive free loopback ports (the simulator's servers take base + i)."""
    for _ in range(50):
        base = _free_port()
        if base + count > 65535:
            continue
        try:
            for offset in range(count):
                with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
                    sock.bind(("127.0.0.1", base + offset))
        except OSError:
            continue
        return tuple(range(base, base + count))
    raise E2EError(f"no {count} consecutive free ports")


def _log(message: str) -> None:
    print(f"[e2e {time.strftime('%H:%M:%S')}] {message}", flush=True)


def wait_for(what: str, check: Callable[[], bool], timeout: float, interval: float = 0.5) -> float:
    """Wait until check() is true; return the seconds it took."""
    start = time.monotonic()
    while time.monotonic() - start < timeout:
        if check():
            return time.monotonic() - start
        time.sleep(interval)
    raise E2EError(f"timed out after {timeout:.0f} s waiting for {what}")


class Run:
    """One end-to-end run against one Home Assistant process."""

    def __init__(
        self,
        config: Path,
        port: int,
        proc: subprocess.Popen[bytes],
        *,
        long: bool,
        browser: bool = False,
        faults: bool = False,
        modes: bool = False,
        current: bool = False,
        api: str = "entities",
        api_ports: tuple[int, ...] = (),
    ) -> None:
        """Keep the process and a client for it."""
        self.config = config
        self.long = long
        self.browser = browser
        self.faults = faults
        self.modes = modes
        self.current = current
        #: How Home Assistant reaches the boards: the simulator's entities, esphome or modbus.
        self.api = api
        self.api_ports = api_ports
        #: The integration whose entities are the boards'.
        self.board_domain = {"entities": "marstek_sim", "esphome": "esphome"}.get(api, "modbus")
        self.proc = proc
        self.client = HAClient(f"http://127.0.0.1:{port}")
        self.entities: dict[str, str] = {}

    def grid_error(self) -> float:
        """Grid power minus the target (W)."""
        grid = self.client.value("sensor.p1_meter_power")
        return grid - self.target()

    def target(self) -> float:
        """The grid target (W) of the strategy."""
        return self.client.value(self.entities["grid_target"])

    def converge(self, what: str) -> tuple[float, float]:
        """Wait until the grid stays within the tolerance for HOLD_S; return (seconds, residual)."""
        start = time.monotonic()
        inside_since: float | None = None
        window: list[float] = []
        while time.monotonic() - start < CONVERGE_TIMEOUT_S:
            error = self.grid_error()
            now = time.monotonic()
            if abs(error) <= TOLERANCE_W:
                if inside_since is None:
                    inside_since, window = now, []
                window.append(error)
                if now - inside_since >= HOLD_S:
                    return inside_since - start, statistics.fmean(window)
            else:
                inside_since = None
            time.sleep(0.5)
        raise E2EError(
            f"{what}: grid not within {TOLERANCE_W:.0f} W of the target for {HOLD_S:.0f} s "
            f"after {CONVERGE_TIMEOUT_S:.0f} s (last error {self.grid_error():.0f} W; "
            f"setpoints {self.setpoints()})"
        )

    def setpoints(self) -> dict[str, float]:
        """The setpoint power sensors (W)."""
        return {
            entity_id: float(self.client.state(entity_id)["state"])
            for entity_id in self.entities["setpoints"].split(",")
        }

    def find_entities(self) -> None:
        """Find the integration's entities by their (translated, English) names."""
        ids = self.client.integration_entities("marstek_strategy")

        def one(domain: str, suffix: str) -> str:
            found = [i for i in ids if i.startswith(f"{domain}.") and i.endswith(suffix)]
            if len(found) != 1:
                raise E2EError(f"expected one {domain}.*{suffix}, found {found} in {ids}")
            return found[0]

        self.entities["switch"] = one("switch", "")
        self.entities["grid_target"] = one("number", "_grid_target")
        self.entities["status"] = one("sensor", "_status")
        setpoints = [i for i in ids if i.startswith("sensor.") and i.endswith("_setpoint_power")]
        if len(setpoints) != len(BATTERY_PHASES):
            raise E2EError(f"expected 3 setpoint power sensors, found {setpoints}")
        self.entities["setpoints"] = ",".join(sorted(setpoints))

    def switch_off_and_check(self, *, quiet: bool = True) -> None:
        """Switch the strategy off; every battery must reach stop and 0 W, then no writes."""
        client = self.client
        wait_for(
            "the strategy switch to be available",
            lambda: client.state(self.entities["switch"])["state"] in ("on", "off"),
            timeout=30,
        )
        client.call("switch", "turn_off", entity_id=self.entities["switch"])
        if client.state(self.entities["switch"])["state"] != "off":
            raise E2EError(
                f"the strategy switch is not off: {client.state(self.entities['switch'])}"
            )
        # The batteries themselves first: a mode select can still show the stop it had before
        # the strategy's first write was published.
        wait_for(
            "every simulated battery at stop",
            lambda: all(
                b["effective_mode"] == "stop"
                for b in client.call_response("marstek_sim", "get_writes", last=0).values()
            ),
            timeout=20,
        )
        modes = self.sim_entities("select", "forcible_charge_discharge")
        powers = self.sim_entities("sensor", "ac_power")
        wait_for(
            "every battery at stop",
            lambda: all(client.state(m)["state"] == "stop" for m in modes),
            timeout=20,
        )
        wait_for(
            "every battery's AC power at 0 W",
            lambda: all(abs(client.value(p)) < 1 for p in powers),
            timeout=30,
        )
        boards = client.call_response("marstek_sim", "get_writes", last=0)
        if any(b["effective_mode"] != "stop" for b in boards.values()):
            raise E2EError(f"a simulated battery still acts on a setpoint: {boards}")
        # The sensors report on their own cadence: wait for the physics itself too.
        wait_for(
            "every simulated battery's power at 0 W",
            lambda: all(
                abs(b["ac_power"]) < 1
                for b in client.call_response("marstek_sim", "get_writes", last=0).values()
            ),
            timeout=15,
        )
        if not quiet:
            _log("strategy off: every battery at stop and 0 W")
            return
        counts = {phase: b["count"] for phase, b in boards.items()}
        time.sleep(QUIET_S)
        later = {
            p: b["count"] for p, b in client.call_response("marstek_sim", "get_writes").items()
        }
        if later != counts:
            raise E2EError(f"writes after the strategy was switched off: {counts} -> {later}")
        _log(f"strategy off: every battery at stop and 0 W, no writes for {QUIET_S:.0f} s")

    def check_discovery(self, entry_id: str) -> None:
        """Every battery matched all ten LilyGo roles on its own board (read from diagnostics)."""
        count = MODBUS_ROLE_COUNT if self.api == "modbus" else ROLE_COUNT
        diagnostics = self.client.get(f"/api/diagnostics/config_entry/{entry_id}")
        subentries = diagnostics["data"]["entry"]["subentries"]
        for subentry in subentries:
            data = subentry["data"]
            roles = {k: v for k, v in data.items() if k.endswith("_entity")}
            board = self.board_prefix(data["phase"])
            wrong = {k: v for k, v in roles.items() if board not in v}
            if len(roles) != count or wrong:
                raise E2EError(f"{subentry['title']}: matched {roles}; wrong board: {wrong}")
        _log(f"discovery: every battery matched {count} roles on its own board")

    def board_prefix(self, phase: str) -> str:
        """The start of a board's entity ids after the domain (lilygo_l1_, or marstek_m1_)."""
        if self.api == "modbus":
            return f"marstek_m{BATTERY_PHASES.index(phase.lower()) + 1}_"
        return f"lilygo_{phase.lower()}_"

    def sim_entities(self, domain: str, suffix: str) -> list[str]:
        """One board entity per phase (naming variants: with or without marstek_)."""
        if "sim" not in self.entities:
            if self.api == "modbus":  # entities without a device: the package's names
                ids = [s["entity_id"] for s in self.client.states()]
                ids = [i for i in ids if i.split(".", 1)[1].startswith("marstek_m")]
            else:
                ids = self.client.integration_entities(self.board_domain)
            self.entities["sim"] = ",".join(ids)
        ids = self.entities["sim"].split(",")
        found = []
        for phase in BATTERY_PHASES:
            prefix = f"{domain}.{self.board_prefix(phase)}"
            match = [i for i in ids if i.startswith(prefix) and i.endswith(f"_{suffix}")]
            if len(match) != 1:
                raise E2EError(f"expected one {prefix}*_{suffix}: {match}")
            found.append(match[0])
        return found

    def running(self) -> list[str]:
        """The phases whose simulated battery acts on a charge or discharge setpoint."""
        boards = self.client.call_response("marstek_sim", "get_writes", last=0)
        return [phase for phase, b in boards.items() if b["effective_mode"] != "stop"]

    def meter_fail_safe(
        self, what: str, *, available: bool, reporting: bool, timeout: float
    ) -> None:
        """Break the meter: every battery must stop; repair it: the strategy must resume."""
        client = self.client
        if not self.running():
            raise E2EError("no battery running before the meter test")
        client.call(
            "marstek_sim", "set_available", target="meter", available=available, reporting=reporting
        )
        took = wait_for(
            f"every battery to stop on a {what} meter", lambda: not self.running(), timeout=timeout
        )
        status = client.state(self.entities["status"])["state"]
        if status != "fail_safe":
            raise E2EError(f"hub status {status!r} with a {what} meter, expected 'fail_safe'")
        _log(f"{what} meter: every battery stopped after {took:.1f} s, status {status}")
        client.call("marstek_sim", "set_available", target="meter", available=True)
        back = wait_for("the strategy to resume", self.running, timeout=30)
        seconds, residual = self.converge(f"after the {what} meter came back")
        _log(
            f"meter back: running again after {back:.1f} s, grid within "
            f"{TOLERANCE_W:.0f} W {seconds:.1f} s later ({residual:+.0f} W)"
        )

    def battery_unavailable(self) -> None:
        """A board that goes offline keeps its last setpoint; the others must carry on.

        The grid is judged once the integration has noticed (the battery's reason
        readings_unavailable, or not_responding when its writes time out, as through a dead
        Modbus gateway whose entities keep their last state): before that it may pass on
        the old setpoints alone.
        """
        client = self.client
        phase = self.running()[0]
        reason = self.reason_sensor(phase)
        client.call("marstek_sim", "set_available", target=phase, available=False)
        client.call("marstek_sim", "set_house", load_l2=1450.0)  # +1000 W on L2
        noticed = wait_for(
            f"the integration to notice {phase} offline",
            lambda: client.state(reason)["state"] in OFFLINE_REASONS,
            timeout=NOTICE_OFFLINE_S,
        )
        seconds, residual = self.converge(f"with {phase} offline")
        running = self.board(phase)["effective_mode"]
        _log(
            f"{phase} offline and +1000 W on L2: noticed after {noticed:.1f} s (reason "
            f"{client.state(reason)['state']}, the battery itself: {running}); grid within "
            f"{TOLERANCE_W:.0f} W {seconds:.1f} s later ({residual:+.0f} W); setpoints "
            f"{self.setpoints()}"
        )
        client.call("marstek_sim", "set_available", target=phase, available=True)
        client.call("marstek_sim", "set_house", load_l2=BASE_LOAD["load_l2"])
        seconds, residual = self.converge(f"with {phase} back")
        _log(f"{phase} back, L2 load off: grid within {TOLERANCE_W:.0f} W {seconds:.1f} s later")

    def reason_sensor(self, phase: str) -> str:
        """The reason sensor of the battery on a phase (L1: the first board's)."""
        board = self.board_prefix(phase)
        ids = self.client.integration_entities("marstek_strategy")
        found = [i for i in ids if i.startswith(f"sensor.{board}") and i.endswith("_reason")]
        if len(found) != 1:
            raise E2EError(f"expected one reason sensor of {board}: {found}")
        return found[0]

    def hold_past_rs485_timeout(self) -> None:
        """Hold past the boards' RS485 timeout: the running boards must keep control, and
        every board must answer when the strategy needs it afterwards (an idle board may
        drop to standby, as the firmware does, and must then be enabled again)."""
        client = self.client
        rs485 = dict(
            zip(BATTERY_PHASES, self.sim_entities("select", "rs485_control_mode"), strict=True)
        )
        hold = KEEPALIVE_TIMEOUT_S + 15.0
        _log(f"holding {hold:.0f} s, past the boards' {KEEPALIVE_TIMEOUT_S:.0f} s RS485 timeout")
        end = time.monotonic() + hold
        worst = 0.0
        running = [rs485[phase.lower()] for phase in self.running()]
        if not running:
            raise E2EError("no battery running while the strategy holds the grid")
        while time.monotonic() < end:
            states = {entity: client.state(entity)["state"] for entity in running}
            if "disable" in states.values():
                raise E2EError(f"a running board lost RS485 control (no keep-alive): {states}")
            worst = max(worst, abs(self.grid_error()))
            time.sleep(1.0)
        if worst > TOLERANCE_W:
            raise E2EError(f"grid left the {TOLERANCE_W:.0f} W band while holding: {worst:.0f} W")
        _log(f"RS485 control kept on {len(running)} running boards; grid within {worst:.0f} W")
        # Now every battery is needed: 8 kW of load, more than two can give.
        client.call("marstek_sim", "set_house", load_l1=3000.0, load_l2=2500.0, load_l3=2500.0)
        took = wait_for(
            "all three batteries to discharge after the hold",
            lambda: len(self.running()) == len(BATTERY_PHASES),
            timeout=45,
        )
        _log(f"8 kW load: all three batteries discharge {took:.1f} s later")
        client.call("marstek_sim", "set_house", **{**BASE_LOAD, **STEP_LOAD})
        self.converge("after the 8 kW load")

    def log_count(self, text: str) -> int:
        """How often the integration logged text so far."""
        log = self.config / "home-assistant.log"
        return log.read_text(errors="replace").count(text) if log.exists() else 0

    def said(self, phase: str, notices: tuple[str, ...]) -> int:
        """How many of the integration's log lines about one battery hold one of notices."""
        log = self.config / "home-assistant.log"
        if not log.exists():
            return 0
        name = f"Battery LilyGo {phase} "
        return sum(
            1
            for line in log.read_text(errors="replace").splitlines()
            if name in line and any(notice in line for notice in notices)
        )

    def board(self, phase: str) -> dict[str, Any]:
        """One simulated board: its last writes, what its polls published, what it does."""
        boards: dict[str, dict[str, Any]] = self.client.call_response(
            "marstek_sim", "get_writes", last=200
        )
        return boards[phase]

    def board_faults(self) -> None:
        """--faults: a self-started battery, a board reboot, a board that ignores writes."""
        client = self.client
        client.call("marstek_sim", "set_house", **BASE_LOAD)
        self.converge("before the board faults")
        self.self_start()
        # 2. A running board reboots: RS485 reads unknown, stop, 0 W; enable is written again.
        client.call("marstek_sim", "set_house", **{**BASE_LOAD, **STEP_LOAD})
        self.converge("before the reboot")
        phase = self.running()[0]
        selects = self.sim_entities("select", "rs485_control_mode")
        rs485 = dict(zip(("L1", "L2", "L3"), selects, strict=True))[phase]
        before = self.said(phase, READBACK_NOTICES)
        client.call("marstek_sim", "fault", battery=phase, fault="reboot")
        # Through ESPHome or Modbus the rebooting board is unavailable first, then unknown.
        wait_for(
            "RS485 unknown (or unavailable) after the reboot",
            lambda: client.state(rs485)["state"] in ("unknown", "unavailable"),
            15,
        )
        took = wait_for(
            "RS485 enabled again after the reboot",
            lambda: client.state(rs485)["state"] == "enable",
            timeout=REBOOT_BOUND_S,
        )
        seconds, residual = self.converge(f"after {phase} rebooted")
        said = self.said(phase, READBACK_NOTICES) - before
        if said > 1:
            raise E2EError(f"the reboot of {phase} was logged {said} times, expected once")
        _log(
            f"{phase} rebooted: RS485 enabled again {took:.1f} s later (bound "
            f"{REBOOT_BOUND_S:.0f} s), said {said} time(s); grid within {TOLERANCE_W:.0f} W "
            f"{seconds:.1f} s after that ({residual:+.0f} W)"
        )
        # 3. A running board ignores writes while the load drops: said once, then recovered.
        phase = self.running()[0]
        notices = (*READBACK_NOTICES, NOT_DELIVERING)
        before = {notice: self.said(phase, (notice,)) for notice in notices}
        client.call("marstek_sim", "fault", battery=phase, fault="ignore_writes")
        client.call("marstek_sim", "set_house", **BASE_LOAD)
        took = wait_for(
            f"{phase} ignoring writes noticed",
            lambda: self.said(phase, notices) > sum(before.values()),
            timeout=90,
        )
        time.sleep(2 * CYCLE_S)  # a notice said again would show by now
        said = {n: self.said(phase, (n,)) - count for n, count in before.items()}
        client.call("marstek_sim", "fault", battery=phase, fault="accept_writes")
        # It reports what it was not told and may deliver what it was not told: each said
        # once at most (the read-back's window may see both in the same cycle).
        if max(said.values()) > 1:
            raise E2EError(f"{phase} ignoring writes was logged more than once: {said}")
        seconds, residual = self.converge(f"after {phase} answers again")
        _log(
            f"{phase} ignored writes: said {sum(said.values())} time(s), each once "
            f"({', '.join(n for n, c in said.items() if c)}), {took:.1f} s later; answering "
            f"again, grid within {TOLERANCE_W:.0f} W {seconds:.1f} s later ({residual:+.0f} W)"
        )

    def _entry(self) -> dict[str, Any]:
        entry: dict[str, Any] = self.client.get(
            "/api/config/config_entries/entry?domain=marstek_strategy"
        )[0]
        return entry

    def removed_while_offline_then_renamed(self) -> None:
        """--faults: a running battery removed while its board is offline, then its entities
        renamed: its stop is owed, follows the rename, and is made (once) when the board is
        back. Issue 18.3: it went to the old entity ids for ever."""
        client = self.client
        client.call("marstek_sim", "set_house", **{**BASE_LOAD, **STEP_LOAD})
        self.converge("before removing a battery")
        phase = max(self.running(), key=lambda p: abs(self.board(p)["effective_power"]))
        entry = self._entry()
        subentry = next(
            s for s in client.subentries(entry["entry_id"]) if s["title"].endswith(f" {phase}")
        )
        client.call("marstek_sim", "set_available", target=phase, available=False)
        time.sleep(CYCLE_S)
        answer = client.websocket(
            {
                "type": "config_entries/subentries/delete",
                "entry_id": entry["entry_id"],
                "subentry_id": subentry["subentry_id"],
            }
        )
        if not answer.get("success"):
            raise E2EError(f"removing {subentry['title']} failed: {answer}")
        wait_for(
            "the hub loaded again with two batteries",
            lambda: (e := self._entry())["state"] == "loaded" and e["num_subentries"] == 2,
            timeout=30,
        )
        time.sleep(CYCLE_S)
        if phase not in self.running():
            raise E2EError(f"{phase} stopped while its board was offline (the sim must not)")
        # Rename every entity of its board (lilygo_l1_x -> lilygo_l1_moved_x).
        prefix = self.board_prefix(phase)
        board_entities = [
            e
            for e in client.integration_entities(self.board_domain)
            if e.split(".", 1)[1].startswith(prefix)
        ]
        for entity_id in board_entities:
            domain, name = entity_id.split(".", 1)
            new_id = f"{domain}.{prefix}moved_{name.removeprefix(prefix)}"
            answer = client.websocket(
                {
                    "type": "config/entity_registry/update",
                    "entity_id": entity_id,
                    "new_entity_id": new_id,
                }
            )
            if not answer.get("success"):
                raise E2EError(f"renaming {entity_id} failed: {answer}")
        self.entities.pop("sim", None)  # the board's entity ids changed
        time.sleep(2.0)  # the renames reload the hub (the stop now goes to the new ids)
        wait_for(
            "the hub loaded again after the renames",
            lambda: self._entry()["state"] == "loaded",
            timeout=30,
        )
        count = self.board(phase)["count"]
        client.call("marstek_sim", "set_available", target=phase, available=True)
        took = wait_for(
            f"the removed {phase} stopped once its board is back",
            lambda: self.board(phase)["effective_mode"] == "stop",
            timeout=REMOVED_STOP_BOUND_S,
        )
        # Made once: nothing more is written to the removed battery, and nothing is owed.
        time.sleep(3 * CYCLE_S)
        board = self.board(phase)
        writes = board["count"] - count
        # The stop is mode, charge and discharge power (4 writes with RS485); written again
        # every cycle it would be 12 and more by now.
        if writes > 6 or board["effective_mode"] != "stop":
            raise E2EError(f"the removed {phase} got {writes} writes: {board['last'][-writes:]}")
        stored = self.config / ".storage" / f"marstek_strategy.{entry['entry_id']}"
        pending = json.loads(stored.read_text())["data"].get("pending") if stored.exists() else []
        if pending:
            raise E2EError(f"a stop is still owed after it was made: {pending}")
        setpoints = [
            i
            for i in client.integration_entities("marstek_strategy")
            if i.startswith("sensor.") and i.endswith("_setpoint_power")
        ]
        self.entities["setpoints"] = ",".join(sorted(setpoints))
        self.converge(f"with {phase} removed")
        _log(
            f"{phase} removed while offline, its entities renamed: stopped {took:.1f} s after "
            f"its board was back (bound {REMOVED_STOP_BOUND_S:.0f} s) with "
            f"{writes} writes to the new ids; nothing owed after"
        )

    def self_start(self) -> None:
        """The Marstek app starts a stopped battery: back under the strategy, said once.

        The app's start shows at the board's next poll. It is made just after a keep-alive
        stopped that battery again, so that the read-back, not the next keep-alive, must catch
        it: the battery must be stopped (or driven by the strategy) again within
        SELF_START_BOUND_S, less than a keep-alive period, and the log must say it once. (Made
        just before a keep-alive instead, the keep-alive's stop overwrites the start before
        any poll shows it: stopped, nothing to say; the outcome is judged the same way.)
        """
        client = self.client
        stopped = [phase for phase in BOARD_PHASES if phase not in self.running()]
        if not stopped:
            raise E2EError("no stopped battery for the self-start fault")
        phase = stopped[-1]

        def stops() -> list[float]:
            return [
                w["time"]
                for w in self.board(phase)["last"]
                if w["register"] == "forcible_mode" and w["value"] == "stop"
            ]

        known = max(stops(), default=-1.0)
        wait_for(
            f"a keep-alive to stop {phase} again",
            lambda: max(stops(), default=-1.0) > known,
            timeout=KEEPALIVE_S + 2 * CYCLE_S,
        )
        before = self.said(phase, READBACK_NOTICES)
        client.call("marstek_sim", "fault", battery=phase, fault="app_start", power=800)
        started = self.board(phase)["app_started"]

        def ours() -> list[dict[str, Any]]:
            """Our writes of the mode since the start (stop, or the strategy's own)."""
            board = self.board(phase)
            since = board["count"] - board["app_started_writes"]  # same tick: count, not time
            later = board["last"][len(board["last"]) - since :] if since > 0 else []
            return [w for w in later if w["register"] == "forcible_mode"]

        wait_for(
            f"{phase} stopped or driven by the strategy again after the app started it",
            lambda: bool(ours()),
            timeout=SELF_START_BOUND_S,
        )
        seconds, residual = self.converge(f"after {phase} started by itself")
        board = self.board(phase)
        shown = [
            p
            for p in board["published"]
            if p["time"] >= started
            and (p["register"], p["value"]) == ("forcible_mode", "discharge")
        ]
        first = ours()[0]
        took = first["time"] - started  # simulated seconds (1 s resolution)
        said = self.said(phase, READBACK_NOTICES) - before
        if said != (1 if shown else 0):
            raise E2EError(
                f"{phase} started by the app, shown {len(shown)} time(s), was logged {said} "
                f"times (expected {1 if shown else 0}); writes since: {ours()}"
            )
        _log(
            f"{phase} started by the app: {first['value']} written {took:.1f} s later (bound "
            f"{SELF_START_BOUND_S:.0f} s), "
            + (
                f"after a poll showed it {shown[0]['time'] - started:.1f} s after the start; "
                "said once"
                if shown
                else "before any poll showed it; nothing to say"
            )
            + f"; grid within {TOLERANCE_W:.0f} W {seconds:.1f} s after that ({residual:+.0f} W)"
        )
        if self.api != "entities":
            self.protocol_faults()

    def protocol_faults(self) -> None:
        """--faults through a real client: a dropped connection, late writes, a hung board."""
        client = self.client
        # 4. The TCP connection of a running board drops; the client reconnects by itself.
        client.call("marstek_sim", "set_house", **{**BASE_LOAD, **STEP_LOAD})
        self.converge("before the dropped connection")
        phase = self.running()[0]
        modes = dict(
            zip(
                ("L1", "L2", "L3"),
                self.sim_entities("select", "forcible_charge_discharge"),
                strict=True,
            )
        )
        client.call("marstek_sim", "fault", battery=phase, fault="drop_connection")
        gone = wait_for(
            f"{phase} unavailable after the dropped connection",
            lambda: client.state(modes[phase])["state"] == "unavailable",
            timeout=10,
            interval=0.2,
        )
        back = wait_for(
            f"{phase} available again",
            lambda: client.state(modes[phase])["state"] != "unavailable",
            timeout=60,
            interval=0.2,
        )
        seconds, residual = self.converge(f"after {phase}'s connection dropped")
        _log(
            f"{phase} connection dropped: unavailable after {gone:.1f} s, back {back:.1f} s "
            f"later; grid within {TOLERANCE_W:.0f} W {seconds:.1f} s after ({residual:+.0f} W)"
        )
        # 5. Writes act LATE_WRITE_S late (a busy RS485 bus): a load drop must still settle.
        running = self.running()
        for p in running:
            client.call("marstek_sim", "fault", battery=p, fault="late_writes", delay=LATE_WRITE_S)
        client.call("marstek_sim", "set_house", **BASE_LOAD)
        seconds, residual = self.converge(f"with writes {LATE_WRITE_S:.0f} s late")
        for p in running:
            client.call("marstek_sim", "fault", battery=p, fault="accept_writes")
        _log(
            f"writes {LATE_WRITE_S:.0f} s late on {','.join(running)}: grid within "
            f"{TOLERANCE_W:.0f} W {seconds:.1f} s after the load drop ({residual:+.0f} W)"
        )
        # 6. A running board hangs with its connection open: only the client's keep-alive
        # notices. The battery keeps its setpoint meanwhile; then it answers again.
        client.call("marstek_sim", "set_house", **{**BASE_LOAD, **STEP_LOAD})
        self.converge("before the hung board")
        phase = self.running()[0]
        name = f"LilyGo {phase}"
        said = self.log_count(name)
        frozen_said = self.log_count(FROZEN_NOTICE)
        if frozen_said:  # a healthy board's readings move: never taken out as frozen
            raise E2EError(f"a healthy battery was taken out as frozen ({frozen_said} times)")
        client.call("marstek_sim", "fault", battery=phase, fault="silent")
        # A change of its command is judged within ESPHome's limit (core/frozen.py; a steady
        # setpoint only after 15 min): the step load goes, so it is told a lower power (a
        # rise could find it pinned at its maximum, the others taking the rest).
        house = {**BASE_LOAD, **STEP_LOAD}
        client.call("marstek_sim", "set_house", **BASE_LOAD)
        reason = self.reason_sensor(phase)
        # The integration takes it out on its frozen readings (core/frozen.py) before Home
        # Assistant marks it unavailable: within ESPHome's limit plus a cycle and a report.
        # Whichever notices first: its frozen readings, or the read-back (its state does
        # not follow the writes that the hung board never applies).
        frozen_at = wait_for(
            f"{phase} taken out on its frozen readings while it hangs",
            lambda: client.state(reason)["state"] in HUNG_REASONS,
            timeout=FROZEN_BOUND_S,
            interval=0.5,
        )
        out_as = client.state(reason)["state"]
        if client.state(modes[phase])["state"] == "unavailable":
            raise E2EError(f"{phase} was unavailable before it was taken out as frozen")
        froze = self.log_count(FROZEN_NOTICE) - frozen_said
        if froze > 1:
            raise E2EError(f"{phase}'s frozen readings were logged {froze} times (expected 1)")
        took = frozen_at + wait_for(
            f"{phase} unavailable while it hangs",
            lambda: client.state(modes[phase])["state"] == "unavailable",
            timeout=150,
            interval=1.0,
        )
        _log(
            f"{phase} hangs: taken out as {out_as} after {frozen_at:.0f} s (bound "
            f"{FROZEN_BOUND_S:.0f} s, said once); Home Assistant marks it unavailable after "
            f"{took:.0f} s; {self.log_count(name) - said} log lines about it"
        )
        client.call("marstek_sim", "fault", battery=phase, fault="answer")
        client.call("marstek_sim", "set_house", **house)
        back = wait_for(
            f"{phase} available after it answers again",
            lambda: client.state(modes[phase])["state"] != "unavailable",
            timeout=90,
        )
        seconds, residual = self.converge(f"after {phase} answers again")
        _log(
            f"{phase} answers again: available {back:.1f} s later, grid within "
            f"{TOLERANCE_W:.0f} W {seconds:.1f} s after ({residual:+.0f} W)"
        )

    # ------------------------------------------------------------------ --modes
    def fleet(self) -> dict[str, dict[str, Any]]:
        """The simulated batteries: what each acts on and its AC power (+ discharging)."""
        boards: dict[str, dict[str, Any]] = self.client.call_response(
            "marstek_sim", "get_writes", last=0
        )
        return boards

    def phases(self) -> list[float]:
        """The meter's phases (W, + import)."""
        return [self.client.value(sensor) for sensor in PHASE_SENSORS]

    def set_grid_mode(self, **data: Any) -> dict[str, Any]:
        """Call marstek_strategy.set_grid_mode with return_response; return the response."""
        response: dict[str, Any] = self.client.call_response(
            "marstek_strategy", "set_grid_mode", **data
        )
        if response.get("mode") != data["mode"]:
            raise E2EError(f"set_grid_mode {data}: the response is {response}")
        return response

    def watch(
        self,
        what: str,
        done: Callable[[float, list[float], float], bool],
        *,
        lowest_w: float = -math.inf,
        highest_w: float = math.inf,
        never: tuple[str, Callable[[], bool]] | None = None,
        timeout: float = CONVERGE_TIMEOUT_S,
    ) -> tuple[float, float, float]:
        """Poll the meter and the batteries until done(grid, phases, fleet) holds for HOLD_S.

        Every phase of every sample on the way must lie within lowest_w..highest_w (the
        feed-in limit and the fuse, with LIMIT_TOLERANCE_W): a limit is never passed, not
        even while the fleet moves; never (a name and a check) must not happen either.
        Return (seconds, mean grid, mean fleet AC power).
        """
        start = time.monotonic()
        since: float | None = None
        window: list[tuple[float, float]] = []
        grid = fleet = math.nan
        while time.monotonic() - start < timeout:
            phases = self.phases()
            grid = sum(phases)
            fleet = sum(board["ac_power"] for board in self.fleet().values())
            if min(phases) < lowest_w - LIMIT_TOLERANCE_W:
                raise E2EError(
                    f"{what}: a phase exports past the limit {-lowest_w:.0f} W: {phases}"
                )
            if max(phases) > highest_w + LIMIT_TOLERANCE_W:
                raise E2EError(
                    f"{what}: a phase imports above the fuse {highest_w:.0f} W: {phases}"
                )
            if never is not None and never[1]():
                raise E2EError(f"{what}: {never[0]}: {self.fleet()}")
            now = time.monotonic()
            if done(grid, phases, fleet):
                if since is None:
                    since, window = now, []
                window.append((grid, fleet))
                if now - since >= HOLD_S:
                    return (
                        since - start,
                        statistics.fmean(g for g, _ in window),
                        statistics.fmean(f for _, f in window),
                    )
            else:
                since = None
            time.sleep(0.5)
        raise E2EError(
            f"{what}: not reached within {timeout:.0f} s (grid {grid:.0f} W, fleet {fleet:.0f} W,"
            f" batteries {self.fleet()}, select {self.client.state(self.entities['grid_mode'])})"
        )

    def limited_by(self) -> str | None:
        """What the grid mode select says keeps the fleet from the mode's goal."""
        limit: str | None = self.client.state(self.entities["grid_mode"])["attributes"].get(
            "limited_by"
        )
        return limit

    def grid_modes(self, entry_id: str) -> None:
        """--modes: each grid mode through the service, judged by the batteries and the meter.

        The hub gets a 10 A fuse and an 800 W feed-in limit per phase (options) so that both
        bind: charge and discharge first at a power the phases allow (the fleet runs about
        it, the grid moves by about it), then above it (the phases stop at their limits and
        the select names the phase limit); hold soaks up export and never discharges, and
        ends by its duration back at zero; an invalid call gets the validation message.
        """
        client = self.client
        started = time.monotonic()
        ids = client.integration_entities("marstek_strategy")
        self.entities["grid_mode"] = next(i for i in ids if i.endswith("_grid_mode"))
        client.call("marstek_sim", "set_house", **BASE_LOAD, pv_l1=0, pv_l2=0, pv_l3=0)
        house = sum(BASE_LOAD.values())
        client.run_flow(
            "/api/config/config_entries/options/flow",
            {"handler": entry_id},
            {"main_fuse_a": MODES_FUSE_A, "phase_feed_in_limit_w": MODES_FEED_IN_W},
        )
        wait_for(
            "the hub entry to be loaded again after its phase limits",
            lambda: (
                client.get("/api/config/config_entries/entry?domain=marstek_strategy")[0]["state"]
                == "loaded"
            ),
            timeout=30,
        )
        wait_for("a battery running again", lambda: bool(self.running()), timeout=45)
        self.converge("zero, before the grid modes")
        limits = {"lowest_w": -MODES_FEED_IN_W, "highest_w": MODES_FUSE_W}
        _log(
            f"grid modes: {MODES_FUSE_A:.0f} A fuse ({MODES_FUSE_W:.0f} W a phase), "
            f"{MODES_FEED_IN_W:.0f} W feed-in limit; house {house:.0f} W"
        )

        def none_discharges() -> bool:
            return all(b["effective_mode"] != "discharge" for b in self.fleet().values())

        # Charge 3000 W: the fleet charges about that, the import rises by about that.
        response = self.set_grid_mode(mode="charge", power=3000, duration={"minutes": 10})
        if response["power"] != 3000 or not response["until"]:
            raise E2EError(f"charge: response {response}")
        seconds, grid, fleet = self.watch(
            "charge 3000 W",
            lambda g, _p, f: (
                abs(g - (house + 3000)) <= TOLERANCE_W and abs(f + 3000) <= FLEET_TOLERANCE_W
            ),
            **limits,
        )
        _log(
            f"charge 3000 W: the fleet charges {-fleet:.0f} W, grid {grid:.0f} W "
            f"(house {house:.0f} W + 3000) after {seconds:.1f} s; every phase under the fuse"
        )
        # Charge 6000 W: more than the fuse allows; every phase stays under it.
        self.set_grid_mode(mode="charge", power=6000, duration={"minutes": 10})
        seconds, grid, fleet = self.watch(
            "charge 6000 W under the fuse",
            lambda _g, phases, f: (
                -f > 3500
                and max(phases) > MODES_FUSE_W - 400
                and self.limited_by() == "phase_limit"
            ),
            **limits,
        )
        _log(
            f"charge 6000 W: held by the fuse at {-fleet:.0f} W, grid {grid:.0f} W, phases "
            f"{self.phases()} (fuse {MODES_FUSE_W:.0f} W) after {seconds:.1f} s; limited by "
            "phase_limit"
        )
        # Discharge 2000 W: the fleet delivers about that, the grid falls by about that.
        self.set_grid_mode(mode="discharge", power=2000, duration={"minutes": 10})
        seconds, grid, fleet = self.watch(
            "discharge 2000 W",
            lambda g, _p, f: (
                abs(g - (house - 2000)) <= TOLERANCE_W and abs(f - 2000) <= FLEET_TOLERANCE_W
            ),
            **limits,
        )
        _log(
            f"discharge 2000 W: the fleet delivers {fleet:.0f} W, grid {grid:.0f} W "
            f"(house {house:.0f} W - 2000) after {seconds:.1f} s; no phase past the feed-in limit"
        )
        # Discharge 5000 W: more than the feed-in limits allow; no phase exports past them.
        self.set_grid_mode(mode="discharge", power=5000, duration={"minutes": 10})
        seconds, grid, fleet = self.watch(
            "discharge 5000 W within the feed-in limit",
            lambda _g, phases, f: (
                f > 2800
                and min(phases) < -MODES_FEED_IN_W + 400
                and self.limited_by() == "phase_limit"
            ),
            **limits,
        )
        _log(
            f"discharge 5000 W: held by the feed-in limit at {fleet:.0f} W, grid {grid:.0f} W, "
            f"phases {self.phases()} after {seconds:.1f} s; limited by phase_limit"
        )
        # Hold, ending by its duration: the discharge stops (the house imports, nothing
        # discharges); then PV exports 1000 W and the fleet soaks it up, never discharging.
        called = time.monotonic()
        self.set_grid_mode(mode="hold", duration={"seconds": HOLD_DURATION_S})
        seconds, grid, fleet = self.watch(
            "hold with the house importing",
            lambda g, _p, f: abs(g - house) <= TOLERANCE_W and abs(f) < 1 and none_discharges(),
            **limits,
        )
        _log(
            f"hold: the discharge stops: the fleet at {fleet:.0f} W, grid {grid:.0f} W (the "
            f"house) after {seconds:.1f} s"
        )
        export = {"pv_l1": 1300.0, "pv_l2": 650.0, "pv_l3": 550.0}  # 1000 W, each phase < 800
        client.call("marstek_sim", "set_house", **export)
        seconds, grid, fleet = self.watch(
            "hold soaking up 1000 W of export",
            lambda g, _p, f: abs(g) <= TOLERANCE_W and f < -900,
            never=("a battery discharges in hold", lambda: not none_discharges()),
            **limits,
        )
        _log(
            f"hold: soaks up the export: the fleet charges {-fleet:.0f} W, grid {grid:.0f} W "
            f"after {seconds:.1f} s; no battery discharged"
        )
        client.call("marstek_sim", "set_house", pv_l1=0, pv_l2=0, pv_l3=0)
        if time.monotonic() - called >= HOLD_DURATION_S:
            raise E2EError(f"the hold checks took longer than its {HOLD_DURATION_S:.0f} s")

        def back_at_zero() -> bool:
            if client.state(self.entities["grid_mode"])["state"] == "zero":
                return True
            if not none_discharges():
                raise E2EError(f"a battery discharges in hold: {self.fleet()}")
            return False

        wait_for(
            "the hold to end by its duration, back at zero",
            back_at_zero,
            timeout=HOLD_DURATION_S + 2 * CYCLE_S,
        )
        ended = client.state(self.entities["grid_mode"])["attributes"].get("ended")
        after = time.monotonic() - called
        if ended != "time" or after < HOLD_DURATION_S - 1:
            raise E2EError(f"the hold ended after {after:.0f} s, ended {ended!r}")
        seconds, residual = self.converge("zero after the hold ended")  # the batteries again
        _log(
            f"hold ended by itself {after:.0f} s after the call (duration "
            f"{HOLD_DURATION_S:.0f} s, ended {ended!r}); zero again: grid within "
            f"{TOLERANCE_W:.0f} W of the target {seconds:.1f} s later ({residual:+.0f} W)"
        )
        self.invalid_grid_mode()
        _log(f"grid modes: {time.monotonic() - started:.0f} s")

    def invalid_grid_mode(self) -> None:
        """An invalid call: the validation message, and nothing changes.

        Home Assistant's REST API answers a ServiceValidationError with HTTP 400 and its
        message from 2026.x on; 2025.4's answers 500 (it catches only schema errors), so
        there the call goes through the websocket API, as the UI and automations call it.
        """
        client = self.client
        data = {"mode": "charge", "power": 50000, "duration": {"minutes": 10}}
        before = client.state(self.entities["grid_mode"])["state"]
        if self.current:
            try:
                client.post("/api/services/marstek_strategy/set_grid_mode?return_response", data)
            except HAError as err:
                answer = str(err)
            else:
                raise E2EError("a power of 50000 W was accepted")
            if " -> 400: " not in answer or POWER_OUT_OF_RANGE not in answer:
                raise E2EError(f"an invalid call: expected 400 and the message, got {answer}")
            _log(f"invalid call: HTTP 400, {answer.split(' -> ', 1)[1]}")
        result = client.websocket(
            {
                "type": "call_service",
                "domain": "marstek_strategy",
                "service": "set_grid_mode",
                "service_data": data,
                "return_response": True,
            }
        )
        error = result.get("error") or {}
        if result.get("success") or error.get("code") != "service_validation_error":
            raise E2EError(f"an invalid call over the websocket: {result}")
        if POWER_OUT_OF_RANGE not in error.get("message", ""):
            raise E2EError(f"an invalid call: not the validation message: {error}")
        _log(f"invalid call over the websocket: {error['code']}: {error['message']}")
        try:  # a mode the schema does not know: 400 on every version
            client.post("/api/services/marstek_strategy/set_grid_mode", {"mode": "boost"})
        except HAError as err:
            if " -> 400: " not in str(err):
                raise E2EError(f"an unknown mode: expected HTTP 400, got {err}") from err
        else:
            raise E2EError("an unknown mode was accepted")
        after = client.state(self.entities["grid_mode"])["state"]
        if after != before:
            raise E2EError(f"an invalid call changed the grid mode: {before} -> {after}")

    def add_esphome_boards(self) -> None:
        """Add the three emulated boards through the ESPHome flow (host and port), as a
        person does; wait until Home Assistant's esphome integration has their entities."""
        client = self.client
        start = time.monotonic()
        client.add_esphome_boards("127.0.0.1", list(self.api_ports))
        wait_for(
            "the ESPHome boards' entities",
            lambda: (
                len(client.integration_entities("esphome"))
                >= len(BATTERY_PHASES) * ESPHOME_ENTITIES
            ),
            timeout=60,
        )
        ids = sorted(client.integration_entities("esphome"))
        some = [i for i in ids if i.startswith(("select.lilygo_l1", "sensor.lilygo_l1"))]
        _log(
            f"ESPHome: {len(ids)} entities of 3 boards after {time.monotonic() - start:.1f} s, "
            f"e.g. {', '.join(some)}"
        )
        for entity_id in self.sim_entities("sensor", "ac_power") + self.sim_entities(
            "number", "forcible_charge_power"
        ):
            unit = client.state(entity_id)["attributes"].get("unit_of_measurement")
            if unit != "W":
                raise E2EError(f"{entity_id} has unit {unit!r} through ESPHome, expected 'W'")

    def check_modbus(self) -> None:
        """HA's modbus integration and the template package against the Modbus emulators:
        read, write, no device, availability when a server drops or a gateway times out,
        a reboot."""
        client = self.client
        soc = self.sim_entities("sensor", "battery_state_of_charge")
        ac = self.sim_entities("sensor", "ac_power")
        modes = self.sim_entities("select", "forcible_charge_discharge")
        rs485 = self.sim_entities("select", "rs485_control_mode")
        discharge = self.sim_entities("number", "forcible_discharge_power")

        def valued() -> bool:
            return all(
                client.state(e)["state"] not in ("unknown", "unavailable")
                for e in soc + ac + modes + rs485 + discharge
            )

        try:
            took = wait_for("every modbus entity to have a value", valued, timeout=15)
        except E2EError:
            # HA's modbus connects once at its start: a server that was not up then (the
            # simulator starts its servers after modbus set up) is never tried again until
            # modbus is reloaded, as after a power cut where HA boots before the gateway.
            _log("modbus: the servers were not up when HA's modbus started; reloading modbus")
            client.call("modbus", "reload")
            took = wait_for("every modbus entity to have a value", valued, timeout=60)
        _log(f"modbus: every battery's entities have values after {took:.1f} s")
        for entity_id in modes + discharge:
            device = str(client.template("{{ device_id('" + entity_id + "') }}")).strip()
            if device not in ("", "None"):
                raise E2EError(f"{entity_id} has a device ({device}); the package's have none")
        attributes = client.state(discharge[0])["attributes"]
        if (attributes.get("min"), attributes.get("max"), attributes.get("step")) != (0, 2500, 1):
            raise E2EError(f"{discharge[0]}: range {attributes}")
        units = {
            e: client.state(e)["attributes"].get("unit_of_measurement") for e in ac + discharge
        }
        if set(units.values()) != {"W"}:
            raise E2EError(f"units through modbus: {units}")
        # Write: enable RS485 control, 600 W, discharge; the battery acts, the meter sees it.
        m1 = 0
        phase_sensor = "sensor.p1_meter_power_phase_1"
        before = client.value(phase_sensor)
        start = time.monotonic()
        client.call("select", "select_option", entity_id=rs485[m1], option="enable")
        client.call("number", "set_value", entity_id=discharge[m1], value=600)
        client.call("select", "select_option", entity_id=modes[m1], option="discharge")
        shown = wait_for(
            "the mode select to show discharge",
            lambda: client.state(modes[m1])["state"] == "discharge",
            timeout=30,
        )
        delivered = wait_for(
            "the AC power sensor to show the discharge",
            lambda: client.value(ac[m1]) > 500,
            timeout=30,
        )
        after = client.value(phase_sensor)
        if before - after < 500:
            raise E2EError(f"the meter did not see the discharge: L1 {before} -> {after} W")
        _log(
            f"modbus write: select shows discharge {shown:.1f} s, AC power "
            f"{client.value(ac[m1]):.0f} W {delivered:.1f} s after the writes; "
            f"L1 {before:.0f} -> {after:.0f} W ({time.monotonic() - start:.1f} s)"
        )
        # A server that drops off (offline) and a gateway that times out: unavailable, back.
        for fault, undo, what in (
            (
                ("set_available", {"target": "L1", "available": False}),
                ("set_available", {"target": "L1", "available": True}),
                "server offline",
            ),
            (
                ("fault", {"battery": "L1", "fault": "silent"}),
                ("fault", {"battery": "L1", "fault": "answer"}),
                "gateway timeout",
            ),
        ):
            client.call("marstek_sim", fault[0], **fault[1])
            # Each unanswered read holds the hub for timeout x (1 + 3 retries) = 12 s, and
            # the hub reads one register at a time: the AC power (scanned every 5 s) goes
            # unavailable first; the control registers keep their last state meanwhile.
            gone = wait_for(
                f"{what}: the AC power unavailable",
                lambda: client.state(ac[m1])["state"] == "unavailable",
                timeout=60,
            )
            mode_then = client.state(modes[m1])["state"]
            client.call("marstek_sim", undo[0], **undo[1])
            back = wait_for(
                f"{what}: the modbus entities back",
                lambda: (
                    client.state(ac[m1])["state"] != "unavailable"
                    and client.state(modes[m1])["state"] != "unavailable"
                ),
                timeout=120,
            )
            _log(
                f"modbus {what}: AC power unavailable after {gone:.1f} s (the mode select "
                f"then: {mode_then!r}); back {back:.1f} s after the repair"
            )
        # A reboot: the battery stops; RS485 control reads as neither value (the raw register
        # sensor reads 0, the package's select unknown).
        client.call("marstek_sim", "fault", battery="L1", fault="reboot")
        raw = rs485[m1].replace("select.", "sensor.") + "_register"
        took = wait_for(
            "RS485 control neither value after the reboot",
            lambda: client.state(raw)["state"] == "0",
            timeout=60,
        )
        # Unknown, not unavailable: HA skips select_option on an unavailable entity.
        wait_for(
            f"{rs485[m1]} unknown after the reboot",
            lambda: client.state(rs485[m1])["state"] == "unknown",
            timeout=15,
        )
        wait_for("the AC power at 0 W after the reboot", lambda: abs(client.value(ac[m1])) < 1, 30)
        _log(
            f"modbus reboot: RS485 control reads 0 {took:.1f} s later (select "
            f"{client.state(rs485[m1])['state']}), the battery stopped"
        )
        client.call("select", "select_option", entity_id=rs485[m1], option="enable")
        wait_for(
            "RS485 control enabled again through the unknown select",
            lambda: client.state(rs485[m1])["state"] == "enable",
            timeout=30,
        )
        client.call("select", "select_option", entity_id=modes[m1], option="stop")
        client.call("select", "select_option", entity_id=rs485[m1], option="disable")

    def configure_modbus_batteries(self) -> None:
        """Set up the hub with the three Modbus batteries in its own flow, as a person does:
        the flow must offer the package's device-less entity groups (``marstek_mN_``) with
        their entities matched; each is put on its phase (M1 on L1, ...)."""
        client = self.client
        expected = {
            "soc_entity": ("sensor", "battery_state_of_charge"),
            "ac_power_entity": ("sensor", "ac_power"),
            "battery_power_entity": ("sensor", "battery_power"),
            "forcible_mode_entity": ("select", "forcible_charge_discharge"),
            "rs485_mode_entity": ("select", "rs485_control_mode"),
            "charge_power_entity": ("number", "forcible_charge_power"),
            "discharge_power_entity": ("number", "forcible_discharge_power"),
        }
        wanted = {
            role: self.sim_entities(domain, suffix) for role, (domain, suffix) in expected.items()
        }
        meter = {
            "grid_sensor": GRID_SENSOR,
            "phase_count": "3",
            **dict(
                zip(
                    ("phase_l1_sensor", "phase_l2_sensor", "phase_l3_sensor"),
                    PHASE_SENSORS,
                    strict=True,
                )
            ),
        }
        index = "/api/config/config_entries/flow"
        result = client.post(index, {"handler": "marstek_strategy"})
        groups: list[str] = []
        for _ in range(10):
            if result.get("type") != "form":
                break
            if result.get("errors"):
                raise E2EError(f"hub flow: form {result['step_id']} has errors: {result}")
            step = result["step_id"]
            fields = {f["name"]: f for f in result.get("data_schema", [])}
            if step == "batteries":
                options = fields["batteries"]["selector"]["select"]["options"]
                groups = [o["value"] for o in options]
                prefixes = [f"marstek_m{n}_" for n in range(1, 4)]
                if not all(any(g.endswith(p) for g in groups) for p in prefixes):
                    raise E2EError(f"hub flow: the Modbus groups are not offered: {options}")
                answer: dict[str, Any] = {"batteries": groups, "manual": 0}
                _log(f"hub flow offers the device-less groups: {', '.join(groups)}")
            elif step == "battery":
                number = int(result["description_placeholders"]["index"])
                suggested = {
                    name: (f.get("description") or {}).get("suggested_value")
                    for name, f in fields.items()
                }
                wrong = {
                    role: suggested.get(role)
                    for role, ids in wanted.items()
                    if suggested.get(role) != ids[number - 1]
                }
                if wrong:
                    raise E2EError(f"hub flow: battery {number} matched wrongly: {wrong}")
                answer = {k: v for k, v in suggested.items() if v is not None}
                answer["phase"] = BOARD_PHASES[number - 1]
            else:
                answer = {k: v for k, v in meter.items() if k in fields}
            result = client.post(f"{index}/{result['flow_id']}", answer)
        if result.get("type") != "create_entry":
            raise E2EError(f"hub flow did not create an entry: {result}")
        _log(f"hub flow: {result.get('description_placeholders', {}).get('batteries')}")

    def run(self) -> str:
        """Run the checks; return the summary line."""
        client = self.client
        up = client.wait_until_up(timeout=180, proc=self.proc)
        _log(f"Home Assistant answers after {up:.1f} s")
        client.onboard()
        if client.promote_http_config():
            _log("http: configuration confirmed (Home Assistant 2026.x runs it as a trial)")
        client.call("marstek_sim", "set_house", **BASE_LOAD, pv_l1=0, pv_l2=0, pv_l3=0)
        if self.browser:
            return self.run_browser()
        if self.api == "esphome":
            self.add_esphome_boards()
        if self.api == "modbus":
            self.check_modbus()
            self.configure_modbus_batteries()
        else:
            client.configure_strategy(board_domain=self.board_domain)
        entry = client.get("/api/config/config_entries/entry?domain=marstek_strategy")[0]
        # A new hub starts in dry run: turn it off, as the finish text asks, to let it drive.
        client.run_flow(
            "/api/config/config_entries/options/flow",
            {"handler": entry["entry_id"]},
            {"dry_run": False},
        )
        # New options reload the entry: wait for the reloaded one (a service call made while
        # its entities are being replaced finds no entity and does nothing).
        wait_for(
            "the hub entry to be loaded again after its options",
            lambda: (
                client.get("/api/config/config_entries/entry?domain=marstek_strategy")[0]["state"]
                == "loaded"
            ),
            timeout=30,
        )
        entry = client.get("/api/config/config_entries/entry?domain=marstek_strategy")[0]
        _log(f"hub entry {entry['state']}, {entry['num_subentries']} battery subentries")
        if entry["num_subentries"] != len(BATTERY_PHASES):
            raise E2EError(f"expected 3 battery subentries: {entry}")
        self.check_discovery(entry["entry_id"])
        wait_for(
            "the integration's entities",
            lambda: len(client.integration_entities("marstek_strategy")) > 10,
            timeout=30,
        )
        self.find_entities()
        # The strategy runs as soon as the batteries are added: begin from all batteries off.
        self.switch_off_and_check(quiet=False)
        if any(self.setpoints().values()):
            raise E2EError(f"setpoints not zero while the strategy is off: {self.setpoints()}")
        client.call("switch", "turn_on", entity_id=self.entities["switch"])
        _log(f"strategy on; grid {client.value('sensor.p1_meter_power'):.0f} W")

        # 1. The setpoints move and the grid settles.
        wait_for(
            "the setpoint sensors to move",
            lambda: any(abs(v) > 0 for v in self.setpoints().values()),
            timeout=30,
        )
        _log(f"setpoints moved: {self.setpoints()}")
        first, residual = self.converge("start")
        _log(
            f"grid within {TOLERANCE_W:.0f} W of the target {first:.1f} s later ({residual:+.0f} W)"
        )

        # 2. A load step of +1500 W on L1.
        before = self.setpoints()
        client.call("marstek_sim", "set_house", **STEP_LOAD)
        _log(f"load step +1500 W on L1; grid {client.value('sensor.p1_meter_power'):.0f} W")
        seconds, residual = self.converge("load step")
        after = self.setpoints()
        if sum(after.values()) <= sum(before.values()) + 1000:
            raise E2EError(f"setpoints did not follow the load step: {before} -> {after}")
        _log(f"converged {seconds:.1f} s after the step; residual {residual:+.1f} W; {after}")

        # Fail-safe: a meter that goes unavailable (and, --long, one that stops reporting)
        # stops every battery; the strategy resumes by itself when the meter is back.
        self.meter_fail_safe("unavailable", available=False, reporting=True, timeout=20)
        self.battery_unavailable()
        if self.faults:
            self.board_faults()
        if self.long:
            self.meter_fail_safe("stale", available=True, reporting=False, timeout=60)
            self.hold_past_rs485_timeout()
        if self.faults and self.api == "entities":
            self.removed_while_offline_then_renamed()
        if self.modes:
            self.grid_modes(entry["entry_id"])

        # 3. Off: every battery at stop, and no more writes.
        self.switch_off_and_check()

        # 4. On again, then Home Assistant stops: the integration must stop the batteries.
        client.call("switch", "turn_on", entity_id=self.entities["switch"])
        wait_for(
            "a battery running again",
            lambda: any(
                b["effective_mode"] != "stop"
                for b in client.call_response("marstek_sim", "get_writes", last=0).values()
            ),
            timeout=30,
        )
        _log("strategy on again; stopping Home Assistant with the batteries running")
        return (
            f"convergence after a +1500 W load step: {seconds:.1f} s; "
            f"residual grid power {residual:+.1f} W (target {self.target():.0f} W)"
        )

    def run_browser(self) -> str:
        """--browser: the first hour in Chromium (dev/browser/walkthrough.mjs); screenshots."""
        shots = self.config / "screenshots"
        result = subprocess.run(  # noqa: S603 - our own script
            ["node", str(BROWSER / "walkthrough.mjs"), self.client.base, str(shots)],  # noqa: S607
            check=False,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            timeout=600,
        )
        print(result.stdout, end="", flush=True)
        if result.returncode != 0:
            raise E2EError(f"the browser walkthrough failed (screenshots in {shots})")
        entry = self.client.get("/api/config/config_entries/entry?domain=marstek_strategy")[0]
        if entry["num_subentries"] != len(BATTERY_PHASES):
            raise E2EError(f"expected 3 battery subentries after the walkthrough: {entry}")
        if self.current:  # the docs show the Home Assistant users run
            IMAGES.mkdir(parents=True, exist_ok=True)
            for name in SCREENSHOTS:
                shutil.copy(shots / f"{name}.png", IMAGES / f"{name}.png")
            _log(f"screenshots saved to {IMAGES.relative_to(REPO)}: {', '.join(SCREENSHOTS)}")
        return result.stdout.strip().splitlines()[-1]


#: What Home Assistant's frame and deprecation helpers write about code that uses something
#: deprecated ("Detected that custom integration 'x' ...", "... which is deprecated ...").
DEPRECATION = re.compile(r"deprecat|will stop working|Detected that custom integration", re.I)
#: What Home Assistant logs when a websocket command (the frontend's calls) raised.
WEBSOCKET_FAILURE = "Error handling message"
#: The integration's names as a log line gives them (logger, domain, path).
OURS = re.compile(r"marstek_strategy|custom_components[./]marstek")


def deprecation_lines(records: list[str]) -> list[str]:
    """Return the log records about a deprecation that name the integration."""
    return [r for r in records if DEPRECATION.search(r) and OURS.search(r)]


def check_log(log: Path) -> None:
    """Fail when the integration or the simulator logged an error, or left a battery running."""
    if not log.exists():
        raise E2EError(f"no log at {log}")
    text = log.read_text(errors="replace")
    shutdown = [line for line in text.splitlines() if "Simulated batteries at shutdown" in line]
    if not shutdown:
        raise E2EError("the simulator did not report the batteries at shutdown")
    if any(f"{phase} stop 0 W" not in shutdown[-1] for phase in ("L1", "L2", "L3")):
        raise E2EError(f"a battery was left running when Home Assistant stopped: {shutdown[-1]}")
    _log(shutdown[-1].split("] ", 1)[-1])
    # One record per log entry, its traceback included.
    records = re.split(r"\n(?=\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d+ )", text)
    # Ours: our loggers or our code in a traceback; not HA's modbus naming the hubs marstek_m1.
    errors = [r for r in records if " ERROR (" in r.split("\n", 1)[0] and OURS.search(r)]
    if errors:
        raise E2EError("the integration logged errors:\n" + "\n".join(errors))
    # A websocket command of the frontend failed (whatever integration): on 2026.11 a failing
    # get_services left the UI on "Loading..." for good while the HTTP API worked.
    failed = [r for r in records if WEBSOCKET_FAILURE in r]
    if failed:
        raise E2EError("a websocket command of the frontend failed:\n" + "\n".join(failed))
    deprecations = deprecation_lines(records)
    if deprecations:
        raise E2EError("Home Assistant reports deprecated use:\n" + "\n".join(deprecations))
    for record in records:
        first = record.split("\n", 1)[0]
        if " WARNING (" in first and "[custom_components.marstek_strategy" in first:
            _log(f"integration warning: {first}")


def damage_store(config: Path) -> tuple[str, str]:
    """--faults: damage the hub's store between a stop and a start; return (entry, phase).

    The store says the hub was switched off with one battery's stop still owed (its board
    was offline), and two of its items are damaged: the batteries' settings (null) and a
    pending stop that is not a mapping. The battery is started by the simulator as Home
    Assistant starts (left running), so only the kept stop can stop it.
    """
    entries = json.loads((config / ".storage" / "core.config_entries").read_text())
    entry = next(e for e in entries["data"]["entries"] if e["domain"] == "marstek_strategy")
    subentry = entry["subentries"][0]
    data = subentry["data"]
    owed = {
        "subentry_id": subentry["subentry_id"],
        "title": subentry["title"],
        "phase": data["phase"],
        "entities": {k: v for k, v in data.items() if k.endswith("_entity") and v},
        "connector": data.get("connector", "esphome"),
    }
    path = config / ".storage" / f"marstek_strategy.{entry['entry_id']}"
    stored = json.loads(path.read_text())
    stored["data"]["settings"]["enabled"] = False
    stored["data"]["settings"]["batteries"] = None  # damaged
    stored["data"]["pending"] = [owed, 42]  # the second one is damaged
    path.write_text(json.dumps(stored))
    return entry["entry_id"], str(data["phase"])


def check_damaged_store_start(client: HAClient, config: Path, entry_id: str, phase: str) -> str:
    """The entry loads on the damaged store, makes the stop it kept (once), and a repair
    issue names what was dropped."""
    # Its services fail (an error in the log) until the simulator is loaded.
    wait_for(
        "the simulator loaded",
        lambda: any(
            e["state"] == "loaded"
            for e in client.get("/api/config/config_entries/entry?domain=marstek_sim")
        ),
        timeout=DAMAGED_STOP_BOUND_S,
    )
    took = wait_for(
        f"{phase}, left running, stopped by the stop the damaged store kept",
        lambda: (
            client.call_response("marstek_sim", "get_writes", last=0)[phase]["effective_mode"]
            == "stop"
        ),
        timeout=DAMAGED_STOP_BOUND_S,
    )
    board = client.call_response("marstek_sim", "get_writes", last=20)[phase]
    stops = [w for w in board["last"] if (w["register"], w["value"]) == ("forcible_mode", "stop")]
    if board["app_started"] is None or not stops:
        raise E2EError(f"{phase} was not left running, or not stopped by a write: {board}")
    entry = client.get("/api/config/config_entries/entry?domain=marstek_strategy")[0]
    if entry["state"] != "loaded":
        raise E2EError(f"the hub did not load on a damaged store: {entry}")
    issues = client.websocket({"type": "repairs/list_issues"})["result"]["issues"]
    damaged = [i for i in issues if i["issue_id"] == f"{STORE_DAMAGED_ISSUE}_{entry_id}"]
    if not damaged:
        raise E2EError(f"no repair issue for the damaged store: {issues}")
    dropped = damaged[0].get("translation_placeholders", {}).get("dropped", "")
    if "batteries" not in dropped or "pending" not in dropped:
        raise E2EError(f"the repair issue does not name what was dropped: {damaged[0]}")
    count = client.call_response("marstek_sim", "get_writes", last=0)[phase]["count"]
    time.sleep(3 * CYCLE_S)  # switched off: nothing more is written once the stop is made
    later = client.call_response("marstek_sim", "get_writes", last=0)[phase]["count"]
    if later != count:
        raise E2EError(f"{phase} written again after its kept stop was made: {count} -> {later}")
    pending = json.loads((config / ".storage" / f"marstek_strategy.{entry_id}").read_text())[
        "data"
    ].get("pending")
    if pending:
        raise E2EError(f"a stop is still owed after it was made: {pending}")
    log = (config / "home-assistant.log").read_text(errors="replace")
    said = log.count("was damaged; dropped:")
    if said != 1:
        raise E2EError(f"the damaged store was logged {said} times, expected once")
    return (
        f"damaged store: the hub loaded, {phase} (left running) stopped {took:.1f} s after "
        f"Home Assistant answered (bound {DAMAGED_STOP_BOUND_S:.0f} s), said once, repair "
        f"issue names {dropped}"
    )


def stop(proc: subprocess.Popen[bytes]) -> int | None:
    """Stop Home Assistant cleanly (SIGTERM), killing it only if it hangs."""
    if proc.poll() is not None:
        return proc.returncode
    proc.send_signal(signal.SIGTERM)
    try:
        return proc.wait(timeout=60)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
        return None


def main() -> int:
    """Run the end-to-end test; 0 when it passes."""
    wall = time.monotonic()
    keep = "--keep" in sys.argv
    long = "--long" in sys.argv
    faults = "--faults" in sys.argv
    modes = "--modes" in sys.argv
    browser = "--browser" in sys.argv
    api = (
        "esphome" if "--esphome" in sys.argv else "modbus" if "--modbus" in sys.argv else "entities"
    )
    if browser and not (BROWSER / "node_modules" / "playwright-core").is_dir():
        print("error: --browser needs playwright-core: (cd dev/browser && npm ci)", file=sys.stderr)
        return 2
    current = "--current" in sys.argv
    # The current Home Assistant runs in its own environment (scripts/current run, maybe a
    # chroot that sees only the repository): its config folder is inside the repository.
    config = Path(tempfile.mkdtemp(prefix="marstek-e2e-", dir=REPO / "config" if current else None))
    shutil.copy(REPO / "config" / "configuration.yaml", config / "configuration.yaml")
    prepare = [str(REPO / "dev" / "prepare"), str(config)]
    if current:  # prepare with that environment's Python (it has the frontend)
        prepare = [*CURRENT, "bash", "-c", PREPARE_WITH_ITS_PYTHON, *prepare]
    pythonpath = subprocess.run(  # noqa: S603 - our own script
        prepare,
        check=True,
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "MARSTEK_PYTHON": sys.executable, "MARSTEK_SIM_BOARD_API": api},
    ).stdout.strip()
    port = _free_port()
    env = {**os.environ, "PYTHONPATH": pythonpath, "MARSTEK_DEV_PORT": str(port)}
    env["MARSTEK_SIM_SPEED"] = "1"
    env["MARSTEK_SIM_RS485_TIMEOUT"] = str(KEEPALIVE_TIMEOUT_S if long else 0)
    api_ports: tuple[int, ...] = ()
    env["MARSTEK_SIM_BOARD_API"] = api
    if api != "entities":
        api_ports = _free_ports(len(BATTERY_PHASES))
        env["MARSTEK_SIM_API_PORT"] = str(api_ports[0])
        for index, api_port in enumerate(api_ports, start=1):
            env[f"MARSTEK_MODBUS_PORT_M{index}"] = str(api_port)
    output = (config / "hass-output.log").open("wb")
    hass = [*CURRENT, "hass"] if current else [str(HASS)]
    _log(f"starting Home Assistant on 127.0.0.1:{port} with config {config}")
    proc = subprocess.Popen(  # noqa: S603 - the venv's hass
        [*hass, "-c", str(config), "--skip-pip"], env=env, stdout=output, stderr=output
    )
    run = Run(
        config,
        port,
        proc,
        long=long,
        browser=browser,
        faults=faults,
        modes=modes,
        current=current,
        api=api,
        api_ports=api_ports,
    )
    summary = None
    failure: BaseException | None = None
    try:
        summary = run.run()
    except Exception as err:
        failure = err
    finally:
        code = stop(proc)
        output.close()
    if failure is None and code not in (0, None):
        failure = E2EError(f"Home Assistant exited with code {code}")
    if failure is None and code is None:
        failure = E2EError("Home Assistant did not stop within 60 s")
    if failure is None:
        try:
            check_log(config / "home-assistant.log")
        except E2EError as err:
            failure = err
    if failure is None and faults and api == "entities" and not browser:
        # Between a stop and a start the hub's store is damaged: the next start must load.
        started = time.monotonic()
        entry_id, phase = damage_store(config)
        env["MARSTEK_SIM_RUNNING_AT_START"] = f"{phase}:800"
        output = (config / "hass-output.log").open("ab")
        _log(f"starting Home Assistant again on a damaged store, {phase} left running")
        proc = subprocess.Popen(  # noqa: S603 - the venv's hass
            [*hass, "-c", str(config), "--skip-pip"], env=env, stdout=output, stderr=output
        )
        try:
            client = HAClient(f"http://127.0.0.1:{port}")
            client.wait_until_up(timeout=180, proc=proc)
            client.login()
            _log(check_damaged_store_start(client, config, entry_id, phase))
        except Exception as err:
            failure = err
        finally:
            code = stop(proc)
            output.close()
        if failure is None and code not in (0, None):
            failure = E2EError(f"Home Assistant exited with code {code} after the restart")
        if failure is None:
            try:
                check_log(config / "home-assistant.log")
            except E2EError as err:
                failure = err
        _log(f"the damaged-store start took {time.monotonic() - started:.0f} s")
    if failure is not None:
        print("=" * 30 + " Home Assistant log " + "=" * 30)
        log = config / "home-assistant.log"
        print(log.read_text(errors="replace") if log.exists() else "(no log)")
        print("=" * 30 + " Home Assistant output (tail) " + "=" * 20)
        print(
            "\n".join((config / "hass-output.log").read_text(errors="replace").splitlines()[-60:])
        )
        print(f"e2e FAILED after {time.monotonic() - wall:.0f} s: {failure}")
        print(f"(config kept in {config})")
        return 1
    if not keep:
        shutil.rmtree(config, ignore_errors=True)
    print(f"e2e passed in {time.monotonic() - wall:.0f} s: {summary}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
