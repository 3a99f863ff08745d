"""Checks: predicates over a long-format result table, each giving a verdict with its evidence.

Seeds are the replicates. A check first reduces its rows to one value per seed (the check's
``aggregate`` over that seed's rows), then judges:

- ``threshold`` with ``aggregate = "mean"``: the t interval of the mean over seeds against the
  bound. With ``min``, ``max`` or ``median`` it is a statement about the seeds that ran ("every
  seed"), compared as a number, and the verdict reports n and the spread.
- ``ratio``: the paired (by seed) difference ``a - k*b`` against ``margin``; Welch when the seeds
  differ.
- ``slope``: the mean of per-seed fitted slopes ± its standard error (one seed: the regression's
  residual standard error, or the points' own ``se_metric``) against ``interval``.
- ``ordering``: every consecutive paired difference beyond ``margin``, Bonferroni over the steps.

A statistical verdict is CONFIRMED when its one-sided bound(s) at ``confidence`` lie wholly on the
claim's side, REFUTED when wholly on the other side, and INCONCLUSIVE otherwise. ``exact = true``
marks deterministic metrics, compared as numbers. INCONCLUSIVE also names every degenerate case:
a missing, errored or diverged cell, a metric no cell reports, fewer than 2 seeds for a
statistical check, values that are all identical, sit on the bound, or are saturated at a
declared ``ceiling``/``floor``. See docs/suites.md, "How a check decides".
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from .select import Inconclusive, aggregate, describe, fmt, per_seed, seeds_text, select
from .spec import Check
from .stats import (
    Estimate,
    Judgement,
    bonferroni,
    difference,
    judge,
    mean_estimate,
    propagated_slope,
    regression_slope,
    seed_slopes,
)
from .verdict import CONFIRMED, INCONCLUSIVE, REFUTED, Verdict

__all__ = ["Verdict", "evaluate", "select", "CONFIRMED", "REFUTED", "INCONCLUSIVE"]


def evaluate(check: Check, table: pd.DataFrame) -> Verdict:
    """Evaluate one check against a long-format table (columns experiment, cell_id, seed, status,
    metric, value, and one column per parameter / extra result column)."""
    try:
        return _KINDS[check.kind](check, table)
    except Inconclusive as e:
        return Verdict(check, INCONCLUSIVE, str(e))


def _select(c: Check, table: pd.DataFrame, metric: str, sel: dict[str, Any]) -> pd.DataFrame:
    """:func:`select` of ``metric`` for the check's experiment, with its ``diverged_cells`` rule."""
    return select(table, c.experiment, metric, sel, diverged=c.diverged_cells)


def _combine(statuses: list[str]) -> str:
    """All parts CONFIRMED: CONFIRMED; any REFUTED: REFUTED; otherwise INCONCLUSIVE."""
    if all(s == CONFIRMED for s in statuses):
        return CONFIRMED
    return REFUTED if REFUTED in statuses else INCONCLUSIVE


def _conf_text(c: Check, m: int = 1) -> str:
    """How the bounds were taken, for the verdict line."""
    per = bonferroni(c.confidence, m)
    two = 2 * c.confidence - 1
    if m == 1:
        return f"one-sided {c.confidence:.0%} bounds = two-sided {two:.0%} interval"
    return f"Bonferroni over {m}: one-sided {per:.4g} per comparison"


def _interval_text(e: Estimate, j: Judgement) -> str:
    """An estimate with its interval and standard error (a bare number when there is none)."""
    if e.exact or e.se == 0:
        return fmt(e.value)
    return f"{fmt(e.value)} [{fmt(j.lo)}, {fmt(j.hi)}] (se {fmt(e.se)})"


