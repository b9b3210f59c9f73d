"""Compare several ``--json`` runs (other seeds, meter polling): suite figures and targets.

python -m bench.summary run0.json run100.json run200.json
"""

from __future__ import annotations

import json
from pathlib import Path
import sys

KEYS = ("loss_pct", "mean_abs_grid_w", "unwanted_s", "avoidable_kwh", "writes", "mode_changes")


def main(paths: list[str]) -> int:
    runs = [(p, json.loads(Path(p).read_text())) for p in paths]
    controllers: list[str] = []
    for _, doc in runs:
        for name in doc["suite"]:
            if name not in controllers:
                controllers.append(name)
    print("suite figures, one value per run (separated by /)")
    print(f"{'controller':<11}" + "".join(f"{k:>24}" for k in KEYS))
    for name in controllers:
        cells = []
        for key in KEYS:
            values = [doc["suite"][name][key] for _, doc in runs if name in doc["suite"]]
            cells.append("/".join(f"{v:.4g}" for v in values))
        print(f"{name:<11}" + "".join(f"{c:>24}" for c in cells))
    print()
    for path, doc in runs:
        print(f"== {path}")
        for check in doc["targets"]:
            verdict = {True: "MET   ", False: "MISSED", None: "n/a   "}[check["met"]]
            detail = check["detail"]
            if len(detail) > 160:
                detail = detail[:157] + "..."
            print(f"  {verdict} {check['target']}: {detail}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
