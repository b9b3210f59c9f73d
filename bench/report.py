"""Headline, tables and targets from the benchmark's results over several simulated days.

``runs`` maps a day (the seed offset added to every house) to that day's results: scenario ->
controller -> figures (``Result.figures()``). Absolute figures are the suite's sums for one day,
reported as the mean over the days and their spread (half the range). Targets are ratios judged
per scenario and averaged with every scenario weighing the same; a target counts as met or
missed only when its margin is larger than its spread over the days.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
import statistics
from typing import Any

Figures = Mapping[str, Any]
#: scenario name -> controller name -> figures (as Result.figures()).
Results = Mapping[str, Mapping[str, Figures]]
#: day (seed offset) -> results of that day.
Runs = Mapping[int, Results]

#: (header, key, format): the suite headline, absolute terms first; loss % is only a column.
HEADLINE = (
    ("loss kWh", "conversion_loss_kwh", "{:.2f}"),
    ("import avoided", "import_avoided_kwh", "{:.2f}"),
    ("export avoided", "export_avoided_kwh", "{:.2f}"),
    ("stored at end", "stored_end_kwh", "{:.2f}"),
    ("avoidable kWh", "avoidable_kwh", "{:.2f}"),
    ("unwanted s", "unwanted_s", "{:.0f}"),
    ("circulated kWh", "circulation_kwh", "{:.3f}"),
    ("cycled kWh", "cycled_kwh", "{:.2f}"),
    ("loss %", "loss_pct", "{:.2f}"),
    ("writes", "writes", "{:.0f}"),
    ("starts", "starts", "{:.0f}"),
)
#: A controller is flagged for circulation above this many kWh per suite-day.
CIRCULATION_FLAG_KWH = 0.01

#: (target, controller, reference, figure, limit): controller's figure at most limit x the
#: reference's, on the suite and on every variant.
TARGETS = (
    (
        "efficiency loss <= 1.02 x loss_bound",
        "efficiency",
        "loss_bound",
        "conversion_loss_kwh",
        1.02,
    ),
    (
        "efficiency loss >= 1.5 % below crossover",
        "efficiency",
        "crossover",
        "conversion_loss_kwh",
        0.985,
    ),
    ("efficiency avoidable <= 1.05 x ideal", "efficiency", "ideal", "avoidable_kwh", 1.05),
)


def _spread(values: Sequence[float]) -> tuple[float, float]:
    """Mean and half the range of values."""
    if not values:
        return 0.0, 0.0
    return statistics.fmean(values), (max(values) - min(values)) / 2.0


def day_totals(results: Results) -> dict[str, dict[str, float]]:
    """One day's suite sums per controller (loss % of the summed energies)."""
    out: dict[str, dict[str, float]] = {}
    for per in results.values():
        for name, fig in per.items():
            total = out.setdefault(name, {})
            for _, key, _ in HEADLINE:
                if key != "loss_pct":
                    total[key] = total.get(key, 0.0) + float(fig.get(key, 0.0))
    for total in out.values():
        cycled = total.get("cycled_kwh", 0.0)
        total["loss_pct"] = 100.0 * total["conversion_loss_kwh"] / cycled if cycled else 0.0
    return out


def headline(runs: Runs) -> dict[str, dict[str, tuple[float, float]]]:
    """Per controller and figure: (mean, spread) over the days of the suite's sums."""
    days = [day_totals(results) for results in runs.values()]
    first = next(iter(runs.values()), {})
    # Only controllers that ran in every scenario have a suite figure.
    names = [n for n in (days[0] if days else {}) if all(n in per for per in first.values())]
    return {
        name: {
            key: _spread([day[name][key] for day in days if name in day]) for _, key, _ in HEADLINE
        }
        for name in names
    }


def per_scenario(runs: Runs) -> dict[str, dict[str, dict[str, tuple[float, float]]]]:
    """scenario -> controller -> figure -> (mean, spread) over the days."""
    out: dict[str, dict[str, dict[str, tuple[float, float]]]] = {}
    first = next(iter(runs.values()), {})
    for scenario, per in first.items():
        out[scenario] = {}
        for name in per:
            out[scenario][name] = {
                key: _spread(
                    [float(r[scenario][name].get(key, 0.0)) for r in runs.values() if scenario in r]
                )
                for _, key, _ in HEADLINE
            }
    return out


