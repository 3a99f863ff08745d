"""Nonlinear Gaussian models with neural networks: the DMM-style model and the SRNN.

Both have a Gaussian (``2 dy`` MLP outputs: mean and raw scale) or a Bernoulli (``dy`` logits,
binary observations such as a piano roll) emission.
"""

from __future__ import annotations

from typing import Literal

import equinox as eqx
import jax
import jax.numpy as jnp
from jaxtyping import Array, Float

from ._base import AbstractMarkovSSM, AbstractSSM, check_length
from .gaussian import gauss_log_prob, gauss_sample, softplus_scale

__all__ = ["DeepMarkovModel", "SRNN", "bernoulli_log_prob", "EMISSIONS"]

EMISSIONS = ("gaussian", "bernoulli")


def bernoulli_log_prob(y: Float[Array, " d"], logits: Float[Array, " d"]) -> Float[Array, ""]:
    """log prod_i Bernoulli(y_i; sigmoid(logits_i)) = sum_i y_i l_i - softplus(l_i), for binary
    ``y`` (stable for large ``|logits|``)."""
    return jnp.sum(y * logits - jax.nn.softplus(logits))


def _check_emission(emission: str) -> None:
    """Raise a ValueError for an emission name not in :data:`EMISSIONS`."""
    if emission not in EMISSIONS:
        raise ValueError(f"emission must be one of {EMISSIONS}, got {emission!r}")


def _emission_log_prob(emission: str, out: Array, y: Array, dy: int, min_scale: float) -> Array:
    """The emission density from the emission MLP's output ``out``: Gaussian (``2 dy`` outputs:
    mean and raw scale) or Bernoulli (``dy`` logits)."""
    if emission == "bernoulli":
        return bernoulli_log_prob(y, out)
    return gauss_log_prob(y, out[:dy], softplus_scale(out[dy:], min_scale))


def _emission_sample(emission: str, key: Array, out: Array, dy: int, min_scale: float) -> Array:
    """A draw from the emission given the emission MLP's output ``out``."""
    if emission == "bernoulli":
        return jax.random.bernoulli(key, jax.nn.sigmoid(out)).astype(out.dtype)
    return gauss_sample(key, out[:dy], softplus_scale(out[dy:], min_scale))


class DeepMarkovModel(AbstractMarkovSSM):
    """Nonlinear Gaussian SSM with MLP transition and emission (DMM-style).

    ``f(x_t | x_{t-1}) = N(x_{t-1} + mu(x_{t-1}), diag sigma(x_{t-1})^2)`` (residual MLP), and
    ``g(y_t | x_t) = N(m(x_t), diag s(x_t)^2)``; ``x_0 ~ N(0, I)``. With
    ``emission="bernoulli"`` the observations are binary, ``g(y_t | x_t) = prod_i
    Bernoulli(y_ti; sigmoid(l_i(x_t)))`` with MLP logits ``l`` (the DMM's piano-roll emission).
    """

    trans_mlp: eqx.nn.MLP
    emit_mlp: eqx.nn.MLP
    min_scale: float = eqx.field(static=True)
    emission: str = eqx.field(static=True)
    _dx: int = eqx.field(static=True)
    _dy: int = eqx.field(static=True)

    def __init__(self, state_dim: int, obs_dim: int, hidden: int = 32, *, key, dtype=None,
                 min_scale: float = 1e-2,
                 emission: Literal["gaussian", "bernoulli"] = "gaussian"):  # fmt: skip
        """Two-hidden-layer tanh MLPs of width ``hidden`` for the transition and the emission."""
        _check_emission(emission)
        dtype = dtype or jnp.zeros(()).dtype
        k1, k2 = jax.random.split(key)
        n_out = obs_dim if emission == "bernoulli" else 2 * obs_dim
        self.trans_mlp = eqx.nn.MLP(state_dim, 2 * state_dim, hidden, 2, jax.nn.tanh, key=k1, dtype=dtype)  # fmt: skip
        self.emit_mlp = eqx.nn.MLP(state_dim, n_out, hidden, 2, jax.nn.tanh, key=k2, dtype=dtype)  # fmt: skip
        self.min_scale, self.emission, self._dx, self._dy = min_scale, emission, state_dim, obs_dim

    @property
    def state_dim(self) -> int:
        """d_x."""
        return self._dx

    @property
    def obs_dim(self) -> int:
        """d_y."""
        return self._dy

    def initial_dist(self, c):
        """N(0, I)."""
        dtype = self.trans_mlp.layers[0].weight.dtype
        return jnp.zeros(self._dx, dtype), jnp.ones(self._dx, dtype)

    def transition_dist(self, x_prev, c):
        """N(x_{t-1} + mu(x_{t-1}), diag sigma(x_{t-1})^2) from the transition MLP."""
        out = self.trans_mlp(x_prev)
        return x_prev + out[: self._dx], softplus_scale(out[self._dx :], self.min_scale)

    def emission_log_prob(self, x, y, c):
        """log g(y_t | x_t) from the emission MLP."""
        return _emission_log_prob(self.emission, self.emit_mlp(x), y, self._dy, self.min_scale)

    def emission_sample(self, key, x, c):
        """Draw y_t ~ g(. | x_t)."""
        return _emission_sample(self.emission, key, self.emit_mlp(x), self._dy, self.min_scale)


