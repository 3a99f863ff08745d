"""T-SNL's training rows: every series y_{0:T-1} ~ p(. | theta) gives T rows (theta, h_t, y_t).

The history ``h_t = (y_{t-lag}, ..., y_{t-1})`` (oldest first) is zero-padded at the start, so
row 0's history is all zeros and row t < lag has ``lag - t`` leading zero rows. A conditional
density q(y_t | h_t, theta) fitted on these rows gives the truncated surrogate
``sum_t log q(y_t^o | h_t^o, theta)``.

:func:`make_rows` is one gather (no loop over t); :func:`make_rows_reference` is the plain
Python loop it is tested against.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Float

from ._checks import check_lag, check_series

__all__ = ["make_rows", "make_rows_reference", "rows_from_batch"]


def _check_theta(theta: object, name: str = "theta", ndim: int = 1) -> None:
    """Raise a ValueError unless ``theta`` is an array with ``ndim`` dimensions."""
    if getattr(theta, "ndim", None) != ndim:
        shape = tuple(getattr(theta, "shape", ()))
        want = "(p,)" if ndim == 1 else "(n, p)"
        raise ValueError(f"{name} must be an array of shape {want}, got {shape}")


def make_rows(
    theta: Float[Array, " p"], y: Float[Array, "T dy"], lag: int
) -> tuple[Float[Array, "T p"], Float[Array, "T lag dy"], Float[Array, "T dy"]]:
    """``(thetas (T, p), histories (T, lag, d_y), targets (T, d_y))`` of one series.

    ``histories[t, j] = y[t - lag + j]`` where that index is >= 0, else 0; ``targets = y``;
    every row of ``thetas`` is ``theta``. Needs ``1 <= lag < T``.
    """
    _check_theta(theta)
    check_series(y)
    T, dy = y.shape
    check_lag(lag, T)
    padded = jnp.concatenate([jnp.zeros((lag, dy), y.dtype), y])
    idx = jnp.arange(T)[:, None] + jnp.arange(lag)[None, :]  # padded[t + j] = y[t - lag + j]
    thetas = jnp.broadcast_to(theta[None, :], (T, theta.shape[0]))
    return thetas, padded[idx], y


def make_rows_reference(
    theta: Float[Array, " p"], y: Float[Array, "T dy"], lag: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """:func:`make_rows` by a plain Python loop over t and j (numpy; the oracle)."""
    _check_theta(theta)
    check_series(y)
    y = np.asarray(y)
    T, dy = y.shape
    check_lag(lag, T)
    thetas = np.stack([np.asarray(theta)] * T)
    hist = np.zeros((T, lag, dy), y.dtype)
    for t in range(T):
        for j in range(lag):
            s = t - lag + j
            if s >= 0:
                hist[t, j] = y[s]
    return thetas, hist, y.copy()


def rows_from_batch(
    thetas: Float[Array, "n p"], ys: Float[Array, "n T dy"], lag: int
) -> tuple[Float[Array, "nT p"], Float[Array, "nT lag dy"], Float[Array, "nT dy"]]:
    """The rows of ``n`` series concatenated, series by series: ``(n T, ...)`` arrays."""
    _check_theta(thetas, "thetas", ndim=2)
    if getattr(ys, "ndim", None) != 3 or ys.shape[0] != thetas.shape[0]:
        shape = tuple(getattr(ys, "shape", ()))
        raise ValueError(f"ys must have shape ({thetas.shape[0]}, T, d_y), got {shape}")
    check_series(ys[0], "ys[i]")
    n, T, dy = ys.shape
    check_lag(lag, T)
    th, h, tg = jax.vmap(lambda a, b: make_rows(a, b, lag))(thetas, ys)
    return th.reshape(n * T, -1), h.reshape(n * T, lag, dy), tg.reshape(n * T, dy)
