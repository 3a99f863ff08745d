"""Tests of the trainer experiments (experiments.trainers): the piano-roll model's initial
emission bias, the command line, and (slow) tiny end-to-end runs of the LGSSM and chorales
experiments."""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from experiments.trainers import (
    chorales_experiment,
    comparison_table,
    init_piano_roll_model,
    lgssm_experiment,
)
from experiments.trainers.__main__ import main
from experiments.trainers.driver import _paired, check_methods, ttt_rows
from ssmbench.prob import DeepMarkovModel


def test_init_piano_roll_model_sets_the_frequency_bias():
    y = np.zeros((4, 8, 88), np.float32)
    y[:, :, 40] = 1.0
    y[:2, :, 41] = 1.0
    m = init_piano_roll_model(jax.random.PRNGKey(0), jnp.asarray(y), kind="srnn", state_dim=2,
                              hidden=4)  # fmt: skip
    b = np.asarray(m.emit_mlp.layers[-1].bias)
    assert m.emission == "bernoulli" and b.dtype == np.float32
    np.testing.assert_allclose(b[[0, 40, 41]], [np.log(1e-3 / (1 - 1e-3)), np.log(0.999 / 0.001), 0.0],
                               atol=1e-4)  # fmt: skip
    assert isinstance(init_piano_roll_model(jax.random.PRNGKey(0), jnp.asarray(y), kind="dmm"),
                      DeepMarkovModel)  # fmt: skip


def test_paired_difference_and_method_check():
    rows = [{"metric": "m", "value": 1.0, "method": "fivo"}, {"metric": "m", "value": 3.0, "method": "pvmc"},
            {"metric": "m", "value": 5.0, "method": "dpf-sg"}, {"metric": "z", "value": 9.0, "method": "vae"}]  # fmt: skip
    row = lambda k, v, b: {"metric": k, "value": v, "method": f"pvmc-{b}", "of": "m", "task": "t"}  # noqa: E731
    # one row per other method that has the metric; FIVO's also under its pre-#19 name
    assert _paired(rows, "m", {"task": "t"}) == [
        row("pvmc_minus_baseline", 2.0, "fivo"), row("pvmc_minus_fivo", 2.0, "fivo"),
        row("pvmc_minus_baseline", -2.0, "dpf-sg"),
    ]  # fmt: skip
    # lower is better: baseline - pvmc, under another label
    assert [r["value"] for r in _paired(rows, "m", {}, sign=-1.0, of="x")] == [-2.0, -2.0, 2.0]
    assert _paired(rows, "m", {}, sign=-1.0, of="x")[0]["of"] == "x"
    assert _paired(rows[:1], "m", {}) == []
    assert check_methods(("vae", "pvmc", "fivo@conv")) == ["vae", "pvmc", "fivo@conv"]
    with pytest.raises(ValueError, match="unknown method"):
        check_methods(["vae", "smc"])


def test_ttt_rows_with_an_absolute_target_never_report_the_wall_time_of_a_miss():
    from ssmbench.train import TrainResult

    def res(target_step, t, best, wall):
        return TrainResult(params=None, final_params=None, log=[], evals=[], compile_s=0.0,
                           steps_done=40, best_val=best, target_step=target_step,
                           time_to_target_s=t, step_times=[wall])  # fmt: skip

    rows = ttt_rows({"fivo": res(None, math.nan, -1.7, 9.0), "pvmc": res(20, 1.5, -1.2, 3.0)},
                    {"task": "lgssm"}, target=-1.3)  # fmt: skip
    by = {(r["metric"], r["method"]): r["value"] for r in rows}
    assert by[("reached_target", "fivo")] == 0.0 and ("time_to_target", "fivo") not in by
    assert by[("best_val", "fivo")] == -1.7  # the miss records its best value, not its time
    assert by[("reached_target", "pvmc")] == 1.0 and by[("time_to_target", "pvmc")] == 1.5
    assert by[("steps_to_target", "pvmc")] == 20.0 and by[("target_val", "all")] == -1.3
    assert all(r["task"] == "lgssm" for r in rows)


