"""Run summaries: markdown tables, pivoted result blocks, ``summary.md`` and the PNG plots.

A run directory holds ``records.jsonl`` (one JSON line per finished cell, appended and fsynced),
``env.json`` (provenance), ``suite.toml`` (the suite as run), ``run.json`` (the invocation),
``table.csv`` (long format, one row per (cell, metric)) and ``summary.md`` (pivoted tables and
one verdict per check), plus PNG plots where the suite declares them.
"""

from __future__ import annotations

import math
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from .provenance import PROVENANCE_COLUMNS
from .records import atomic_write

__all__ = ["markdown_table", "pivot_experiment", "summary_blocks", "write_summary", "write_plots"]


def _fmt(v: Any) -> str:
    """A table cell as text: four significant digits for floats, as is otherwise."""
    if isinstance(v, float):
        if math.isnan(v):
            return "nan"
        if v.is_integer() and abs(v) < 1e9:
            return str(int(v))
        return f"{v:.4g}"
    return str(v)


def markdown_table(df: pd.DataFrame) -> str:
    """``df`` as a GitHub-flavoured markdown table."""
    cols = [str(c) for c in df.columns]
    lines = ["| " + " | ".join(cols) + " |", "|" + "|".join("---" for _ in cols) + "|"]
    for _, row in df.iterrows():
        lines.append("| " + " | ".join(_fmt(v) for v in row.to_list()) + " |")
    return "\n".join(lines)


#: Columns of the long table that are not parameters or extra result columns.
META_COLUMNS = _META_COLS = {
    "experiment",
    "cell_id",
    "seed",
    "metric",
    "value",
    "status",
    "status_detail",
    "wall_s",
    "quick",
    *PROVENANCE_COLUMNS,
}


def pivot_experiment(table: pd.DataFrame, experiment: str) -> pd.DataFrame:
    """Metrics as columns, one row per grid point (and extra column values), mean ± std over seeds."""
    df = table[(table["experiment"] == experiment) & (table["metric"] != "")]
    if df.empty:
        return pd.DataFrame()
    keys = [c for c in df.columns if c not in _META_COLS and df[c].nunique(dropna=False) > 1]
    keys = [k for k in keys if df[k].notna().any()]

    def cell(s: pd.Series) -> str:
        v = s.astype(float).to_numpy()
        if len(v) == 1:
            return _fmt(float(v[0]))
        return f"{_fmt(float(np.mean(v)))} ± {_fmt(float(np.std(v, ddof=1)))}"

    g = df.groupby([*keys, "metric"], dropna=False, sort=False)["value"].agg(cell)
    if keys:
        wide = g.unstack("metric")
        wide.columns = [f"{c} (metric)" if c in keys else c for c in wide.columns]
        wide = wide.reset_index()
    else:
        wide = g.to_frame().T.reset_index(drop=True)
    wide.columns = [str(c) for c in wide.columns]
    return wide


SUMMARY_MAX_ROWS = 40  #: a pivoted block longer than this is left to table.csv


def summary_blocks(
    table: pd.DataFrame, experiment: str, max_rows: int = SUMMARY_MAX_ROWS
) -> list[str]:
    """The summary's tables for one experiment, as markdown blocks.

    Rows are grouped by which extra columns they fill (final metrics, learning curves, per-layer
    rows, ...), and each group is pivoted on its own, so that a curve's ``step`` column does not
    spread the final metrics over hundreds of mostly empty rows. A group whose pivot has more than
    ``max_rows`` rows is named, with its size, and left to table.csv.
    """
    df = table[(table["experiment"] == experiment) & (table["metric"] != "")]
    if df.empty:
        return ["(no finished cells)"]
    extra = [c for c in df.columns if c not in _META_COLS and df[c].notna().any()]
    filled = [df[c].notna() for c in extra]
    groups = [g for _, g in df.groupby(filled, sort=False)] if extra else [df]
    blocks = []
    for g in groups:
        piv = pivot_experiment(g, experiment)
        if not len(piv):
            continue
        if len(piv) <= max_rows:
            blocks.append(markdown_table(piv))
            continue
        metrics = ", ".join(f"`{m}`" for m in dict.fromkeys(g["metric"]))
        by = [c for c in piv.columns if c not in set(g["metric"])]
        blocks.append(
            f"({len(piv)} rows of {metrics} by {', '.join(by)}: too long for the summary; "
            "see table.csv)"
        )
    return blocks or ["(no finished cells)"]


_STATUSES = ("CONFIRMED", "REFUTED", "INCONCLUSIVE")


def _commit_lines(cells: pd.DataFrame) -> list[str]:
    """A header line naming every commit that contributed cells, when there is more than one."""
    if not len(cells) or "git_commit" not in cells.columns:
        return []
    counts = cells["git_commit"].fillna("unknown").astype(str).value_counts()
    if len(counts) < 2:
        return []
    parts = ", ".join(f"`{c[:12]}` ({n} cells)" for c, n in counts.items())
    return [f"- **rows from several commits** (a resumed run): {parts}"]


