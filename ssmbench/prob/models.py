"""Probabilistic state space models.

Convention: a sequence has ``T`` time points, ``t = 0, ..., T-1`` (the PVMC paper writes
``t = 0..T`` for ``T + 1`` points). A model is

    x_0 ~ p(x_0 | c_0),   x_t ~ f(x_t | x_{t-1}, c_t),   y_t ~ g(y_t | x_t, c_t),

where ``c_t = model.context(y)[t]`` is a deterministic per-step feature that may depend on
``y_{<t}`` only (empty for Markov models; the GRU state ``d_t`` for SRNN). The initial and transition
densities of every model here are Gaussian (``initial_dist`` / ``transition_dist`` return a
``(mean, scale)`` pair, see :mod:`ssmbench.prob.gaussian`), which lets the bootstrap proposal and
the residual ("Resq") proposals reuse them. Emissions are arbitrary.

All models are immutable ``eqx.Module`` s with unbatched methods (vmap outside). Numerics follow the
dtype of the parameters and inputs.
"""

from __future__ import annotations

import abc
import math
from typing import Literal

import equinox as eqx
import jax
import jax.numpy as jnp
from jaxtyping import Array, Float

from .gaussian import gauss_log_prob, gauss_sample

__all__ = [
    "SSM",
    "LGSSM",
    "DeepMarkovModel",
    "SRNN",
    "StochasticVolatility",
    "LotkaVolterra",
    "check_observations",
    "bernoulli_log_prob",
]

EMISSIONS = ("gaussian", "bernoulli")


def check_observations(model: SSM, y: Array, name: str = "y") -> None:
    """Raise a ValueError unless ``y`` has shape ``(T, model.obs_dim)`` with ``T >= 1``."""
    if y.ndim != 2 or y.shape[1] != model.obs_dim or y.shape[0] < 1:
        raise ValueError(
            f"{name} must have shape (T, {model.obs_dim}) with T >= 1 for "
            f"{type(model).__name__}; got {tuple(y.shape)}"
        )


class SSM(eqx.Module):
    """Abstract state space model with Gaussian initial and transition densities."""

    @property
    @abc.abstractmethod
    def state_dim(self) -> int: ...

    @property
    @abc.abstractmethod
    def obs_dim(self) -> int: ...

    @property
    def dtype(self):
        return jnp.result_type(*[leaf for leaf in jax.tree.leaves(eqx.filter(self, eqx.is_array))])

    # --- deterministic context -------------------------------------------------------------
    def context(self, y: Float[Array, "T dy"]) -> Float[Array, "T dc"]:
        """Per-step deterministic features ``c_t`` (may depend on ``y_{<t}`` only). Default: none."""
        return jnp.zeros((y.shape[0], 0), dtype=y.dtype)

    # --- densities ---------------------------------------------------------------------------
    @abc.abstractmethod
    def initial_dist(self, c: Float[Array, " dc"]) -> tuple[Array, Array]:
        """(mean, scale) of the Gaussian p(x_0 | c_0)."""

    @abc.abstractmethod
    def transition_dist(self, x_prev: Float[Array, " dx"], c: Float[Array, " dc"]):
        """(mean, scale) of the Gaussian f(x_t | x_{t-1}, c_t)."""

    @abc.abstractmethod
    def emission_log_prob(
        self, x: Float[Array, " dx"], y: Float[Array, " dy"], c: Float[Array, " dc"]
    ) -> Float[Array, ""]:
        """log g(y_t | x_t, c_t)."""

    @abc.abstractmethod
    def emission_sample(self, key: Array, x: Float[Array, " dx"], c: Float[Array, " dc"]):
        """Draw y_t ~ g(. | x_t, c_t)."""

    def initial_log_prob(self, x: Float[Array, " dx"], c: Float[Array, " dc"]) -> Float[Array, ""]:
        """log p(x_0 | c_0)."""
        return gauss_log_prob(x, *self.initial_dist(c))

    def transition_log_prob(
        self, x_prev: Float[Array, " dx"], x: Float[Array, " dx"], c: Float[Array, " dc"]
    ) -> Float[Array, ""]:
        """log f(x_t | x_{t-1}, c_t)."""
        return gauss_log_prob(x, *self.transition_dist(x_prev, c))

    def initial_sample(self, key: Array, c: Float[Array, " dc"]) -> Float[Array, " dx"]:
        return gauss_sample(key, *self.initial_dist(c))

    def transition_sample(self, key: Array, x_prev: Float[Array, " dx"], c: Float[Array, " dc"]):
        return gauss_sample(key, *self.transition_dist(x_prev, c))

    def log_joint(self, x: Float[Array, "T dx"], y: Float[Array, "T dy"]) -> Float[Array, ""]:
        """log p(x_{0:T-1}, y_{0:T-1}) (used by tests and the ELBO oracle)."""
        c = self.context(y)
        lp = self.initial_log_prob(x[0], c[0])
        lp = lp + jnp.sum(jax.vmap(self.transition_log_prob)(x[:-1], x[1:], c[1:]))
        return lp + jnp.sum(jax.vmap(self.emission_log_prob)(x, y, c))

    def simulate(self, key: Array, T: int) -> tuple[Float[Array, "T dx"], Float[Array, "T dy"]]:
        """Draw ``(x_{0:T-1}, y_{0:T-1})`` from the model (context-free models; SRNN overrides)."""
        if T < 1:
            raise ValueError(f"T must be >= 1, got {T}")
        c0 = jnp.zeros((0,), self.dtype)
        k0, k1, ks = jax.random.split(key, 3)
        x0 = self.initial_sample(k0, c0)
        y0 = self.emission_sample(k1, x0, c0)

        def step(x_prev, k):
            ka, kb = jax.random.split(k)
            x = self.transition_sample(ka, x_prev, c0)
            return x, (x, self.emission_sample(kb, x, c0))

        _, (xs, ys) = jax.lax.scan(step, x0, jax.random.split(ks, T - 1))
        return jnp.concatenate([x0[None], xs]), jnp.concatenate([y0[None], ys])


