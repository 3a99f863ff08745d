"""Offline data generators for the probabilistic-SSM trainers, with train/validation/test splits.

Every generator simulates independent sequences from a known model with NumPy (independently of
``ssmbench.prob``, so the simulators double as a cross-check of the models' densities) and returns
a :class:`SequenceTask`: observations ``(n, T, dy)`` and latent states ``(n, T, dx)`` per split,
plus the true parameters. Sequences have ``T`` points, ``t = 0..T-1``.

- :func:`lgssm_task`: linear-Gaussian SSM, ``d_x = d_y = 5`` by default (PVMC's LG setting). The
  true parameters are fixed by ``param_seed`` (default 0), the sequences by ``seed``.
- :func:`stochastic_volatility_task`: ``x_t = mu + phi (x_{t-1} - mu) + sigma nu_t``,
  ``y_t = beta exp(x_t / 2) e_t``, stationary start.
- :func:`lotka_volterra_task`: stochastic Lotka-Volterra in log-populations (one Euler-Maruyama
  step of the Ito SDE per observation), Poisson counts ``y_t ~ Poisson(obs_scale * exp(x_t))``;
  the PVMC paper's rates alpha, beta, gamma, zeta = 6, 2, 6, 4, sigma = 0.15, dt = 3/256 (its
  observation model, fixed start and population-space steps are not the paper's: a variant).
- :func:`lotka_volterra_paper_task`: the PVMC paper's own setting, populations stepped by one
  Milstein step per observation from the fixed start (2, 5), counts
  ``y_t,i ~ Poisson(5 / (1 + exp(4 - v_i)))`` with ``v = (5 u_0, u_0 u_1)``.

The conventions (Cholesky factors, stationary SV start, Ito correction) are those of the models
in ``ssmbench.prob``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

__all__ = [
    "SequenceTask",
    "lgssm_params",
    "lgssm_task",
    "stochastic_volatility_task",
    "lotka_volterra_task",
    "lotka_volterra_paper_task",
]


@dataclass(frozen=True)
class SequenceTask:
    """Observations ``y_*`` with shape ``(n, T, dy)`` and true latent states ``x_*`` with shape
    ``(n, T, dx)`` for the train / validation / test splits, and the true parameters."""

    name: str
    y_train: np.ndarray
    y_val: np.ndarray
    y_test: np.ndarray
    x_train: np.ndarray
    x_val: np.ndarray
    x_test: np.ndarray
    params: dict[str, Any] = field(default_factory=dict)

    @property
    def T(self) -> int:
        """Sequence length."""
        return int(self.y_train.shape[1])

    @property
    def obs_dim(self) -> int:
        """Observation dimension."""
        return int(self.y_train.shape[2])

    @property
    def state_dim(self) -> int:
        """Latent state dimension of the generating model."""
        return int(self.x_train.shape[2])


def _check_sizes(T: int, n_train: int, n_val: int, n_test: int) -> None:
    """Refuse a non-positive length or split size."""
    if T < 2:
        raise ValueError(f"T must be >= 2, got {T}")
    for name, n in (("n_train", n_train), ("n_val", n_val), ("n_test", n_test)):
        if n < 1:
            raise ValueError(f"{name} must be >= 1, got {n}")


def _split(name, x, y, n_train, n_val, params) -> SequenceTask:
    """Split simulated sequences into train/validation/test parts of a SequenceTask."""
    a, b = n_train, n_train + n_val
    return SequenceTask(name, y[:a], y[a:b], y[b:], x[:a], x[a:b], x[b:], params)


def lgssm_params(
    state_dim: int = 5, obs_dim: int = 5, *, param_seed: int = 0, rho: float = 0.9
) -> dict[str, np.ndarray]:
    """True LGSSM parameters: A with spectral radius ``rho``, C ~ N(0, 1/d_x), Q = 0.5 I + W W^T / d_x
    (W ~ N(0, 0.3^2)), R = 0.5 I, x_0 ~ N(0, I). Returns covariance matrices (not Cholesky factors)."""
    rng = np.random.default_rng(param_seed)
    A = rng.standard_normal((state_dim, state_dim))
    A = rho * A / np.max(np.abs(np.linalg.eigvals(A)))
    C = rng.standard_normal((obs_dim, state_dim)) / np.sqrt(state_dim)
    W = 0.3 * rng.standard_normal((state_dim, state_dim))
    Q = 0.5 * np.eye(state_dim) + W @ W.T / state_dim
    return {
        "m0": np.zeros(state_dim),
        "P0": np.eye(state_dim),
        "A": A,
        "Q": Q,
        "C": C,
        "R": 0.5 * np.eye(obs_dim),
    }


def lgssm_task(
    T: int = 100,
    *,
    seed: int = 0,
    n_train: int = 16,
    n_val: int = 4,
    n_test: int = 8,
    state_dim: int = 5,
    obs_dim: int = 5,
    param_seed: int = 0,
) -> SequenceTask:
    """Sequences from the LGSSM of :func:`lgssm_params` (true parameters in ``task.params``)."""
    _check_sizes(T, n_train, n_val, n_test)
    p = lgssm_params(state_dim, obs_dim, param_seed=param_seed)
    rng = np.random.default_rng(seed)
    n = n_train + n_val + n_test
    LQ, LR, LP0 = (np.linalg.cholesky(p[k]) for k in ("Q", "R", "P0"))
    x = np.empty((n, T, state_dim))
    x[:, 0] = p["m0"] + rng.standard_normal((n, state_dim)) @ LP0.T
    for t in range(1, T):
        x[:, t] = x[:, t - 1] @ p["A"].T + rng.standard_normal((n, state_dim)) @ LQ.T
    y = x @ p["C"].T + rng.standard_normal((n, T, obs_dim)) @ LR.T
    return _split("lgssm", x, y, n_train, n_val, p)


def stochastic_volatility_task(
    T: int = 500,
    *,
    seed: int = 0,
    n_train: int = 16,
    n_val: int = 4,
    n_test: int = 8,
    mu: float = 0.0,
    phi: float = 0.95,
    sigma: float = 0.3,
    beta: float = 0.7,
) -> SequenceTask:
    """Univariate stochastic-volatility sequences with a stationary start N(mu, sigma^2/(1-phi^2))."""
    _check_sizes(T, n_train, n_val, n_test)
    if not -1 < phi < 1:
        raise ValueError(f"phi must be in (-1, 1), got {phi}")
    rng = np.random.default_rng(seed)
    n = n_train + n_val + n_test
    x = np.empty((n, T, 1))
    x[:, 0] = mu + sigma / np.sqrt(1 - phi**2) * rng.standard_normal((n, 1))
    for t in range(1, T):
        x[:, t] = mu + phi * (x[:, t - 1] - mu) + sigma * rng.standard_normal((n, 1))
    y = beta * np.exp(x / 2) * rng.standard_normal((n, T, 1))
    params = {"mu": mu, "phi": phi, "sigma": sigma, "beta": beta}
    return _split("stochastic_volatility", x, y, n_train, n_val, params)


def lotka_volterra_task(
    T: int = 256,
    *,
    seed: int = 0,
    n_train: int = 16,
    n_val: int = 4,
    n_test: int = 8,
    alpha: float = 6.0,
    beta: float = 2.0,
    gamma: float = 6.0,
    zeta: float = 4.0,
    sigma: float = 0.15,
    dt: float = 3 / 256,
    u0: tuple[float, float] = (1.0, 2.0),
    x0_scale: float = 0.1,
    obs_scale: float = 10.0,
) -> SequenceTask:
    """Lotka-Volterra log-populations ``x`` (Euler-Maruyama, one step per observation) and Poisson
    counts ``y_t ~ Poisson(obs_scale * exp(x_t))``; the initial populations are jittered per
    sequence, ``x_0 ~ N(log u0, x0_scale^2)``."""
    _check_sizes(T, n_train, n_val, n_test)
    rng = np.random.default_rng(seed)
    n = n_train + n_val + n_test
    x = np.empty((n, T, 2))
    x[:, 0] = np.log(np.asarray(u0)) + x0_scale * rng.standard_normal((n, 2))
    for t in range(1, T):
        u = np.exp(x[:, t - 1])
        growth = np.stack([alpha - beta * u[:, 1], zeta * u[:, 0] - gamma], axis=-1)
        x[:, t] = (
            x[:, t - 1]
            + (growth - 0.5 * sigma**2) * dt
            + sigma * np.sqrt(dt) * rng.standard_normal((n, 2))
        )
    y = rng.poisson(obs_scale * np.exp(x)).astype(float)
    params = dict(alpha=alpha, beta=beta, gamma=gamma, zeta=zeta, sigma=sigma, dt=dt, u0=u0,
                  x0_scale=x0_scale, obs_scale=obs_scale)  # fmt: skip
    return _split("lotka_volterra", x, y, n_train, n_val, params)


def lotka_volterra_paper_task(
    T: int = 256,
    *,
    seed: int = 0,
    n_train: int = 16,
    n_val: int = 4,
    n_test: int = 8,
    alpha: float = 6.0,
    beta: float = 2.0,
    gamma: float = 6.0,
    zeta: float = 4.0,
    sigma: float = 0.15,
    dt: float = 3 / 256,
    u0: tuple[float, float] = (2.0, 5.0),
) -> SequenceTask:
    """The PVMC paper's Lotka-Volterra setting: states are the populations ``u = (prey, predator)``
    themselves (not their logs), stepped by one Milstein step of ``du_i = drift_i(u) dt +
    sigma u_i dW_i`` per observation,

        u_t = u_{t-1} + drift(u_{t-1}) dt + u_{t-1} (sigma dW + sigma^2 (dW^2 - dt) / 2),

    ``dW ~ N(0, dt)`` per component, drift ``((alpha - beta u_1) u_0, (zeta u_0 - gamma) u_1)``,
    from the same fixed start ``u0`` for every sequence (observed at t = 0 too). Counts
    ``y_t,i ~ Poisson(5 / (1 + exp(4 - v_i)))`` with ``v = (5 u_0, u_0 u_1)``. The authors simulate
    257 points (``T = 257`` here) and split 100/50/100 sequences.

    The noise factor ``1 + sigma dW + sigma^2 (dW^2 - dt) / 2`` is always positive (for
    ``sigma^2 dt < 1``), so only a drift step could make a population non-positive; nothing is
    clipped: a ValueError naming the seed is raised if that ever happens (it does not on seeds 0-4
    at the defaults).
    """
    _check_sizes(T, n_train, n_val, n_test)
    rng = np.random.default_rng(seed)
    n = n_train + n_val + n_test
    u = np.empty((n, T, 2))
    u[:, 0] = np.asarray(u0, dtype=float)
    for t in range(1, T):
        p = u[:, t - 1]
        drift = p * np.stack([alpha - beta * p[:, 1], zeta * p[:, 0] - gamma], axis=-1)
        dw = np.sqrt(dt) * rng.standard_normal((n, 2))
        u[:, t] = p + drift * dt + p * (sigma * dw + 0.5 * sigma**2 * (dw**2 - dt))
        if not np.all(u[:, t] > 0):
            raise ValueError(
                f"lotka_volterra_paper_task(seed={seed}): a population became non-positive at "
                f"t = {t}; use a smaller dt or another seed"
            )
    v = np.stack([5.0 * u[..., 0], u[..., 0] * u[..., 1]], axis=-1)
    y = rng.poisson(5.0 / (1.0 + np.exp(4.0 - v))).astype(float)
    params = dict(alpha=alpha, beta=beta, gamma=gamma, zeta=zeta, sigma=sigma, dt=dt, u0=u0,
                  obs_max_rate=5.0, obs_offset=4.0, obs_prey_scale=5.0, variant="paper")  # fmt: skip
    return _split("lotka_volterra_paper", u, y, n_train, n_val, params)
