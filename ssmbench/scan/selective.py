"""Mamba's selective scan, unbatched, with a memory-lean sequential path.

``selective_scan`` implements the reference semantics of Mamba's ``selective_scan_ref`` for one
(unbatched) sequence. The sequential path runs one ``lax.scan`` step per time step (transition,
update and readout inside the step), grouped in chunks of :data:`SEQUENTIAL_CHUNK` steps, so the
(L, d, n) tensor of states is never materialized: not in the forward pass, and not in the
backward pass either, where a hand-written VJP recomputes each chunk's states from the state
stored at its start (memory O(L d + (L / chunk) d n)). The chunked path materializes one chunk
of the associative scan. Slow, obviously correct listings of the same semantics are in
:mod:`ssmbench.scan.reference`.
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
from jaxtyping import Array, Float, Inexact

from .._validate import check_inexact, check_sizes
from .linear import DEFAULT_CHUNK, Method, _combine, resolve_method

__all__ = ["SEQUENTIAL_CHUNK", "selective_scan"]

#: Chunk length of ``selective_scan``'s sequential path: the backward pass keeps one state per
#: chunk and recomputes the states inside a chunk. Measured on CPU (2 cores): at batch 1,
#: L = 4096, d = 256, n = 16, chunks of 16, 32 and 64 time alike (forward and backward); under
#: ``vmap`` with batch 64 at L = 64, chunks of 16 made the forward 1.6x slower than one chunk of 64
#: (the outer loop's per-iteration cost), so 64.
SEQUENTIAL_CHUNK = 64

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


def _promoted(*arrays):
    """``arrays`` cast to their common dtype under JAX's standard promotion.

    This is the cast that ``x * y`` between different dtypes does implicitly (same values),
    spelled out so that the code also runs under ``jax_numpy_dtype_promotion="strict"``.
    """
    with jax.numpy_dtype_promotion("standard"):
        dtype = jnp.result_type(*arrays)
    return tuple(x.astype(dtype) for x in arrays)


def _mul(x, y):
    """``x * y`` with the standard dtype promotion spelled out (see :func:`_promoted`)."""
    x, y = _promoted(x, y)
    return x * y


def _add(x, y):
    """``x + y`` with the standard dtype promotion spelled out (see :func:`_promoted`)."""
    x, y = _promoted(x, y)
    return x + y


def _contract_n(x, v):
    """``sum_n x[..., d, n] v[n]`` (v of shape (n,)) or ``sum_n x * v`` (v of shape (d, n))."""
    return x @ v if v.ndim == 1 else jnp.einsum("dn,dn->d", x, v)


def _seq_forward(dt, u, A, B, C, x0, sel_B, sel_C, is_complex, keep_boundaries, remat):
    """Outer scan over chunks; inputs are chunked, (nc, c, ...), or (d, n) for fixed B/C."""

    def body(x, inp):
        dt_k, u_k, B_k, C_k = inp

        def step(x, inp_t):
            dt_t, u_t, b_t, c_t = inp_t
            bt = b_t[None, :] if sel_B else B
            x = _add(_mul(jnp.exp(_mul(dt_t[:, None], A)), x), _mul((dt_t * u_t)[:, None], bt))
            y = _contract_n(*_promoted(x, c_t if sel_C else C))
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
    """``(y, x_last)`` of the chunked sequential scan (real A, B, C), with a custom VJP."""
    x_last, y = _seq_forward(dt, u, A, B, C, x0, sel_B, sel_C, False, False, False)
    return y, x_last


def _seq_real_fwd(dt, u, A, B, C, x0, sel_B, sel_C):
    """Forward pass of :func:`_seq_real`; keeps the state at each chunk boundary."""
    x_last, (y, xb) = _seq_forward(dt, u, A, B, C, x0, sel_B, sel_C, False, True, False)
    return (y, x_last), (dt, u, A, B, C, xb)


def _seq_real_bwd(sel_B, sel_C, res, cts):
    """Backward pass of :func:`_seq_real`: recompute each chunk's states, run the adjoint."""
    dt, u, A, B, C, xb = res
    ybar, xbar_last = cts
    nc, c = dt.shape[:2]
    empty = jnp.zeros((nc, c, 0), dt.dtype)

    def body(carry, inp):
        mu, gA, gB, gC = carry  # mu: cotangent of the state leaving this chunk
        dt_k, u_k, B_k, C_k, x_in, yb_k = inp

        def fwd_step(x, inp_t):  # recompute the chunk's states; emit the state before each step
            dt_t, u_t, b_t = inp_t
            bt = b_t[None, :] if sel_B else B
            return jnp.exp(dt_t[:, None] * A) * x + (dt_t * u_t)[:, None] * bt, x

        _, x_prev = jax.lax.scan(fwd_step, x_in, (dt_k, u_k, B_k))

        def adj_step(carry, inp_t):
            mu, gA, gB, gC = carry
            dt_t, u_t, b_t, c_t, yb_t, xp = inp_t
            bt = b_t[None, :] if sel_B else B
            ct = c_t[None, :] if sel_C else C
            a = jnp.exp(dt_t[:, None] * A)  # recomputed: storing it per chunk was no faster
            du = dt_t * u_t
            lam = yb_t[:, None] * ct + mu  # total cotangent of x_t
            g = lam * xp * a  # cotangent of (dt_t A) through exp
            s = _contract_n(lam, b_t if sel_B else B)  # cotangent of dt_t * u_t, (d,)
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
    """Raise a ValueError unless ``x`` has shape ``shape``."""
    if x.shape != tuple(shape):
        raise ValueError(f"{name} must have shape {tuple(shape)}, got {x.shape}")


