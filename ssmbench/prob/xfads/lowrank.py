"""XFADS's structured Gaussian algebra: a low-rank update of a low-rank-plus-diagonal prior.

The predicted (prior) covariance is ``Pbar = Mc Mc^T + diag(q)`` with ``Mc`` of shape (L, S), and
the pseudo-observation has natural parameters ``(k, K K^T)`` with ``K`` of shape (L, r). The
posterior is

    P = (Pbar^{-1} + K K^T)^{-1} = Pbar - Pbar K Ups^{-1} K^T Pbar,   Ups = I_r + K^T Pbar K,
    m = P (Pbar^{-1} mbar + k)   = mbar + Pbar v,   v = k - K Ups^{-1} K^T (mbar + Pbar k),

and its KL to the prior is ``0.5 [tr Ups^{-1} - r + v^T Pbar v + log|Ups|]`` (``log|Pbar| -
log|P| = log|Ups|`` by the matrix determinant lemma, ``tr(Pbar^{-1} P) = L - r + tr Ups^{-1}``).
Every product with ``Pbar`` costs O(L (S + 1)), every solve is r x r: one update is
O(L (S r + r^2) + r^3) with no L x L matrix anywhere (:func:`lowrank_update`).

Samples use Matheron's rule, ``z = m + e - Pbar K Ups^{-1} (K^T e + w)`` with ``e = Mc w1 +
sqrt(q) w2 ~ N(0, Pbar)`` and ``w ~ N(0, I_r)``.

The references next to them form ``Pbar`` and ``P`` densely and use Cholesky solves
(:func:`dense_update`); the tests check the fast path against them to 1e-10. The diagonal ablation
(:func:`diag_update`) keeps only diagonals: ``Pbar -> diag(rowsum(Mc^2) + q)`` and ``K K^T ->
diag(rowsum(K^2))``.
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
from jax.scipy.linalg import cho_solve, solve_triangular
from jaxtyping import Array, Float

__all__ = [
    "LowRankGaussian",
    "DiagGaussian",
    "pbar_matmul",
    "lowrank_update",
    "lowrank_sample",
    "lowrank_dense_cov",
    "lowrank_readout_var",
    "dense_update",
    "diag_update",
    "diag_sample",
    "predict_from_samples",
    "sigma_points",
]


class LowRankGaussian(NamedTuple):
    """N(mean, P) with ``P = Pbar - PK Ups^{-1} PK^T``, ``Pbar = Mc Mc^T + diag(q)``, ``PK = Pbar K``
    and ``ups_chol`` the lower Cholesky factor of ``Ups = I + K^T Pbar K``."""

    mean: Float[Array, " L"]
    Mc: Float[Array, "L S"]
    q: Float[Array, " L"]
    K: Float[Array, "L r"]
    PK: Float[Array, "L r"]
    ups_chol: Float[Array, "r r"]


class DiagGaussian(NamedTuple):
    """N(mean, diag(var)): the posterior of the diagonal ablation."""

    mean: Float[Array, " L"]
    var: Float[Array, " L"]


def pbar_matmul(Mc: Float[Array, "L S"], q: Float[Array, " L"], X: Float[Array, "L ..."]):
    """``(Mc Mc^T + diag(q)) X`` in O(L S) per column, without forming the L x L matrix."""
    if X.ndim == 1:
        return Mc @ (Mc.T @ X) + q * X
    return Mc @ (Mc.T @ X) + q[:, None] * X


def _check_rank(L: int, r: int) -> None:
    """The pseudo-observation rank may not exceed the state dimension."""
    if r > L:
        raise ValueError(f"the pseudo-observation rank r = {r} exceeds the state dimension L = {L}")


def lowrank_update(
    mbar: Float[Array, " L"],
    Mc: Float[Array, "L S"],
    q: Float[Array, " L"],
    k: Float[Array, " L"],
    K: Float[Array, "L r"],
) -> tuple[LowRankGaussian, Float[Array, ""]]:
    """The posterior of the prior N(mbar, Mc Mc^T + diag q) times exp(k^T z - |K^T z|^2 / 2), and
    its KL divergence to the prior (module docstring; no L x L matrix)."""
    L, r = K.shape
    _check_rank(L, r)
    PK = pbar_matmul(Mc, q, K)
    ups = jnp.eye(r, dtype=K.dtype) + K.T @ PK
    ups = 0.5 * (ups + ups.T)
    Lu = jnp.linalg.cholesky(ups)
    u = mbar + pbar_matmul(Mc, q, k)
    v = k - K @ cho_solve((Lu, True), K.T @ u)
    Pv = pbar_matmul(Mc, q, v)
    mean = mbar + Pv
    Linv = solve_triangular(Lu, jnp.eye(r, dtype=K.dtype), lower=True)
    tr_inv = jnp.sum(Linv**2)  # tr Ups^{-1} = |L^{-1}|_F^2
    logdet = 2.0 * jnp.sum(jnp.log(jnp.diagonal(Lu)))
    kl = 0.5 * (tr_inv - r + v @ Pv + logdet)
    return LowRankGaussian(mean, Mc, q, K, PK, Lu), kl


def lowrank_sample(key: Array, post: LowRankGaussian, n: int) -> Float[Array, "n L"]:
    """``n`` draws from ``post`` by Matheron's rule (module docstring), O(n L (S + r))."""
    L, S = post.Mc.shape
    r = post.K.shape[1]
    k1, k2, k3 = jax.random.split(key, 3)
    dt = post.mean.dtype
    w1 = jax.random.normal(k1, (S, n), dt)
    w2 = jax.random.normal(k2, (L, n), dt)
    w = jax.random.normal(k3, (r, n), dt)
    e = post.Mc @ w1 + jnp.sqrt(post.q)[:, None] * w2
    corr = post.PK @ cho_solve((post.ups_chol, True), post.K.T @ e + w)
    return (post.mean[:, None] + e - corr).T


