"""The linear-Gaussian state space model (exact inference: :mod:`ssmbench.prob.kalman`)."""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
from jaxtyping import Array, Float

from ._base import AbstractMarkovSSM
from .gaussian import gauss_log_prob, gauss_sample

__all__ = ["LGSSM"]


class LGSSM(AbstractMarkovSSM):
    """x_0 ~ N(m0, P0), x_t = A x_{t-1} + b + N(0, Q), y_t = C x_t + d + N(0, R).

    Covariances are stored as (unconstrained, ``tril``-ed) Cholesky factors. The exact
    log-likelihood is ``kalman_filter(model, y).log_likelihood``.
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
        """Check the shapes against ``A`` (dx) and ``C`` (dy) and store the parameters."""
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
        """Build from covariance matrices (Cholesky-factorized here)."""
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
        # the integer exponents in the default float dtype (as implicit promotion would give)
        power = (jnp.abs(i[:, None] - i[None, :]) + 1).astype(jnp.result_type(float))
        A = (0.42**power).astype(dtype)
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
        """d_x, the rows of A."""
        return self.A.shape[0]

    @property
    def obs_dim(self) -> int:
        """d_y, the rows of C."""
        return self.C.shape[0]

    def covariances(self) -> tuple[Array, Array, Array]:
        """(P0, Q, R) as full covariance matrices."""
        f = lambda L: jnp.tril(L) @ jnp.tril(L).T  # noqa: E731
        return f(self.P0_chol), f(self.Q_chol), f(self.R_chol)

    def initial_dist(self, c):
        """N(m0, P0)."""
        return self.m0, self.P0_chol

    def transition_dist(self, x_prev, c):
        """N(A x_{t-1} + b, Q)."""
        return self.A @ x_prev + self.b, self.Q_chol

    def emission_log_prob(self, x, y, c):
        """log N(y_t; C x_t + d, R)."""
        return gauss_log_prob(y, self.C @ x + self.d, self.R_chol)

    def emission_sample(self, key, x, c):
        """Draw y_t ~ N(C x_t + d, R)."""
        return gauss_sample(key, self.C @ x + self.d, self.R_chol)
