"""Simulation-based-inference tasks: a simulator, a prior and a likelihood-based model per task.

T-SNL (Tsampourakis & Elvira, arXiv 2605.21805) benchmarks three state space models; a task here
bundles, for one of them, the simulator ``simulate(key, theta, T) -> y (T, d_y)``, the prior over
the unknown ``theta`` (shape ``(theta_dim,)``), the true parameter of the benchmark and
``model(theta)``: the same law as an :mod:`ssmbench.prob` model, so that
``ssmbench.prob.smc(key, task.model(theta), BootstrapProposal(), y, N)`` gives the particle
estimate of log p(y | theta) that PMMH needs (the authors' own particle filter is biased; see
``shared/papers/new-systems.md``).

The simulators are written here (their own ``lax.scan``), not through ``model(theta).simulate``,
so that the tests can check the two against each other.

- :class:`LGSSMTask`: the linear-Gaussian benchmark (d = 1..6), unknown log-sds of a diagonal Q.
- :class:`SVTask`: the 2-D correlated stochastic volatility benchmark, unknown correlation.
- Lotka-Volterra by Gillespie simulation: :mod:`ssmbench.sbi.lv` (:class:`LVTask`).

(No ``from __future__ import annotations``: equinox reads ``AbstractVar`` annotations as objects.)
"""

import abc
import math

import equinox as eqx
import jax
import jax.numpy as jnp
from jaxtyping import Array, Float

from ssmbench.prob import LGSSM, AbstractMarkovSSM, AbstractSSM, kalman_filter
from ssmbench.prob.gaussian import gauss_log_prob

from ._checks import check_length

__all__ = ["AbstractSBITask", "LGSSMTask", "SVTask", "CorrelatedSV"]

_LOG_2PI = math.log(2.0 * math.pi)


def _std_normal_log_prob(theta: Float[Array, " p"]) -> Float[Array, ""]:
    """log N(theta; 0, I)."""
    return -0.5 * jnp.sum(theta**2) - 0.5 * theta.shape[0] * _LOG_2PI


class AbstractSBITask(eqx.Module):
    """A simulator with a prior over ``theta`` (shape ``(theta_dim,)``) and a true parameter.

    Final classes implement ``simulate_joint`` (states and observations), the prior, the true
    parameter and ``model(theta)``; ``simulate`` and ``simulate_batch`` are shared.
    """

    theta_dim: eqx.AbstractVar[int]
    obs_dim: eqx.AbstractVar[int]

    @property
    @abc.abstractmethod
    def theta_true(self) -> Float[Array, " p"]:
        """The parameter the benchmark's observed series is simulated with."""

    @abc.abstractmethod
    def simulate_joint(
        self, key: Array, theta: Float[Array, " p"], T: int
    ) -> tuple[Float[Array, "T dx"], Float[Array, "T dy"]]:
        """Draw the latent states and the observations ``(x (T, d_x), y (T, d_y))`` given theta."""

    @abc.abstractmethod
    def prior_sample(self, key: Array) -> Float[Array, " p"]:
        """Draw theta from the prior (default float dtype)."""

    @abc.abstractmethod
    def prior_log_prob(self, theta: Float[Array, " p"]) -> Float[Array, ""]:
        """log p(theta) under the prior."""

    @abc.abstractmethod
    def model(self, theta: Float[Array, " p"]) -> AbstractSSM:
        """The simulator's law as an :mod:`ssmbench.prob` model (for ``smc`` / PMMH)."""

    def check_theta(self, theta: object, name: str = "theta") -> None:
        """Raise a ValueError unless ``theta`` is a floating array of shape ``(theta_dim,)``."""
        shape = tuple(getattr(theta, "shape", ()))
        if not hasattr(theta, "dtype") or shape != (self.theta_dim,):
            raise ValueError(
                f"{name} must be an array of shape ({self.theta_dim},) for "
                f"{type(self).__name__}; got {type(theta).__name__} of shape {shape}"
            )
        if not jnp.issubdtype(theta.dtype, jnp.floating):  # type: ignore[attr-defined]
            raise ValueError(f"{name} must have a floating dtype, got {theta.dtype}")  # type: ignore[attr-defined]

    def simulate(self, key: Array, theta: Float[Array, " p"], T: int) -> Float[Array, "T dy"]:
        """Draw the observations ``y_{0:T-1}`` (shape ``(T, obs_dim)``) given theta."""
        return self.simulate_joint(key, theta, T)[1]

    def simulate_batch(
        self, key: Array, thetas: Float[Array, "n p"], T: int
    ) -> Float[Array, "n T dy"]:
        """One series per row of ``thetas`` (independent keys), stacked: ``(n, T, obs_dim)``."""
        if getattr(thetas, "ndim", 0) != 2:
            shape = tuple(getattr(thetas, "shape", ()))
            raise ValueError(f"thetas must have shape (n, {self.theta_dim}), got {shape}")
        self.check_theta(thetas[0], "thetas[i]")
        keys = jax.random.split(key, thetas.shape[0])
        return jax.vmap(lambda k, th: self.simulate(k, th, T))(keys, thetas)


