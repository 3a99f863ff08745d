"""XFADS: the structured algebra against dense algebra, the filter against the Kalman filter,
missing data against brute-force Gaussian conditioning, and bad input.

Tolerances: float64 (conftest enables x64). The low-rank and the dense paths are different
algorithms for the same numbers, so they agree to rounding of O(1e-12) on these well-conditioned
problems; 1e-10 leaves two orders for condition numbers up to ~1e2. The Kalman equivalence is
asserted at the issue's 1e-8 (measured: 2e-14).
"""

import math

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ssmbench.prob import LGSSM, kalman_filter
from ssmbench.prob.xfads import (
    XfadsEncoder,
    XfadsSSM,
    dense_update,
    diag_update,
    lowrank_dense_cov,
    lowrank_readout_var,
    lowrank_sample,
    lowrank_update,
    sigma_points,
    xfads_bound,
    xfads_filter,
)


def _problem(seed, L, S, r):
    ks = jax.random.split(jax.random.PRNGKey(seed), 5)
    mbar = jax.random.normal(ks[0], (L,))
    Mc = jax.random.normal(ks[1], (L, S)) / math.sqrt(S)
    q = 0.1 + jax.random.uniform(ks[2], (L,))
    k = jax.random.normal(ks[3], (L,))
    K = jax.random.normal(ks[4], (L, r)) / math.sqrt(L)
    return mbar, Mc, q, k, K


@settings(max_examples=8, deadline=None)
@given(seed=st.integers(0, 10_000), L=st.integers(1, 12), S=st.integers(2, 8), r=st.integers(1, 4))
def test_lowrank_update_matches_dense_algebra(seed, L, S, r):
    """Mean, covariance and KL of the Woodbury update equal the dense Cholesky update."""
    r = min(r, L)
    mbar, Mc, q, k, K = _problem(seed, L, S, r)
    post, kl = lowrank_update(mbar, Mc, q, k, K)
    m_ref, P_ref, kl_ref = dense_update(mbar, Mc @ Mc.T + jnp.diag(q), k, K)
    np.testing.assert_allclose(post.mean, m_ref, atol=1e-10)
    np.testing.assert_allclose(lowrank_dense_cov(post), P_ref, atol=1e-10)
    np.testing.assert_allclose(kl, kl_ref, atol=1e-10)
    C = jax.random.normal(jax.random.PRNGKey(seed + 1), (3, L))
    np.testing.assert_allclose(
        lowrank_readout_var(post, C), jnp.diagonal(C @ P_ref @ C.T), atol=1e-10
    )


def test_lowrank_update_gradients_match_dense_algebra():
    """The gradients of the KL and of the mean with respect to every input agree with the dense
    reference's."""
    mbar, Mc, q, k, K = _problem(3, 7, 4, 3)

    def f_low(*a):
        post, kl = lowrank_update(*a)
        return kl + jnp.sum(jnp.sin(post.mean))

    def f_dense(mbar, Mc, q, k, K):
        m, _, kl = dense_update(mbar, Mc @ Mc.T + jnp.diag(q), k, K)
        return kl + jnp.sum(jnp.sin(m))

    g_low = jax.grad(f_low, argnums=(0, 1, 2, 3, 4))(mbar, Mc, q, k, K)
    g_ref = jax.grad(f_dense, argnums=(0, 1, 2, 3, 4))(mbar, Mc, q, k, K)
    for a, b in zip(g_low, g_ref):
        np.testing.assert_allclose(a, b, atol=1e-9)


def test_lowrank_samples_have_the_posterior_moments():
    """Matheron's rule: 400k draws have the posterior mean and covariance (Monte Carlo error of
    a covariance entry ~ sqrt(2 / n) * var ~ 3e-3; tolerance 2e-2)."""
    mbar, Mc, q, k, K = _problem(1, 6, 3, 2)
    post, _ = lowrank_update(mbar, Mc, q, k, K)
    z = lowrank_sample(jax.random.PRNGKey(9), post, 400_000)
    np.testing.assert_allclose(jnp.mean(z, 0), post.mean, atol=1e-2)
    np.testing.assert_allclose(jnp.cov(z.T), lowrank_dense_cov(post), atol=2e-2)


