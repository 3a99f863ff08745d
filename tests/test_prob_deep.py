"""Tests of the neural models (ssmbench.prob.deep): the Bernoulli emission of the DMM and the SRNN
against its direct formula."""

from __future__ import annotations

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from ssmbench.prob import SRNN, DeepMarkovModel, bernoulli_log_prob


def _direct(y, logits):
    """sum_i y_i log p_i + (1 - y_i) log(1 - p_i) with p_i = 1 / (1 + exp(-l_i)), straight from the
    definition in float64 NumPy; ``1 - p_i`` is written ``1 / (1 + exp(l_i))`` so that it keeps its
    relative precision for large ``l_i`` (the subtraction would cancel)."""
    logits = np.asarray(logits, np.float64)
    p, one_minus_p = 1.0 / (1.0 + np.exp(-logits)), 1.0 / (1.0 + np.exp(logits))
    y = np.asarray(y, np.float64)
    return float(np.sum(y * np.log(p) + (1 - y) * np.log(one_minus_p)))


def test_bernoulli_log_prob_against_the_formula():
    rng = np.random.default_rng(0)
    for scale in (0.1, 3.0, 12.0):
        logits = rng.normal(0, scale, 88)
        y = (rng.random(88) < 0.3).astype(np.float64)
        # float64 on both sides: agreement to rounding
        np.testing.assert_allclose(float(bernoulli_log_prob(jnp.asarray(y), jnp.asarray(logits))),
                                   _direct(y, logits), rtol=1e-12, atol=1e-10)  # fmt: skip
    # stable where the naive formula overflows: log sigmoid(-200) = -200 (to 1e-87)
    v = bernoulli_log_prob(jnp.zeros(1), jnp.full(1, 200.0))
    assert float(v) == pytest.approx(-200.0, rel=1e-12)


@pytest.mark.parametrize("cls", [SRNN, DeepMarkovModel])
def test_models_bernoulli_emission(cls):
    k = jax.random.PRNGKey(0)
    m = cls(3, 88, 8, key=k, emission="bernoulli")
    assert m.obs_dim == 88 and m.emit_mlp.out_size == 88  # logits only, no scales
    rng = np.random.default_rng(1)
    y = jnp.asarray((rng.random((5, 88)) < 0.1).astype(np.float64))
    x = jnp.asarray(rng.normal(size=(5, 3)))

    @eqx.filter_jit  # one compile for everything (eager per-op dispatch is slow on a busy CPU)
    def run(m, x, y):
        c = m.context(y)
        lp = jax.vmap(m.emission_log_prob)(x, y, c)
        logits = jax.vmap(m.emit_mlp)(x if cls is DeepMarkovModel else jnp.concatenate([x, c], 1))
        keys = jax.random.split(jax.random.PRNGKey(2), 5)
        return lp, logits, jax.vmap(m.emission_sample)(keys, x, c)

    lp, logits, ys = run(m, x, y)
    want = [_direct(y[t], logits[t]) for t in range(5)]
    np.testing.assert_allclose(np.asarray(lp), want, rtol=1e-10)  # float64 both sides
    assert ys.shape == (5, 88) and set(np.unique(np.asarray(ys)).tolist()) <= {0.0, 1.0}
    with pytest.raises(ValueError, match="emission"):
        cls(3, 88, 8, key=k, emission="poisson")
