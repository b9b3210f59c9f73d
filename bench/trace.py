"""Print two controllers side by side, second by second, over a stretch of one scenario.

    python -m bench.trace SCENARIO CONTROLLER_A CONTROLLER_B FROM_H TO_H [--every N]

For finding why one controller tracks or loses differently from another (for example
``python -m bench.trace bdew_h0 efficiency seed 4.58 4.66``). Hours are as in the plots:
from midnight of the scenario's first day.
"""

from __future__ import annotations

import argparse
import sys

from bench import loop
from bench.controllers import make
from bench.scenarios import by_name, resolve
from bench.sim.house import build_house


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.trace", description=__doc__)
    parser.add_argument("scenario")
    parser.add_argument("a")
    parser.add_argument("b")
    parser.add_argument("start", type=float)
    parser.add_argument("end", type=float)
    parser.add_argument("--every", type=int, default=1, help="print every N seconds")
    args = parser.parse_args(argv)
    scenario = by_name(args.scenario)
    house = build_house(resolve(scenario))
    traces = {
        name: loop.run(scenario, make(name), house, record=True, record_every_s=1).trace
        for name in (args.a, args.b)
    }
    a, b = traces[args.a], traces[args.b]
    if a is None or b is None:
        return 1
    count = sum(1 for key in a if key.startswith("soc"))
    print(f"{'hour':>8} {'house':>6} | {args.a}: grid setpoints soc | {args.b}: grid setpoints soc")
    for k, t in enumerate(a["t"]):
        if not args.start <= t <= args.end or k % args.every:
            continue
        net = sum(house.load[p][k] - house.pv[p][k] for p in range(3))
        cells = []
        for tr in (a, b):
            sets = " ".join(f"{tr[f'set{i}'][k]:5.0f}" for i in range(count))
            socs = " ".join(f"{tr[f'soc{i}'][k]:3.0f}" for i in range(count))
            cells.append(f"{tr['grid'][k]:6.0f} [{sets}] [{socs}]")
        print(f"{t:8.4f} {net:6.0f} | {cells[0]} | {cells[1]}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