def lowrank_dense_cov(post: LowRankGaussian) -> Float[Array, "L L"]:
    """The dense posterior covariance (for tests and the sigma-point oracle only: O(L^2))."""
    Pbar = post.Mc @ post.Mc.T + jnp.diag(post.q)
    W = solve_triangular(post.ups_chol, post.PK.T, lower=True)
    return Pbar - W.T @ W


def lowrank_readout_var(post: LowRankGaussian, C: Float[Array, "dy L"]) -> Float[Array, " dy"]:
    """``diag(C P C^T)``: the variance of each linear readout ``c_i^T z`` under ``post``,
    O(dy L (S + r))."""
    CM = C @ post.Mc
    W = solve_triangular(post.ups_chol, (C @ post.PK).T, lower=True)
    return jnp.sum(CM**2, 1) + (C**2) @ post.q - jnp.sum(W**2, 0)


def dense_update(
    mbar: Float[Array, " L"],
    Pbar: Float[Array, "L L"],
    k: Float[Array, " L"],
    K: Float[Array, "L r"],
) -> tuple[Float[Array, " L"], Float[Array, "L L"], Float[Array, ""]]:
    """The reference of :func:`lowrank_update` in dense algebra: ``(mean, P, KL)`` with
    ``P = (Pbar^{-1} + K K^T)^{-1}`` and ``m = P (Pbar^{-1} mbar + k)`` by Cholesky solves, and the
    Gaussian KL from log-determinants, O(L^3)."""
    L = mbar.shape[0]
    eye = jnp.eye(L, dtype=mbar.dtype)
    Lp = jnp.linalg.cholesky(Pbar)
    prec = cho_solve((Lp, True), eye) + K @ K.T
    Lq = jnp.linalg.cholesky(0.5 * (prec + prec.T))
    P = cho_solve((Lq, True), eye)
    mean = P @ (cho_solve((Lp, True), mbar) + k)
    d = mean - mbar
    logdet_pbar = 2.0 * jnp.sum(jnp.log(jnp.diagonal(Lp)))
    logdet_p = -2.0 * jnp.sum(jnp.log(jnp.diagonal(Lq)))
    quad = d @ cho_solve((Lp, True), d)
    kl = 0.5 * (jnp.trace(cho_solve((Lp, True), P)) - L + quad + logdet_pbar - logdet_p)
    return mean, 0.5 * (P + P.T), kl


def diag_update(
    mbar: Float[Array, " L"],
    pbar: Float[Array, " L"],
    k: Float[Array, " L"],
    lam: Float[Array, " L"],
) -> tuple[DiagGaussian, Float[Array, ""]]:
    """The diagonal ablation's update: prior N(mbar, diag pbar), pseudo-observation precision
    ``diag(lam)``; the posterior and its KL to the prior, O(L)."""
    var = 1.0 / (1.0 / pbar + lam)
    mean = var * (mbar / pbar + k)
    kl = 0.5 * jnp.sum(var / pbar - 1.0 + (mean - mbar) ** 2 / pbar + jnp.log(pbar / var))
    return DiagGaussian(mean, var), kl


def diag_sample(key: Array, post: DiagGaussian, n: int) -> Float[Array, "n L"]:
    """``n`` draws from a diagonal Gaussian."""
    eps = jax.random.normal(key, (n, post.mean.shape[0]), post.mean.dtype)
    return post.mean[None, :] + jnp.sqrt(post.var)[None, :] * eps


def predict_from_samples(
    F: Float[Array, "S L"],
) -> tuple[Float[Array, " L"], Float[Array, "L S"]]:
    """Moment matching of the pushed-forward samples ``F[s] = m_theta(z^s)``: the mean and
    ``Mc = S^{-1/2} [F - mean]^T`` (the paper's scaling: the 1/S, not 1/(S-1), covariance)."""
    mbar = jnp.mean(F, 0)
    return mbar, (F - mbar[None, :]).T / jnp.sqrt(jnp.asarray(F.shape[0], F.dtype))


def sigma_points(mean: Float[Array, " L"], P: Float[Array, "L L"]) -> Float[Array, "2L L"]:
    """The 2L symmetric sigma points ``mean +- sqrt(L) chol(P)[:, i]``: their 1/(2L) moments are
    exactly (mean, P), so pushing them through linear dynamics predicts exactly (the oracle)."""
    L = mean.shape[0]
    Lc = jnp.linalg.cholesky(0.5 * (P + P.T)) * jnp.sqrt(jnp.asarray(L, mean.dtype))
    return jnp.concatenate([mean[None, :] + Lc.T, mean[None, :] - Lc.T])
