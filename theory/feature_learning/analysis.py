"""Analyses of a run's ``table.csv``: slopes over sub-ranges of widths and the figures."""

from __future__ import annotations

import numpy as np

from .coordinates import DIAGNOSTICS, QUANTITIES
from .parameterizations import PARAMETERIZATIONS
from .training import fit_slope


def range_slopes(df, lo: tuple[int, int], hi: tuple[int, int]):
    """Slopes of RMS against N_u over two sub-ranges of widths, from the per-init rows
    (``rms_<q>_init``, written with ``record_inits``) of N_u sweeps in a run's table.

    ``lo`` and ``hi`` are inclusive (min, max) width ranges. Returns two DataFrames:

    - ``entries``: per (optimizer, discretisation, sweep, quantity, layer, step): ``s_lo``, ``s_hi``
      (mean over inits of the per-init least-squares slope) and their standard errors across inits
      ``se_lo``, ``se_hi``;
    - ``means``: per (optimizer, discretisation, sweep, quantity): the same averaged over layers
      and steps (steps >= 1 for the updates dx, dy), the standard error taken across inits of the
      per-init averages, and ``max_abs_hi`` = max over entries of |s_hi|.
    """
    import pandas as pd

    d = df[
        df["metric"].astype(str).str.endswith("_init")
        & df["sweep"].astype(str).str.startswith("n_u")
    ]
    if not len(d):
        raise ValueError("no per-init rows (rms_<q>_init): run with record_inits = true")
    d = d.assign(quantity=d["metric"].str[len("rms_") : -len("_init")])
    d = d[d["quantity"].isin(QUANTITIES) & ~((d["quantity"].isin(("dx", "dy"))) & (d["step"] == 0))]
    keys = ["optimizer", "discretisation", "sweep", "quantity", "layer", "step"]
    per_init = []
    for k, g in d.groupby([*keys, "init"]):
        row = dict(zip([*keys, "init"], k))
        for name, (a, b) in (("lo", lo), ("hi", hi)):
            sel = g[(g["n_u"] >= a) & (g["n_u"] <= b)].sort_values("n_u")
            if sel["n_u"].nunique() < 2:
                raise ValueError(f"range {name} = {(a, b)} holds fewer than two widths")
            row[f"s_{name}"] = fit_slope(sel["n_u"].to_numpy(), sel["value"].to_numpy())
        per_init.append(row)
    pi = pd.DataFrame(per_init)

    def se(x):
        """Standard error of the mean of ``x`` (NaN for a single value)."""
        return float(x.std(ddof=1) / np.sqrt(len(x))) if len(x) > 1 else float("nan")

    entries = (
        pi.groupby(keys)
        .agg(s_lo=("s_lo", "mean"), se_lo=("s_lo", se), s_hi=("s_hi", "mean"), se_hi=("s_hi", se))
        .reset_index()
    )
    qkeys = ["optimizer", "discretisation", "sweep", "quantity"]
    avg = pi.groupby([*qkeys, "init"])[["s_lo", "s_hi"]].mean().reset_index()
    means = avg.groupby(qkeys).agg(
        s_lo=("s_lo", "mean"), se_lo=("s_lo", se), s_hi=("s_hi", "mean"), se_hi=("s_hi", se)
    )
    means["max_abs_hi"] = entries.groupby(qkeys)["s_hi"].apply(lambda s: float(s.abs().max()))
    return entries, means.reset_index()


def plot_run(run_dir: str, out_dir: str | None = None, *, all_layers: bool = False) -> list[str]:
    """Draw the coordinate-check grids (log RMS vs log width, one panel per quantity and
    parameterisation, one line per step, mean over seeds; the last layer, or every layer with
    ``all_layers``) and the LR-transfer plot (loss vs LR per width, one panel per
    parameterisation) from ``run_dir``/table.csv."""
    import matplotlib

    matplotlib.use("Agg")
    from pathlib import Path

    import matplotlib.pyplot as plt
    import pandas as pd

    out = Path(out_dir or run_dir)
    df = pd.read_csv(Path(run_dir) / "table.csv")
    df = df[df["experiment"] == "feature-learning"]
    written = []
    coord = df[df["metric"].astype(str).str.startswith("rms_")]
    params = [p for p in PARAMETERIZATIONS if p in set(coord["parameterisation"])]
    quantities = list(QUANTITIES + DIAGNOSTICS)
    for (opt, disc, sweep), g in coord.groupby(["optimizer", "discretisation", "sweep"]):
        axis = "n_u" if sweep.startswith("n_u") else "n_x"
        layers = sorted(g["layer"].dropna().unique())
        for layer in layers if all_layers else layers[-1:]:
            fig, axes = plt.subplots(
                len(params), len(quantities), figsize=(3.0 * len(quantities), 2.6 * len(params)),
                squeeze=False,
            )  # fmt: skip
            gl = g[g["layer"] == layer]
            for i, p in enumerate(params):
                for j, q in enumerate(quantities):
                    ax = axes[i, j]
                    sel = gl[(gl["parameterisation"] == p) & (gl["metric"] == f"rms_{q}")]
                    for step, gs in sel.groupby("step"):
                        s = gs.groupby(axis)["value"].mean().sort_index()
                        ax.plot(
                            s.index,
                            s.values,
                            marker="o",
                            color=f"C{int(step)}",
                            label=f"step {int(step)}",
                        )
                    ax.set_xscale("log", base=2)
                    ax.set_yscale("log")
                    ax.set_title(f"{p}: {q}", fontsize=9)
                    ax.grid(True, which="both", alpha=0.3)
                    if i == len(params) - 1:
                        ax.set_xlabel(axis)
            axes[0, 0].legend(fontsize=7)
            fig.suptitle(
                f"coordinate check: RMS vs {axis} ({opt}, {disc}, {sweep}, layer {int(layer)})"
            )
            fig.tight_layout()
            name = f"coord-{opt}-{disc}-{sweep.replace('@', '-at-').replace('=', '')}-layer{int(layer)}.png"
            fig.savefig(out / name, dpi=90)
            plt.close(fig)
            written.append(str(out / name))
    tr = df[df["metric"] == "loss"]
    if len(tr):
        tparams = [p for p in PARAMETERIZATIONS if p in set(tr["parameterisation"])]
        fig, axes = plt.subplots(1, len(tparams), figsize=(4.5 * len(tparams), 3.6), squeeze=False)
        for ax, p in zip(axes[0], tparams):
            for n_u, g in tr[tr["parameterisation"] == p].groupby("n_u"):
                s = g.groupby("eta")["value"].mean().sort_index()
                ax.plot(s.index, s.values, marker="o", label=f"n_u={int(n_u)}")
            ax.set_xscale("log")
            ax.set_title(f"{p}: eval loss vs base LR (Adam)", fontsize=9)
            ax.set_xlabel("base learning rate")
            ax.set_ylabel("final eval loss (diverged = 10)")
            ax.set_ylim(top=min(float(tr["value"].max()) + 0.1, 4.0))
            ax.grid(True, which="both", alpha=0.3)
            ax.legend(fontsize=7)
        fig.tight_layout()
        fig.savefig(out / "lr-transfer.png", dpi=90)
        plt.close(fig)
        written.append(str(out / "lr-transfer.png"))
    return written