# -------------------------------------------------------------------------------------------------
# LGSSM
# -------------------------------------------------------------------------------------------------
_LG_A, _LG_R, _LG_P0 = 0.9, 0.1, 0.1


@jax.jit
def _kalman_log_lik(model: LGSSM, y: Array) -> Array:
    """``kalman_filter(model, y).log_likelihood``, compiled once per shape."""
    return kalman_filter(model, y).log_likelihood


class LGSSMTask(AbstractSBITask):
    """T-SNL's LGSSM: x_0 ~ N(0, 0.1 I), x_t = 0.9 x_{t-1} + N(0, Q), y_t = x_t + N(0, 0.1 I).

    d = ``state_dim`` = d_y = theta_dim. The unknown is the log standard deviations of a diagonal
    Q, ``Q = diag(exp(2 theta))`` (the authors' log-diagonal Cholesky factor), with prior
    N(0, I) and truth ``log sqrt(0.1)`` in each coordinate (Q = 0.1 I). ``model(theta)`` is an
    :class:`ssmbench.prob.LGSSM`, and ``exact_log_lik`` its Kalman log-likelihood.
    """

    state_dim: int = eqx.field(static=True)

    def __init__(self, state_dim: int = 1):
        """``state_dim`` = d, a positive integer (the benchmark uses 1..6)."""
        check_length(state_dim, "state_dim")
        self.state_dim = int(state_dim)

    @property
    def theta_dim(self) -> int:
        """d (one log-sd per state coordinate)."""
        return self.state_dim

    @property
    def obs_dim(self) -> int:
        """d (C = I)."""
        return self.state_dim

    @property
    def theta_true(self) -> Float[Array, " p"]:
        """``log sqrt(0.1)`` (about -1.1513) in each coordinate."""
        return jnp.full((self.state_dim,), 0.5 * math.log(0.1))

    def prior_sample(self, key: Array) -> Float[Array, " p"]:
        """theta ~ N(0, I)."""
        return jax.random.normal(key, (self.state_dim,), jnp.result_type(float))

    def prior_log_prob(self, theta: Float[Array, " p"]) -> Float[Array, ""]:
        """log N(theta; 0, I)."""
        self.check_theta(theta)
        return _std_normal_log_prob(theta)

    def simulate_joint(
        self, key: Array, theta: Float[Array, " p"], T: int
    ) -> tuple[Float[Array, "T dx"], Float[Array, "T dy"]]:
        """Ancestral simulation by a ``lax.scan`` over the state noise."""
        self.check_theta(theta)
        check_length(T)
        d, dt = self.state_dim, theta.dtype
        k0, kx, ky = jax.random.split(key, 3)
        x0 = math.sqrt(_LG_P0) * jax.random.normal(k0, (d,), dt)
        noise = jnp.exp(theta)[None, :] * jax.random.normal(kx, (T - 1, d), dt)

        def step(x_prev, e):
            x = _LG_A * x_prev + e
            return x, x

        _, xs = jax.lax.scan(step, x0, noise)
        x = jnp.concatenate([x0[None, :], xs])
        return x, x + math.sqrt(_LG_R) * jax.random.normal(ky, (T, d), dt)

    def model(self, theta: Float[Array, " p"]) -> LGSSM:
        """The :class:`ssmbench.prob.LGSSM` with ``Q_chol = diag(exp(theta))``."""
        self.check_theta(theta)
        d, dt = self.state_dim, theta.dtype
        eye, zero = jnp.eye(d, dtype=dt), jnp.zeros(d, dt)
        return LGSSM(
            m0=zero, P0_chol=math.sqrt(_LG_P0) * eye, A=_LG_A * eye, b=zero,
            Q_chol=jnp.diag(jnp.exp(theta)), C=eye, d=zero, R_chol=math.sqrt(_LG_R) * eye,
        )  # fmt: skip

    def exact_log_lik(self, theta: Float[Array, " p"], y: Float[Array, "T dy"]) -> Float[Array, ""]:
        """log p(y | theta) by the Kalman filter (jitted)."""
        return _kalman_log_lik(self.model(theta), y)


