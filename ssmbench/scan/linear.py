"""Linear recurrences ``h_t = a_t * h_{t-1} + b_t`` along axis 0.

``linear_recurrence`` computes the recurrence elementwise (i.e. a diagonal state-space model) with
one of several interchangeable methods:

- ``"sequential"``: ``jax.lax.scan``; O(T) depth, O(state) working memory.
- ``"associative"``: ``jax.lax.associative_scan`` with the operator
  ``(a_i, b_i) o (a_j, b_j) = (a_j a_i, a_j b_i + b_j)``; O(log T) depth, materializes all of
  (T, ...) several times.
- ``"chunked"``: an associative scan inside chunks of ``chunk_size`` steps, carried across chunks
  by an outer ``lax.scan``; the working set is one chunk.
- ``"auto"``: picks per backend from the committed table read by :mod:`ssmbench.scan.auto`.
"""

from __future__ import annotations

from typing import Literal

import jax
import jax.numpy as jnp
from jaxtyping import Array, Inexact

from .._validate import check_inexact
from .auto import auto_method

__all__ = ["DEFAULT_CHUNK", "Method", "linear_recurrence", "resolve_method"]

Method = Literal["auto", "sequential", "associative", "chunked"]

#: Default chunk length of the ``"chunked"`` method.
DEFAULT_CHUNK = 64


def resolve_method(method: str) -> str:
    """Map ``"auto"`` to a concrete method for the current default backend; validate the name."""
    if method == "auto":
        return auto_method(jax.default_backend())
    if method not in ("sequential", "associative", "chunked"):
        raise ValueError(
            f"method must be one of 'auto', 'sequential', 'associative', 'chunked'; got {method!r}"
        )
    return method


def _combine(left, right):
    """The associative operator ``(a_i, b_i) o (a_j, b_j) = (a_j a_i, a_j b_i + b_j)``."""
    a_i, b_i = left
    a_j, b_j = right
    return a_j * a_i, a_j * b_i + b_j


def _lead(x, ndim: int):
    """``x`` with leading axes of length 1 added up to ``ndim`` axes (numpy's rank promotion,
    spelled out; axes of length 1 then broadcast as usual)."""
    return x.reshape((1,) * (ndim - x.ndim) + x.shape)


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
        a: transition coefficients, shape (T, ...) broadcastable to ``b``; an ``a`` without a
            time axis of length T (e.g. shape (1, ...) or fewer dimensions) is time-invariant.
            Ranks are aligned explicitly here, so this also works under
            ``jax_numpy_rank_promotion="raise"``.
        b: inputs, shape (T, ...). Real or complex.
        h0: initial state, broadcastable to ``b.shape[1:]``. With ``reverse=True`` it is the
            state after the last step (``h_T``).
        method: ``"sequential"``, ``"associative"``, ``"chunked"`` or ``"auto"``.
        reverse: run from t = T-1 down to 0: ``h_t = a_t * h_{t+1} + b_t``.
        chunk_size: chunk length for ``"chunked"``.

    Returns:
        h with shape ``b.shape`` and dtype ``result_type(a, b, h0)``.
    """
    check_inexact("a", a, complex_ok=True)
    check_inexact("b", b, complex_ok=True)
    if h0 is not None:
        check_inexact("h0", h0, complex_ok=True)
    a, b = jnp.asarray(a), jnp.asarray(b)
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
    if not time_varying:  # a time-invariant a gets the rank of one step of b, explicitly
        a = _lead(a, b.ndim - 1)
    if chunk_size < 1:
        raise ValueError(f"chunk_size must be >= 1, got {chunk_size}")
    method = resolve_method(method)
    # Fold the initial state into the first input of the scan order.
    if h0 is not None:
        try:
            jnp.broadcast_shapes(h0.shape, b.shape[1:])
        except ValueError:
            raise ValueError(
                f"h0 (shape {h0.shape}) must broadcast against one step of b {b.shape[1:]}"
            ) from None
        h0 = _lead(jnp.asarray(h0, dtype), b.ndim - 1)
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
        hk = acum * h[None] + hloc
        return (hk[0] if reverse else hk[-1]), hk

    _, h = jax.lax.scan(chunk_step, jnp.zeros(b.shape[1:], dtype), (a_c, b_c), reverse=reverse)
    h = h.reshape((nc * C,) + b.shape[1:])
    return h[pad:] if reverse else h[:T]
