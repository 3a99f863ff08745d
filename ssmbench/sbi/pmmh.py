"""Particle marginal Metropolis-Hastings (Andrieu, Doucet & Holenstein 2010): PMMH.

A random-walk Metropolis chain on theta whose likelihood is the particle estimate
``log p_hat(y | theta) = smc(key, task.model(theta), BootstrapProposal(), y, N)`` from
:func:`ssmbench.prob.smc` (unbiased in p, so the chain targets the exact posterior). The
estimate at the current state lives in the chain state (:class:`PMMHState`) and is never
recomputed: a rejected step keeps it bit for bit (the pseudo-marginal property; recomputing it
would give a different, biased chain). The steps are one ``lax.scan`` over :func:`pmmh_step`.

Budget: every likelihood estimate simulates ``N x T`` particle time steps, so a run of
``num_steps`` costs ``N x T x (num_steps + 1)`` simulated time steps (the start included).
(The authors' own PMMH particle filter drops its log-weight shift, a bias; it is not copied.)
"""

from __future__ import annotations

from typing import NamedTuple

import equinox as eqx
import jax
import jax.numpy as jnp
from jaxtyping import Array, Bool, Float

from ssmbench.prob import BootstrapProposal, smc

from ._checks import check_series
from .mcmc import check_start
from .tasks import AbstractSBITask

__all__ = ["PMMHState", "PMMHResult", "pmmh", "pmmh_step", "particle_log_lik"]


class PMMHState(NamedTuple):
    """The chain state: ``theta``, its stored likelihood estimate and its log prior."""

    theta: Float[Array, " p"]
    log_lik: Float[Array, ""]
    log_prior: Float[Array, ""]


class PMMHResult(NamedTuple):
    """``samples (n, p)``, the stored ``log_lik (n,)``, ``accepted (n,)``, the acceptance rate
    and ``sim_steps`` (simulated time steps, ``N x T x (n + 1)``)."""

    samples: Float[Array, "n p"]
    log_lik: Float[Array, " n"]
    accepted: Bool[Array, " n"]
    acceptance_rate: Float[Array, ""]
    sim_steps: int


def particle_log_lik(
    key: Array, task: AbstractSBITask, theta: Float[Array, " p"], y: Float[Array, "T dy"], N: int
) -> Float[Array, ""]:
    """The bootstrap particle filter's estimate of log p(y | theta) with ``N`` particles."""
    return smc(key, task.model(theta), BootstrapProposal(), y, N)[0]


def pmmh_step(
    key: Array,
    state: PMMHState,
    task: AbstractSBITask,
    y: Float[Array, "T dy"],
    num_particles: int,
    sigma: Float[Array, " p"],
) -> tuple[PMMHState, Bool[Array, ""]]:
    """One PMMH step: propose ``theta + sigma * N(0, I)``, estimate its likelihood afresh, accept
    with probability ``min(1, p_hat(y|theta') p(theta') / (p_hat(y|theta) p(theta)))``. The
    current state's estimate is reused, not recomputed. Returns ``(state, accepted)``."""
    k_prop, k_pf, k_acc = jax.random.split(key, 3)
    theta = state.theta + sigma * jax.random.normal(k_prop, state.theta.shape, state.theta.dtype)
    log_prior = task.prior_log_prob(theta)
    # a proposal outside the prior's support is rejected without running the filter's value
    log_lik = jnp.where(
        jnp.isfinite(log_prior), particle_log_lik(k_pf, task, theta, y, num_particles), -jnp.inf
    )
    log_ratio = log_lik + log_prior - state.log_lik - state.log_prior
    u = jax.random.uniform(k_acc, (), state.theta.dtype)
    accept = jnp.isfinite(log_lik) & (jnp.log(u) < log_ratio)
    new = PMMHState(theta, log_lik, log_prior)
    return jax.tree.map(lambda a, b: jnp.where(accept, a, b), new, state), accept


def pmmh(
    key: Array,
    task: AbstractSBITask,
    y: Float[Array, "T dy"],
    *,
    init: Float[Array, " p"],
    num_steps: int = 2000,
    num_particles: int = 100,
    sigma: float | Float[Array, " p"] = 0.1,
    num_burnin: int = 0,
) -> PMMHResult:
    """PMMH from ``init``: ``num_burnin`` discarded then ``num_steps`` kept steps (one scan)."""
    check_series(y, obs_dim=task.obs_dim)
    task.check_theta(init, "init")
    for name, v, lo in [("num_steps", num_steps, 1), ("num_particles", num_particles, 1),
                        ("num_burnin", num_burnin, 0)]:  # fmt: skip
        if isinstance(v, bool) or not isinstance(v, int) or v < lo:
            raise ValueError(f"{name} must be an integer >= {lo}, got {v!r}")
    check_start(task.prior_log_prob, init, "init")
    scale = jnp.broadcast_to(jnp.asarray(sigma, init.dtype), init.shape)
    if not bool(jnp.all(scale > 0)):
        raise ValueError(f"sigma must be positive, got {sigma}")
    k0, k_run = jax.random.split(key)
    total = num_steps + num_burnin
    log_lik0 = eqx.filter_jit(particle_log_lik)(k0, task, init, y, num_particles)
    if not bool(jnp.isfinite(log_lik0)):
        raise ValueError("init: the particle estimate of log p(y | init) is not finite")
    state = PMMHState(init, log_lik0, task.prior_log_prob(init))
    res = _run(k_run, task, y, state, scale, num_particles, total, num_burnin)
    return PMMHResult(*res, sim_steps=num_particles * y.shape[0] * (total + 1))


def _run(key, task, y, state, scale, N, total, burn):
    """The jitted chain of :func:`pmmh`."""

    @jax.jit
    def run(key, y, state, scale):
        def step(state, k):
            state, acc = pmmh_step(k, state, task, y, N, scale)
            return state, (state.theta, state.log_lik, acc)

        _, (th, ll, acc) = jax.lax.scan(step, state, jax.random.split(key, total))
        return th[burn:], ll[burn:], acc[burn:], jnp.mean(acc[burn:].astype(th.dtype))

    return run(key, y, state, scale)
