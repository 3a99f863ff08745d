"""Tests of theory/selectivity: the selectivity ablation (a small Mamba on an induction head)."""

import numpy as np
import pytest

import theory.selectivity as sel
from theory.selectivity import ablation


@pytest.mark.slow
@pytest.mark.parametrize("field", ["real", "complex"])
@pytest.mark.parametrize("selective", ["none", "B+C"])
def test_selectivity_ablation_runs_and_learns(field, selective):
    out = sel.selectivity_ablation(seed=0, field=field, selective=selective, steps=400)
    assert 0.0 <= out["accuracy"] <= 1.0 and np.isfinite(out["loss"])
    if selective == "B+C":
        # a selective Mamba solves a 16-token induction head well above chance (1/15)
        assert out["accuracy"] > 0.2


def test_selectivity_ablation_table_rows(monkeypatch):
    """The table's derived rows, with the training replaced by known accuracies."""
    acc = {("real", "none"): 0.2, ("complex", "none"): 0.9, ("real", "B+C"): 0.8}
    acc[("complex", "B+C")] = 0.7

    def fake(*, seed, quick, field, selective, **kw):
        return {"accuracy": acc[(field, selective)], "loss": 1.0 - acc[(field, selective)]}

    monkeypatch.setattr(ablation, "selectivity_ablation", fake)
    rows = sel.selectivity_ablation_table(seed=0, selectives=["none", "B+C"])
    get = {(r["metric"], r["field"], r["selective"]): r["value"] for r in rows}
    assert get[("accuracy", "real", "none")] == 0.2 and get[
        ("loss", "complex", "B+C")
    ] == pytest.approx(0.3)
    assert get[("gap", "complex-real", "none")] == pytest.approx(0.7)
    assert get[("gap", "complex-real", "B+C")] == pytest.approx(-0.1)
    # the prediction holds here: the gap shrinks (and reverses) once B and C are selective
    assert get[("gap_change", "complex-real", "B+C vs none")] == pytest.approx(-0.8)
    only_none = sel.selectivity_ablation_table(seed=0, selectives=["none"])
    assert not [r for r in only_none if r["metric"] == "gap_change"]
