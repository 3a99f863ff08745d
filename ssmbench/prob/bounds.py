r"""Monte Carlo lower bounds on log p(y): ELBO, IWAE, SMC (FIVO/VSMC/AESMC) and PVMC.

Every bound has the signature

    bound(key, model, proposal, y, num_particles, **options) -> (log_Z, diagnostics)

``log_Z`` is a scalar; ``diagnostics`` is a dict of arrays. Everything is differentiable in the
(array) parameters of ``model`` and ``proposal`` through reparameterised Gaussian draws (use
``eqx.filter_grad`` / ``eqx.filter_value_and_grad`` on a loss that calls the bound). IWAE, SMC and
PVMC return the log of an unbiased estimator Z-hat of p(y), so E[log Z-hat] <= log p(y) (Jensen);
the ELBO is the average of K single-sample log weights. All weights are kept in log space.

Sequences have T points, t = 0..T-1 (the PVMC paper's t = 0..T, i.e. its T + 1 = our T).
See docs/bounds.md for the equations, the normalisation of PVMC and the stopped-gradient bias of SMC.
"""

from __future__ import annotations

import math
from typing import Literal

import jax
import jax.numpy as jnp
from jaxtyping import Array, Float, Int

from .gaussian import gauss_log_prob, gauss_sample, logmeanexp, normalize_log_weights, safe_log
from .models import SSM, check_observations
from .proposals import ParallelProposal, Proposal

__all__ = [
    "elbo",
    "iwae",
    "smc",
    "pvmc",
    "multinomial_resample",
    "systematic_resample",
    "log_matmul",
    "log_matmul_exact",
    "log_matmul_auto",
    "BOUNDS",
]

sg = jax.lax.stop_gradient


def _check(model: SSM, y: Array, num_particles: int) -> None:
    check_observations(model, y)
    if not isinstance(num_particles, int) or num_particles < 1:
        raise ValueError(f"num_particles must be a positive int, got {num_particles!r}")


def _draw(key, mean, scale, stick_the_landing: bool):
    """Reparameterised draw and its log q (optionally with a detached q: 'sticking the landing')."""
    x = gauss_sample(key, mean, scale)
    if stick_the_landing:
        return x, gauss_log_prob(x, sg(mean), sg(scale))
    return x, gauss_log_prob(x, mean, scale)


def _ess(logw_normalized: Float[Array, " n"]) -> Float[Array, ""]:
    return jnp.exp(-jax.nn.logsumexp(2.0 * logw_normalized))


def _slice(tree, i):
    return jax.tree.map(lambda z: z[i], tree)


# -------------------------------------------------------------------------------------------------
# ELBO and IWAE: K independent trajectories from the sequential proposal
# -------------------------------------------------------------------------------------------------
def _trajectory(key, model: SSM, proposal: Proposal, y, c, a, stick_the_landing: bool):
    """One trajectory x_{0:T-1} ~ q and its per-step log weights (T,)."""
    k0, ks = jax.random.split(key)
    x0, lq0 = _draw(k0, *proposal.initial(model, _slice(a, 0)), stick_the_landing)
    lw0 = model.initial_log_prob(x0, c[0]) + model.emission_log_prob(x0, y[0], c[0]) - lq0

    def step(x_prev, inp):
        k, at, yt, ct = inp
        x, lq = _draw(k, *proposal.step(model, x_prev, at), stick_the_landing)
        lw = model.transition_log_prob(x_prev, x, ct) + model.emission_log_prob(x, yt, ct) - lq
        return x, (x, lw)

    rest = jax.tree.map(lambda z: z[1:], a)
    T = y.shape[0]
    _, (xs, lws) = jax.lax.scan(step, x0, (jax.random.split(ks, T - 1), rest, y[1:], c[1:]))
    return jnp.concatenate([x0[None], xs]), jnp.concatenate([lw0[None], lws])


def _trajectories(key, model, proposal, y, num_particles, stick_the_landing):
    c = model.context(y)
    a = proposal.features(model, y)
    keys = jax.random.split(key, num_particles)
    return jax.vmap(lambda k: _trajectory(k, model, proposal, y, c, a, stick_the_landing))(keys)


