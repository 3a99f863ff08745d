"""Induction-head task: recall the token that followed an earlier trigger.

``induction_head_batch`` draws token sequences with a trigger token 0 at a random position
followed by the answer token, and the trigger again at the last position; the label is the
answer. A model that solved the task predicts the label from the last position's output; chance
is ``1 / (vocab - 1)``.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from jaxtyping import Array, Int, PRNGKeyArray

__all__ = ["induction_head_batch"]


def induction_head_batch(
    key: PRNGKeyArray, batch: int, length: int, vocab: int
) -> tuple[Int[Array, "batch length"], Int[Array, " batch"]]:
    """Induction-head sequences: tokens 1..vocab-1 uniformly, a trigger token 0 at a random
    position p < length - 2 followed by the answer token, and the trigger again at the last
    position; the label is the token that followed the first trigger.

    Returns ``(tokens (batch, length) int32, labels (batch,) int32)``.
    """
    k1, k2 = jax.random.split(key)
    tokens = jax.random.randint(k1, (batch, length), 1, vocab)
    pos = jax.random.randint(k2, (batch,), 0, length - 2)
    rows = jnp.arange(batch)
    tokens = tokens.at[rows, pos].set(0)
    tokens = tokens.at[:, length - 1].set(0)
    labels = tokens[rows, pos + 1]
    return tokens.astype(jnp.int32), labels.astype(jnp.int32)
