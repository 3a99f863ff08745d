"""XFADS's generative model and its amortised encoder.

Model (:class:`XfadsSSM`): ``z_0 ~ N(m0, diag q0)``, ``z_t ~ N(m_theta(z_{t-1}), diag q)`` with
``m_theta(z) = z + MLP(z)``, and a linear-readout emission of ``eta_t = C z_t + d``: Gaussian
``y_t ~ N(eta_t, diag r)`` or Poisson ``y_t ~ Poisson(exp(eta_t))``. It is an ordinary
:class:`~ssmbench.prob.AbstractMarkovSSM`, so every bound of :mod:`ssmbench.prob` (the DKF/VAE
baseline, SMC evaluation) trains and scores the same model.

Encoder (:class:`XfadsEncoder`): the local ``alpha_t = (a_t, A_t) = MLP(y_t)`` with ``A_t`` of
shape (L, r_a), a backward GRU over ``alpha`` whose head gives ``beta_t = (b_t, B_t)``, and the
pseudo-observation ``k_t = a_t + b_{t+1}``, ``K_t = [A_t, B_{t+1}]`` (rank ``r_a + r_b``;
``beta_T = 0``). A time step with a NaN in ``y_t`` is missing: ``alpha_t = 0``.
"""

import abc
import math

import equinox as eqx
import jax
import jax.numpy as jnp
from jax.scipy.special import gammaln
from jaxtyping import Array, Float

from .._base import AbstractMarkovSSM
from ..gaussian import gauss_sample

__all__ = [
    "XfadsSSM",
    "AbstractXfadsEncoder",
    "XfadsEncoder",
    "EMISSIONS",
    "missing_mask",
    "gaussian_expected_log_prob",
]

EMISSIONS = ("gaussian", "poisson")
_LOG_2PI = math.log(2 * math.pi)


def missing_mask(y: Float[Array, "T dy"]) -> Float[Array, " T"]:
    """1.0 where the time step is observed (no NaN in ``y_t``), 0.0 where it is missing."""
    return jnp.all(jnp.isfinite(y), axis=-1).astype(y.dtype)


def gaussian_expected_log_prob(
    y: Float[Array, " dy"],
    mu: Float[Array, " dy"],
    var: Float[Array, " dy"],
    log_r: Float[Array, " dy"],
) -> Float[Array, ""]:
    """E log N(y; eta, diag exp(log_r)) for eta ~ N(mu, diag var): log N(y; mu, r) - var / (2 r),
    summed over the finite entries of ``y`` (NaN entries are missing and contribute 0)."""
    obs = jnp.isfinite(y)
    y0 = jnp.where(obs, y, 0.0)
    terms = -0.5 * (_LOG_2PI + log_r + ((y0 - mu) ** 2 + var) / jnp.exp(log_r))
    return jnp.sum(jnp.where(obs, terms, 0.0))


class XfadsSSM(AbstractMarkovSSM):
    """z_t ~ N(z_{t-1} + MLP(z_{t-1}), diag q); y_t | z_t Gaussian or Poisson in C z_t + d."""

    mlp: eqx.nn.MLP
    log_q: Float[Array, " L"]
    m0: Float[Array, " L"]
    log_q0: Float[Array, " L"]
    C: Float[Array, "dy L"]
    d: Float[Array, " dy"]
    log_r: Float[Array, " dy"]
    emission: str = eqx.field(static=True)

    def __init__(self, state_dim: int, obs_dim: int, hidden: int = 64, *, key: Array,
                 emission: str = "gaussian", dtype=None):  # fmt: skip
        """A residual one-hidden-layer tanh MLP for the dynamics (last layer and its bias scaled by
        0.1, so m_theta starts near the identity),
        q = 0.01, q0 = 1 and a random readout with unit-norm rows."""
        if emission not in EMISSIONS:
            raise ValueError(f"emission must be one of {EMISSIONS}, got {emission!r}")
        dtype = dtype or jnp.zeros(()).dtype
        k1, k2 = jax.random.split(key)
        mlp = eqx.nn.MLP(state_dim, state_dim, hidden, 1, jax.nn.tanh, key=k1, dtype=dtype)
        last = mlp.layers[-1]
        self.mlp = eqx.tree_at(lambda m: (m.layers[-1].weight, m.layers[-1].bias), mlp,
                               (0.1 * last.weight, 0.1 * last.bias))  # fmt: skip
        self.log_q = jnp.full(state_dim, math.log(0.01), dtype)
        self.m0 = jnp.zeros(state_dim, dtype)
        self.log_q0 = jnp.zeros(state_dim, dtype)
        self.C = jax.random.normal(k2, (obs_dim, state_dim), dtype) / math.sqrt(state_dim)
        self.d = jnp.zeros(obs_dim, dtype)
        self.log_r = jnp.zeros(obs_dim, dtype)
        self.emission = emission

    @property
    def state_dim(self) -> int:
        """L, the latent dimension."""
        return self.m0.shape[0]

    @property
    def obs_dim(self) -> int:
        """d_y, the rows of the readout C."""
        return self.C.shape[0]

    def dynamics(self, z: Float[Array, " L"]) -> Float[Array, " L"]:
        """The transition mean m_theta(z) = z + MLP(z)."""
        return z + self.mlp(z)

    def initial_dist(self, c):
        """N(m0, diag q0)."""
        return self.m0, jnp.exp(0.5 * self.log_q0)

    def transition_dist(self, x_prev, c):
        """N(m_theta(z_{t-1}), diag q)."""
        return self.dynamics(x_prev), jnp.exp(0.5 * self.log_q)

    def emission_log_prob(self, x, y, c):
        """log p(y_t | z_t), summed over the observed (finite) entries of y_t."""
        eta = self.C @ x + self.d
        return self.expected_log_prob(y, eta, jnp.zeros_like(eta))

    def emission_sample(self, key, x, c):
        """Draw y_t | z_t."""
        eta = self.C @ x + self.d
        if self.emission == "poisson":
            return jax.random.poisson(key, jnp.exp(eta)).astype(eta.dtype)
        return gauss_sample(key, eta, jnp.exp(0.5 * self.log_r))

    def expected_log_prob(
        self, y: Float[Array, " dy"], mu: Float[Array, " dy"], var: Float[Array, " dy"]
    ) -> Float[Array, ""]:
        """E log p(y_t | eta) for eta ~ N(mu, diag var), in closed form; NaN entries of y are
        missing and contribute 0. Gaussian: log N(y; mu, r) - var / (2 r). Poisson:
        y mu - exp(mu + var / 2) - log y!."""
        if self.emission != "poisson":
            return gaussian_expected_log_prob(y, mu, var, self.log_r)
        obs = jnp.isfinite(y)
        y0 = jnp.where(obs, y, 0.0)
        terms = y0 * mu - jnp.exp(mu + 0.5 * var) - gammaln(y0 + 1.0)
        return jnp.sum(jnp.where(obs, terms, 0.0))


