"""Command line: ``python -m bench`` (``scripts/bench`` runs it in .venv-bench).

Runs every scenario of the suite (base scenarios and variants) with every controller on
``--days`` simulated days (house seeds +0, +100, ...), prints the headline, the tables and the
targets (``--json``: the figures); ``--quick`` runs short windows of a few scenarios on two days;
``--engine`` times ``engine.allocate``; ``--plot DIR`` writes one PNG per scenario (first day).
``--learn`` and ``--interval S`` run issue 12's benchmark instead (``bench/learn.py``).
"""

from __future__ import annotations

import argparse
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import replace
import json
import os
from pathlib import Path
import sys
import time
from typing import Any

from bench import report
from bench.controllers import DEFAULT, EXTRA, available, known, make
from bench.loop import run
from bench.scenarios import (
    QUICK,
    SUITE,
    VARIANTS,
    Scenario,
    by_name,
    daytime,
    resolve,
    window,
    with_plant,
)
from bench.sim.house import build_house


def _job(args: tuple[Scenario, tuple[str, ...], bool, int]) -> dict[str, Any]:
    scenario, controllers, record, day = args
    scenario = replace(scenario, house=replace(scenario.house, seed=scenario.house.seed + day))
    started = time.perf_counter()
    house = build_house(resolve(scenario))
    figures: dict[str, Any] = {}
    traces: dict[str, Any] = {}
    for name in (*controllers, *scenario.extra):
        result = run(scenario, make(name), house, record=record)
        figures[name] = result.figures()
        if record:
            traces[name] = result.trace
    out: dict[str, Any] = {
        "day": day,
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


class _NoProgress:
    """Stands in for the bar when nobody watches (no tqdm import, no thread)."""

    def __enter__(self) -> _NoProgress:
        return self

    def __exit__(self, *exc: object) -> None:
        return None

    def update(self, n: int = 1) -> None:
        return None


def _progress(total: int) -> Any:
    """A progress bar on stderr (runs done, elapsed, time left) when stderr is a terminal or
    BENCH_PROGRESS=1 (a log file then gets a line every 30 s)."""
    tty = sys.stderr.isatty()
    if not tty and os.environ.get("BENCH_PROGRESS") != "1":
        return _NoProgress()
    from tqdm import tqdm  # type: ignore[import-untyped,unused-ignore]

    tqdm.monitor_interval = 0  # no monitor thread: the bar is updated once per finished run
    return tqdm(
        total=total,
        unit="run",
        desc="scenario-days",
        file=sys.stderr,
        mininterval=1.0 if tty else 30.0,
    )


def _run_jobs(
    jobs: list[tuple[Scenario, tuple[str, ...], bool, int]], workers: int
) -> list[dict[str, Any]]:
    """Run every (scenario, day) job, in parallel when workers > 1, showing progress."""
    # The longest jobs first, so that the workers finish together.
    order = sorted(range(len(jobs)), key=lambda j: -jobs[j][0].house.duration_h)
    outputs: list[dict[str, Any] | None] = [None] * len(jobs)
    with _progress(len(jobs)) as bar:
        if workers > 1 and len(jobs) > 1:
            # The workers get _job by its importable name: under `python -m bench` this
            # module is __main__, which Python 3.14's default start method (forkserver) does
            # not re-create.
            from bench.__main__ import _job as job

            with ProcessPoolExecutor(max_workers=workers) as pool:
                futures = {pool.submit(job, jobs[j]): j for j in order}
                for future in as_completed(futures):
                    outputs[futures[future]] = future.result()
                    bar.update(1)
        else:
            for j in order:
                outputs[j] = _job(jobs[j])
                bar.update(1)
    return [o for o in outputs if o is not None]


def main(argv: list[str] | None = None) -> int:
    args_in = sys.argv[1:] if argv is None else argv
    if {"--learn", "--interval"} & {a.split("=")[0] for a in args_in}:
        from bench.learn import main as learn_main  # issue 12's benchmark (bench/learn.py)

        return learn_main(args_in)
    parser = argparse.ArgumentParser(prog="scripts/bench", description=__doc__)
    parser.add_argument(
        "--quick", action="store_true", help="short windows of a few scenarios on 2 days"
    )
    parser.add_argument("--days", type=int, default=None, help="simulated days (default 5)")
    parser.add_argument(
        "--daytime",
        action="store_true",
        help="cut every scenario that covers 08:00-16:00 to that window (a third of the work)",
    )
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
        "--seed", type=int, default=0, help="add this to every house's seed (other days)"
    )
    parser.add_argument(
        "--standby",
        type=float,
        default=None,
        metavar="W",
        help="every battery's standby draw in the plant (default 7 W; the engine keeps 7)",
    )
    parser.add_argument(
        "--start-cost",
        type=float,
        default=None,
        metavar="WH",
        help="energy each relay start draws from the cells in the plant (default 0 Wh)",
    )
    parser.add_argument("--jobs", type=int, default=min(2, os.cpu_count() or 1))
    parser.add_argument("--markdown", metavar="FILE", help="also write the tables as Markdown")
    parser.add_argument(
        "--phases", action="store_true", help="the phase-limit scenarios (bench/phases.py)"
    )
    parser.add_argument(
        "--engine",
        action="store_true",
        help="time engine.allocate per strategy for 1 to 8 batteries (no simulation)",
    )
    parser.add_argument("--calls", type=int, default=2000, help="--engine: calls per case")
    parser.add_argument(
        "--cold",
        action="store_true",
        help="--engine: empty the split caches before every call (calls no cache has seen)",
    )
    parser.add_argument(
        "--faults", action="store_true", help="run the fault suite instead (bench/faults.py)"
    )
    parser.add_argument(
        "--report",
        action="append",
        metavar="JSON",
        help="no run: the tables, targets and sensitivity of saved --json runs (repeatable: "
        "runs of other controllers on the same days are merged)",
    )
    parser.add_argument(
        "--modes",
        action="store_true",
        help="the grid modes: a price day and a Flemish evening with a peak cap (bench/modes.py)",
    )
    args = parser.parse_args(argv)
    if args.report:
        return _report(args.report, args)
    if args.phases:
        from bench import phases

        return phases.main(tuple(args.controller or ()), args.json, args.jobs, args.scenario)
    if args.faults:
        return _faults(args.controller, as_json=args.json)
    if args.modes:
        from bench import modes

        return modes.main(args.json)

    if args.engine:
        from bench import engine_cost

        rows = engine_cost.run(args.calls, cold=args.cold)
        if args.json:
            json.dump({"engine": rows}, sys.stdout, indent=1)
            sys.stdout.write("\n")
        else:
            print(engine_cost.table(rows))
        return 0

    wanted = tuple(args.controller or DEFAULT)
    unknown = [c for c in wanted if not known(c)]
    if unknown:
        parser.error(f"unknown controller(s): {', '.join(unknown)}")
    missing = [c for c in wanted if not available(c)]
    controllers = tuple(c for c in wanted if available(c))
    if args.quick:
        scenarios = [window(by_name(name), start, hours) for name, start, hours in QUICK]
    else:
        scenarios = list(SUITE)
    if args.window:
        scenarios = [window(s, args.window[0], args.window[1]) for s in scenarios]
    if args.daytime:
        scenarios = daytime(scenarios)
    if args.scenario:
        names = set(args.scenario)
        scenarios = [s for s in scenarios if s.name in names or s.name.split("@")[0] in names]
        if not scenarios:
            parser.error("no scenario matches")
    if args.meter_poll:
        scenarios = [replace(s, meter_poll_s=args.meter_poll) for s in scenarios]
    if args.standby is not None or args.start_cost is not None:
        scenarios = [
            with_plant(s, standby_w=args.standby, start_cost_wh=args.start_cost) for s in scenarios
        ]
    count = args.days or (2 if args.quick else 5)
    days = [args.seed + 100 * d for d in range(count)]
    record = bool(args.plot)
    jobs = [(s, controllers, record and day == days[0], day) for day in days for s in scenarios]
    started = time.perf_counter()
    outputs = _run_jobs(jobs, args.jobs)
    elapsed = time.perf_counter() - started

    runs: dict[int, dict[str, Any]] = {day: {} for day in days}
    for o in outputs:
        runs[o["day"]][o["name"]] = o["controllers"]
    variant_names = [
        s.name for s in scenarios if s.name.split("@")[0] in {v.name for v in VARIANTS}
    ]
    checks = report.targets(runs, variant_names)
    checks += report.peer_targets(runs, variant_names)
    checks += report.meter_targets(runs)
    steps = _steps(controllers)
    if steps:
        checks += report.step_targets(steps)
    base_standby = 7.0 if args.standby is None else args.standby
    ranked = [c for c in (*controllers, *EXTRA) if c not in ("loss_bound",)]
    sensitivity = report.sensitivity(runs, ranked, base_standby)
    notes = [f"controller not available in the engine yet: {c}" for c in missing]
    descriptions = {s.name: s.description for s in scenarios}

    if args.json:
        doc = {
            "days": days,
            "runs": {str(day): results for day, results in runs.items()},
            "headline": report.headline(runs),
            "targets": checks,
            "sensitivity": sensitivity,
            "steps": steps,
            "notes": notes,
            "elapsed_s": round(elapsed, 1),
        }
        json.dump(doc, sys.stdout, indent=1)
        sys.stdout.write("\n")
    else:
        order = (*controllers, *EXTRA)
        print(report.table(runs, order, descriptions))
        print()
        print("== targets (issues 11, 22): margin must exceed the spread over the days")
        for check in checks:
            print(_check_line(check))
        print()
        print("== sensitivity: suite loss (kWh per suite-day) at the plant's standby x start cost")
        print(report.sensitivity_table(sensitivity, ranked))
        for note in notes:
            print(f"note: {note}")
        print(
            f"\n{len(scenarios)} scenarios x {len(days)} days x {len(controllers)} controllers"
            f" in {elapsed:.0f} s ({args.jobs} jobs)"
        )
    if args.markdown:
        text = report.markdown(runs, (*controllers, *EXTRA), descriptions)
        Path(args.markdown).write_text(text + "\n")
    if args.plot:
        from bench.plot import plot_scenario

        target = Path(args.plot)
        target.mkdir(parents=True, exist_ok=True)
        who = args.plot_controller or ("efficiency" if "efficiency" in controllers else "priority")
        for o in outputs:
            if o["day"] == days[0]:
                path = plot_scenario(o, who, target)
                print(f"wrote {path}", file=sys.stderr)
    return 0


