"""SMC: resampling schemes, adaptive resampling, unbiasedness, bound, shrinking gap, convergence,
filtered means vs Kalman, and the score-function option."""

import math

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from ssmbench.prob import (
    LGSSM,
    AbstractProposal,
    BootstrapProposal,
    GaussianMarginals,
    kalman_filter,
    multinomial_resample,
    smc,
    systematic_resample,
)


def test_resampling_schemes():
    logw = jnp.log(jnp.array([0.5, 0.3, 0.15, 0.05, 0.0]))
    N = 8
    keys = jax.random.split(jax.random.PRNGKey(0), 4000)
    counts = lambda idx: jnp.zeros(5).at[idx].add(1.0)  # noqa: E731
    cm = np.asarray(jax.vmap(lambda k: counts(multinomial_resample(k, logw, N)))(keys))
    cs = np.asarray(jax.vmap(lambda k: counts(systematic_resample(k, logw, N)))(keys))
    expected = N * np.exp(np.asarray(logw))
    # multinomial: unbiased counts, within 4 standard errors of N W
    se = np.sqrt(N * np.exp(np.asarray(logw)) * (1 - np.exp(np.asarray(logw))) / len(keys)) + 1e-12
    assert np.all(np.abs(cm.mean(0) - expected) < 4 * se + 1e-12)
    # systematic: every draw gives floor(N W) or ceil(N W) copies; counts are unbiased
    assert np.all(cs >= np.floor(expected) - 1e-9) and np.all(cs <= np.ceil(expected) + 1e-9)
    assert np.all(np.abs(cs.mean(0) - expected) < 0.05)
    assert cm[:, 4].max() == 0 and cs[:, 4].max() == 0  # zero weight is never picked


def test_ess_threshold_controls_resampling_and_diagnostics(gaussian_hmm):
    m = gaussian_hmm()
    _, y = m.simulate(jax.random.PRNGKey(1), 12)
    key = jax.random.PRNGKey(2)
    _, never = smc(key, m, BootstrapProposal(), y, 16, ess_threshold=0.0)
    _, always = smc(key, m, BootstrapProposal(), y, 16, ess_threshold=1.01)
    assert not never["resampled"].any()
    assert always["resampled"][1:].all() and not always["resampled"][0]
    for d in (never, always):
        assert d["ess"].shape == (12,) and d["filtered_means"].shape == (12, 1)
        assert np.all((d["ess"] >= 1 - 1e-9) & (d["ess"] <= 16 + 1e-9))


def _many(model, y, N, num_seeds, seed=0, **kw):
    keys = jax.random.split(jax.random.PRNGKey(seed), num_seeds)
    f = lambda k: smc(k, model, BootstrapProposal(), y, N, **kw)[0]  # noqa: E731
    return np.asarray(jax.jit(jax.vmap(f))(keys))


@pytest.mark.parametrize("resampling", ["multinomial", "systematic"])
def test_smc_unbiased(gaussian_hmm, resampling):
    m = gaussian_hmm()
    _, y = m.simulate(jax.random.PRNGKey(3), 5)
    lp = float(kalman_filter(m, y).log_likelihood)
    lz = _many(m, y, 4, 4000, resampling=resampling)
    r = np.exp(lz - lp)
    se = r.std(ddof=1) / math.sqrt(len(r))
    assert abs(r.mean() - 1) < 3 * se, (r.mean(), se)


def test_smc_bound_and_gap_shrinks_in_N(gaussian_hmm):
    m = gaussian_hmm(v_x=0.2)
    _, y = m.simulate(jax.random.PRNGKey(4), 10)
    lp = float(kalman_filter(m, y).log_likelihood)
    gaps, ses = [], []
    for N in (4, 16, 64, 256):
        lz = _many(m, y, N, 256, seed=N)
        gaps.append(lp - lz.mean())
        ses.append(lz.std(ddof=1) / math.sqrt(len(lz)))
    gaps, ses = np.array(gaps), np.array(ses)
    assert np.all(gaps > -3 * ses), (gaps, ses)
    assert np.all(np.diff(gaps) < 0), gaps
    assert gaps[0] > 4 * gaps[-1], gaps


def test_smc_converges_and_filtered_means_match_kalman(gaussian_hmm):
    m = gaussian_hmm()
    _, y = m.simulate(jax.random.PRNGKey(5), 20)
    lp = float(kalman_filter(m, y).log_likelihood)
    keys = jax.random.split(jax.random.PRNGKey(6), 4)
    f = lambda k: smc(k, m, BootstrapProposal(), y, 4096)  # noqa: E731
    lz, d = jax.jit(jax.vmap(f))(keys)
    assert abs(float(lz.mean()) - lp) < 0.05, (lz, lp)
    kf = np.asarray(kalman_filter(m, y).filtered_means)
    # Monte Carlo error of a weighted mean with N = 4096 (ESS >~ 1000), posterior sd <~ 0.6:
    # ~0.02 per seed; 0.05 on the 4-seed average leaves margin.
    np.testing.assert_allclose(np.asarray(d["filtered_means"]).mean(0), kf, atol=0.05)


