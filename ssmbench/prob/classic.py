"""Classic nonlinear models: stochastic volatility and stochastic Lotka-Volterra (with a known or a
learned drift; in log-populations, our variant, or in populations, the PVMC paper's setting).

(No ``from __future__ import annotations`` here: equinox reads ``AbstractVar`` annotations as
objects.)
"""

import math

import equinox as eqx
import jax
import jax.numpy as jnp
from jaxtyping import Array, Float

from ._base import AbstractMarkovSSM
from .gaussian import gauss_log_prob

__all__ = [
    "StochasticVolatility",
    "LotkaVolterra",
    "NeuralLotkaVolterra",
    "AbstractLotkaVolterra",
    "PaperNeuralLotkaVolterra",
]


class StochasticVolatility(AbstractMarkovSSM):
    """x_t = mu + phi (x_{t-1} - mu) + sigma nu_t,  y_t = beta exp(x_t / 2) e_t (elementwise, d dims).

    ``x_0`` is drawn from the stationary law N(mu, sigma^2 / (1 - phi^2)). Parameters are stored
    unconstrained: ``phi = tanh(phi_raw)``, ``sigma = exp(log_sigma)``, ``beta = exp(log_beta)``.
    """

    mu: Float[Array, " d"]
    phi_raw: Float[Array, " d"]
    log_sigma: Float[Array, " d"]
    log_beta: Float[Array, " d"]

    def __init__(self, mu=0.0, phi=0.95, sigma=0.3, beta=0.7, dim: int = 1, dtype=None):
        """The same (mu, phi, sigma, beta) in each of ``dim`` independent dimensions."""
        dtype = dtype or jnp.zeros(()).dtype
        full = lambda v: jnp.full((dim,), v, dtype)  # noqa: E731
        self.mu = full(mu)
        self.phi_raw = jnp.arctanh(full(phi))
        self.log_sigma = jnp.log(full(sigma))
        self.log_beta = jnp.log(full(beta))

    @property
    def state_dim(self) -> int:
        """d."""
        return self.mu.shape[0]

    @property
    def obs_dim(self) -> int:
        """d."""
        return self.mu.shape[0]

    def initial_dist(self, c):
        """The stationary law N(mu, sigma^2 / (1 - phi^2))."""
        phi = jnp.tanh(self.phi_raw)
        return self.mu, jnp.exp(self.log_sigma) / jnp.sqrt(1 - phi**2)

    def transition_dist(self, x_prev, c):
        """N(mu + phi (x_{t-1} - mu), sigma^2)."""
        phi = jnp.tanh(self.phi_raw)
        return self.mu + phi * (x_prev - self.mu), jnp.exp(self.log_sigma)

    def emission_log_prob(self, x, y, c):
        """log N(y_t; 0, beta^2 exp(x_t))."""
        return gauss_log_prob(y, jnp.zeros_like(y), jnp.exp(self.log_beta + 0.5 * x))

    def emission_sample(self, key, x, c):
        """Draw y_t = beta exp(x_t / 2) e_t."""
        return jnp.exp(self.log_beta + 0.5 * x) * jax.random.normal(key, x.shape, x.dtype)


class AbstractLotkaVolterra(AbstractMarkovSSM):
    """Two log-populations ``x_t`` (prey, predator) observed as Poisson counts
    ``y_t ~ Poisson(obs_scale * exp(x_t))``; the final class gives the Gaussian dynamics."""

    obs_scale: eqx.AbstractVar[float]

    @property
    def state_dim(self) -> int:
        """2 (prey, predator)."""
        return 2

    @property
    def obs_dim(self) -> int:
        """2 (prey, predator counts)."""
        return 2

    def emission_log_prob(self, x, y, c):
        """log prod_i Poisson(y_i; obs_scale * exp(x_i))."""
        log_rate = math.log(self.obs_scale) + x
        return jnp.sum(y * log_rate - jnp.exp(log_rate) - jax.scipy.special.gammaln(y + 1))

    def emission_sample(self, key, x, c):
        """Counts ``y_i ~ Poisson(obs_scale * exp(x_i))`` in the dtype of ``x``."""
        return jax.random.poisson(key, self.obs_scale * jnp.exp(x)).astype(x.dtype)


