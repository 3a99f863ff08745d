"""Run records: atomic writes, ``records.jsonl`` and the long-format table built from it."""

from __future__ import annotations

import json
import math
import os
import tempfile
from pathlib import Path
from typing import Any

import pandas as pd

from .provenance import PROVENANCE_COLUMNS

__all__ = ["atomic_write", "read_records", "records_to_table"]


def atomic_write(path: str | Path, text: str) -> None:
    """Write a file so that readers see either the old or the new content, never a torn one."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o644)  # mkstemp creates 0600; every file of a run directory is 0644
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
    """A cell value as the table stores it (lists and dicts as JSON text)."""
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
    # Integer parameters and columns stay integers (a nullable Int64 column where some rows lack
    # them), so that table.csv says n=4, not n=4.0, and compare matches 16 with 16.
    for col in df.columns:
        if col == "value" or df[col].dtype.kind != "f":
            continue
        vals = [r[col] for r in rows if r.get(col) is not None]
        if vals and all(isinstance(v, int) and not isinstance(v, bool) for v in vals):
            df[col] = df[col].astype("Int64")
    return df
