"""Run directories: provenance, records -> long-format tables, summaries and plots.

A run directory holds ``records.jsonl`` (one JSON line per finished cell, appended and fsynced),
``env.json`` (provenance), ``suite.toml`` (the suite as run), ``run.json`` (the invocation),
``table.csv`` (long format, one row per (cell, metric)) and ``summary.md`` (pivoted tables and
one verdict per check), plus PNG plots where the suite declares them.
"""

from __future__ import annotations

import datetime as _dt
import json
import math
import os
import platform
import subprocess
import sys
import tempfile
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from . import __version__

__all__ = [
    "capture_env",
    "git_info",
    "atomic_write",
    "read_records",
    "records_to_table",
    "write_summary",
    "markdown_table",
    "write_plots",
    "PROVENANCE_COLUMNS",
]

PROVENANCE_COLUMNS = ["suite", "git_commit", "git_dirty", "jax", "jaxlib", "device", "date"]


def utc_now() -> str:
    return _dt.datetime.now(_dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _version(pkg: str) -> str | None:
    try:
        return metadata.version(pkg)
    except metadata.PackageNotFoundError:
        return None


def git_info(start: str | Path | None = None) -> dict[str, Any]:
    """Commit and dirty flag of the repository holding ``start`` (default: this package)."""
    where = Path(start) if start else Path(__file__).resolve().parent
    try:
        commit = subprocess.run(
            ["git", "-C", str(where), "rev-parse", "HEAD"],
            capture_output=True,
            text=True,
            check=True,
            timeout=10,
        ).stdout.strip()
        dirty = bool(
            subprocess.run(
                ["git", "-C", str(where), "status", "--porcelain", "--untracked-files=no"],
                capture_output=True,
                text=True,
                check=True,
                timeout=10,
            ).stdout.strip()
        )
        return {"git_commit": commit, "git_dirty": dirty}
    except (OSError, subprocess.SubprocessError):
        return {"git_commit": "unknown", "git_dirty": None}


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def capture_env() -> dict[str, Any]:
    """Provenance of this process: versions, device, CPU, git commit, date."""
    import jax

    devices = jax.devices()
    d0 = devices[0]
    env = {
        "date": utc_now(),
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "ssmbench": __version__,
        "jax": jax.__version__,
        "jaxlib": _version("jaxlib"),
        **{p: _version(p) for p in ("equinox", "optax", "diffrax", "signax", "numpy", "pandas")},
        "backend": jax.default_backend(),
        "device": f"{d0.platform}:{getattr(d0, 'device_kind', d0.platform)}",
        "device_count": len(devices),
        "cpu": _cpu_model(),
        "cpu_count": os.cpu_count(),
        "x64": bool(jax.config.read("jax_enable_x64")),
        **git_info(),
    }
    return env


def atomic_write(path: str | Path, text: str) -> None:
    """Write a file so that readers see either the old or the new content, never a torn one."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def read_records(path: str | Path) -> list[dict[str, Any]]:
    """Records of a run; a torn last line (a crash mid-write) is skipped."""
    p = Path(path)
    if not p.exists():
        return []
    out = []
    for line in p.read_text(encoding="utf-8").splitlines():
        line = line.strip()
        if not line:
            continue
        try:
            out.append(json.loads(line))
        except json.JSONDecodeError:
            continue
    return out


def _cellvalue(v: Any) -> Any:
    if isinstance(v, (list, dict)):
        return json.dumps(v, sort_keys=True)
    return v


def records_to_table(records: list[dict[str, Any]]) -> pd.DataFrame:
    """Long format: one row per (cell, metric), with parameters, seed, status and provenance.

    A cell that errored (no metrics) keeps one row with an empty metric and NaN value, so that
    its status is visible in the table.
    """
    rows: list[dict[str, Any]] = []
    for r in records:
        base = {
            "experiment": r["experiment"],
            "cell_id": r["cell_id"],
            "seed": r["seed"],
            **{k: _cellvalue(v) for k, v in {**r["params"], **r["point"]}.items()},
        }
        prov = {
            "suite": r.get("suite"),
            "status_detail": r.get("error"),
            "wall_s": r.get("wall_s"),
            "quick": r.get("quick"),
            **{k: r.get("provenance", {}).get(k) for k in PROVENANCE_COLUMNS if k != "suite"},
        }
        metrics = r.get("rows") or []
        if not metrics:
            rows.append({**base, "metric": "", "value": math.nan, "status": r["status"], **prov})
        for m in metrics:
            extra = {k: _cellvalue(v) for k, v in m.items() if k not in ("metric", "value")}
            rows.append(
                {
                    **base,
                    **extra,
                    "metric": m["metric"],
                    "value": m["value"],
                    "status": r["status"],
                    **prov,
                }
            )
    df = pd.DataFrame(rows)
    if df.empty:
        return pd.DataFrame(
            columns=[
                "experiment",
                "cell_id",
                "seed",
                "metric",
                "value",
                "status",
                *PROVENANCE_COLUMNS,
            ]
        )
    df["value"] = pd.to_numeric(df["value"], errors="coerce").astype(float)
    return df


def _fmt(v: Any) -> str:
    if isinstance(v, float):
        if math.isnan(v):
            return "nan"
        if v.is_integer() and abs(v) < 1e9:
            return str(int(v))
        return f"{v:.4g}"
    return str(v)


def markdown_table(df: pd.DataFrame) -> str:
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
        "",
        "## Verdicts",
        "",
    ]
    if verdicts:
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
        fig, ax = plt.subplots(figsize=(6, 4))
        groups = df.groupby(p.hue, sort=True) if p.hue and p.hue in df.columns else [(None, df)]
        for label, g in groups:
            s = g.groupby(p.x)["value"].agg(["mean", "std"]).sort_index()
            ax.errorbar(
                s.index.to_numpy(dtype=float),
                s["mean"],
                yerr=s["std"].fillna(0.0),
                marker="o",
                capsize=3,
                label=None if label is None else f"{p.hue}={label}",
            )
        if p.logx:
            ax.set_xscale("log")
        if p.logy:
            ax.set_yscale("log")
        ax.set_xlabel(p.x)
        ax.set_ylabel(p.y)
        where = ", ".join(f"{k}={v}" for k, v in p.where.items())
        ax.set_title(
            p.title or f"{p.experiment}: {p.y} vs {p.x}" + (f" ({where})" if where else "")
        )
        if p.hue:
            ax.legend(fontsize=8)
        ax.grid(True, which="both", alpha=0.3)
        fig.tight_layout()
        name = f"plot{i}-{p.experiment}-{p.y}-vs-{p.x}.png".replace("/", "_")
        path = Path(run_dir) / name
        fig.savefig(path, dpi=110)
        plt.close(fig)
        out.append(path)
    return out
