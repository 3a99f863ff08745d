"""Checks: predicates over a long-format result table, each giving a verdict with its numbers.

A verdict is CONFIRMED or REFUTED when every cell the check reads finished cleanly, and
INCONCLUSIVE when a cell it needs is missing, errored or diverged, or the numbers cannot be
judged (e.g. a log-log slope over non-positive values). The message always states the measured
numbers, the requirement and the seeds.
"""

from __future__ import annotations

import math
import operator
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from .spec import Check

__all__ = ["Verdict", "evaluate", "select", "CONFIRMED", "REFUTED", "INCONCLUSIVE"]

CONFIRMED = "CONFIRMED"
REFUTED = "REFUTED"
INCONCLUSIVE = "INCONCLUSIVE"

_OPS = {"<": operator.lt, "<=": operator.le, ">": operator.gt, ">=": operator.ge}
_AGG = {"mean": np.mean, "median": np.median, "min": np.min, "max": np.max}


@dataclass
class Verdict:
    """The outcome of one check: its claim, CONFIRMED/REFUTED/INCONCLUSIVE and the numbers behind it."""

    check: Check
    status: str
    message: str
    measured: dict[str, Any] = field(default_factory=dict)

    def line(self) -> str:
        """The verdict line of the summary: verdict, claim and the measured numbers."""
        return f"**{self.status}**: {self.check.claim} — {self.message}"


class _Inconclusive(Exception):
    """Raised inside a check when the data cannot decide it; the message says why."""

    pass


def _fmt(v: float) -> str:
    """A number with four significant digits (or nan/inf as words)."""
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "nan"
    if float(v).is_integer() and abs(v) < 1e9:
        return str(int(v))
    return f"{v:.4g}"


def _desc(sel: dict[str, Any]) -> str:
    """A selection as ``key=value`` words for the verdict line."""
    return ", ".join(f"{k}={v}" for k, v in sel.items()) or "all"


def _seeds(rows: pd.DataFrame) -> str:
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
            raise _Inconclusive(f"column '{k}' is not in the result table")
        wanted = v if isinstance(v, list) else [v]
        col = df[k]
        m = pd.Series(False, index=df.index)
        for w in wanted:
            m |= col.map(lambda x, w=w: _eq(x, w))
        mask &= m
    return mask


def _eq(x: Any, w: Any) -> bool:
    """Whether a table value equals a wanted selection value (numbers by value, others as strings)."""
    if isinstance(x, float) and isinstance(w, (int, float)) and not isinstance(w, bool):
        return math.isclose(x, float(w), rel_tol=1e-12, abs_tol=0.0)
    return x == w


def select(table: pd.DataFrame, experiment: str, metric: str, sel: dict[str, Any]) -> pd.DataFrame:
    """Rows of ``metric`` in ``experiment`` matching ``sel``; INCONCLUSIVE if any needed cell is unclean.

    Cell-level problems (errored/diverged cells, cells without the metric) are detected on the
    cells that match the cell-level part of the selection (parameters and seed).
    """
    exp = table[table["experiment"] == experiment]
    if exp.empty:
        raise _Inconclusive(f"no cells of experiment '{experiment}' in the table")
    cell_keys = {k: v for k, v in sel.items() if k in exp.columns and _is_cell_col(exp, k)}
    cells = exp[_match(exp, cell_keys)]
    bad = cells[cells["status"] != "ok"].drop_duplicates("cell_id")
    if len(bad):
        kinds = ", ".join(f"{n} {s}" for s, n in bad["status"].value_counts().items())
        raise _Inconclusive(f"{kinds} cell(s) in selection ({_desc(sel)})")
    rows = exp[(exp["metric"] == metric) & _match(exp, sel)]
    if rows.empty:
        raise _Inconclusive(f"no rows of metric '{metric}' for selection ({_desc(sel)})")
    missing = set(cells["cell_id"]) - set(exp[exp["metric"] == metric]["cell_id"])
    if missing:
        raise _Inconclusive(f"{len(missing)} cell(s) did not report '{metric}' ({_desc(sel)})")
    vals = rows["value"].astype(float)
    if not np.all(np.isfinite(vals)):
        raise _Inconclusive(f"non-finite values of '{metric}' for selection ({_desc(sel)})")
    return rows


def _is_cell_col(df: pd.DataFrame, col: str) -> bool:
    """Whether ``col`` is a column with a value in every row of ``df``."""
    # a column is cell-level when it is constant within every cell
    return bool((df.groupby("cell_id")[col].nunique(dropna=False) <= 1).all())