class SRNN(AbstractSSM):
    """SRNN-style model: a deterministic GRU layer ``d_t = GRU(d_{t-1}, y_{t-1})`` (with
    ``d_{-1} = 0``, ``y_{-1} = 0``) feeding a stochastic layer

        x_t ~ N(x_{t-1} + mu([x_{t-1}, d_t]), diag sigma^2),   y_t ~ N(m([x_t, d_t]), diag s^2),

    with ``x_{-1} = 0``. The context ``c_t = d_t`` is computed from ``y`` by a scan. With
    ``emission="bernoulli"`` the observations are binary, ``y_ti ~ Bernoulli(sigmoid(l_i([x_t,
    d_t])))`` (the SRNN's piano-roll emission).
    """

    gru: eqx.nn.GRUCell
    trans_mlp: eqx.nn.MLP
    emit_mlp: eqx.nn.MLP
    min_scale: float = eqx.field(static=True)
    emission: str = eqx.field(static=True)
    _dx: int = eqx.field(static=True)
    _dy: int = eqx.field(static=True)
    _dh: int = eqx.field(static=True)

    def __init__(self, state_dim: int, obs_dim: int, hidden: int = 16, *, key, dtype=None,
                 min_scale: float = 1e-2,
                 emission: Literal["gaussian", "bernoulli"] = "gaussian"):  # fmt: skip
        """A GRU with ``hidden`` units and one-hidden-layer tanh MLPs on ``[x, d]``."""
        _check_emission(emission)
        dtype = dtype or jnp.zeros(()).dtype
        k1, k2, k3 = jax.random.split(key, 3)
        n_out = obs_dim if emission == "bernoulli" else 2 * obs_dim
        self.gru = eqx.nn.GRUCell(obs_dim, hidden, key=k1, dtype=dtype)
        self.trans_mlp = eqx.nn.MLP(state_dim + hidden, 2 * state_dim, hidden, 1, jax.nn.tanh, key=k2, dtype=dtype)  # fmt: skip
        self.emit_mlp = eqx.nn.MLP(state_dim + hidden, n_out, hidden, 1, jax.nn.tanh, key=k3, dtype=dtype)  # fmt: skip
        self.min_scale, self.emission = min_scale, emission
        self._dx, self._dy, self._dh = state_dim, obs_dim, hidden

    @property
    def state_dim(self) -> int:
        """d_x."""
        return self._dx

    @property
    def obs_dim(self) -> int:
        """d_y."""
        return self._dy

    def context(self, y):
        """The GRU states ``d_t = GRU(d_{t-1}, y_{t-1})``, ``t = 0..T-1``."""
        y_prev = jnp.concatenate([jnp.zeros_like(y[:1]), y[:-1]])

        def step(d, yp):
            d = self.gru(yp, d)
            return d, d

        _, ds = jax.lax.scan(step, jnp.zeros(self._dh, y.dtype), y_prev)
        return ds

    def transition_dist(self, x_prev, c):
        """N(x_{t-1} + mu([x_{t-1}, d_t]), diag sigma^2) from the transition MLP."""
        out = self.trans_mlp(jnp.concatenate([x_prev, c]))
        return x_prev + out[: self._dx], softplus_scale(out[self._dx :], self.min_scale)

    def initial_dist(self, c):
        """The transition from ``x_{-1} = 0``."""
        return self.transition_dist(jnp.zeros(self._dx, c.dtype), c)

    def emission_log_prob(self, x, y, c):
        """log g(y_t | x_t, d_t) from the emission MLP on ``[x_t, d_t]``."""
        out = self.emit_mlp(jnp.concatenate([x, c]))
        return _emission_log_prob(self.emission, out, y, self._dy, self.min_scale)

    def emission_sample(self, key, x, c):
        """Draw y_t ~ g(. | x_t, d_t)."""
        out = self.emit_mlp(jnp.concatenate([x, c]))
        return _emission_sample(self.emission, key, out, self._dy, self.min_scale)

    def simulate(self, key, T):
        """Draw ``(x_{0:T-1}, y_{0:T-1})``, running the GRU on the simulated observations."""
        check_length(T)
        dtype = self.gru.weight_ih.dtype

        def step(carry, k):
            d, x_prev, y_prev = carry
            ka, kb = jax.random.split(k)
            d = self.gru(y_prev, d)
            x = gauss_sample(ka, *self.transition_dist(x_prev, d))
            y = self.emission_sample(kb, x, d)
            return (d, x, y), (x, y)

        init = (jnp.zeros(self._dh, dtype), jnp.zeros(self._dx, dtype), jnp.zeros(self._dy, dtype))
        _, (xs, ys) = jax.lax.scan(step, init, jax.random.split(key, T))
        return xs, ys
