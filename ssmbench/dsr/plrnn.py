"""The latent model of convSSM, a clipped shallow PLRNN, and its HRF observation model.

- :class:`AbstractLatentModel`: the family of latent maps ``z_t = F(z_{t−1})`` (an unbatched
  :meth:`~AbstractLatentModel.step`), with the free-running generator
  :meth:`~AbstractLatentModel.generate` (a ``lax.scan``) and the Jacobian of the map.
- :class:`ShallowPLRNN` (clipped): ``F(z) = A ⊙ z + W₁[ReLU(W₂ z + h₂) − ReLU(W₂ z)] + h₁``,
  ``A`` a diagonal (a vector), ``W₁`` M×H, ``W₂`` H×M; initialized as the authors do (``A`` the
  diagonal of a normalized positive-definite matrix, ``W₁``, ``W₂``, ``h₂`` uniform in
  ``±1/√fan-in``, ``h₁ = 0``). Its slow reference is :func:`plrnn_step_reference` (numpy loops).
- :class:`ConvSSM`: the PLRNN plus the readout ``B`` (N×M): ``x̂_t = B · Σ_k hrf_k z_{t−k}``.
  With ``fixed_readout`` (the default) ``B = [I_N 0]`` is held fixed (``stop_gradient``), the
  identity observation model of the authors' Lorenz runs; otherwise ``B`` is trained from that
  start. No nuisance regressors (left out).
"""

from __future__ import annotations

import abc

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, ArrayLike, Float

__all__ = ["AbstractLatentModel", "ShallowPLRNN", "ConvSSM", "plrnn_step_reference"]


class AbstractLatentModel(eqx.Module):
    """A deterministic latent map ``z_t = F(z_{t−1})`` on ``latent_dim`` dimensions."""

    latent_dim: eqx.AbstractVar[int]

    @abc.abstractmethod
    def step(self, z: Float[Array, " M"]) -> Float[Array, " M"]:
        """One step of the map (unbatched; vmap outside)."""

    def __call__(self, z: Float[Array, " M"]) -> Float[Array, " M"]:
        """The map: ``self.step(z)``."""
        return self.step(z)

    def generate(self, z0: Float[Array, " M"], n_steps: int) -> Float[Array, "n M"]:
        """The free-running trajectory ``z_1, ..., z_n`` from ``z0`` (a ``lax.scan``)."""
        if isinstance(n_steps, bool) or not isinstance(n_steps, int) or n_steps < 1:
            raise ValueError(f"n_steps must be a positive integer, got {n_steps!r}")

        def body(z, _):
            z = self.step(z)
            return z, z

        return jax.lax.scan(body, z0, None, length=n_steps)[1]

    def jacobian(self, z: Float[Array, " M"]) -> Float[Array, "M M"]:
        """The Jacobian ``∂F/∂z`` at ``z`` (``jax.jacfwd``)."""
        return jax.jacfwd(self.step)(z)


class ShallowPLRNN(AbstractLatentModel):
    """The clipped shallow PLRNN (module docstring)."""

    A: Float[Array, " M"]
    W1: Float[Array, "M H"]
    W2: Float[Array, "H M"]
    h1: Float[Array, " M"]
    h2: Float[Array, " H"]
    latent_dim: int = eqx.field(static=True)
    hidden_dim: int = eqx.field(static=True)

    def __init__(self, latent_dim: int, hidden_dim: int, *, key: jax.Array, dtype=None):
        """Authors' initialization (module docstring); ``dtype`` default: JAX's default float."""
        for name, v in (("latent_dim", latent_dim), ("hidden_dim", hidden_dim)):
            if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < 1:
                raise ValueError(f"{name} must be a positive integer, got {v!r}")
        dtype = dtype or jnp.result_type(float)
        M, H = int(latent_dim), int(hidden_dim)
        k_r, k1, k2, kh = jax.random.split(key, 4)
        R = jax.random.normal(k_r, (M, M), dtype)
        P = R.T @ R / M + jnp.eye(M, dtype=dtype)
        P = P / jnp.max(jnp.abs(jnp.linalg.eigvalsh(P)))
        self.A = jnp.diag(P)
        self.W1 = jax.random.uniform(k1, (M, H), dtype, -1.0, 1.0) / jnp.sqrt(jnp.asarray(H, dtype))
        self.W2 = jax.random.uniform(k2, (H, M), dtype, -1.0, 1.0) / jnp.sqrt(jnp.asarray(M, dtype))
        self.h1 = jnp.zeros((M,), dtype)
        self.h2 = jax.random.uniform(kh, (H,), dtype, -1.0, 1.0) / jnp.sqrt(jnp.asarray(H, dtype))
        self.latent_dim, self.hidden_dim = M, H

    def step(self, z: Float[Array, " M"]) -> Float[Array, " M"]:
        """``A ⊙ z + W₁[ReLU(W₂ z + h₂) − ReLU(W₂ z)] + h₁``."""
        w2z = self.W2 @ z
        return self.A * z + self.W1 @ (jax.nn.relu(w2z + self.h2) - jax.nn.relu(w2z)) + self.h1


