"""The conditional flow against a known conditional Gaussian, and the blackjax samplers against
closed forms.

Tolerances. Flow: y | c ~ N(a.c + b, s^2) with 3000 rows; a well-specified maximum-likelihood
fit of a model with k effective parameters has an expected excess KL of ~k / (2n), and a MAF of
a few thousand weights that is early-stopped on validation is far from that bound but, measured,
reaches a mean absolute log-density error of ~0.05 nats on held-out points; 0.15 leaves a factor
of three, and an unfitted flow (or a missed standardisation) is off by >1 nat. Samplers: on
N(mu, sd^2) with ~1000+ effective draws, the Monte Carlo error of the mean is ~sd/30; 0.15 sd is
~5 standard errors (the RWM chain, ESS ~300, has ~0.06 sd).
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.scipy.stats import norm

from ssmbench.sbi import (
    FLOW_CONFIG,
    fit_conditional_flow,
    make_conditional_flow,
    nuts,
    random_walk_metropolis,
    random_walk_metropolis_reference,
)
from ssmbench.train import TrainConfig

_FAST = TrainConfig(steps=1200, learning_rate=3e-3, batch_size=256, eval_every=100, patience=3)
assert FLOW_CONFIG.optimizer == "adam"
_A, _B, _S = jnp.array([1.5, -0.7]), 0.3, 0.5


def _rows(key, n):
    """Rows (y (n, 1), c (n, 2)) of y | c ~ N(a.c + b, s^2), c ~ N(0, I)."""
    k1, k2 = jax.random.split(key)
    c = jax.random.normal(k1, (n, 2))
    return (c @ _A + _B + _S * jax.random.normal(k2, (n,)))[:, None], c


def test_flow_recovers_a_conditional_gaussian():
    """Held-out mean |log q(y|c) - log N(y; a.c + b, s^2)| < 0.15 nats."""
    y, c = _rows(jax.random.PRNGKey(0), 3000)
    flow, res = fit_conditional_flow(
        jax.random.PRNGKey(1), y, c, flow_layers=2, nn_width=32, nn_depth=1, config=_FAST
    )
    assert res.best_step is not None and res.steps_done > 0
    yt, ct = _rows(jax.random.PRNGKey(2), 500)
    err = jnp.mean(jnp.abs(flow.log_prob(yt, ct) - norm.logpdf(yt[:, 0], ct @ _A + _B, _S)))
    assert float(err) < 0.15
    # an unfitted flow is far off: the test can fail
    raw = make_conditional_flow(jax.random.PRNGKey(1), 1, 2, flow_layers=2, nn_depth=1)
    err0 = jnp.mean(jnp.abs(raw.log_prob(yt, ct) - norm.logpdf(yt[:, 0], ct @ _A + _B, _S)))
    assert float(err0) > 1.0
    # one row and a batch agree
    np.testing.assert_allclose(flow.log_prob(yt[0], ct[0]), flow.log_prob(yt[:1], ct[:1])[0])


def test_flow_bad_input():
    """Mismatched rows, non-finite rows and bad sizes raise ValueErrors naming the argument."""
    y, c = _rows(jax.random.PRNGKey(0), 20)
    with pytest.raises(ValueError, match="same rows"):
        fit_conditional_flow(jax.random.PRNGKey(1), y, c[:10])
    with pytest.raises(ValueError, match="finite"):
        fit_conditional_flow(jax.random.PRNGKey(1), y.at[3, 0].set(jnp.nan), c)
    with pytest.raises(ValueError, match="nn_width"):
        make_conditional_flow(jax.random.PRNGKey(1), 1, 2, nn_width=0)


def _gauss(mu, sd):
    """log N(x; mu, sd^2 I) (unnormalised)."""
    return lambda x: -0.5 * jnp.sum(((x - mu) / sd) ** 2)


def test_samplers_recover_a_gaussian():
    """RWM (blackjax and the numpy loop) and NUTS: mean within 0.15 sd, sd within 15%."""
    mu, sd = jnp.array([1.0, -2.0]), jnp.array([0.5, 2.0])
    start = jnp.zeros(2)
    rwm = random_walk_metropolis(
        jax.random.PRNGKey(0), _gauss(mu, sd), start, num_steps=20000, sigma=sd, num_burnin=500
    )
    ref = random_walk_metropolis_reference(
        0, lambda x: -0.5 * np.sum(((x - np.asarray(mu)) / np.asarray(sd)) ** 2),
        np.zeros(2), num_steps=20000, sigma=1.0,
    )  # fmt: skip
    nt = nuts(jax.random.PRNGKey(1), _gauss(mu, sd), start, num_steps=1500, num_warmup=200)
    for r, tol_mu in [(rwm, 0.15), (nt, 0.15)]:
        np.testing.assert_array_less(np.abs(np.mean(r.samples, 0) - mu) / sd, tol_mu)
        np.testing.assert_allclose(np.std(r.samples, 0), sd, rtol=0.15)
    assert 0.2 < float(rwm.acceptance_rate) < 0.6
    assert abs(np.mean(ref.samples[500:, 0]) - 1.0) < 0.15 * 0.5 * 3  # sigma=1 mixes worse in x0


def test_sampler_start_must_have_positive_density():
    """A start with log-density -inf (or the wrong shape) raises before sampling."""
    ld = lambda x: jnp.where(jnp.all(x > 0), 0.0, -jnp.inf)  # noqa: E731
    with pytest.raises(ValueError, match="init"):
        random_walk_metropolis(jax.random.PRNGKey(0), ld, -jnp.ones(1))
    with pytest.raises(ValueError, match="init"):
        nuts(jax.random.PRNGKey(0), _gauss(0.0, 1.0), jnp.ones((2, 2)))