def test_score_function_changes_gradient_not_value(gaussian_hmm):
    m = gaussian_hmm()
    _, y = m.simulate(jax.random.PRNGKey(7), 8)
    key = jax.random.PRNGKey(8)

    def loss(model, sf):
        return smc(key, model, BootstrapProposal(), y, 8, resampling="multinomial",
                   ess_threshold=1.01, score_function=sf)[0]  # fmt: skip

    v0, g0 = eqx.filter_value_and_grad(loss)(m, False)
    v1, g1 = eqx.filter_value_and_grad(loss)(m, True)
    assert float(v0) == pytest.approx(float(v1), abs=1e-12)
    assert np.isfinite(float(g1.A[0, 0])) and abs(float(g1.A[0, 0] - g0.A[0, 0])) > 1e-6
    with pytest.raises(ValueError, match="multinomial"):
        smc(key, m, BootstrapProposal(), y, 8, resampling="systematic", score_function=True)
    with pytest.raises(ValueError, match="resampling"):
        smc(key, m, BootstrapProposal(), y, 8, resampling="stratified")


def test_score_function_surrogate_has_the_gradient_of_the_expected_bound():
    """The expectation of the score-function gradient is d/dC E[log Z-hat] (FIVO's bound), whose
    oracle is a central finite difference with common random numbers (h = 0.05, 100k keys).
    Setting: 1-D Gaussian HMM with tight transitions (v_z = 0.05, v_x = 0.1), T = 2, N = 2,
    resampling at every step, prior marginals as proposal (particles independent of C). There
    the dropped term is large: the plain gradient is >6 s.e. from the oracle (the test's power;
    a sign error in the surrogate would miss by about as much)."""
    m = LGSSM.gaussian_hmm_1d(w_z=0.9, v_z=0.05, w_x=1.0, v_x=0.1)
    T, N, K, h = 2, 2, 100_000, 0.05
    _, y = m.simulate(jax.random.PRNGKey(3), T)
    q = GaussianMarginals.prior_marginals(m, T)
    c0 = float(m.C[0, 0])

    def lz(c, k, score):
        mm = eqx.tree_at(lambda z: z.C, m, jnp.reshape(c, (1, 1)))
        return smc(k, mm, q, y, N, resampling="multinomial", ess_threshold=1.0,
                   score_function=score)[0]  # fmt: skip

    keys = jax.random.split(jax.random.PRNGKey(4), K)
    run = lambda f: np.asarray(jax.jit(jax.vmap(f))(keys))  # noqa: E731
    g_score = run(lambda k: jax.grad(lz)(c0, k, True))
    g_plain = run(lambda k: jax.grad(lz)(c0, k, False))
    fd = run(lambda k: (lz(c0 + h, k, False) - lz(c0 - h, k, False)) / (2 * h))
    se = lambda a: a.std(ddof=1) / math.sqrt(K)  # noqa: E731
    z_score = (g_score.mean() - fd.mean()) / math.hypot(se(g_score), se(fd))
    z_plain = (g_plain.mean() - fd.mean()) / math.hypot(se(g_plain), se(fd))
    assert abs(z_score) < 4.0, (g_score.mean(), fd.mean(), z_score)
    assert abs(z_plain) > 6.0, (g_plain.mean(), fd.mean(), z_plain)


class _LinearProposal(AbstractProposal):
    """q(x_t | x_{t-1}) = N(slope * x_{t-1}, 1): an expansive proposal when slope > 1."""

    slope: jax.Array

    def features(self, model, y):
        return y

    def initial(self, model, a):
        return jnp.zeros((1,), a.dtype), jnp.ones((1,), a.dtype)

    def step(self, model, x_prev, a):
        return self.slope * x_prev, jnp.ones_like(x_prev)


def test_ancestor_gradient_stop_keeps_the_value_and_cuts_exploding_chains(gaussian_hmm):
    """Regression for FIVO's SV divergence (docs/trainers.md): with an expansive proposal and
    resampling at every step, the pathwise gradient through resampled chains grows
    exponentially in T; ancestor_gradient=False stops it at each resampling, value unchanged."""
    m = gaussian_hmm()
    _, y = m.simulate(jax.random.PRNGKey(1), 200)
    y = y.astype(jnp.float32)
    m32 = jax.tree.map(lambda a: a.astype(jnp.float32) if eqx.is_inexact_array(a) else a, m)
    q = _LinearProposal(jnp.asarray(1.2, jnp.float32))
    key = jax.random.PRNGKey(2)

    def grad_max(stop):
        def f(qq):
            return smc(key, m32, qq, y, 16, resampling="multinomial", ess_threshold=1.01,
                       ancestor_gradient=not stop)[0]  # fmt: skip

        v, g = jax.value_and_grad(lambda s: f(_LinearProposal(s)))(q.slope)
        return float(v), abs(float(g))

    v_path, g_path = grad_max(False)
    v_stop, g_stop = grad_max(True)
    assert v_path == v_stop  # the same draws and value
    assert math.isfinite(g_stop) and g_stop < 1e4
    assert not math.isfinite(g_path) or g_path > 1e3 * g_stop
