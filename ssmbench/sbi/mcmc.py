"""Thin wrappers over blackjax samplers for a log-density of ``theta`` (shape ``(p,)``).

- :func:`random_walk_metropolis`: ``blackjax.additive_step_random_walk`` with a Gaussian step of
  scale ``sigma`` (T-SNL's posterior sampler: sigma = 0.1, 1000 steps);
- :func:`nuts`: ``blackjax.nuts`` after ``blackjax.window_adaptation`` (step size and a diagonal
  mass matrix), the reference sampler on exact likelihoods;
- :func:`random_walk_metropolis_reference`: the same random-walk chain as a plain Python loop in
  numpy (the oracle of the blackjax path on Gaussian targets).

Both blackjax samplers run their steps in one ``lax.scan`` and return an :class:`MCMCResult`
(the samples after warm-up, the log-densities there and the mean acceptance rate). The start
must have a finite log-density (a ValueError otherwise, before any sampling). blackjax's window
adaptation mixes bool and int arrays, so it runs under ``jax.numpy_dtype_promotion("standard")``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import blackjax
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Float

__all__ = ["MCMCResult", "random_walk_metropolis", "nuts", "random_walk_metropolis_reference"]

LogDensity = Callable[[Array], Array]


class MCMCResult(NamedTuple):
    """``samples (n, p)``, their ``log_density (n,)`` and the mean ``acceptance_rate``."""

    samples: Float[Array, "n p"]
    log_density: Float[Array, " n"]
    acceptance_rate: Float[Array, ""]


def check_start(log_density: LogDensity, init: object, name: str = "init") -> Array:
    """Raise a ValueError unless ``init`` is a 1-D floating array with a finite log-density;
    return it as an array."""
    if getattr(init, "ndim", None) != 1 or not jnp.issubdtype(init.dtype, jnp.floating):  # type: ignore[attr-defined]
        raise ValueError(f"{name} must be a floating array of shape (p,), got {jnp.shape(init)}")
    value = log_density(init)  # type: ignore[arg-type]
    if not bool(jnp.isfinite(value)):
        raise ValueError(f"{name} has log-density {float(value)}: the chain must start where the "
                         "target density (prior included) is positive")  # fmt: skip
    return init  # type: ignore[return-value]


def _check_steps(num_steps: int, name: str = "num_steps") -> None:
    """Raise a ValueError unless ``num_steps`` is a positive integer."""
    if isinstance(num_steps, bool) or not isinstance(num_steps, (int, np.integer)) or num_steps < 1:
        raise ValueError(f"{name} must be a positive integer, got {num_steps!r}")


def random_walk_metropolis(
    key: Array,
    log_density: LogDensity,
    init: Float[Array, " p"],
    *,
    num_steps: int = 1000,
    sigma: float | Float[Array, " p"] = 0.1,
    num_burnin: int = 0,
) -> MCMCResult:
    """Random-walk Metropolis with N(0, sigma^2 I) steps: ``num_burnin`` discarded steps, then
    ``num_steps`` kept ones (one ``lax.scan``)."""
    init = check_start(log_density, init)
    _check_steps(num_steps)
    if isinstance(num_burnin, bool) or not isinstance(num_burnin, int) or num_burnin < 0:
        raise ValueError(f"num_burnin must be a non-negative integer, got {num_burnin!r}")
    scale = jnp.broadcast_to(jnp.asarray(sigma, init.dtype), init.shape)
    if not bool(jnp.all(scale > 0)):
        raise ValueError(f"sigma must be positive, got {sigma}")
    return _rwm(key, log_density, init, scale, num_steps + num_burnin, num_burnin)


def _rwm(key, log_density, init, scale, total, burn) -> MCMCResult:
    """The scan of :func:`random_walk_metropolis` (jitted with the log-density closed over)."""
    kernel = blackjax.additive_step_random_walk(
        log_density, blackjax.mcmc.random_walk.normal(scale)
    )

    @jax.jit
    def run(key, init):
        def step(state, k):
            state, info = kernel.step(k, state)
            return state, (state.position, state.logdensity, info.is_accepted)

        _, (xs, lds, acc) = jax.lax.scan(step, kernel.init(init), jax.random.split(key, total))
        return MCMCResult(xs[burn:], lds[burn:], jnp.mean(acc.astype(init.dtype)))

    return run(key, init)


def nuts(
    key: Array,
    log_density: LogDensity,
    init: Float[Array, " p"],
    *,
    num_steps: int = 1000,
    num_warmup: int = 500,
) -> MCMCResult:
    """NUTS after ``num_warmup`` steps of ``blackjax.window_adaptation`` (target acceptance 0.8),
    then ``num_steps`` samples (one ``lax.scan``); ``acceptance_rate`` is NUTS's mean acceptance
    probability."""
    init = check_start(log_density, init)
    _check_steps(num_steps)
    _check_steps(num_warmup, "num_warmup")
    k_warm, k_run = jax.random.split(key)
    warmup = blackjax.window_adaptation(blackjax.nuts, log_density)
    with jax.numpy_dtype_promotion("standard"):  # blackjax's schedule mixes bool and int
        (state, params), _ = warmup.run(k_warm, init, num_steps=num_warmup)
    kernel = blackjax.nuts(log_density, **params)

    @jax.jit
    def run(key, state):
        def step(state, k):
            state, info = kernel.step(k, state)
            return state, (state.position, state.logdensity, info.acceptance_rate)

        _, (xs, lds, acc) = jax.lax.scan(step, state, jax.random.split(key, num_steps))
        return MCMCResult(xs, lds, jnp.mean(acc))

    return run(k_run, state)


def random_walk_metropolis_reference(
    seed: int,
    log_density: Callable[[np.ndarray], float],
    init: np.ndarray,
    *,
    num_steps: int,
    sigma: float,
) -> MCMCResult:
    """Random-walk Metropolis as a Python loop in numpy (the oracle): propose
    ``x + sigma * N(0, I)``, accept with probability ``min(1, exp(log pi(x') - log pi(x)))``."""
    rng = np.random.default_rng(seed)
    x = np.asarray(init, np.float64)
    lp = float(log_density(x))
    xs, lps, acc = [], [], 0
    for _ in range(num_steps):
        prop = x + sigma * rng.standard_normal(x.shape)
        lp_prop = float(log_density(prop))
        if np.log(rng.uniform()) < lp_prop - lp:
            x, lp, acc = prop, lp_prop, acc + 1
        xs.append(x.copy())
        lps.append(lp)
    return MCMCResult(np.stack(xs), np.asarray(lps), np.asarray(acc / num_steps))  # type: ignore[arg-type]
