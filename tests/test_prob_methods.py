"""Tests of the training methods (ssmbench.prob.methods): every method's bound and loss on a tiny
LGSSM, the PVMC path choice (both paths give the same value), the VAE's ELBO through the IWAE
draws, and the chunked SMC evaluator."""

from __future__ import annotations

import math

import equinox as eqx
import jax
import jax.numpy as jnp
import pytest

from experiments.trainers import init_lgssm, true_lgssm
from ssmbench.prob import (
    METHODS,
    elbo,
    iwae,
    kalman_filter,
    make_loss,
    make_proposal,
    method_bound,
    pvmc_path,
)
from ssmbench.prob.methods import batched_bound, smc_eval_per_step
from ssmbench.tasks.ssm_data import lgssm_task


@pytest.fixture(scope="module")
def tiny():
    task = lgssm_task(8, seed=0, n_train=3, n_val=1, n_test=1, state_dim=2, obs_dim=2)
    model = init_lgssm(jax.random.PRNGKey(0), 2, 2)
    return task, model


def test_pvmc_path_by_backend():
    assert pvmc_path("cpu") == "sequential"
    assert pvmc_path("gpu") == "associative" and pvmc_path("tpu") == "associative"
    assert pvmc_path() == ("sequential" if jax.default_backend() == "cpu" else "associative")


@pytest.mark.parametrize("method", METHODS)
def test_every_method_bound_and_gradient(tiny, method):
    # ott-jax (dpf-ot) relies on implicit rank and dtype promotion in its Sinkhorn gradient; the
    # suite's strict settings (conftest.py) are relaxed for that method only
    ott = method == "dpf-ot"
    with (
        jax.numpy_rank_promotion("allow" if ott else "raise"),
        jax.numpy_dtype_promotion("standard" if ott else "strict"),
    ):
        _check_method(tiny, method)


def _check_method(tiny, method):
    task, model = tiny
    q = make_proposal(method, 2, 2, 8, key=jax.random.PRNGKey(1))
    batch = jnp.asarray(task.y_train, jnp.float32)
    loss = make_loss(method, 4)

    @eqx.filter_jit  # one compile: the bound of one sequence, and the loss with its gradient
    def run(params, y0):
        lz, d = method_bound(method, jax.random.PRNGKey(2), params[0], params[1], y0, 4)
        (val, aux), g = eqx.filter_value_and_grad(loss, has_aux=True)(
            params, jax.random.PRNGKey(3), batch
        )
        return lz, d["ess"], val, aux, g

    y0 = batch[0]
    lz, ess, val, aux, g = run((model, q), y0)
    assert jnp.isfinite(lz)
    # a lower bound in expectation; one draw on a T = 8 sequence is far from exceeding the
    # exact value by 5 nats
    assert float(lz) < float(kalman_filter(true_lgssm(task.params), y0).log_likelihood) + 5.0
    assert 1.0 - 1e-4 <= float(ess) <= 4.0 + 1e-4
    assert jnp.isfinite(val) and math.isclose(float(val), -float(aux["bound"]), rel_tol=1e-6)
    leaves = jax.tree.leaves(eqx.filter(g, eqx.is_inexact_array))
    assert leaves and all(bool(jnp.all(jnp.isfinite(x))) for x in leaves)
    # the loss reaches the model's parameters (not only the proposal's)
    assert float(jnp.sum(jnp.abs(g[0].A))) > 0


def test_pvmc_paths_agree(tiny):
    task, model = tiny
    q = make_proposal("pvmc", 2, 2, 8, key=jax.random.PRNGKey(1))
    y = jnp.asarray(task.y_train[0], jnp.float32)
    k = jax.random.PRNGKey(5)
    a, _ = method_bound("pvmc-seq", k, model, q, y, 8)
    b, _ = method_bound("pvmc-assoc", k, model, q, y, 8)
    # same particles, two reductions (exact logsumexp scan vs shifted exp-matmul in float32)
    assert float(a) == pytest.approx(float(b), abs=1e-3)


