"""SBI tasks: the simulators' moments against closed forms, ``model(theta)`` against the
simulators, the priors, and bad input.

Tolerances and seeds (all keys fixed):

- Moments from 4000 simulated series are asserted within 5 standard errors of their closed
  forms (a false failure has probability ~1e-6 per check). The standard errors are those of a
  Gaussian sample variance, ``sqrt(2 / (n - 1)) var``, of a sample covariance,
  ``sqrt((var_s var_t + cov^2) / n)``, and of a sample correlation, ``(1 - rho^2) / sqrt(n)``;
  for the mean of a log-density difference the empirical one, ``sd / sqrt(n)``.
- The particle estimate of log p(y | theta) is biased down by about half its variance (Jensen);
  the mean of 16 runs with 2000 particles must lie within 4 standard errors plus that bias of
  the Kalman value (measured: sd 0.17, error -0.05, tolerance 0.18; a theta off by 0.2 moves
  the exact value by 0.73).
- Density evaluations against scipy: the same formula in float64, so 1e-10.
"""

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy.stats import multivariate_normal, norm

from ssmbench.prob import BootstrapProposal, smc
from ssmbench.sbi import CorrelatedSV, LGSSMTask, SVTask, lgssm_moments

N_SERIES = 4000


def _lgssm_state_vars(theta, T):
    """Var(x_t) per coordinate by the recursion p_0 = 0.1, p_t = 0.81 p_{t-1} + exp(2 theta)."""
    p = [np.full(theta.shape, 0.1)]
    for _ in range(1, T):
        p.append(0.81 * p[-1] + np.exp(2 * np.asarray(theta)))
    return np.stack(p)


def test_lgssm_simulator_variances_match_the_state_recursion():
    """Var(y_t) = p_t + 0.1 and Cov(y_t, y_{t-1}) = 0.9 p_{t-1} at late t, from 4000 series;
    the same numbers come out of ``lgssm_moments(task.model(theta))``."""
    task, T = LGSSMTask(2), 30
    theta = jnp.array([-1.0, 0.2])
    ys = task.simulate_batch(jax.random.PRNGKey(0), jnp.tile(theta[None, :], (N_SERIES, 1)), T)
    assert ys.shape == (N_SERIES, T, 2)
    p = _lgssm_state_vars(theta, T)
    var = p[-1] + 0.1
    _, K = lgssm_moments(task.model(theta), T)
    np.testing.assert_allclose(jnp.diagonal(K[-1, -1]), var, rtol=1e-12)
    np.testing.assert_allclose(jnp.diagonal(K[-1, -2]), 0.9 * p[-2], rtol=1e-12)
    y_last, y_prev = np.asarray(ys[:, -1]), np.asarray(ys[:, -2])
    emp_var = y_last.var(axis=0, ddof=1)
    assert np.all(np.abs(emp_var - var) < 5 * math.sqrt(2 / (N_SERIES - 1)) * var), (emp_var, var)
    cov = 0.9 * p[-2]
    emp_cov = np.mean((y_last - y_last.mean(0)) * (y_prev - y_prev.mean(0)), axis=0)
    se = np.sqrt((var * (p[-2] + 0.1) + cov**2) / N_SERIES)
    assert np.all(np.abs(emp_cov - cov) < 5 * se), (emp_cov, cov)


def test_lgssm_model_particle_likelihood_matches_kalman():
    """``smc(model(theta), BootstrapProposal())`` estimates the exact Kalman log-likelihood."""
    task = LGSSMTask(1)
    theta = jnp.array([-0.8])
    y = task.simulate(jax.random.PRNGKey(0), theta, 40)
    exact = float(task.exact_log_lik(theta, y))
    run = jax.jit(jax.vmap(lambda k: smc(k, task.model(theta), BootstrapProposal(), y, 2000)[0]))
    est = np.asarray(run(jax.random.split(jax.random.PRNGKey(1), 16)))
    sd = est.std(ddof=1)
    assert abs(est.mean() - exact) < 4 * sd / math.sqrt(len(est)) + sd**2 / 2, (
        est.mean(),
        exact,
        sd,
    )


def test_lgssm_model_parameters():
    """model(theta) is the benchmark: A = 0.9 I, C = I, R = P0 = 0.1 I, Q = diag(exp(2 theta))."""
    task = LGSSMTask(3)
    theta = jnp.array([-1.0, 0.0, 0.5])
    m = task.model(theta)
    P0, Q, R = m.covariances()
    np.testing.assert_allclose(Q, jnp.diag(jnp.exp(2 * theta)), rtol=1e-14)
    np.testing.assert_allclose(R, 0.1 * jnp.eye(3), rtol=1e-14)
    np.testing.assert_allclose(P0, 0.1 * jnp.eye(3), rtol=1e-14)
    np.testing.assert_allclose(m.A, 0.9 * jnp.eye(3))
    np.testing.assert_allclose(m.C, jnp.eye(3))
    np.testing.assert_allclose(task.theta_true, 0.5 * math.log(0.1))
    assert (task.theta_dim, task.obs_dim) == (3, 3)


