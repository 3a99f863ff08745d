"""Proposals and encoders q_phi for the Monte Carlo bounds.

Sequential interface (used by ``elbo``, ``iwae``, ``smc``): a proposal computes per-step features
``a = proposal.features(model, y)`` (a pytree with leading axis T) once, then

    proposal.initial(model, a_0)            -> (mean, scale) of q(x_0 | ...)
    proposal.step(model, x_prev, a_t)       -> (mean, scale) of q(x_t | x_{t-1}, ...)

All proposals here are Gaussian (``scale``: a vector of stds or a tril matrix). The model is passed
in so that a proposal can reuse the prior (bootstrap, residual "Resq" parameterisation) and the
model's deterministic context ``c_t``.

Parallel interface (used by ``pvmc``): ``proposal.marginals(model, y) -> (means (T, dx),
scales (T, dx) or (T, dx, dx))``, per-t Gaussians q_t(x_t | y_{0:T-1}) that are sampled for all t at
once. Every parallel proposal is also a sequential one (its ``step`` ignores ``x_prev``), so the
same q can be used by all four bounds.
"""

from __future__ import annotations

import equinox as eqx
import jax
import jax.numpy as jnp
from jaxtyping import Array, Float

from .models import LGSSM, SSM

__all__ = [
    "Proposal",
    "BootstrapProposal",
    "FilteringProposal",
    "SmoothingProposal",
    "ParallelProposal",
    "GaussianMarginals",
    "ConvProposal",
]


def _softplus_scale(raw, min_scale):
    return jax.nn.softplus(raw) + min_scale


class Proposal(eqx.Module):
    """Base class: sequential Gaussian proposal."""

    def features(self, model: SSM, y: Float[Array, "T dy"]):
        """Per-step features (pytree with leading axis T). Default: (y, model context)."""
        return (y, model.context(y))

    def initial(self, model: SSM, a) -> tuple[Array, Array]:
        raise NotImplementedError

    def step(self, model: SSM, x_prev: Float[Array, " dx"], a) -> tuple[Array, Array]:
        raise NotImplementedError


class BootstrapProposal(Proposal):
    """q = the model's prior: p(x_0 | c_0), then f(x_t | x_{t-1}, c_t) (the bootstrap filter)."""

    def initial(self, model, a):
        _, c = a
        return model.initial_dist(c)

    def step(self, model, x_prev, a):
        _, c = a
        return model.transition_dist(x_prev, c)


class FilteringProposal(Proposal):
    """q(x_t | x_{t-1}, y_t) = N(mu_p(x_{t-1}) + NN_mu, softplus(NN_s)) ("Resq": residual on the
    prior mean when ``residual``). At t = 0 the MLP sees x_{-1} = 0 and the residual is on the
    model's initial mean."""

    mlp: eqx.nn.MLP
    residual: bool = eqx.field(static=True)
    min_scale: float = eqx.field(static=True)
    _dx: int = eqx.field(static=True)

    def __init__(self, state_dim: int, obs_dim: int, hidden: int = 32, *, key, residual=True,
                 dtype=None, min_scale: float = 1e-3):  # fmt: skip
        dtype = dtype or jnp.zeros(()).dtype
        self.mlp = eqx.nn.MLP(state_dim + obs_dim, 2 * state_dim, hidden, 1, jax.nn.tanh, key=key, dtype=dtype)  # fmt: skip
        self.residual, self.min_scale, self._dx = residual, min_scale, state_dim

    def _gauss(self, prior_mean, x_prev, yt):
        out = self.mlp(jnp.concatenate([x_prev, yt]))
        mean = out[: self._dx] + (prior_mean if self.residual else 0.0)
        return mean, _softplus_scale(out[self._dx :], self.min_scale)

    def initial(self, model, a):
        yt, c = a
        return self._gauss(model.initial_dist(c)[0], jnp.zeros(self._dx, yt.dtype), yt)

    def step(self, model, x_prev, a):
        yt, c = a
        return self._gauss(model.transition_dist(x_prev, c)[0], x_prev, yt)


