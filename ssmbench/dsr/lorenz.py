"""Lorenz-63 ground truth and its BOLD-like observation (data only: no training, no metrics).

- :func:`lorenz63`: the vector field ``(σ(y − x), x(ρ − z) − y, xy − βz)``, σ, ρ, β = 10, 28, 8/3.
- :func:`simulate_lorenz`: a trajectory solved by diffrax (Tsit5, adaptive steps, rtol = atol =
  1e-9), sampled every ``dt`` time units after a ``burn_in`` from a random initial condition.
- :func:`lorenz_bold`: the benchmark data. A standardized Lorenz trajectory ``z`` (each
  coordinate to mean 0, sd 1 over the series) of ``T + K − 1`` samples; the BOLD-like signal
  ``x_t = Σ_k hrf_k z_{t−k}`` (the valid convolution, ``T`` samples) plus Gaussian observation
  noise of sd ``noise`` times the sd of each clean column (a relative noise level); the latent
  ``z`` aligned with ``x`` (its last ``T`` samples) and the standardization's mean and sd (to
  standardize a longer reference trajectory the same way).
"""

from __future__ import annotations

from typing import NamedTuple

import diffrax
import jax
import jax.numpy as jnp
from jaxtyping import Array, Float

from ._checks import check_hrf
from .hrf import hrf_convolve

__all__ = ["LORENZ_PARAMS", "LORENZ_LAMBDA_MAX", "lorenz63", "simulate_lorenz", "LorenzBold",
           "lorenz_bold"]  # fmt: skip

#: σ, ρ, β of the chaotic Lorenz-63 system.
LORENZ_PARAMS = (10.0, 28.0, 8.0 / 3.0)
#: Its largest Lyapunov exponent per time unit (the literature value the paper quotes).
LORENZ_LAMBDA_MAX = 0.9056


def lorenz63(t: float, u: Float[Array, " 3"], args=None) -> Float[Array, " 3"]:
    """The Lorenz-63 vector field at state ``u`` (diffrax's ``(t, y, args)`` signature; ``args``
    may be ``(σ, ρ, β)``, default :data:`LORENZ_PARAMS`)."""
    s, r, b = LORENZ_PARAMS if args is None else args
    x, y, z = u[0], u[1], u[2]
    return jnp.stack([s * (y - x), x * (r - z) - y, x * y - b * z])


def simulate_lorenz(
    key: jax.Array, n: int, *, dt: float = 0.01, burn_in: float = 20.0, dtype=None
) -> Float[Array, "n 3"]:
    """``n`` samples, ``dt`` apart, of a Lorenz-63 trajectory (diffrax, Tsit5) started at
    ``(1, 1, 25) + N(0, 5² I)`` (``key``) and run for ``burn_in`` time units first."""
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ValueError(f"n must be a positive integer, got {n!r}")
    if not dt > 0:
        raise ValueError(f"dt must be > 0, got {dt!r}")
    dtype = dtype or jnp.result_type(float)
    u0 = jnp.asarray([1.0, 1.0, 25.0], dtype) + 5.0 * jax.random.normal(key, (3,), dtype)
    ts = burn_in + dt * jnp.arange(n, dtype=dtype)
    sol = diffrax.diffeqsolve(
        diffrax.ODETerm(lorenz63), diffrax.Tsit5(), t0=0.0, t1=float(ts[-1]), dt0=dt / 4, y0=u0,
        saveat=diffrax.SaveAt(ts=ts), stepsize_controller=diffrax.PIDController(rtol=1e-9, atol=1e-9),
        max_steps=64 * n + 16384,
    )  # fmt: skip
    return sol.ys


class LorenzBold(NamedTuple):
    """What :func:`lorenz_bold` returns (see its module docstring)."""

    x: Array  # (T, 3) BOLD-like observations
    z: Array  # (T, 3) the standardized latent aligned with x
    x_clean: Array  # (T, 3) observations before noise
    mean: Array  # (3,) of the raw trajectory, for standardizing a reference
    sd: Array  # (3,)


def lorenz_bold(
    key: jax.Array,
    T: int,
    hrf: Float[Array, " K"],
    *,
    noise: float = 0.01,
    dt: float = 0.01,
    burn_in: float = 20.0,
) -> LorenzBold:
    """The benchmark series: standardized Lorenz-63 convolved with ``hrf``, plus relative noise
    (module docstring). ``T`` observations; the trajectory has ``T + K − 1`` samples."""
    K = check_hrf(hrf)
    if isinstance(T, bool) or not isinstance(T, int) or T < K:
        raise ValueError(f"T must be an integer >= the HRF length {K}, got {T!r}")
    if not noise >= 0:
        raise ValueError(f"noise must be >= 0, got {noise!r}")
    k_traj, k_noise = jax.random.split(key)
    raw = simulate_lorenz(k_traj, T + K - 1, dt=dt, burn_in=burn_in, dtype=hrf.dtype)
    mean, sd = jnp.mean(raw, axis=0), jnp.std(raw, axis=0)
    z = (raw - mean[None, :]) / sd[None, :]
    clean = hrf_convolve(z, hrf)
    eps = jax.random.normal(k_noise, clean.shape, clean.dtype)
    x = clean + noise * jnp.std(clean, axis=0)[None, :] * eps
    return LorenzBold(x=x, z=z[K - 1 :], x_clean=clean, mean=mean, sd=sd)