class LotkaVolterra(AbstractLotkaVolterra):
    """Stochastic Lotka-Volterra, Euler-Maruyama in log-populations, Poisson counts.

    Populations ``u = exp(x)`` follow ``du_i = drift_i(u) dt + sigma u_i dW_i`` with drift
    ``((alpha - beta u_1) u_0, (zeta u_0 - gamma) u_1)``. By Ito's lemma the log-populations obey
    ``dx = (drift(u)/u - sigma^2/2) dt + sigma dW``, discretized by one Euler-Maruyama step per
    observation (positivity is exact). Observations ``y_t ~ Poisson(obs_scale * u_t)``.
    Defaults: alpha, beta, gamma, zeta = 6, 2, 6, 4; sigma = 0.15; dt = 3/256; x_0 ~ N(log u0, s0^2).
    """

    log_rates: Float[Array, " 4"]  # log(alpha, beta, gamma, zeta)
    log_sigma: Float[Array, ""]
    x0_mean: Float[Array, " 2"]
    log_x0_scale: Float[Array, ""]
    dt: float = eqx.field(static=True)
    obs_scale: float = eqx.field(static=True)

    def __init__(self, alpha=6.0, beta=2.0, gamma=6.0, zeta=4.0, sigma=0.15, dt=3 / 256,
                 u0=(1.0, 2.0), x0_scale=0.1, obs_scale=10.0, dtype=None):  # fmt: skip
        """Store the rates, noise and initial law in log space."""
        dtype = dtype or jnp.zeros(()).dtype
        self.log_rates = jnp.log(jnp.asarray([alpha, beta, gamma, zeta], dtype))
        self.log_sigma = jnp.log(jnp.asarray(sigma, dtype))
        self.x0_mean = jnp.log(jnp.asarray(u0, dtype))
        self.log_x0_scale = jnp.log(jnp.asarray(x0_scale, dtype))
        self.dt, self.obs_scale = dt, obs_scale

    def initial_dist(self, c):
        """N(log u0, s0^2 I)."""
        return self.x0_mean, jnp.full((2,), jnp.exp(self.log_x0_scale))

    def transition_dist(self, x_prev, c):
        """One Euler-Maruyama step of the log-populations."""
        a, b, g, z = jnp.exp(self.log_rates)
        s = jnp.exp(self.log_sigma)
        u = jnp.exp(x_prev)
        growth = jnp.stack([a - b * u[1], z * u[0] - g])
        mean = x_prev + (growth - 0.5 * s**2) * self.dt
        return mean, jnp.full((2,), s * math.sqrt(self.dt))


class NeuralLotkaVolterra(AbstractLotkaVolterra):
    """Lotka-Volterra with a learned drift: log-populations ``x_t ~ N(x_{t-1} + MLP(x_{t-1}) dt,
    diag(sigma^2 dt))``, ``x_0 ~ N(m0, s0^2)``, counts ``y_t ~ Poisson(obs_scale * exp(x_t))`` (the
    same observation model as :class:`LotkaVolterra`)."""

    drift: eqx.nn.MLP
    log_sigma: Float[Array, " 2"]
    x0_mean: Float[Array, " 2"]
    log_x0_scale: Float[Array, " 2"]
    dt: float = eqx.field(static=True)
    obs_scale: float = eqx.field(static=True)

    def __init__(self, hidden: int = 32, *, key, dt: float = 3 / 256, obs_scale: float = 10.0,
                 dtype=None):  # fmt: skip
        """A two-hidden-layer tanh drift MLP; sigma = s0 = 0.5, m0 = 0."""
        dtype = dtype or jnp.zeros(()).dtype
        self.drift = eqx.nn.MLP(2, 2, hidden, 2, jax.nn.tanh, key=key, dtype=dtype)
        self.log_sigma = jnp.full((2,), math.log(0.5), dtype)
        self.x0_mean = jnp.zeros(2, dtype)
        self.log_x0_scale = jnp.full((2,), math.log(0.5), dtype)
        self.dt, self.obs_scale = dt, obs_scale

    def initial_dist(self, c):
        """N(m0, s0^2)."""
        return self.x0_mean, jnp.exp(self.log_x0_scale)

    def transition_dist(self, x_prev, c):
        """N(x_{t-1} + MLP(x_{t-1}) dt, sigma^2 dt)."""
        return x_prev + self.drift(x_prev) * self.dt, jnp.exp(self.log_sigma) * math.sqrt(self.dt)