class SmoothingProposal(Proposal):
    """DKS/SRNN structured inference: a backward GRU over ``y_{t:T-1}`` gives ``a_t``, and
    q(x_t | x_{t-1}, a_t) = N(mu_p(x_{t-1}) + NN_mu([x_{t-1}, a_t]), softplus(NN_s))."""

    gru: eqx.nn.GRUCell
    mlp: eqx.nn.MLP
    residual: bool = eqx.field(static=True)
    min_scale: float = eqx.field(static=True)
    _dx: int = eqx.field(static=True)
    _dh: int = eqx.field(static=True)

    def __init__(self, state_dim: int, obs_dim: int, hidden: int = 32, *, key, residual=True,
                 dtype=None, min_scale: float = 1e-3):  # fmt: skip
        dtype = dtype or jnp.zeros(()).dtype
        k1, k2 = jax.random.split(key)
        self.gru = eqx.nn.GRUCell(obs_dim, hidden, key=k1, dtype=dtype)
        self.mlp = eqx.nn.MLP(state_dim + hidden, 2 * state_dim, hidden, 1, jax.nn.tanh, key=k2, dtype=dtype)  # fmt: skip
        self.residual, self.min_scale, self._dx, self._dh = residual, min_scale, state_dim, hidden

    def features(self, model, y):
        def step(h, yt):
            h = self.gru(yt, h)
            return h, h

        _, hs = jax.lax.scan(step, jnp.zeros(self._dh, y.dtype), y, reverse=True)
        return (hs, model.context(y))

    def _gauss(self, prior_mean, x_prev, h):
        out = self.mlp(jnp.concatenate([x_prev, h]))
        mean = out[: self._dx] + (prior_mean if self.residual else 0.0)
        return mean, _softplus_scale(out[self._dx :], self.min_scale)

    def initial(self, model, a):
        h, c = a
        return self._gauss(model.initial_dist(c)[0], jnp.zeros(self._dx, h.dtype), h)

    def step(self, model, x_prev, a):
        h, c = a
        return self._gauss(model.transition_dist(x_prev, c)[0], x_prev, h)


class ParallelProposal(Proposal):
    """Base class of parallel-in-time proposals q(x_t | y_{0:T-1}), independent over t."""

    def marginals(self, model: SSM, y: Float[Array, "T dy"]) -> tuple[Array, Array]:
        raise NotImplementedError

    def features(self, model, y):
        return self.marginals(model, y)

    def initial(self, model, a):
        return a

    def step(self, model, x_prev, a):
        return a


class GaussianMarginals(ParallelProposal):
    """Fixed per-t Gaussians (e.g. the exact RTS marginals, or the prior marginals)."""

    means: Float[Array, "T dx"]
    scales: Float[Array, "T dx ..."]

    def marginals(self, model, y):
        if self.means.shape[0] != y.shape[0]:
            raise ValueError(
                f"GaussianMarginals holds {self.means.shape[0]} time steps but y has {y.shape[0]}"
            )
        return self.means, self.scales

    @classmethod
    def from_kalman_smoother(cls, model: LGSSM, y, inflation: float = 1.0, shift: float = 0.0):
        """The exact smoothing marginals p(x_t | y) of an LGSSM (the optimal per-t proposal),
        with covariances scaled by ``inflation`` and means shifted by ``shift`` (a mismatch knob)."""
        from .kalman import rts_smoother

        sm = rts_smoother(model, y)
        chol = jnp.linalg.cholesky(sm.smoothed_covs * inflation)
        return cls(sm.smoothed_means + shift, chol)

    @classmethod
    def prior_marginals(cls, model: LGSSM, T: int):
        """The prior marginals p(x_t) of an LGSSM (the proposal that ignores y)."""
        P0, Q, _ = model.covariances()

        def step(carry, _):
            m, P = carry
            m, P = model.A @ m + model.b, model.A @ P @ model.A.T + Q
            return (m, P), (m, P)

        _, (ms, Ps) = jax.lax.scan(step, (model.m0, P0), None, length=T - 1)
        ms = jnp.concatenate([model.m0[None], ms])
        Ps = jnp.concatenate([P0[None], Ps])
        return cls(ms, jnp.linalg.cholesky(Ps))


class ConvProposal(ParallelProposal):
    """Non-causal 1-D CNN over y_{0:T-1}: two 'SAME'-padded convolutions give a per-t diagonal
    Gaussian q_t(x_t | y_{t-r:t+r}) (receptive field r = kernel_size - 1)."""

    conv1: eqx.nn.Conv1d
    conv2: eqx.nn.Conv1d
    min_scale: float = eqx.field(static=True)
    _dx: int = eqx.field(static=True)

    def __init__(self, state_dim: int, obs_dim: int, hidden: int = 32, kernel_size: int = 5, *,
                 key, dtype=None, min_scale: float = 1e-3):  # fmt: skip
        if kernel_size % 2 == 0:
            raise ValueError(f"kernel_size must be odd, got {kernel_size}")
        dtype = dtype or jnp.zeros(()).dtype
        k1, k2 = jax.random.split(key)
        self.conv1 = eqx.nn.Conv1d(obs_dim, hidden, kernel_size, padding="SAME", key=k1, dtype=dtype)  # fmt: skip
        self.conv2 = eqx.nn.Conv1d(hidden, 2 * state_dim, kernel_size, padding="SAME", key=k2, dtype=dtype)  # fmt: skip
        self.min_scale, self._dx = min_scale, state_dim

    def marginals(self, model, y):
        h = jax.nn.relu(self.conv1(y.T))
        out = self.conv2(h).T  # (T, 2 dx)
        return out[:, : self._dx], _softplus_scale(out[:, self._dx :], self.min_scale)
