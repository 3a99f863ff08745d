"""Exact inference for the linear-Gaussian SSM: Kalman filter and RTS smoother (``lax.scan``).

These are the ground truth that every Monte Carlo bound is checked against; they are themselves
cross-checked against dynamax's ``lgssm_filter`` / ``lgssm_smoother`` and a dense-Gaussian oracle in
``tests/test_prob_kalman.py``. Covariance updates use the Joseph form and Cholesky solves.

Pure functions of the model's parameters and the data; the models never import this module (the
exact log-likelihood of an LGSSM is ``kalman_filter(model, y).log_likelihood``).
"""

from __future__ import annotations

import math
from typing import NamedTuple

import jax
import jax.numpy as jnp
from jax.scipy.linalg import cho_factor, cho_solve, solve_triangular
from jaxtyping import Array, Float

from ._base import check_observations
from .lgssm import LGSSM

__all__ = ["KalmanFiltered", "KalmanSmoothed", "kalman_filter", "rts_smoother"]


class KalmanFiltered(NamedTuple):
    """log p(y_{0:T-1}) and the filtered (given y_{0:t}) and predicted (given y_{0:t-1}) moments."""

    log_likelihood: Float[Array, ""]
    filtered_means: Float[Array, "T dx"]
    filtered_covs: Float[Array, "T dx dx"]
    predicted_means: Float[Array, "T dx"]
    predicted_covs: Float[Array, "T dx dx"]


class KalmanSmoothed(NamedTuple):
    """log p(y_{0:T-1}), the smoothed (given all of y) and the filtered moments."""

    log_likelihood: Float[Array, ""]
    smoothed_means: Float[Array, "T dx"]
    smoothed_covs: Float[Array, "T dx dx"]
    filtered_means: Float[Array, "T dx"]
    filtered_covs: Float[Array, "T dx dx"]


def _sym(P):
    """The symmetric part of ``P``."""
    return 0.5 * (P + P.T)


def kalman_filter(model: LGSSM, y: Float[Array, "T dy"]) -> KalmanFiltered:
    """Kalman filter for ``model`` on ``y``: log p(y_{0:T-1}) and filtered/predicted moments."""
    check_observations(model, y)
    P0, Q, R = model.covariances()
    A, b, C, d = model.A, model.b, model.C, model.d
    dy = y.shape[1]
    eye = jnp.eye(model.state_dim, dtype=P0.dtype)

    def update(m_pred, P_pred, yt):
        S = _sym(C @ P_pred @ C.T + R)
        L = cho_factor(S, lower=True)
        resid = yt - (C @ m_pred + d)
        K = cho_solve(L, C @ P_pred).T  # P C^T S^-1
        z = solve_triangular(L[0], resid, lower=True)
        ll = -0.5 * jnp.sum(z**2) - jnp.sum(jnp.log(jnp.diagonal(L[0]))) - 0.5 * dy * math.log(2 * math.pi)  # fmt: skip
        m = m_pred + K @ resid
        IKC = eye - K @ C
        P = _sym(IKC @ P_pred @ IKC.T + K @ R @ K.T)  # Joseph form
        return m, P, ll

    def step(carry, yt):
        m_prev, P_prev, ll_acc = carry
        m_pred = A @ m_prev + b
        P_pred = _sym(A @ P_prev @ A.T + Q)
        m, P, ll = update(m_pred, P_pred, yt)
        return (m, P, ll_acc + ll), (m, P, m_pred, P_pred)

    m0, Pf0, ll0 = update(model.m0, P0, y[0])
    (_, _, ll), (ms, Ps, mp, Pp) = jax.lax.scan(step, (m0, Pf0, ll0), y[1:])
    cat = lambda a, b_: jnp.concatenate([a[None], b_])  # noqa: E731
    return KalmanFiltered(ll, cat(m0, ms), cat(Pf0, Ps), cat(model.m0, mp), cat(P0, Pp))


def rts_smoother(model: LGSSM, y: Float[Array, "T dy"]) -> KalmanSmoothed:
    """Rauch-Tung-Striebel smoother: the exact marginals p(x_t | y_{0:T-1})."""
    filt = kalman_filter(model, y)
    A = model.A

    def step(carry, inp):
        ms_next, Ps_next = carry
        mf, Pf, mp_next, Pp_next = inp
        G = cho_solve(cho_factor(Pp_next, lower=True), A @ Pf).T  # Pf A^T Pp^-1
        m = mf + G @ (ms_next - mp_next)
        P = _sym(Pf + G @ (Ps_next - Pp_next) @ G.T)
        return (m, P), (m, P)

    mT, PT = filt.filtered_means[-1], filt.filtered_covs[-1]
    inputs = (
        filt.filtered_means[:-1],
        filt.filtered_covs[:-1],
        filt.predicted_means[1:],
        filt.predicted_covs[1:],
    )
    _, (ms, Ps) = jax.lax.scan(step, (mT, PT), inputs, reverse=True)
    return KalmanSmoothed(
        filt.log_likelihood,
        jnp.concatenate([ms, mT[None]]),
        jnp.concatenate([Ps, PT[None]]),
        filt.filtered_means,
        filt.filtered_covs,
    )