def test_diagonal_update_matches_dense_algebra_on_diagonal_problems():
    """The diagonal ablation is the exact update when prior and pseudo-precision are diagonal."""
    mbar, _, pbar, k, _ = _problem(2, 5, 2, 1)
    lam = jnp.linspace(0.2, 3.0, 5)
    post, kl = diag_update(mbar, pbar, k, lam)
    m_ref, P_ref, kl_ref = dense_update(mbar, jnp.diag(pbar), k, jnp.diag(jnp.sqrt(lam)))
    np.testing.assert_allclose(post.mean, m_ref, atol=1e-12)
    np.testing.assert_allclose(jnp.diag(post.var), P_ref, atol=1e-12)
    np.testing.assert_allclose(kl, kl_ref, atol=1e-12)


def test_sigma_points_carry_the_exact_moments():
    """The 2L sigma points have mean m and 1/(2L) second moment P."""
    m = jnp.array([1.0, -2.0, 0.5])
    B = jax.random.normal(jax.random.PRNGKey(0), (3, 3))
    P = B @ B.T + 0.1 * jnp.eye(3)
    pts = sigma_points(m, P)
    np.testing.assert_allclose(jnp.mean(pts, 0), m, atol=1e-12)
    np.testing.assert_allclose((pts - m[None]).T @ (pts - m[None]) / 6, P, atol=1e-12)


# ---------------------------------------------------------------------------------------------
# the Kalman equivalence
def _lgssm(seed, L=4, dy=3, T=30):
    ks = jax.random.split(jax.random.PRNGKey(seed), 4)
    A = jax.random.normal(ks[0], (L, L))
    A = 0.9 * A / jnp.max(jnp.abs(jnp.linalg.eigvals(A)))
    C = jax.random.normal(ks[1], (dy, L))
    q = jnp.linspace(0.2, 0.5, L)
    q0 = jnp.linspace(0.5, 2.0, L)
    r = jnp.linspace(0.2, 0.5, dy)
    b = jnp.linspace(-0.2, 0.3, L)
    d = jnp.linspace(0.5, -1.0, dy)
    m0 = jnp.linspace(1.0, -1.0, L)
    lg = LGSSM.from_covariances(m0, jnp.diag(q0), A.real, jnp.diag(q), C, jnp.diag(r), b=b, d=d)
    _, y = lg.simulate(ks[2], T)
    return lg, (A.real, b, C, d, q, q0, r, m0), y


def _exact_pseudo(C, d, r, y):
    """k_t = C^T R^-1 (y_t - d), K_t = C^T R^-1/2 (zero at missing steps)."""
    obs = jnp.all(jnp.isfinite(y), 1)
    k = jnp.where(obs[:, None], ((jnp.where(jnp.isfinite(y), y, 0.0) - d[None]) / r[None]) @ C, 0.0)
    K = jnp.where(obs[:, None, None], (C / jnp.sqrt(r)[:, None]).T[None], 0.0)
    return k, K


def _gauss_ell(r):
    def ell(yt, mu, var):
        obs = jnp.isfinite(yt)
        t = -0.5 * (
            math.log(2 * math.pi) + jnp.log(r) + ((jnp.where(obs, yt, 0.0) - mu) ** 2 + var) / r
        )
        return jnp.sum(jnp.where(obs, t, 0.0))

    return ell


def _xfads_exact(params, y, **kw):
    A, b, C, d, q, q0, r, m0 = params
    k, K = _exact_pseudo(C, d, r, y)
    return xfads_filter(jax.random.PRNGKey(0), lambda z: A @ z + b, q, m0, q0, k, K, y, C, d,
                        _gauss_ell(r), **kw)  # fmt: skip


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_exact_pseudo_observations_give_the_kalman_filter(seed):
    """Exact pseudo-observations and sigma-point prediction: filtered moments and L-hat equal the
    Kalman filter's and log p(y) (asserted to 1e-8; measured ~1e-14)."""
    lg, params, y = _lgssm(seed)
    kf = kalman_filter(lg, y)
    lhat, d = _xfads_exact(params, y, predict="sigma")
    assert abs(float(lhat - kf.log_likelihood)) < 1e-8
    np.testing.assert_allclose(d["means"], kf.filtered_means, atol=1e-8)
    np.testing.assert_allclose(jax.vmap(lowrank_dense_cov)(d["posts"]), kf.filtered_covs, atol=1e-8)


