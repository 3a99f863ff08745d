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


@pytest.mark.parametrize(
    "agg,op,value,status",
    [
        ("mean", ">=", 2.0, CONFIRMED),  # mean of model a width 8 = 2
        ("mean", ">", 2.0, REFUTED),
        ("max", "<=", 3.0, CONFIRMED),
        ("min", "<", 1.0, REFUTED),
        ("median", "<=", 2.0, CONFIRMED),
    ],
)
def test_threshold(agg, op, value, status):
    v = evaluate(chk(where={"model": "a", "width": 8}, aggregate=agg, op=op, value=value), T)
    assert v.status == status, v.message
    assert "seeds 0,1" in v.message and f"{value:.4g}" in v.message


def test_ratio():
    c = chk(kind="ratio", a={"model": "a"}, b={"model": "b"}, k=10.0)  # 3.0 / 0.2 = 15
    v = evaluate(c, T)
    assert v.status == CONFIRMED and math.isclose(v.measured["ratio"], 15.0)
    assert "ratio 15" in v.message
    v = evaluate(chk(kind="ratio", a={"model": "a"}, b={"model": "b"}, k=20.0), T)
    assert v.status == REFUTED and "not >= required 20" in v.message


def test_slope():
    rows = [{"width": w, "seed": 0, "value": 2.0 * w**0.5} for w in (4, 16, 64)]
    v = evaluate(chk(kind="slope", axis="width", interval=(0.45, 0.55)), table(rows))
    assert v.status == CONFIRMED and math.isclose(v.measured["slope"], 0.5, rel_tol=1e-9)
    v = evaluate(chk(kind="slope", axis="width", interval=(0.9, 1.1)), table(rows))
    assert v.status == REFUTED and "outside" in v.message
    # linear (not log-log) slope
    lin = [{"width": w, "seed": 0, "value": 3.0 * w + 1} for w in (1, 2, 3)]
    v = evaluate(
        chk(kind="slope", axis="width", interval=(2.9, 3.1), logx=False, logy=False), table(lin)
    )
    assert v.status == CONFIRMED


def test_slope_inconclusive():
    one = [{"width": 4, "seed": 0, "value": 1.0}]
    v = evaluate(chk(kind="slope", axis="width", interval=(0, 1)), table(one))
    assert v.status == INCONCLUSIVE and "at least 2" in v.message
    neg = [{"width": w, "seed": 0, "value": -1.0} for w in (4, 8)]
    v = evaluate(chk(kind="slope", axis="width", interval=(0, 1)), table(neg))
    assert v.status == INCONCLUSIVE and "non-positive" in v.message


def test_ordering():
    sels = [{"model": "b"}, {"model": "a"}]
    assert (
        evaluate(chk(kind="ordering", selections=sels, order="increasing"), T).status == CONFIRMED
    )
    v = evaluate(chk(kind="ordering", selections=sels, order="decreasing"), T)
    assert v.status == REFUTED and "not decreasing" in v.message


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


def test_extra_row_columns_select():
    rows = [
        {"cell_id": "c0", "seed": 0, "layer": layer, "value": float(layer + 1)}
        for layer in range(3)
    ]
    t = pd.DataFrame([{"experiment": "e", "status": "ok", "metric": "m", **r} for r in rows])
    v = evaluate(chk(where={"layer": 2}, op=">=", value=3.0), t)
    assert v.status == CONFIRMED, v.message
