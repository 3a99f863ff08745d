"""Layers defined outside the package, for the bring-your-own-model tests (issue #25)."""

from __future__ import annotations

from typing import final

import equinox as eqx
import jax
import jax.numpy as jnp
from jaxtyping import Array, Float

from ssmbench.models import AbstractSequenceLayer


@final
class EMA(AbstractSequenceLayer):
    """A per-channel exponential moving average with a learnable decay and output gain:
    ``h_t = a * h_{t-1} + (1 - a) * x_t``, ``y_t = g * h_t``, ``a = sigmoid(logit_a)``."""

    d_model: int = eqx.field(static=True)
    logit_a: Float[Array, " d"]
    gain: Float[Array, " d"]

    def __init__(self, d_model: int, *, key, init_decay: float = 0.9):
        self.d_model = d_model
        a = jnp.full((d_model,), init_decay)
        self.logit_a = jnp.log(a) - jnp.log1p(-a) + 0.1 * jax.random.normal(key, (d_model,))
        self.gain = jnp.ones((d_model,))

    def __call__(self, x: Float[Array, "L d"]) -> Float[Array, "L d"]:
        a = jax.nn.sigmoid(self.logit_a)

        def step(h, xt):
            h = a * h + (1 - a) * xt
            return h, h

        _, hs = jax.lax.scan(step, jnp.zeros((self.d_model,), x.dtype), x)
        return (self.gain[None, :] * hs).astype(x.dtype)

    def reference(self, x):
        """The obvious loop (the oracle of the scan)."""
        a = jax.nn.sigmoid(self.logit_a)
        h, out = jnp.zeros((self.d_model,), x.dtype), []
        for t in range(x.shape[0]):
            h = a * h + (1 - a) * x[t]
            out.append(self.gain * h)
        return jnp.stack(out)


class NotALayer(eqx.Module):
    """A module that does not follow the protocol."""

    w: float = 1.0

    def __init__(self, d_model: int, *, key):
        self.w = 1.0
