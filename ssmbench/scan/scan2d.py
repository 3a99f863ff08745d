"""The 2-D selective scan of Chimera over a (variate, time) grid, and its loop reference.

Behrouz, Santacatterina, Zabih, "Chimera: Effectively Modeling Multivariate Time Series with
2-Dimensional State Space Models", NeurIPS 2024 (arXiv 2406.04320). No public code exists and
the paper's equations could not be read here; the recursion is reconstructed from secondary
sources (see ``docs/claims/chimera.md``). Per channel c, mode m and cell (v, t):

    a1 = exp(δ1 A1)   a2 = δ1 A2   b1 = δ1 B1[v,t]        (time direction, step δ1[v,t,c])
    a4 = exp(δ2 A4)   a3 = δ2 A3   b2 = δ2 B2[v,t]        (variate direction, step δ2[v,t,c])
    h1[v,t] = a1 h1[v,t−1] + a2 h2[v,t−1] + b1 u[v,t]
    h2[v,t] = a3 h1[v−1,t] + a4 h2[v−1,t] + b2 u[v,t]
    y[v,t]  = Re Σ_m (C1[v,t] h1[v,t] + C2[v,t] h2[v,t])

with zero states outside the grid. ``A*`` are per (channel, mode); ``B*, C*`` per (cell, mode),
shared by the channels (as in Mamba); ``δ*`` per (cell, channel), already positive.

Methods (all exact):

- ``"sequential"``: ``lax.scan`` over time; inside a step, ``h1`` is elementwise and ``h2`` is a
  linear recurrence along the variates. O(T V) work, T sequential steps.
- ``"columns"``: a time-parallel associative scan. Column t maps ``s = (h1[:, t], h2[:, t])``
  affinely, ``s_t = G_t s_{t−1} + w_t``, where ``G_t`` involves ``M_t = (I − diag(a4) S)⁻¹``
  (S the shift down the variates; M lower-triangular), so the scan composes (2V × 2V)
  matrices: O(T V³ log T) work, O(log T) depth.
- ``"auto"``: :data:`AUTO_2D` per backend, ``"sequential"`` everywhere for now. Measured on
  CPU (``results/throughput-chimera``, V = 8, d = 8, n = 4): ``"columns"`` is 32–34× slower
  forward and 16× slower forward+backward at L = 256..1024. Not measured on an accelerator.

:func:`scan2d_loop` is the oracle: the recursion as Python loops over t and v in numpy.
"""

from __future__ import annotations

from typing import Literal

import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, ArrayLike, Float, Inexact

from .._validate import check_inexact
from .linear import linear_recurrence

__all__ = ["AUTO_2D", "Method2D", "discretize2d", "scan2d", "scan2d_loop"]

Method2D = Literal["auto", "sequential", "columns"]

#: ``method="auto"`` per backend (anything not listed: ``"sequential"``).
AUTO_2D = {"cpu": "sequential"}


def discretize2d(delta1, delta2, A1, A2, A3, A4, B1, B2):
    """Per-cell coefficients ``(a1, a2, a3, a4, b1, b2)``, each (..., d, n).

    ``delta*`` are (..., d) and ``B*`` (..., n) with the same leading (cell) axes; ``A*`` are
    (d, n). Works on one column (V, d) or the whole grid (V, T, d).
    """
    d1, d2 = delta1[..., None], delta2[..., None]
    Bx1, Bx2 = B1[..., None, :], B2[..., None, :]
    A1, A2, A3, A4 = (_lead(a, d1.ndim) for a in (A1, A2, A3, A4))
    return (
        jnp.exp(d1 * A1),
        d1 * A2,
        d2 * A3,
        jnp.exp(d2 * A4),
        d1 * Bx1,
        d2 * Bx2,
    )


def _lead(x, ndim: int):
    """``x`` with leading axes of length 1 up to ``ndim`` axes (rank promotion spelled out)."""
    return x.reshape((1,) * (ndim - x.ndim) + x.shape)


def _shift_down(h):
    """``h[v−1]`` along axis 0, with zero at v = 0."""
    return jnp.concatenate([jnp.zeros_like(h[:1]), h[:-1]], axis=0)


def _check(u, delta1, delta2, A1, A2, A3, A4, B1, B2, C1, C2) -> None:
    """Shapes and dtypes, checked by name before any tracing work."""
    for name, x in dict(u=u, delta1=delta1, delta2=delta2).items():
        check_inexact(name, x)
    for name, x in dict(A1=A1, A2=A2, A3=A3, A4=A4, B1=B1, B2=B2, C1=C1, C2=C2).items():
        check_inexact(name, x, complex_ok=True)
    if jnp.ndim(u) != 3:
        raise ValueError(f"u must be (V, T, d), got shape {jnp.shape(u)}")
    V, T, d = jnp.shape(u)
    for name, x in dict(delta1=delta1, delta2=delta2).items():
        if jnp.shape(x) != (V, T, d):
            raise ValueError(f"{name} must have u's shape {(V, T, d)}, got {jnp.shape(x)}")
    n = jnp.shape(A1)[-1] if jnp.ndim(A1) == 2 else -1
    for name, x in dict(A1=A1, A2=A2, A3=A3, A4=A4).items():
        if jnp.shape(x) != (d, n):
            raise ValueError(f"{name} must be (d, n) = ({d}, {n}), got {jnp.shape(x)}")
    for name, x in dict(B1=B1, B2=B2, C1=C1, C2=C2).items():
        if jnp.shape(x) != (V, T, n):
            raise ValueError(f"{name} must be (V, T, n) = {(V, T, n)}, got {jnp.shape(x)}")


