"""Helpers shared by the bounds: argument checks, reparameterized draws, the effective sample size."""

from __future__ import annotations

import jax
import jax.numpy as jnp
from jaxtyping import Array, Float

from .._base import AbstractSSM, check_observations
from ..gaussian import gauss_log_prob, gauss_sample

__all__ = ["sg", "check_inputs", "draw", "ess", "time_slice"]

sg = jax.lax.stop_gradient


def check_inputs(model: AbstractSSM, y: Array, num_particles: int) -> None:
    """Raise a ValueError for observations of the wrong shape or a non-positive particle count."""
    check_observations(model, y)
    if not isinstance(num_particles, int) or num_particles < 1:
        raise ValueError(f"num_particles must be a positive int, got {num_particles!r}")


def draw(key, mean, scale, stick_the_landing: bool):
    """Reparameterized draw and its log q (optionally with a detached q: 'sticking the landing')."""
    x = gauss_sample(key, mean, scale)
    if stick_the_landing:
        return x, gauss_log_prob(x, sg(mean), sg(scale))
    return x, gauss_log_prob(x, mean, scale)


def ess(logw_normalized: Float[Array, " n"]) -> Float[Array, ""]:
    """Effective sample size ``1 / sum_i W_i^2`` of normalized log weights."""
    return jnp.exp(-jax.nn.logsumexp(2.0 * logw_normalized))


def time_slice(tree, i):
    """Entry ``i`` of every leaf (the features at one time step)."""
    return jax.tree.map(lambda z: z[i], tree)
