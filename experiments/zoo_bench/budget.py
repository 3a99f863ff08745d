"""The fairness budgets of the zoo benchmark: parameter counts and recurrent state sizes.

Two named budgets (issue #24), both relative to a reference model (a layer at a reference width,
in the same ``Deep`` stack, on the same task):

- ``"iso-param"``: each layer's width ``d_model`` is chosen so that its model's parameter count is
  closest to the reference's; a layer that cannot come within :data:`TOLERANCE` (10%) of it is
  refused (:class:`BudgetError`).
- ``"iso-state"``: the width is the reference width and each layer's state knob (``d_state``;
  ``hidden`` for the LinearCDE) is chosen so that its recurrent state size is closest to the
  reference's, again within 10%.

Counts are of real numbers: a complex parameter or state entry counts 2. The state size is the
number of real numbers the recurrence carries from one step to the next, summed over the blocks
(a convolution-mode layer is counted by the recurrence it computes).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp

from ssmbench.models import ChimeraStack, Deep
from ssmbench.models.diagonal import LRU, S4D
from ssmbench.models.lcde import LinearCDE
from ssmbench.models.mamba import Mamba
from ssmbench.models.s4 import S4

__all__ = ["TOLERANCE", "BudgetError", "ZOO", "VARIATE_LAYERS", "resolve_layer", "n_params", "state_size",
           "fit_budget"]  # fmt: skip

#: The largest relative distance from the reference count a model may have.
TOLERANCE = 0.10

#: The benchmark's layer names: (a zoo name in ssmbench.models.LAYERS, its constructor options).
ZOO: dict[str, tuple[str, dict[str, Any]]] = {
    "s4": ("s4", {}),
    "s4d": ("s4d", {}),
    "s4d-real": ("s4d-real", {}),
    "lru": ("lru", {}),
    "mamba": ("mamba", {}),
    "mamba-complex": ("mamba", {"complex_A": True}),
    "lcde": ("lcde", {}),  # diagonal, input-dependent gates (the selective LinearCDE)
    # dense A_i: (1 + d) N^2 params. gate_scale 1/40 (revision 2026-12-08, after every cell of
    # the selective-copying part diverged at the library's N(0, 1/N) init, before any rerun): the
    # authors' trained LNCDE code multiplies its control by dt = 1/40; at our init the state then
    # grows ~1.4x (selective copying) and ~8x (MQAR) over 64 steps instead of overflowing.
    # solver "euler" (same revision, on cost, before any lcde-dense cell with gate_scale finished):
    # z <- z + (Σ A_i Δω^i) z + BΔξ, the recurrence the authors train; the exact solver's expm
    # per step took 461 ms per training step against Euler's 12 ms (MQAR, batch 32, quiet VM),
    # about 25 min per cell under two workers.
    "lcde-dense": (
        "lcde",
        {"structure": "dense", "hidden": 16, "gate_scale": 1 / 40, "solver": "euler"},
    ),  # fmt: skip
    # Chimera's 2-D SSM over (time, variates), multivariate series only: a ChimeraStack
    "ssm2d": ("ssm2d", {}),
}

#: Layers that read a multivariate series as a (time, variates) grid: real data with >= 2 channels.
VARIATE_LAYERS = ("ssm2d",)


class BudgetError(ValueError):
    """A layer cannot meet the budget (or its state size is unknown)."""


def resolve_layer(name: str) -> tuple[str, dict[str, Any]]:
    """``(zoo name or dotted path, constructor options)`` for a benchmark layer name."""
    if ":" in name:
        return name, {}
    if name not in ZOO:
        raise ValueError(f"unknown layer {name!r}; known: {sorted(ZOO)} or 'package.module:Layer'")
    zoo, kw = ZOO[name]
    return zoo, dict(kw)


def _size(a: Any) -> int:
    """Real numbers in an array (or shape-dtype struct): complex entries count 2."""
    n = math.prod(a.shape)
    return 2 * n if jnp.issubdtype(a.dtype, jnp.complexfloating) else n


def _inexact(x: Any) -> bool:
    """An inexact array, or its shape-dtype struct (a model built under ``eval_shape``)."""
    return isinstance(x, jax.Array | jax.ShapeDtypeStruct) and jnp.issubdtype(x.dtype, jnp.inexact)


def n_params(model: eqx.Module) -> int:
    """Trainable real numbers of ``model`` (its inexact array leaves; complex counts 2)."""
    leaves = jax.tree_util.tree_leaves(eqx.filter(model, _inexact))
    return int(sum(_size(a) for a in leaves))


def _layer_state(layer: Any) -> int:
    """Real numbers one layer's recurrence carries per step (see the module docstring)."""
    if isinstance(layer, S4D):
        m = layer.log_A_real.shape[-1]
        return layer.d_model * m * (2 if layer.A_imag is not None else 1)
    if isinstance(layer, S4):
        return layer.d_model * layer.log_A_real.shape[-1] * 2
    if isinstance(layer, LRU):
        return 2 * layer.nu_log.shape[-1]
    if isinstance(layer, Mamba):
        return layer.d_inner * layer.d_state * (2 if layer.complex_A else 1)
    if isinstance(layer, LinearCDE):
        return layer.hidden
    own = getattr(layer, "state_size", None)  # a user's layer may declare it
    if own is None:
        raise BudgetError(
            f"the state size of {type(layer).__name__} is unknown: give the layer a "
            f"`state_size` attribute (real numbers carried per step) to use the iso-state budget"
        )
    return int(own() if callable(own) else own)


