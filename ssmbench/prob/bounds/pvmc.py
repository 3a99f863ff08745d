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
from ..gaussian import gauss_log_prob_pairs, logmeanexp, normalize_log_weights, safe_log
from ._common import check_inputs as _check
from ._common import draw as _draw
from ._common import ess as _ess
from ._common import sg

__all__ = ["pvmc", "pvmc_batch", "log_matmul", "log_matmul_exact", "log_matmul_auto", "log_matprod"]


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


def _log_matmul_poisoned(A, B):
    """:func:`log_matmul` with every -inf (underflowed) entry replaced by NaN: a NaN spreads to
    every later product that reads it, so one check of the outputs detects an underflow anywhere
    in a reduction or prefix scan (every internal product feeds some output)."""
    out = log_matmul(A, B)
    return jnp.where(jnp.isneginf(out), jnp.nan, out)


def log_matprod(mm, K: Float[Array, "L n n"]) -> Float[Array, "n n"]:
    """The total product K[0] (x) K[1] (x) ... (x) K[L-1] under the log-semiring product ``mm``,
    by a balanced pairwise reduction: ceil(log2 L) levels, L - 1 products in all (a prefix scan
    does about 2L and keeps every prefix). The likelihood-only path of PVMC needs only this.
    The levels are unrolled at trace time (L is static); an odd one out waits for the next level.
    """
    if K.shape[0] < 1:
        raise ValueError("log_matprod needs at least one matrix")
    while K.shape[0] > 1:
        half = K.shape[0] // 2
        paired = mm(K[0 : 2 * half : 2], K[1 : 2 * half : 2])
        K = jnp.concatenate([paired, K[2 * half :]]) if K.shape[0] % 2 else paired
    return K[0]


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
        return gauss_log_prob_pairs(x_now, mu, sc)  # whitened matmuls, no batched trsm

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
    (``lax.scan``, exact logsumexp, O(N^2 T)). ``"associative"``: products of N x N log-matrices
    (O(N^3 T) work, O(log T) depth): with ``smoothing``, every prefix K_1 (x) ... (x) K_t and suffix
    by ``lax.associative_scan``; without, only the total product by a balanced reduction
    (:func:`log_matprod`, about half the products). The log-matmul is ``matmul="exp"`` (shifted
    exp-matmul-log: fast; an entry whose every term underflows relative to the shifts is poisoned
    to NaN, which spreads to the result, and ``diagnostics["underflow"]`` is set), ``"exact"``
    (chunked logsumexp products) or ``"auto"`` (default: exp, recomputed exactly by the
    sequential scan in one ``lax.cond`` if anything underflowed; under ``vmap`` that cond becomes
    a select and both run, so batches should go through :func:`pvmc_batch`, which takes the
    decision once per batch).

    ``smoothing``: also compute backward (suffix) messages beta_t and the smoothing weights
    w_t^n ∝ exp(alpha_t[n] + beta_t[n]) and smoothed means.

    ``truncated=True``: the authors' cheaper variant, which replaces the path sum by per-t factors
    log Z-trunc = logmeanexp_n l_0 + sum_t logmeanexp_n [logmeanexp_m log f(x_t^n|x_{t-1}^m) + log g - log q]
    (previous particles weighted uniformly, not by alpha). It is NOT an unbiased estimator of p(y)
    in general; diagnostics then hold the per-t weights.

    Diagnostics: ``particles`` (T, N, dx); with smoothing: ``log_weights`` (T, N) normalised
    smoothing weights, ``smoothed_means`` (T, dx), ``ess`` (T,); ``log_alpha`` (T, N), or (1, N)
    (the last one only) on the associative likelihood-only path; ``underflow`` (bool scalar).
    """
    _validate(model, proposal, y, num_particles, method, matmul)
    if truncated:
        return _truncated(key, model, proposal, y, num_particles, smoothing, stick_the_landing)
    x, l0n, Kn = _prepare(key, model, proposal, y, num_particles, stick_the_landing)
    if y.shape[0] > 1 and method == "associative" and matmul != "exact":
        # exp-matmuls with underflow poisoned to NaN; "auto" recomputes exactly if any appeared
        # (one cond per sequence; pvmc_batch hoists it out of vmap, where it would be a select)
        fast = _messages(l0n, Kn, method, _log_matmul_poisoned, smoothing)
        bad = _poisoned(fast)
        if matmul == "auto":
            # the fallback is the sequential scan: exact (logsumexp), O(N^2 T) work and O(N T)
            # memory, where the chunked exact products would cost O(N^3 T) work and XLA would
            # reserve their buffers whether or not the branch runs
            seq = lambda: _sequential_like(l0n, Kn, smoothing)  # noqa: E731
            fast = jax.lax.cond(bad, seq, lambda: fast)
    else:
        fast = _messages(l0n, Kn, method, log_matmul_exact, smoothing)
        bad = jnp.zeros((), bool)
    return _finish(x, *fast, bad, smoothing)


def _validate(model, proposal, y, num_particles, method, matmul):
    """The argument checks of :func:`pvmc` (ValueError with the name of what is wrong)."""
    _check(model, y, num_particles)
    if method not in ("associative", "sequential"):
        raise ValueError(f"method must be 'associative' or 'sequential', got {method!r}")
    if matmul not in _MATMULS:
        raise ValueError(f"matmul must be one of {sorted(_MATMULS)}, got {matmul!r}")
    if not isinstance(proposal, AbstractParallelProposal):
        raise ValueError(
            f"pvmc needs an AbstractParallelProposal (per-t marginals), got {type(proposal).__name__}"
        )


def _prepare(key, model, proposal, y, N, stick_the_landing):
    """Particles (T, N, dx), normalised l_0 - log N (N,) and log-matrices K_t - log N (T-1, N, N)."""
    log_n = math.log(N)
    x, l0, e, ltrans = _pvmc_potentials(key, model, proposal, y, N, stick_the_landing)
    return x, l0 - log_n, ltrans + e[1:, None, :] - log_n


def _poisoned(messages):
    """Whether a poisoned exp-matmul underflowed anywhere (a NaN in the messages)."""
    return jnp.any(jnp.isnan(messages[0])) | jnp.any(jnp.isnan(messages[1]))


def _finish(x, log_alpha, log_beta, bad, smoothing):
    """``(log Z-hat, diagnostics)`` from the messages."""
    diag: dict[str, Array] = {"particles": x, "underflow": bad, "log_alpha": log_alpha}
    if smoothing:
        lw = jax.vmap(normalize_log_weights)(log_alpha + log_beta)
        diag.update(_weights_diag(lw, x))
    return jax.nn.logsumexp(log_alpha[-1]), diag


def _truncated(key, model, proposal, y, N, smoothing, stick_the_landing):
    """The truncated variant (per-t logmeanexp over previous particles; see :func:`pvmc`)."""
    x, l0, e, ltrans = _pvmc_potentials(key, model, proposal, y, N, stick_the_landing)
    per_t = logmeanexp(ltrans, axis=1) + e[1:]  # (T-1, N): mean over previous particles m
    logw = jnp.concatenate([l0[None], per_t])
    diag: dict[str, Array] = {"particles": x, "underflow": jnp.zeros((), bool)}
    if smoothing:
        diag.update(_weights_diag(jax.vmap(normalize_log_weights)(logw), x))
    return jnp.sum(logmeanexp(logw, axis=1)), diag


def pvmc_batch(
    key: Array,
    model: AbstractSSM,
    proposal: AbstractParallelProposal,
    ys: Float[Array, "B T dy"],
    num_particles: int,
    *,
    method: Literal["associative", "sequential"] = "associative",
    truncated: bool = False,
    smoothing: bool = True,
    matmul: Literal["auto", "exp", "exact"] = "auto",
    stick_the_landing: bool = False,
) -> tuple[Float[Array, " B"], dict[str, Array]]:
    """:func:`pvmc` on each sequence of ``ys`` (one key per sequence, split from ``key``), with the
    ``matmul="auto"`` fallback taken once for the whole batch, outside ``vmap``.

    Inside ``vmap`` a per-sequence ``lax.cond`` becomes a select, so the fallback would run on
    every batch. Here the potentials and the poisoned exp-matmul messages are computed for the
    batch; only if some sequence underflowed does one ``lax.cond`` (at batch level: a real
    branch) recompute the messages of the whole batch exactly, by the sequential scan, from the
    same potentials. Values equal those of per-sequence :func:`pvmc` with the same keys.
    """
    if ys.ndim != 3:
        raise ValueError(f"ys must be (B, T, dy); got shape {tuple(ys.shape)}")
    _validate(model, proposal, ys[0], num_particles, method, matmul)
    keys = jax.random.split(key, ys.shape[0])
    opts = dict(method=method, truncated=truncated, smoothing=smoothing,
                stick_the_landing=stick_the_landing)  # fmt: skip
    if matmul != "auto" or method != "associative" or truncated or ys.shape[1] == 1:
        # no exp-matmul on this path, or the caller chose one: nothing to hoist
        one = lambda k, y: pvmc(k, model, proposal, y, num_particles, matmul=matmul, **opts)  # noqa: E731
        return jax.vmap(one)(keys, ys)
    prep = lambda k, y: _prepare(k, model, proposal, y, num_particles, stick_the_landing)  # noqa: E731
    x, l0n, Kn = jax.vmap(prep)(keys, ys)
    fast = jax.vmap(lambda a, K: _messages(a, K, method, _log_matmul_poisoned, smoothing))(l0n, Kn)
    bad = jax.vmap(_poisoned)(fast)
    seq = lambda: jax.vmap(lambda a, K: _sequential_like(a, K, smoothing))(l0n, Kn)  # noqa: E731
    messages = jax.lax.cond(jnp.any(bad), seq, lambda: fast)
    return jax.vmap(lambda xx, la, lb, bb: _finish(xx, la, lb, bb, smoothing))(x, *messages, bad)


def _sequential_like(l0n, Kn, smoothing):
    """The sequential path's messages, shaped like the associative path's (the exact fallback)."""
    log_alpha, log_beta = _messages(l0n, Kn, "sequential", None, smoothing)
    return (log_alpha, log_beta) if smoothing else (log_alpha[-1:], log_beta)


def _messages(l0n, Kn, method, mm, smoothing):
    """Forward messages log_alpha (T, N), or only the last one (1, N) on the associative
    likelihood-only path (a reduction, not a prefix scan), and backward messages log_beta (T, N)
    (zeros (1, N) when not smoothing). ``mm``: the log-semiring matmul of the associative path."""
    if Kn.shape[0] == 0:
        return l0n[None], jnp.zeros_like(l0n)[None]
    if method == "sequential":

        def fwd(alpha, K):
            alpha = jax.nn.logsumexp(alpha[:, None] + K, axis=0)
            return alpha, alpha

        _, alphas = jax.lax.scan(fwd, l0n, Kn)
        log_alpha = jnp.concatenate([l0n[None], alphas])
        if not smoothing:
            return log_alpha, jnp.zeros_like(l0n)[None]

        def bwd(beta, K):
            beta = jax.nn.logsumexp(K + beta[None, :], axis=1)
            return beta, beta

        _, betas = jax.lax.scan(bwd, jnp.zeros_like(l0n), Kn, reverse=True)
        return log_alpha, jnp.concatenate([betas, jnp.zeros_like(l0n)[None]])
    if not smoothing:
        total = log_matprod(mm, Kn)
        return jax.nn.logsumexp(l0n[:, None] + total, axis=0)[None], jnp.zeros_like(l0n)[None]
    P = jax.lax.associative_scan(mm, Kn)  # P[t-1] = K_1 (x) ... (x) K_t
    log_alpha = jnp.concatenate([l0n[None], jax.nn.logsumexp(l0n[None, :, None] + P, axis=1)])
    # reverse scan: result[j] = K_{j+1} (x) ... (x) K_{T-1}  (fn(later, earlier))
    S = jax.lax.associative_scan(lambda u, v: mm(v, u), Kn, reverse=True)
    log_beta = jnp.concatenate([jax.nn.logsumexp(S, axis=2), jnp.zeros_like(l0n)[None]])
    return log_alpha, log_beta


def _weights_diag(lw, x):
    """Smoothing diagnostics of normalized per-t log weights ``lw`` (T, N)."""
    return {
        "log_weights": lw,
        "smoothed_means": jnp.einsum("tn,tnd->td", jnp.exp(lw), x),
        "ess": jax.vmap(_ess)(lw),
    }
