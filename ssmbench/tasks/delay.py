"""Delay (copy-with-lag) task: the data of the zoo's learning sanity check.

``delay_task`` draws white-noise inputs and targets ``y_t = x_{t−lag}`` (zero for t < lag).
A model that predicts zeros scores ``E[y²]``; a model that learned the delay scores ≈ 0.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from jaxtyping import Array, Float, PRNGKeyArray

__all__ = ["delay_task"]


def delay_task(
    key: PRNGKeyArray, n: int, length: int, lag: int, *, dtype=jnp.float32
) -> tuple[Float[Array, "n length 1"], Float[Array, "n length 1"]]:
    """``n`` sequences of N(0, 1) inputs x (n, length, 1) and delayed targets y (same shape)."""
    if not 0 <= lag < length:
        raise ValueError(f"need 0 <= lag < length, got lag={lag}, length={length}")
    x = jax.random.normal(key, (n, length, 1), dtype)
    y = jnp.concatenate([jnp.zeros((n, lag, 1), dtype), x[:, : length - lag]], axis=1)
    return x, y
