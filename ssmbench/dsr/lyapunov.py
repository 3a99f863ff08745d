"""Lyapunov exponents by QR iteration on products of Jacobians (Benettin et al.; Shimada-Nagashima).

- :func:`lyapunov_spectrum_map`: for a map ``z ↦ F(z)``: along the trajectory, ``Q_{t+1} R_{t+1}
  = J(z_t) Q_t`` (QR of the Jacobian ``jax.jacfwd(F)`` times the running orthonormal frame), the
  exponents are the means of ``log |diag R_t|`` per step (a ``lax.scan``; the first ``transient``
  steps move the state and the frame without being counted). :func:`lyapunov_max_map` is the
  largest; its slow reference :func:`lyapunov_max_reference` renormalizes one tangent vector in a
  Python loop. Per time unit: divide by the step's duration.
- :func:`lyapunov_spectrum_flow`: for a vector field ``du/dt = f(u)`` (diffrax signature
  ``f(t, u, args)``): the state and the tangent frame ``dQ/dt = J(u) Q`` are integrated together
  by diffrax (Tsit5, constant step ``dt``) over intervals of ``interval`` time units, after each
  of which the frame is re-orthonormalized by QR; exponents per time unit.
A non-finite trajectory gives NaN exponents.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import diffrax
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Float

__all__ = [
    "lyapunov_spectrum_map",
    "lyapunov_max_map",
    "lyapunov_max_reference",
    "lyapunov_spectrum_flow",
]


def _qr_log_diag(M: Float[Array, "n n"]) -> tuple[Float[Array, "n n"], Float[Array, " n"]]:
    """``Q`` and ``log |diag R|`` of the QR decomposition of ``M``."""
    Q, R = jnp.linalg.qr(M)
    return Q, jnp.log(jnp.abs(jnp.diagonal(R)))


def _check_steps(n: object, name: str, minimum: int) -> None:
    """Raise a ValueError unless ``n`` is an integer >= ``minimum``."""
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {n!r}")


def lyapunov_spectrum_map(
    step: Callable[[Array], Array], z0: Float[Array, " M"], n_steps: int, *, transient: int = 0
) -> Float[Array, " M"]:
    """All Lyapunov exponents (per step, descending as QR orders them) of the map ``step``
    along the trajectory from ``z0`` (module docstring)."""
    _check_steps(n_steps, "n_steps", 1)
    _check_steps(transient, "transient", 0)
    jac = jax.jacfwd(step)

    def body(carry, _):
        z, Q, acc, count = carry
        Q, logs = _qr_log_diag(jac(z) @ Q)
        return (step(z), Q, acc + count * logs, count), None

    M = z0.shape[0]
    carry = (z0, jnp.eye(M, dtype=z0.dtype), jnp.zeros((M,), z0.dtype), jnp.asarray(0.0, z0.dtype))
    if transient:
        carry = jax.lax.scan(body, carry, None, length=transient)[0]
    z, Q, acc, _ = carry
    carry = (z, Q, jnp.zeros((M,), z0.dtype), jnp.asarray(1.0, z0.dtype))
    acc = jax.lax.scan(body, carry, None, length=n_steps)[0][2]
    return acc / n_steps


def lyapunov_max_map(
    step: Callable[[Array], Array], z0: Float[Array, " M"], n_steps: int, *, transient: int = 0
) -> Float[Array, ""]:
    """The largest Lyapunov exponent (per step) of the map ``step`` (module docstring)."""
    return jnp.max(lyapunov_spectrum_map(step, z0, n_steps, transient=transient))


def lyapunov_max_reference(
    step: Callable[[Array], Array], z0: Any, n_steps: int, *, transient: int = 0
) -> float:
    """The largest exponent by renormalizing one tangent vector (started at ``e_1``) in a Python
    loop: the oracle. In exact arithmetic it is the first exponent of the QR iteration."""
    jac = jax.jit(lambda u: jax.jacfwd(step)(u))
    stepj = jax.jit(lambda u: step(u))
    z = jnp.asarray(z0)
    v = np.eye(z.shape[0])[0]  # the first column of the QR iteration's initial frame
    total = 0.0
    for t in range(transient + n_steps):
        v = np.asarray(jac(z), np.float64) @ v
        norm = float(np.linalg.norm(v))
        if t >= transient:
            total += np.log(norm)
        v = v / norm
        z = stepj(z)
    return total / n_steps


def lyapunov_spectrum_flow(
    vector_field: Callable[[Any, Array, Any], Array],
    u0: Float[Array, " n"],
    *,
    t_total: float,
    interval: float = 0.1,
    dt: float = 0.01,
    transient: float = 10.0,
    args: Any = None,
) -> Float[Array, " n"]:
    """All Lyapunov exponents per time unit of ``du/dt = vector_field(t, u, args)`` from ``u0``
    (module docstring): ``t_total`` time units counted after ``transient`` ones."""
    if not (t_total > 0 and interval > 0 and dt > 0 and transient >= 0):
        raise ValueError(
            f"t_total, interval and dt must be > 0 and transient >= 0, got {t_total}, "
            f"{interval}, {dt}, {transient}"
        )
    n = u0.shape[0]

    def rhs(t, y, a):
        u, Q = y
        f = lambda v: vector_field(t, v, a)  # noqa: E731
        return f(u), jax.jacfwd(f)(u) @ Q

    term = diffrax.ODETerm(rhs)

    def body(carry, _):
        u, Q, acc, count = carry
        sol = diffrax.diffeqsolve(
            term, diffrax.Tsit5(), 0.0, interval, dt, (u, Q), args=args,
            stepsize_controller=diffrax.ConstantStepSize(), saveat=diffrax.SaveAt(t1=True),
        )  # fmt: skip
        u1, M = sol.ys[0][-1], sol.ys[1][-1]
        Q1, logs = _qr_log_diag(M)
        return (u1, Q1, acc + count * logs, count), None

    carry = (u0, jnp.eye(n, dtype=u0.dtype), jnp.zeros((n,), u0.dtype), jnp.asarray(0.0, u0.dtype))
    n_trans = int(round(transient / interval))
    if n_trans:
        carry = jax.lax.scan(body, carry, None, length=n_trans)[0]
    u, Q, _, _ = carry
    n_int = max(int(round(t_total / interval)), 1)
    carry = (u, Q, jnp.zeros((n,), u0.dtype), jnp.asarray(1.0, u0.dtype))
    acc = jax.lax.scan(body, carry, None, length=n_int)[0][2]
    return acc / (n_int * interval)