class AbstractXfadsEncoder(eqx.Module):
    """Amortised pseudo-observations ``(k (T, L), K (T, L, r))`` from observations ``y (T, dy)``."""

    state_dim: eqx.AbstractVar[int]
    rank: eqx.AbstractVar[int]

    @abc.abstractmethod
    def __call__(
        self, y: Float[Array, "T dy"]
    ) -> tuple[Float[Array, "T L"], Float[Array, "T L r"]]:
        """The pseudo-observations of one sequence."""


class XfadsEncoder(AbstractXfadsEncoder):
    """Local MLP encoder plus a backward GRU over its outputs (module docstring)."""

    local: eqx.nn.MLP
    gru: eqx.nn.GRUCell
    head: eqx.nn.Linear
    state_dim: int = eqx.field(static=True)
    rank_local: int = eqx.field(static=True)
    rank_backward: int = eqx.field(static=True)

    def __init__(self, state_dim: int, obs_dim: int, rank_local: int = 2, rank_backward: int = 2,
                 hidden: int = 64, *, key: Array, dtype=None):  # fmt: skip
        """Widths: the local MLP has one hidden layer of ``hidden`` units, the GRU ``hidden``."""
        r = rank_local + rank_backward
        if r > state_dim:
            raise ValueError(
                f"rank_local + rank_backward = {r} exceeds the state dimension {state_dim}"
            )
        dtype = dtype or jnp.zeros(()).dtype
        k1, k2, k3 = jax.random.split(key, 3)
        n_alpha = state_dim * (1 + rank_local)
        self.local = eqx.nn.MLP(obs_dim, n_alpha, hidden, 1, jax.nn.tanh, key=k1, dtype=dtype)
        self.gru = eqx.nn.GRUCell(n_alpha, hidden, key=k2, dtype=dtype)
        self.head = eqx.nn.Linear(hidden, state_dim * (1 + rank_backward), key=k3, dtype=dtype)
        self.state_dim, self.rank_local, self.rank_backward = state_dim, rank_local, rank_backward

    @property
    def rank(self) -> int:
        """r = r_a + r_b, the rank of K_t."""
        return self.rank_local + self.rank_backward

    def __call__(self, y):
        """``(k, K)`` for one sequence ``y (T, dy)`` (NaN rows: alpha_t = 0)."""
        L, ra, rb = self.state_dim, self.rank_local, self.rank_backward
        obs = missing_mask(y)
        alpha = jax.vmap(self.local)(jnp.where(jnp.isfinite(y), y, 0.0)) * obs[:, None]

        def step(h, a):
            h = self.gru(a, h)
            return h, self.head(h)

        h0 = jnp.zeros(self.gru.hidden_size, y.dtype)
        _, beta = jax.lax.scan(step, h0, alpha, reverse=True)
        beta_next = jnp.concatenate([beta[1:], jnp.zeros_like(beta[:1])])  # beta_{t+1}; beta_T = 0
        T = y.shape[0]
        a, A = alpha[:, :L], alpha[:, L:].reshape(T, L, ra)
        b, B = beta_next[:, :L], beta_next[:, L:].reshape(T, L, rb)
        return a + b, jnp.concatenate([A, B], axis=2)
