"""SMC-ABC (population Monte Carlo ABC, Beaumont et al. 2009) with an adaptive tolerance.

Generation 0 draws ``num_particles`` thetas from the prior (weights 1/N). Generation g >= 1:

- the tolerance ``eps_g`` is the ``quantile`` of the previous generation's distances (of its
  particles with positive weight): it adapts, and it cannot grow;
- N new thetas are drawn from the previous weighted population and perturbed with a Gaussian
  kernel of covariance twice the weighted covariance (Beaumont et al.'s choice);
- each is simulated once; its importance weight against the prior is
  ``1{d < eps_g} p(theta) / sum_j w_j K(theta | theta_j)``, so the weighted population targets
  the ABC posterior ``p(theta | d(y, y_obs) < eps_g)``.

Distance: the RMS over the series, ``sqrt(mean_{t,i} (y_t,i - y^o_t,i)^2)``; a failed simulation
(NaN/inf) has distance inf and weight 0. Every generation costs exactly N simulations, and the
run stops before a generation would exceed ``max_simulations`` (a hard cap), when the effective
sample size falls below ``min_ess``, or after ``max_generations``. The host loop runs over
generations; each generation is one jitted, vmapped program.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import equinox as eqx
import jax
import jax.numpy as jnp
from jaxtyping import Array, Float

from ._checks import check_series
from .tasks import AbstractSBITask

__all__ = ["ABCResult", "smc_abc", "rms_distance"]


class ABCResult(NamedTuple):
    """``samples (N, p)`` with normalised ``weights (N,)``, ``epsilons`` (one per generation
    g >= 1), the simulations run, ``sim_steps`` (simulations x T) and ``n_sim_dropped``."""

    samples: Float[Array, "N p"]
    weights: Float[Array, " N"]
    epsilons: tuple[float, ...]
    num_simulations: int
    sim_steps: int
    n_sim_dropped: int


def rms_distance(y: Float[Array, "T dy"], y_obs: Float[Array, "T dy"]) -> Float[Array, ""]:
    """The RMS difference over the series (inf when ``y`` is not finite)."""
    d = jnp.sqrt(jnp.mean((y - y_obs) ** 2))
    return jnp.where(jnp.all(jnp.isfinite(y)), d, jnp.inf)


@eqx.filter_jit
def _initial(key, task, y_obs, N):
    """Generation 0: prior draws, their distances."""
    k_th, k_sim = jax.random.split(key)
    th = jax.vmap(task.prior_sample)(jax.random.split(k_th, N))
    ys = task.simulate_batch(k_sim, th, y_obs.shape[0])
    return th, jax.vmap(lambda y: rms_distance(y, y_obs))(ys)


@eqx.filter_jit
def _generation(key, task, y_obs, th, logw, eps):
    """One generation at tolerance ``eps`` from the population ``(th, logw)``."""
    N, p = th.shape
    k_anc, k_pert, k_sim = jax.random.split(key, 3)
    w = jnp.exp(logw - jax.nn.logsumexp(logw))
    mean = w @ th
    cov = 2.0 * ((th - mean[None, :]).T * w[None, :]) @ (th - mean[None, :])
    chol = jnp.linalg.cholesky(cov + 1e-12 * jnp.eye(p, dtype=th.dtype))
    anc = jax.random.categorical(k_anc, logw, shape=(N,))
    new = th[anc] + jax.random.normal(k_pert, (N, p), th.dtype) @ chol.T
    ys = task.simulate_batch(k_sim, new, y_obs.shape[0])
    d = jax.vmap(lambda y: rms_distance(y, y_obs))(ys)

    def log_kernel(x):
        """log sum_j w_j K(x | th_j), K = N(th_j, cov)."""
        z = jax.scipy.linalg.solve_triangular(chol, (x[None, :] - th).T, lower=True)
        lk = -0.5 * jnp.sum(z**2, axis=0) - jnp.sum(jnp.log(jnp.diagonal(chol)))
        return jax.nn.logsumexp(lk + logw - jax.nn.logsumexp(logw)) - 0.5 * p * math.log(
            2 * math.pi
        )

    log_prior = jax.vmap(task.prior_log_prob)(new)
    new_logw = jnp.where(d < eps, log_prior - jax.vmap(log_kernel)(new), -jnp.inf)
    return new, new_logw, d


def smc_abc(
    key: Array,
    task: AbstractSBITask,
    y_obs: Float[Array, "T dy"],
    *,
    num_particles: int = 500,
    quantile: float = 0.5,
    max_simulations: int = 10_000,
    max_generations: int = 20,
    min_ess: float = 10.0,
) -> ABCResult:
    """SMC-ABC on ``y_obs`` under a hard cap of ``max_simulations`` (>= ``num_particles``)."""
    check_series(y_obs, "y_obs", obs_dim=task.obs_dim)
    N = num_particles
    for name, v, lo in [("num_particles", N, 2), ("max_simulations", max_simulations, N),
                        ("max_generations", max_generations, 0)]:  # fmt: skip
        if isinstance(v, bool) or not isinstance(v, int) or v < lo:
            raise ValueError(f"{name} must be an integer >= {lo}, got {v!r}")
    if not 0.0 < quantile < 1.0:
        raise ValueError(f"quantile must be in (0, 1), got {quantile}")
    T = y_obs.shape[0]
    key, k0 = jax.random.split(key)
    th, d = _initial(k0, task, y_obs, N)
    logw = jnp.where(jnp.isfinite(d), 0.0, -jnp.inf).astype(th.dtype)
    sims, dropped, eps_list = N, int(jnp.sum(~jnp.isfinite(d))), []
    for _ in range(max_generations):
        if sims + N > max_simulations:
            break
        alive = jnp.isfinite(logw)
        eps = jnp.quantile(d[alive], quantile)
        key, k = jax.random.split(key)
        new, new_logw, new_d = _generation(k, task, y_obs, th, logw, eps)
        sims += N
        dropped += int(jnp.sum(~jnp.isfinite(new_d)))
        w = jnp.exp(new_logw - jax.nn.logsumexp(new_logw))
        ess = 1.0 / jnp.sum(w**2)
        if not bool(jnp.isfinite(ess)) or float(ess) < min_ess:
            break  # keep the previous population
        th, logw, d = new, new_logw, new_d
        eps_list.append(float(eps))
    weights = jnp.exp(logw - jax.nn.logsumexp(logw))
    return ABCResult(th, weights, tuple(eps_list), sims, sims * T, dropped)
