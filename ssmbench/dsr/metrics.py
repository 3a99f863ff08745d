"""Reconstruction metrics of DSR: geometry (D_stsp) and temporal structure (D_H).

- :func:`state_space_divergence` (D_stsp): ``KL(p̂_data ‖ p̂_gen)`` of the state-space
  occupation. Below 6 dimensions by binning (:func:`occupation_histogram`): 30 bins per
  dimension over ``[min − 0.1σ, max + 0.1σ]`` of the *data* (σ its sd, ``ddof = 1``), points
  outside the box not counted, Laplace smoothing ``(n_b + α) / (Σ n + α · #bins)`` with
  ``α = 1e-5``; NaN when no generated point falls in the box or the generated series is not
  finite (a diverged model). From 6 dimensions on, the authors' Gaussian-mixture estimate
  (:func:`gmm_kl_divergence`): a mixture with one Gaussian N(x_t, σ² I) (σ² = 0.3, the authors'
  ``D_stsp_scaling``) per time step of each
  series (at most ``max_T`` steps), KL by Monte Carlo over ``n_samples`` draws from the data's
  mixture (Hershey & Olsen 2007).
- :func:`power_spectrum_distance` (D_H): z-score each column, ``|rfft|²``, smooth with a
  Gaussian of sd 20 frequency bins (:func:`gaussian_smooth`: scipy's ``gaussian_filter1d``,
  reflect padding, radius ``⌊4σ + 0.5⌋``), clip at 0, normalize to sum 1, then the Hellinger
  distance ``(1/√2)‖√p − √q‖`` per column, averaged over columns. Both series must have the
  same length.

Host-side numpy (float64): these run once per trained model, on up to 10⁵ × 3 points.
"""

from __future__ import annotations

import math

import numpy as np
from jaxtyping import ArrayLike

__all__ = [
    "occupation_histogram",
    "occupation_histogram_reference",
    "state_space_divergence",
    "gmm_kl_divergence",
    "gaussian_smooth",
    "power_spectrum",
    "power_spectrum_distance",
    "hellinger_distance",
    "BINNING_MAX_DIM",
]

#: Binning below this many dimensions, the Gaussian-mixture estimate from it on.
BINNING_MAX_DIM = 6


