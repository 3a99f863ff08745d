"""The exact truncated log-likelihood of an LGSSM against its scipy reference and the Kalman filter.

Tolerances (float64, conftest enables x64): the scan over windowed Choleskys and the reference's
``log p(window) - log p(past)`` with ``scipy.stats.multivariate_normal`` are different algorithms
for the same numbers on covariances with condition numbers below ~1e3, so they agree to
rounding of O(1e-13) (measured: 1e-14); 1e-10 leaves three orders. With ``lag = T - 1`` the
truncated likelihood is the exact one by the chain rule, and the dense log N(vec y; mu, Sigma) is
the exact one by definition: both are asserted equal to the Kalman filter at the issue's 1e-8
(measured: below 1e-12).
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from ssmbench.prob import LGSSM, kalman_filter
from ssmbench.sbi import (
    LGSSMTask,
    block_to_dense,
    full_log_lik_dense,
    lgssm_moments,
    lgssm_moments_reference,
    truncated_log_lik,
    truncated_log_lik_terms,
    truncated_log_lik_terms_reference,
)

_kalman = jax.jit(lambda model, y: kalman_filter(model, y).log_likelihood)


def _model(seed, dx, dy):
    """A random stable LGSSM with nonzero m0, b and d (so the means are exercised too)."""
    base = LGSSM.random(jax.random.PRNGKey(seed), dx, dy, rho=0.85)
    k1, k2, k3 = jax.random.split(jax.random.PRNGKey(seed + 100), 3)
    P0, Q, R = base.covariances()
    return LGSSM.from_covariances(
        jax.random.normal(k1, (dx,)), P0, base.A, Q, base.C, R,
        b=0.3 * jax.random.normal(k2, (dx,)), d=jax.random.normal(k3, (dy,)),
    )  # fmt: skip


@pytest.mark.parametrize("dx,dy,T", [(1, 1, 6), (3, 2, 9), (2, 3, 5)])
def test_moments_match_the_loop_reference(dx, dy, T):
    """The scan-and-gather moments of vec y equal the Python-loop ones (matrix powers)."""
    model = _model(dx + 10 * dy, dx, dy)
    mu, K = lgssm_moments(model, T)
    mu_ref, K_ref = lgssm_moments_reference(model, T)
    np.testing.assert_allclose(mu.reshape(-1), mu_ref, atol=1e-12)
    np.testing.assert_allclose(block_to_dense(K), K_ref, atol=1e-12)


@pytest.mark.parametrize(
    "dx,dy,T,lag", [(1, 1, 8, 1), (1, 1, 8, 3), (3, 2, 10, 4), (2, 3, 7, 6), (2, 2, 12, 11)]
)
def test_truncated_terms_match_the_scipy_reference(dx, dy, T, lag):
    """Each term log p(y_t | y_{t-lag:t-1}) equals log p(window) - log p(past) from scipy,
    including the steps t < lag that condition on the available past only."""
    model = _model(3 * dx + dy, dx, dy)
    _, y = model.simulate(jax.random.PRNGKey(T + lag), T)
    got = truncated_log_lik_terms(model, y, lag)
    want = truncated_log_lik_terms_reference(model, y, lag)
    np.testing.assert_allclose(got, want, atol=1e-10, rtol=0)
    np.testing.assert_allclose(truncated_log_lik(model, y, lag), want.sum(), atol=1e-9)


@pytest.mark.parametrize("dx,dy,T", [(1, 1, 15), (3, 2, 12), (2, 4, 9)])
def test_full_lag_and_dense_likelihoods_equal_the_kalman_filter(dx, dy, T):
    """lag = T - 1 gives the chain rule, hence the exact log p(y); so does the dense Gaussian."""
    model = _model(7 * dx + dy, dx, dy)
    _, y = model.simulate(jax.random.PRNGKey(5), T)
    exact = _kalman(model, y)
    np.testing.assert_allclose(truncated_log_lik(model, y, T - 1), exact, atol=1e-8, rtol=0)
    np.testing.assert_allclose(full_log_lik_dense(model, y), exact, atol=1e-8, rtol=0)


def test_task_model_truncated_likelihood_approaches_the_exact_one_as_lag_grows():
    """On the benchmark LGSSM (A = 0.9 I) the truncation error shrinks with the lag: at lag 15 it
    is below 0.05 nats over T = 60 (the AR decay 0.9^15 ~ 0.2 of the observation correlation),
    and lag = T - 1 is exact."""
    task = LGSSMTask(2)
    theta = task.theta_true
    y = task.simulate(jax.random.PRNGKey(0), theta, 60)
    model = task.model(theta)
    exact = task.exact_log_lik(theta, y)
    errs = [abs(float(truncated_log_lik(model, y, lag) - exact)) for lag in (1, 5, 15)]
    assert errs[2] < 0.05 and errs[2] < errs[0]
    np.testing.assert_allclose(truncated_log_lik(model, y, 59), exact, atol=1e-8)


def test_bad_input_is_refused_by_name():
    """A lag outside [1, T), a non-LGSSM model, a series of the wrong width name themselves."""
    model = _model(0, 2, 2)
    y = jnp.zeros((6, 2))
    for lag in (0, 6, 2.5):
        with pytest.raises(ValueError, match="lag"):
            truncated_log_lik(model, y, lag)
        with pytest.raises(ValueError, match="lag"):
            truncated_log_lik_terms_reference(model, y, lag)
    with pytest.raises(ValueError, match="model"):
        truncated_log_lik(LGSSMTask(2), y, 2)
    with pytest.raises(ValueError, match=r"y must .*\(T, 2\)"):
        full_log_lik_dense(model, jnp.zeros((6, 3)))
    with pytest.raises(ValueError, match="T must"):
        lgssm_moments(model, 0)
