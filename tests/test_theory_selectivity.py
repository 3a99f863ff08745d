"""Tests of theory/selectivity: the selectivity ablation (a small Mamba on an induction head)."""

import equinox as eqx
import jax
import numpy as np
import pytest

import theory.selectivity as sel
from theory.selectivity import ablation

KEY = jax.random.PRNGKey(0)


@pytest.mark.slow
@pytest.mark.parametrize("field", ["real", "complex"])
@pytest.mark.parametrize("selective", ["none", "B+C"])
def test_selectivity_ablation_runs_and_learns(field, selective):
    out = sel.selectivity_ablation(
        seed=0, field=field, selective=selective, length=64, vocab=16, batch=64, steps=400
    )
    assert 0.0 <= out["accuracy"] <= 1.0 and np.isfinite(out["loss"])
    if selective == "B+C":
        # a selective Mamba solves a 16-token induction head well above chance (1/15)
        assert out["accuracy"] > 0.2


@pytest.mark.parametrize("selective", list(sel.ARMS))
@pytest.mark.parametrize("complex_a", [False, True])
def test_arms_build_the_named_mamba(selective, complex_a):
    """Every arm builds, sets δ/B/C selectivity as named, and maps tokens to vocab logits."""
    m = sel._MambaLM(11, 8, 4, 2, selective=selective, complex_a=complex_a, key=KEY)
    for block in m.blocks:
        flags = (block.selective_delta, block.selective_B, block.selective_C)
        assert flags == sel.ARMS[selective] and block.complex_A == complex_a
    tokens = jax.random.randint(KEY, (7,), 0, 11)
    logits = eqx.filter_jit(m)(tokens)
    assert logits.shape == (11,) and np.all(np.isfinite(np.asarray(logits)))
    with pytest.raises(ValueError, match="selective"):
        sel._MambaLM(11, 8, 4, 2, selective="BC", complex_a=complex_a, key=KEY)


def test_time_invariant_arm_is_time_invariant():
    """In the time-invariant arm no parameter of the SSM depends on the input: δ is the same at
    every step and for any input, B and C are constants, and x_proj is absent."""
    m = sel._MambaLM(11, 8, 4, 2, selective="time-invariant", complex_a=True, key=KEY)
    block = m.blocks[0]
    assert block.x_proj is None and block.B is not None and block.C is not None
    deltas = []
    for k in range(2):
        x = jax.random.normal(jax.random.PRNGKey(k + 1), (6, 8))
        _, aux = block(x, return_aux=True)
        deltas.append(np.asarray(aux["delta"]))
    np.testing.assert_allclose(deltas[0], deltas[1])
    np.testing.assert_allclose(deltas[0], np.broadcast_to(deltas[0][0], deltas[0].shape))
    # and "none" is selective in δ only: δ changes with the input
    none = sel._MambaLM(11, 8, 4, 2, selective="none", complex_a=True, key=KEY).blocks[0]
    _, aux = none(jax.random.normal(KEY, (6, 8)), return_aux=True)
    assert np.ptp(np.asarray(aux["delta"]), axis=0).max() > 0


def test_selectivity_ablation_tiny_run_reports_metrics():
    out = sel.selectivity_ablation(
        seed=0, field="complex", selective="time-invariant", length=8, vocab=5, d_model=8,
        d_state=2, n_layers=1, batch=4, steps=3, eval_size=8,
    )  # fmt: skip
    assert set(out) == {"accuracy", "loss", "accuracy_auc"}
    assert 0.0 <= out["accuracy_auc"] <= 1.0 and np.isfinite(out["loss"])


def test_selectivity_ablation_table_rows(monkeypatch):
    """The table's derived rows, with the training replaced by known accuracies."""
    acc = {("real", "none"): 0.2, ("complex", "none"): 0.9, ("real", "B+C"): 0.8}
    acc[("complex", "B+C")] = 0.7
    acc[("real", "time-invariant")], acc[("complex", "time-invariant")] = 0.1, 0.5

    def fake(*, seed, quick, field, selective, **kw):
        a = acc[(field, selective)]
        return {"accuracy": a, "loss": 1.0 - a, "accuracy_auc": a / 2}

    monkeypatch.setattr(ablation, "selectivity_ablation", fake)
    rows = sel.selectivity_ablation_table(seed=0, selectives=["time-invariant", "none", "B+C"])
    get = {(r["metric"], r["field"], r["selective"]): r["value"] for r in rows}
    assert get[("accuracy", "real", "none")] == 0.2 and get[
        ("loss", "complex", "B+C")
    ] == pytest.approx(0.3)
    assert get[("accuracy_auc", "real", "time-invariant")] == pytest.approx(0.05)
    assert get[("gap", "complex-real", "none")] == pytest.approx(0.7)
    assert get[("gap", "complex-real", "B+C")] == pytest.approx(-0.1)
    assert get[("gap", "complex-real", "time-invariant")] == pytest.approx(0.4)
    assert get[("gap_auc", "complex-real", "none")] == pytest.approx(0.35)
    # the prediction holds here: the gap shrinks (and reverses) once B and C are selective
    assert get[("gap_change", "complex-real", "B+C vs none")] == pytest.approx(-0.8)
    assert get[("gap_change_ti", "complex-real", "B+C vs time-invariant")] == pytest.approx(-0.5)
    assert get[("gap_change_auc", "complex-real", "B+C vs none")] == pytest.approx(-0.4)
    assert get[("gap_change_auc_ti", "complex-real", "B+C vs time-invariant")] == pytest.approx(
        -0.25
    )
    only_none = sel.selectivity_ablation_table(seed=0, selectives=["none"])
    assert not [r for r in only_none if r["metric"].startswith("gap_change")]
    no_ti = sel.selectivity_ablation_table(seed=0, selectives=["none", "B+C"])
    assert {r["metric"] for r in no_ti if r["metric"].startswith("gap_change")} == {
        "gap_change",
        "gap_change_auc",
    }


def test_suite_block_parses():
    from ssmbench.harness.suite import load_suite

    suite = load_suite("suites/theory.toml")
    (exp,) = [e for e in suite.experiments if e.name == "selectivity-ablation"]
    assert "time-invariant" in exp.params["selectives"] and list(exp.seeds) == [0, 1, 2]
    checks = [c for c in suite.checks if c.experiment == "selectivity-ablation"]
    assert {c.metric for c in checks} == {"gap_change", "gap_change_ti", "gap_change_auc"}
    assert all(c.aggregate == "mean" for c in checks)
