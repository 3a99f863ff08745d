"""Experiments of the smoke suite (``suites/smoke.toml``): small, real, and able to fail.

- :func:`fit_impulse_response` trains a single-input single-output diagonal SSM with optax to
  match a short impulse response (delay or oscillation), real or complex field.
- :func:`scan_throughput` times a diagonal linear recurrence (compile separately, median of
  repeats after warm-up) over sequence lengths, for a scaling-exponent check.
"""

from __future__ import annotations

from typing import Literal

import jax
import jax.numpy as jnp
import numpy as np
import optax

from .timing import time_fn

__all__ = ["impulse_target", "fit_impulse_response", "scan_throughput"]


def impulse_target(kind: str, t: int) -> np.ndarray:
    """Unit-norm impulse response of length ``t``: a delay spike at (t-1)//2, or Re(i^k)."""
    k = np.arange(t)
    if kind == "delay":
        y = (k == (t - 1) // 2).astype(float)
    elif kind == "oscillation":
        y = np.real(1j**k)
    else:
        raise ValueError(f"unknown target {kind!r}; expected 'delay' or 'oscillation'")
    return y / np.linalg.norm(y)


# TEMPORARY: a minimal SISO diagonal SSM until the model zoo (issue 3) lands; then this module
# uses ssmbench.models.diagonal instead.
def _init_siso(key: jax.Array, n: int, field: str, bc_std: float) -> dict:
    k1, k2, k3, k4 = jax.random.split(key, 4)
    p = {
        "nu": jnp.log(-jnp.log(jax.random.uniform(k1, (n,), jnp.float32, 0.5, 0.99))),
        "b": bc_std * jax.random.normal(k2, (n,), jnp.float32),
        "c": bc_std * jax.random.normal(k3, (n,), jnp.float32),
    }
    if field == "complex":
        p["theta"] = jax.random.uniform(k4, (n,), jnp.float32, 0.0, 2 * jnp.pi)
    return p


def _impulse(params: dict, field: str, t: int) -> jax.Array:
    k = jnp.arange(t, dtype=jnp.float32)[:, None]
    r = jnp.exp(-jnp.exp(params["nu"]))
    cb = params["b"] * params["c"]
    if field == "complex":
        lam_k = r**k * jnp.exp(1j * params["theta"] * k)
        return 2 * jnp.real(lam_k @ cb.astype(lam_k.dtype))
    n = r.shape[0]
    sign = jnp.where(jnp.arange(n) % 2 == 0, 1.0, -1.0)
    return ((sign * r) ** k) @ cb


def fit_impulse_response(
    *,
    seed: int,
    quick: bool = False,
    target: Literal["delay", "oscillation"] = "delay",
    field: Literal["real", "complex"] = "complex",
    n: int = 8,
    t: int = 16,
    steps: int = 600,
    lr: float = 3e-2,
) -> dict[str, float]:
    """Fit a diagonal SISO SSM's impulse response to ``target``; report the normalised error.

    The error is ``||φ - target||² / ||target||²``, so the zero map scores 1.
    """
    if quick:
        steps = max(steps // 3, 50)
    y = jnp.asarray(impulse_target(target, t), jnp.float32)
    params = _init_siso(jax.random.PRNGKey(seed), n, field, bc_std=0.1)

    def loss_fn(p):
        return jnp.sum((_impulse(p, field, t) - y) ** 2)

    sched = optax.cosine_decay_schedule(lr, steps)
    opt = optax.adam(sched)
    state = opt.init(params)

    @jax.jit
    def step(carry, _):
        p, s = carry
        loss, g = jax.value_and_grad(loss_fn)(p)
        upd, s = opt.update(g, s, p)
        return (optax.apply_updates(p, upd), s), loss

    (params, _), losses = jax.lax.scan(step, (params, state), None, length=steps)
    final = float(loss_fn(params))
    return {"error": final, "initial_error": float(losses[0])}


def scan_throughput(
    *,
    seed: int,
    quick: bool = False,
    L: int = 1024,
    d: int = 64,
    method: Literal["sequential", "associative", "chunked", "auto"] = "sequential",
    repeats: int = 5,
) -> dict[str, float]:
    """Time ``h_t = a_t h_{t-1} + b_t`` over (L, d) float32 inputs with the given scan method."""

    def linear_recurrence(a, b, method):  # TEMPORARY until ssmbench.scan lands (issue 3)
        def f(h, ab):
            h = ab[0] * h + ab[1]
            return h, h

        return jax.lax.scan(f, jnp.zeros_like(b[0]), (a, b))[1]

    if quick:
        repeats = max(3, repeats // 2)
    ka, kb = jax.random.split(jax.random.PRNGKey(seed))
    a = jax.random.uniform(ka, (L, d), jnp.float32, 0.5, 0.99)
    b = jax.random.normal(kb, (L, d), jnp.float32)
    tm = time_fn(lambda a, b: linear_recurrence(a, b, method=method), a, b, repeats=repeats)
    return {
        "compile_s": tm.compile_s,
        "time_s": tm.median_s,
        "tokens_per_s": L / tm.median_s,
        "xla_bytes": float(tm.xla_bytes or 0),
    }
