"""Linear recurrences and Mamba's selective scan.

``linear_recurrence`` computes ``h_t = a_t * h_{t-1} + b_t`` (elementwise, i.e. a diagonal
state-space model) along axis 0 with one of several interchangeable methods:

- ``"sequential"``: ``jax.lax.scan``; O(T) depth, O(state) working memory.
- ``"associative"``: ``jax.lax.associative_scan`` with the operator
  ``(a_i, b_i) o (a_j, b_j) = (a_j a_i, a_j b_i + b_j)``; O(log T) depth, materialises all of
  (T, ...) several times.
- ``"chunked"``: an associative scan inside chunks of ``chunk_size`` steps, carried across chunks
  by an outer ``lax.scan``; the working set is one chunk.
- ``"auto"``: picks per backend from :data:`AUTO_METHOD` (see the note there).

``selective_scan`` implements the reference semantics of Mamba's ``selective_scan_ref`` for one
(unbatched) sequence. The sequential path runs one ``lax.scan`` step per time step (transition,
update and readout inside the step), grouped in chunks of :data:`SEQUENTIAL_CHUNK` steps, so the
(L, d, n) tensor of states is never materialised: not in the forward pass, and not in the
backward pass either, where a hand-written VJP recomputes each chunk's states from the state
stored at its start (memory O(L d + (L / chunk) d n)). The chunked path materialises one chunk
of the associative scan.
"""

from __future__ import annotations

import functools
import json
from pathlib import Path
from typing import Literal

import jax
import jax.numpy as jnp
from jaxtyping import Array, Float, Inexact

Method = Literal["auto", "sequential", "associative", "chunked"]


def _auto_table() -> dict[str, str]:
    """``{backend: method}`` for ``method="auto"``, read from ``scan_choice.json`` beside this
    module. That file is written from a throughput run (``python -m ssmbench.throughput choose
    RUN_DIR``) and records the measurement behind each entry; unmeasured backends say so."""
    data = json.loads(Path(__file__).with_name("scan_choice.json").read_text())
    return {backend: entry["method"] for backend, entry in data["backends"].items()}


#: Method used by ``method="auto"`` per ``jax.default_backend()`` (see ``scan_choice.json``).
AUTO_METHOD: dict[str, str] = _auto_table()

DEFAULT_CHUNK = 64
#: Chunk length of ``selective_scan``'s sequential path: the backward pass keeps one state per
#: chunk and recomputes the states inside a chunk. Measured on CPU (2 cores): at batch 1,
#: L = 4096, d = 256, n = 16, chunks of 16, 32 and 64 time alike (forward and backward); under
#: ``vmap`` with batch 64 at L = 64, chunks of 16 made the forward 1.6x slower than one chunk of 64
#: (the outer loop's per-iteration cost), so 64.
SEQUENTIAL_CHUNK = 64

__all__ = [
    "AUTO_METHOD",
    "SEQUENTIAL_CHUNK",
    "linear_recurrence",
    "resolve_method",
    "selective_scan",
]


def resolve_method(method: str) -> str:
    """Map ``"auto"`` to a concrete method for the current default backend; validate the name."""
    if method == "auto":
        return AUTO_METHOD.get(jax.default_backend(), "sequential")
    if method not in ("sequential", "associative", "chunked"):
        raise ValueError(
            f"method must be one of 'auto', 'sequential', 'associative', 'chunked'; got {method!r}"
        )
    return method


def _combine(left, right):
    a_i, b_i = left
    a_j, b_j = right
    return a_j * a_i, a_j * b_i + b_j


def _assoc(a, b, reverse: bool, axis: int = 0):
    """Associative scan of (a, b) along ``axis``; returns the h sequence."""
    a = jnp.broadcast_to(a, b.shape)
    _, h = jax.lax.associative_scan(_combine, (a, b), reverse=reverse, axis=axis)
    return h


