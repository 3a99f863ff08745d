"""Selecting a check's rows from a run's long table, and the reasons a selection cannot be judged.

:func:`select` returns the rows of one metric for one selection, or raises :class:`Inconclusive`
naming why the data cannot decide: an errored or diverged cell, a metric no cell reports, a cell
that did not report it, or a non-finite value.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd

__all__ = ["Inconclusive", "select", "per_seed", "describe", "seeds_text", "fmt"]

_AGG = {"mean": np.mean, "median": np.median, "min": np.min, "max": np.max}


class Inconclusive(Exception):
    """Raised inside a check when the data cannot decide it; the message says why."""


def fmt(v: float | None) -> str:
    """A number with four significant digits (or nan/inf as words)."""
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "nan"
    if math.isinf(v):
        return "inf" if v > 0 else "-inf"
    if float(v).is_integer() and abs(v) < 1e9:
        return str(int(v))
    return f"{v:.4g}"


def describe(sel: dict[str, Any]) -> str:
    """A selection as ``key=value`` words for the verdict line."""
    return ", ".join(f"{k}={v}" for k, v in sel.items()) or "all"


def seeds_text(rows: pd.DataFrame) -> str:
    """The seeds of the rows as a short range or list, for the verdict line."""
    s = sorted({int(x) for x in rows["seed"].dropna().unique()}) if len(rows) else []
    if not s:
        return "no seeds"
    if s == list(range(s[0], s[-1] + 1)) and len(s) > 2:
        return f"seeds {s[0]}-{s[-1]}"
    return "seeds " + ",".join(map(str, s))


def _match(df: pd.DataFrame, sel: dict[str, Any]) -> pd.Series:
    """Rows of ``df`` that match every key of a selection (a list value matches any of its values)."""
    mask = pd.Series(True, index=df.index)
    for k, v in sel.items():
        if k not in df.columns:
            raise Inconclusive(f"column '{k}' is not in the result table")
        wanted = v if isinstance(v, list) else [v]
        col = df[k]
        m = pd.Series(False, index=df.index)
        for w in wanted:
            m |= col.map(lambda x, w=w: _eq(x, w))
        mask &= m
    return mask


def _eq(x: Any, w: Any) -> bool:
    """Whether a table value equals a wanted selection value (numbers by value, others as strings)."""
    if x is pd.NA or x is None:
        return False
    if isinstance(x, float) and isinstance(w, (int, float)) and not isinstance(w, bool):
        return math.isclose(x, float(w), rel_tol=1e-12, abs_tol=0.0)
    return x == w


def _is_cell_col(df: pd.DataFrame, col: str) -> bool:
    """Whether ``col`` is constant within every cell of ``df`` (a cell-level column)."""
    return bool((df.groupby("cell_id")[col].nunique(dropna=False) <= 1).all())


def select(
    table: pd.DataFrame,
    experiment: str,
    metric: str,
    sel: dict[str, Any],
    *,
    diverged: str = "inconclusive",
) -> pd.DataFrame:
    """Rows of ``metric`` in ``experiment`` matching ``sel``; :class:`Inconclusive` (with the
    reason) if a cell it needs errored, diverged or did not report the metric, if no cell of the
    experiment reports the metric at all, or if a value is not finite.

    Cell-level problems are detected on the cells that match the cell-level part of the selection
    (parameters and seed). ``diverged = "judge-rows"`` (a check's ``diverged_cells``) lets a
    diverged cell through when the rows selected from it are finite: for a cell whose rows are
    several independent runs (the trainers' methods), one run's non-finite metric then no longer
    hides the others'; an errored cell, or a non-finite selected value, still decides nothing.
    """
    exp = table[table["experiment"] == experiment]
    if exp.empty:
        raise Inconclusive(f"no cells of experiment '{experiment}' in the table")
    cell_keys = {k: v for k, v in sel.items() if k in exp.columns and _is_cell_col(exp, k)}
    cells = exp[_match(exp, cell_keys)]
    ok = ("ok", "diverged") if diverged == "judge-rows" else ("ok",)
    bad = cells[~cells["status"].isin(ok)].drop_duplicates("cell_id")
    if len(bad):
        kinds = ", ".join(f"{n} {s}" for s, n in bad["status"].value_counts().items())
        raise Inconclusive(f"{kinds} cell(s) in selection ({describe(sel)})")
    reported = exp["metric"].dropna().unique()
    if metric not in reported and (exp["status"] == "ok").all():
        have = ", ".join(sorted(map(str, reported))) or "none"
        raise Inconclusive(
            f"metric '{metric}' is reported by no cell of experiment '{experiment}' "
            f"(its cells report: {have})"
        )
    rows = exp[(exp["metric"] == metric) & _match(exp, sel)]
    if rows.empty:
        raise Inconclusive(f"no rows of metric '{metric}' for selection ({describe(sel)})")
    missing = set(cells["cell_id"]) - set(exp[exp["metric"] == metric]["cell_id"])
    if missing:
        raise Inconclusive(f"{len(missing)} cell(s) did not report '{metric}' ({describe(sel)})")
    vals = rows["value"].astype(float)
    if not np.all(np.isfinite(vals)):
        raise Inconclusive(f"non-finite values of '{metric}' for selection ({describe(sel)})")
    return rows


def per_seed(rows: pd.DataFrame, how: str) -> dict[int, float]:
    """The rows reduced to one value per seed (``how``: mean, median, min or max over the seed's
    rows). Seeds are the independent replicates every interval is taken over."""
    f = _AGG[how]
    g = rows.groupby("seed")["value"].agg(lambda s: float(f(s.astype(float).to_numpy())))
    return {int(k): float(v) for k, v in g.items()}


def aggregate(rows: pd.DataFrame, how: str) -> float:
    """All rows reduced to one number (mean, median, min or max of ``value``)."""
    return float(_AGG[how](rows["value"].astype(float).to_numpy()))
