"""Tests of the classic models (ssmbench.prob.classic): the learned-drift Lotka-Volterra densities
against scipy, and its observation model against the simulator's."""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import scipy.stats

from ssmbench.prob import LotkaVolterra, NeuralLotkaVolterra


def test_neural_lotka_volterra_densities():
    m = NeuralLotkaVolterra(
        8, key=jax.random.PRNGKey(0), dt=0.01, obs_scale=10.0, dtype=jnp.float32
    )
    x_prev = jnp.array([0.1, 0.5], jnp.float32)
    x = jnp.array([0.12, 0.45], jnp.float32)
    c = jnp.zeros((0,), jnp.float32)
    mean = x_prev + m.drift(x_prev) * 0.01
    sd = 0.5 * math.sqrt(0.01)
    want = scipy.stats.norm.logpdf(np.asarray(x), np.asarray(mean), sd).sum()
    assert float(m.transition_log_prob(x_prev, x, c)) == pytest.approx(want, rel=1e-5)
    y = jnp.array([3.0, 17.0], jnp.float32)
    want = scipy.stats.poisson.logpmf(np.asarray(y), 10.0 * np.exp(np.asarray(x))).sum()
    assert float(m.emission_log_prob(x, y, c)) == pytest.approx(want, rel=1e-5)
    # the same Poisson observation model as the simulator's
    lv = LotkaVolterra(obs_scale=10.0, dtype=jnp.float32)
    assert float(lv.emission_log_prob(x, y, c)) == float(m.emission_log_prob(x, y, c))