def _pair(x: ArrayLike, y: ArrayLike, same_length: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """Validate two ``(T, N)`` series with the same N (and T when asked); float64 numpy."""
    x, y = np.asarray(x, np.float64), np.asarray(y, np.float64)
    for name, v in (("x_true", x), ("x_gen", y)):
        if v.ndim != 2 or v.shape[0] < 2 or v.shape[1] < 1:
            raise ValueError(f"{name} must be an array of shape (T, N) with T >= 2, got {v.shape}")
    if x.shape[1] != y.shape[1]:
        raise ValueError(f"x_true and x_gen must have the same columns, got {x.shape}, {y.shape}")
    if same_length and x.shape[0] != y.shape[0]:
        raise ValueError(f"x_true and x_gen must have the same length, got {x.shape}, {y.shape}")
    if not np.all(np.isfinite(x)):
        raise ValueError("x_true must be finite (the data)")
    return x, y


def _box(x: np.ndarray, bins: int) -> tuple[np.ndarray, np.ndarray]:
    """The lower edges and bin widths of the data's box ``[min − 0.1σ, max + 0.1σ]``."""
    sd = x.std(axis=0, ddof=1)
    lo, hi = x.min(axis=0) - 0.1 * sd, x.max(axis=0) + 0.1 * sd
    return lo, (hi - lo) / bins


def occupation_histogram(x: ArrayLike, lo: ArrayLike, width: ArrayLike, bins: int) -> np.ndarray:
    """Counts of the rows of ``x`` in a regular grid of ``bins`` per dimension from ``lo`` with
    bin ``width`` (flattened, C order); rows outside the grid are not counted (the last bin is
    closed on the right, as in numpy's ``histogramdd``)."""
    x, lo, width = np.asarray(x, np.float64), np.asarray(lo, np.float64), np.asarray(width)
    pos = (x - lo[None, :]) / width[None, :]
    inside = np.all((pos >= 0) & (pos <= bins), axis=1)
    idx = np.minimum(np.floor(pos[inside]).astype(np.int64), bins - 1)
    flat = np.ravel_multi_index(tuple(idx.T), (bins,) * x.shape[1])
    return np.bincount(flat, minlength=bins ** x.shape[1]).astype(np.float64)


def occupation_histogram_reference(x: ArrayLike, lo: ArrayLike, width: ArrayLike, bins: int):
    """:func:`occupation_histogram` by a Python loop over the rows: the oracle."""
    x = np.asarray(x, np.float64)
    N = x.shape[1]
    counts = np.zeros(bins**N)
    for row in x:
        flat = 0
        for i in range(N):
            p = (row[i] - lo[i]) / width[i]
            if not 0 <= p <= bins:
                break
            flat = flat * bins + min(int(math.floor(p)), bins - 1)
        else:
            counts[flat] += 1
    return counts


def _laplace(h: np.ndarray, alpha: float) -> np.ndarray:
    """Laplace-smoothed probabilities ``(h + α) / (Σ h + α · #bins)``."""
    return (h + alpha) / (h.sum() + alpha * h.size)


def state_space_divergence(
    x_true: ArrayLike,
    x_gen: ArrayLike,
    *,
    bins: int = 30,
    smoothing: float = 1e-5,
    gmm_sigma2: float = 0.3,
    seed: int = 0,
) -> float:
    """D_stsp = KL(data ‖ generated) of the state-space occupation (module docstring); NaN for a
    non-finite or wholly out-of-box generated series. ``gmm_sigma2``, ``seed``: of the
    Gaussian-mixture estimate (6 or more dimensions)."""
    x, y = _pair(x_true, x_gen)
    if not np.all(np.isfinite(y)):
        return math.nan
    if x.shape[1] >= BINNING_MAX_DIM:
        return gmm_kl_divergence(x, y, sigma2=gmm_sigma2, seed=seed)
    lo, width = _box(x, bins)
    hx = occupation_histogram(x, lo, width, bins)
    hy = occupation_histogram(y, lo, width, bins)
    if hy.sum() == 0:
        return math.nan
    p, q = _laplace(hx, smoothing), _laplace(hy, smoothing)
    return float(np.sum(p * np.log(p / q)))


def _gmm_logpdf(s: np.ndarray, mu: np.ndarray, sigma2: float) -> np.ndarray:
    """Log density at the rows of ``s`` of the equal-weight mixture of N(mu_t, σ² I)."""
    d2 = (s**2).sum(1)[:, None] + (mu**2).sum(1)[None, :] - 2.0 * s @ mu.T
    a = -0.5 * np.maximum(d2, 0.0) / sigma2
    m = a.max(axis=1, keepdims=True)
    lse = m[:, 0] + np.log(np.exp(a - m).sum(axis=1))
    return lse - math.log(mu.shape[0]) - 0.5 * s.shape[1] * math.log(2 * math.pi * sigma2)


def gmm_kl_divergence(
    x_true: ArrayLike,
    x_gen: ArrayLike,
    *,
    sigma2: float = 0.3,
    n_samples: int = 1000,
    max_T: int = 10_000,
    seed: int = 0,
) -> float:
    """Monte Carlo ``KL(p ‖ q)`` between the Gaussian mixtures ``p`` (data) and ``q``
    (generated), one N(x_t, σ² I) per row of the first ``max_T`` rows; ``n_samples`` draws from
    ``p`` with numpy's generator seeded by ``seed``. NaN for a non-finite generated series."""
    x, y = _pair(x_true, x_gen)
    if not np.all(np.isfinite(y)):
        return math.nan
    if not sigma2 > 0:
        raise ValueError(f"sigma2 must be > 0, got {sigma2!r}")
    x, y = x[:max_T], y[:max_T]
    rng = np.random.default_rng(seed)
    s = x[rng.integers(0, x.shape[0], n_samples)]
    s = s + math.sqrt(sigma2) * rng.standard_normal(s.shape)
    return float(np.mean(_gmm_logpdf(s, x, sigma2) - _gmm_logpdf(s, y, sigma2)))


def gaussian_smooth(p: ArrayLike, sigma: float) -> np.ndarray:
    """Gaussian smoothing of every column (scipy's ``gaussian_filter1d``: reflect padding
    ``d c b a | a b c d``, radius ``⌊4σ + 0.5⌋``); ``sigma = 0`` returns the input."""
    p = np.asarray(p, np.float64)
    if sigma == 0:
        return p.copy()
    if not sigma > 0:
        raise ValueError(f"sigma must be >= 0, got {sigma!r}")
    r = int(4.0 * sigma + 0.5)
    k = np.exp(-0.5 * (np.arange(-r, r + 1) / sigma) ** 2)
    k /= k.sum()
    padded = np.pad(p, ((r, r), (0, 0)), mode="symmetric")
    return np.stack([np.convolve(padded[:, j], k, mode="valid") for j in range(p.shape[1])], 1)


def power_spectrum(x: ArrayLike, sigma: float = 20.0) -> np.ndarray:
    """The spectrum D_H compares: every column z-scored, ``|rfft|²``, Gaussian-smoothed
    (:func:`gaussian_smooth`), clipped at 0 and normalized to sum 1."""
    x = np.asarray(x, np.float64)
    z = (x - x.mean(0)[None, :]) / x.std(0, ddof=1)[None, :]
    ps = gaussian_smooth(np.abs(np.fft.rfft(z, axis=0)) ** 2, sigma)
    ps = np.maximum(ps, 0.0)
    return ps / ps.sum(0)[None, :]


def hellinger_distance(p: ArrayLike, q: ArrayLike) -> np.ndarray:
    """``(1/√2)‖√p − √q‖`` of every column of two probability arrays."""
    p, q = np.asarray(p, np.float64), np.asarray(q, np.float64)
    return np.sqrt(np.sum((np.sqrt(p) - np.sqrt(q)) ** 2, axis=0)) / math.sqrt(2.0)


def power_spectrum_distance(x_true: ArrayLike, x_gen: ArrayLike, *, sigma: float = 20.0) -> float:
    """D_H, the mean over columns of the Hellinger distance between the smoothed power spectra
    (module docstring); NaN for a non-finite or constant generated series."""
    x, y = _pair(x_true, x_gen, same_length=True)
    if not np.all(np.isfinite(y)) or np.any(y.std(0) == 0):
        return math.nan
    return float(np.mean(hellinger_distance(power_spectrum(x, sigma), power_spectrum(y, sigma))))