def _saturation(c: Check, values: np.ndarray, table: pd.DataFrame, sels: list[dict]) -> None:
    """INCONCLUSIVE when every value sits at a declared ceiling or floor: the check's own values,
    or those of ``saturation_metric`` in the same cells (e.g. the accuracies behind a gap)."""
    if c.ceiling is None and c.floor is None:
        return
    name = c.metric
    if c.saturation_metric:
        name = c.saturation_metric
        has = table[(table["experiment"] == c.experiment) & (table["metric"] == name)]
        cols = [k for k in has.columns if has[k].notna().any()]
        parts = [_select(c, table, name, {k: v for k, v in s.items() if k in cols}) for s in sels]
        values = pd.concat(parts)["value"].to_numpy(float)
    if c.ceiling is not None and np.all(values >= c.ceiling):
        raise Inconclusive(
            f"saturated: all {values.size} values of '{name}' are at the declared ceiling "
            f"{fmt(c.ceiling)}, so the comparison cannot discriminate"
        )
    if c.floor is not None and np.all(values <= c.floor):
        raise Inconclusive(
            f"saturated: all {values.size} values of '{name}' are at the declared floor "
            f"{fmt(c.floor)}, so the comparison cannot discriminate"
        )


def _identical(c: Check, values: np.ndarray) -> None:
    """INCONCLUSIVE when every compared value is the same number (nothing to compare)."""
    if values.size > 1 and np.all(values == values[0]):
        raise Inconclusive(
            f"degenerate: all {values.size} compared values of '{c.metric}' equal "
            f"{fmt(float(values[0]))}"
        )


def _se_per_seed(c: Check, table: pd.DataFrame, sel: dict[str, Any]) -> dict[int, float]:
    """The cells' own standard errors of the metric (``se_metric``), one per seed."""
    rows = _select(c, table, c.se_metric, sel)
    if rows.groupby("seed").size().max() > 1:
        raise Inconclusive(
            f"se_metric '{c.se_metric}' needs one row per seed in ({describe(sel)}), got more"
        )
    return per_seed(rows, "mean")


def _too_few(c: Check, n: int, what: str) -> Inconclusive:
    """The INCONCLUSIVE reason of a statistical check with fewer than 2 seeds."""
    return Inconclusive(
        f"{what}: {n} seed(s); a statistical check needs >= 2 seeds for an interval "
        f"(or exact = true for a deterministic metric, or se_metric)"
    )


