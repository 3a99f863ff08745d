"""Calibration of the verdict engine on synthetic metrics with known truth (no JAX, no training).

For each check kind, 200 simulated suites are judged with the default confidence (one-sided 95%
bounds) in three worlds:

- a true effect of 3 standard errors on the claim's side: CONFIRMED at the rate the one-sided t
  test's power predicts (noncentral t), which is >= 0.90 from 30 seeds on (0.868 with 10 seeds,
  0.912 in the normal limit; no level-5% test does better than 0.912 at 3 standard errors);
- no effect (the truth exactly on the bound): CONFIRMED <= 5% and REFUTED <= 5%;
- a reversed effect of 3 standard errors: REFUTED at the same power.

A rate is asserted consistent with its target by an exact binomial tail (one-sided, p > 0.001),
since 200 draws of a 5% event have a standard deviation of 1.5 points. The empirical rates are
in the assertion messages.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from ssmbench.harness.checks import CONFIRMED, REFUTED, evaluate
from ssmbench.harness.spec import Check

SIMS = 200
SEEDS = 30
SIGMA = 0.7


def _power(n: int, ncp: float = 3.0, confidence: float = 0.95) -> float:
    """Power of the one-sided t test with ``n`` replicates at a true effect of ``ncp`` SE."""
    df = n - 1
    return float(stats.nct.sf(stats.t.ppf(confidence, df), df, ncp))


def _at_least(k: int, n: int, p: float) -> bool:
    """``k`` of ``n`` is not significantly below rate ``p`` (binomial lower tail > 0.001)."""
    return bool(stats.binom.cdf(k, n, p) > 1e-3)


def _at_most(k: int, n: int, p: float) -> bool:
    """``k`` of ``n`` is not significantly above rate ``p`` (binomial upper tail > 0.001)."""
    return bool(stats.binom.sf(k - 1, n, p) > 1e-3)


def _frame(rows: list[dict]) -> pd.DataFrame:
    """A long table of one experiment, one cell per row."""
    df = pd.DataFrame(rows)
    df["experiment"], df["status"], df["metric"] = "e", "ok", "m"
    df["cell_id"] = [f"c{i}" for i in range(len(df))]
    return df


def _threshold(rng, effect):
    """Per-seed values around ``1 + effect`` against the bound 1."""
    v = 1.0 + effect + SIGMA * rng.standard_normal(SEEDS)
    t = _frame([{"seed": s, "value": x} for s, x in enumerate(v)])
    return t, Check(0, "c", "e", "m", "threshold", op=">", value=1.0)


def _ratio(rng, effect):
    """``a = 2 b + d`` per seed with b spread widely; the claim is a >= 2 b (paired)."""
    b = rng.uniform(1.0, 20.0, SEEDS)
    a = 2.0 * b + effect + SIGMA * rng.standard_normal(SEEDS)
    rows = [{"arm": "a", "seed": s, "value": x} for s, x in enumerate(a)]
    rows += [{"arm": "b", "seed": s, "value": x} for s, x in enumerate(b)]
    return _frame(rows), Check(0, "c", "e", "m", "ratio", a={"arm": "a"}, b={"arm": "b"}, k=2.0)


def _ordering(rng, effect):
    """Two arms with a shared per-seed offset; the claim is that ``hi`` exceeds ``lo``."""
    base = rng.normal(0.0, 3.0, SEEDS)
    hi = base + effect + SIGMA * rng.standard_normal(SEEDS)
    rows = [{"arm": "lo", "seed": s, "value": x} for s, x in enumerate(base)]
    rows += [{"arm": "hi", "seed": s, "value": x} for s, x in enumerate(hi)]
    sels = [{"arm": "lo"}, {"arm": "hi"}]
    return _frame(rows), Check(0, "c", "e", "m", "ordering", selections=sels, order="increasing")


def _slope(rng, effect):
    """Per-seed lines ``y = (0.5 + e_s) x + noise`` (linear axes); the claim is slope >= 0.5.

    With 4 points at x = 0..3 and point noise s, a seed's slope has sd s / sqrt(5); ``effect`` is
    in units of the standard error of the mean over seeds, as for the other kinds.
    """
    x = np.arange(4.0)
    rows = []
    for s in range(SEEDS):
        y = 2.0 + (0.5 + effect) * x + SIGMA * np.sqrt(5.0) * rng.standard_normal(4)
        rows += [{"x": xi, "seed": s, "value": yi} for xi, yi in zip(x, y)]
    c = Check(0, "c", "e", "m", "slope", axis="x", interval=(0.5, 1e9), logx=False, logy=False)
    return _frame(rows), c


KINDS = {"threshold": _threshold, "ratio": _ratio, "ordering": _ordering, "slope": _slope}


def _rates(make, effect_se: float, seed: int) -> tuple[int, int]:
    """CONFIRMED and REFUTED counts over SIMS suites with the effect in standard errors."""
    rng = np.random.default_rng(seed)
    effect = effect_se * SIGMA / np.sqrt(SEEDS)
    statuses = [evaluate(c, t).status for t, c in (make(rng, effect) for _ in range(SIMS))]
    return statuses.count(CONFIRMED), statuses.count(REFUTED)


def test_power_at_3_standard_errors_reaches_90_percent_from_30_seeds():
    assert _power(SEEDS) >= 0.90 > _power(10)
    assert _power(10_000) < 0.913  # the normal limit: no level-5% test exceeds it


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_true_effect_is_confirmed(kind):
    conf, ref = _rates(KINDS[kind], 3.0, seed=1)
    p = _power(SEEDS)
    assert _at_least(conf, SIMS, p), f"{kind}: CONFIRMED {conf}/{SIMS}, power {p:.3f}"
    assert ref == 0, f"{kind}: REFUTED {ref}/{SIMS} under a true effect"


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_null_effect_is_rarely_decided(kind):
    conf, ref = _rates(KINDS[kind], 0.0, seed=2)
    msg = f"{kind}: CONFIRMED {conf}/{SIMS}, REFUTED {ref}/{SIMS} under no effect"
    assert _at_most(conf, SIMS, 0.05) and _at_most(ref, SIMS, 0.05), msg


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_reversed_effect_is_refuted(kind):
    conf, ref = _rates(KINDS[kind], -3.0, seed=3)
    p = _power(SEEDS)
    assert _at_least(ref, SIMS, p), f"{kind}: REFUTED {ref}/{SIMS}, power {p:.3f}"
    assert conf == 0, f"{kind}: CONFIRMED {conf}/{SIMS} under a reversed effect"


def test_bonferroni_keeps_the_ordering_false_confirm_rate():
    """Three arms with no differences: an increasing ordering is confirmed in <= 5% of suites
    (each of the two steps is tested at 97.5%)."""
    rng = np.random.default_rng(4)
    confirmed = 0
    for _ in range(SIMS):
        rows = [
            {"arm": arm, "seed": s, "value": SIGMA * rng.standard_normal()}
            for arm in ("x", "y", "z")
            for s in range(SEEDS)
        ]
        sels = [{"arm": "x"}, {"arm": "y"}, {"arm": "z"}]
        c = Check(0, "c", "e", "m", "ordering", selections=sels, order="increasing")
        confirmed += evaluate(c, _frame(rows)).status == CONFIRMED
    assert _at_most(confirmed, SIMS, 0.05), f"CONFIRMED {confirmed}/{SIMS}"


def test_max_over_many_entries_is_not_biased_toward_refuted():
    """48 entries, every true slope 0 and each seen with 2 noisy seeds whose sd puts the maximum
    of 48 single values near 0.17: the per-entry Bonferroni test REFUTES a true |slope| < 0.1 claim
    in <= 5% of suites (family-wise), where max(|single value|) < 0.1 fails almost always."""
    rng = np.random.default_rng(5)
    refuted, max_fails = 0, 0
    for _ in range(50):
        v = 0.07 * rng.standard_normal((48, 2))
        rows = [{"entry": e, "seed": s, "value": v[e, s]} for e in range(48) for s in range(2)]
        c = Check(0, "c", "e", "m", "threshold", interval=(-0.1, 0.1), each=["entry"])
        refuted += evaluate(c, _frame(rows)).status == REFUTED
        max_fails += np.abs(v[:, 0]).max() >= 0.1
    assert _at_most(refuted, 50, 0.05) and max_fails >= 45, (refuted, max_fails)
