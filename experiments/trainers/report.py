"""Reports of a trainers run: held-out curves against training wall time, and comparison tables.

``python -m experiments.trainers plot|table RUN_DIR [OUT_DIR]`` (:mod:`experiments.trainers.__main__`).
"""

from __future__ import annotations

import json
import os

import numpy as np
import pandas as pd

from ssmbench.prob import METHODS

__all__ = ["plot_curves", "comparison_table"]


# -------------------------------------------------------------------------------------------------
# plots: held-out metric vs training wall time, per task and method
# -------------------------------------------------------------------------------------------------
def plot_curves(run_dir: str, out_dir: str | None = None) -> list[str]:
    """Draw ``curve_heldout`` against ``train_s`` (training wall time) per method (one PNG per
    experiment and grid point, seeds as separate thin lines) from a run directory's
    ``records.jsonl``; the paths of the PNGs."""
    import matplotlib  # optional (the ``plot`` extra)

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    # read the rows from records.jsonl: the table's ``wall_s`` column is the runner's cell time
    rows = []
    with open(os.path.join(run_dir, "records.jsonl")) as fh:
        for line in fh:
            rec = json.loads(line)
            for r in rec["rows"]:
                if r["metric"] == "curve_heldout":
                    t = r.get("train_s", r.get("wall_s"))
                    rows.append({**rec["point"], **r, "seed": rec["seed"], "train_s": t,
                                 "experiment": rec["experiment"]})  # fmt: skip
    df = pd.DataFrame(rows)
    if df.empty:
        return []
    out_dir = out_dir or run_dir
    paths = []
    for exp, g in df.groupby("experiment"):
        point_cols = [c for c in ("T", "N") if c in g.columns and g[c].nunique(dropna=True) > 1]
        groups = g.groupby(point_cols) if point_cols else [((), g)]
        for point, gp in groups:
            point = point if isinstance(point, tuple) else (point,)
            fig, ax = plt.subplots(figsize=(7, 4.5))
            # up to 13 methods: 20 distinct colours, PVMC drawn last and thicker
            methods = sorted(gp["method"].unique(), key=lambda m: (m == "pvmc", m))
            cmap = plt.get_cmap("tab20")
            for i, method in enumerate(methods):
                gm = gp[gp["method"] == method]
                pv = method == "pvmc"
                for j, (_, gs) in enumerate(gm.groupby("seed")):
                    gs = gs.sort_values("train_s")
                    ax.plot(gs["train_s"], gs["value"].astype(float), alpha=0.9 if pv else 0.7,
                            color="black" if pv else cmap(i % 20), lw=2.0 if pv else 1.0,
                            marker=".", label=method if j == 0 else None)  # fmt: skip
            ax.set_xscale("symlog", linthresh=0.1)
            ax.set_xlabel("training wall time (s, compile and evaluation excluded)")
            ax.set_ylabel("held-out metric per step (nats)")
            label = ", ".join(f"{c}={v}" for c, v in zip(point_cols, point))
            ax.set_title(f"{exp} {label}".strip(), fontsize=9)
            ax.legend(fontsize=8)
            fig.tight_layout()
            name = f"{exp}" + "".join(f"_{c}{v}" for c, v in zip(point_cols, point)) + ".png"
            path = os.path.join(out_dir, name)
            fig.savefig(path, dpi=100)
            plt.close(fig)
            paths.append(path)
    return paths


_TABLE_METRICS = {
    "lgssm": ["gap", "heldout_ll", "smoothed_rmse", "heldout_bound", "time_per_step", "time_to_target", "steps"],
    "lgssm-long": ["gap", "heldout_ll", "smoothed_rmse", "heldout_bound", "time_per_step", "time_to_target", "steps"],
    "sv": ["heldout_smc", "true_bound", "heldout_bound", "phi", "sigma", "time_per_step", "time_to_target", "steps"],
    "lv": ["test_state_mse", "heldout_smc", "heldout_bound", "time_per_step", "time_to_target", "steps"],
    "lv-paper": ["test_state_mse", "heldout_smc", "heldout_bound", "time_per_step", "time_to_target", "steps"],
    "chorales": ["heldout_nll", "heldout_bound", "time_per_step", "time_to_target", "steps"],
}  # fmt: skip