def state_size(model: Deep | ChimeraStack) -> int:
    """The recurrent state of a ``Deep`` stack (the sum over its blocks) or a ``ChimeraStack``
    (its own count), in real numbers."""
    if isinstance(model, ChimeraStack):
        return model.state_size()
    return int(sum(_layer_state(b.layer) for b in model.blocks))


def _shape_model(build: Callable[..., Deep], **kw: Any) -> Deep:
    """The model's structure without allocating its arrays (``eqx.filter_eval_shape``)."""
    return eqx.filter_eval_shape(lambda: build(**kw))


def fit_budget(
    budget: str,
    build: Callable[..., Deep],
    layer: str,
    reference_layer: str,
    width: int,
    *,
    state_knob: int | None = None,
) -> dict[str, Any]:
    """Choose the layer's width (iso-param) or state knob (iso-state) against the reference.

    ``build(layer=, d_model=, state=)`` makes a model (``state``: the layer's ``d_state`` or
    ``hidden``, None for its default); ``width`` is the reference width. Returns ``d_model``,
    ``state`` (the knob, None if default), ``n_params``, ``state_size``, ``ref_n_params``,
    ``ref_state_size`` and ``budget_gap`` (the relative distance from the reference). Raises
    :class:`BudgetError` when the gap exceeds :data:`TOLERANCE`.
    """
    if budget not in ("iso-param", "iso-state"):
        raise ValueError(f"budget must be 'iso-param' or 'iso-state', got {budget!r}")
    ref = _shape_model(build, layer=reference_layer, d_model=width, state=state_knob)
    ref_p, ref_s = n_params(ref), state_size(ref)

    def probe(d_model: int, state: int | None) -> tuple[int, int]:
        m = _shape_model(build, layer=layer, d_model=d_model, state=state)
        return n_params(m), state_size(m)

    if budget == "iso-param":
        target, pick = ref_p, 0
        lo, hi = 2, 8 * width
        while hi - lo > 1:  # the count grows with the width: bisect to the crossing
            mid = (lo + hi) // 2
            lo, hi = (mid, hi) if probe(mid, None)[0] < target else (lo, mid)
        cands = [(w, None) for w in (lo, hi)]
    else:
        target, pick = ref_s, 1
        per_unit = probe(width, 16)[1] / 16  # the state is linear in the knob
        k = max(1, round(target / per_unit))
        cands = [(width, s) for s in sorted({max(1, k + i) for i in (-2, -1, 0, 1, 2)})]
    scored = []
    for w, s in cands:
        try:
            p, st = probe(w, s)
        except ValueError:  # a knob the layer refuses (S4 takes even state sizes only)
            continue
        scored.append((abs((p, st)[pick] - target) / target, w, s, p, st))
    gap, w, s, p, st = min(scored)
    out = {"d_model": w, "state": s, "n_params": p, "state_size": st, "ref_n_params": ref_p,
           "ref_state_size": ref_s, "budget_gap": gap}  # fmt: skip
    if gap > TOLERANCE:
        what = "parameter count" if budget == "iso-param" else "state size"
        raise BudgetError(
            f"{layer} cannot meet the {budget} budget: its closest {what} is "
            f"{(p, st)[pick]} (d_model {w}, state {s}) against the reference {reference_layer}'s "
            f"{target}, {gap:.1%} away (the limit is {TOLERANCE:.0%})"
        )
    return out