def linear_recurrence(
    a: Inexact[Array, "T ..."],
    b: Inexact[Array, "T ..."],
    h0: Inexact[Array, "..."] | None = None,
    *,
    method: Method = "auto",
    reverse: bool = False,
    chunk_size: int = DEFAULT_CHUNK,
) -> Inexact[Array, "T ..."]:
    """Solve ``h_t = a_t * h_{t-1} + b_t`` along axis 0 (``h_{-1} = h0``, default 0).

    Args:
        a: transition coefficients, shape (T, ...) broadcastable against ``b``; an ``a`` without
            a time axis of length T (e.g. shape (1, ...) or fewer dimensions) is time-invariant.
        b: inputs, shape (T, ...). Real or complex.
        h0: initial state, broadcastable to ``b.shape[1:]``. With ``reverse=True`` it is the
            state after the last step (``h_T``).
        method: ``"sequential"``, ``"associative"``, ``"chunked"`` or ``"auto"``.
        reverse: run from t = T-1 down to 0: ``h_t = a_t * h_{t+1} + b_t``.
        chunk_size: chunk length for ``"chunked"``.

    Returns:
        h with shape ``b.shape`` and dtype ``result_type(a, b, h0)``.
    """
    b = jnp.asarray(b)
    a = jnp.asarray(a)
    if b.ndim < 1:
        raise ValueError(f"b must have a leading time axis, got shape {b.shape}")
    T = b.shape[0]
    if a.ndim > b.ndim:
        raise ValueError(f"a (shape {a.shape}) must broadcast against b (shape {b.shape})")
    time_varying = a.ndim == b.ndim and a.shape[0] == T and T != 1
    if a.ndim == b.ndim and not time_varying:
        if a.shape[0] != 1 and T != 1:
            raise ValueError(f"a has time axis {a.shape[0]}, expected {T} or 1 (b shape {b.shape})")
        if T != 1:
            a = a[0]
    try:
        jnp.broadcast_shapes(a.shape, b.shape)
    except ValueError as e:
        raise ValueError(f"a (shape {a.shape}) must broadcast against b (shape {b.shape})") from e
    dtype = jnp.result_type(a, b) if h0 is None else jnp.result_type(a, b, h0)
    a = a.astype(dtype)
    b = b.astype(dtype)
    if T == 1 and not time_varying:
        time_varying = True
        a = jnp.broadcast_to(a, (1,) + jnp.broadcast_shapes(a.shape, b.shape)[1:])
    if chunk_size < 1:
        raise ValueError(f"chunk_size must be >= 1, got {chunk_size}")
    method = resolve_method(method)
    # Fold the initial state into the first input of the scan order.
    if h0 is not None:
        h0 = jnp.asarray(h0, dtype)
        idx = T - 1 if reverse else 0
        a_first = a[idx] if time_varying else a
        b = b.at[idx].add(a_first * h0)

    if method == "sequential":

        def step(h, ab):
            a_t, b_t = ab if time_varying else (a, ab)
            h = a_t * h + b_t
            return h, h

        xs = (a, b) if time_varying else b
        _, h = jax.lax.scan(step, jnp.zeros(b.shape[1:], dtype), xs, reverse=reverse)
        return h

    a_full = a if time_varying else jnp.broadcast_to(a, b.shape)
    if method == "associative":
        return _assoc(a_full, b, reverse)

    # chunked: pad with the identity element (a=1, b=0) at the end of the scan order.
    C = min(chunk_size, T)
    nc = -(-T // C)
    pad = nc * C - T
    a_full = jnp.broadcast_to(a_full, b.shape)
    if pad:
        widths = [(pad, 0) if reverse else (0, pad)] + [(0, 0)] * (b.ndim - 1)
        a_full = jnp.pad(a_full, widths, constant_values=1)
        b = jnp.pad(b, widths)
    a_c = a_full.reshape((nc, C) + b.shape[1:])
    b_c = b.reshape((nc, C) + b.shape[1:])

    def chunk_step(h, ab):
        a_k, b_k = ab
        # prefix products and zero-start states within the chunk
        acum, hloc = jax.lax.associative_scan(_combine, (a_k, b_k), reverse=reverse)
        hk = acum * h + hloc
        return (hk[0] if reverse else hk[-1]), hk

    _, h = jax.lax.scan(chunk_step, jnp.zeros(b.shape[1:], dtype), (a_c, b_c), reverse=reverse)
    h = h.reshape((nc * C,) + b.shape[1:])
    return h[pad:] if reverse else h[:T]


# --------------------------------------------------------------------------------------------
# The sequential selective scan, with a chunk-recomputing custom VJP
# --------------------------------------------------------------------------------------------
#
# Forward: one ``lax.scan`` step per time step computes ``exp(dt_t A)``, the state update and the
# readout ``x_t C_t`` (a mat-vec: on CPU, ``sum(x * C, -1)``, a reduction over a short minor
# axis, was about 3x slower). The time axis is cut into chunks of ``c`` steps by an outer scan,
# which only matters for reverse mode.
#
# Reverse mode (real A, B, C): differentiating the plain ``lax.scan`` would store every state,
# O(L d n). Instead the forward pass keeps only the state at each chunk boundary,
# O(L/c * d * n), and the backward pass walks the chunks in reverse: it recomputes one chunk's
# states, then runs the adjoint recurrence ``lam_t = C_t ybar_t + exp(dt_{t+1} A) lam_{t+1}``
# backwards through the chunk, accumulating every parameter gradient in the same step.
# Complex A uses the same forward, with ``jax.checkpoint`` on the chunk body instead.


def _contract_n(x, v):
    """``sum_n x[..., d, n] v[n]`` (v of shape (n,)) or ``sum_n x * v`` (v of shape (d, n))."""
    return x @ v if v.ndim == 1 else jnp.einsum("dn,dn->d", x, v)


def _seq_forward(dt, u, A, B, C, x0, sel_B, sel_C, is_complex, keep_boundaries, remat):
    """Outer scan over chunks; inputs are chunked, (nc, c, ...), or (d, n) for fixed B/C."""

    def body(x, inp):
        dt_k, u_k, B_k, C_k = inp

        def step(x, inp_t):
            dt_t, u_t, b_t, c_t = inp_t
            bt = b_t if sel_B else B
            x = jnp.exp(dt_t[:, None] * A) * x + (dt_t * u_t)[:, None] * bt
            y = _contract_n(x, c_t if sel_C else C)
            return x, (2 * y.real if is_complex else y)

        x_last, y_k = jax.lax.scan(step, x, (dt_k, u_k, B_k, C_k))
        return x_last, ((y_k, x) if keep_boundaries else y_k)

    if remat:
        body = jax.checkpoint(body)
    nc = dt.shape[0]
    empty = jnp.zeros((nc, dt.shape[1], 0), dt.dtype)
    xs = (dt, u, B if sel_B else empty, C if sel_C else empty)
    return jax.lax.scan(body, x0, xs)


@functools.partial(jax.custom_vjp, nondiff_argnums=(6, 7))
def _seq_real(dt, u, A, B, C, x0, sel_B, sel_C):
    x_last, y = _seq_forward(dt, u, A, B, C, x0, sel_B, sel_C, False, False, False)
    return y, x_last


def _seq_real_fwd(dt, u, A, B, C, x0, sel_B, sel_C):
    x_last, (y, xb) = _seq_forward(dt, u, A, B, C, x0, sel_B, sel_C, False, True, False)
    return (y, x_last), (dt, u, A, B, C, xb)


def _seq_real_bwd(sel_B, sel_C, res, cts):
    dt, u, A, B, C, xb = res
    ybar, xbar_last = cts
    nc, c = dt.shape[:2]
    empty = jnp.zeros((nc, c, 0), dt.dtype)

    def body(carry, inp):
        mu, gA, gB, gC = carry  # mu: cotangent of the state leaving this chunk
        dt_k, u_k, B_k, C_k, x_in, yb_k = inp

        def fwd_step(x, inp_t):  # recompute the chunk's states; emit the state before each step
            dt_t, u_t, b_t = inp_t
            bt = b_t if sel_B else B
            return jnp.exp(dt_t[:, None] * A) * x + (dt_t * u_t)[:, None] * bt, x

        _, x_prev = jax.lax.scan(fwd_step, x_in, (dt_k, u_k, B_k))

        def adj_step(carry, inp_t):
            mu, gA, gB, gC = carry
            dt_t, u_t, b_t, c_t, yb_t, xp = inp_t
            bt = b_t if sel_B else B
            ct = c_t if sel_C else C
            a = jnp.exp(dt_t[:, None] * A)  # recomputed: storing it per chunk was no faster
            du = dt_t * u_t
            lam = yb_t[:, None] * ct + mu  # total cotangent of x_t
            g = lam * xp * a  # cotangent of (dt_t A) through exp
            s = _contract_n(lam, bt)  # cotangent of dt_t * u_t, (d,)
            dt_bar = _contract_n(g, A) + s * u_t
            gA = gA + g * dt_t[:, None]
            if sel_B:
                B_bar = du @ lam
            else:
                gB, B_bar = gB + du[:, None] * lam, b_t
            x_t = a * xp + du[:, None] * bt
            if sel_C:
                C_bar = yb_t @ x_t
            else:
                gC, C_bar = gC + yb_t[:, None] * x_t, c_t
            return (a * lam, gA, gB, gC), (dt_bar, s * dt_t, B_bar, C_bar)

        carry, outs = jax.lax.scan(
            adj_step, (mu, gA, gB, gC), (dt_k, u_k, B_k, C_k, yb_k, x_prev), reverse=True
        )
        return carry, outs

    zero_dn = jnp.zeros_like(A)
    init = (
        xbar_last,
        zero_dn,
        zero_dn if not sel_B else zero_dn[:0],
        zero_dn if not sel_C else zero_dn[:0],
    )
    xs = (dt, u, B if sel_B else empty, C if sel_C else empty, xb, ybar)
    (x0_bar, gA, gB, gC), (dt_bar, u_bar, B_bar, C_bar) = jax.lax.scan(body, init, xs, reverse=True)
    return (dt_bar, u_bar, gA, B_bar if sel_B else gB, C_bar if sel_C else gC, x0_bar)


_seq_real.defvjp(_seq_real_fwd, _seq_real_bwd)


def _sequential_selective(dt, u, A, B, C, x0, sel_B, sel_C, is_complex, chunk):
    """y (L, d) and the last state of the selective scan on the chunked sequential path."""
    L = u.shape[0]
    c = max(1, min(chunk, L))
    nc = -(-L // c)
    pad = nc * c - L

    def chunks(v):  # zero padding at the end: dt = 0 is the identity step, u = 0 adds nothing
        return jnp.pad(v, [(0, pad)] + [(0, 0)] * (v.ndim - 1)).reshape((nc, c) + v.shape[1:])

    dt_c, u_c = chunks(dt), chunks(u)
    B_c = chunks(B) if sel_B else B
    C_c = chunks(C) if sel_C else C
    if is_complex:
        x_last, y = _seq_forward(dt_c, u_c, A, B_c, C_c, x0, sel_B, sel_C, True, False, True)
    else:
        dtype = x0.dtype  # the custom VJP needs one real dtype throughout
        cast = [v.astype(dtype) for v in (dt_c, u_c, A, B_c, C_c)]
        y, x_last = _seq_real(*cast, x0, sel_B, sel_C)
    return y.reshape((nc * c,) + y.shape[2:])[:L], x_last


def _check(name, x, shape):
    if x.shape != tuple(shape):
        raise ValueError(f"{name} must have shape {tuple(shape)}, got {x.shape}")


def _infer_selective(name, x, L, d, n, flag):
    if flag is None:
        if x.shape == (L, n) and x.shape == (d, n):
            raise ValueError(
                f"{name} has shape {x.shape}, which is ambiguous because L == d; pass "
                f"selective_{name}=True (shape (L, n)) or False (shape (d, n))"
            )
        if x.shape == (L, n):
            return True
        if x.shape == (d, n):
            return False
        raise ValueError(
            f"{name} must have shape (L, n)={(L, n)} or (d, n)={(d, n)}, got {x.shape}"
        )
    _check(name, x, (L, n) if flag else (d, n))
    return flag


def selective_scan(
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
    method: Method = "auto",
    selective_B: bool | None = None,
    selective_C: bool | None = None,
    h0: Inexact[Array, "d n"] | None = None,
    return_state: bool = False,
    chunk_size: int | None = None,
) -> Float[Array, "L d"] | tuple[Float[Array, "L d"], Inexact[Array, "d n"]]:
    """Mamba's selective scan (reference semantics of ``selective_scan_ref``), unbatched.

    ``δ = softplus(delta + delta_bias)`` (if ``delta_softplus``), ``Ā_t = exp(δ_t A)``,
    ``x_t = Ā_t x_{t-1} + δ_t B_t u_t``, ``y_t = <x_t, C_t>`` (``2 Re`` of it if A is complex),
    ``out = (y + D u) * silu(z)``.

    Args:
        u, delta: (L, d).
        A: (d, n), real or complex (complex: conjugate-pair halved, output ``2 Re``).
        B, C: (L, n) input-dependent or (d, n) fixed; ``selective_B``/``selective_C`` resolve
            the shape when L == d.
        D: (d,) skip connection. z: (L, d) gate. delta_bias: (d,).
        method: as in :func:`linear_recurrence`. ``"sequential"`` never materialises
            (L, d, n), in the forward or the backward pass (see the module docstring).
        h0: optional initial state (d, n).
        return_state: also return the final state x_{L-1} (d, n).
        chunk_size: chunk length; default :data:`SEQUENTIAL_CHUNK` for ``"sequential"`` and
            ``DEFAULT_CHUNK`` for ``"chunked"``.

    Returns:
        y (L, d) in the dtype of ``u``; with ``return_state``, ``(y, x_last)``.
    """
    u = jnp.asarray(u)
    if u.ndim != 2:
        raise ValueError(f"u must have shape (L, d), got {u.shape}")
    L, d = u.shape
    if A.ndim != 2 or A.shape[0] != d:
        raise ValueError(f"A must have shape (d, n) with d={d}, got {A.shape}")
    n = A.shape[1]
    _check("delta", delta, (L, d))
    sel_B = _infer_selective("B", B, L, d, n, selective_B)
    sel_C = _infer_selective("C", C, L, d, n, selective_C)
    if D is not None:
        _check("D", D, (d,))
    if z is not None:
        _check("z", z, (L, d))
    if delta_bias is not None:
        _check("delta_bias", delta_bias, (d,))
    out_dtype = u.dtype
    is_complex = jnp.iscomplexobj(A) or jnp.iscomplexobj(B) or jnp.iscomplexobj(C)
    sdtype = jnp.result_type(u, A, B, C)

    delta = delta.astype(u.dtype)
    if delta_bias is not None:
        delta = delta + delta_bias.astype(u.dtype)
    if delta_softplus:
        delta = jax.nn.softplus(delta)
    method = resolve_method(method)

    def readout(x, c):  # x (..., d, n), c (..., n) or (d, n); a contraction (see _contract_n)
        y = jnp.einsum("...dn,...n->...d" if sel_C else "...dn,dn->...d", x, c)
        return (2 * y.real) if is_complex else y

    x0 = jnp.zeros((d, n), sdtype) if h0 is None else jnp.asarray(h0, sdtype)

    if method == "sequential":
        y, x_last = _sequential_selective(
            delta, u, A, B, C, x0, sel_B, sel_C, is_complex, chunk_size or SEQUENTIAL_CHUNK
        )
    else:

        def block(u_k, d_k, b_k, c_k, x_in):
            dA = jnp.exp(d_k[..., None] * A)
            bu = (d_k * u_k)[..., None] * (b_k[:, None, :] if sel_B else B)
            bu = bu.astype(sdtype).at[0].add(dA[0] * x_in)
            _, xs_ = jax.lax.associative_scan(_combine, (dA.astype(sdtype), bu))
            return xs_[-1], readout(xs_, c_k if sel_C else C)

        if method == "associative":
            x_last, y = block(u, delta, B, C, x0)
        else:
            Ck = max(1, min(chunk_size or DEFAULT_CHUNK, L))
            nc = -(-L // Ck)
            pad = nc * Ck - L

            def padr(v):  # pad time axis at the end with zeros (delta=0 => identity step)
                return jnp.pad(v, [(0, pad)] + [(0, 0)] * (v.ndim - 1)).reshape(
                    (nc, Ck) + v.shape[1:]
                )

            xs = (
                padr(u),
                padr(delta),
                padr(B) if sel_B else jnp.zeros((nc, 0)),
                padr(C) if sel_C else jnp.zeros((nc, 0)),
            )

            def chunk_step(x, inp):
                u_k, d_k, b_k, c_k = inp
                return block(u_k, d_k, b_k if sel_B else B, c_k if sel_C else C, x)

            x_last, y = jax.lax.scan(chunk_step, x0, xs)
            y = y.reshape((nc * Ck, d))[:L]

    y = y.astype(out_dtype)
    if D is not None:
        y = y + u * D.astype(out_dtype)
    if z is not None:
        y = y * jax.nn.silu(z.astype(out_dtype))
    return (y, x_last) if return_state else y
