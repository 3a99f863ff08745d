"""Every check kind: CONFIRMED, REFUTED and the INCONCLUSIVE paths."""

from __future__ import annotations

import math

import pandas as pd
import pytest

from ssmbench.harness.checks import CONFIRMED, INCONCLUSIVE, REFUTED, evaluate
from ssmbench.harness.spec import Check


def table(rows):
    base = []
    for i, r in enumerate(rows):
        r = {"experiment": "e", "cell_id": f"c{i}", "status": "ok", "metric": "m", **r}
        base.append(r)
    return pd.DataFrame(base)


def chk(**kw):
    d = dict(index=0, claim="claim", experiment="e", metric="m", kind="threshold")
    d.update(kw)
    return Check(**d)


T = table(
    [
        {"model": "a", "width": 8, "seed": 0, "value": 1.0},
        {"model": "a", "width": 8, "seed": 1, "value": 3.0},
        {"model": "a", "width": 16, "seed": 0, "value": 4.0},
        {"model": "a", "width": 16, "seed": 1, "value": 4.0},
        {"model": "b", "width": 8, "seed": 0, "value": 0.1},
        {"model": "b", "width": 8, "seed": 1, "value": 0.3},
        {"model": "b", "width": 16, "seed": 0, "value": 0.2},
        {"model": "b", "width": 16, "seed": 1, "value": 0.2},
    ]
)


def seeded(groups, seeds=range(6)):
    """Rows with one value per (group, seed): ``groups`` maps a model name to per-seed values."""
    return table(
        [{"model": m, "seed": s, "value": float(v)} for m, vals in groups.items()
         for s, v in zip(seeds, vals)]
    )  # fmt: skip


@pytest.mark.parametrize(
    "agg,op,value,status",
    [
        ("max", "<=", 3.0, CONFIRMED),  # every seed: a number, no interval
        ("min", "<", 1.0, REFUTED),
        ("median", "<=", 2.0, CONFIRMED),
    ],
)
def test_threshold_pointwise(agg, op, value, status):
    v = evaluate(chk(where={"model": "a", "width": 8}, aggregate=agg, op=op, value=value), T)
    assert v.status == status, v.message
    assert "seeds 0,1" in v.message and "n = 2" in v.message and "per-seed" in v.message


def test_threshold_mean_uses_the_interval_over_seeds():
    # seeds 0,1 of model a width 8: 1 and 3, mean 2 with se 1 and 1 degree of freedom
    v = evaluate(chk(where={"model": "a", "width": 8}, op=">=", value=1.9), T)
    assert v.status == INCONCLUSIVE, v.message
    assert math.isclose(v.measured["se"], 1.0)
    t95 = 6.313751514675041  # t quantile 0.95 with 1 degree of freedom
    assert math.isclose(v.measured["lo"], 2.0 - t95, rel_tol=1e-9)
    t = seeded({"a": [1.0, 1.1, 0.9, 1.05, 0.95, 1.0]})
    assert evaluate(chk(where={"model": "a"}, op=">", value=0.8), t).status == CONFIRMED
    assert evaluate(chk(where={"model": "a"}, op=">", value=1.2), t).status == REFUTED
    assert evaluate(chk(where={"model": "a"}, op=">", value=1.0), t).status == INCONCLUSIVE
    # one seed: not enough for an interval, unless the metric is declared exact
    one = seeded({"a": [1.0]}, seeds=[0])
    v = evaluate(chk(where={"model": "a"}, op=">", value=0.5), one)
    assert v.status == INCONCLUSIVE and "1 seed" in v.message
    v = evaluate(chk(where={"model": "a"}, op=">", value=0.5, exact=True), one)
    assert v.status == CONFIRMED and "compared as a number" in v.message


def test_threshold_interval_and_each_entry_with_bonferroni():
    rows = [
        {"model": "a", "layer": layer, "seed": s, "value": 0.01 * (s - 2.5) + 0.001 * layer}
        for layer in range(4)
        for s in range(6)
    ]
    c = chk(where={"model": "a"}, interval=(-0.1, 0.1), each=["layer"])
    v = evaluate(c, table(rows))
    assert v.status == CONFIRMED and "4 entries by (layer)" in v.message, v.message
    assert "Bonferroni over 4" in v.message
    rows[-1]["value"] = 5.0  # one entry far off: its interval straddles the bound
    v = evaluate(c, table(rows))
    assert v.status == INCONCLUSIVE and "closest to failing: layer=3" in v.message
    far = [dict(r, value=r["value"] + 1.0) if r["layer"] == 0 else r for r in rows[:-1]]
    v = evaluate(c, table(far))
    assert v.status == REFUTED and "1 refuted" in v.message


