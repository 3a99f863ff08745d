"""The exact truncated log-likelihood of a linear-Gaussian SSM, the oracle of T-SNL's surrogate.

T-SNL replaces log p(y | theta) by ``sum_t log p(y_t | y_{t-L:t-1}, theta)``: each step
conditions on its last ``L`` observations only (on all of them for t < L). For an LGSSM the
observations are jointly Gaussian, so each term is Gaussian conditioning:

- moments: ``E[x_t] = m_t`` (``m_0 = m0``, ``m_t = A m_{t-1} + b``), ``Var(x_t) = P_t``
  (``P_0 = P0``, ``P_t = A P_{t-1} A^T + Q``) and ``Cov(x_t, x_s) = A^{t-s} P_s`` for t >= s,
  hence ``E[y_t] = C m_t + d`` and ``Cov(y_t, y_s) = C A^{|t-s|} P_{min(s,t)} C^T + R delta_st``
  (transposed for t < s);
- each term: the Cholesky factor of the window ``(y_{t-L}, ..., y_t)``; its last ``d_y`` rows
  give the conditional of y_t given the rest (the last block of ``L^{-1}(v - mu)`` is the
  whitened conditional residual, the last diagonal block the conditional scale).

:func:`truncated_log_lik_terms` runs a ``lax.scan`` over t on fixed-size windows of the padded
block covariance (``L`` leading dummy steps, independent unit-variance blocks observed at their
mean, which leave every conditional unchanged); one unbatched Cholesky per step, no batched
LAPACK call (docs/suites.md, "Known problem"). :func:`truncated_log_lik_terms_reference`
builds the moments by Python loops with numpy and evaluates each term as
``log p(window) - log p(past)`` with ``scipy.stats.multivariate_normal``.
:func:`full_log_lik_dense` is log N(vec y; mu, Sigma), the dense check of the Kalman filter.
"""

from __future__ import annotations

import functools
import math

import jax
import jax.numpy as jnp
import numpy as np
from jax.scipy.linalg import solve_triangular
from jaxtyping import Array, Float
from scipy.stats import multivariate_normal

from ssmbench.prob import LGSSM

from ._checks import check_lag, check_length, check_series

__all__ = [
    "lgssm_moments",
    "lgssm_moments_reference",
    "block_to_dense",
    "full_log_lik_dense",
    "truncated_log_lik",
    "truncated_log_lik_terms",
    "truncated_log_lik_terms_reference",
]

_LOG_2PI = math.log(2.0 * math.pi)


def _check_model(model: object) -> None:
    """Raise a ValueError unless ``model`` is an :class:`ssmbench.prob.LGSSM`."""
    if not isinstance(model, LGSSM):
        raise ValueError(f"model must be an ssmbench.prob.LGSSM, got {type(model).__name__}")


def lgssm_moments(model: LGSSM, T: int) -> tuple[Float[Array, "T dy"], Float[Array, "T T dy dy"]]:
    """``(E[y_t] (T, d_y), Cov(y_t, y_s) (T, T, d_y, d_y))`` of the LGSSM's first T observations."""
    _check_model(model)
    check_length(T)
    return _moments(model, int(T))


@functools.partial(jax.jit, static_argnums=1)
def _moments(model: LGSSM, T: int) -> tuple[Array, Array]:
    """The jitted body of :func:`lgssm_moments`."""
    P0, Q, R = model.covariances()
    A, b, C, d = model.A, model.b, model.C, model.d
    dx = model.state_dim

    def step(carry, _):
        m, P, Ak = carry
        return (A @ m + b, A @ P @ A.T + Q, A @ Ak), (m, P, Ak)

    init = (model.m0, P0, jnp.eye(dx, dtype=P0.dtype))
    _, (ms, Ps, Apow) = jax.lax.scan(step, init, None, length=T)
    t = jnp.arange(T)
    tt, ss = t[:, None], t[None, :]
    lag, first = jnp.abs(tt - ss), jnp.minimum(tt, ss)
    G = jnp.einsum("tsij,tsjk->tsik", Apow[lag], Ps[first])  # Cov(x_max, x_min)
    Kx = jnp.where((tt >= ss)[:, :, None, None], G, jnp.swapaxes(G, -1, -2))
    Ky = jnp.einsum("ai,tsij,bj->tsab", C, Kx, C)
    Ky = Ky + (tt == ss).astype(R.dtype)[:, :, None, None] * R[None, None, :, :]
    return ms @ C.T + d[None, :], Ky


def block_to_dense(cov: Float[Array, "T T dy dy"]) -> Float[Array, "Tdy Tdy"]:
    """The ``(T d_y, T d_y)`` matrix of a block covariance, time-major (row ``t d_y + i``)."""
    T, _, dy, _ = cov.shape
    return jnp.transpose(cov, (0, 2, 1, 3)).reshape(T * dy, T * dy)


