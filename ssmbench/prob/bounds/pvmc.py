"""PVMC: parallel importance smoothing over all N^T particle paths, and the log-semiring matrix
products it reduces with.

Signature and conventions: :mod:`ssmbench.prob.bounds`.
"""

from __future__ import annotations

import math
from typing import Literal

import jax
import jax.numpy as jnp
from jaxtyping import Array, Float

from .._base import AbstractParallelProposal, AbstractSSM
from ..gaussian import gauss_log_prob_many, logmeanexp, normalize_log_weights, safe_log
from ._common import check_inputs as _check
from ._common import draw as _draw
from ._common import ess as _ess
from ._common import sg

__all__ = ["pvmc", "log_matmul", "log_matmul_exact", "log_matmul_auto"]


def log_matmul(A: Float[Array, "... n k"], B: Float[Array, "... k m"]) -> Float[Array, "... n m"]:
    """log(exp(A) @ exp(B)) via one real matmul, shifted by A's row maxima and B's column maxima.

    O(n k m) work and O(n m) memory. An entry can underflow to -inf only if every term is below
    ~exp(-745) (float64) / exp(-87) (float32) relative to (row max of A) * (column max of B).
    """
    a = jnp.max(A, axis=-1, keepdims=True)
    b = jnp.max(B, axis=-2, keepdims=True)
    a = sg(jnp.where(jnp.isfinite(a), a, 0.0))
    b = sg(jnp.where(jnp.isfinite(b), b, 0.0))
    return safe_log(jnp.exp(A - a) @ jnp.exp(B - b)) + a + b


