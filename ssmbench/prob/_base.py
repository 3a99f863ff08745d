"""Abstract bases of the probabilistic state space models and of the proposals.

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

Equinox's abstract/final pattern: every class here is abstract (its name starts with
``Abstract``), every concrete model or proposal is final (never subclassed), and no concrete
method is overridden. The dimensions are ``eqx.AbstractVar`` s (a field or a property of the final
class). Context-free models derive from :class:`AbstractMarkovSSM`, which implements ``context``
(no features) and ``simulate``; a model with a context implements both itself.

(No ``from __future__ import annotations`` here: equinox reads ``AbstractVar`` annotations as
objects.)
"""

import abc

import equinox as eqx
import jax
import jax.numpy as jnp
from jaxtyping import Array, Float

from .gaussian import gauss_log_prob, gauss_sample

__all__ = [
    "AbstractSSM",
    "AbstractMarkovSSM",
    "AbstractProposal",
    "AbstractParallelProposal",
    "check_observations",
    "check_length",
    "observation_features",
]


def check_observations(model: "AbstractSSM", y: Array, name: str = "y") -> None:
    """Raise a ValueError unless ``y`` has shape ``(T, model.obs_dim)`` with ``T >= 1``."""
    if y.ndim != 2 or y.shape[1] != model.obs_dim or y.shape[0] < 1:
        raise ValueError(
            f"{name} must have shape (T, {model.obs_dim}) with T >= 1 for "
            f"{type(model).__name__}; got {tuple(y.shape)}"
        )


def check_length(T: int) -> None:
    """Raise a ValueError unless a simulated sequence length ``T`` is at least 1."""
    if T < 1:
        raise ValueError(f"T must be >= 1, got {T}")


class AbstractSSM(eqx.Module):
    """State space model with Gaussian initial and transition densities."""

    state_dim: eqx.AbstractVar[int]
    obs_dim: eqx.AbstractVar[int]

    @property
    def dtype(self):
        """The common dtype of the model's array parameters."""
        return jnp.result_type(*[leaf for leaf in jax.tree.leaves(eqx.filter(self, eqx.is_array))])

    # --- deterministic context and simulation ------------------------------------------------
    @abc.abstractmethod
    def context(self, y: Float[Array, "T dy"]) -> Float[Array, "T dc"]:
        """Per-step deterministic features ``c_t`` (may depend on ``y_{<t}`` only)."""

    @abc.abstractmethod
    def simulate(self, key: Array, T: int) -> tuple[Float[Array, "T dx"], Float[Array, "T dy"]]:
        """Draw ``(x_{0:T-1}, y_{0:T-1})`` from the model."""

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
        """Draw x_0 ~ p(. | c_0)."""
        return gauss_sample(key, *self.initial_dist(c))

    def transition_sample(self, key: Array, x_prev: Float[Array, " dx"], c: Float[Array, " dc"]):
        """Draw x_t ~ f(. | x_{t-1}, c_t)."""
        return gauss_sample(key, *self.transition_dist(x_prev, c))

    def log_joint(self, x: Float[Array, "T dx"], y: Float[Array, "T dy"]) -> Float[Array, ""]:
        """log p(x_{0:T-1}, y_{0:T-1}) (used by tests and the ELBO oracle)."""
        c = self.context(y)
        lp = self.initial_log_prob(x[0], c[0])
        lp = lp + jnp.sum(jax.vmap(self.transition_log_prob)(x[:-1], x[1:], c[1:]))
        return lp + jnp.sum(jax.vmap(self.emission_log_prob)(x, y, c))


class AbstractMarkovSSM(AbstractSSM):
    """A context-free model: ``c_t`` is empty, and simulation is the plain ancestral scan."""

    def context(self, y: Float[Array, "T dy"]) -> Float[Array, "T 0"]:
        """No per-step features: an empty ``(T, 0)`` array."""
        return jnp.zeros((y.shape[0], 0), dtype=y.dtype)

    def simulate(self, key: Array, T: int) -> tuple[Float[Array, "T dx"], Float[Array, "T dy"]]:
        """Draw ``(x_{0:T-1}, y_{0:T-1})`` by ancestral sampling."""
        check_length(T)
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
# proposals
# -------------------------------------------------------------------------------------------------
def observation_features(model: AbstractSSM, y: Float[Array, "T dy"]):
    """The per-step features of a proposal that reads ``y_t`` directly: ``(y, model context)``."""
    return (y, model.context(y))


class AbstractProposal(eqx.Module):
    """Sequential Gaussian proposal q(x_0 | ...), q(x_t | x_{t-1}, ...).

    ``a = proposal.features(model, y)`` (a pytree with leading axis T) is computed once per
    sequence; ``initial(model, a_0)`` and ``step(model, x_prev, a_t)`` return the ``(mean, scale)``
    of the Gaussian at t = 0 and t >= 1.
    """

    @abc.abstractmethod
    def features(self, model: AbstractSSM, y: Float[Array, "T dy"]):
        """Per-step features (a pytree with leading axis T)."""

    @abc.abstractmethod
    def initial(self, model: AbstractSSM, a) -> tuple[Array, Array]:
        """(mean, scale) of q(x_0 | a_0)."""

    @abc.abstractmethod
    def step(self, model: AbstractSSM, x_prev: Float[Array, " dx"], a) -> tuple[Array, Array]:
        """(mean, scale) of q(x_t | x_{t-1}, a_t)."""


class AbstractParallelProposal(AbstractProposal):
    """Parallel-in-time proposal: per-t Gaussians q_t(x_t | y_{0:T-1}), independent over t.

    It is also a sequential proposal whose ``step`` ignores ``x_prev``.
    """

    @abc.abstractmethod
    def marginals(self, model: AbstractSSM, y: Float[Array, "T dy"]) -> tuple[Array, Array]:
        """``(means (T, dx), scales (T, dx) or (T, dx, dx))`` of the per-t Gaussians."""

    def features(self, model, y):
        """The marginals themselves (the per-t Gaussians are the features)."""
        return self.marginals(model, y)

    def initial(self, model, a):
        """q_0: the t = 0 marginal."""
        return a

    def step(self, model, x_prev, a):
        """q_t: the marginal at t, whatever ``x_prev``."""
        return a
