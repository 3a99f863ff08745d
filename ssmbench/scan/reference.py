"""Slow, obviously correct reference listings of the scans (oracles and memory baselines).

Nothing here is fast; everything here is short. In the spirit of mamba's ``ssd_minimal.py``:

- :func:`linear_recurrence_loop`: ``h_t = a_t h_{t-1} + b_t`` as a Python loop (numpy), the
  oracle of :func:`ssmbench.scan.linear_recurrence`.
- :func:`selective_scan_loop`: Mamba's ``selective_scan_ref`` as explicit Python loops over
  time, channels and state (numpy), the oracle of :func:`ssmbench.scan.selective_scan`.
- :func:`selective_scan_stepwise`: the same semantics, one ``lax.scan`` step per time step, no
  chunking and no custom VJP: the oracle for gradients (plain autodiff through it).
- :func:`selective_scan_plain` and :func:`selective_scan_remat`: the memory baselines of the
  throughput experiments (plain autodiff through a per-step scan, and the same with
  ``jax.checkpoint`` over chunks).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, ArrayLike, Float, Inexact

__all__ = [
    "linear_recurrence_loop",
    "selective_scan_loop",
    "selective_scan_plain",
    "selective_scan_remat",
    "selective_scan_stepwise",
]


# --------------------------------------------------------------------------------------------
# Oracles
# --------------------------------------------------------------------------------------------


def linear_recurrence_loop(
    a: ArrayLike, b: ArrayLike, h0: ArrayLike | None = None, reverse: bool = False
) -> Inexact[np.ndarray, "T ..."]:
    """``h_t = a_t * h_{t-1} + b_t`` along axis 0 as a Python loop in numpy.

    ``a`` broadcasts against ``b`` (numpy rules: an ``a`` with a time axis of 1 or without one
    is time-invariant); ``h0`` is the state before the first step of the scan order (``h_T``
    with ``reverse=True``, which runs t = T-1 down to 0).
    """
    b = np.asarray(b)
    a = np.broadcast_to(a, b.shape)
    h = np.zeros(b.shape[1:], np.result_type(a, b)) if h0 is None else np.array(h0)
    out = np.zeros(b.shape, np.result_type(a, b))
    order = range(b.shape[0] - 1, -1, -1) if reverse else range(b.shape[0])
    for t in order:
        h = a[t] * h + b[t]
        out[t] = h
    return out


def selective_scan_loop(
    u: ArrayLike,
    delta: ArrayLike,
    A: ArrayLike,
    B: ArrayLike,
    C: ArrayLike,
    D: ArrayLike | None = None,
    z: ArrayLike | None = None,
    delta_bias: ArrayLike | None = None,
    delta_softplus: bool = True,
    *,
    selective_B: bool,
    selective_C: bool,
    h0: ArrayLike | None = None,
) -> tuple[Float[np.ndarray, "L d"], Inexact[np.ndarray, "d n"]]:
    """Mamba's ``selective_scan_ref``, written as explicit loops over time, channel and state.

    Same arguments as :func:`ssmbench.scan.selective_scan` (B, C of shape (L, n) when
    selective, else (d, n)). Returns ``(y, x_last)``: y (L, d) real; the last state (d, n) as
    complex128.
    """
    u, delta, A, B, C = (np.asarray(v) for v in (u, delta, A, B, C))
    L, d = u.shape
    n = A.shape[1]
    if delta_bias is not None:
        delta = delta + delta_bias
    if delta_softplus:
        delta = np.log1p(np.exp(delta))
    x = np.zeros((d, n), complex) if h0 is None else np.array(h0, complex)
    ys = np.zeros((L, d))
    for t in range(L):
        Bt = B[t][None, :] if selective_B else B
        Ct = C[t][None, :] if selective_C else C
        for i in range(d):
            for j in range(n):
                x[i, j] = (
                    np.exp(delta[t, i] * A[i, j]) * x[i, j]
                    + delta[t, i] * Bt[i if not selective_B else 0, j] * u[t, i]
                )
        y = (x * Ct).sum(-1)
        ys[t] = 2 * y.real if np.iscomplexobj(A) else y.real
    if D is not None:
        ys = ys + D * u
    if z is not None:
        ys = ys * z / (1 + np.exp(-z))
    return ys, x


def selective_scan_stepwise(
    u: Float[Array, "L d"],
    delta: Float[Array, "L d"],
    A: Inexact[Array, "d n"],
    B: Inexact[Array, "L n"] | Inexact[Array, "d n"],
    C: Inexact[Array, "L n"] | Inexact[Array, "d n"],
    D: Float[Array, " d"] | None = None,
    z: Float[Array, "L d"] | None = None,
    delta_bias: Float[Array, " d"] | None = None,
    delta_softplus: bool = True,
    *,
    selective_B: bool,
    selective_C: bool,
    h0: Inexact[Array, "d n"] | None = None,
    return_state: bool = False,
) -> Float[Array, "L d"] | tuple[Float[Array, "L d"], Inexact[Array, "d n"]]:
    """The selective scan with one ``lax.scan`` step per time step, differentiable by autodiff.

    Same semantics and arguments as :func:`ssmbench.scan.selective_scan`, with no chunking and
    no custom VJP, so its reverse mode stores every state: the gradient oracle. The state and
    the step are computed in the common dtype of ``u, A, B, C`` (complex if any is).
    """
    L, d = u.shape
    n = A.shape[1]
    sdt = np.result_type(u.dtype, A.dtype, B.dtype, C.dtype)
    dt = delta if delta_bias is None else delta + delta_bias[None, :]
    dt = jax.nn.softplus(dt) if delta_softplus else dt
    Bs = B[:, None, :] if selective_B else B[None]
    Cs = C[:, None, :] if selective_C else C[None]
    Bs, Cs = (jnp.broadcast_to(v, (L, d, n)).astype(sdt) for v in (Bs, Cs))

    def step(x, inp):
        dt_t, u_t, B_t, C_t = inp
        dt_t, u_t = dt_t.astype(sdt), u_t.astype(sdt)
        x = jnp.exp(dt_t[:, None] * A.astype(sdt)) * x + (dt_t * u_t)[:, None] * B_t
        y = jnp.sum(x * C_t, -1)
        return x, (2 * y.real if jnp.iscomplexobj(x) else y)

    x0 = jnp.zeros((d, n), sdt) if h0 is None else jnp.asarray(h0).astype(sdt)
    x, y = jax.lax.scan(step, x0, (dt, u, Bs, Cs))
    y = y.astype(u.dtype)
    if D is not None:
        y = y + u * D[None, :]
    if z is not None:
        y = y * jax.nn.silu(z)
    return (y, x) if return_state else y


# --------------------------------------------------------------------------------------------
# Rematerialization (forward+backward memory): the baselines of the throughput experiments
# --------------------------------------------------------------------------------------------


def _plain_selective(u, dt, A, B, C, x0):
    """The textbook selective scan: one ``lax.scan`` step per time step, readout inside the
    step, no custom VJP. Differentiating it stores every (d, n) state: O(L d n) memory."""

    def step(x, inp):
        u_t, dt_t, b_t, c_t = inp
        x = jnp.exp(dt_t[:, None] * A) * x + (dt_t * u_t)[:, None] * b_t[None, :]
        return x, x @ c_t

    return jax.lax.scan(step, x0, (u, dt, B, C))


def _check_selective_args(name, u, delta, A, B, C):
    """Raise a ValueError unless the shapes are (L, d), (L, d), (d, n), (L, n), (L, n)."""
    if u.ndim != 2:
        raise ValueError(f"u must have shape (L, d), got {u.shape}")
    L, d = u.shape
    if B.shape != (L, A.shape[1]) or C.shape != (L, A.shape[1]):
        raise ValueError(
            f"{name} needs input-dependent B, C of shape (L, n)=({L}, {A.shape[1]}),"
            f" got B {B.shape}, C {C.shape}"
        )
    if delta.shape != (L, d):
        raise ValueError(f"delta must have shape (L, d)=({L}, {d}), got {delta.shape}")


def _gate(y, u, D, z):
    """``(y + D u) * silu(z)``, each term optional, in the dtype of ``y``."""
    if D is not None:
        y = y + u * D.astype(y.dtype)[None, :]
    if z is not None:
        y = y * jax.nn.silu(z.astype(y.dtype))
    return y


def _softplus_dt(u, delta, delta_bias, delta_softplus):
    """The step ``softplus(delta + delta_bias)`` (each part optional) in the dtype of ``u``."""
    dt = delta.astype(u.dtype)
    if delta_bias is not None:
        dt = dt + delta_bias.astype(u.dtype)[None, :]
    return jax.nn.softplus(dt) if delta_softplus else dt


def selective_scan_plain(
    u: Float[Array, "L d"],
    delta: Float[Array, "L d"],
    A: Float[Array, "d n"],
    B: Float[Array, "L n"],
    C: Float[Array, "L n"],
    D: Float[Array, " d"] | None = None,
    z: Float[Array, "L d"] | None = None,
    delta_bias: Float[Array, " d"] | None = None,
    delta_softplus: bool = True,
) -> Float[Array, "L d"]:
    """The baseline for memory: a per-step ``lax.scan`` differentiated by plain autodiff.

    Same semantics as :func:`ssmbench.scan.selective_scan` (real A, input-dependent B and C).
    Its forward pass holds one state, but reverse mode stores all L of them, O(L d n); the
    library's sequential path (chunk-recomputing VJP) and :func:`selective_scan_remat` exist to
    avoid exactly that.
    """
    _check_selective_args("selective_scan_plain", u, delta, A, B, C)
    dt = _softplus_dt(u, delta, delta_bias, delta_softplus)
    x0 = jnp.zeros((u.shape[1], A.shape[1]), jnp.result_type(u, A, B, C))
    _, y = _plain_selective(u, dt, A, B, C, x0)
    return _gate(y.astype(u.dtype), u, D, z)


def selective_scan_remat(
    u: Float[Array, "L d"],
    delta: Float[Array, "L d"],
    A: Float[Array, "d n"],
    B: Float[Array, "L n"],
    C: Float[Array, "L n"],
    D: Float[Array, " d"] | None = None,
    z: Float[Array, "L d"] | None = None,
    delta_bias: Float[Array, " d"] | None = None,
    delta_softplus: bool = True,
    *,
    chunk: int = 128,
) -> Float[Array, "L d"]:
    """:func:`selective_scan_plain` with ``jax.checkpoint`` over chunks: the generic recipe.

    The sequence is cut into chunks of ``chunk`` steps; an outer ``lax.scan`` carries the
    (d, n) state across chunks and its body, the per-step scan of one chunk, is wrapped in
    ``jax.checkpoint``. Reverse mode then stores only the chunk-boundary states
    (``L/chunk * d * n``) and the (L, d)-sized inputs, and recomputes one chunk's states at a
    time: ``O(L d + (L/chunk + chunk) d n)`` memory for about one extra forward pass.
    ``chunk ~ sqrt(L)`` minimises the state term. (The library's own sequential path gets the
    same memory from a hand-written VJP; this variant shows what autodiff alone gives.)
    """
    _check_selective_args("selective_scan_remat", u, delta, A, B, C)
    if chunk < 1:
        raise ValueError(f"chunk must be >= 1, got {chunk}")
    L, d = u.shape
    dt = _softplus_dt(u, delta, delta_bias, delta_softplus)
    c = min(chunk, L)
    nc = -(-L // c)
    pad = nc * c - L

    def chunks(v):  # zero padding at the end: delta = 0 is the identity step, u = 0 adds nothing
        return jnp.pad(v, [(0, pad), (0, 0)]).reshape(nc, c, v.shape[1])

    @jax.checkpoint
    def body(x, inp):
        return _plain_selective(*inp[:2], A, *inp[2:], x)

    x0 = jnp.zeros((d, A.shape[1]), jnp.result_type(u, A, B, C))
    _, y = jax.lax.scan(body, x0, (chunks(u), chunks(dt), chunks(B), chunks(C)))
    return _gate(y.reshape(nc * c, d)[:L].astype(u.dtype), u, D, z)
