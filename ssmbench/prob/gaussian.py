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
from jax.scipy.linalg import solve_triangular
from jaxtyping import Array, Float

__all__ = [
    "gauss_log_prob",
    "gauss_log_prob_many",
    "gauss_sample",
    "logmeanexp",
    "normalize_log_weights",
    "safe_log",
    "softplus_scale",
]

_LOG_2PI = math.log(2.0 * math.pi)


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
        z = solve_triangular(L, diff, lower=True)
        logdet = jnp.sum(jnp.log(jnp.abs(jnp.diagonal(L))))
    return -0.5 * jnp.sum(z**2) - logdet - 0.5 * d * _LOG_2PI


def gauss_log_prob_many(
    xs: Float[Array, "n d"], mean: Float[Array, " d"], scale: Float[Array, "..."]
) -> Float[Array, " n"]:
    """``gauss_log_prob`` of many points under one Gaussian: one triangular solve with n right-hand
    sides instead of n solves (PVMC's N x N transition matrix needs N of these per step)."""
    d = xs.shape[-1]
    diff = xs - mean[None, :]
    if scale.ndim == 1:
        z = diff / scale[None, :]
        logdet = jnp.sum(jnp.log(jnp.abs(scale)))
    else:
        L = jnp.tril(scale)
        z = solve_triangular(L, diff.T, lower=True).T
        logdet = jnp.sum(jnp.log(jnp.abs(jnp.diagonal(L))))
    return -0.5 * jnp.sum(z**2, axis=-1) - logdet - 0.5 * d * _LOG_2PI


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