def test_comparison_table_from_a_run_table(tmp_path):
    rows = [
        ("lgssm", "vae", "gap", 0.1, 0),
        ("lgssm", "vae", "gap", 0.3, 1),
        ("lgssm", "pvmc", "gap", 0.2, 0),
        ("lgssm", "pvmc-fivo", "pvmc_minus_baseline", 0.5, 0),
        ("lgssm", "pvmc-dpf-sg", "pvmc_minus_baseline", -0.25, 0),
        ("lgssm", "fivo@conv", "gap", 0.4, 0),
        ("speed", "fivo", "time_per_step", 0.02, 0),
        ("speed", "fivo", "reached_target", 1.0, 0),
        ("speed", "pvmc", "time_per_step", 0.01, 0),
        ("speed", "fivo/pvmc", "ratio_time_per_step", 2.0, 0),
    ]
    lines = ["experiment,method,metric,value,seed,T,N"]
    lines += [f"{e},{m},{k},{v},{s},128,16" for e, m, k, v, s in rows]
    (tmp_path / "table.csv").write_text("\n".join(lines) + "\n")
    out = comparison_table(str(tmp_path))
    assert "| vae | 0.2 ± 0.141 (n=2) |" in out
    assert "| pvmc | 0.2 (n=1) |" in out  # one seed: no spread
    assert "- pvmc − fivo (paired, per seed): 0.5000; mean 0.5000" in out
    assert "- pvmc − dpf-sg (paired, per seed): -0.2500" in out
    assert "| fivo@conv | 0.4 (n=1) |" in out  # ablations are listed after the library's methods
    assert "| 128 | 16 | fivo | 0.02 | 1/1 | — | — | 2 | — |" in out
    assert "| 128 | 16 | pvmc | 0.01 | — |" in out


def test_command_line_usage(capsys):
    assert main([]) == 2
    assert "usage: python -m experiments.trainers" in capsys.readouterr().err


@pytest.mark.slow  # ~45 s of CPU (six compiled programs); run with -m slow
def test_lgssm_experiment_end_to_end_improves_heldout():
    rows = lgssm_experiment(seed=0, T=10, N=4, steps=30, hidden=8, n_train=4, n_val=2, n_test=2,
                            eval_every=10, patience=100, methods=["vae", "fivo", "pvmc"])  # fmt: skip
    by = {(r["metric"], r["method"]): r["value"] for r in rows if r["metric"] != "curve_heldout"}
    for m in ("vae", "fivo", "pvmc"):
        assert by[("diverged", m)] == 0 and by[("steps", m)] == 30
        assert math.isfinite(by[("heldout_ll", m)]) and by[("time_per_step", m)] > 0
        assert by[("gap", m)] == pytest.approx(by[("true_ll", m)] - by[("heldout_ll", m)])
        curve = sorted(
            (r["step"], r["value"]) for r in rows
            if r["metric"] == "curve_heldout" and r["method"] == m
        )  # fmt: skip
        assert [s for s, _ in curve] == [0, 10, 20, 30]
        # training from a poor initialisation improves the exact held-out log-likelihood
        assert max(v for _, v in curve[1:]) > curve[0][1]
    assert any(r["metric"] == "target_heldout" for r in rows)
    reached = [r for r in rows if r["metric"] == "reached_target"]
    assert len(reached) == 3 and any(r["value"] == 1.0 for r in reached)


# -------------------------------------------------------------------------------------------------
# a short training run on real chorales
# -------------------------------------------------------------------------------------------------
@pytest.mark.slow
def test_chorales_experiment_short_run():
    pytest.importorskip("music21")
    rows = chorales_experiment(seed=0, T=8, N=4, eval_particles=32, steps=4, state_dim=2,
                               hidden=8, batch_size=4, max_pieces=6, max_eval_windows=4,
                               eval_every=2, methods=["fivo", "pvmc"])  # fmt: skip
    val = {(r["metric"], r["method"]): r["value"] for r in rows}
    assert val[("data_pieces", "all")] == 6
    for m in ("fivo", "pvmc"):
        assert np.isfinite(val[("heldout_nll", m)]) and val[("heldout_nll", m)] > 0
        assert val[("steps", m)] == 4
    assert ("pvmc_minus_fivo", "pvmc-fivo") in val