# -------------------------------------------------------------------------------------------------
# Linear-Gaussian
# -------------------------------------------------------------------------------------------------
class LGSSM(SSM):
    """x_0 ~ N(m0, P0), x_t = A x_{t-1} + b + N(0, Q), y_t = C x_t + d + N(0, R).

    Covariances are stored as (unconstrained, ``tril``-ed) Cholesky factors.
    """

    m0: Float[Array, " dx"]
    P0_chol: Float[Array, "dx dx"]
    A: Float[Array, "dx dx"]
    b: Float[Array, " dx"]
    Q_chol: Float[Array, "dx dx"]
    C: Float[Array, "dy dx"]
    d: Float[Array, " dy"]
    R_chol: Float[Array, "dy dy"]

    def __init__(self, m0, P0_chol, A, b, Q_chol, C, d, R_chol):
        dx, dy = A.shape[0], C.shape[0]
        shapes = dict(
            m0=(m0, (dx,)),
            P0_chol=(P0_chol, (dx, dx)),
            A=(A, (dx, dx)),
            b=(b, (dx,)),
            Q_chol=(Q_chol, (dx, dx)),
            C=(C, (dy, dx)),
            d=(d, (dy,)),
            R_chol=(R_chol, (dy, dy)),
        )
        for name, (v, shp) in shapes.items():
            if tuple(jnp.shape(v)) != shp:
                raise ValueError(f"LGSSM: {name} must have shape {shp}, got {tuple(jnp.shape(v))}")
        self.m0, self.P0_chol, self.A, self.b = m0, P0_chol, A, b
        self.Q_chol, self.C, self.d, self.R_chol = Q_chol, C, d, R_chol

    @classmethod
    def from_covariances(cls, m0, P0, A, Q, C, R, b=None, d=None) -> LGSSM:
        """Build from covariance matrices (Cholesky-factorised here)."""
        m0, A, C = jnp.asarray(m0), jnp.asarray(A), jnp.asarray(C)
        b = jnp.zeros(A.shape[0], A.dtype) if b is None else jnp.asarray(b)
        d = jnp.zeros(C.shape[0], C.dtype) if d is None else jnp.asarray(d)
        ch = jnp.linalg.cholesky
        return cls(m0, ch(jnp.asarray(P0)), A, b, ch(jnp.asarray(Q)), C, d, ch(jnp.asarray(R)))

    @classmethod
    def vsmc(cls, dtype=None) -> LGSSM:
        """VSMC's LGSS: d_x = 5, d_y = 3, A_ij = 0.42^(|i-j|+1), Q = I, C = first 3 coords, R = 0.1 I.

        The initial state is x_0 ~ N(0, I).
        """
        dtype = dtype or jnp.zeros(()).dtype
        i = jnp.arange(5)
        A = (0.42 ** (jnp.abs(i[:, None] - i[None, :]) + 1)).astype(dtype)
        C = jnp.eye(3, 5, dtype=dtype)
        return cls.from_covariances(
            jnp.zeros(5, dtype), jnp.eye(5, dtype=dtype), A, jnp.eye(5, dtype=dtype), C,
            0.1 * jnp.eye(3, dtype=dtype),
        )  # fmt: skip

    @classmethod
    def gaussian_hmm_1d(cls, w_z=1.0, v_z=1.0, w_x=1.0, v_x=1.0, dtype=None) -> LGSSM:
        """FIVO's 1-D Gaussian HMM: z_t ~ N(w_z z_{t-1}, v_z), x_t ~ N(w_x z_t, v_x), z_0 ~ N(0, v_z)."""
        dtype = dtype or jnp.zeros(()).dtype
        f = lambda v: jnp.full((1, 1), v, dtype)  # noqa: E731
        return cls.from_covariances(jnp.zeros(1, dtype), f(v_z), f(w_z), f(v_z), f(w_x), f(v_x))

    @classmethod
    def random(cls, key: Array, state_dim: int, obs_dim: int, *, rho: float = 0.9, dtype=None):
        """A random stable LGSSM: spectral radius of A = ``rho``, unit-scale noises."""
        dtype = dtype or jnp.zeros(()).dtype
        k1, k2, k3 = jax.random.split(key, 3)
        A = jax.random.normal(k1, (state_dim, state_dim), dtype)
        A = rho * A / jnp.max(jnp.abs(jnp.linalg.eigvals(A)))
        C = jax.random.normal(k2, (obs_dim, state_dim), dtype) / math.sqrt(state_dim)
        W = jax.random.normal(k3, (state_dim, state_dim), dtype) * 0.3
        Q = 0.5 * jnp.eye(state_dim, dtype=dtype) + W @ W.T / state_dim
        return cls.from_covariances(
            jnp.zeros(state_dim, dtype), jnp.eye(state_dim, dtype=dtype), A.real.astype(dtype), Q, C,
            0.5 * jnp.eye(obs_dim, dtype=dtype),
        )  # fmt: skip

    @property
    def state_dim(self) -> int:
        return self.A.shape[0]

    @property
    def obs_dim(self) -> int:
        return self.C.shape[0]

    def covariances(self) -> tuple[Array, Array, Array]:
        """(P0, Q, R) as full covariance matrices."""
        f = lambda L: jnp.tril(L) @ jnp.tril(L).T  # noqa: E731
        return f(self.P0_chol), f(self.Q_chol), f(self.R_chol)

    def initial_dist(self, c):
        return self.m0, self.P0_chol

    def transition_dist(self, x_prev, c):
        return self.A @ x_prev + self.b, self.Q_chol

    def emission_log_prob(self, x, y, c):
        return gauss_log_prob(y, self.C @ x + self.d, self.R_chol)

    def emission_sample(self, key, x, c):
        return gauss_sample(key, self.C @ x + self.d, self.R_chol)

    def log_likelihood(self, y: Float[Array, "T dy"]) -> Float[Array, ""]:
        """Exact log p(y_{0:T-1}) from the Kalman filter."""
        from .kalman import kalman_filter

        return kalman_filter(self, y).log_likelihood


