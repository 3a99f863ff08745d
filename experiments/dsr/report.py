"""Plots of a DSR run: a generated attractor beside the true one, and their power spectra.

``python -m experiments.dsr plot RUN_DIR [--seed S] [--noise N]`` retrains one convSSM cell and
one standard-PLRNN cell with the run's own parameters (the training is deterministic given the
seed, so these are the run's models), free-runs each and writes into RUN_DIR:

- ``attractor.png``: 3-D projections of the true Lorenz trajectory and the two free runs;
- ``spectra.png``: the smoothed power spectra behind D_H, per coordinate.

It prints each retrained model's D_stsp next to the value the run recorded for that cell: equal
values show the plotted models are the run's.
"""

from __future__ import annotations

import tomllib
from pathlib import Path

import jax
import matplotlib
import numpy as np
import pandas as pd

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from ssmbench.dsr import power_spectrum, state_space_divergence  # noqa: E402

from .reconstruction import _free_run, train_cell  # noqa: E402

__all__ = ["plot_run"]

_TRAIN_KEYS = ("T", "tr", "dt", "latent_dim", "hidden_dim", "alpha", "window", "batch_size",
               "steps", "learning_rate", "final_lr_fraction", "train_noise", "unroll", "conv",
               "free_run_steps")  # fmt: skip


def plot_run(run_dir: str | Path, *, seed: int = 0, noise: float = 0.01, n: int = 20000):
    """Write ``attractor.png`` and ``spectra.png`` (module docstring); returns their paths and
    ``{method: (retrained D_stsp, recorded D_stsp)}``."""
    run_dir = Path(run_dir)
    suite = tomllib.loads((run_dir / "suite.toml").read_text())
    params = next(e for e in suite["experiment"] if e["name"] == "lorenz-bold")["params"]
    table = pd.read_csv(run_dir / "table.csv")
    gens, check = {}, {}
    ref = None
    for method in ("convssm", "standard"):
        kw = {k: params[k] for k in _TRAIN_KEYS}
        cell = train_cell(seed=seed, method=method, noise=noise, **kw)
        ref_full = cell["ref"]
        with jax.enable_x64(True):
            obs, _ = _free_run(cell["model"], cell["model"].init_state(cell["d0"]), len(ref_full))
        gen = np.asarray(obs, np.float64)
        rec = table[(table.metric == "d_stsp") & (table.method == method) & (table.seed == seed)
                    & np.isclose(table.noise, noise)].value  # fmt: skip
        ours = state_space_divergence(ref_full, gen) if np.all(np.isfinite(gen)) else np.nan
        check[method] = (float(ours), float(rec.iloc[0]) if len(rec) else np.nan)
        gens[method], ref = gen[:n], ref_full[:n]
    fig = plt.figure(figsize=(12, 4))
    for i, (name, x) in enumerate([("true Lorenz-63", ref), *gens.items()]):
        ax = fig.add_subplot(1, 3, i + 1, projection="3d")
        ax.plot(x[:, 0], x[:, 1], x[:, 2], lw=0.3)
        label = name if i == 0 else f"{name}: D_stsp {check[name][0]:.2f}"
        ax.set_title(label, fontsize=9)
    fig.suptitle(f"Free runs ({n} steps, standardised units), seed {seed}, noise {noise}")
    fig.tight_layout()
    att = run_dir / "attractor.png"
    fig.savefig(att, dpi=110)
    plt.close(fig)
    fig, axes = plt.subplots(1, 3, figsize=(12, 3.2))
    spec = {name: power_spectrum(x) for name, x in [("true", ref), *gens.items()]}
    for j, ax in enumerate(axes):
        for name, p in spec.items():
            ax.semilogy(p[: len(p) // 4, j], lw=1, label=name)
        ax.set_title(f"coordinate {j}")
        ax.set_xlabel("frequency bin")
    axes[0].legend(fontsize=8)
    fig.suptitle("Smoothed power spectra (the D_H input)")
    fig.tight_layout()
    spe = run_dir / "spectra.png"
    fig.savefig(spe, dpi=110)
    plt.close(fig)
    return [att, spe], check