def test_exact_filter_gradient_matches_the_kalman_gradient():
    """The gradient of L-hat (exact pseudo-observations, sigma points) with respect to the
    dynamics and readout equals the gradient of the exact Kalman log-likelihood."""
    lg, params, y = _lgssm(4, T=15)
    A, b, C, d, q, q0, r, m0 = params

    def f_x(A, C):
        return _xfads_exact((A, b, C, d, q, q0, r, m0), y, predict="sigma")[0]

    def f_k(A, C):
        m = LGSSM.from_covariances(m0, jnp.diag(q0), A, jnp.diag(q), C, jnp.diag(r), b=b, d=d)
        return kalman_filter(m, y).log_likelihood

    for a, b_ in zip(jax.grad(f_x, (0, 1))(A, C), jax.grad(f_k, (0, 1))(A, C)):
        np.testing.assert_allclose(a, b_, atol=1e-8)


@pytest.mark.slow  # 36 s; the 20-minute default budget
def test_sampled_prediction_error_shrinks_with_the_number_of_samples():
    """With S random samples in the predict step the RMS error of L-hat over 20 keys decreases in
    S (measured at these settings: 2.2, 0.86, 0.40, 0.14 nats for S = 5, 20, 100, 1000)."""
    lg, params, y = _lgssm(0)
    exact = kalman_filter(lg, y).log_likelihood
    A, b, C, d, q, q0, r, m0 = params
    k, K = _exact_pseudo(C, d, r, y)
    rmse = []
    for S in (5, 20, 100, 1000):

        def one(key, S=S):
            return xfads_filter(key, lambda z: A @ z + b, q, m0, q0, k, K, y, C, d, _gauss_ell(r),
                                num_samples=S)[0]  # fmt: skip

        vals = jax.vmap(one)(jax.random.split(jax.random.PRNGKey(7), 20))
        rmse.append(float(jnp.sqrt(jnp.mean((vals - exact) ** 2))))
    assert all(a > b for a, b in zip(rmse, rmse[1:])), rmse


def _brute_force_log_marginal(params, y):
    """log p(y_observed) from the joint Gaussian of all observations (dense, Python loops)."""
    A, b, C, d, q, q0, r, m0 = (np.asarray(p) for p in params)
    T, L = y.shape[0], A.shape[0]
    means, covs = [m0], [np.diag(q0)]
    for _ in range(1, T):
        means.append(A @ means[-1] + b)
        covs.append(A @ covs[-1] @ A.T + np.diag(q))
    cross = np.zeros((T, T, L, L))  # Cov(x_s, x_t)
    for s in range(T):
        M = covs[s]
        for t in range(s, T):
            cross[s, t] = M
            cross[t, s] = M.T
            M = M @ A.T
    obs = [t for t in range(T) if np.all(np.isfinite(y[t]))]
    mu = np.concatenate([C @ means[t] + d for t in obs])
    Sig = np.block(
        [[C @ cross[s, t] @ C.T + (np.diag(r) if s == t else 0) for t in obs] for s in obs]
    )
    yo = np.concatenate([np.asarray(y[t]) for t in obs])
    sign, logdet = np.linalg.slogdet(Sig)
    diff = yo - mu
    return -0.5 * (diff @ np.linalg.solve(Sig, diff) + logdet + len(yo) * math.log(2 * math.pi))