# -------------------------------------------------------------------------------------------------
# Nonlinear Gaussian (DMM-style) and SRNN
# -------------------------------------------------------------------------------------------------
def _softplus_scale(raw: Array, min_scale: float) -> Array:
    return jax.nn.softplus(raw) + min_scale


def bernoulli_log_prob(y: Float[Array, " d"], logits: Float[Array, " d"]) -> Float[Array, ""]:
    """log prod_i Bernoulli(y_i; sigmoid(logits_i)) = sum_i y_i l_i - softplus(l_i), for binary
    ``y`` (stable for large ``|logits|``)."""
    return jnp.sum(y * logits - jax.nn.softplus(logits))


def _check_emission(emission: str) -> None:
    if emission not in EMISSIONS:
        raise ValueError(f"emission must be one of {EMISSIONS}, got {emission!r}")


def _emission_log_prob(emission: str, out: Array, y: Array, dy: int, min_scale: float) -> Array:
    """The emission density from the emission MLP's output ``out``: Gaussian (``2 dy`` outputs:
    mean and raw scale) or Bernoulli (``dy`` logits)."""
    if emission == "bernoulli":
        return bernoulli_log_prob(y, out)
    return gauss_log_prob(y, out[:dy], _softplus_scale(out[dy:], min_scale))


