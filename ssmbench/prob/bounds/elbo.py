"""ELBO and IWAE: K independent trajectories from the sequential proposal.

Signature and conventions: :mod:`ssmbench.prob.bounds`.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from jaxtyping import Array, Float

from .._base import AbstractProposal, AbstractSSM
from ..gaussian import logmeanexp, normalize_log_weights
from ._common import check_inputs as _check
from ._common import draw as _draw
from ._common import ess as _ess
from ._common import time_slice as _slice

__all__ = ["elbo", "iwae", "sample_trajectories"]


def _trajectory(
    key, model: AbstractSSM, proposal: AbstractProposal, y, c, a, stick_the_landing: bool
):
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
    """K = ``num_particles`` independent trajectories and their per-step log weights (K, T)."""
    c = model.context(y)
    a = proposal.features(model, y)
    keys = jax.random.split(key, num_particles)
    return jax.vmap(lambda k: _trajectory(k, model, proposal, y, c, a, stick_the_landing))(keys)


def sample_trajectories(
    key: Array, model: AbstractSSM, proposal: AbstractProposal, y: Float[Array, "T dy"], n: int
) -> Float[Array, "n T dx"]:
    """``n`` independent trajectories ``x_{0:T-1} ~ q(. | y)`` from a sequential proposal (e.g. a
    DKF/VAE posterior, for forecasting from its last state)."""
    _check(model, y, n)
    return _trajectories(key, model, proposal, y, n, False)[0]


def elbo(
    key: Array,
    model: AbstractSSM,
    proposal: AbstractProposal,
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
    model: AbstractSSM,
    proposal: AbstractProposal,
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
