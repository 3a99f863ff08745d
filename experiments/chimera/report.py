"""Plots of a Chimera run: the ablation ratios, and forecasts against the truth.

``python -m experiments.chimera plot RUN_DIR`` writes into RUN_DIR:

- ``ablation_ratios.csv`` and ``ablation-ratios.png``: ``mse_ratio_vs_full``, each method's
  test MSE over Chimera's on the same seed and setting;
- ``forecast-seasonal.png``: one-step forecasts of Chimera and of its no-seasonal ablation
  against the truth on the last 96 test steps of variate 0 (seed 0, ``seasonal-k0.3``),
  retrained here with the run's own parameters (the training is deterministic given the seed).
"""

from __future__ import annotations

import tomllib
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from .data import chimera_series, splits  # noqa: E402
from .forecast import SETTINGS, _predict_jit, fit_forecaster  # noqa: E402

__all__ = ["ablation_ratios", "plot_forecast", "plot_run"]


def ablation_ratios(run_dir: str | Path) -> pd.DataFrame:
    """``mse_ratio_vs_full`` per (setting, method, seed) from the run's table; also a CSV."""
    run_dir = Path(run_dir)
    df = pd.read_csv(run_dir / "table.csv")
    df = df[(df.experiment == "forecast") & (df.metric == "mse") & (df.status == "ok")]
    mse = df.pivot_table(index=["setting", "seed"], columns="method", values="value")
    ratios = mse.div(mse["chimera"], axis=0).drop(columns="chimera")
    out = ratios.stack().rename("mse_ratio_vs_full").reset_index()
    out.to_csv(run_dir / "ablation_ratios.csv", index=False)
    return out


def _plot_ratios(ratios: pd.DataFrame, path: Path) -> None:
    settings = list(SETTINGS)
    methods = [m for m in ("no_seasonal", "no_variate", "mamba", "var") if m in set(ratios.method)]
    fig, ax = plt.subplots(figsize=(8, 4))
    width = 0.8 / max(len(methods), 1)
    for j, m in enumerate(methods):
        for i, s in enumerate(settings):
            vals = ratios[(ratios.method == m) & (ratios.setting == s)].mse_ratio_vs_full
            xpos = i + (j - (len(methods) - 1) / 2) * width
            if len(vals):
                ax.bar(xpos, vals.median(), width, color=f"C{j}", label=m if i == 0 else None)
                ax.scatter([xpos] * len(vals), vals, color="k", s=8, zorder=3)
    ax.axhline(1.0, color="grey", lw=0.8)
    ax.set_xticks(range(len(settings)), settings)
    ax.set_yscale("log")
    ax.set_ylabel("test MSE / Chimera's (median; dots: seeds)")
    ax.set_title("Ablations and baselines relative to the full Chimera")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def plot_forecast(run_dir: str | Path, *, seed: int = 0, setting: str = "seasonal-k0.3") -> Path:
    """Retrain Chimera and its no-seasonal ablation (the run's parameters); plot forecasts."""
    run_dir = Path(run_dir)
    suite = tomllib.loads((run_dir / "suite.toml").read_text())
    exp = next(e for e in suite["experiment"] if e["name"] == "forecast")
    p = dict(exp["params"])
    kappa, seasonal, trend = SETTINGS[setting]
    data = chimera_series(
        seed, V=p["V"], T=p["T"], kappa=kappa, seasonal=seasonal, trend=trend,
        period=p["period"], season_amp=p["season_amp"],
    )  # fmt: skip
    n_tr, _ = splits(p["T"])
    keys = ("d_model", "d_state", "depth", "window", "batch_size", "steps", "learning_rate",
            "grad_clip")  # fmt: skip
    fig, ax = plt.subplots(figsize=(9, 3.5))
    t = np.arange(p["T"] - 96, p["T"])
    ax.plot(t, data.x[t, 0], "k", lw=1.5, label="truth")
    for method, color in (("chimera", "C0"), ("no_seasonal", "C1")):
        model, _ = fit_forecaster(method, data.x, n_tr, seed=seed, **{k: p[k] for k in keys})
        pred = np.asarray(_predict_jit(model, np.asarray(data.x, np.float32)))
        ax.plot(t, pred[t - 1, 0], color=color, lw=1, label=f"{method} (one step ahead)")
    ax.set_xlabel("t (test segment)")
    ax.set_ylabel("variate 0 (standardised)")
    ax.set_title(f"One-step forecasts, {setting}, seed {seed}")
    ax.legend(fontsize=8)
    fig.tight_layout()
    path = run_dir / "forecast-seasonal.png"
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def plot_run(run_dir: str | Path) -> list[Path]:
    """Every plot of this module for one run directory; the paths written."""
    run_dir = Path(run_dir)
    ratios = ablation_ratios(run_dir)
    _plot_ratios(ratios, run_dir / "ablation-ratios.png")
    return [
        run_dir / "ablation_ratios.csv",
        run_dir / "ablation-ratios.png",
        plot_forecast(run_dir),
    ]
