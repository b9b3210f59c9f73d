"""Tables, suite totals and the issue-4 targets from the benchmark's results."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

Figures = Mapping[str, Any]
#: scenario name -> controller name -> figures (as Result.figures()).
Results = Mapping[str, Mapping[str, Figures]]

COLUMNS = (
    ("cycled", "cycled_kwh", "{:.2f}"),
    ("loss kWh", "conversion_loss_kwh", "{:.3f}"),
    ("loss %", "loss_pct", "{:.2f}"),
    ("import", "grid_import_kwh", "{:.2f}"),
    ("export", "grid_export_kwh", "{:.2f}"),
    ("abs grid W", "mean_abs_grid_w", "{:.1f}"),
    ("unwanted s", "unwanted_s", "{:d}"),
    ("avoidable", "avoidable_kwh", "{:.2f}"),
    ("writes", "writes", "{:d}"),
    ("modes", "mode_changes", "{:d}"),
    ("SoC spread", "soc_spread_max", "{:.1f}"),
)

#: Figures where lower is better (for "priority no worse than seed on any figure").
LOWER_IS_BETTER = (
    "loss_pct",
    "mean_abs_grid_w",
    "unwanted_s",
    "avoidable_kwh",
    "writes",
    "mode_changes",
    "soc_spread_max",
)


def suite(results: Results, seconds: Mapping[str, int]) -> dict[str, dict[str, float]]:
    """Totals per controller over the scenarios it ran (loss % of the summed energies)."""
    out: dict[str, dict[str, float]] = {}
    controllers = {c for per in results.values() for c in per}
    for name in sorted(controllers):
        cycled = loss = imp = exp = abs_ws = 0.0
        writes = modes = unwanted = starts = 0
        avoidable = 0.0
        total_s = 0
        for scenario, per in results.items():
            fig = per.get(name)
            if fig is None:
                continue
            cycled += fig["cycled_kwh"]
            loss += fig["conversion_loss_kwh"]
            imp += fig["grid_import_kwh"]
            exp += fig["grid_export_kwh"]
            abs_ws += fig["mean_abs_grid_w"] * seconds[scenario]
            total_s += seconds[scenario]
            writes += fig["writes"]
            modes += fig["mode_changes"]
            starts += fig.get("starts", 0)
            unwanted += fig["unwanted_s"]
            avoidable += fig.get("avoidable_kwh", 0.0)
        out[name] = {
            "cycled_kwh": round(cycled, 4),
            "conversion_loss_kwh": round(loss, 4),
            "loss_pct": round(100.0 * loss / cycled, 3) if cycled else 0.0,
            "grid_import_kwh": round(imp, 4),
            "grid_export_kwh": round(exp, 4),
            "mean_abs_grid_w": round(abs_ws / total_s, 2) if total_s else 0.0,
            "unwanted_s": unwanted,
            "avoidable_kwh": round(avoidable, 4),
            "writes": writes,
            "mode_changes": modes,
            "starts": starts,
        }
    return out


def _rel(a: float, b: float) -> float:
    return (a - b) / b * 100.0 if b else float("inf")


def targets(results: Results, totals: Mapping[str, Mapping[str, float]]) -> list[dict[str, Any]]:
    """The issue-4 targets, each met or missed with its margin."""
    out: list[dict[str, Any]] = []

    def add(name: str, met: bool | None, detail: str) -> None:
        out.append({"target": name, "met": met, "detail": detail})

    eff, orc = totals.get("efficiency"), totals.get("oracle")
    if eff and orc:
        rel = _rel(eff["loss_pct"], orc["loss_pct"])
        add(
            "efficiency within 5 % of the oracle's loss % (suite)",
            rel <= 5.0,
            f"efficiency {eff['loss_pct']:.2f} % vs oracle {orc['loss_pct']:.2f} %: {rel:+.1f} %",
        )
    else:
        add("efficiency within 5 % of the oracle's loss % (suite)", None, "efficiency not run")
    night_name = next((s for s in results if s.split("@")[0] == "night"), "night")
    night = results.get(night_name, {})
    for name in ("priority", "efficiency"):
        if name in night and "equal" in night:
            a, b = night[name]["loss_pct"], night["equal"]["loss_pct"]
            rel = _rel(a, b)
            add(
                f"{name} >= 25 % lower loss % than equal (night)",
                rel <= -25.0,
                f"{name} {a:.2f} % vs equal {b:.2f} %: {rel:+.1f} %",
            )
        else:
            add(f"{name} >= 25 % lower loss % than equal (night)", None, "not run")
    cro = totals.get("crossover")
    if eff and cro:
        add(
            "efficiency lower loss % than crossover (suite)",
            eff["loss_pct"] < cro["loss_pct"],
            f"efficiency {eff['loss_pct']:.2f} % vs crossover {cro['loss_pct']:.2f} %",
        )
    else:
        add("efficiency lower loss % than crossover (suite)", None, "not run")
    worse: list[str] = []
    compared = 0
    for scenario, per in results.items():
        if "priority" not in per or "seed" not in per:
            continue
        compared += 1
        for key in LOWER_IS_BETTER:
            p, s = per["priority"][key], per["seed"][key]
            if p > s * 1.001 + 1e-9:
                worse.append(f"{scenario} {key} {p:g} vs {s:g}")
    add(
        "priority no worse than seed on any figure",
        not worse if compared else None,
        "; ".join(worse) if worse else f"{compared} scenarios, none worse",
    )
    for name in ("priority", "equal", "efficiency"):
        worse = []
        for scenario, per in results.items():
            if name in per and "seed" in per:
                p, s = per[name]["mean_abs_grid_w"], per["seed"]["mean_abs_grid_w"]
                if p > s * 1.001:
                    worse.append(f"{scenario} {p:.1f} vs {s:.1f} W")
        if name in totals and "seed" in totals:
            add(
                f"{name}: mean |grid| no worse than seed",
                not worse,
                "; ".join(worse) if worse else "every scenario",
            )
    return out


def table(
    results: Results,
    totals: Mapping[str, Mapping[str, float]],
    order: Sequence[str],
    descriptions: Mapping[str, str] | None = None,
) -> str:
    """A plain-text table per scenario, then the suite totals."""
    lines: list[str] = []
    head = f"{'controller':<11}" + "".join(f"{h:>11}" for h, _, _ in COLUMNS) + "  SoC end"
    for scenario, per in results.items():
        lines.append("")
        desc = f"  ({descriptions[scenario]})" if descriptions and scenario in descriptions else ""
        lines.append(f"== {scenario}{desc}")
        lines.append(head)
        for name in order:
            fig = per.get(name)
            if fig is None:
                continue
            cells = "".join(f"{fmt.format(fig[key]):>11}" for _, key, fmt in COLUMNS)
            socs = " ".join(f"{s:.0f}" for s in fig["soc_end"])
            lines.append(f"{name:<11}{cells}  {socs}")
    lines.append("")
    lines.append("== suite (all scenarios)")
    keys = (
        "cycled_kwh",
        "conversion_loss_kwh",
        "loss_pct",
        "grid_import_kwh",
        "grid_export_kwh",
        "mean_abs_grid_w",
        "unwanted_s",
        "avoidable_kwh",
        "writes",
        "mode_changes",
    )
    lines.append(f"{'controller':<11}" + "".join(f"{h:>11}" for h, _, _ in COLUMNS[:10]))
    for name in order:
        if name in totals:
            t = totals[name]
            lines.append(f"{name:<11}" + "".join(f"{t[k]:>11g}" for k in keys))
    return "\n".join(lines)


def markdown(
    results: Results,
    totals: Mapping[str, Mapping[str, float]],
    order: Sequence[str],
    descriptions: Mapping[str, str] | None = None,
) -> str:
    """The same tables in Markdown (for the README's benchmark section)."""
    lines: list[str] = []
    header = "| controller | " + " | ".join(h for h, _, _ in COLUMNS) + " | SoC end |"
    rule = "|---|" + "---:|" * (len(COLUMNS) + 1)
    lines += ["**Suite** (all scenarios summed; loss % = total loss / total energy cycled)", ""]
    lines += ["| controller | " + " | ".join(h for h, _, _ in COLUMNS[:10]) + " |"]
    lines += ["|---|" + "---:|" * 10]
    keys = [key for _, key, _ in COLUMNS[:10]]
    for name in order:
        if name in totals:
            t = totals[name]
            cells = " | ".join(
                (f"{t[k]:.2f}" if isinstance(t[k], float) else str(t[k])) for k in keys
            )
            lines.append(f"| {name} | {cells} |")
    for scenario, per in results.items():
        desc = f": {descriptions[scenario]}" if descriptions and scenario in descriptions else ""
        lines += ["", f"**{scenario}**{desc}", "", header, rule]
        for name in order:
            fig = per.get(name)
            if fig is None:
                continue
            cells = " | ".join(fmt.format(fig[key]) for _, key, fmt in COLUMNS)
            socs = " ".join(f"{s:.0f}" for s in fig["soc_end"])
            lines.append(f"| {name} | {cells} | {socs} |")
    return "\n".join(lines)