def _emission_sample(emission: str, key: Array, out: Array, dy: int, min_scale: float) -> Array:
    if emission == "bernoulli":
        return jax.random.bernoulli(key, jax.nn.sigmoid(out)).astype(out.dtype)
    return gauss_sample(key, out[:dy], _softplus_scale(out[dy:], min_scale))


class DeepMarkovModel(SSM):
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
        _check_emission(emission)
        dtype = dtype or jnp.zeros(()).dtype
        k1, k2 = jax.random.split(key)
        n_out = obs_dim if emission == "bernoulli" else 2 * obs_dim
        self.trans_mlp = eqx.nn.MLP(state_dim, 2 * state_dim, hidden, 2, jax.nn.tanh, key=k1, dtype=dtype)  # fmt: skip
        self.emit_mlp = eqx.nn.MLP(state_dim, n_out, hidden, 2, jax.nn.tanh, key=k2, dtype=dtype)  # fmt: skip
        self.min_scale, self.emission, self._dx, self._dy = min_scale, emission, state_dim, obs_dim

    @property
    def state_dim(self) -> int:
        return self._dx

    @property
    def obs_dim(self) -> int:
        return self._dy

    def initial_dist(self, c):
        dtype = self.trans_mlp.layers[0].weight.dtype
        return jnp.zeros(self._dx, dtype), jnp.ones(self._dx, dtype)

    def transition_dist(self, x_prev, c):
        out = self.trans_mlp(x_prev)
        return x_prev + out[: self._dx], _softplus_scale(out[self._dx :], self.min_scale)

    def emission_log_prob(self, x, y, c):
        return _emission_log_prob(self.emission, self.emit_mlp(x), y, self._dy, self.min_scale)

    def emission_sample(self, key, x, c):
        return _emission_sample(self.emission, key, self.emit_mlp(x), self._dy, self.min_scale)


class SRNN(SSM):
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
        return self._dx

    @property
    def obs_dim(self) -> int:
        return self._dy

    def context(self, y):
        y_prev = jnp.concatenate([jnp.zeros_like(y[:1]), y[:-1]])

        def step(d, yp):
            d = self.gru(yp, d)
            return d, d

        _, ds = jax.lax.scan(step, jnp.zeros(self._dh, y.dtype), y_prev)
        return ds

    def transition_dist(self, x_prev, c):
        out = self.trans_mlp(jnp.concatenate([x_prev, c]))
        return x_prev + out[: self._dx], _softplus_scale(out[self._dx :], self.min_scale)

    def initial_dist(self, c):
        return self.transition_dist(jnp.zeros(self._dx, c.dtype), c)

    def emission_log_prob(self, x, y, c):
        out = self.emit_mlp(jnp.concatenate([x, c]))
        return _emission_log_prob(self.emission, out, y, self._dy, self.min_scale)

    def emission_sample(self, key, x, c):
        out = self.emit_mlp(jnp.concatenate([x, c]))
        return _emission_sample(self.emission, key, out, self._dy, self.min_scale)

    def simulate(self, key, T):
        if T < 1:
            raise ValueError(f"T must be >= 1, got {T}")
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