def _threshold(c: Check, table: pd.DataFrame) -> Verdict:
    """``aggregate(metric) op value`` (or within ``interval``), per entry of ``each`` if given."""
    rows = _select(c, table, c.metric, c.where)
    vals = rows["value"].astype(float).to_numpy()
    _saturation(c, vals, table, [c.where])
    if not c.exact and c.value is not None and np.all(vals == c.value):
        raise Inconclusive(
            f"degenerate: all {vals.size} values of '{c.metric}' equal the bound {fmt(c.value)} "
            f"({describe(c.where)}); a measured quantity landing exactly on it says nothing"
        )
    statistical = c.aggregate == "mean" and not c.exact
    if c.each:
        missing = [k for k in c.each if k not in rows.columns]
        if missing:
            raise Inconclusive(f"'each' column(s) {missing} are not in the result table")
        groups = list(rows.groupby(c.each, dropna=False))
    else:
        groups = [((), rows)]
    m = len(groups) if statistical else 1
    conf = bonferroni(c.confidence, m)
    req = f"{c.op} {fmt(c.value)}"
    if c.interval:
        req = f"{'outside' if c.outside else 'in'} [{fmt(c.interval[0])}, {fmt(c.interval[1])}]"
    parts = []
    for key, g in groups:
        if statistical:
            ps = per_seed(g, "mean")
            if len(ps) >= 2:
                est = mean_estimate(list(ps.values()))
            elif c.se_metric:
                se = _se_per_seed(c, table, c.where)
                s = next(iter(ps))
                est = Estimate(ps[s], se[s], math.inf, 1)
            else:
                raise _too_few(c, len(ps), f"mean {c.metric} ({describe(c.where)})")
        else:
            est = Estimate(aggregate(g, c.aggregate), 0.0, math.inf, g["seed"].nunique(), True)
        j = judge(est, confidence=conf, op=c.op, value=c.value, interval=c.interval)
        if c.outside:  # the complement of "within": swap the decided outcomes
            flip = {CONFIRMED: REFUTED, REFUTED: CONFIRMED, INCONCLUSIVE: INCONCLUSIVE}
            j = Judgement(flip[j.status], j.lo, j.hi)
        parts.append((key, g, est, j))
    statuses = [p[3].status for p in parts]
    if c.require == "any":  # some entry: any CONFIRMED confirms, all REFUTED refutes
        status = _combine([{CONFIRMED: REFUTED, REFUTED: CONFIRMED}.get(s, s) for s in statuses])
        status = {CONFIRMED: REFUTED, REFUTED: CONFIRMED}.get(status, status)
    else:
        status = _combine(statuses)
    seeds = seeds_text(rows)
    spread = per_seed(rows, c.aggregate)
    sp = f"per-seed {c.aggregate} {fmt(min(spread.values()))}..{fmt(max(spread.values()))}"
    how = _conf_text(c, m) if statistical else "compared as a number"
    if not c.each:
        _, _, est, j = parts[0]
        msg = (
            f"{c.aggregate} {c.metric} = {_interval_text(est, j)}, required {req} "
            f"({describe(c.where)}; n = {len(spread)}, {seeds}, {sp}; {how})"
        )
        return Verdict(c, status, msg, {"value": est.value, "se": est.se, "lo": j.lo, "hi": j.hi})
    counts = {s: sum(p[3].status == s for p in parts) for s in (CONFIRMED, REFUTED, INCONCLUSIVE)}
    # "all": the entry whose bound comes closest to failing; "any": the entry whose estimate
    # goes furthest toward holding
    if c.require == "any":
        worst = max(parts, key=lambda p: _slack(c, Judgement("", p[2].value, p[2].value), p[2]))
    else:
        worst = min(parts, key=lambda p: _slack(c, p[3], p[2]))
    wk = ", ".join(f"{k}={v}" for k, v in zip(c.each, np.atleast_1d(np.array(worst[0], object))))
    msg = (
        f"{len(parts)} entries by ({', '.join(c.each)}), {c.require} required to have "
        f"{c.aggregate} {c.metric} {req}: {counts[CONFIRMED]} confirmed, {counts[REFUTED]} "
        f"refuted, {counts[INCONCLUSIVE]} undecided; "
        f"{'best' if c.require == 'any' else 'closest to failing'}: {wk}: "
        f"{_interval_text(worst[2], worst[3])} ({describe(c.where)}; {seeds}; {how})"
    )
    return Verdict(c, status, msg, {"entries": len(parts), **counts})


def _slack(c: Check, j: Judgement, e: Estimate) -> float:
    """How far an entry's bound clears the requirement (negative: it does not)."""
    if c.interval is not None and c.outside:
        return max(j.lo - c.interval[1], c.interval[0] - j.hi)
    if c.interval is not None:
        return min(j.lo - c.interval[0], c.interval[1] - j.hi)
    return j.lo - c.value if c.op in (">", ">=") else c.value - j.hi


@dataclass
class _Side:
    """One selection of a comparison: its rows and its per-seed values (selected once)."""

    sel: dict[str, Any]
    rows: pd.DataFrame
    seeds: dict[int, float]

    @property
    def mean(self) -> float:
        """The mean of the per-seed values."""
        return float(np.mean(list(self.seeds.values())))


def _side(c: Check, table: pd.DataFrame, sel: dict[str, Any]) -> _Side:
    """Select ``sel``'s rows of the check's metric and reduce them per seed."""
    rows = _select(c, table, c.metric, sel)
    return _Side(sel, rows, per_seed(rows, c.aggregate))


def _difference(c: Check, table: pd.DataFrame, a: _Side, b: _Side, k: float) -> Estimate:
    """The estimate of ``mean(a) - k*mean(b)`` over seeds (exact, paired/Welch, or from the
    cells' own ``se_metric`` when each side has one seed)."""
    pa, pb = a.seeds, b.seeds
    if c.exact:
        return Estimate(a.mean - k * b.mean, 0.0, math.inf, min(len(pa), len(pb)), True)
    if len(pa) >= 2 and len(pb) >= 2:
        return difference(pa, pb, k=k)
    if c.se_metric and len(pa) == 1 and len(pb) == 1:
        ea, eb = _se_per_seed(c, table, a.sel), _se_per_seed(c, table, b.sel)
        (s, va), (t, vb) = next(iter(pa.items())), next(iter(pb.items()))
        return Estimate(va - k * vb, math.sqrt(ea[s] ** 2 + (k * eb[t]) ** 2), math.inf, 1)
    raise _too_few(c, min(len(pa), len(pb)), f"{c.aggregate} {c.metric}")