def test_sv_simulator_moments_match_rho_and_the_ar1_recursion():
    """corr(y_t / exp(x_t / 2)) = tanh(theta) pooled over t, Var(x_{T-1}) by v_t = 0.91^2 v + 1."""
    task, T = SVTask(), 20
    theta = task.theta_true
    keys = jax.random.split(jax.random.PRNGKey(2), N_SERIES)
    xs, ys = jax.vmap(lambda k: task.simulate_joint(k, theta, T))(keys)
    r = np.asarray(ys / jnp.exp(0.5 * xs)).reshape(-1, 2)
    rho = math.tanh(float(theta[0]))
    emp_rho = np.corrcoef(r.T)[0, 1]
    assert abs(emp_rho - rho) < 5 * (1 - rho**2) / math.sqrt(len(r)), (emp_rho, rho)
    v = 1.0
    for _ in range(1, T):
        v = 0.91**2 * v + 1.0
    emp_v = np.asarray(xs[:, -1]).var(axis=0, ddof=1)
    assert np.all(np.abs(emp_v - v) < 5 * math.sqrt(2 / (N_SERIES - 1)) * v), (emp_v, v)


def test_sv_model_emission_density_is_the_simulators():
    """Under simulated (x, y), log p(y | x) from ``model(theta)`` averages to its closed form
    -0.5 (d log 2 pi + sum x + log det C + d): the quadratic form is chi^2_d only if the model's
    covariance is the simulator's."""
    task, T = SVTask(), 10
    theta = jnp.array([1.0])
    model = task.model(theta)
    keys = jax.random.split(jax.random.PRNGKey(3), N_SERIES)
    xs, ys = jax.vmap(lambda k: task.simulate_joint(k, theta, T))(keys)
    xs, ys = xs.reshape(-1, 2), ys.reshape(-1, 2)
    c = jnp.zeros((0,), xs.dtype)
    lp = jax.vmap(lambda x, y: model.emission_log_prob(x, y, c))(xs, ys)
    logdet_c = math.log(1 - math.tanh(1.0) ** 2)
    closed = -0.5 * (2 * math.log(2 * math.pi) + jnp.sum(xs, axis=1) + logdet_c + 2)
    diff = np.asarray(lp - closed)
    assert abs(diff.mean()) < 5 * diff.std(ddof=1) / math.sqrt(len(diff)), diff.mean()


def test_sv_model_densities_match_scipy():
    """Emission = N(0, D C D) and the Gaussian initial/transition laws, against scipy."""
    task = SVTask()
    theta = jnp.array([0.9])
    model = task.model(theta)
    assert isinstance(model, CorrelatedSV) and (model.state_dim, model.obs_dim) == (2, 2)
    rho = math.tanh(0.9)
    Cm = np.array([[1.0, rho], [rho, 1.0]])
    np.testing.assert_allclose(model.corr_chol @ model.corr_chol.T, Cm, atol=1e-14)
    x, y = np.array([0.3, -1.2]), np.array([0.5, 0.1])
    c = jnp.zeros((0,))
    D = np.diag(np.exp(x / 2))
    np.testing.assert_allclose(
        model.emission_log_prob(jnp.asarray(x), jnp.asarray(y), c),
        multivariate_normal.logpdf(y, np.zeros(2), D @ Cm @ D), atol=1e-10,
    )  # fmt: skip
    x_prev = np.array([1.0, -0.5])
    np.testing.assert_allclose(
        model.transition_log_prob(jnp.asarray(x_prev), jnp.asarray(x), c),
        multivariate_normal.logpdf(x, 0.91 * x_prev, np.eye(2)), atol=1e-10,
    )  # fmt: skip
    np.testing.assert_allclose(
        model.initial_log_prob(jnp.asarray(x), c), norm.logpdf(x).sum(), atol=1e-10
    )
    est, _ = smc(jax.random.PRNGKey(0), model, BootstrapProposal(), jnp.asarray([y, y]), 64)
    assert np.isfinite(float(est))


@pytest.mark.parametrize("task", [LGSSMTask(1), LGSSMTask(4), SVTask()], ids=["lg1", "lg4", "sv"])
def test_priors_and_truths(task):
    """N(0, I) priors (log-density against scipy), truth shapes, deterministic simulation."""
    theta = task.prior_sample(jax.random.PRNGKey(0))
    assert theta.shape == (task.theta_dim,) == task.theta_true.shape
    np.testing.assert_allclose(
        task.prior_log_prob(theta), norm.logpdf(np.asarray(theta)).sum(), atol=1e-12
    )
    y1 = task.simulate(jax.random.PRNGKey(1), task.theta_true, 5)
    y2 = task.simulate(jax.random.PRNGKey(1), task.theta_true, 5)
    assert y1.shape == (5, task.obs_dim)
    np.testing.assert_array_equal(y1, y2)
    np.testing.assert_array_equal(task.simulate(jax.random.PRNGKey(1), task.theta_true, 1), y1[:1])


@pytest.mark.parametrize("task", [LGSSMTask(2), SVTask()], ids=["lg2", "sv"])
def test_bad_input_is_refused_by_name(task):
    """A wrong-shaped or integer theta, a T below 1 and a bad state_dim name themselves."""
    key, good = jax.random.PRNGKey(0), task.theta_true
    bad = jnp.zeros(task.theta_dim + 1)
    for call in (
        lambda: task.simulate(key, bad, 5),
        lambda: task.model(bad),
        lambda: task.prior_log_prob(bad),
        lambda: task.simulate(key, good[None, :], 5),
        lambda: task.simulate(key, jnp.zeros(task.theta_dim, jnp.int32), 5),
    ):
        with pytest.raises(ValueError, match="theta"):
            call()
    for T in (0, -3, 2.0):
        with pytest.raises(ValueError, match="T must"):
            task.simulate(key, good, T)
    with pytest.raises(ValueError, match="thetas"):
        task.simulate_batch(key, good, 5)
    with pytest.raises(ValueError, match="state_dim"):
        LGSSMTask(0)