def _ratio(a: float, b: float) -> float:
    return a / b if b > 1e-9 else (1.0 if a <= 1e-9 else float("inf"))


def targets(runs: Runs, variants: Sequence[str]) -> list[dict[str, Any]]:
    """Every target on the suite (scenarios weighted equally) and on every variant."""
    out: list[dict[str, Any]] = []
    for label, name, reference, key, limit in TARGETS:
        scopes: list[tuple[str, list[str]]] = [("suite", [])]
        scopes += [(v, [v]) for v in variants]
        for scope, only in scopes:
            per_day: list[float] = []
            for results in runs.values():
                ratios = [
                    _ratio(per[name][key], per[reference][key])
                    for scenario, per in results.items()
                    if name in per and reference in per and (not only or scenario in only)
                ]
                if ratios:
                    per_day.append(statistics.fmean(ratios))
            if not per_day:
                out.append({"target": label, "scope": scope, "met": None, "detail": "not run"})
                continue
            mean, spread = _spread(per_day)
            margin = limit - mean
            met: bool | None = True if margin > spread else False if margin < -spread else None
            out.append(
                {
                    "target": label,
                    "scope": scope,
                    "met": met,
                    "ratio": round(mean, 4),
                    "spread": round(spread, 4),
                    "margin": round(margin, 4),
                    "detail": (
                        f"{mean:.4f} +/- {spread:.4f} (limit {limit}, margin {margin:+.4f}, "
                        f"days {'/'.join(f'{v:.4f}' for v in per_day)})"
                    ),
                }
            )
    return out


def verdict(met: bool | None) -> str:
    return {True: "MET", False: "MISSED", None: "WITHIN NOISE"}[met]


def _cell(value: tuple[float, float], fmt: str, days: int) -> str:
    mean, spread = value
    text = fmt.format(mean)
    return f"{text} ±{fmt.format(spread)}" if days > 1 else text


def table(runs: Runs, order: Sequence[str], descriptions: Mapping[str, str] | None = None) -> str:
    """Plain text: the suite headline, then one table per scenario (means over the days)."""
    days = len(runs)
    lines = [f"== suite headline: sums over the scenarios, mean ±half-range over {days} day(s)"]
    head = f"{'controller':<11}" + "".join(f"{h:>19}" for h, _, _ in HEADLINE)
    lines.append(head)
    top = headline(runs)
    for name in order:
        if name in top:
            cells = "".join(f"{_cell(top[name][k], f, days):>19}" for _, k, f in HEADLINE)
            flag = "  CIRCULATES" if top[name]["circulation_kwh"][0] > CIRCULATION_FLAG_KWH else ""
            lines.append(f"{name:<11}{cells}{flag}")
    for scenario, per in per_scenario(runs).items():
        desc = f"  ({descriptions[scenario]})" if descriptions and scenario in descriptions else ""
        lines += ["", f"== {scenario}{desc}", head]
        for name in order:
            if name in per:
                cells = "".join(f"{_cell(per[name][k], f, days):>19}" for _, k, f in HEADLINE)
                lines.append(f"{name:<11}{cells}")
    return "\n".join(lines)


def markdown(
    runs: Runs, order: Sequence[str], descriptions: Mapping[str, str] | None = None
) -> str:
    """The same tables in Markdown (for the README's benchmark section)."""
    days = len(runs)
    header = "| controller | " + " | ".join(h for h, _, _ in HEADLINE) + " |"
    rule = "|---|" + "---:|" * len(HEADLINE)
    top = headline(runs)
    lines = [f"**Suite** (sums over the scenarios; mean ± half-range over {days} days)", ""]
    lines += [header, rule]
    for name in order:
        if name in top:
            cells = " | ".join(_cell(top[name][k], f, days) for _, k, f in HEADLINE)
            lines.append(f"| {name} | {cells} |")
    for scenario, per in per_scenario(runs).items():
        desc = f": {descriptions[scenario]}" if descriptions and scenario in descriptions else ""
        lines += ["", f"**{scenario}**{desc}", "", header, rule]
        for name in order:
            if name in per:
                cells = " | ".join(_cell(per[name][k], f, days) for _, k, f in HEADLINE)
                lines.append(f"| {name} | {cells} |")
    return "\n".join(lines)
