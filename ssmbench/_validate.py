"""Early, named input errors shared by the scans and the models.

Every public model and scan function checks its array arguments here before tracing, so that a
list, an integer array or a non-positive size fails at once with the argument's name and what was
expected, rather than deep inside ``jnp.fft`` or an MLIR lowering.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable

import jax
import jax.numpy as jnp
import numpy as np

__all__ = ["check_array", "check_inexact", "check_sizes"]

_REAL = "float16, bfloat16, float32 or float64"


def check_array(name: str, x: object) -> None:
    """Raise a TypeError unless ``x`` is an array (jax or numpy), not a list or a scalar."""
    if not isinstance(x, (jax.Array, np.ndarray)):
        raise TypeError(
            f"{name} must be a jax or numpy array, got {type(x).__name__}; "
            f"convert it with jnp.asarray({name})"
        )


def check_inexact(name: str, x: object, *, complex_ok: bool = False) -> None:
    """Raise a TypeError unless ``x`` is an array of a floating (or, if allowed, complex) dtype.

    Integer and boolean arrays are refused rather than silently promoted or truncated.
    """
    check_array(name, x)
    dt = x.dtype  # type: ignore[attr-defined]
    ok = jnp.issubdtype(dt, jnp.floating) or (
        complex_ok and jnp.issubdtype(dt, jnp.complexfloating)
    )
    if not ok:
        allowed = _REAL + (", complex64 or complex128" if complex_ok else "")
        raise TypeError(f"{name} must have a floating dtype ({allowed}), got {dt}")


def check_sizes(**sizes: object) -> None:
    """Raise a ValueError naming the first size argument that is not a positive integer
    (``None`` means "use the default" and passes)."""
    for name, v in sizes.items():
        if v is None:
            continue
        if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < 1:
            raise ValueError(f"{name} must be a positive integer, got {v!r}")


def load_dotted(path: str, what: str) -> Callable:
    """The callable a dotted path ``"package.module:name"`` names (bring your own model).

    ``what`` names the kind of object in the errors ("layer", "model"): a malformed path, a
    module that cannot be imported, or a name that is missing or not callable raise ValueError
    naming the path. The module is imported by name, so it must be on the import path.
    """
    mod_name, _, attr = path.partition(":")
    if not mod_name or not attr.isidentifier():
        raise ValueError(f"a {what} path must look like 'package.module:Name', got {path!r}")
    try:
        mod = importlib.import_module(mod_name)
    except ImportError as e:
        raise ValueError(f"{what} {path!r}: cannot import {mod_name!r}: {e}") from None
    obj = getattr(mod, attr, None)
    if obj is None or not callable(obj):
        raise ValueError(f"{what} {path!r}: module {mod_name!r} has no callable {attr!r}")
    return obj
