"""Proposals and encoders q_phi for the Monte Carlo bounds.

Sequential interface (used by ``elbo``, ``iwae``, ``smc``): a proposal computes per-step features
``a = proposal.features(model, y)`` (a pytree with leading axis T) once, then

    proposal.initial(model, a_0)            -> (mean, scale) of q(x_0 | ...)
    proposal.step(model, x_prev, a_t)       -> (mean, scale) of q(x_t | x_{t-1}, ...)

All proposals here are Gaussian (``scale``: a vector of stds or a tril matrix). The model is passed
in so that a proposal can reuse the prior (bootstrap, residual "Resq" parameterization) and the
model's deterministic context ``c_t``.

Parallel interface (used by ``pvmc``): ``proposal.marginals(model, y) -> (means (T, dx),
scales (T, dx) or (T, dx, dx))``, per-t Gaussians q_t(x_t | y_{0:T-1}) that are sampled for all t at
once. Every parallel proposal is also a sequential one (its ``step`` ignores ``x_prev``), so the
same q can be used by all four bounds. The abstract bases are in :mod:`ssmbench.prob._base`.
"""

from __future__ import annotations

import math

import equinox as eqx
import jax
import jax.numpy as jnp
from jaxtyping import Array, Float

from ._base import AbstractParallelProposal, AbstractProposal, observation_features
from .classic import StochasticVolatility
from .gaussian import softplus_scale
from .kalman import rts_smoother
from .lgssm import LGSSM

__all__ = [
    "BootstrapProposal",
    "FilteringProposal",
    "SmoothingProposal",
    "GaussianMarginals",
    "ConvProposal",
    "sv_linearized_marginals",
]


class BootstrapProposal(AbstractProposal):
    """q = the model's prior: p(x_0 | c_0), then f(x_t | x_{t-1}, c_t) (the bootstrap filter)."""

    def features(self, model, y):
        """``(y, model context)``."""
        return observation_features(model, y)

    def initial(self, model, a):
        """p(x_0 | c_0)."""
        _, c = a
        return model.initial_dist(c)

    def step(self, model, x_prev, a):
        """f(x_t | x_{t-1}, c_t)."""
        _, c = a
        return model.transition_dist(x_prev, c)


def _resq(q, prior_mean, x_prev, h):
    """N(NN_mu([x_prev, h]) (+ prior_mean if ``q.residual``), softplus(NN_s([x_prev, h]))) from
    the MLP of a residual proposal ``q``."""
    out = q.mlp(jnp.concatenate([x_prev, h]))
    mean = out[: q._dx] + (prior_mean if q.residual else 0.0)
    return mean, softplus_scale(out[q._dx :], q.min_scale)


def _resq_initial(q, model, a):
    """q(x_0 | h_0) of a residual proposal: the MLP sees x_{-1} = 0, residual on the initial mean."""
    h, c = a
    return _resq(q, model.initial_dist(c)[0], jnp.zeros(q._dx, h.dtype), h)


def _resq_step(q, model, x_prev, a):
    """q(x_t | x_{t-1}, h_t) of a residual proposal, residual on the transition mean."""
    h, c = a
    return _resq(q, model.transition_dist(x_prev, c)[0], x_prev, h)


class FilteringProposal(AbstractProposal):
    """q(x_t | x_{t-1}, y_t) = N(mu_p(x_{t-1}) + NN_mu, softplus(NN_s)) ("Resq": residual on the
    prior mean when ``residual``). At t = 0 the MLP sees x_{-1} = 0 and the residual is on the
    model's initial mean."""

    mlp: eqx.nn.MLP
    residual: bool = eqx.field(static=True)
    min_scale: float = eqx.field(static=True)
    _dx: int = eqx.field(static=True)

    def __init__(self, state_dim: int, obs_dim: int, hidden: int = 32, *, key, residual=True,
                 dtype=None, min_scale: float = 1e-3):  # fmt: skip
        """A one-hidden-layer tanh MLP on ``[x_{t-1}, y_t]``."""
        dtype = dtype or jnp.zeros(()).dtype
        self.mlp = eqx.nn.MLP(state_dim + obs_dim, 2 * state_dim, hidden, 1, jax.nn.tanh, key=key, dtype=dtype)  # fmt: skip
        self.residual, self.min_scale, self._dx = residual, min_scale, state_dim

    def features(self, model, y):
        """``(y, model context)``."""
        return observation_features(model, y)

    def initial(self, model, a):
        """q(x_0 | y_0), residual on the model's initial mean."""
        return _resq_initial(self, model, a)

    def step(self, model, x_prev, a):
        """q(x_t | x_{t-1}, y_t), residual on the transition mean."""
        return _resq_step(self, model, x_prev, a)


