"""SMC (FIVO / VSMC / AESMC): the particle filter bound, with multinomial or systematic resampling.

Signature and conventions: :mod:`ssmbench.prob.bounds`.
"""

from __future__ import annotations

import math
from typing import Literal

import jax
import jax.numpy as jnp
from jaxtyping import Array, Float, Int

from .._base import AbstractProposal, AbstractSSM
from ..gaussian import normalize_log_weights
from ._common import check_inputs as _check
from ._common import draw as _draw
from ._common import ess as _ess
from ._common import sg
from ._common import time_slice as _slice

__all__ = ["smc", "particle_filter", "multinomial_resample", "systematic_resample"]


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


def _standard_transform(key, x_prev, logW, resample):
    """Plain resampling: ancestors from ``resample``, weights reset to 1/N. Returns the resampled
    particles, their log weights, the ancestors' log probability (the score term) and the
    ancestor indices."""
    N = logW.shape[0]
    anc = resample(key, logW, N)
    return x_prev[anc], jnp.full_like(logW, -math.log(N)), jnp.sum(logW[anc])


def initial_particles(key, model, proposal, y, N, stick_the_landing):
    """The t = 0 step shared by the particle filters: the context ``c``, the proposal features
    ``a``, the vmapped reparameterised ``draw``, the key of the later steps, the particles
    ``x0`` (N, dx), the log-increment ``inc0`` and the normalised log weights ``logW0``."""
    c = model.context(y)
    a = proposal.features(model, y)
    draw = jax.vmap(lambda k, m, s: _draw(k, m, s, stick_the_landing))
    k0, ks = jax.random.split(key)
    m0, s0 = proposal.initial(model, _slice(a, 0))
    bcast = jax.tree.map(lambda z: jnp.broadcast_to(z, (N,) + z.shape), (m0, s0))
    x0, lq0 = draw(jax.random.split(k0, N), *bcast)
    lw0 = (
        jax.vmap(model.initial_log_prob, (0, None))(x0, c[0])
        + jax.vmap(model.emission_log_prob, (0, None, None))(x0, y[0], c[0])
        - lq0
    )
    inc0 = jax.nn.logsumexp(lw0) - math.log(N)
    return c, a, draw, ks, x0, inc0, lw0 - jax.nn.logsumexp(lw0)


def particle_filter(
    key: Array,
    model: AbstractSSM,
    proposal: AbstractProposal,
    y: Float[Array, "T dy"],
    num_particles: int,
    transform,
    *,
    ess_threshold: float,
    stick_the_landing: bool = False,
):
    """The sequential importance resampling loop shared by :func:`smc` and the differentiable
    particle filters (:mod:`ssmbench.prob.bounds.dpf`).

    ``transform(key, x_prev, logW) -> (x_resampled, logW_resampled, log P(ancestors))`` is the
    resampling step, applied when ESS(W_{t-1}) < ``ess_threshold`` * N; ``logW_resampled`` may be
    any log weights whose exponentials sum to 1 in expectation (the estimator stays unbiased).
    Returns ``(increments (T,), ess (T,), resampled (T,), filtered_means (T, dx), log P (T-1,))``.
    """
    N = num_particles
    c, a, draw, ks, x0, inc0, logW0 = initial_particles(
        key, model, proposal, y, N, stick_the_landing
    )

    def step(carry, inp):
        x_prev, logW = carry
        k, at, yt, ct = inp
        k_res, k_prop = jax.random.split(k)
        do_res = _ess(logW) < ess_threshold * N
        x_res, logW_res, lpa = transform(k_res, x_prev, logW)
        x_anc = jnp.where(do_res, x_res, x_prev)
        logW_prev = jnp.where(do_res, logW_res, logW)
        lpa = jnp.where(do_res, lpa, 0.0)
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

    xs_in = (jax.random.split(ks, y.shape[0] - 1), jax.tree.map(lambda z: z[1:], a), y[1:], c[1:])
    _, (incs, ess, res, fmeans, lpas) = jax.lax.scan(step, (x0, logW0), xs_in)
    return (
        jnp.concatenate([inc0[None], incs]),
        jnp.concatenate([_ess(logW0)[None], ess]),
        jnp.concatenate([jnp.zeros((1,), bool), res]),
        jnp.concatenate([(jnp.exp(logW0) @ x0)[None], fmeans]),
        lpas,
    )


def smc(
    key: Array,
    model: AbstractSSM,
    proposal: AbstractProposal,
    y: Float[Array, "T dy"],
    num_particles: int,
    *,
    resampling: Literal["multinomial", "systematic"] = "systematic",
    ess_threshold: float = 0.5,
    score_function: bool = False,
    stick_the_landing: bool = False,
    ancestor_gradient: bool = True,
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

    ``ancestor_gradient=False`` stops the pathwise gradient at every resampling event (the
    resampled particles enter the next step as constants); the value is unchanged. With a learned
    proposal whose mean is expansive in x_{t-1}, the default pathwise gradient through resampled
    chains can grow exponentially in T (docs/trainers.md, FIVO on SV); this cuts the chains.

    Diagnostics: ``ess`` (T,) ESS after weighting at each t, ``resampled`` (T,) whether ancestors were
    resampled before step t, ``filtered_means`` (T, dx), ``log_Z_increments`` (T,).
    """
    _check(model, y, num_particles)
    if resampling not in _RESAMPLERS:
        raise ValueError(f"resampling must be one of {sorted(_RESAMPLERS)}, got {resampling!r}")
    if score_function and resampling != "multinomial":
        raise ValueError("score_function=True needs resampling='multinomial'")
    resample = _RESAMPLERS[resampling]

    def transform(k, x, lw):
        x_res, lw_res, lpa = _standard_transform(k, x, lw, resample)
        return (x_res if ancestor_gradient else sg(x_res)), lw_res, lpa

    incs, ess, res, fmeans, lpas = particle_filter(
        key, model, proposal, y, num_particles, transform,
        ess_threshold=ess_threshold, stick_the_landing=stick_the_landing,
    )  # fmt: skip
    log_Z = jnp.sum(incs)
    if score_function:
        future = jnp.cumsum(incs[::-1])[::-1][1:]  # sum_{s >= t} inc_s for t = 1..T-1
        log_Z = log_Z + jnp.sum(sg(future) * (lpas - sg(lpas)))
    diag = {"ess": ess, "resampled": res, "filtered_means": fmeans, "log_Z_increments": incs}
    return log_Z, diag