def _ratio(c: Check, table: pd.DataFrame) -> Verdict:
    """``mean(a) op k * mean(b)``, judged on ``a - k*b op margin`` paired by seed."""
    sa, sb = _side(c, table, c.a), _side(c, table, c.b)
    est = _difference(c, table, sa, sb, c.k)
    ra, rb = sa.rows, sb.rows
    vals = np.concatenate([ra["value"].to_numpy(float), rb["value"].to_numpy(float)])
    _saturation(c, vals, table, [c.a, c.b])
    _identical(c, vals)
    j = judge(est, confidence=c.confidence, op=c.op, value=c.margin)
    va, vb = sa.mean, sb.mean
    ratio = va / vb if vb != 0 else math.inf
    pairing = "exact" if est.exact else "paired by seed" if est.paired else "Welch"
    if est.paired is None and not est.exact:
        pairing = f"cells' own {c.se_metric}"
    msg = (
        f"ratio {fmt(ratio)}, required {c.op} {fmt(c.k)}"
        f"{f' with margin {fmt(c.margin)}' if c.margin else ''}: a - {fmt(c.k)}·b = "
        f"{_interval_text(est, j)} ({c.aggregate} {c.metric}: a = {fmt(va)} for {describe(c.a)}, "
        f"b = {fmt(vb)} for {describe(c.b)}; n = {est.n}, {seeds_text(pd.concat([ra, rb]))}, "
        f"{pairing}; {_conf_text(c) if not est.exact else 'compared as numbers'})"
    )
    return Verdict(c, j.status, msg, {"a": va, "b": vb, "ratio": ratio, "diff": est.value,
                                      "lo": j.lo, "hi": j.hi})  # fmt: skip


def _xy(c: Check, rows: pd.DataFrame, how: str) -> tuple[np.ndarray, np.ndarray]:
    """The (x, y) points of a slope: ``how`` over rows sharing an axis value, logs as declared."""
    pts = rows.groupby(c.axis)["value"].agg(how)
    x, y = pts.index.to_numpy(dtype=float), pts.to_numpy(dtype=float)
    if (c.logx and np.any(x <= 0)) or (c.logy and np.any(y <= 0)):
        raise Inconclusive(
            f"cannot take logs of non-positive values ({c.axis}: {list(x)}, {c.metric}: "
            f"{[fmt(v) for v in y]})"
        )
    return (np.log(x) if c.logx else x), (np.log(y) if c.logy else y)


