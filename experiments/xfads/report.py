"""Plots of an XFADS run directory: forecast trajectories against the truth."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

__all__ = ["plot_forecasts"]

_COLOURS = {"truth": "black", "xfads": "tab:blue", "xfads-diag": "tab:orange", "dkf": "tab:green"}


def plot_forecasts(
    run_dir: str | Path, out_dir: str | Path | None = None, seed: int = 0
) -> list[Path]:
    """One PNG per task: the forecast linear predictor of the first test trial (3 neurons) of
    ``seed`` by each method, against the true noiseless one. Returns the paths written."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    run_dir = Path(run_dir)
    out_dir = Path(out_dir) if out_dir is not None else run_dir
    out_dir.mkdir(parents=True, exist_ok=True)
    df = pd.read_csv(run_dir / "table.csv")
    df = df[df["metric"].isin(["forecast_example", "forecast_example_true"]) & (df["seed"] == seed)]
    paths = []
    for exp, g in df.groupby("experiment"):
        neurons = sorted(g["neuron"].dropna().unique())
        fig, axes = plt.subplots(len(neurons), 1, figsize=(7, 2.2 * len(neurons)), sharex=True)
        for ax, j in zip(list(axes) if len(neurons) > 1 else [axes], neurons):
            for method, h in g[g["neuron"] == j].groupby("method"):
                h = h.sort_values("step")
                ax.plot(h["step"], h["value"], label=method, color=_COLOURS.get(method),
                        lw=2.0 if method == "truth" else 1.2)  # fmt: skip
            ax.set_ylabel(f"eta, neuron {int(j)}")
        ax.set_xlabel("bin (forecast window)")
        axes_first = axes[0] if len(neurons) > 1 else axes
        axes_first.legend(fontsize=8, ncol=4)
        axes_first.set_title(f"{exp}: forecast from the first half, test trial 0, seed {seed}")
        fig.tight_layout()
        path = out_dir / f"forecast-{exp}.png"
        fig.savefig(path, dpi=110)
        plt.close(fig)
        paths.append(path)
    return paths
