"""Lotka-Volterra by Gillespie simulation: the JAX simulator against the numpy loop and a closed
form, the event cap, ``model(theta)`` with the bootstrap particle filter, and bad input.

Tolerances and seeds (all keys fixed): Monte Carlo comparisons of means and standard deviations
are asserted within 5 standard errors (a false failure has probability ~6e-7 per check). The
standard error of a sample mean is ``sd / sqrt(n)``; of a sample standard deviation
``sqrt((m4 - var^2) / n) / (2 sd)`` (delta method, m4 the fourth central moment); of a
difference of two independent estimates, the root sum of squares.
"""

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy.stats import norm

from ssmbench.prob import BootstrapProposal, smc
from ssmbench.sbi import LVTask, gillespie_reference
from ssmbench.sbi.lv import GillespieLV, gillespie_path

TASK = LVTask()
X0 = np.array([50.0, 100.0])


def _mean_sd_se(a):
    """Per-column mean, sd and their standard errors."""
    n = a.shape[0]
    m, sd = a.mean(0), a.std(0, ddof=1)
    m4 = np.mean((a - m) ** 4, axis=0)
    return m, sd, sd / math.sqrt(n), np.sqrt(np.maximum(m4 - sd**4, 0.0) / n) / (2 * sd)


def _assert_same_law(a, b):
    """Means and sds of the columns of ``a`` and ``b`` within 5 standard errors."""
    ma, sa, sema, sesa = _mean_sd_se(a)
    mb, sb, semb, sesb = _mean_sd_se(b)
    assert np.all(np.abs(ma - mb) < 5 * np.hypot(sema, semb)), (ma, mb)
    assert np.all(np.abs(sa - sb) < 5 * np.hypot(sesa, sesb)), (sa, sb)


def test_jax_gillespie_matches_the_numpy_reference_in_distribution():
    """Counts at t = 1, 2, 3 from x0 = (50, 100) at the truth: 300 runs of each simulator."""
    n, T, theta = 300, 4, TASK.theta_true
    keys = jax.random.split(jax.random.PRNGKey(0), n)
    xj = jax.vmap(lambda k: gillespie_path(k, theta, jnp.asarray(X0), T))(keys)
    rng = np.random.default_rng(0)
    xr = np.stack([gillespie_reference(rng, np.asarray(theta), X0, T) for _ in range(n)])
    assert xj.shape == xr.shape == (n, T, 2)
    assert np.all(np.isfinite(xr)) and bool(jnp.all(jnp.isfinite(xj)))
    np.testing.assert_array_equal(xj[:, 0], np.broadcast_to(X0, (n, 2)))
    _assert_same_law(np.asarray(xj[:, 1:]).reshape(n, -1), xr[:, 1:].reshape(n, -1))


def test_pure_death_is_binomial():
    """Only reaction 2 (rates exp(-50) elsewhere): x1(t) ~ Binomial(x1(0), exp(-c2 t)), x2 fixed."""
    n, T, c2 = 2000, 4, 0.5
    theta = jnp.array([-50.0, math.log(c2), -50.0, -50.0])
    keys = jax.random.split(jax.random.PRNGKey(1), n)
    x = np.asarray(jax.vmap(lambda k: gillespie_path(k, theta, jnp.asarray(X0), T))(keys))
    np.testing.assert_array_equal(x[:, :, 1], 100.0)
    for t in range(1, T):
        p = math.exp(-c2 * t)
        mean, var = 50 * p, 50 * p * (1 - p)
        m4 = 50 * p * (1 - p) * (1 + 3 * (50 - 2) * p * (1 - p))  # binomial 4th central moment
        a = x[:, t, 0]
        assert abs(a.mean() - mean) < 5 * math.sqrt(var / n), (t, a.mean(), mean)
        assert abs(a.var(ddof=1) - var) < 5 * math.sqrt((m4 - var**2) / n), (t, a.var(), var)


def test_event_cap_gives_nan_and_the_truth_stays_finite():
    """c3 = e^5 makes the prey explode: past the cap every later observation is NaN."""
    task = LVTask(max_events=500)
    theta = jnp.array([-20.0, -20.0, 5.0, -20.0])
    x, y = task.simulate_joint(jax.random.PRNGKey(2), theta, 6)
    assert bool(jnp.all(jnp.isfinite(x[0]))) and bool(jnp.all(jnp.isfinite(y[0])))
    assert bool(jnp.all(jnp.isnan(x[1:]))) and bool(jnp.all(jnp.isnan(y[1:])))
    ref = gillespie_reference(np.random.default_rng(2), np.asarray(theta), X0, 6, 500)
    assert np.all(np.isnan(ref[1:]))
    x, y = TASK.simulate_joint(jax.random.PRNGKey(3), TASK.theta_true, 30)
    assert bool(jnp.all(jnp.isfinite(x))) and bool(jnp.all(jnp.isfinite(y)))
    np.testing.assert_array_equal(x, jnp.round(x))
    assert bool(jnp.all(x >= 0))