# -------------------------------------------------------------------------------------------------
# stochastic volatility with correlated observation noise
# -------------------------------------------------------------------------------------------------
_SV_PHI = 0.91


def _corr_chol_2d(rho: Float[Array, ""]) -> Float[Array, "2 2"]:
    """The Cholesky factor of [[1, rho], [rho, 1]]: [[1, 0], [rho, sqrt(1 - rho^2)]]."""
    one, zero = jnp.ones((), rho.dtype), jnp.zeros((), rho.dtype)
    return jnp.stack([jnp.stack([one, zero]), jnp.stack([rho, jnp.sqrt(1.0 - rho**2)])])


class CorrelatedSV(AbstractMarkovSSM):
    """x_0 ~ N(0, diag(init_scale^2)), x_t = phi x_{t-1} + N(0, diag(noise_scale^2)),
    y_t ~ N(0, D_t C D_t) with D_t = diag(exp(x_t / 2)) and C = corr_chol corr_chol^T.

    The model of :class:`SVTask` (``y_t = D_t L r_t``, ``r_t ~ N(0, I)``); the emission
    log-density uses the triangular scale ``D_t L`` of ``D_t C D_t``.
    """

    phi: Float[Array, " d"]
    init_scale: Float[Array, " d"]
    noise_scale: Float[Array, " d"]
    corr_chol: Float[Array, "d d"]

    def __init__(self, phi, init_scale, noise_scale, corr_chol):
        """Check that the four parameters share one dimension d and store them."""
        d = corr_chol.shape[0]
        for name, v, shp in [
            ("phi", phi, (d,)),
            ("init_scale", init_scale, (d,)),
            ("noise_scale", noise_scale, (d,)),
            ("corr_chol", corr_chol, (d, d)),
        ]:
            if tuple(jnp.shape(v)) != shp:
                raise ValueError(f"CorrelatedSV: {name} must have shape {shp}, got {jnp.shape(v)}")
        self.phi, self.init_scale, self.noise_scale = phi, init_scale, noise_scale
        self.corr_chol = corr_chol

    @property
    def state_dim(self) -> int:
        """d."""
        return self.phi.shape[0]

    @property
    def obs_dim(self) -> int:
        """d."""
        return self.phi.shape[0]

    def initial_dist(self, c):
        """N(0, diag(init_scale^2))."""
        return jnp.zeros_like(self.phi), self.init_scale

    def transition_dist(self, x_prev, c):
        """N(phi x_{t-1}, diag(noise_scale^2))."""
        return self.phi * x_prev, self.noise_scale

    def emission_log_prob(self, x, y, c):
        """log N(y_t; 0, D_t C D_t) through the lower-triangular scale ``D_t L``."""
        return gauss_log_prob(y, jnp.zeros_like(y), jnp.exp(0.5 * x)[:, None] * self.corr_chol)

    def emission_sample(self, key, x, c):
        """Draw ``y_t = D_t L r_t``."""
        r = jax.random.normal(key, x.shape, x.dtype)
        return jnp.exp(0.5 * x) * (self.corr_chol @ r)


