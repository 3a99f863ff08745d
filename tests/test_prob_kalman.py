"""Kalman filter / RTS smoother against two independent oracles: dynamax and a dense Gaussian."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from dynamax.linear_gaussian_ssm import lgssm_filter, lgssm_smoother
from dynamax.linear_gaussian_ssm.inference import (
    ParamsLGSSM,
    ParamsLGSSMDynamics,
    ParamsLGSSMEmissions,
    ParamsLGSSMInitial,
)
from scipy.stats import multivariate_normal

from ssmbench.prob import LGSSM, kalman_filter, rts_smoother


def _dynamax_params(m: LGSSM) -> ParamsLGSSM:
    P0, Q, R = m.covariances()
    dx, dy = m.state_dim, m.obs_dim
    return ParamsLGSSM(
        initial=ParamsLGSSMInitial(m.m0, P0),
        dynamics=ParamsLGSSMDynamics(m.A, m.b, jnp.zeros((dx, 0)), Q),
        emissions=ParamsLGSSMEmissions(m.C, m.d, jnp.zeros((dy, 0)), R),
    )


def _models():
    m1 = LGSSM.random(jax.random.PRNGKey(1), 3, 2)
    m1 = LGSSM(m1.m0 + 0.3, m1.P0_chol, m1.A, m1.b + 0.1, m1.Q_chol, m1.C, m1.d - 0.2, m1.R_chol)
    return [LGSSM.vsmc(), m1]


@pytest.mark.parametrize("idx", [0, 1])
def test_kalman_and_rts_match_dynamax(idx):
    m = _models()[idx]
    _, y = m.simulate(jax.random.PRNGKey(2), 60)
    ours = rts_smoother(m, y)
    ref_f = lgssm_filter(_dynamax_params(m), y)
    ref_s = lgssm_smoother(_dynamax_params(m), y)
    # float64 throughout; both are exact recursions differing only in rounding (~1e-13 per step),
    # so 1e-8 is the contract's tolerance with a wide margin.
    assert abs(float(ours.log_likelihood - ref_f.marginal_loglik)) < 1e-8
    np.testing.assert_allclose(ours.filtered_means, ref_f.filtered_means, atol=1e-8)
    np.testing.assert_allclose(ours.filtered_covs, ref_f.filtered_covariances, atol=1e-8)
    np.testing.assert_allclose(ours.smoothed_means, ref_s.smoothed_means, atol=1e-8)
    np.testing.assert_allclose(ours.smoothed_covs, ref_s.smoothed_covariances, atol=1e-8)


def _dense_joint(m: LGSSM, T: int):
    """Mean and covariance of the stacked (x_{0:T-1}, y_{0:T-1}), built by brute-force recursion."""
    P0, Q, R = (np.asarray(a) for a in m.covariances())
    A, b, C, d = (np.asarray(a) for a in (m.A, m.b, m.C, m.d))
    dx = A.shape[0]
    mx = [np.asarray(m.m0)]
    for _ in range(T - 1):
        mx.append(A @ mx[-1] + b)
    # x = L w with w = (x0 - m0, noise_1..noise_{T-1}) independent
    Sx = np.zeros((T * dx, T * dx))
    cov_t = [P0]
    for _ in range(T - 1):
        cov_t.append(A @ cov_t[-1] @ A.T + Q)
    for t in range(T):
        for s in range(t, T):
            blk = np.linalg.matrix_power(A, s - t) @ cov_t[t]  # Cov(x_s, x_t)
            Sx[s * dx : (s + 1) * dx, t * dx : (t + 1) * dx] = blk
            Sx[t * dx : (t + 1) * dx, s * dx : (s + 1) * dx] = blk.T
    G = np.kron(np.eye(T), C)
    mean_x = np.concatenate(mx)
    mean_y = G @ mean_x + np.tile(d, T)
    Syy = G @ Sx @ G.T + np.kron(np.eye(T), R)
    Sxy = Sx @ G.T
    return mean_x, Sx, mean_y, Syy, Sxy, dx


@pytest.mark.parametrize("idx", [0, 1])
def test_kalman_and_rts_match_dense_gaussian(idx):
    m = _models()[idx]
    T = 6
    _, y = m.simulate(jax.random.PRNGKey(3), T)
    mean_x, Sx, mean_y, Syy, Sxy, dx = _dense_joint(m, T)
    yv = np.asarray(y).reshape(-1)
    ll = multivariate_normal(mean_y, Syy).logpdf(yv)
    ours = rts_smoother(m, y)
    # dense solve of a 18x18 / 12x12 system in float64: agreement to ~1e-12; 1e-9 leaves margin.
    assert abs(float(ours.log_likelihood) - ll) < 1e-9
    post_mean = mean_x + Sxy @ np.linalg.solve(Syy, yv - mean_y)
    post_cov = Sx - Sxy @ np.linalg.solve(Syy, Sxy.T)
    np.testing.assert_allclose(np.asarray(ours.smoothed_means).reshape(-1), post_mean, atol=1e-9)
    for t in range(T):
        blk = post_cov[t * dx : (t + 1) * dx, t * dx : (t + 1) * dx]
        np.testing.assert_allclose(ours.smoothed_covs[t], blk, atol=1e-9)


def test_kalman_float32_follows_dtype():
    m64 = LGSSM.vsmc()
    _, y = m64.simulate(jax.random.PRNGKey(4), 50)
    m32 = jax.tree.map(lambda a: a.astype(jnp.float32), m64)
    out = kalman_filter(m32, y.astype(jnp.float32))
    assert out.log_likelihood.dtype == jnp.float32
    # float32 eps ~ 1e-7 relative, accumulated over 50 steps of 5x5 Cholesky solves: 1e-4 relative.
    ref = kalman_filter(m64, y).log_likelihood
    assert abs(float(out.log_likelihood) - float(ref)) < 1e-4 * abs(float(ref))


def test_kalman_rejects_bad_shapes():
    m = LGSSM.vsmc()
    with pytest.raises(ValueError, match="shape"):
        kalman_filter(m, jnp.zeros((10, 5)))
    with pytest.raises(ValueError, match="Q_chol must have shape"):
        LGSSM(m.m0, m.P0_chol, m.A, m.b, m.Q_chol[:2], m.C, m.d, m.R_chol)
