"""Wiener deconvolution of an HRF-convolved signal: the forcing signal of convSSM's GTF.

For each column ``x`` (length ``T``) of the observations, with ``X = FFT(x)`` and
``H = FFT(hrf zero-padded to T)`` (unnormalized DFTs of length ``T``)::

    d = IFFT( X · conj(H) · S / (|H|² · S + T σ̂²) )        (= X · conj(H) / (|H|² + T σ̂² / S))

- **σ̂**: :func:`noise_sd`, the robust wavelet estimate of the noise level: the median absolute
  deviation (about the median) of the level-1 Haar detail coefficients
  ``(x_{2i} − x_{2i+1}) / √2`` divided by 0.6745 (Donoho's estimator; the Haar/"db1" level-1
  detail of PyWavelets up to the sign, implemented here with its loop oracle
  :func:`haar_detail_reference`). ``T σ̂²`` is the expected ``|FFT(noise)|²`` of white noise.
- **S** (the signal power per frequency): spectral subtraction, ``S_f = max(|X_f|² − T σ̂², 0)``,
  the periodogram of ``x`` less the expected noise power. It stands in for the authors'
  ``|FFT(wavelet-denoised x)|²``; where ``S_f = 0`` (noise-dominated frequencies) the gain is 0.
  With ``noise_sd = 0`` the filter is the plain inverse filter ``X / H`` (where ``X_f ≠ 0``).
- **Edges**: the circular DFT wraps the series around, and the last samples' responses fall
  beyond its end, so the first ``⌊0.25 K⌋`` and the last ``⌊0.5 K⌋`` samples of ``d`` (``K``
  the HRF length) are undefined and set to NaN (not used for forcing).

Alignment: ``d_t`` estimates ``z_t`` in ``x_t = Σ_k hrf_k z_{t−k}``.
"""

from __future__ import annotations

import math

import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, ArrayLike, Float

from ._checks import check_hrf, check_series

__all__ = [
    "haar_detail",
    "haar_detail_reference",
    "noise_sd",
    "edge_widths",
    "wiener_deconvolve",
    "MAD_TO_SD",
]

#: The median of |N(0, 1)|: a robust sd is MAD / 0.6745.
MAD_TO_SD = 0.6745


def haar_detail(x: Float[Array, "T N"]) -> Float[Array, "T2 N"]:
    """Level-1 Haar detail coefficients ``(x_{2i} − x_{2i+1}) / √2`` of every column (an odd
    last sample is dropped)."""
    check_series(x, "x", min_length=2)
    n = (x.shape[0] // 2) * 2
    return (x[0:n:2] - x[1:n:2]) / jnp.sqrt(jnp.asarray(2.0, x.dtype))


def haar_detail_reference(x: ArrayLike) -> np.ndarray:
    """:func:`haar_detail` by a Python loop (float64 numpy): the oracle."""
    x = np.asarray(x, np.float64)
    out = np.zeros((x.shape[0] // 2, x.shape[1]))
    for i in range(x.shape[0] // 2):
        out[i] = (x[2 * i] - x[2 * i + 1]) / math.sqrt(2.0)
    return out


def noise_sd(x: Float[Array, "T N"]) -> Float[Array, " N"]:
    """Robust noise sd of every column: MAD of the level-1 Haar details / 0.6745."""
    d = haar_detail(x)
    med = jnp.median(d, axis=0)
    return jnp.median(jnp.abs(d - med[None, :]), axis=0) / jnp.asarray(MAD_TO_SD, x.dtype)


def edge_widths(K: int) -> tuple[int, int]:
    """The numbers of undefined samples ``(⌊0.25 K⌋, ⌊0.5 K⌋)`` at the start and at the end of
    the deconvolved signal of an HRF of ``K`` taps."""
    if isinstance(K, bool) or not isinstance(K, (int, np.integer)) or K < 1:
        raise ValueError(f"K must be a positive integer (the HRF length), got {K!r}")
    return math.floor(0.25 * K), math.floor(0.5 * K)


def wiener_deconvolve(
    x: Float[Array, "T N"],
    hrf: Float[Array, " K"],
    *,
    noise: float | Float[Array, " N"] | None = None,
    mark_edges: bool = True,
) -> Float[Array, "T N"]:
    """The Wiener-deconvolved forcing signal ``d`` of ``x`` (module docstring), column by column.

    ``noise``: the noise sd per column (a scalar or an ``(N,)`` array); None estimates it with
    :func:`noise_sd`; 0 gives the inverse filter. ``mark_edges``: set the first ``⌊0.25 K⌋``
    and the last ``⌊0.5 K⌋`` samples to NaN. ``x`` must have at least ``K`` samples and no NaN
    (a ValueError otherwise; the check reads the values, so call it outside ``jit``).
    """
    K = check_hrf(hrf)
    T, N = check_series(x, "x", min_length=K)
    if not bool(jnp.all(jnp.isfinite(x))):
        bad = int(jnp.argmax(~jnp.all(jnp.isfinite(x), axis=1)))
        raise ValueError(f"x must be finite (no NaN or inf): the first bad row is {bad}")
    sigma = noise_sd(x) if noise is None else jnp.broadcast_to(jnp.asarray(noise, x.dtype), (N,))
    if bool(jnp.any(sigma < 0)):
        raise ValueError(f"noise must be >= 0, got {noise!r}")
    X = jnp.fft.rfft(x, n=T, axis=0)
    H = jnp.fft.rfft(hrf.astype(x.dtype), n=T)[:, None]
    noise_power = jnp.asarray(T, x.dtype) * sigma[None, :] ** 2
    S = jnp.maximum(jnp.abs(X) ** 2 - noise_power, 0.0)
    den = jnp.abs(H) ** 2 * S + noise_power
    safe = jnp.where(den > 0, den, 1.0)
    gain = jnp.where(den > 0, jnp.conj(H) * (S / safe).astype(H.dtype), 0.0)
    d = jnp.fft.irfft(X * gain, n=T, axis=0)
    if mark_edges:
        left, right = edge_widths(K)
        t = jnp.arange(T)
        undefined = (t < left) | (t >= T - right)
        d = jnp.where(undefined[:, None], jnp.nan, d)
    return d