def test_ratio_is_paired_by_seed():
    # b varies a lot across seeds, a = 2*b + small noise: the paired difference is tight
    b = [1.0, 5.0, 2.0, 8.0, 3.0, 6.0]
    a = [2 * x + 0.1 * (-1) ** i for i, x in enumerate(b)]
    t = seeded({"a": a, "b": b})
    v = evaluate(chk(kind="ratio", a={"model": "a"}, b={"model": "b"}, k=1.5), t)
    assert v.status == CONFIRMED and "paired by seed" in v.message, v.message
    assert math.isclose(v.measured["ratio"], sum(a) / sum(b))
    v = evaluate(chk(kind="ratio", a={"model": "a"}, b={"model": "b"}, k=2.5), t)
    assert v.status == REFUTED, v.message
    # a margin on the difference: a - 1.5 b >= 100 is refuted, >= 1 confirmed
    c = chk(kind="ratio", a={"model": "a"}, b={"model": "b"}, k=1.5, margin=100.0)
    assert evaluate(c, t).status == REFUTED
    c = chk(kind="ratio", a={"model": "a"}, b={"model": "b"}, k=1.5, margin=1.0)
    assert evaluate(c, t).status == CONFIRMED
    # different seeds on the two sides: Welch
    t2 = pd.concat([seeded({"a": a}), seeded({"b": b}, seeds=range(10, 16))], ignore_index=True)
    t2["cell_id"] = [f"w{i}" for i in range(len(t2))]
    v = evaluate(chk(kind="ratio", a={"model": "a"}, b={"model": "b"}, k=1.5), t2)
    assert "Welch" in v.message and v.status == INCONCLUSIVE, v.message


def test_ratio_degenerate_and_saturated():
    t = seeded({"a": [1.0] * 3, "b": [1.0] * 3}, seeds=range(3))
    v = evaluate(chk(kind="ratio", a={"model": "a"}, b={"model": "b"}, k=1.0), t)
    assert v.status == INCONCLUSIVE and "degenerate" in v.message
    t = seeded({"a": [1.0, 1.0, 0.99], "b": [1.0, 0.99, 1.0]}, seeds=range(3))
    c = chk(kind="ratio", a={"model": "a"}, b={"model": "b"}, k=1.0, ceiling=0.99)
    v = evaluate(c, t)
    assert v.status == INCONCLUSIVE and "saturated" in v.message and "ceiling" in v.message


def test_threshold_on_the_bound_is_degenerate():
    t = seeded({"a": [0.0, 0.0, 0.0]}, seeds=range(3))
    v = evaluate(chk(where={"model": "a"}, aggregate="max", op="<=", value=0.0), t)
    assert v.status == INCONCLUSIVE and "equal the bound" in v.message


def test_slope():
    rows = [{"width": w, "seed": 0, "value": 2.0 * w**0.5} for w in (4, 16, 64)]
    c = chk(kind="slope", axis="width", interval=(0.45, 0.55), exact=True)
    v = evaluate(c, table(rows))
    assert v.status == CONFIRMED and math.isclose(v.measured["slope"], 0.5, rel_tol=1e-9)
    v = evaluate(chk(kind="slope", axis="width", interval=(0.9, 1.1), exact=True), table(rows))
    assert v.status == REFUTED
    # linear (not log-log) slope
    lin = [{"width": w, "seed": 0, "value": 3.0 * w + 1} for w in (1, 2, 3)]
    v = evaluate(
        chk(kind="slope", axis="width", interval=(2.9, 3.1), logx=False, logy=False, exact=True),
        table(lin),
    )
    assert v.status == CONFIRMED
    # several seeds: the mean of per-seed slopes with its standard error
    noisy = [
        {"width": w, "seed": s, "value": w ** (0.5 + 0.01 * (s - 2)) * (1 + 0.1 * s)}
        for w in (4, 16, 64) for s in range(5)
    ]  # fmt: skip
    v = evaluate(chk(kind="slope", axis="width", interval=(0.45, 0.55)), table(noisy))
    assert v.status == CONFIRMED and "5 per-seed slopes" in v.message, v.message
    assert math.isclose(v.measured["slope"], 0.5, rel_tol=1e-9)
    v = evaluate(chk(kind="slope", axis="width", interval=(0.6, 1.0)), table(noisy))
    assert v.status == REFUTED
    # one seed, three points: the regression's own standard error (1 degree of freedom)
    v = evaluate(chk(kind="slope", axis="width", interval=(0.45, 0.55)), table(rows))
    assert v.status == CONFIRMED and "regression over 3 points" in v.message


