"""Statistics behind the verdicts: intervals over seeds, paired comparisons, regression slopes.

Every comparative check reduces to an estimate with a standard error and degrees of freedom
(:class:`Estimate`); a verdict compares one-sided bounds at the suite's ``confidence`` with the
claim's margin. ``confidence = 0.95`` means each direction is decided at 95%: CONFIRMED needs the
lower bound above the margin, REFUTED the upper bound below it; the two bounds together are the
two-sided 90% interval. With ``m`` simultaneous comparisons (an ordering over ``m + 1``
selections) each bound is taken at ``1 - (1 - confidence) / m`` (Bonferroni).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
from scipy import stats as _st

__all__ = [
    "Estimate",
    "Judgement",
    "bonferroni",
    "difference",
    "judge",
    "mean_estimate",
    "propagated_slope",
    "regression_slope",
    "seed_slopes",
]


@dataclass(frozen=True)
class Estimate:
    """A point estimate with its standard error, degrees of freedom and sample size.

    ``se = 0`` with ``exact`` marks a deterministic quantity (no interval); ``df`` is inf for a
    known-variance (normal) bound.
    """

    value: float
    se: float
    df: float
    n: int
    exact: bool = False
    paired: bool | None = None

    def bounds(self, confidence: float) -> tuple[float, float]:
        """One-sided lower and upper bounds at ``confidence`` each (a point when exact)."""
        if self.exact or self.se == 0:
            return self.value, self.value
        q = float(_st.t.ppf(confidence, self.df)) if math.isfinite(self.df) else _z(confidence)
        return self.value - q * self.se, self.value + q * self.se


def _z(confidence: float) -> float:
    """The standard normal quantile."""
    return float(_st.norm.ppf(confidence))


def bonferroni(confidence: float, m: int) -> float:
    """Per-comparison confidence of ``m`` simultaneous one-sided comparisons."""
    return 1.0 - (1.0 - confidence) / max(m, 1)


def mean_estimate(values: Sequence[float], *, exact: bool = False) -> Estimate:
    """The mean of per-seed values with its t standard error (``exact``: no spread assumed)."""
    v = np.asarray(values, float)
    n = int(v.size)
    if n == 0:
        raise ValueError("no values")
    if exact or n < 2:
        return Estimate(float(v.mean()), 0.0, math.inf, n, exact=True)
    return Estimate(float(v.mean()), float(v.std(ddof=1) / math.sqrt(n)), n - 1.0, n)


def difference(
    a: Mapping[int, float], b: Mapping[int, float], *, k: float = 1.0, exact: bool = False
) -> Estimate:
    """``mean(a) - k * mean(b)`` over seeds: paired by seed when both sides have the same seeds
    (a t interval of the per-seed differences), else Welch's unpaired interval."""
    if set(a) == set(b):
        d = [a[s] - k * b[s] for s in sorted(a)]
        e = mean_estimate(d, exact=exact)
        return Estimate(e.value, e.se, e.df, e.n, e.exact, paired=True)
    va, vb = np.asarray(list(a.values()), float), np.asarray(list(b.values()), float)
    value = float(va.mean() - k * vb.mean())
    n = int(min(va.size, vb.size))
    if exact or va.size < 2 or vb.size < 2:
        return Estimate(value, 0.0, math.inf, n, exact=True, paired=False)
    sa, sb = va.var(ddof=1) / va.size, k * k * vb.var(ddof=1) / vb.size
    se = math.sqrt(sa + sb)
    if se == 0:
        return Estimate(value, 0.0, math.inf, n, exact=False, paired=False)
    df = (sa + sb) ** 2 / (sa**2 / (va.size - 1) + sb**2 / (vb.size - 1))
    return Estimate(value, se, float(df), n, paired=False)


def regression_slope(x: Sequence[float], y: Sequence[float]) -> Estimate:
    """Least-squares slope of ``y`` on ``x`` with its standard error (``n - 2`` degrees of
    freedom; exact when the points lie on a line or there are only two)."""
    x, y = np.asarray(x, float), np.asarray(y, float)
    n = int(x.size)
    if n < 2 or np.ptp(x) == 0:
        raise ValueError("need at least two distinct x values")
    slope, intercept = np.polyfit(x, y, 1)
    if n == 2:
        return Estimate(float(slope), 0.0, math.inf, n, exact=True)
    resid = y - (slope * x + intercept)
    s2 = float(resid @ resid) / (n - 2)
    se = math.sqrt(s2 / float(((x - x.mean()) ** 2).sum()))
    return Estimate(float(slope), se, n - 2.0, n, exact=se == 0)


def seed_slopes(per_seed: Mapping[int, tuple[Sequence[float], Sequence[float]]]) -> Estimate:
    """The mean over seeds of each seed's least-squares slope, with the t standard error of that
    mean (seeds are the independent replicates; points within a seed are not)."""
    slopes = [float(np.polyfit(np.asarray(x, float), np.asarray(y, float), 1)[0])
              for x, y in per_seed.values()]  # fmt: skip
    return mean_estimate(slopes)


@dataclass(frozen=True)
class Judgement:
    """One estimate judged against a claim: the status and the bounds it was judged with."""

    status: str  # "CONFIRMED" | "REFUTED" | "INCONCLUSIVE"
    lo: float
    hi: float


def judge(
    est: Estimate,
    *,
    confidence: float,
    op: str | None = None,
    value: float | None = None,
    interval: tuple[float, float] | None = None,
) -> Judgement:
    """Judge ``est`` against ``op value`` (one of < <= > >=) or ``interval`` (lo <= x <= hi).

    A statistical estimate is CONFIRMED when its one-sided bound(s) at ``confidence`` lie wholly
    on the claim's side, REFUTED when they lie wholly on the other side, and INCONCLUSIVE
    otherwise. An exact estimate is compared as a number.
    """
    lo, hi = est.bounds(confidence)
    if est.exact or est.se == 0:
        x = est.value
        if interval is not None:
            ok = interval[0] <= x <= interval[1]
        else:
            ok = {"<": x < value, "<=": x <= value, ">": x > value, ">=": x >= value}[op]
        return Judgement("CONFIRMED" if ok else "REFUTED", lo, hi)
    if interval is not None:
        a, b = interval
        if lo > a and hi < b:
            return Judgement("CONFIRMED", lo, hi)
        if lo > b or hi < a:
            return Judgement("REFUTED", lo, hi)
        return Judgement("INCONCLUSIVE", lo, hi)
    if op in (">", ">="):
        status = "CONFIRMED" if lo > value else "REFUTED" if hi < value else "INCONCLUSIVE"
    else:
        status = "CONFIRMED" if hi < value else "REFUTED" if lo > value else "INCONCLUSIVE"
    return Judgement(status, lo, hi)


def propagated_slope(x: Sequence[float], se: Sequence[float], slope: float, n: int) -> Estimate:
    """A least-squares slope whose points carry their own standard errors ``se`` (independent):
    the slope's standard error is the points' errors propagated through the fit's weights
    (normal bound, ``df`` infinite)."""
    x, se = np.asarray(x, float), np.asarray(se, float)
    c = (x - x.mean()) / float(((x - x.mean()) ** 2).sum())
    return Estimate(float(slope), float(math.sqrt(float((c**2) @ (se**2)))), math.inf, n)
