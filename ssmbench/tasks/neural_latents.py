"""Latent-dynamics tasks with neuron-like observations (XFADS's settings, generated offline).

- :func:`van_der_pol_trials`: a van der Pol oscillator (mu = 1.5) observed through ``obs_dim``
  Gaussian "neurons" (a random linear readout plus noise);
- :func:`poisson_spiral_trials`: a 2-D spiral LDS (a damped rotation driven by noise) observed
  through ``obs_dim`` Poisson neurons with log-linear rates.

Each returns a :class:`LatentTrials` with the observations, the true latents and the noiseless
linear predictor ``eta = C x + d`` (the Gaussian means, or the Poisson log-rates), which is what
forecasts are scored against. The readout is drawn from ``key`` with the trials, so a seed fixes
a whole task.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import jax
import jax.numpy as jnp
from jaxtyping import Array, Float

__all__ = ["LatentTrials", "van_der_pol_trials", "poisson_spiral_trials"]


class LatentTrials(NamedTuple):
    """``y`` (n, T, dy) observations, ``x`` (n, T, dx) true latents, ``eta`` (n, T, dy) the
    noiseless linear predictor ``C x + d``, and the readout ``(C, d)``."""

    y: Float[Array, "n T dy"]
    x: Float[Array, "n T dx"]
    eta: Float[Array, "n T dy"]
    C: Float[Array, "dy dx"]
    d: Float[Array, " dy"]


def _check(n_trials: int, T: int, obs_dim: int) -> None:
    """Positive sizes."""
    for name, v in (("n_trials", n_trials), ("T", T), ("obs_dim", obs_dim)):
        if v < 1:
            raise ValueError(f"{name} must be >= 1, got {v}")


def _vdp_drift(x: Float[Array, " 2"], mu: float) -> Float[Array, " 2"]:
    """The van der Pol vector field: (x2, mu (1 - x1^2) x2 - x1)."""
    return jnp.stack([x[1], mu * (1.0 - x[0] ** 2) * x[1] - x[0]])


def van_der_pol_trials(
    key: Array,
    n_trials: int,
    T: int,
    *,
    mu: float = 1.5,
    dt: float = 0.1,
    substeps: int = 5,
    obs_dim: int = 100,
    obs_noise: float = 0.5,
    process_noise: float = 0.05,
    dtype=jnp.float32,
) -> LatentTrials:
    """``n_trials`` trials of ``T`` bins of width ``dt``: RK4 with ``substeps`` per bin plus
    Gaussian noise of sd ``process_noise * sqrt(dt)`` per bin, starts uniform in [-2.5, 2.5]^2;
    readout rows unit-norm, offsets N(0, 1), observation noise sd ``obs_noise``."""
    _check(n_trials, T, obs_dim)
    kc, kd, k0, kw, kv = jax.random.split(key, 5)
    C = jax.random.normal(kc, (obs_dim, 2), dtype)
    C = C / jnp.linalg.norm(C, axis=1, keepdims=True)
    d = jax.random.normal(kd, (obs_dim,), dtype)
    h = dt / substeps

    def rk4(x, _):
        k1 = _vdp_drift(x, mu)
        k2 = _vdp_drift(x + 0.5 * h * k1, mu)
        k3 = _vdp_drift(x + 0.5 * h * k2, mu)
        k4 = _vdp_drift(x + h * k3, mu)
        return x + h / 6.0 * (k1 + 2 * k2 + 2 * k3 + k4), None

    def bin_step(x, w):
        x, _ = jax.lax.scan(rk4, x, None, length=substeps)
        x = x + process_noise * math.sqrt(dt) * w
        return x, x

    def trial(x0, ws):
        _, xs = jax.lax.scan(bin_step, x0, ws[1:])
        return jnp.concatenate([x0[None], xs])

    x0 = jax.random.uniform(k0, (n_trials, 2), dtype, -2.5, 2.5)
    x = jax.vmap(trial)(x0, jax.random.normal(kw, (n_trials, T, 2), dtype))
    eta = jnp.einsum("ntk,dk->ntd", x, C) + d[None, None, :]
    y = eta + obs_noise * jax.random.normal(kv, eta.shape, dtype)
    return LatentTrials(y, x, eta, C, d)


def poisson_spiral_trials(
    key: Array,
    n_trials: int,
    T: int,
    *,
    obs_dim: int = 50,
    rho: float = 0.98,
    period: float = 25.0,
    noise: float = 0.15,
    init_scale: float = 2.0,
    base_rate: float = 0.5,
    gain: float = 0.6,
    dtype=jnp.float32,
) -> LatentTrials:
    """``x_t = rho R(2 pi / period) x_{t-1} + N(0, noise^2 I)``, ``x_0 ~ N(0, init_scale^2 I)``;
    ``y_t ~ Poisson(exp(C x_t + d))`` with readout rows of norm ``gain`` and ``d = log
    base_rate``."""
    _check(n_trials, T, obs_dim)
    kc, k0, kw, ky = jax.random.split(key, 4)
    C = jax.random.normal(kc, (obs_dim, 2), dtype)
    C = gain * C / jnp.linalg.norm(C, axis=1, keepdims=True)
    d = jnp.full((obs_dim,), math.log(base_rate), dtype)
    w = 2 * math.pi / period
    A = rho * jnp.array([[math.cos(w), -math.sin(w)], [math.sin(w), math.cos(w)]], dtype)

    def trial(x0, ws):
        def step(x, wt):
            x = A @ x + noise * wt
            return x, x

        _, xs = jax.lax.scan(step, x0, ws[1:])
        return jnp.concatenate([x0[None], xs])

    x0 = init_scale * jax.random.normal(k0, (n_trials, 2), dtype)
    x = jax.vmap(trial)(x0, jax.random.normal(kw, (n_trials, T, 2), dtype))
    eta = jnp.einsum("ntk,dk->ntd", x, C) + d[None, None, :]
    y = jax.random.poisson(ky, jnp.exp(eta)).astype(dtype)
    return LatentTrials(y, x, eta, C, d)