def log_matmul_exact(
    A: Float[Array, "... n k"], B: Float[Array, "... k m"]
) -> Float[Array, "... n m"]:
    """log(exp(A) @ exp(B)) by a logsumexp over k: exact in log space, O(n k m) work.

    Leading batch dimensions are processed by ``lax.map`` in chunks, so memory stays about
    2^22 elements whatever the batch (the associative scan calls this with T/2, T/4, ... products).
    """
    n, k, m = A.shape[-2], A.shape[-1], B.shape[-1]

    def one(ab):
        return jax.nn.logsumexp(ab[0][:, :, None] + ab[1][None, :, :], axis=1)

    if A.ndim == 2:
        return one((A, B))
    batch = A.shape[:-2]
    A2, B2 = A.reshape((-1, n, k)), B.reshape((-1, k, m))
    bs = max(1, min(A2.shape[0], 2**22 // (n * k * m)))
    return jax.lax.map(one, (A2, B2), batch_size=bs).reshape(batch + (n, m))


def log_matmul_auto(
    A: Float[Array, "... n k"], B: Float[Array, "... k m"]
) -> Float[Array, "... n m"]:
    """:func:`log_matmul` (fast), falling back to :func:`log_matmul_exact` for the whole batch when
    any entry underflowed to -inf (``lax.cond``; under ``vmap`` both branches are evaluated)."""
    fast = log_matmul(A, B)
    bad = jnp.any(jnp.isneginf(fast))
    return jax.lax.cond(bad, lambda: log_matmul_exact(A, B), lambda: fast)


_MATMULS = {"exp": log_matmul, "exact": log_matmul_exact, "auto": log_matmul_auto}


def _pvmc_potentials(key, model, proposal, y, N, stick_the_landing):
    """Particles (T, N, dx), l0 (N,), per-t emission-minus-proposal terms (T, N) and the
    transition log densities (T-1, N, N) with [t-1, m, n] = log f(x_t^n | x_{t-1}^m, c_t)."""
    T = y.shape[0]
    means, scales = proposal.marginals(model, y)
    if means.shape != (T, model.state_dim):
        raise ValueError(f"proposal.marginals means must be (T, dx) = {(T, model.state_dim)}")
    c = model.context(y)

    def draw_t(k, m, s):
        return jax.vmap(lambda kk: _draw(kk, m, s, stick_the_landing))(jax.random.split(k, N))

    x, lq = jax.vmap(draw_t)(jax.random.split(key, T), means, scales)  # (T,N,dx), (T,N)
    lg = jax.vmap(jax.vmap(model.emission_log_prob, (0, None, None)))(x, y, c)  # (T,N)
    e = lg - lq
    l0 = jax.vmap(model.initial_log_prob, (0, None))(x[0], c[0]) + e[0]

    def trans_t(x_prev, x_now, ct):
        mu, sc = jax.vmap(model.transition_dist, (0, None))(x_prev, ct)  # per m
        return jax.vmap(lambda m_, s_: gauss_log_prob_many(x_now, m_, s_))(mu, sc)

    ltrans = jax.vmap(trans_t)(x[:-1], x[1:], c[1:])  # (T-1, N, N)
    return x, l0, e, ltrans


def pvmc(
    key: Array,
    model: AbstractSSM,
    proposal: AbstractParallelProposal,
    y: Float[Array, "T dy"],
    num_particles: int,
    *,
    method: Literal["associative", "sequential"] = "associative",
    truncated: bool = False,
    smoothing: bool = True,
    matmul: Literal["auto", "exp", "exact"] = "auto",
    stick_the_landing: bool = False,
) -> tuple[Float[Array, ""], dict[str, Array]]:
    r"""PVMC: parallel importance smoothing over all N^T particle paths.

    Draw x_t^n ~ q_t independently for all t, n. With l_0[n] = log p(x_0^n) + log g(y_0|x_0^n) -
    log q_0(x_0^n) and K_t[m, n] = log f(x_t^n|x_{t-1}^m) + log g(y_t|x_t^n) - log q_t(x_t^n),

        Z-hat = N^{-T} 1^T diag(e^{l_0}) E_1 ... E_{T-1} 1,   E_t = exp(K_t)

    (T points; the paper's N^{-(T+1)} with its T + 1 points), an unbiased estimator of p(y). Each
    factor carries its own 1/N (l_0 - log N, K_t - log N), which keeps the log-matrices O(1).

    ``method="sequential"``: forward recursion alpha_t = alpha_{t-1} (x) K_t in the log semiring
    (``lax.scan``, exact logsumexp, O(N^2 T)). ``"associative"``: prefix products K_1 (x) ... (x) K_t by
    ``lax.associative_scan`` over N x N log-matrices (O(N^3 T) work, O(log T) depth), with
    ``matmul="exp"`` (shifted exp-matmul-log: fast, but an entry whose every term underflows
    relative to the shifts becomes -inf), ``"exact"`` (chunked logsumexp) or ``"auto"`` (default:
    exp, recomputed exactly when anything underflowed).

    ``smoothing``: also compute backward (suffix) messages beta_t and the smoothing weights
    w_t^n ∝ exp(alpha_t[n] + beta_t[n]) and smoothed means.

    ``truncated=True``: the authors' cheaper variant, which replaces the path sum by per-t factors
    log Z-trunc = logmeanexp_n l_0 + sum_t logmeanexp_n [logmeanexp_m log f(x_t^n|x_{t-1}^m) + log g - log q]
    (previous particles weighted uniformly, not by alpha). It is NOT an unbiased estimator of p(y)
    in general; diagnostics then hold the per-t weights.

    Diagnostics: ``particles`` (T, N, dx); with smoothing: ``log_weights`` (T, N) normalised
    smoothing weights, ``smoothed_means`` (T, dx), ``ess`` (T,); ``log_alpha`` (T, N).
    """
    _check(model, y, num_particles)
    if method not in ("associative", "sequential"):
        raise ValueError(f"method must be 'associative' or 'sequential', got {method!r}")
    if matmul not in _MATMULS:
        raise ValueError(f"matmul must be one of {sorted(_MATMULS)}, got {matmul!r}")
    if not isinstance(proposal, AbstractParallelProposal):
        raise ValueError(
            f"pvmc needs an AbstractParallelProposal (per-t marginals), got {type(proposal).__name__}"
        )
    N = num_particles
    T = y.shape[0]
    log_n = math.log(N)
    x, l0, e, ltrans = _pvmc_potentials(key, model, proposal, y, N, stick_the_landing)
    diag: dict[str, Array] = {"particles": x}

    if truncated:
        per_t = logmeanexp(ltrans, axis=1) + e[1:]  # (T-1, N): mean over previous particles m
        logw = jnp.concatenate([l0[None], per_t])
        log_Z = jnp.sum(logmeanexp(logw, axis=1))
        if smoothing:
            lw = jax.vmap(normalize_log_weights)(logw)
            diag.update(_weights_diag(lw, x))
        return log_Z, diag

    l0n = l0 - log_n
    Kn = ltrans + e[1:, None, :] - log_n  # (T-1, N, N)
    if T == 1:
        log_alpha = l0n[None]
        log_beta = jnp.zeros_like(log_alpha)
    elif method == "sequential":

        def fwd(alpha, K):
            alpha = jax.nn.logsumexp(alpha[:, None] + K, axis=0)
            return alpha, alpha

        _, alphas = jax.lax.scan(fwd, l0n, Kn)
        log_alpha = jnp.concatenate([l0n[None], alphas])
        if smoothing:

            def bwd(beta, K):
                beta = jax.nn.logsumexp(K + beta[None, :], axis=1)
                return beta, beta

            _, betas = jax.lax.scan(bwd, jnp.zeros_like(l0n), Kn, reverse=True)
            log_beta = jnp.concatenate([betas, jnp.zeros_like(l0n)[None]])
    else:
        mm = _MATMULS[matmul]
        P = jax.lax.associative_scan(mm, Kn)  # P[t-1] = K_1 (x) ... (x) K_t
        log_alpha = jnp.concatenate([l0n[None], jax.nn.logsumexp(l0n[None, :, None] + P, axis=1)])
        if smoothing:
            # reverse scan: result[j] = K_{j+1} (x) ... (x) K_{T-1}  (fn(later, earlier))
            S = jax.lax.associative_scan(lambda u, v: mm(v, u), Kn, reverse=True)
            log_beta = jnp.concatenate([jax.nn.logsumexp(S, axis=2), jnp.zeros_like(l0n)[None]])
    log_Z = jax.nn.logsumexp(log_alpha[-1])
    diag["log_alpha"] = log_alpha
    if smoothing:
        lw = jax.vmap(normalize_log_weights)(log_alpha + log_beta)
        diag.update(_weights_diag(lw, x))
    return log_Z, diag


def _weights_diag(lw, x):
    """Smoothing diagnostics of normalized per-t log weights ``lw`` (T, N)."""
    return {
        "log_weights": lw,
        "smoothed_means": jnp.einsum("tn,tnd->td", jnp.exp(lw), x),
        "ess": jax.vmap(_ess)(lw),
    }