def _slope(c: Check, table: pd.DataFrame) -> Verdict:
    """The fitted slope of the metric against ``axis`` lies within ``interval``."""
    rows = _select(c, table, c.metric, c.where)
    if c.axis not in rows.columns:
        raise Inconclusive(f"axis '{c.axis}' is not a column of the table")
    vals = rows["value"].to_numpy(float)
    _saturation(c, vals, table, [c.where])
    _identical(c, vals)
    seeds = sorted(rows["seed"].unique())
    if rows[c.axis].nunique() < 2:
        raise Inconclusive(f"need at least 2 values of '{c.axis}' to fit a slope")
    how = c.aggregate
    if c.exact:
        x, y = _xy(c, rows, how)
        est, basis = regression_slope(x, y), "exact"
        est = Estimate(est.value, 0.0, math.inf, len(seeds), True)
    elif len(seeds) >= 2:
        per = {int(s): _xy(c, g, how) for s, g in rows.groupby("seed")}
        if min(len(x) for x, _ in per.values()) < 2:
            raise Inconclusive(f"some seed has fewer than 2 values of '{c.axis}'")
        est, basis = seed_slopes(per), f"mean of {len(per)} per-seed slopes"
    elif c.se_metric:
        x, y = _xy(c, rows, how)
        se = _select(c, table, c.se_metric, c.where).groupby(c.axis)["value"].mean()
        se = se.to_numpy(float) / (np.exp(y) if c.logy else 1.0)  # delta method on log y
        est = propagated_slope(x, se, regression_slope(x, y).value, len(x))
        basis = f"1 seed; points' own {c.se_metric} propagated"
    else:
        x, y = _xy(c, rows, how)
        if len(x) < 3:
            raise _too_few(c, 1, f"slope of {c.metric} over {len(x)} points")
        est, basis = regression_slope(x, y), f"1 seed; regression over {len(x)} points"
    j = judge(est, confidence=c.confidence, interval=c.interval)
    if c.beats_logx:  # exponential vs polynomial: linear in x against linear in log x
        x, y = _xy(c, rows, how)
        if np.any(x <= 0):
            raise Inconclusive(f"beats_logx needs a positive axis '{c.axis}', got {list(x)}")
        rss = [float(np.sum((y - np.polyval(np.polyfit(v, y, 1), v)) ** 2)) for v in (x, np.log(x))]
        basis += (
            f"; residual SS of a fit linear in {c.axis}: {fmt(rss[0])}, linear in log "
            f"{c.axis}: {fmt(rss[1])}"
        )
        if rss[0] >= rss[1]:
            j = Judgement(REFUTED, j.lo, j.hi)
    kind = "log-log slope" if c.logx and c.logy else "slope"
    lo, hi = c.interval
    msg = (
        f"{kind} of {how} {c.metric} vs {c.axis} = {_interval_text(est, j)}, required in "
        f"[{fmt(lo)}, {fmt(hi)}] ({describe(c.where)}; {c.axis} = "
        f"{', '.join(fmt(v) for v in sorted(rows[c.axis].astype(float).unique()))}; "
        f"{seeds_text(rows)}; {basis}; {_conf_text(c) if not est.exact else 'compared as a number'})"
    )
    return Verdict(c, j.status, msg, {"slope": est.value, "se": est.se, "lo": j.lo, "hi": j.hi,
                                      "interval": [lo, hi]})  # fmt: skip


def _ordering(c: Check, table: pd.DataFrame) -> Verdict:
    """Every consecutive pair of selections ordered by more than ``margin`` (Bonferroni)."""
    m = len(c.selections) - 1
    conf = bonferroni(c.confidence, m)
    sides = [_side(c, table, s) for s in c.selections]
    steps = []
    for s0, s1 in zip(sides, sides[1:]):
        hi_, lo_ = (s1, s0) if c.order == "increasing" else (s0, s1)
        est = _difference(c, table, hi_, lo_, 1.0)
        steps.append((est, judge(est, confidence=conf, op=">", value=c.margin)))
    rows = pd.concat([s.rows for s in sides])
    vals = rows["value"].to_numpy(float)
    _saturation(c, vals, table, c.selections)
    _identical(c, vals)
    means = [s.mean for s in sides]
    status = _combine([j.status for _, j in steps])
    sym = " < " if c.order == "increasing" else " > "
    diffs = "; ".join(_interval_text(e, j) for e, j in steps)
    exact = all(e.exact for e, _ in steps)
    msg = (
        f"{c.aggregate} {c.metric}: "
        f"{sym.join(f'{fmt(v)} ({describe(s)})' for v, s in zip(means, c.selections))}; "
        f"required {c.order}{f' by > {fmt(c.margin)}' if c.margin else ''}; step differences "
        f"{diffs} (n = {min(e.n for e, _ in steps)}, {seeds_text(rows)}; "
        f"{'compared as numbers' if exact else _conf_text(c, m)})"
    )
    return Verdict(c, status, msg, {"values": means, "diffs": [e.value for e, _ in steps]})


_KINDS = {"threshold": _threshold, "ratio": _ratio, "slope": _slope, "ordering": _ordering}