def test_slope_with_the_cells_own_standard_errors():
    rows = []
    for n, g, se in ((4, 0.25, 0.01), (16, 0.0625, 0.005), (64, 0.0156, 0.002)):
        rows += [{"n": n, "seed": 0, "metric": "gap", "value": g},
                 {"n": n, "seed": 0, "metric": "gap_se", "value": se}]  # fmt: skip
    t = pd.DataFrame([{"experiment": "e", "cell_id": f"c{r['n']}", "status": "ok", **r}
                      for r in rows])  # fmt: skip
    c = chk(metric="gap", kind="slope", axis="n", interval=(-1.5, -0.5), se_metric="gap_se")
    v = evaluate(c, t)
    assert v.status == CONFIRMED and "gap_se propagated" in v.message, v.message


def test_slope_inconclusive():
    one = [{"width": 4, "seed": 0, "value": 1.0}]
    v = evaluate(chk(kind="slope", axis="width", interval=(0, 1)), table(one))
    assert v.status == INCONCLUSIVE and "at least 2" in v.message
    neg = [{"width": w, "seed": 0, "value": -1.0 * w} for w in (4, 8)]
    v = evaluate(chk(kind="slope", axis="width", interval=(0, 1), exact=True), table(neg))
    assert v.status == INCONCLUSIVE and "non-positive" in v.message
    two = [{"width": w, "seed": 0, "value": 1.0 * w} for w in (4, 8)]
    v = evaluate(chk(kind="slope", axis="width", interval=(0, 2)), table(two))
    assert v.status == INCONCLUSIVE and "1 seed" in v.message


def test_ordering():
    sels = [{"model": "b"}, {"model": "a"}]
    t = seeded({"a": [2.0, 2.1, 1.9, 2.2, 1.8, 2.0], "b": [0.1, 0.2, 0.1, 0.3, 0.1, 0.2]})
    v = evaluate(chk(kind="ordering", selections=sels, order="increasing"), t)
    assert v.status == CONFIRMED, v.message
    v = evaluate(chk(kind="ordering", selections=sels, order="decreasing"), t)
    assert v.status == REFUTED, v.message
    v = evaluate(chk(kind="ordering", selections=sels, order="increasing", margin=5.0), t)
    assert v.status == REFUTED and "by > 5" in v.message
    # two seeds 1.7 standard errors apart: not decided
    t = seeded({"a": [0.371 + 0.05, 0.371 - 0.05], "b": [0.485 - 0.13, 0.485 + 0.13]}, [0, 1])
    v = evaluate(chk(kind="ordering", selections=sels, order="decreasing"), t)
    assert v.status == INCONCLUSIVE, v.message
    # three selections: Bonferroni over the two steps
    t = seeded({"a": [3.0, 3.1, 2.9, 3.0], "b": [2.0, 2.1, 1.9, 2.0], "c": [1.0, 1.1, 0.9, 1.0]})
    three = [{"model": "c"}, {"model": "b"}, {"model": "a"}]
    v = evaluate(chk(kind="ordering", selections=three, order="increasing"), t)
    assert v.status == CONFIRMED and "Bonferroni over 2" in v.message


def test_inconclusive_missing_and_unclean():
    # no rows for the selection
    v = evaluate(chk(where={"model": "zz"}, op=">", value=0.0), T)
    assert v.status == INCONCLUSIVE
    # a diverged cell in the selection
    t2 = T.copy()
    t2.loc[0, "status"] = "diverged"
    t2.loc[0, "value"] = math.nan
    v = evaluate(chk(where={"model": "a", "width": 8}, op=">", value=0.0), t2)
    assert v.status == INCONCLUSIVE and "diverged" in v.message
    # an errored cell (no metric rows, empty metric)
    t3 = pd.concat(
        [T, table([{"model": "a", "width": 8, "seed": 2, "value": math.nan, "metric": ""}])],
        ignore_index=True,
    )
    t3.loc[len(t3) - 1, "status"] = "error"
    t3.loc[len(t3) - 1, "cell_id"] = "cerr"
    v = evaluate(chk(kind="ratio", a={"model": "a"}, b={"model": "b"}, k=1.0), t3)
    assert v.status == INCONCLUSIVE and "error" in v.message
    # unknown experiment, unknown column
    assert evaluate(chk(experiment="nope", op=">", value=0.0), T).status == INCONCLUSIVE
    v = evaluate(chk(where={"colour": "red"}, op=">", value=0.0), T)
    assert v.status == INCONCLUSIVE and "colour" in v.message


def test_inconclusive_metric_missing_in_some_cells():
    t = T.copy()
    t.loc[1, "metric"] = "other"
    v = evaluate(chk(where={"model": "a", "width": 8}, op=">", value=0.0), t)
    assert v.status == INCONCLUSIVE and "did not report" in v.message