def test_vae_smoothing_path_is_the_same_elbo(tiny):
    # with smoothing=True the VAE's ELBO is taken from the IWAE draws: the same number as elbo()
    task, model = tiny
    q = make_proposal("vae", 2, 2, 8, key=jax.random.PRNGKey(1))
    y = jnp.asarray(task.y_train[0], jnp.float32)
    k = jax.random.PRNGKey(7)
    a, da = method_bound("vae", k, model, q, y, 5)
    b, db = method_bound("vae", k, model, q, y, 5, smoothing=True)
    assert float(a) == pytest.approx(float(b), rel=1e-6)
    assert float(a) == pytest.approx(float(elbo(k, model, q, y, 5)[0]), rel=1e-6)
    assert float(da["ess"]) == pytest.approx(float(db["ess"]), rel=1e-5)
    assert float(iwae(k, model, q, y, 5)[0]) >= float(a) - 1e-5  # IWAE >= ELBO on the same draws
    assert db["means"].shape == (8, 2)


def test_chunked_evaluator_equals_the_unchunked_one():
    # oracle: one vmapped filter over all sequences; chunks (the last padded) keep each
    # sequence's key, so only float32 summation order differs
    task = lgssm_task(6, seed=1, n_train=5, n_val=1, n_test=1, state_dim=2, obs_dim=2)
    model, y = true_lgssm(task.params), jnp.asarray(task.y_train, jnp.float32)
    key = jax.random.PRNGKey(3)
    whole = float(smc_eval_per_step(model, key, y, 32))
    for chunk in (1, 2, 5, 8):
        got = float(smc_eval_per_step(model, key, y, 32, chunk=chunk))
        assert got == pytest.approx(whole, rel=1e-5), chunk


@pytest.mark.parametrize("method", ["vae", "fivo", "pvmc-seq", "pvmc-assoc"])
def test_batched_bound_equals_the_per_sequence_bounds(tiny, method):
    # oracle: a Python loop of method_bound with the keys batched_bound splits
    task, model = tiny
    q = make_proposal(method, 2, 2, 8, key=jax.random.PRNGKey(1))
    y = jnp.asarray(task.y_train[:3], jnp.float32)
    key = jax.random.PRNGKey(11)
    lz, d = jax.jit(lambda k: batched_bound(method, k, model, q, y, 4))(key)
    keys = jax.random.split(key, 3)
    for i in range(3):
        ref, dref = method_bound(method, keys[i], model, q, y[i], 4)
        # float32; the same operations up to batching: 1e-4 relative
        assert float(lz[i]) == pytest.approx(float(ref), rel=1e-4, abs=1e-4), i
        assert float(d["ess"][i]) == pytest.approx(float(dref["ess"]), rel=1e-3), i


def test_truncated_pvmc_is_not_a_training_method():
    assert "pvmc-truncated" not in METHODS
    with pytest.raises(ValueError, match="unknown method 'pvmc-truncated'"):
        make_loss("pvmc-truncated", 4)


def test_same_proposal_ablation_names(tiny):
    from ssmbench.prob import ConvProposal, FilteringProposal

    task, model = tiny
    assert isinstance(make_proposal("fivo", 2, 2, 8, key=jax.random.PRNGKey(0)), FilteringProposal)
    for method in ("fivo@conv", "dpf-sg@conv", "dpf-marginal@conv", "dssm"):
        q = make_proposal(method, 2, 2, 8, key=jax.random.PRNGKey(0))
        assert isinstance(q, ConvProposal), method
        y0 = jnp.asarray(task.y_train[0], jnp.float32)
        lz, _ = method_bound(method, jax.random.PRNGKey(1), model, q, y0, 4)
        assert bool(jnp.isfinite(lz)), method
    for bad in ("pvmc@conv", "fivo@smoothing", "vae@conv"):
        with pytest.raises(ValueError, match="unknown method"):
            make_loss(bad, 4)
