"""Layers defined outside the package, for the bring-your-own-model tests (issue #25)."""

from __future__ import annotations

from typing import final

import equinox as eqx
import jax
import jax.numpy as jnp
from jaxtyping import Array, Float

from ssmbench.models import AbstractSequenceLayer
from ssmbench.prob import AbstractMarkovSSM


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


@final
class LogVolatility(AbstractMarkovSSM):
    """A probabilistic model of one's own (bring your own model, trainers): an AR(1)
    log-volatility ``x_t = m + a (x_{t-1} - m) + s nu_t`` with ``y_t = b exp(x_t / 2) e_t``,
    written from scratch against the :class:`~ssmbench.prob.AbstractMarkovSSM` protocol
    (``a = tanh(a_raw)``, ``s = exp(log_s)``, ``b = exp(log_b)``; stationary start)."""

    m: Float[Array, " d"]
    a_raw: Float[Array, " d"]
    log_s: Float[Array, " d"]
    log_b: Float[Array, " d"]

    def __init__(self, m, a, s, b, dim: int = 1, dtype=jnp.float32):
        full = lambda v: jnp.full((dim,), v, dtype)  # noqa: E731
        self.m, self.a_raw = full(m), jnp.arctanh(full(a))
        self.log_s, self.log_b = jnp.log(full(s)), jnp.log(full(b))

    @property
    def state_dim(self) -> int:
        return self.m.shape[0]

    @property
    def obs_dim(self) -> int:
        return self.m.shape[0]

    def initial_dist(self, c):
        a = jnp.tanh(self.a_raw)
        return self.m, jnp.exp(self.log_s) / jnp.sqrt(1 - a**2)

    def transition_dist(self, x_prev, c):
        return self.m + jnp.tanh(self.a_raw) * (x_prev - self.m), jnp.exp(self.log_s)

    def emission_log_prob(self, x, y, c):
        sd = jnp.exp(self.log_b + 0.5 * x)
        return jnp.sum(-0.5 * (y / sd) ** 2 - jnp.log(sd) - 0.5 * jnp.log(2 * jnp.pi))

    def emission_sample(self, key, x, c):
        return jnp.exp(self.log_b + 0.5 * x) * jax.random.normal(key, x.shape, x.dtype)


def make_log_volatility(*, key, state_dim: int, obs_dim: int, dtype) -> LogVolatility:
    """The factory a trainer suite names (``"byo_layers:make_log_volatility"``): the same
    starting values as the built-in SV experiment's (0.5, 0.7, 0.6, 1.0)."""
    assert state_dim == obs_dim
    return LogVolatility(0.5, 0.7, 0.6, 1.0, dim=state_dim, dtype=dtype)
