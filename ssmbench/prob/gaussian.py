"""Small Gaussian helpers shared by the models, proposals and bounds.

A Gaussian is given by a ``mean`` of shape ``(d,)`` and a ``scale`` that is either a vector of
standard deviations ``(d,)`` (diagonal covariance) or a lower-triangular matrix ``(d, d)`` with
``cov = scale @ scale.T``. Only the lower triangle of a matrix scale is read. The sign of the
diagonal is irrelevant (``log |L_ii|`` enters the log-determinant), so an unconstrained matrix
passed through ``tril`` is a valid parameterisation.
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
from jaxtyping import Array, Float

__all__ = [
    "gauss_log_prob",
    "gauss_log_prob_many",
    "gauss_log_prob_pairs",
    "tril_solve",
    "tril_inverse",
    "gauss_sample",
    "logmeanexp",
    "normalize_log_weights",
    "safe_log",
    "softplus_scale",
]

_LOG_2PI = math.log(2.0 * math.pi)


def tril_solve(L: Float[Array, "d d"], b: Float[Array, "d ..."]) -> Float[Array, "d ..."]:
    """``L^{-1} b`` for a lower-triangular ``L`` by forward substitution in plain JAX operations.

    Only the lower triangle of ``L`` is read. No LAPACK call: under ``vmap`` the d row updates
    become batched vector products, never a batched ``trsm``. (jaxlib 0.10.2's CPU
    ``lapack_strsm_ffi`` can deadlock when two batched solves share XLA's thread pool; see
    docs/suites.md, "Known problem".) O(d^2 k) work in d sequential steps: meant for the small
    state dimensions of the bounds (d <= ~64), where it is also faster than a LAPACK call.
    """
    d = L.shape[-1]
    if L.shape != (d, d) or b.shape[0] != d:
        raise ValueError(f"tril_solve needs L (d, d) and b (d, ...); got {L.shape} and {b.shape}")
    L = jnp.tril(L)
    vec = b.ndim == 1
    B = b[:, None] if vec else b
    X = jnp.zeros(B.shape, jnp.result_type(L, B))

    def row(i, X):
        # rows >= i of X are still zero, so L[i] @ X sums over j < i only
        return X.at[i].set((B[i] - L[i] @ X) / L[i, i])

    X = jax.lax.fori_loop(0, d, row, X)
    return X[:, 0] if vec else X


def tril_inverse(L: Float[Array, "d d"]) -> Float[Array, "d d"]:
    """``L^{-1}`` of a lower-triangular ``L`` (:func:`tril_solve` with the identity; no LAPACK)."""
    return tril_solve(L, jnp.eye(L.shape[-1], dtype=L.dtype))


def gauss_log_prob(
    x: Float[Array, " d"], mean: Float[Array, " d"], scale: Float[Array, "..."]
) -> Float[Array, ""]:
    """log N(x; mean, scale scale^T) for a diagonal (``(d,)``) or tril (``(d, d)``) scale."""
    d = x.shape[-1]
    diff = x - mean
    if scale.ndim == 1:
        z = diff / scale
        logdet = jnp.sum(jnp.log(jnp.abs(scale)))
    else:
        L = jnp.tril(scale)
        z = tril_solve(L, diff)
        logdet = jnp.sum(jnp.log(jnp.abs(jnp.diagonal(L))))
    return -0.5 * jnp.sum(z**2) - logdet - 0.5 * d * _LOG_2PI


def gauss_log_prob_many(
    xs: Float[Array, "n d"], mean: Float[Array, " d"], scale: Float[Array, "..."]
) -> Float[Array, " n"]:
    """``gauss_log_prob`` of many points under one Gaussian: the inverse scale once, then one
    matrix product for all n points (no per-point solve)."""
    d = xs.shape[-1]
    diff = xs - mean[None, :]
    if scale.ndim == 1:
        z = diff / scale[None, :]
        logdet = jnp.sum(jnp.log(jnp.abs(scale)))
    else:
        L = jnp.tril(scale)
        z = diff @ tril_inverse(L).T
        logdet = jnp.sum(jnp.log(jnp.abs(jnp.diagonal(L))))
    return -0.5 * jnp.sum(z**2, axis=-1) - logdet - 0.5 * d * _LOG_2PI


def gauss_log_prob_pairs(
    xs: Float[Array, "n d"], means: Float[Array, "m d"], scales: Float[Array, "m ..."]
) -> Float[Array, "m n"]:
    """``out[j, i] = log N(xs[i]; means[j], scales[j] scales[j]^T)`` for all pairs, by whitening.

    Each Gaussian's inverse scale ``W_j = L_j^{-1}`` is formed once (:func:`tril_inverse`, d
    forward-substitution steps, no LAPACK); then ``z[j, i] = W_j xs[i] - W_j means[j]`` is one
    batched matrix product, O(m n d^2). This is PVMC's N x N transition matrix per step (and
    the marginal particle filter's): no triangular solve with n right-hand sides in the hot path,
    in value or gradient. ``scales``: ``(m, d)`` diagonal or ``(m, d, d)`` lower-triangular.
    The slow oracle is :func:`gauss_log_prob` over every pair (tests/test_prob_gaussian.py).
    """
    m, d = means.shape
    if xs.ndim != 2 or xs.shape[1] != d or scales.shape[:2] != (m, d) or scales.ndim > 3:
        raise ValueError(
            f"gauss_log_prob_pairs needs xs (n, d), means (m, d) and scales (m, d) or (m, d, d) "
            f"with d = {d}, m = {m}; got {xs.shape}, {means.shape}, {scales.shape}"
        )
    if scales.ndim == 2:
        inv = 1.0 / scales  # (m, d)
        z = xs[None, :, :] * inv[:, None, :] - (means * inv)[:, None, :]
        logdet = jnp.sum(jnp.log(jnp.abs(scales)), axis=-1)
    else:
        W = jax.vmap(tril_inverse)(scales)  # (m, d, d)
        z = jnp.einsum("jab,ib->jia", W, xs) - jnp.einsum("jab,jb->ja", W, means)[:, None, :]
        logdet = jnp.sum(jnp.log(jnp.abs(jnp.diagonal(scales, axis1=-2, axis2=-1))), axis=-1)
    return -0.5 * jnp.sum(z**2, axis=-1) - logdet[:, None] - 0.5 * d * _LOG_2PI


def gauss_sample(
    key: Array, mean: Float[Array, " d"], scale: Float[Array, "..."]
) -> Float[Array, " d"]:
    """Reparameterised draw ``mean + scale @ eps`` (or ``mean + scale * eps`` for a diagonal scale)."""
    eps = jax.random.normal(key, mean.shape, dtype=mean.dtype)
    if scale.ndim == 1:
        return mean + scale * eps
    return mean + jnp.tril(scale) @ eps


def logmeanexp(a: Float[Array, "..."], axis: int | tuple[int, ...] = -1) -> Float[Array, "..."]:
    """log(mean(exp(a))) along ``axis``, stably."""
    axes = (axis,) if isinstance(axis, int) else axis
    n = 1
    for ax in axes:
        n *= a.shape[ax]
    return jax.nn.logsumexp(a, axis=axis) - math.log(n)


def normalize_log_weights(logw: Float[Array, " n"]) -> Float[Array, " n"]:
    """Log weights shifted to sum to one (``logw - logsumexp(logw)``)."""
    return logw - jax.nn.logsumexp(logw)


def safe_log(x: Float[Array, "..."]) -> Float[Array, "..."]:
    """log(x) that returns -inf at x == 0 with a zero (not NaN) gradient there."""
    pos = x > 0
    return jnp.where(pos, jnp.log(jnp.where(pos, x, 1.0)), -jnp.inf)


def softplus_scale(raw: Float[Array, "..."], min_scale: float) -> Float[Array, "..."]:
    """A positive scale from an unconstrained output: ``softplus(raw) + min_scale``."""
    return jax.nn.softplus(raw) + min_scale