# -------------------------------------------------------------------------------------------------
# Stochastic volatility and Lotka-Volterra
# -------------------------------------------------------------------------------------------------
class StochasticVolatility(SSM):
    """x_t = mu + phi (x_{t-1} - mu) + sigma nu_t,  y_t = beta exp(x_t / 2) e_t (elementwise, d dims).

    ``x_0`` is drawn from the stationary law N(mu, sigma^2 / (1 - phi^2)). Parameters are stored
    unconstrained: ``phi = tanh(phi_raw)``, ``sigma = exp(log_sigma)``, ``beta = exp(log_beta)``.
    """

    mu: Float[Array, " d"]
    phi_raw: Float[Array, " d"]
    log_sigma: Float[Array, " d"]
    log_beta: Float[Array, " d"]

    def __init__(self, mu=0.0, phi=0.95, sigma=0.3, beta=0.7, dim: int = 1, dtype=None):
        dtype = dtype or jnp.zeros(()).dtype
        full = lambda v: jnp.full((dim,), v, dtype)  # noqa: E731
        self.mu = full(mu)
        self.phi_raw = jnp.arctanh(full(phi))
        self.log_sigma = jnp.log(full(sigma))
        self.log_beta = jnp.log(full(beta))

    @property
    def state_dim(self) -> int:
        return self.mu.shape[0]

    @property
    def obs_dim(self) -> int:
        return self.mu.shape[0]

    def initial_dist(self, c):
        phi = jnp.tanh(self.phi_raw)
        return self.mu, jnp.exp(self.log_sigma) / jnp.sqrt(1 - phi**2)

    def transition_dist(self, x_prev, c):
        phi = jnp.tanh(self.phi_raw)
        return self.mu + phi * (x_prev - self.mu), jnp.exp(self.log_sigma)

    def emission_log_prob(self, x, y, c):
        return gauss_log_prob(y, jnp.zeros_like(y), jnp.exp(self.log_beta + 0.5 * x))

    def emission_sample(self, key, x, c):
        return jnp.exp(self.log_beta + 0.5 * x) * jax.random.normal(key, x.shape, x.dtype)


class LotkaVolterra(SSM):
    """Stochastic Lotka-Volterra, Euler-Maruyama in log-populations, Poisson counts.

    Populations ``u = exp(x)`` follow ``du_i = drift_i(u) dt + sigma u_i dW_i`` with drift
    ``((alpha - beta u_1) u_0, (zeta u_0 - gamma) u_1)``. By Ito's lemma the log-populations obey
    ``dx = (drift(u)/u - sigma^2/2) dt + sigma dW``, discretised by one Euler-Maruyama step per
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
        dtype = dtype or jnp.zeros(()).dtype
        self.log_rates = jnp.log(jnp.asarray([alpha, beta, gamma, zeta], dtype))
        self.log_sigma = jnp.log(jnp.asarray(sigma, dtype))
        self.x0_mean = jnp.log(jnp.asarray(u0, dtype))
        self.log_x0_scale = jnp.log(jnp.asarray(x0_scale, dtype))
        self.dt, self.obs_scale = dt, obs_scale

    @property
    def state_dim(self) -> int:
        return 2

    @property
    def obs_dim(self) -> int:
        return 2

    def initial_dist(self, c):
        return self.x0_mean, jnp.full((2,), jnp.exp(self.log_x0_scale))

    def transition_dist(self, x_prev, c):
        a, b, g, z = jnp.exp(self.log_rates)
        s = jnp.exp(self.log_sigma)
        u = jnp.exp(x_prev)
        growth = jnp.stack([a - b * u[1], z * u[0] - g])
        mean = x_prev + (growth - 0.5 * s**2) * self.dt
        return mean, jnp.full((2,), s * math.sqrt(self.dt))

    def emission_log_prob(self, x, y, c):
        log_rate = math.log(self.obs_scale) + x
        return jnp.sum(y * log_rate - jnp.exp(log_rate) - jax.scipy.special.gammaln(y + 1))

    def emission_sample(self, key, x, c):
        return jax.random.poisson(key, self.obs_scale * jnp.exp(x)).astype(x.dtype)