def _sequential(u, delta1, delta2, A, B1, B2, C1, C2, dtype, variate_method):
    """Scan over time; the variate recurrence inside each step."""
    V, _, d = u.shape
    n = A[0].shape[-1]
    xs = tuple(jnp.swapaxes(z, 0, 1) for z in (u, delta1, delta2, B1, B2, C1, C2))

    def step(carry, col):
        h1, h2 = carry  # (V, d, n)
        ut, d1, d2, b1, b2, c1, c2 = col
        a1, a2, a3, a4, bb1, bb2 = discretize2d(d1, d2, *A, b1, b2)
        h1 = a1 * h1 + a2 * h2 + bb1 * ut[..., None]
        drive = bb2 * ut[..., None] + a3 * _shift_down(h1)
        h2 = linear_recurrence(a4.at[0].set(0), drive, method=variate_method)  # h2[-1] = 0
        y = jnp.sum(c1[:, None, :] * h1 + c2[:, None, :] * h2, -1)
        return (h1, h2), y.real

    zeros = jnp.zeros((V, d, n), dtype)
    _, y = jax.lax.scan(step, (zeros, zeros), xs)
    return jnp.swapaxes(y, 0, 1)


def _shift_inverse(a: Array) -> Array:
    """``(I − diag(a) S)⁻¹`` for S the shift down (``(S h)[v] = h[v−1]``), batched over leading
    axes: ``M[i, j] = a[j+1] ⋯ a[i]`` for i ≥ j, 0 above the diagonal.

    Closed form with elementwise products only. A batched ``solve_triangular`` (LAPACK trsm)
    here hung jaxlib 0.10.2's 2-thread CPU pool (``docs/suites.md``, "Known problem"); the product
    has no LAPACK call. O(V³) per matrix, the cost of the matrix products that follow anyway.
    """
    V = a.shape[-1]
    i, j, k = np.ogrid[:V, :V, :V]
    lead = (1,) * (a.ndim - 1)
    inside = ((j < k) & (k <= i)).reshape(lead + (V, V, V))  # the factors of M[i, j]
    factors = jnp.where(inside, a[..., None, None, :], jnp.ones((), a.dtype))
    lower = np.tril(np.ones((V, V))).reshape(lead + (V, V))
    return jnp.prod(factors, axis=-1) * jnp.asarray(lower, a.dtype)


def _columns(u, delta1, delta2, A, B1, B2, C1, C2, dtype):
    """Associative scan over time of the columns' affine maps (2V x 2V per channel, mode)."""
    V, T, d = u.shape
    a1, a2, a3, a4, b1, b2 = (
        jnp.moveaxis(z.astype(dtype), (0, 1), (-1, 0))
        for z in discretize2d(delta1, delta2, *A, B1, B2)
    )  # each (T, d, n, V)
    x = jnp.moveaxis(u.astype(dtype), (0, 1), (-1, 0))[:, :, None, :]  # (T, d, 1, V)
    eye = _lead(jnp.eye(V, dtype=dtype), 5)
    S = _lead(jnp.eye(V, k=-1, dtype=dtype), 5)  # (S h)[v] = h[v-1]
    a4 = a4.at[..., 0].set(0)
    M = _shift_inverse(a4)  # (T, d, n, V, V): M = (I - diag(a4) S)^-1
    MD3S = M @ (a3[..., :, None] * S)
    G = jnp.concatenate(
        [
            jnp.concatenate([a1[..., :, None] * eye, a2[..., :, None] * eye], -1),
            jnp.concatenate([MD3S * a1[..., None, :], MD3S * a2[..., None, :]], -1),
        ],
        -2,
    )  # (T, d, n, 2V, 2V)
    w1 = b1 * x
    w2 = jnp.einsum("...ij,...j->...i", MD3S, w1) + jnp.einsum("...ij,...j->...i", M, b2 * x)
    w = jnp.concatenate([w1, w2], -1)  # (T, d, n, 2V)

    def combine(early, late):
        Ge, we = early
        Gl, wl = late
        return Gl @ Ge, jnp.einsum("...ij,...j->...i", Gl, we) + wl

    _, s = jax.lax.associative_scan(combine, (G, w))
    h1, h2 = s[..., :V], s[..., V:]  # (T, d, n, V)
    c1, c2 = (jnp.moveaxis(c, (0, 1), (-1, 0))[:, None] for c in (C1, C2))  # (T, 1, n, V)
    y = jnp.sum(c1 * h1 + c2 * h2, axis=2).real  # (T, d, V)
    return jnp.moveaxis(y, (0, 2), (1, 0))