def test_missing_steps_are_skipped_exactly():
    """NaN rows are missing: with exact pseudo-observations (zero at those steps) L-hat equals the
    log marginal likelihood of the observed rows by brute-force Gaussian algebra."""
    lg, params, y = _lgssm(5, T=10)
    y = y.at[3].set(jnp.nan).at[7].set(jnp.nan)
    lhat, d = _xfads_exact(params, y, predict="sigma")
    assert float(d["ell"][3]) == 0.0 and float(d["ell"][7]) == 0.0
    assert abs(float(lhat) - _brute_force_log_marginal(params, y)) < 1e-8


# ---------------------------------------------------------------------------------------------
# the model and encoder
@pytest.mark.parametrize("emission", ["gaussian", "poisson"])
@pytest.mark.parametrize("structure", ["lowrank", "diagonal"])
def test_learned_encoder_bound_and_gradient_are_finite_with_missing_rows(emission, structure):
    """The amortised objective on data with a NaN row: finite, with finite gradients, and the
    encoder gives alpha_t = 0 there (its k_t and K_t are the backward part only)."""
    k1, k2, k3 = jax.random.split(jax.random.PRNGKey(0), 3)
    model = XfadsSSM(4, 6, hidden=8, key=k1, emission=emission)
    enc = XfadsEncoder(4, 6, 1, 2, hidden=8, key=k2)
    _, y = model.simulate(k3, 12)
    y = y.at[5].set(jnp.nan)
    k, K = enc(y)
    assert np.all(np.asarray(K[5, :, :1]) == 0.0)  # A_5 = 0 (the local part of K_5)
    val, g = eqx.filter_value_and_grad(
        lambda p: xfads_bound(k3, p[0], p[1], y, 5, structure=structure)[0]
    )((model, enc))
    assert np.isfinite(float(val))
    assert all(np.all(np.isfinite(np.asarray(x))) for x in jax.tree.leaves(g))


def test_expected_log_prob_matches_monte_carlo():
    """The closed-form expectations (Gaussian and Poisson) against 200k draws of eta (tolerance
    5 Monte Carlo standard errors)."""
    for emission in ("gaussian", "poisson"):
        model = XfadsSSM(3, 4, hidden=4, key=jax.random.PRNGKey(0), emission=emission)
        y = jnp.array([0.0, 1.0, 3.0, 2.0])
        mu, var = jnp.array([0.1, -0.3, 0.8, 0.2]), jnp.array([0.2, 0.5, 0.1, 0.3])
        eta = mu[None] + jnp.sqrt(var)[None] * jax.random.normal(
            jax.random.PRNGKey(1), (200_000, 4)
        )
        vals = jax.vmap(lambda e, m=model, yy=y: m.expected_log_prob(yy, e, jnp.zeros(4)))(eta)
        se = float(jnp.std(vals)) / math.sqrt(vals.shape[0])
        assert abs(float(model.expected_log_prob(y, mu, var) - jnp.mean(vals))) < 5 * se


def test_bad_input_is_rejected_by_name():
    """r > L, S < 2, a wrong observation dimension, integer y, unknown options."""
    key = jax.random.PRNGKey(0)
    with pytest.raises(ValueError, match="exceeds the state dimension"):
        XfadsEncoder(2, 3, 2, 1, key=key)
    with pytest.raises(ValueError, match="rank r = 3 exceeds"):
        lowrank_update(*_problem(0, 2, 3, 3))
    model = XfadsSSM(3, 4, hidden=4, key=key)
    enc = XfadsEncoder(3, 4, 1, 1, hidden=4, key=key)
    y = jnp.zeros((5, 4))
    with pytest.raises(ValueError, match="num_samples must be >= 2"):
        xfads_bound(key, model, enc, y, 1)
    with pytest.raises(ValueError, match=r"y must have shape \(T, 4\)"):
        xfads_bound(key, model, enc, jnp.zeros((5, 3)), 5)
    with pytest.raises(ValueError, match="must be floating"):
        xfads_bound(key, model, enc, jnp.zeros((5, 4), jnp.int32), 5)
    with pytest.raises(ValueError, match="structure must be one of"):
        xfads_bound(key, model, enc, y, 5, structure="dense")
    with pytest.raises(ValueError, match="emission must be one of"):
        XfadsSSM(3, 4, key=key, emission="bernoulli")