def write_summary(
    path: str | Path,
    *,
    suite_name: str,
    description: str,
    env: dict[str, Any],
    table: pd.DataFrame,
    verdicts: list[Any],
    expected_cells: int,
    experiments: list[str],
    note: str = "",
) -> str:
    """Write summary.md: header, verdicts, and per-experiment pivoted tables. Returns the text."""
    cells = table.drop_duplicates("cell_id") if len(table) else table
    counts = cells["status"].value_counts().to_dict() if len(cells) else {}
    lines = [
        f"# {suite_name}",
        "",
        description,
        "",
        f"- commit `{env.get('git_commit', '?')[:12]}`{' (dirty)' if env.get('git_dirty') else ''}, "
        f"jax {env.get('jax')}, jaxlib {env.get('jaxlib')}, device {env.get('device')} "
        f"×{env.get('device_count')}, CPU {env.get('cpu')}, date {env.get('date')}",
        f"- cells: {len(cells)} of {expected_cells} recorded; "
        + ", ".join(f"{v} {k}" for k, v in sorted(counts.items())),
        *_commit_lines(cells),
        *([f"- {note}"] if note else []),
        "",
        "## Verdicts",
        "",
    ]
    if verdicts:
        tally = {s: sum(v.status == s for v in verdicts) for s in _STATUSES}
        lines += [", ".join(f"{n} {s}" for s, n in tally.items()), ""]
        lines += [f"- {v.line()}" for v in verdicts]
    else:
        lines.append("(no checks)")
    for name in experiments:
        lines += ["", f"## {name}", ""]
        lines.append("\n\n".join(summary_blocks(table, name)))
        bad = cells[(cells["experiment"] == name) & (cells["status"] != "ok")] if len(cells) else []
        if len(bad):
            lines += ["", "Cells not ok:", ""]
            for _, r in bad.iterrows():
                lines.append(
                    f"- `{r['cell_id']}` seed {r['seed']}: {r['status']}: {r['status_detail']}"
                )
    text = "\n".join(lines) + "\n"
    atomic_write(path, text)
    return text


def write_plots(run_dir: str | Path, plots: list[Any], table: pd.DataFrame) -> list[Path]:
    """Draw each declared plot as PNG (mean over seeds, ±std bars). Needs matplotlib (extra `plot`)."""
    if not plots:
        return []
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out = []
    for i, p in enumerate(plots):
        df = table[(table["experiment"] == p.experiment) & (table["metric"] == p.y)]
        df = df[df["status"] == "ok"]
        for k, v in p.where.items():
            if k in df.columns:
                wanted = v if isinstance(v, list) else [v]
                df = df[df[k].isin(wanted)]
        if p.logy:
            df = df[df["value"] > 0]
        if p.logx and p.x in df.columns:
            df = df[pd.to_numeric(df[p.x], errors="coerce") > 0]
        if df.empty:
            sys.stderr.write(
                f"note: plot {i} ({p.experiment}: {p.y} vs {p.x}) has no data to draw\n"
            )
            continue
        try:
            out.append(_draw_plot(plt, p, i, df, run_dir))
        except Exception as e:  # a plot must never lose a finished run's table and summary
            plt.close("all")
            sys.stderr.write(f"note: plot {i} ({p.experiment}: {p.y} vs {p.x}) failed: {e!r}\n")
    return out


def _draw_plot(plt, p: Any, i: int, df: pd.DataFrame, run_dir: str | Path) -> Path:
    """Draw one declared plot of the rows ``df`` (already selected) as a PNG; its path."""
    fig, ax = plt.subplots(figsize=(6, 4))
    groups = df.groupby(p.hue, sort=True) if p.hue and p.hue in df.columns else [(None, df)]
    # a categorical x (e.g. a data setting) is drawn at 0..k-1 in first-appearance order,
    # each hue group shifted a little so that error bars do not overlap
    categorical = pd.to_numeric(df[p.x], errors="coerce").isna().any()
    cats = list(dict.fromkeys(df[p.x].astype(str))) if categorical else []
    n_groups = len(groups) if not isinstance(groups, list) else 1
    for j, (label, g) in enumerate(groups):
        s = g.groupby(p.x)["value"].agg(["mean", "std"]).sort_index()
        if categorical:
            shift = 0.3 * (j - (n_groups - 1) / 2) / max(n_groups, 1)
            xs = np.array([cats.index(str(v)) for v in s.index], float) + shift
        else:
            xs = s.index.to_numpy(dtype=float)
        ax.errorbar(
            xs,
            s["mean"],
            yerr=s["std"].fillna(0.0),
            marker="o",
            linestyle="none" if categorical else "-",
            capsize=3,
            label=None if label is None else f"{p.hue}={label}",
        )
    if categorical:
        ax.set_xticks(range(len(cats)), cats, rotation=20, fontsize=8)
    if p.logx and not categorical:
        ax.set_xscale("log")
    if p.logy:
        ax.set_yscale("log")
    ax.set_xlabel(p.x)
    ax.set_ylabel(p.y)
    where = ", ".join(f"{k}={v}" for k, v in p.where.items())
    ax.set_title(p.title or f"{p.experiment}: {p.y} vs {p.x}" + (f" ({where})" if where else ""))
    if p.hue:
        ax.legend(fontsize=8)
    ax.grid(True, which="both", alpha=0.3)
    fig.tight_layout()
    name = f"plot{i}-{p.experiment}-{p.y}-vs-{p.x}.png".replace("/", "_")
    path = Path(run_dir) / name
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