def elbo(
    key: Array,
    model: SSM,
    proposal: Proposal,
    y: Float[Array, "T dy"],
    num_particles: int = 1,
    *,
    stick_the_landing: bool = False,
) -> tuple[Float[Array, ""], dict[str, Array]]:
    """ELBO: (1/K) sum_k log w_k, w_k = p(x^k, y) / q(x^k | y), K = ``num_particles`` trajectories.

    Diagnostics: ``log_weights`` (K,) trajectory log weights.
    """
    _check(model, y, num_particles)
    _, lw = _trajectories(key, model, proposal, y, num_particles, stick_the_landing)
    logw = jnp.sum(lw, axis=1)
    return jnp.mean(logw), {"log_weights": logw}


def iwae(
    key: Array,
    model: SSM,
    proposal: Proposal,
    y: Float[Array, "T dy"],
    num_particles: int,
    *,
    stick_the_landing: bool = False,
) -> tuple[Float[Array, ""], dict[str, Array]]:
    """IWAE: log (1/K) sum_k w_k over K independent trajectories (log of an unbiased Z-hat).

    Diagnostics: ``log_weights`` (K,), ``ess`` (scalar), ``smoothed_means`` (T, dx) (the
    self-normalised importance-sampling estimate of E[x_t | y]).
    """
    _check(model, y, num_particles)
    xs, lw = _trajectories(key, model, proposal, y, num_particles, stick_the_landing)
    logw = jnp.sum(lw, axis=1)
    W = jnp.exp(normalize_log_weights(logw))
    diag = {
        "log_weights": logw,
        "ess": _ess(normalize_log_weights(logw)),
        "smoothed_means": jnp.einsum("k,ktd->td", W, xs),
    }
    return logmeanexp(logw), diag


# -------------------------------------------------------------------------------------------------
# SMC
# -------------------------------------------------------------------------------------------------
def multinomial_resample(
    key: Array, log_weights: Float[Array, " n"], num: int
) -> Int[Array, " num"]:
    """Ancestor indices drawn i.i.d. from Categorical(softmax(log_weights))."""
    return jax.random.categorical(key, sg(log_weights), shape=(num,))


def systematic_resample(
    key: Array, log_weights: Float[Array, " n"], num: int
) -> Int[Array, " num"]:
    """Systematic resampling: one uniform U, points (U + i)/num, inverted through the weight CDF."""
    w = jnp.exp(normalize_log_weights(sg(log_weights)))
    cdf = jnp.cumsum(w)
    cdf = cdf / cdf[-1]
    u = (jax.random.uniform(key, (), dtype=w.dtype) + jnp.arange(num, dtype=w.dtype)) / num
    return jnp.clip(jnp.searchsorted(cdf, u, side="right"), 0, log_weights.shape[0] - 1)


_RESAMPLERS = {"multinomial": multinomial_resample, "systematic": systematic_resample}