#: Controllers whose fast reversals on the step scenarios are a target (bench/steps.py).
STEP_CONTROLLERS = ("efficiency_meter",)


def _steps(controllers: tuple[str, ...]) -> list[dict[str, Any]]:
    """The step scenarios of the controllers that have a fast-reversal target (a few s)."""
    from bench import steps

    return [
        figures.as_dict()
        for name in controllers
        if name in STEP_CONTROLLERS
        for figures in steps.suite(name, make)
    ]


def _check_line(check: dict[str, Any]) -> str:
    """One target as a line: verdict, name [scope]: figures."""
    mark = report.verdict(check["met"], check["detail"])
    return f"{mark:<13}{check['target']} [{check['scope']}]: {check['detail']}"


def _report(paths: list[str], args: argparse.Namespace) -> int:
    """Merge saved --json runs (same days, other controllers) and print what a run prints."""
    runs: dict[int, dict[str, dict[str, Any]]] = {}
    steps: list[dict[str, Any]] = []
    for path in paths:
        doc = json.loads(Path(path).read_text())
        steps += doc.get("steps", [])
        for day, results in doc["runs"].items():
            for scenario, per in results.items():
                runs.setdefault(int(day), {}).setdefault(scenario, {}).update(per)
    scenario_names = list(next(iter(runs.values()), {}))
    variant_names = [s for s in scenario_names if s.split("@")[0] in {v.name for v in VARIANTS}]
    present = list(dict.fromkeys(name for r in runs.values() for per in r.values() for name in per))
    checks = report.targets(runs, variant_names)
    checks += report.peer_targets(runs, variant_names)
    checks += report.meter_targets(runs)
    if steps:
        checks += report.step_targets(steps)
    ranked = [c for c in present if c != "loss_bound"]
    base_standby = 7.0 if args.standby is None else args.standby
    sensitivity = report.sensitivity(runs, ranked, base_standby)
    if args.json:
        doc = {
            "days": sorted(runs),
            "headline": report.headline(runs),
            "targets": checks,
            "sensitivity": sensitivity,
            "steps": steps,
        }
        json.dump(doc, sys.stdout, indent=1)
        sys.stdout.write("\n")
        return 0
    descriptions = {s.name: s.description for s in SUITE}
    descriptions = {n: descriptions.get(n.split("@")[0], "") for n in scenario_names}
    print(report.table(runs, present, descriptions))
    if args.markdown:
        Path(args.markdown).write_text(report.markdown(runs, present, descriptions) + "\n")
    print()
    for check in checks:
        print(_check_line(check))
    print()
    print(report.sensitivity_table(sensitivity, ranked))
    return 0


def _faults(names: list[str] | None, *, as_json: bool) -> int:
    """Run the fault suite (bench/faults.py) and print its table or JSON."""
    from dataclasses import asdict

    from bench import faults

    wanted = tuple(c for c in (names or faults.CONTROLLERS) if available(c))
    figures = faults.suite(wanted)
    if as_json:
        met, detail = faults.verdict(figures)
        doc = {"faults": [asdict(f) for f in figures], "met": met, "detail": detail}
        json.dump(doc, sys.stdout, indent=1)
        sys.stdout.write("\n")
    else:
        print(faults.table(figures))
    return 0


if __name__ == "__main__":
    sys.exit(main())
