"""Small helpers shared by the model modules."""

from __future__ import annotations

import jax
import jax.numpy as jnp
from jaxtyping import Array, Float


def complex_dtype(dtype) -> jnp.dtype:
    """The complex dtype matching a real (or complex) dtype: float32 -> complex64, etc."""
    return jnp.result_type(dtype, jnp.complex64)


def real_dtype(dtype) -> jnp.dtype:
    """The real dtype of a possibly complex dtype."""
    return jnp.finfo(dtype).dtype


def check_input(name: str, x: Array, d: int) -> None:
    """Raise a ValueError unless ``x`` has shape (L, d) and a floating dtype."""
    if x.ndim != 2 or x.shape[1] != d:
        raise ValueError(f"{name} must have shape (L, {d}), got {x.shape}")
    if not jnp.issubdtype(x.dtype, jnp.floating):
        raise ValueError(f"{name} must be a real floating array, got dtype {x.dtype}")


def fft_conv(u: Float[Array, "L h"], K: Float[Array, "L h"]) -> Float[Array, "L h"]:
    """Causal convolution ``y_l = sum_{j<=l} K_j u_{l-j}`` along axis 0 by FFT, padded to 2L."""
    L = u.shape[0]
    n = 2 * L
    y = jnp.fft.irfft(jnp.fft.rfft(u, n=n, axis=0) * jnp.fft.rfft(K, n=n, axis=0), n=n, axis=0)
    return y[:L].astype(u.dtype)


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