def plrnn_step_reference(model: ShallowPLRNN, z: ArrayLike) -> np.ndarray:
    """:meth:`ShallowPLRNN.step` by explicit Python loops over units (float64 numpy): the oracle."""
    A, W1, W2 = (np.asarray(a, np.float64) for a in (model.A, model.W1, model.W2))
    h1, h2 = np.asarray(model.h1, np.float64), np.asarray(model.h2, np.float64)
    z = np.asarray(z, np.float64)
    M, H = W1.shape
    hidden = np.zeros(H)
    for j in range(H):
        a = sum(W2[j, i] * z[i] for i in range(M))
        hidden[j] = max(a + h2[j], 0.0) - max(a, 0.0)
    out = np.zeros(M)
    for i in range(M):
        out[i] = A[i] * z[i] + sum(W1[i, j] * hidden[j] for j in range(H)) + h1[i]
    return out


class ConvSSM(eqx.Module):
    """A :class:`ShallowPLRNN` with the HRF readout ``x̂_t = B · Σ_k hrf_k z_{t−k}`` (module
    docstring). The HRF is data, passed to the loss, not a parameter."""

    latent: ShallowPLRNN
    B: Float[Array, "N M"]
    fixed_readout: bool = eqx.field(static=True)

    def __init__(
        self,
        obs_dim: int,
        latent_dim: int,
        hidden_dim: int,
        *,
        key: jax.Array,
        fixed_readout: bool = True,
        dtype=None,
    ):
        """A PLRNN on ``latent_dim >= obs_dim`` dimensions and ``B = [I_N 0]``."""
        if isinstance(obs_dim, bool) or not isinstance(obs_dim, (int, np.integer)) or obs_dim < 1:
            raise ValueError(f"obs_dim must be a positive integer, got {obs_dim!r}")
        if isinstance(latent_dim, (int, np.integer)) and latent_dim < obs_dim:
            raise ValueError(
                f"latent_dim must be >= obs_dim = {obs_dim} (the first obs_dim latents are "
                f"forced), got {latent_dim!r}"
            )
        self.latent = ShallowPLRNN(latent_dim, hidden_dim, key=key, dtype=dtype)
        self.B = jnp.eye(obs_dim, int(latent_dim), dtype=self.latent.A.dtype)
        self.fixed_readout = bool(fixed_readout)

    @property
    def obs_dim(self) -> int:
        """N, the number of observed series."""
        return self.B.shape[0]

    @property
    def latent_dim(self) -> int:
        """M, the latent dimension."""
        return self.latent.latent_dim

    def readout_matrix(self) -> Float[Array, "N M"]:
        """``B`` (with its gradient stopped when the readout is fixed)."""
        return jax.lax.stop_gradient(self.B) if self.fixed_readout else self.B

    def readout(self, z: Float[Array, "T M"]) -> Float[Array, "T N"]:
        """``B z_t`` for every row of ``z`` (before the HRF)."""
        return z @ self.readout_matrix().T

    def init_state(self, d0: Float[Array, " N"]) -> Float[Array, " M"]:
        """The window's first state: ``z = (d0, 0, ..., 0)`` (NaN entries of ``d0`` read as 0)."""
        d0 = jnp.where(jnp.isnan(d0), 0.0, d0)
        return jnp.concatenate([d0, jnp.zeros((self.latent_dim - self.obs_dim,), d0.dtype)])
