"""Command line: ``python -m bench`` (``scripts/bench`` runs it in .venv-bench).

Runs every scenario with every controller and prints a table (``--json``: the issue-4 JSON);
``--quick`` runs short windows of three scenarios; ``--plot DIR`` writes one PNG per scenario.
"""

from __future__ import annotations

import argparse
from concurrent.futures import ProcessPoolExecutor
from dataclasses import replace
import json
import os
from pathlib import Path
import sys
import time
from typing import Any

from bench import report
from bench.controllers import ALL, available, make
from bench.loop import run
from bench.scenarios import QUICK, SCENARIOS, Scenario, by_name, resolve, window
from bench.sim.house import build_house


def _job(args: tuple[Scenario, tuple[str, ...], bool]) -> dict[str, Any]:
    scenario, controllers, record = args
    started = time.perf_counter()
    house = build_house(resolve(scenario))
    figures: dict[str, Any] = {}
    traces: dict[str, Any] = {}
    for name in controllers:
        result = run(scenario, make(name), house, record=record)
        figures[name] = result.figures()
        if record:
            traces[name] = result.trace
    out: dict[str, Any] = {
        "name": scenario.name,
        "seconds": house.seconds,
        "controllers": figures,
        "elapsed_s": time.perf_counter() - started,
    }
    if record:
        out["traces"] = traces
        out["house"] = {
            "t": [house.spec.start_h + k / 3600.0 for k in range(0, house.seconds, 10)],
            "net": [
                sum(house.load[p][k] - house.pv[p][k] for p in range(3))
                for k in range(0, house.seconds, 10)
            ],
        }
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="scripts/bench", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="short subset (under a minute)")
    parser.add_argument("--json", action="store_true", help="print the JSON figures")
    parser.add_argument("--plot", metavar="DIR", help="write one PNG per scenario into DIR")
    parser.add_argument(
        "--plot-controller",
        metavar="NAME",
        help="whose setpoints the plots show (default: efficiency, else priority)",
    )
    parser.add_argument("--scenario", action="append", help="run only these (repeatable)")
    parser.add_argument("--controller", action="append", help="run only these (repeatable)")
    parser.add_argument(
        "--meter-poll", type=float, default=None, help="meter poll period in s (1 or 5)"
    )
    parser.add_argument(
        "--window",
        nargs=2,
        type=float,
        metavar=("HOUR", "HOURS"),
        help="cut every scenario to HOURS from HOUR of day (for zoomed plots)",
    )
    parser.add_argument(
        "--seed", type=int, default=0, help="add this to every house's seed (another day)"
    )
    parser.add_argument("--jobs", type=int, default=min(2, os.cpu_count() or 1))
    parser.add_argument("--markdown", metavar="FILE", help="also write the tables as Markdown")
    parser.add_argument(
        "--phases", action="store_true", help="the phase-limit scenarios (bench/phases.py)"
    )
    parser.add_argument(
        "--faults", action="store_true", help="run the fault suite instead (bench/faults.py)"
    )
    args = parser.parse_args(argv)
    if args.phases:
        from bench import phases

        return phases.main(tuple(args.controller or ()), args.json, args.jobs, args.scenario)
    if args.faults:
        return _faults(args.controller, as_json=args.json)

    wanted = tuple(args.controller or ALL)
    unknown = [c for c in wanted if c not in ALL]
    if unknown:
        parser.error(f"unknown controller(s): {', '.join(unknown)}")
    missing = [c for c in wanted if not available(c)]
    controllers = tuple(c for c in wanted if available(c))
    if args.quick:
        scenarios = [window(by_name(name), start, hours) for name, start, hours in QUICK]
    else:
        scenarios = list(SCENARIOS)
    if args.window:
        scenarios = [window(s, args.window[0], args.window[1]) for s in scenarios]
    if args.scenario:
        names = set(args.scenario)
        scenarios = [s for s in scenarios if s.name in names or s.name.split("@")[0] in names]
        if not scenarios:
            parser.error("no scenario matches")
    if args.meter_poll:
        scenarios = [replace(s, meter_poll_s=args.meter_poll) for s in scenarios]
    if args.seed:
        scenarios = [
            replace(s, house=replace(s.house, seed=s.house.seed + args.seed)) for s in scenarios
        ]
    record = bool(args.plot)
    jobs = [(s, controllers, record) for s in scenarios]
    started = time.perf_counter()
    if args.jobs > 1 and len(jobs) > 1:
        # Longest first: the six-battery and full-day scenarios.
        # The workers get _job by its importable name: under `python -m bench` this module is
        # __main__, which Python 3.14's default start method (forkserver) does not re-create.
        from bench.__main__ import _job as job

        with ProcessPoolExecutor(max_workers=args.jobs) as pool:
            outputs = list(pool.map(job, jobs))
    else:
        outputs = [_job(job) for job in jobs]
    elapsed = time.perf_counter() - started

    results = {o["name"]: o["controllers"] for o in outputs}
    seconds = {o["name"]: o["seconds"] for o in outputs}
    totals = report.suite(results, seconds)
    checks = report.targets(results, totals)
    notes = [f"controller not available in the engine yet: {c}" for c in missing]

    if args.json:
        doc = {
            "scenarios": [{"name": o["name"], "controllers": o["controllers"]} for o in outputs],
            "suite": totals,
            "targets": checks,
            "notes": notes,
            "elapsed_s": round(elapsed, 1),
        }
        json.dump(doc, sys.stdout, indent=1)
        sys.stdout.write("\n")
    else:
        descriptions = {s.name: s.description for s in scenarios}
        print(report.table(results, totals, controllers, descriptions))
        print()
        print("== targets (issue 4)")
        for check in checks:
            verdict = {True: "MET   ", False: "MISSED", None: "n/a   "}[check["met"]]
            print(f"{verdict} {check['target']}: {check['detail']}")
        for note in notes:
            print(f"note: {note}")
        print(f"\n{len(scenarios)} scenarios x {len(controllers)} controllers in {elapsed:.0f} s")
    if args.markdown:
        descriptions = {s.name: s.description for s in scenarios}
        text = report.markdown(results, totals, controllers, descriptions)
        Path(args.markdown).write_text(text + "\n")
    if args.plot:
        from bench.plot import plot_scenario

        target = Path(args.plot)
        target.mkdir(parents=True, exist_ok=True)
        who = args.plot_controller or ("efficiency" if "efficiency" in controllers else "priority")
        for o in outputs:
            path = plot_scenario(o, who, target)
            print(f"wrote {path}", file=sys.stderr)
    return 0


def _faults(names: list[str] | None, *, as_json: bool) -> int:
    """Run the fault suite (bench/faults.py) and print its table or JSON."""
    from dataclasses import asdict

    from bench import faults

    wanted = tuple(c for c in (names or faults.CONTROLLERS) if available(c))
    figures = faults.suite(wanted)
    if as_json:
        json.dump([asdict(f) for f in figures], sys.stdout, indent=1)
        sys.stdout.write("\n")
    else:
        print(faults.table(figures))
    return 0


if __name__ == "__main__":
    sys.exit(main())
