"""One PNG per scenario: grid power, each battery's setpoint and actual power, state of charge."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import matplotlib as mpl  # type: ignore[import-not-found,unused-ignore]

mpl.use("Agg")
import matplotlib.pyplot as plt  # type: ignore[import-not-found,unused-ignore]


def plot_scenario(output: dict[str, Any], who: str, directory: Path) -> Path:
    """Plot the trace of controller who (and the seed's grid power beside it)."""
    traces = output["traces"]
    if who not in traces:
        who = next(iter(traces))
    trace = traces[who]
    house = output["house"]
    count = sum(1 for key in trace if key.startswith("soc"))
    fig, axes = plt.subplots(3, 1, figsize=(12, 9), sharex=True, height_ratios=(3, 3, 2))
    grid_ax, power_ax, soc_ax = axes
    grid_ax.plot(house["t"], house["net"], color="0.75", lw=0.6, label="house without batteries")
    if "seed" in traces and who != "seed":
        grid_ax.plot(
            traces["seed"]["t"], traces["seed"]["grid"], lw=0.6, alpha=0.7, label="grid: seed"
        )
    grid_ax.plot(trace["t"], trace["grid"], lw=0.7, color="C3", label=f"grid: {who}")
    grid_ax.axhline(0, color="k", lw=0.5)
    grid_ax.set_ylabel("W (+ import)")
    grid_ax.legend(loc="upper right", fontsize=8)
    figs = output["controllers"][who]
    grid_ax.set_title(
        f"{output['name']} - {who}: loss {figs['conversion_loss_kwh']:.2f} kWh, "
        f"avoidable {figs['avoidable_kwh']:.2f} kWh, {figs['cycled_kwh']:.1f} kWh cycled"
    )
    for i in range(count):
        color = f"C{i}"
        power_ax.plot(trace["t"], trace[f"set{i}"], color=color, lw=0.6, ls="--", alpha=0.8)
        power_ax.plot(trace["t"], trace[f"ac{i}"], color=color, lw=0.8, label=f"battery {i + 1}")
        soc_ax.plot(trace["t"], trace[f"soc{i}"], color=color, lw=1.0, label=f"battery {i + 1}")
    power_ax.axhline(0, color="k", lw=0.5)
    power_ax.set_ylabel("AC W (+ discharge)\n-- setpoint, - actual")
    power_ax.legend(loc="upper right", fontsize=8, ncol=min(count, 6))
    soc_ax.set_ylabel("SoC %")
    soc_ax.set_ylim(0, 100)
    soc_ax.set_xlabel("hour (from midnight of the first day)")
    for ax in axes:
        ax.grid(True, lw=0.3)
    fig.tight_layout()
    path = directory / f"{output['name'].replace('@', '_')}.png"
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