def test_model_simulate_has_the_law_of_the_task_simulator():
    """``model(theta).simulate`` (the augmented chain that ``smc`` filters) and ``simulate_joint``
    give the same law of the counts at t = 0..2 (300 runs each)."""
    n, T, theta = 300, 3, TASK.theta_true
    model = TASK.model(theta)
    keys = jax.random.split(jax.random.PRNGKey(4), n)
    z, ym = jax.vmap(lambda k: model.simulate(k, T))(keys)
    xm = jax.vmap(jax.vmap(model.counts))(z)
    xt, yt = jax.vmap(lambda k: TASK.simulate_joint(k, theta, T))(jax.random.split(keys[0], n))
    assert z.shape == (n, T, 4) and ym.shape == yt.shape == (n, T, 2)
    _assert_same_law(np.asarray(xm).reshape(n, -1), np.asarray(xt).reshape(n, -1))
    _assert_same_law(np.asarray(ym).reshape(n, -1), np.asarray(yt).reshape(n, -1))


def test_particle_likelihood_is_finite_and_peaks_near_the_truth():
    """Bootstrap ``smc`` on a simulated series (T = 30, N = 100): finite at the truth, and the
    mean over 3 keys is higher there than at ``theta* + (0.5, -0.5, 0.5, -0.5)`` (measured
    with N = 200: about 11 at the truth, -1200 to -1460 at the far theta)."""
    theta = TASK.theta_true
    y = TASK.simulate(jax.random.PRNGKey(5), theta, 30)
    ll = jax.jit(lambda k, th: smc(k, TASK.model(th), BootstrapProposal(), y, 100)[0])
    keys = jax.random.split(jax.random.PRNGKey(6), 3)
    at_truth = np.array([ll(k, theta) for k in keys])
    far = np.array([ll(k, theta + jnp.array([0.5, -0.5, 0.5, -0.5])) for k in keys])
    assert np.all(np.isfinite(at_truth)), at_truth
    assert at_truth.mean() > far.mean(), (at_truth, far)


def test_emission_log_prob_and_capped_particle():
    """The emission density is N(y; log(counts + 1), 0.01 I) (scipy), -inf for a capped path."""
    model = TASK.model(TASK.theta_true)
    z = jnp.array([7.02, 0.0, 0.3, 0.0])  # t = 0 state: counts = clip(round(.)) = (7, 0)
    np.testing.assert_array_equal(model.counts(z), jnp.array([7.0, 0.0]))
    y = jnp.array([2.0, 0.1])
    want = norm.logpdf(2.0, math.log(8.0), 0.1) + norm.logpdf(0.1, 0.0, 0.1)
    np.testing.assert_allclose(model.emission_log_prob(z, y, jnp.zeros(0)), want, rtol=1e-10)
    dead = jnp.array([-1.0, -1.0, 0.3, 1.0])
    np.testing.assert_array_equal(model.counts(dead), jnp.array([-1.0, -1.0]))
    assert float(model.emission_log_prob(dead, y, jnp.zeros(0))) == -math.inf


def test_prior_shapes_and_dtypes():
    """Prior log-density against scipy; shapes and dtypes of the outputs."""
    theta = TASK.prior_sample(jax.random.PRNGKey(7))
    assert theta.shape == (4,) and theta.dtype == jnp.float64
    want = norm.logpdf(np.asarray(theta), np.asarray(TASK.theta_true), 0.5).sum()
    np.testing.assert_allclose(TASK.prior_log_prob(theta), want, rtol=1e-10)
    np.testing.assert_allclose(TASK.theta_true, np.log([0.01, 0.5, 1.0, 0.01]), rtol=1e-12)
    thetas = jnp.stack([TASK.theta_true, theta])
    ys = TASK.simulate_batch(jax.random.PRNGKey(8), thetas, 5)
    assert ys.shape == (2, 5, 2) and ys.dtype == jnp.float64
    x, y = TASK.simulate_joint(jax.random.PRNGKey(9), theta.astype(jnp.float32), 5)
    assert x.shape == y.shape == (5, 2) and x.dtype == y.dtype == jnp.float32
    assert TASK.theta_dim == 4 and TASK.obs_dim == 2 and TASK.model(theta).state_dim == 4


def test_bad_input_raises():
    """Wrong-shape theta, bad lengths and bad caps: ValueError naming the argument."""
    with pytest.raises(ValueError, match="theta"):
        TASK.simulate_joint(jax.random.PRNGKey(0), jnp.zeros(3), 5)
    with pytest.raises(ValueError, match="theta"):
        TASK.model(jnp.zeros((4, 1)))
    with pytest.raises(ValueError, match="theta"):
        TASK.prior_log_prob(jnp.zeros(5))
    with pytest.raises(ValueError, match="T"):
        TASK.simulate_joint(jax.random.PRNGKey(0), TASK.theta_true, 0)
    with pytest.raises(ValueError, match="max_events"):
        LVTask(max_events=0)
    with pytest.raises(ValueError, match="log_rates"):
        GillespieLV(jnp.zeros(3))