def scan2d(
    u: Float[Array, "V T d"],
    delta1: Float[Array, "V T d"],
    delta2: Float[Array, "V T d"],
    A1: Inexact[Array, "d n"],
    A2: Inexact[Array, "d n"],
    A3: Inexact[Array, "d n"],
    A4: Inexact[Array, "d n"],
    B1: Inexact[Array, "V T n"],
    B2: Inexact[Array, "V T n"],
    C1: Inexact[Array, "V T n"],
    C2: Inexact[Array, "V T n"],
    *,
    method: Method2D = "auto",
    variate_method: str = "sequential",
) -> Float[Array, "V T d"]:
    """Chimera's input-dependent 2-D recursion (module docstring), unbatched.

    Args:
        u: inputs (V variates, T steps, d channels), real.
        delta1, delta2: positive steps along time and along the variates, (V, T, d).
        A1, A4: continuous diagonal transitions (time, variate), (d, n), real or complex.
        A2, A3: couplings (h2 into h1 over time; h1 into h2 down the variates), (d, n).
        B1, B2, C1, C2: input-dependent input and output vectors, (V, T, n).
        method: ``"sequential"``, ``"columns"`` or ``"auto"`` (see the module docstring).
        variate_method: the :func:`linear_recurrence` method along the variates. The default
            ``"sequential"`` was measured fastest for a training step at V = 8 (CPU, one core:
            0.28 s against 0.37 s for ``"associative"``, and 22 s for a masked V x V
            segment-sum product, tried and dropped).

    Returns:
        y (V, T, d) in the dtype of ``u``: the real part of the readout.
    """
    _check(u, delta1, delta2, A1, A2, A3, A4, B1, B2, C1, C2)
    if method == "auto":
        method = AUTO_2D.get(jax.default_backend(), "sequential")
    arrays = (u, delta1, delta2, A1, A2, A3, A4, B1, B2, C1, C2)
    with jax.numpy_dtype_promotion("standard"):  # the common dtype; every cast below is explicit
        dtype = jnp.result_type(*(jnp.asarray(z).dtype for z in arrays))
    u, delta1, delta2, A1, A2, A3, A4, B1, B2, C1, C2 = (jnp.asarray(z, dtype) for z in arrays)
    args = (u, delta1, delta2, (A1, A2, A3, A4), B1, B2, C1, C2, dtype)
    if method == "sequential":
        y = _sequential(*args, variate_method)
    elif method == "columns":
        y = _columns(*args)
    else:
        raise ValueError(f"method must be 'auto', 'sequential' or 'columns', got {method!r}")
    return y.astype(jnp.asarray(arrays[0]).dtype)


def scan2d_loop(
    u: ArrayLike,
    delta1: ArrayLike,
    delta2: ArrayLike,
    A1: ArrayLike,
    A2: ArrayLike,
    A3: ArrayLike,
    A4: ArrayLike,
    B1: ArrayLike,
    B2: ArrayLike,
    C1: ArrayLike,
    C2: ArrayLike,
) -> Float[np.ndarray, "V T d"]:
    """The recursion as explicit loops over t, v, channel and mode in numpy (complex128)."""
    u, d1, d2, A1, A2, A3, A4, B1, B2, C1, C2 = (
        np.asarray(z) for z in (u, delta1, delta2, A1, A2, A3, A4, B1, B2, C1, C2)
    )
    V, T, d = u.shape
    n = A1.shape[1]
    h1 = np.zeros((V, T, d, n), complex)
    h2 = np.zeros((V, T, d, n), complex)
    y = np.zeros((V, T, d))
    for t in range(T):
        for v in range(V):
            for c in range(d):
                for m in range(n):
                    s1, s2 = d1[v, t, c], d2[v, t, c]
                    prev1 = h1[v, t - 1, c, m] if t > 0 else 0.0
                    prev2 = h2[v, t - 1, c, m] if t > 0 else 0.0
                    up1 = h1[v - 1, t, c, m] if v > 0 else 0.0
                    up2 = h2[v - 1, t, c, m] if v > 0 else 0.0
                    h1[v, t, c, m] = (
                        np.exp(s1 * A1[c, m]) * prev1
                        + s1 * A2[c, m] * prev2
                        + s1 * B1[v, t, m] * u[v, t, c]
                    )
                    h2[v, t, c, m] = (
                        s2 * A3[c, m] * up1
                        + np.exp(s2 * A4[c, m]) * up2
                        + s2 * B2[v, t, m] * u[v, t, c]
                    )
                y[v, t, c] = np.sum(C1[v, t] * h1[v, t, c] + C2[v, t] * h2[v, t, c]).real
    return y