def smc(
    key: Array,
    model: SSM,
    proposal: Proposal,
    y: Float[Array, "T dy"],
    num_particles: int,
    *,
    resampling: Literal["multinomial", "systematic"] = "systematic",
    ess_threshold: float = 0.5,
    score_function: bool = False,
    stick_the_landing: bool = False,
) -> tuple[Float[Array, ""], dict[str, Array]]:
    r"""Particle filter bound (FIVO / VSMC / AESMC).

    At each t >= 1: if ESS(W_{t-1}) < ``ess_threshold`` * N, resample ancestors (and reset the
    weights to 1/N); propagate x_t^i ~ q(. | x_{t-1}^{a_i}); weight alpha_t^i = f g / q;
    Z-hat *= sum_i W_{t-1}^i alpha_t^i. This is unbiased for p(y) for any threshold
    (``ess_threshold=0``: never resample = IWAE; ``1.0``: resample every step).

    Gradients: ancestor indices are discrete, so autodiff differentiates only through the
    reparameterised particles and the weights (the "stop-gradient through resampling" of FIVO's code).
    This drops the score-function term sum_t grad log P(a_t | W_{t-1}) * log Z-hat and is biased.
    ``score_function=True`` adds it as a surrogate (value unchanged) with the causal reward
    sum_{s>=t} log(increment_s) (multinomial resampling only: the law of systematic ancestors is not a
    product of categoricals).

    Diagnostics: ``ess`` (T,) ESS after weighting at each t, ``resampled`` (T,) whether ancestors were
    resampled before step t, ``filtered_means`` (T, dx), ``log_Z_increments`` (T,).
    """
    _check(model, y, num_particles)
    if resampling not in _RESAMPLERS:
        raise ValueError(f"resampling must be one of {sorted(_RESAMPLERS)}, got {resampling!r}")
    if score_function and resampling != "multinomial":
        raise ValueError("score_function=True needs resampling='multinomial'")
    resample = _RESAMPLERS[resampling]
    N = num_particles
    T = y.shape[0]
    log_n = math.log(N)
    c = model.context(y)
    a = proposal.features(model, y)
    draw = jax.vmap(lambda k, m, s: _draw(k, m, s, stick_the_landing))

    k0, ks = jax.random.split(key)
    m0, s0 = proposal.initial(model, _slice(a, 0))
    x0, lq0 = draw(jax.random.split(k0, N), *jax.tree.map(lambda z: jnp.broadcast_to(z, (N,) + z.shape), (m0, s0)))  # fmt: skip
    lw0 = (
        jax.vmap(model.initial_log_prob, (0, None))(x0, c[0])
        + jax.vmap(model.emission_log_prob, (0, None, None))(x0, y[0], c[0])
        - lq0
    )
    inc0 = jax.nn.logsumexp(lw0) - log_n
    logW0 = lw0 - jax.nn.logsumexp(lw0)

    def step(carry, inp):
        x_prev, logW = carry
        k, at, yt, ct = inp
        k_res, k_prop = jax.random.split(k)
        do_res = _ess(logW) < ess_threshold * N
        anc = jnp.where(do_res, resample(k_res, logW, N), jnp.arange(N))
        lpa = jnp.where(do_res, jnp.sum(logW[anc]), 0.0)  # log P(ancestors | W), score term
        x_anc = x_prev[anc]
        logW_prev = jnp.where(do_res, jnp.full_like(logW, -log_n), logW)
        means, scales = jax.vmap(lambda xp: proposal.step(model, xp, at))(x_anc)
        x, lq = draw(jax.random.split(k_prop, N), means, scales)
        incr = (
            jax.vmap(model.transition_log_prob, (0, 0, None))(x_anc, x, ct)
            + jax.vmap(model.emission_log_prob, (0, None, None))(x, yt, ct)
            - lq
        )
        inc = jax.nn.logsumexp(logW_prev + incr)
        logW_new = logW_prev + incr - inc
        out = (inc, _ess(logW_new), do_res, jnp.exp(logW_new) @ x, lpa)
        return (x, logW_new), out

    xs_in = (jax.random.split(ks, T - 1), jax.tree.map(lambda z: z[1:], a), y[1:], c[1:])
    _, (incs, ess, res, fmeans, lpas) = jax.lax.scan(step, (x0, logW0), xs_in)
    incs = jnp.concatenate([inc0[None], incs])
    log_Z = jnp.sum(incs)
    if score_function:
        future = jnp.cumsum(incs[::-1])[::-1][1:]  # sum_{s >= t} inc_s for t = 1..T-1
        log_Z = log_Z + jnp.sum(sg(future) * (lpas - sg(lpas)))
    diag = {
        "ess": jnp.concatenate([_ess(logW0)[None], ess]),
        "resampled": jnp.concatenate([jnp.zeros((1,), bool), res]),
        "filtered_means": jnp.concatenate([(jnp.exp(logW0) @ x0)[None], fmeans]),
        "log_Z_increments": incs,
    }
    return log_Z, diag


# -------------------------------------------------------------------------------------------------
# PVMC
# -------------------------------------------------------------------------------------------------
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
        return jax.vmap(lambda m_, s_: jax.vmap(lambda xn: gauss_log_prob(xn, m_, s_))(x_now))(mu, sc)  # fmt: skip

    ltrans = jax.vmap(trans_t)(x[:-1], x[1:], c[1:])  # (T-1, N, N)
    return x, l0, e, ltrans


def pvmc(
    key: Array,
    model: SSM,
    proposal: ParallelProposal,
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
    if not isinstance(proposal, ParallelProposal):
        raise ValueError(
            f"pvmc needs a ParallelProposal (per-t marginals), got {type(proposal).__name__}"
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
    return {
        "log_weights": lw,
        "smoothed_means": jnp.einsum("tn,tnd->td", jnp.exp(lw), x),
        "ess": jax.vmap(_ess)(lw),
    }


BOUNDS = {"elbo": elbo, "iwae": iwae, "smc": smc, "pvmc": pvmc}
