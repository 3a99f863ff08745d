"""experiments/dsr: a tiny reconstruction cell per method, a diverging model, the scaling sweep.

These check the plumbing (rows, columns, diverged reporting), not the suite's claims: the cells
train for a few steps only. The deconvolution's correlation is a property of the data and is
asserted > 0.9 (it is ~0.99 at 1% noise).
"""

import math

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pandas as pd
import pytest

from experiments.dsr import reconstruction_experiment, scaling_experiment
from experiments.dsr.reconstruction import evaluate_model
from ssmbench.dsr import ConvSSM

METRICS = {"d_stsp", "d_h", "lambda_max", "deconv_corr", "wall_s", "train_s", "compile_s",
           "time_per_step", "final_loss", "diverged", "train_diverged"}  # fmt: skip


def test_reconstruction_cell_rows():
    method = "convssm"
    rows = pd.DataFrame(reconstruction_experiment(
        seed=0, method=method, T=400, steps=5, free_run_steps=2000, lyap_steps=50, unroll=2,
    ))  # fmt: skip
    assert set(rows.metric) == METRICS and set(rows.columns) == {"metric", "value"}
    v = rows.set_index("metric")["value"]
    assert v["deconv_corr"] > 0.9
    assert v["time_per_step"] > 0 and v["wall_s"] >= v["train_s"]
    if v["diverged"] == 0:
        assert np.isfinite(v[["d_stsp", "d_h", "lambda_max"]].astype(float)).all()
    with pytest.raises(ValueError, match="method must be one of"):
        reconstruction_experiment(seed=0, method="nope")


def test_a_diverging_model_is_reported_not_raised():
    """A = 3 I: the free run overflows to inf; the metrics are NaN and diverged is 1."""
    base = ConvSSM(3, 3, 4, key=jax.random.PRNGKey(0))
    m = eqx.tree_at(lambda t: t.latent.A, base, jnp.full((3,), 3.0))
    ref = np.random.default_rng(0).normal(size=(2000, 3))
    out = evaluate_model(m, jnp.ones(3), ref, dt=0.01, lyap_steps=10)
    assert out["diverged"] == 1.0
    assert all(math.isnan(out[k]) for k in ("d_stsp", "d_h", "lambda_max"))


def test_scaling_sweep_rows():
    rows = pd.DataFrame(scaling_experiment(seed=0, axis="hrf_len", hrf_lens=[5, 9], seq_len=20,
                                           hidden_dim=8, batch_size=2, repeats=2, unroll=1))  # fmt: skip
    t = rows[rows.metric == "time_per_step"]
    assert list(t.K) == [5, 9] and (t.value > 0).all()
    assert set(t.L) == {20} and set(t.M) == {3}
    with pytest.raises(ValueError, match="axis must be one of"):
        scaling_experiment(seed=0, axis="width")
