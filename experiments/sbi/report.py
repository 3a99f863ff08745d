"""Plots of an SBI run directory: posterior marginal CDFs of every method against the reference."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

__all__ = ["plot_marginals"]

_COLOURS = {"reference": "black", "exact": "grey", "tsnl": "tab:blue", "tsnl-mean": "tab:cyan",
            "snl": "tab:orange", "pmmh": "tab:green", "abc": "tab:red"}  # fmt: skip


def plot_marginals(
    run_dir: str | Path, out_dir: str | Path | None = None, seed: int = 0
) -> list[Path]:
    """One PNG per (experiment, T): each method's marginal posterior CDF of every parameter (its
    49 stored quantiles, levels 0.02..0.98) against the reference's, for ``seed``. Returns the
    paths written."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    run_dir = Path(run_dir)
    out_dir = Path(out_dir) if out_dir is not None else run_dir
    out_dir.mkdir(parents=True, exist_ok=True)
    df = pd.read_csv(run_dir / "table.csv")
    df = df[(df["metric"] == "post_quantile") & (df["seed"] == seed)]
    paths = []
    group_cols = ["experiment", "T"] if "T" in df.columns else ["experiment"]
    for key, g in df.groupby(group_cols, dropna=False):
        exp = key[0] if isinstance(key, tuple) else key
        T = key[1] if isinstance(key, tuple) and len(key) > 1 else None
        params = sorted(g["param"].dropna().unique())
        fig, axes = plt.subplots(1, len(params), figsize=(4.5 * len(params), 3.4), squeeze=False)
        for ax, j in zip(axes[0], params):
            for method, h in g[g["param"] == j].groupby("method"):
                h = h.sort_values("q")
                ax.plot(h["value"], h["q"], label=method, color=_COLOURS.get(method),
                        lw=2.2 if method == "reference" else 1.2)  # fmt: skip
            ax.set_xlabel(f"theta[{int(j)}]")
            ax.set_ylabel("posterior CDF")
        axes[0][0].legend(fontsize=7)
        title = f"{exp}" + (f", T = {int(T)}" if T is not None and T == T else "")
        fig.suptitle(f"{title}: posterior marginal CDFs, seed {seed}")
        fig.tight_layout()
        suffix = f"-T{int(T)}" if T is not None and T == T else ""
        path = out_dir / f"marginals-{exp}{suffix}.png"
        fig.savefig(path, dpi=110)
        plt.close(fig)
        paths.append(path)
    return paths
