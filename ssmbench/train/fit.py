"""A jitted scan over training steps, for small fits that need no host loop.

:func:`fit` is the scan-over-steps counterpart of :func:`ssmbench.train.train`: no early
stopping, no evaluation, no per-step timing; one ``lax.scan`` whose body is
:func:`ssmbench.train.step.apply_step`. It is a pure function of its arguments, so callers can
``jax.jit`` or ``jax.vmap`` it (e.g. over initialisations or learning rates).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import equinox as eqx
import jax
import optax
from jaxtyping import Array, Float

from .step import apply_step

__all__ = ["FitResult", "fit"]


class FitResult(NamedTuple):
    """What :func:`fit` returns: the trained ``params``, the loss before each step (``losses``,
    shape ``(steps,)``), the per-step ``aux`` outputs (or None) and the final optimiser state."""

    params: Any
    losses: Float[Array, " steps"]
    aux: Any
    opt_state: Any


def fit(
    loss_fn: Callable[..., Any],
    params: Any,
    optimizer: optax.GradientTransformation,
    *,
    steps: int | None = None,
    xs: Any = None,
    has_aux: bool = False,
    filter_spec: Any = eqx.is_inexact_array,
) -> FitResult:
    """Minimise ``loss_fn`` over ``steps`` optimiser steps in one ``lax.scan``.

    Args:
        loss_fn: ``loss_fn(params, x_t)`` with ``x_t`` the step's slice of ``xs`` (``None`` when
            ``xs`` is None); returns the scalar loss, or ``(loss, aux)`` with ``has_aux``.
        params: any pytree (typically an ``eqx.Module``); the leaves selected by ``filter_spec``
            (a filter function or a pytree of bools, as in ``eqx.partition``) are trained.
        optimizer: an optax transformation (schedules and clipping included).
        steps: number of steps; may be omitted when ``xs`` has a leading step axis.
        xs: per-step inputs (e.g. one PRNG key per step), scanned over their leading axis.

    Returns:
        :class:`FitResult`; ``losses[i]`` is the loss at the parameters before step ``i``.
    """
    if steps is None and xs is None:
        raise ValueError("fit needs steps or per-step xs")
    trainable, static = eqx.partition(params, filter_spec)

    def body(carry, x):
        tr, state = carry
        tr, state, loss, aux, _ = apply_step(
            lambda p: loss_fn(p, x), optimizer, tr, static, state, has_aux=has_aux
        )
        return (tr, state), (loss, aux)

    (trainable, state), (losses, aux) = jax.lax.scan(
        body, (trainable, optimizer.init(trainable)), xs, length=steps
    )
    return FitResult(eqx.combine(trainable, static), losses, aux, state)