class SVTask(AbstractSBITask):
    """T-SNL's stochastic volatility benchmark at d = 2 with an unknown noise correlation.

    x_0 ~ N(0, I) (the authors' ``initial_covariance``), x_t = 0.91 x_{t-1} + N(0, I),
    y_t = diag(exp(x_t / 2)) L r_t, r_t ~ N(0, I), L the Cholesky factor of the correlation
    matrix C = [[1, rho], [rho, 1]] with ``rho = tanh(theta)``; theta has shape (1,), prior
    N(0, 1), truth 0.5755 (rho about 0.519).

    Differences from the authors' code, on purpose: (1) the parameterisation ``rho = tanh(theta)``
    of the off-diagonal is ours; theirs is the "vecl of log C" (at d = 2 both are one real
    number, but the priors over rho differ). (2) Their simulator adds observation noise
    N(0, 0.1 I) that their log-probability omits; that mismatch is not copied: the simulator and
    ``model(theta)`` here are one law, with no extra observation noise. (3) The facts file
    writes ``diag(e^{x_t})``; we use the standard ``exp(x_t / 2)`` (variance ``e^{x_t}``).
    """

    @property
    def theta_dim(self) -> int:
        """1 (the correlation, through tanh)."""
        return 1

    @property
    def obs_dim(self) -> int:
        """2."""
        return 2

    @property
    def theta_true(self) -> Float[Array, " p"]:
        """``[0.5755]``."""
        return jnp.full((1,), 0.5755)

    def prior_sample(self, key: Array) -> Float[Array, " p"]:
        """theta ~ N(0, 1)."""
        return jax.random.normal(key, (1,), jnp.result_type(float))

    def prior_log_prob(self, theta: Float[Array, " p"]) -> Float[Array, ""]:
        """log N(theta; 0, 1)."""
        self.check_theta(theta)
        return _std_normal_log_prob(theta)

    def simulate_joint(
        self, key: Array, theta: Float[Array, " p"], T: int
    ) -> tuple[Float[Array, "T dx"], Float[Array, "T dy"]]:
        """Ancestral simulation by a ``lax.scan`` over the volatility noise."""
        self.check_theta(theta)
        check_length(T)
        dt = theta.dtype
        L = _corr_chol_2d(jnp.tanh(theta[0]))
        k0, kx, ky = jax.random.split(key, 3)
        x0 = jax.random.normal(k0, (2,), dt)

        def step(x_prev, e):
            x = _SV_PHI * x_prev + e
            return x, x

        _, xs = jax.lax.scan(step, x0, jax.random.normal(kx, (T - 1, 2), dt))
        x = jnp.concatenate([x0[None, :], xs])
        r = jax.random.normal(ky, (T, 2), dt)
        return x, jnp.exp(0.5 * x) * (r @ L.T)

    def model(self, theta: Float[Array, " p"]) -> CorrelatedSV:
        """The :class:`CorrelatedSV` with phi = 0.91, unit noises and ``rho = tanh(theta)``."""
        self.check_theta(theta)
        ones = jnp.ones(2, theta.dtype)
        return CorrelatedSV(_SV_PHI * ones, ones, ones, _corr_chol_2d(jnp.tanh(theta[0])))