def _infer_selective(name, x, L, d, n, flag):
    """Whether B or C (``name``) is input-dependent, (L, n), or fixed, (d, n)."""
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
        method: as in :func:`linear_recurrence`. ``"sequential"`` never materializes
            (L, d, n), in the forward or the backward pass (see the module docstring).
        h0: optional initial state (d, n).
        return_state: also return the final state x_{L-1} (d, n).
        chunk_size: chunk length; default :data:`SEQUENTIAL_CHUNK` for ``"sequential"`` and
            ``DEFAULT_CHUNK`` for ``"chunked"``.

    Returns:
        y (L, d) in the dtype of ``u``; with ``return_state``, ``(y, x_last)``.
    """
    check_inexact("u", u)
    check_inexact("delta", delta)
    for name, v in (("A", A), ("B", B), ("C", C)):
        check_inexact(name, v, complex_ok=True)
    for name, v in (("D", D), ("z", z), ("delta_bias", delta_bias)):
        if v is not None:
            check_inexact(name, v)
    if chunk_size is not None:
        check_sizes(chunk_size=chunk_size)
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
    with jax.numpy_dtype_promotion("standard"):  # the documented dtype; casts are explicit
        sdtype = jnp.result_type(u, A, B, C)

    delta = delta.astype(u.dtype)
    if delta_bias is not None:
        delta = delta + delta_bias.astype(u.dtype)[None, :]
    if delta_softplus:
        delta = jax.nn.softplus(delta)
    method = resolve_method(method)

    def readout(x, c):  # x (..., d, n), c (..., n) or (d, n); a contraction (see _contract_n)
        y = jnp.einsum("...dn,...n->...d" if sel_C else "...dn,dn->...d", *_promoted(x, c))
        return (2 * y.real) if is_complex else y

    if h0 is not None:
        check_inexact("h0", h0, complex_ok=True)
        _check("h0", h0, (d, n))
    x0 = jnp.zeros((d, n), sdtype) if h0 is None else jnp.asarray(h0, sdtype)

    if method == "sequential":
        y, x_last = _sequential_selective(
            delta, u, A, B, C, x0, sel_B, sel_C, is_complex, chunk_size or SEQUENTIAL_CHUNK
        )
    else:

        def block(u_k, d_k, b_k, c_k, x_in):
            dA = jnp.exp(_mul(d_k[..., None], A[None]))
            bu = _mul((d_k * u_k)[..., None], b_k[:, None, :] if sel_B else B[None])
            bu = bu.astype(sdtype).at[0].add(_mul(dA[0], x_in))
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
        y = y + u * D.astype(out_dtype)[None, :]
    if z is not None:
        y = y * jax.nn.silu(z.astype(out_dtype))
    return (y, x_last) if return_state else y