class SmoothingProposal(AbstractProposal):
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
        """A backward GRU with ``hidden`` units and a one-hidden-layer tanh MLP."""
        dtype = dtype or jnp.zeros(()).dtype
        k1, k2 = jax.random.split(key)
        self.gru = eqx.nn.GRUCell(obs_dim, hidden, key=k1, dtype=dtype)
        self.mlp = eqx.nn.MLP(state_dim + hidden, 2 * state_dim, hidden, 1, jax.nn.tanh, key=k2, dtype=dtype)  # fmt: skip
        self.residual, self.min_scale, self._dx, self._dh = residual, min_scale, state_dim, hidden

    def features(self, model, y):
        """``(backward GRU states over y_{t:T-1}, model context)``."""

        def step(h, yt):
            h = self.gru(yt, h)
            return h, h

        _, hs = jax.lax.scan(step, jnp.zeros(self._dh, y.dtype), y, reverse=True)
        return (hs, model.context(y))

    def initial(self, model, a):
        """q(x_0 | a_0), residual on the model's initial mean."""
        return _resq_initial(self, model, a)

    def step(self, model, x_prev, a):
        """q(x_t | x_{t-1}, a_t), residual on the transition mean."""
        return _resq_step(self, model, x_prev, a)


class GaussianMarginals(AbstractParallelProposal):
    """Fixed per-t Gaussians (e.g. the exact RTS marginals, or the prior marginals)."""

    means: Float[Array, "T dx"]
    scales: Float[Array, "T dx ..."]

    def marginals(self, model, y):
        """The stored means and scales (their length must be that of ``y``)."""
        if self.means.shape[0] != y.shape[0]:
            raise ValueError(
                f"GaussianMarginals holds {self.means.shape[0]} time steps but y has {y.shape[0]}"
            )
        return self.means, self.scales

    @classmethod
    def from_kalman_smoother(cls, model: LGSSM, y, inflation: float = 1.0, shift: float = 0.0):
        """The exact smoothing marginals p(x_t | y) of an LGSSM (the optimal per-t proposal),
        with covariances scaled by ``inflation`` and means shifted by ``shift`` (a mismatch knob)."""
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


class ConvProposal(AbstractParallelProposal):
    """Non-causal 1-D CNN over y_{0:T-1}: two 'SAME'-padded convolutions give a per-t diagonal
    Gaussian q_t(x_t | y_{t-r:t+r}) (receptive field r = kernel_size - 1)."""

    conv1: eqx.nn.Conv1d
    conv2: eqx.nn.Conv1d
    min_scale: float = eqx.field(static=True)
    _dx: int = eqx.field(static=True)

    def __init__(self, state_dim: int, obs_dim: int, hidden: int = 32, kernel_size: int = 5, *,
                 key, dtype=None, min_scale: float = 1e-3):  # fmt: skip
        """Two convolutions of odd width ``kernel_size``, ``hidden`` channels in between."""
        if kernel_size % 2 == 0:
            raise ValueError(f"kernel_size must be odd, got {kernel_size}")
        dtype = dtype or jnp.zeros(()).dtype
        k1, k2 = jax.random.split(key)
        self.conv1 = eqx.nn.Conv1d(obs_dim, hidden, kernel_size, padding="SAME", key=k1, dtype=dtype)  # fmt: skip
        self.conv2 = eqx.nn.Conv1d(hidden, 2 * state_dim, kernel_size, padding="SAME", key=k2, dtype=dtype)  # fmt: skip
        self.min_scale, self._dx = min_scale, state_dim

    def marginals(self, model, y):
        """Per-t means and softplus scales from the CNN's ``2 dx`` output channels."""
        h = jax.nn.relu(self.conv1(y.T))
        out = self.conv2(h).T  # (T, 2 dx)
        return out[:, : self._dx], softplus_scale(out[:, self._dx :], self.min_scale)


_LOG_CHI2_MEAN = -1.2703628454614782  # E log(e^2), e ~ N(0, 1)
_LOG_CHI2_VAR = math.pi**2 / 2


def sv_linearized_marginals(model: StochasticVolatility, y, inflation: float = 1.0):
    """Per-t Gaussian proposal for SV: RTS marginals of the linear-Gaussian approximation
    log y_t^2 = x_t + 2 log beta + log e_t^2,  log e^2 ~ N(-1.27, pi^2/2) (Harvey et al. 1994)."""
    phi = jnp.tanh(model.phi_raw)
    sig = jnp.exp(model.log_sigma)
    d = model.state_dim
    diag = jnp.diag
    lin = LGSSM.from_covariances(
        model.mu,
        diag(sig**2 / (1 - phi**2)),
        diag(phi),
        diag(sig**2),
        jnp.eye(d, dtype=y.dtype),
        _LOG_CHI2_VAR * jnp.eye(d, dtype=y.dtype),
        b=model.mu * (1 - phi),
        d=2 * model.log_beta + _LOG_CHI2_MEAN,
    )
    z = jnp.log(y**2 + 1e-12)
    return GaussianMarginals.from_kalman_smoother(lin, z, inflation=inflation)