class PaperNeuralLotkaVolterra(AbstractMarkovSSM):
    """The PVMC paper's learned Lotka-Volterra model, on the populations ``u = (prey, predator)``.

    Transition ``u_t ~ N(u_{t-1} + a(u_{t-1}) dt, diag(s(u_{t-1})^2 dt))`` with
    ``s = exp(tanh(b(u_{t-1})))``, where ``a`` and ``b`` are swish MLPs ``2 -> hidden -> 2``
    (``depth`` hidden layers). Emission: the paper's true observation law,
    ``y_i ~ Poisson(5 sigmoid(v_i - 4))`` with ``v = (5 u_0, u_0 u_1)``, defined for any real ``u``
    (a particle may step below zero). Initial law: the paper's prior is the point mass at
    ``x0 = (2, 5)``; the Gaussian initial law the bounds need replaces it by
    ``N(x0, x0_scale^2 I)`` with a small fixed ``x0_scale`` (neither is learned).
    """

    a: eqx.nn.MLP
    b: eqx.nn.MLP
    dt: float = eqx.field(static=True)
    x0: tuple[float, float] = eqx.field(static=True)
    x0_scale: float = eqx.field(static=True)

    def __init__(self, hidden: int = 32, *, key, dt: float = 3 / 256,
                 x0: tuple[float, float] = (2.0, 5.0), x0_scale: float = 0.05, depth: int = 1,
                 dtype=None):  # fmt: skip
        """Two swish MLPs with ``depth`` hidden layers of width ``hidden`` (the paper's
        ``2 -> 32 -> 2`` is ``depth=1``); the fixed initial law ``N(x0, x0_scale^2 I)``."""
        if x0_scale <= 0:
            raise ValueError(f"x0_scale must be > 0, got {x0_scale}")
        dtype = dtype or jnp.zeros(()).dtype
        ka, kb = jax.random.split(key)
        self.a = eqx.nn.MLP(2, 2, hidden, depth, jax.nn.silu, key=ka, dtype=dtype)
        self.b = eqx.nn.MLP(2, 2, hidden, depth, jax.nn.silu, key=kb, dtype=dtype)
        self.dt = float(dt)
        self.x0 = (float(x0[0]), float(x0[1]))
        self.x0_scale = float(x0_scale)

    @property
    def state_dim(self) -> int:
        """2 (prey, predator populations)."""
        return 2

    @property
    def obs_dim(self) -> int:
        """2 (counts)."""
        return 2

    def initial_dist(self, c):
        """N(x0, x0_scale^2 I), standing in for the paper's point mass at x0."""
        dtype = self.dtype
        return jnp.asarray(self.x0, dtype), jnp.full((2,), self.x0_scale, dtype)

    def transition_dist(self, x_prev, c):
        """N(u + a(u) dt, exp(tanh(b(u)))^2 dt)."""
        scale = jnp.exp(jnp.tanh(self.b(x_prev))) * math.sqrt(self.dt)
        return x_prev + self.a(x_prev) * self.dt, scale

    def _log_rate(self, x: Float[Array, " 2"]) -> Float[Array, " 2"]:
        """log(5 sigmoid(v - 4)), v = (5 u_0, u_0 u_1), computed stably."""
        v = jnp.stack([5.0 * x[0], x[0] * x[1]])
        return math.log(5.0) + jax.nn.log_sigmoid(v - 4.0)

    def emission_log_prob(self, x, y, c):
        """log prod_i Poisson(y_i; 5 sigmoid(v_i - 4))."""
        log_rate = self._log_rate(x)
        return jnp.sum(y * log_rate - jnp.exp(log_rate) - jax.scipy.special.gammaln(y + 1))

    def emission_sample(self, key, x, c):
        """Counts ``y_i ~ Poisson(5 sigmoid(v_i - 4))`` in the dtype of ``x``."""
        return jax.random.poisson(key, jnp.exp(self._log_rate(x))).astype(x.dtype)
