"""Experiments of the smoke suite (``suites/smoke.toml``): small, real, and able to fail.

- :func:`fit_impulse_response` trains the zoo's single-input single-output diagonal SSM
  (:class:`ssmbench.models.diagonal.DiagonalSISO`) through :func:`ssmbench.train.fit` to match a
  short impulse response (delay or oscillation), real or complex field.
- :func:`scan_throughput` times a diagonal linear recurrence (compile separately, median of
  repeats after warm-up) over sequence lengths, for a scaling-exponent check.
"""

from __future__ import annotations

from typing import Literal

import jax
import jax.numpy as jnp
import numpy as np
import optax

from ssmbench.models.diagonal import DiagonalSISO
from ssmbench.scan import linear_recurrence
from ssmbench.timing import time_fn
from ssmbench.train import fit

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
    y = jnp.asarray(impulse_target(target, t), float)  # the default float: float32 unless x64
    model = DiagonalSISO(n, field=field, bc_std=0.1, key=jax.random.PRNGKey(seed))

    def loss_fn(m, _):
        return jnp.sum((m.impulse_response(t) - y) ** 2)

    opt = optax.adam(optax.cosine_decay_schedule(lr, steps))
    res = jax.jit(lambda m: fit(loss_fn, m, opt, steps=steps))(model)
    final = float(loss_fn(res.params, None))
    return {"error": final, "initial_error": float(res.losses[0])}


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
