"""Synthetic multivariate series for the Chimera checks (issue 23), generated offline.

``x[t] = z[t] + s[t] + r[t] + obs_sd * noise`` on V variates, where

- ``z`` is a VAR(1), ``z[t] = Φ z[t−1] + ε[t]``, ``ε ~ N(0, I)``, with
  ``Φ = rho I + kappa W`` (``W`` standard normal off the diagonal, zero on it), scaled down to
  spectral radius 0.95 when it exceeds that: ``kappa`` is the inter-variate coupling;
- ``s`` a seasonal term ``season_amp P[t mod period, v]`` (optional), with ``P`` a random
  profile (standard normal, standardised per variate). Not a sinusoid: a sinusoid obeys
  ``s_t = 2 cos(ω) s_{t−1} − s_{t−2}``, so two lags predict it and it would not test memory of
  the last period (measured: on sinusoidal data a least-squares VAR with p <= 12 lags was as
  good as the best p, ratio 1.00 on 3 seeds);
- ``r`` a slow trend ``trend_amp sin(2π t / (1.5 T) + ψ_v)`` (optional).

The series is standardised per variate with the training segment's mean and sd (the first
``train_frac`` of it); ``Phi_std = S⁻¹ Φ S`` is Φ in those units (S: the training sds).
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

__all__ = ["ChimeraSeries", "chimera_series", "splits"]


class ChimeraSeries(NamedTuple):
    """A standardised series and what generated it."""

    x: np.ndarray  # (T, V), standardised
    Phi: np.ndarray  # (V, V), the VAR(1) matrix in the raw units
    Phi_std: np.ndarray  # (V, V), in the standardised units
    sd: np.ndarray  # (V,) training-segment sds


def splits(T: int, train_frac: float = 0.6, val_frac: float = 0.2) -> tuple[int, int]:
    """``(n_train, n_train + n_val)``: the train, validation and test segments' boundaries."""
    n_tr = int(round(train_frac * T))
    return n_tr, n_tr + int(round(val_frac * T))


def chimera_series(
    seed: int,
    *,
    V: int = 8,
    T: int = 1024,
    kappa: float = 0.3,
    rho: float = 0.5,
    seasonal: bool = True,
    period: int = 24,
    season_amp: float = 3.0,
    trend: bool = True,
    trend_amp: float = 1.0,
    obs_sd: float = 0.1,
    burn_in: int = 200,
    train_frac: float = 0.6,
) -> ChimeraSeries:
    """One series (module docstring), float64, from ``numpy.random.default_rng(seed)``."""
    if V < 1 or T < 2 * period:
        raise ValueError(f"need V >= 1 and T >= 2 * period, got V={V}, T={T}")
    rng = np.random.default_rng(seed)
    W = rng.standard_normal((V, V))
    np.fill_diagonal(W, 0.0)
    Phi = rho * np.eye(V) + kappa * W
    radius = np.max(np.abs(np.linalg.eigvals(Phi)))
    if radius > 0.95:
        Phi = Phi * (0.95 / radius)
    z = np.zeros(V)
    zs = np.zeros((T, V))
    eps = rng.standard_normal((burn_in + T, V))
    for t in range(burn_in + T):
        z = Phi @ z + eps[t]
        if t >= burn_in:
            zs[t - burn_in] = z
    x = zs.copy()
    t = np.arange(T)[:, None]
    trend_phase = rng.uniform(0, 2 * np.pi, V)
    profile = rng.standard_normal((period, V))
    profile = (profile - profile.mean(0)) / profile.std(0)
    if seasonal:
        x = x + season_amp * profile[np.arange(T) % period]
    if trend:
        x = x + trend_amp * np.sin(2 * np.pi * t / (1.5 * T) + trend_phase[None, :])
    x = x + obs_sd * rng.standard_normal((T, V))
    n_tr = int(round(train_frac * T))
    mean, sd = x[:n_tr].mean(0), x[:n_tr].std(0)
    x = (x - mean) / sd
    return ChimeraSeries(x, Phi, Phi / sd[:, None] * sd[None, :], sd)
