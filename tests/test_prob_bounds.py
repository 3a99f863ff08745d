"""ELBO / IWAE, cross-bound identities, gradients, and robustness (log-space weights)."""

import math

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from ssmbench.prob import (
    LGSSM,
    SRNN,
    BootstrapProposal,
    ConvProposal,
    DeepMarkovModel,
    FilteringProposal,
    GaussianMarginals,
    LotkaVolterra,
    SmoothingProposal,
    StochasticVolatility,
    elbo,
    iwae,
    kalman_filter,
    pvmc,
    smc,
)


def test_all_bounds_exact_with_exact_posterior_at_T1():
    # With one time point the RTS marginal *is* the posterior p(x_0 | y_0), so every importance
    # weight equals p(y) exactly: all four bounds return log p(y) for any key and N.
    m = LGSSM.vsmc()
    _, y = m.simulate(jax.random.PRNGKey(0), 1)
    lp = float(kalman_filter(m, y).log_likelihood)
    q = GaussianMarginals.from_kalman_smoother(m, y)
    key = jax.random.PRNGKey(1)
    for bound in (elbo, iwae, smc, pvmc):
        assert abs(float(bound(key, m, q, y, 3)[0]) - lp) < 1e-10, bound.__name__


def test_iwae_with_one_sample_is_the_elbo_and_iwae_unbiased(gaussian_hmm):
    m = gaussian_hmm()
    _, y = m.simulate(jax.random.PRNGKey(2), 5)
    key = jax.random.PRNGKey(3)
    assert float(iwae(key, m, BootstrapProposal(), y, 1)[0]) == pytest.approx(
        float(elbo(key, m, BootstrapProposal(), y, 1)[0]), abs=1e-12
    )
    lp = float(kalman_filter(m, y).log_likelihood)
    keys = jax.random.split(key, 4000)
    lz = np.asarray(jax.jit(jax.vmap(lambda k: iwae(k, m, BootstrapProposal(), y, 4)[0]))(keys))
    le = np.asarray(jax.jit(jax.vmap(lambda k: elbo(k, m, BootstrapProposal(), y, 4)[0]))(keys))
    r = np.exp(lz - lp)
    se = r.std(ddof=1) / math.sqrt(len(r))
    assert abs(r.mean() - 1) < 3 * se, (r.mean(), se)
    assert le.mean() < lz.mean() < lp + 3 * lz.std() / math.sqrt(len(lz))


def _models_and_proposals():
    k = jax.random.PRNGKey(4)
    out = []
    for m in (StochasticVolatility(), LotkaVolterra(), DeepMarkovModel(2, 3, 8, key=k),
              SRNN(2, 3, 8, key=k), LGSSM.random(k, 2, 3)):  # fmt: skip
        dx, dy = m.state_dim, m.obs_dim
        out.append((m, FilteringProposal(dx, dy, 8, key=k), SmoothingProposal(dx, dy, 8, key=k),
                    ConvProposal(dx, dy, 8, 3, key=k)))  # fmt: skip
    return out


def _check_differentiable(which):
    key = jax.random.PRNGKey(6)
    for m, fq, sq, cq in [_models_and_proposals()[i] for i in which]:
        _, y = m.simulate(jax.random.PRNGKey(5), 6)
        for bound, q in ((elbo, fq), (iwae, sq), (smc, fq), (pvmc, cq)):

            def loss(mq, bound=bound, y=y):
                return -bound(key, mq[0], mq[1], y, 4)[0]

            v, g = eqx.filter_value_and_grad(loss)((m, q))
            leaves = jax.tree.leaves(eqx.filter(g, eqx.is_inexact_array))
            assert np.isfinite(float(v)), (type(m).__name__, bound.__name__)
            assert all(np.all(np.isfinite(np.asarray(leaf))) for leaf in leaves)
            # the proposal and the model both receive gradient
            assert any(float(jnp.abs(leaf).sum()) > 0 for leaf in jax.tree.leaves(eqx.filter(g[1], eqx.is_inexact_array)))  # fmt: skip
            assert any(float(jnp.abs(leaf).sum()) > 0 for leaf in jax.tree.leaves(eqx.filter(g[0], eqx.is_inexact_array)))  # fmt: skip


def test_every_bound_differentiable_sv():
    # default: one model (8 grad compiles; SRNN's took another minute of the 20-minute CI
    # budget); all five models, SRNN included, under slow
    _check_differentiable([0])


@pytest.mark.slow
def test_every_bound_differentiable_all_models():
    _check_differentiable(range(5))


def _mismatched(m, y, shift=5.0, inflation=0.01):
    return GaussianMarginals.from_kalman_smoother(m, y, inflation=inflation, shift=shift)


def _finite_everywhere(hmm, T, N, dtype):
    m = jax.tree.map(lambda a: a.astype(dtype), hmm(v_x=0.1))
    _, y = m.simulate(jax.random.PRNGKey(7), T)
    q = _mismatched(m, y)
    key = jax.random.PRNGKey(8)
    out = {}
    out["smc"] = jax.jit(lambda k: smc(k, m, q, y, N)[0])(key)
    out["smc_boot"] = jax.jit(lambda k: smc(k, m, BootstrapProposal(), y, N)[0])(key)
    out["iwae"] = jax.jit(lambda k: iwae(k, m, q, y, N)[0])(key)
    out["elbo"] = jax.jit(lambda k: elbo(k, m, q, y, N)[0])(key)
    out["pvmc_seq"] = jax.jit(lambda k: pvmc(k, m, q, y, N, method="sequential", smoothing=False)[0])(key)  # fmt: skip
    out["pvmc_assoc"] = jax.jit(lambda k: pvmc(k, m, q, y, N, smoothing=False)[0])(key)
    for name, v in out.items():
        assert v.dtype == dtype and np.isfinite(float(v)), (name, v)
    # the associative (auto) reduction stays equal to the sequential one under the mismatch
    assert abs(float(out["pvmc_seq"] - out["pvmc_assoc"])) < 1e-6 * abs(float(out["pvmc_seq"]))
    return out


@pytest.mark.parametrize(
    "dtype", [jnp.float32, pytest.param(jnp.float64, marks=pytest.mark.slow)]
)  # float32 is where underflow bites; float64 under -m slow (the 20-minute default budget)
def test_bounds_finite_with_mismatched_proposal_moderate_T(gaussian_hmm, dtype):
    _finite_everywhere(gaussian_hmm, 1000, 16, dtype)


@pytest.mark.slow
def test_bounds_finite_with_mismatched_proposal_T10000_N64(gaussian_hmm):
    _finite_everywhere(gaussian_hmm, 10_000, 64, jnp.float64)
