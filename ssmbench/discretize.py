"""Discretization of diagonal continuous-time systems ``x' = Λ x + B u``.

All functions act elementwise with numpy broadcasting between ``Lambda`` (the diagonal of Λ),
``B`` and the step ``delta``: arrange the axes yourself (e.g. ``Lambda[:, None]`` against a
``B`` of shape (n, m)). The broadcasts and the dtype promotions between them (a real step
against a complex ``Lambda``) are spelled out inside, so the functions also run under
``jax_numpy_dtype_promotion="strict"`` and ``jax_numpy_rank_promotion="raise"``. Each returns ``(Lambda_bar, B_bar)`` so that the discrete recurrence is
``x_k = Lambda_bar * x_{k-1} + B_bar * u_k``.

- :func:`zoh`: zero-order hold, exact for piecewise-constant input:
  ``Λ̄ = exp(ΔΛ)``, ``B̄ = Λ⁻¹(Λ̄ − 1)B`` (with the limit ``ΔB`` at Λ = 0).
- :func:`bilinear`: Tustin / trapezoidal, second-order accurate:
  ``Λ̄ = (1 − ΔΛ/2)⁻¹(1 + ΔΛ/2)``, ``B̄ = (1 − ΔΛ/2)⁻¹ΔB``.
- :func:`euler_b`: Mamba's mix, ZOH for Λ and Euler for B: ``Λ̄ = exp(ΔΛ)``, ``B̄ = ΔB``.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from jaxtyping import Array, ArrayLike, Inexact

__all__ = ["DISCRETIZATIONS", "bilinear", "discretize", "euler_b", "zoh"]


def _mul(x, y):
    """``x * y`` with numpy's rank promotion and JAX's standard dtype promotion spelled out.

    Same values as the implicit ``x * y``: leading axes of length 1 are added to the operand of
    lower rank, and both operands are cast to the dtype the standard promotion gives them.
    """
    x, y = jnp.asarray(x), jnp.asarray(y)
    with jax.numpy_dtype_promotion("standard"):
        dtype = jnp.result_type(x, y)
    ndim = max(x.ndim, y.ndim)
    x, y = (v.reshape((1,) * (ndim - v.ndim) + v.shape).astype(dtype) for v in (x, y))
    return x * y


def zoh(
    Lambda: Inexact[Array, "..."], B: Inexact[Array, "..."], delta: ArrayLike
) -> tuple[Inexact[Array, "..."], Inexact[Array, "..."]]:
    """Zero-order hold: ``(exp(ΔΛ), (exp(ΔΛ) − 1)/Λ · B)``; exact for piecewise-constant input."""
    dL = _mul(delta, Lambda)
    Lbar = jnp.exp(dL)
    # (exp(ΔΛ) - 1)/Λ = Δ · expm1(ΔΛ)/(ΔΛ), with the removable singularity at ΔΛ = 0.
    small = jnp.abs(dL) < 1e-30
    safe = jnp.where(small, jnp.ones_like(dL), dL)
    phi = jnp.where(small, jnp.ones_like(dL), jnp.expm1(safe) / safe)
    return Lbar, _mul(_mul(delta, phi), B)


def bilinear(
    Lambda: Inexact[Array, "..."], B: Inexact[Array, "..."], delta: ArrayLike
) -> tuple[Inexact[Array, "..."], Inexact[Array, "..."]]:
    """Bilinear (Tustin): ``((1 − ΔΛ/2)⁻¹(1 + ΔΛ/2), (1 − ΔΛ/2)⁻¹ΔB)``."""
    half = _mul(delta, Lambda) / 2
    inv = 1 / (1 - half)
    return inv * (1 + half), _mul(_mul(inv, delta), B)


def euler_b(
    Lambda: Inexact[Array, "..."], B: Inexact[Array, "..."], delta: ArrayLike
) -> tuple[Inexact[Array, "..."], Inexact[Array, "..."]]:
    """Mamba's reference mix ("ZOH for A, Euler for B"): ``(exp(ΔΛ), ΔB)``."""
    Lbar = jnp.exp(_mul(delta, Lambda))
    return Lbar, jnp.broadcast_to(
        _mul(delta, B), jnp.broadcast_shapes(jnp.shape(Lbar), jnp.shape(B))
    )


DISCRETIZATIONS = {"zoh": zoh, "bilinear": bilinear, "euler_b": euler_b}


def discretize(
    method: str, Lambda: Inexact[Array, "..."], B: Inexact[Array, "..."], delta: ArrayLike
) -> tuple[Inexact[Array, "..."], Inexact[Array, "..."]]:
    """Dispatch by name: ``"zoh"``, ``"bilinear"`` or ``"euler_b"``."""
    try:
        fn = DISCRETIZATIONS[method]
    except KeyError:
        raise ValueError(
            f"discretization must be one of {sorted(DISCRETIZATIONS)}, got {method!r}"
        ) from None
    return fn(Lambda, B, delta)
