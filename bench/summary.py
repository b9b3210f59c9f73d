"""Compare several ``--json`` runs (other seeds, variants): suite headline and targets.

python -m bench.summary run_a.json run_b.json
"""

from __future__ import annotations

import json
from pathlib import Path
import sys

KEYS = ("conversion_loss_kwh", "avoidable_kwh", "unwanted_s", "import_avoided_kwh", "writes")


def main(paths: list[str]) -> int:
    runs = [(p, json.loads(Path(p).read_text())) for p in paths]
    controllers: list[str] = []
    for _, doc in runs:
        for name in doc["headline"]:
            if name not in controllers:
                controllers.append(name)
    print("suite headline (mean over the days), one value per run (separated by /)")
    print(f"{'controller':<11}" + "".join(f"{k:>24}" for k in KEYS))
    for name in controllers:
        cells = []
        for key in KEYS:
            values = [doc["headline"][name][key][0] for _, doc in runs if name in doc["headline"]]
            cells.append("/".join(f"{v:.4g}" for v in values))
        print(f"{name:<11}" + "".join(f"{c:>24}" for c in cells))
    print()
    verdicts = {True: "MET", False: "MISSED", None: "WITHIN NOISE"}
    for path, doc in runs:
        print(f"== {path}")
        for check in doc["targets"]:
            print(
                f"  {verdicts[check['met']]:<13}{check['target']} [{check['scope']}]: "
                f"{check['detail'][:140]}"
            )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
