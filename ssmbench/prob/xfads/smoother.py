"""XFADS's filter over pseudo-observations: sample-based predict, low-rank update, the objective.

For t = 0 .. T-1 (``lax.scan``):

- **predict**: ``S`` draws ``z^s ~ pi_{t-1}`` pushed through the dynamics mean ``m_theta``; their
  mean ``mbar`` and ``Mc = S^{-1/2} [m_theta(z^s) - mbar]`` define ``pibar_t = N(mbar, Mc Mc^T +
  diag q)`` (at t = 0: the prior ``N(m0, diag q0)``);
- **update**: ``pi_t`` from ``pibar_t`` and the pseudo-observation ``(k_t, K_t)`` (Woodbury,
  :func:`~ssmbench.prob.xfads.lowrank.lowrank_update`);
- **objective**: ``L-hat = sum_t E_{pi_t}[log p(y_t | z_t)] - KL(pi_t || pibar_t)``.

The expectation is in closed form for the linear-readout emissions here (Gaussian and Poisson
with a log-linear rate depend on ``z`` only through ``eta = C z + d``, whose marginals under
``pi_t`` are Gaussian with variances ``diag(C P_t C^T)``). With exact pseudo-observations of an
LGSSM and sigma-point prediction (``predict="sigma"``, exact for linear dynamics; dense, for the
oracle only) the filter is the Kalman filter and ``L-hat = log p(y)`` (tests/test_xfads.py).

``structure="diagonal"`` is the ablation without the low-rank structure: the predicted
covariance and the pseudo-observation precision are replaced by their diagonals.

Whether L-hat lower-bounds log p(y) is not established (it is not the ELBO of a Markov
posterior); docs/claims/xfads.md reports what was measured.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Literal

import jax
import jax.numpy as jnp
from jaxtyping import Array, Float

from .lowrank import (
    diag_sample,
    diag_update,
    lowrank_dense_cov,
    lowrank_readout_var,
    lowrank_sample,
    lowrank_update,
    predict_from_samples,
    sigma_points,
)

__all__ = ["xfads_filter", "STRUCTURES", "PREDICTS"]

STRUCTURES = ("lowrank", "diagonal")
PREDICTS = ("samples", "sigma")

ExpectedLogLik = Callable[[Array, Array, Array], Array]  # (y_t, mean of eta, var of eta) -> scalar


def _check(structure: str, predict: str, num_samples: int, k: Array, K: Array, m0: Array) -> None:
    """Clear errors for the options and the shapes, before anything is traced."""
    if structure not in STRUCTURES:
        raise ValueError(f"structure must be one of {STRUCTURES}, got {structure!r}")
    if predict not in PREDICTS:
        raise ValueError(f"predict must be one of {PREDICTS}, got {predict!r}")
    if predict == "sigma" and structure != "lowrank":
        raise ValueError("predict='sigma' (the dense oracle) needs structure='lowrank'")
    if predict == "samples" and num_samples < 2:
        raise ValueError(f"num_samples must be >= 2 (a covariance from samples), got {num_samples}")
    L = m0.shape[0]
    if k.ndim != 2 or k.shape[1] != L or K.ndim != 3 or K.shape[:2] != k.shape:
        raise ValueError(
            f"pseudo-observations must be k (T, {L}) and K (T, {L}, r); got k {tuple(k.shape)}, "
            f"K {tuple(K.shape)}"
        )
    if K.shape[2] > L:
        raise ValueError(f"the pseudo-observation rank r = {K.shape[2]} exceeds L = {L}")


def xfads_filter(
    key: Array,
    dynamics: Callable[[Array], Array],
    q: Float[Array, " L"],
    m0: Float[Array, " L"],
    q0: Float[Array, " L"],
    k: Float[Array, "T L"],
    K: Float[Array, "T L r"],
    y: Float[Array, "T dy"],
    C: Float[Array, "dy L"],
    d: Float[Array, " dy"],
    expected_log_lik: ExpectedLogLik,
    *,
    num_samples: int = 5,
    structure: Literal["lowrank", "diagonal"] = "lowrank",
    predict: Literal["samples", "sigma"] = "samples",
) -> tuple[Float[Array, ""], dict]:
    """``(L-hat, diagnostics)`` of the XFADS filter over the pseudo-observations ``(k, K)``.

    ``dynamics(z)`` is the transition mean ``m_theta``; ``q`` and ``q0`` the diagonal process and
    initial variances; ``expected_log_lik(y_t, mu, var)`` the expected emission log-density given
    the Gaussian marginals of ``eta = C z + d`` (it must ignore missing entries itself).
    Diagnostics: ``means`` (T, L), ``ell`` and ``kl`` (T,), and ``posts`` (the per-t posteriors:
    :class:`LowRankGaussian` or :class:`DiagGaussian`, stacked over t).
    """
    _check(structure, predict, num_samples, k, K, m0)
    L = m0.shape[0]
    S = 2 * L if predict == "sigma" else num_samples
    dt = m0.dtype

    def update(mbar, Mc, qv, kt, Kt):
        if structure == "lowrank":
            post, kl = lowrank_update(mbar, Mc, qv, kt, Kt)
            return post, kl, lowrank_readout_var(post, C)
        post, kl = diag_update(mbar, jnp.sum(Mc**2, 1) + qv, kt, jnp.sum(Kt**2, 1))
        return post, kl, (C**2) @ post.var

    def draw(kk, post):
        if predict == "sigma":
            return sigma_points(post.mean, lowrank_dense_cov(post))
        if structure == "lowrank":
            return lowrank_sample(kk, post, S)
        return diag_sample(kk, post, S)

    def emit(post, var, yt):
        return expected_log_lik(yt, C @ post.mean + d, var)

    post0, kl0, var0 = update(m0, jnp.zeros((L, S), dt), q0, k[0], K[0])
    ell0 = emit(post0, var0, y[0])

    def step(post, inp):
        kk, kt, Kt, yt = inp
        F = jax.vmap(dynamics)(draw(kk, post))
        mbar, Mc = predict_from_samples(F)
        new, kl, var = update(mbar, Mc, q, kt, Kt)
        ell = emit(new, var, yt)
        return new, (new, ell, kl)

    keys = jax.random.split(key, max(y.shape[0] - 1, 1))[: y.shape[0] - 1]
    _, (posts, ells, kls) = jax.lax.scan(step, post0, (keys, k[1:], K[1:], y[1:]))
    cat = lambda a, b: jnp.concatenate([a[None], b])  # noqa: E731
    posts = jax.tree.map(cat, post0, posts)
    ell, kl = cat(ell0, ells), cat(kl0, kls)
    return jnp.sum(ell - kl), {"means": posts.mean, "ell": ell, "kl": kl, "posts": posts}
