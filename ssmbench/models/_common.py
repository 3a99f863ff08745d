"""Small helpers shared by the model modules.

The models run under ``jax_numpy_dtype_promotion="strict"`` and ``jax_numpy_rank_promotion=
"raise"`` (as the tests do): every promotion between dtypes is spelled out with
:func:`result_dtype`, :func:`mul` and :func:`to_complex`, which give the same values as the
implicit promotion would.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from jaxtyping import Array, Float

from .._validate import check_inexact


def result_dtype(*args) -> jnp.dtype:
    """``jnp.result_type(*args)`` under JAX's standard promotion rules, whatever the
    ``jax_numpy_dtype_promotion`` setting: the dtype an implicit promotion would give."""
    with jax.numpy_dtype_promotion("standard"):
        return jnp.result_type(*args)


def complex_dtype(dtype) -> jnp.dtype:
    """The complex dtype matching a real (or complex) dtype: float32 -> complex64, etc."""
    return result_dtype(dtype, jnp.complex64)


def mul(x: Array, y: Array) -> Array:
    """``x * y`` with the standard dtype promotion spelled out (e.g. real times complex)."""
    dtype = result_dtype(x, y)
    return x.astype(dtype) * y.astype(dtype)


def to_complex(re: Array, im: Array) -> Array:
    """``re + 1j * im`` for real arrays of one dtype, with the casts spelled out."""
    cdt = complex_dtype(result_dtype(re, im))
    return re.astype(cdt) + 1j * im.astype(cdt)


def real_dtype(dtype) -> jnp.dtype:
    """The real dtype of a possibly complex dtype."""
    return jnp.finfo(dtype).dtype


def check_input(name: str, x: Array, d: int) -> None:
    """Raise early, naming ``name``, unless ``x`` is an (L, d) array of a real floating dtype."""
    check_inexact(name, x)
    if x.ndim != 2 or x.shape[1] != d:
        raise ValueError(f"{name} must have shape (L, {d}), got {x.shape}")


def fft_conv(u: Float[Array, "L h"], K: Float[Array, "L h"]) -> Float[Array, "L h"]:
    """Causal convolution ``y_l = sum_{j<=l} K_j u_{l-j}`` along axis 0 by FFT, padded to 2L."""
    L = u.shape[0]
    n = 2 * L
    # jnp.fft takes float32/float64 only: half-precision inputs are convolved in float32 and the
    # result is cast back to the input's dtype (documented in docs/models.md)
    out = u.dtype
    work = out if jnp.dtype(out).itemsize >= 4 else jnp.dtype(jnp.float32)
    u, K = u.astype(work), K.astype(work)
    y = jnp.fft.irfft(jnp.fft.rfft(u, n=n, axis=0) * jnp.fft.rfft(K, n=n, axis=0), n=n, axis=0)
    return y[:L].astype(out)


def log_uniform(key, shape, lo: float, hi: float, dtype=None) -> Array:
    """Samples whose log is uniform on [log lo, log hi]."""
    dtype = dtype or jnp.zeros(()).dtype
    return jnp.exp(jax.random.uniform(key, shape, dtype, jnp.log(lo), jnp.log(hi)))


def cast_floats(tree, dtype):
    """Cast every real floating leaf of a pytree to ``dtype`` (complex leaves to its complex)."""
    cdt = complex_dtype(dtype)

    def f(x):
        if isinstance(x, jax.Array | jnp.ndarray):
            if jnp.issubdtype(x.dtype, jnp.complexfloating):
                return x.astype(cdt)
            if jnp.issubdtype(x.dtype, jnp.floating):
                return x.astype(dtype)
        return x

    return jax.tree_util.tree_map(f, tree)