def lgssm_moments_reference(model: LGSSM, T: int) -> tuple[np.ndarray, np.ndarray]:
    """``(mean (T d_y,), cov (T d_y, T d_y))`` of vec y by Python loops in numpy (the oracle)."""
    _check_model(model)
    check_length(T)
    P0, Q, R = (np.asarray(M) for M in model.covariances())
    A, b, C, d = (np.asarray(v) for v in (model.A, model.b, model.C, model.d))
    dy = C.shape[0]
    ms, Ps = [np.asarray(model.m0)], [P0]
    for _ in range(1, T):
        ms.append(A @ ms[-1] + b)
        Ps.append(A @ Ps[-1] @ A.T + Q)
    mean = np.concatenate([C @ m + d for m in ms])
    cov = np.zeros((T * dy, T * dy))
    for t in range(T):
        for s in range(T):
            if t >= s:
                block = C @ np.linalg.matrix_power(A, t - s) @ Ps[s] @ C.T
            else:
                block = C @ Ps[t] @ np.linalg.matrix_power(A, s - t).T @ C.T
            if t == s:
                block = block + R
            cov[t * dy : (t + 1) * dy, s * dy : (s + 1) * dy] = block
    return mean, cov


def full_log_lik_dense(model: LGSSM, y: Float[Array, "T dy"]) -> Float[Array, ""]:
    """log N(vec y; mu, Sigma) with the dense ``(T d_y, T d_y)`` covariance (one Cholesky)."""
    _check_model(model)
    check_series(y, obs_dim=model.obs_dim)
    return _full_dense(model, y)


@jax.jit
def _full_dense(model: LGSSM, y: Array) -> Array:
    """The jitted body of :func:`full_log_lik_dense`."""
    mu, K = _moments(model, y.shape[0])
    L = jnp.linalg.cholesky(block_to_dense(K))
    z = solve_triangular(L, (y - mu).reshape(-1), lower=True)
    n = z.shape[0]
    return -0.5 * jnp.sum(z**2) - jnp.sum(jnp.log(jnp.diagonal(L))) - 0.5 * n * _LOG_2PI


def truncated_log_lik_terms(model: LGSSM, y: Float[Array, "T dy"], lag: int) -> Float[Array, " T"]:
    """``log p(y_t | y_{max(0, t-lag):t-1})`` for t = 0..T-1 (needs ``1 <= lag < T``)."""
    _check_model(model)
    check_series(y, obs_dim=model.obs_dim)
    T, dy = y.shape
    check_lag(lag, T)
    return _terms(model, y, int(lag))


@functools.partial(jax.jit, static_argnums=2)
def _terms(model: LGSSM, y: Array, lag: int) -> Array:
    """The jitted body of :func:`truncated_log_lik_terms`."""
    T, dy = y.shape
    mu, K = _moments(model, T)
    n = T + lag  # ``lag`` dummy steps in front
    Kp = jnp.zeros((n, n, dy, dy), K.dtype).at[lag:, lag:].set(K)
    dummy = jnp.arange(lag)
    Kp = Kp.at[dummy, dummy].set(jnp.broadcast_to(jnp.eye(dy, dtype=K.dtype)[None], (lag, dy, dy)))
    resid = jnp.concatenate([jnp.zeros((lag, dy), y.dtype), y - mu])
    w = (lag + 1) * dy

    def term(_, t):
        S = jax.lax.dynamic_slice(Kp, (t, t, 0, 0), (lag + 1, lag + 1, dy, dy))
        S = jnp.transpose(S, (0, 2, 1, 3)).reshape(w, w)
        v = jax.lax.dynamic_slice(resid, (t, 0), (lag + 1, dy)).reshape(w)
        L = jnp.linalg.cholesky(S)
        z = solve_triangular(L, v, lower=True)[-dy:]
        logdet = jnp.sum(jnp.log(jnp.diagonal(L)[-dy:]))
        return None, -0.5 * jnp.sum(z**2) - logdet - 0.5 * dy * _LOG_2PI

    _, terms = jax.lax.scan(term, None, jnp.arange(T))
    return terms


def truncated_log_lik(model: LGSSM, y: Float[Array, "T dy"], lag: int) -> Float[Array, ""]:
    """The truncated log-likelihood ``sum_t log p(y_t | y_{max(0, t-lag):t-1})``."""
    return jnp.sum(truncated_log_lik_terms(model, y, lag))


def truncated_log_lik_terms_reference(
    model: LGSSM, y: Float[Array, "T dy"], lag: int
) -> np.ndarray:
    """The terms of :func:`truncated_log_lik_terms` as ``log p(window) - log p(past)``.

    For each t (a Python loop), the joint of ``(y_{max(0, t-lag)}, ..., y_t)`` is cut out of
    :func:`lgssm_moments_reference`'s dense moments and evaluated with
    ``scipy.stats.multivariate_normal`` (numpy, float64).
    """
    _check_model(model)
    check_series(y, obs_dim=model.obs_dim)
    y = np.asarray(y, np.float64)
    T, dy = y.shape
    check_lag(lag, T)
    mean, cov = lgssm_moments_reference(model, T)
    v = y.reshape(-1)
    out = np.zeros(T)
    for t in range(T):
        lo, hi = max(0, t - lag) * dy, (t + 1) * dy
        win = slice(lo, hi)
        out[t] = multivariate_normal.logpdf(v[win], mean[win], cov[win, win])
        if t > 0:
            past = slice(lo, t * dy)
            out[t] -= multivariate_normal.logpdf(v[past], mean[past], cov[past, past])
    return out