def _agg(rows: pd.DataFrame, how: str) -> float:
    """Aggregate a check's rows (mean, median, min or max of ``value``)."""
    return float(_AGG[how](rows["value"].astype(float).to_numpy()))


def evaluate(check: Check, table: pd.DataFrame) -> Verdict:
    """Evaluate one check against a long-format table (columns experiment, cell_id, seed, status,
    metric, value, and one column per parameter / extra result column)."""
    try:
        return _evaluate(check, table)
    except _Inconclusive as e:
        return Verdict(check, INCONCLUSIVE, str(e))


def _evaluate(c: Check, table: pd.DataFrame) -> Verdict:
    """Evaluate one check on the run's table (the body of :func:`evaluate`)."""
    agg = c.aggregate
    if c.kind == "threshold":
        rows = select(table, c.experiment, c.metric, c.where)
        v = _agg(rows, agg)
        ok = _OPS[c.op](v, c.value)
        msg = (
            f"{agg} {c.metric} = {_fmt(v)} {'' if ok else 'not '}{c.op} {_fmt(c.value)} "
            f"({_desc(c.where)}; {_seeds(rows)}, {len(rows)} rows)"
        )
        return Verdict(c, CONFIRMED if ok else REFUTED, msg, {"value": v, "threshold": c.value})
    if c.kind == "ratio":
        ra = select(table, c.experiment, c.metric, c.a)
        rb = select(table, c.experiment, c.metric, c.b)
        va, vb = _agg(ra, agg), _agg(rb, agg)
        ratio = va / vb if vb != 0 else math.inf
        ok = _OPS[c.op](va, c.k * vb)
        msg = (
            f"ratio {_fmt(ratio)} {'' if ok else 'not '}{c.op} required {_fmt(c.k)} "
            f"({agg} {c.metric}: {_fmt(va)} for {_desc(c.a)} vs {_fmt(vb)} for {_desc(c.b)}; "
            f"{_seeds(pd.concat([ra, rb]))})"
        )
        return Verdict(c, CONFIRMED if ok else REFUTED, msg, {"a": va, "b": vb, "ratio": ratio})
    if c.kind == "slope":
        rows = select(table, c.experiment, c.metric, c.where)
        if c.axis not in rows.columns:
            raise _Inconclusive(f"axis '{c.axis}' is not a column of the table")
        pts = rows.groupby(c.axis)["value"].agg(lambda s: _AGG[agg](s.astype(float).to_numpy()))
        x = pts.index.to_numpy(dtype=float)
        y = pts.to_numpy(dtype=float)
        if len(x) < 2:
            raise _Inconclusive(
                f"need at least 2 values of '{c.axis}' to fit a slope, got {len(x)}"
            )
        if (c.logx and np.any(x <= 0)) or (c.logy and np.any(y <= 0)):
            raise _Inconclusive(
                f"cannot take logs of non-positive values ({c.axis}: {list(x)}, {c.metric}: "
                f"{[_fmt(v) for v in y]})"
            )
        lx = np.log(x) if c.logx else x
        ly = np.log(y) if c.logy else y
        slope = float(np.polyfit(lx, ly, 1)[0])
        lo, hi = c.interval
        ok = lo <= slope <= hi
        kind = "log-log slope" if c.logx and c.logy else "slope"
        msg = (
            f"{kind} of {agg} {c.metric} vs {c.axis} = {_fmt(slope)}, "
            f"{'within' if ok else 'outside'} [{_fmt(lo)}, {_fmt(hi)}] "
            f"({_desc(c.where)}; {c.axis} = {', '.join(_fmt(v) for v in x)}; {_seeds(rows)})"
        )
        return Verdict(c, CONFIRMED if ok else REFUTED, msg, {"slope": slope, "interval": [lo, hi]})
    if c.kind == "ordering":
        vals, seeds_rows = [], []
        for s in c.selections:
            r = select(table, c.experiment, c.metric, s)
            vals.append(_agg(r, agg))
            seeds_rows.append(r)
        cmp = operator.lt if c.order == "increasing" else operator.gt
        ok = all(cmp(a, b) for a, b in zip(vals, vals[1:]))
        sym = " < " if c.order == "increasing" else " > "
        parts = [f"{_fmt(v)} ({_desc(s)})" for v, s in zip(vals, c.selections)]
        msg = (
            f"{agg} {c.metric}: {sym.join(parts) if ok else ', '.join(parts)} — "
            f"{'' if ok else 'not '}{c.order} ({_seeds(pd.concat(seeds_rows))})"
        )
        return Verdict(c, CONFIRMED if ok else REFUTED, msg, {"values": vals})
    raise ValueError(f"unknown check kind {c.kind!r}")  # pragma: no cover - validated on parse
