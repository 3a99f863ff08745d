"""The haemodynamic response function (HRF) and the convolution of a latent series with it.

- :func:`spm_hrf`: SPM's canonical double gamma, ``Γ(6, 1) pdf − Γ(16, 1) pdf / 6``, sampled at
  ``u = 0, TR, ..., ⌊32 / TR⌋·TR`` seconds and normalized to sum 1 (the authors'
  ``spm_hrf``; ``K = ⌊32 / TR⌋ + 1`` taps, 161 at TR = 0.2).
- :func:`hrf_convolve`: the *valid* causal convolution ``y_j = Σ_k hrf_k z_{j+K−1−k}``, ``j = 0..T−K``
  (output ``j`` belongs to time ``j + K − 1``: ``x_t = Σ_k hrf_k z_{t−k}`` for ``t ≥ K − 1``),
  column by column. Two fast paths, :func:`hrf_convolve_fft` (long filters; a length-``T``
  circular FFT convolution, whose wrap-around touches only the first ``K − 1`` outputs, which the
  valid part drops) and :func:`hrf_convolve_direct` (short filters; the direct sum over taps,
  ``O(T K)`` work), both tested against the Python loop
  :func:`hrf_convolve_reference`.
"""

from __future__ import annotations

import math
from typing import Literal

import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, ArrayLike, Float

from ._checks import check_hrf, check_series, check_tr

__all__ = [
    "spm_hrf",
    "gamma_pdf",
    "hrf_convolve",
    "hrf_convolve_fft",
    "hrf_convolve_direct",
    "hrf_convolve_reference",
    "FFT_MIN_TAPS",
]

#: :func:`hrf_convolve` with ``method="auto"`` uses the FFT from this many taps on.
FFT_MIN_TAPS = 64


def gamma_pdf(u: np.ndarray, shape: float, rate: float = 1.0) -> np.ndarray:
    """The Gamma(shape, rate) density at ``u`` (0 for ``u <= 0``), in float64 numpy."""
    u = np.asarray(u, np.float64)
    out = np.zeros_like(u)
    pos = u > 0
    log_p = (
        shape * math.log(rate) + (shape - 1) * np.log(u[pos]) - rate * u[pos] - math.lgamma(shape)
    )
    out[pos] = np.exp(log_p)
    return out


def spm_hrf(tr: float, *, length_s: float = 32.0, dtype=None) -> Float[Array, " K"]:
    """SPM's canonical HRF sampled every ``tr`` seconds over ``[0, length_s]``, summing to 1.

    Parameters p = [6, 16, 1, 1, 6, 0, 32] (response delay, undershoot delay, their dispersions,
    response-to-undershoot ratio, onset, kernel length): ``Γ(6, 1) − Γ(16, 1) / 6`` at
    ``u = tr · (0, 1, ..., ⌊length_s / tr⌋)``. ``dtype``: of the returned array (default: JAX's
    default float). A ``tr`` that is not a finite number > 0 raises a ValueError.
    """
    tr = check_tr(tr)
    n = math.floor(length_s / tr + 1e-9)
    u = tr * np.arange(n + 1, dtype=np.float64)
    h = gamma_pdf(u, 6.0) - gamma_pdf(u, 16.0) / 6.0
    return jnp.asarray(h / h.sum(), dtype=dtype)


def _check_pair(z, hrf) -> tuple[int, int, int]:
    """Validate ``z`` (T, N) and ``hrf`` (K,) with ``T >= K``; return ``(T, N, K)``."""
    K = check_hrf(hrf)
    T, N = check_series(z, "z", min_length=K)
    return T, N, K


def hrf_convolve_fft(z: Float[Array, "T N"], hrf: Float[Array, " K"]) -> Float[Array, "L N"]:
    """Valid causal convolution of every column of ``z`` with ``hrf`` by a length-``T`` real FFT
    (``L = T − K + 1``); see the module docstring."""
    T, _, K = _check_pair(z, hrf)
    Z = jnp.fft.rfft(z, n=T, axis=0)
    H = jnp.fft.rfft(hrf.astype(z.dtype), n=T)
    return jnp.fft.irfft(Z * H[:, None], n=T, axis=0)[K - 1 :]


def hrf_convolve_direct(z: Float[Array, "T N"], hrf: Float[Array, " K"]) -> Float[Array, "L N"]:
    """Valid causal convolution of every column of ``z`` with ``hrf`` by the direct sum over the
    taps, ``Σ_k hrf_k z[K−1−k : T−k]`` (``O(T K)`` work, one shifted slice per tap unrolled at
    trace time: for short filters; ``L = T − K + 1``). XLA's CPU convolution
    (``jnp.convolve``) was erratic here: 25 ms against 0.2 ms for a 161-tap filter on 16 windows
    of 361 samples, forward and backward."""
    T, _, K = _check_pair(z, hrf)
    h = hrf.astype(z.dtype)
    L = T - K + 1
    out = h[0] * z[K - 1 : K - 1 + L]
    for k in range(1, K):
        out = out + h[k] * z[K - 1 - k : K - 1 - k + L]
    return out


def hrf_convolve(
    z: Float[Array, "T N"],
    hrf: Float[Array, " K"],
    *,
    method: Literal["auto", "fft", "direct"] = "auto",
) -> Float[Array, "L N"]:
    """Valid causal convolution of ``z`` with ``hrf`` (module docstring): ``method="auto"`` takes
    the FFT for filters of at least :data:`FFT_MIN_TAPS` taps and the direct sum otherwise."""
    if method not in ("auto", "fft", "direct"):
        raise ValueError(f"method must be 'auto', 'fft' or 'direct', got {method!r}")
    if method == "auto":
        method = "fft" if check_hrf(hrf) >= FFT_MIN_TAPS else "direct"
    return hrf_convolve_fft(z, hrf) if method == "fft" else hrf_convolve_direct(z, hrf)


def hrf_convolve_reference(z: ArrayLike, hrf: ArrayLike) -> np.ndarray:
    """The valid causal convolution by explicit Python loops (float64 numpy): the oracle."""
    z, h = np.asarray(z, np.float64), np.asarray(hrf, np.float64)
    T, N, K = _check_pair(z, h)
    out = np.zeros((T - K + 1, N))
    for j in range(T - K + 1):
        t = j + K - 1
        for k in range(K):
            out[j] += h[k] * z[t - k]
    return out