def comparison_table(run_dir: str) -> str:
    """Markdown tables (mean ± std over seeds, per experiment and method) of a run's key metrics,
    and the speed ratios per (T, N)."""
    df = pd.read_csv(os.path.join(run_dir, "table.csv"))
    df = df[df["metric"] != "curve_heldout"]
    df = df.assign(value=pd.to_numeric(df["value"], errors="coerce"))
    out = []
    for exp, metrics in _TABLE_METRICS.items():
        g = df[(df["experiment"] == exp) & df["metric"].isin(metrics)]
        if g.empty:
            continue
        stats = g.groupby(["method", "metric"])["value"].agg(["mean", "std", "count"])
        present = set(stats.index.get_level_values(0))
        # the library's methods in their order, then the same-proposal ablations (fivo@conv, ...)
        methods = [m for m in METHODS if m in present] + sorted(present - set(METHODS))
        out.append(f"**{exp}** (mean ± std over seeds; n = seeds)\n")
        out.append("| method | " + " | ".join(metrics) + " |")
        out.append("|---" * (len(metrics) + 1) + "|")
        for m in methods:
            cells = []
            for k in metrics:
                if (m, k) in stats.index:
                    r = stats.loc[(m, k)]
                    sd = "" if not np.isfinite(r["std"]) else f" ± {r['std']:.3g}"
                    cells.append(f"{r['mean']:.4g}{sd} (n={int(r['count'])})")
                else:
                    cells.append("—")
            out.append(f"| {m} | " + " | ".join(cells) + " |")
        pb = df[(df["experiment"] == exp) & (df["metric"] == "pvmc_minus_baseline")]
        if pb.empty:  # runs before issue #19 have only the FIVO pairing
            pb = df[(df["experiment"] == exp) & (df["metric"] == "pvmc_minus_fivo")]
        if len(pb):
            out.append(
                "\nPVMC − baseline of the held-out metric (paired by seed; positive: PVMC better):\n"
            )
            for b, g in pb.groupby("method", sort=False):
                v = g["value"]
                sd = f", std {v.std():.4f}" if len(v) > 1 else ""
                out.append(f"- {b.replace('pvmc-', 'pvmc − ', 1)} (paired, per seed): "
                           f"{', '.join(f'{x:.4f}' for x in v)}; mean {v.mean():.4f}{sd}")  # fmt: skip
        out.append("")
    for exp in ("speed", "speed-long"):
        out += _speed_table(df[df["experiment"] == exp], exp)
    return "\n".join(out)


def _speed_table(sp: pd.DataFrame, exp: str) -> list[str]:
    """Per (T, N, method): seconds per step, how many seeds reached the target, the time and
    steps to it, and the ratios baseline / PVMC (medians over seeds)."""
    if sp.empty:
        return []
    out = [f"**{exp}** (LGSSM; medians over seeds; ratios = baseline / PVMC, > 1: PVMC faster)\n",
           "| T | N | method | s/step | reached target | time to target (s) | steps to target | ratio s/step | ratio time to target |",  # noqa: E501
           "|---" * 9 + "|"]  # fmt: skip

    def val(g, metric, method, how="median"):
        """``how`` of ``metric`` for ``method`` in the group ``g`` (— when absent)."""
        v = g[(g["metric"] == metric) & (g["method"] == method)]["value"]
        if not len(v):
            return "—"
        return f"{int(v.sum())}/{len(v)}" if how == "count" else f"{v.median():.4g}"

    for (T, N), g in sp.groupby(["T", "N"]):
        names = [m for m in g["method"].unique() if "/" not in m and m != "all"]
        for m in names:
            r = f"{m}/pvmc"
            out.append(
                f"| {T} | {N} | {m} | {val(g, 'time_per_step', m)} | "
                f"{val(g, 'reached_target', m, 'count')} | {val(g, 'time_to_target', m)} | "
                f"{val(g, 'steps_to_target', m)} | {val(g, 'ratio_time_per_step', r)} | "
                f"{val(g, 'ratio_time_to_target', r)} |"
            )
    out.append("")
    return out