def test_metric_no_cell_reports_is_named():
    v = evaluate(chk(metric="acuracy", where={"model": "a"}, op=">", value=0.0), T)
    assert v.status == INCONCLUSIVE and "reported by no cell" in v.message and "m" in v.message


def test_extra_row_columns_select():
    rows = [
        {"cell_id": "c0", "seed": 0, "layer": layer, "value": float(layer + 1)}
        for layer in range(3)
    ]
    t = pd.DataFrame([{"experiment": "e", "status": "ok", "metric": "m", **r} for r in rows])
    v = evaluate(chk(where={"layer": 2}, op=">=", value=3.0, exact=True), t)
    assert v.status == CONFIRMED, v.message


def test_saturation_of_another_metric_behind_a_gap():
    rows = [{"field": f, "metric": "accuracy", "value": 1.0} for f in ("real", "complex")]
    rows.append({"field": "complex-real", "metric": "gap_change", "value": 0.0})
    t = pd.DataFrame(
        [{"experiment": "e", "cell_id": "c0", "seed": 0, "status": "ok", **r} for r in rows]
    )
    c = chk(metric="gap_change", aggregate="max", op="<=", value=0.0)
    v = evaluate(c, t)
    assert v.status == INCONCLUSIVE and "equal the bound" in v.message
    c = chk(metric="gap_change", aggregate="max", op="<=", value=0.0, ceiling=1.0,
            saturation_metric="accuracy")  # fmt: skip
    v = evaluate(c, t)
    assert v.status == INCONCLUSIVE and "'accuracy' are at the declared ceiling 1" in v.message


def test_some_entry_outside_an_interval():
    """'Some quantity explodes': an entry whose interval lies wholly outside [-0.25, 0.25]."""
    rows = [
        {"layer": layer, "seed": s, "value": (0.02 * (s - 2)) + (1.0 if layer == 2 else 0.0)}
        for layer in range(3)
        for s in range(5)
    ]
    c = chk(interval=(-0.25, 0.25), outside=True, each=["layer"], require="any")
    v = evaluate(c, table(rows))
    assert v.status == CONFIRMED and "best: layer=2" in v.message, v.message
    flat = [dict(r, value=0.02 * (r["seed"] - 2)) for r in rows]
    assert evaluate(c, table(flat)).status == REFUTED  # every entry wholly inside


def test_exponential_beats_polynomial_growth():
    """A polynomial t^5 has a log2 slope of 0.25 bit per step over t = 8..64, like a slow
    exponential; beats_logx tells them apart (a line in log t fits log2 t^5 exactly)."""
    ts = (8, 16, 32, 64)
    c = chk(kind="slope", axis="t", interval=(0.2, 100.0), logx=False, logy=False, exact=True,
            beats_logx=True)  # fmt: skip
    poly = [{"t": t, "seed": 0, "value": 5 * math.log2(t)} for t in ts]
    v = evaluate(c, table(poly))
    assert v.status == REFUTED and "linear in log t" in v.message, v.message
    expo = [{"t": t, "seed": 0, "value": 1.05 * t - 8.0} for t in ts]
    assert evaluate(c, table(expo)).status == CONFIRMED


def test_a_diverged_cell_is_inconclusive_unless_the_check_judges_its_finite_rows():
    # three seeds, one cell each; cell of seed 1 diverged because *another* method's metric
    # was non-finite (its row for method "x" is -inf), while the rows the check reads are finite
    rows = []
    for s, v in enumerate([0.10, 0.12, 0.11]):
        status = "diverged" if s == 1 else "ok"
        rows += [{"cell_id": f"s{s}", "seed": s, "method": "p", "value": v, "status": status},
                 {"cell_id": f"s{s}", "seed": s, "method": "x", "metric": "other",
                  "value": -math.inf if s == 1 else 1.0, "status": status}]  # fmt: skip
    t = pd.DataFrame([{"experiment": "e", "metric": "m", **r} for r in rows])
    c = dict(where={"method": "p"}, aggregate="mean", op=">=", value=0.0)
    v = evaluate(chk(**c), t)
    assert v.status == INCONCLUSIVE and "1 diverged cell(s) in selection" in v.message
    v = evaluate(chk(**c, diverged_cells="judge-rows"), t)
    assert v.status == CONFIRMED and "n = 3" in v.message, v.message
    # the non-finite row itself still decides nothing, and an errored cell still blocks
    v = evaluate(chk(where={"method": "x"}, metric="other", aggregate="mean", op=">=", value=0.0,
                     diverged_cells="judge-rows"), t)  # fmt: skip
    assert v.status == INCONCLUSIVE and "non-finite" in v.message
    t.loc[t["seed"] == 2, "status"] = "error"
    v = evaluate(chk(**c, diverged_cells="judge-rows"), t)
    assert v.status == INCONCLUSIVE and "error cell" in v.message
