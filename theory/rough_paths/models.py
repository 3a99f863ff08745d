"""The model families of the rough-path check, from the zoo, stacked in depth."""

from __future__ import annotations

import math
from typing import Literal

import equinox as eqx
import jax
import jax.numpy as jnp
from jaxtyping import Array, Float, PRNGKeyArray

from ssmbench.models.blocks import build, load_layer
from ssmbench.models.diagonal import S4D
from ssmbench.models.lcde import LinearCDE
from ssmbench.models.mamba import Mamba

FAMILIES = ("s4d", "lcde-t", "mamba", "lcde-diag", "lcde-dense")
FAMILY_CLASS = {
    "s4d": "time-invariant",
    "lcde-t": "time-invariant",
    "mamba": "selective-diagonal",
    "lcde-diag": "selective-diagonal",
    "lcde-dense": "selective-dense",
}
Family = Literal["s4d", "lcde-t", "mamba", "lcde-diag", "lcde-dense"]
#: The class recorded for a layer named by a dotted path (bring your own model): the check does
#: not know whether it is selective, so it is judged with none of the zoo's classes.
USER_CLASS = "user"


def check_family(family: str, what: str = "family") -> None:
    """Refuse a family that is neither a zoo family (:data:`FAMILIES`) nor a loadable dotted path
    ``"package.module:Name"`` to an :class:`~ssmbench.models.AbstractSequenceLayer`."""
    if ":" in family:
        load_layer(family)  # imports it now: a bad path fails before any data or training
        return
    if family not in FAMILIES:
        raise ValueError(
            f"{what} must be one of {FAMILIES} or a dotted path 'package.module:Layer', "
            f"got {family!r}"
        )


def family_class(family: str) -> str:
    """The family's class (time-invariant / selective-diagonal / selective-dense), or
    :data:`USER_CLASS` for a dotted-path layer."""
    return USER_CLASS if ":" in family else FAMILY_CLASS[family]


class _Mix(eqx.Module):
    """Between two layers: a linear map and a ReLU, as in the authors' deep SSM baselines."""

    lin: eqx.nn.Linear

    def __call__(self, h: Float[Array, "L n"]) -> Float[Array, "L m"]:
        """ReLU of the linear map at every time step."""
        return jax.nn.relu(jax.vmap(self.lin)(h))


class _CDEMix(eqx.Module):
    """Between two LinearCDE layers: z_t = ReLU(LayerNorm(W h_t)) / sqrt(m).

    A linear CDE's state grows like exp(|A|·(total variation of ω)), so the next layer's control
    must stay of the input's size: a per-time-step LayerNorm (causal) and the 1/sqrt(m) scale
    keep each time slice of z at unit norm, as the [-1, 1] normalisation does for x.
    """

    lin: eqx.nn.Linear
    norm: eqx.nn.LayerNorm

    def __call__(self, h: Float[Array, "L n"]) -> Float[Array, "L m"]:
        """The next layer's control path z (L, m)."""
        z = jax.vmap(lambda v: self.norm(self.lin(v)))(h)
        return jax.nn.relu(z) / math.sqrt(z.shape[-1])


class Stack(eqx.Module):
    """``depth`` sequence layers of one family; ``features(x)`` is the last layer's state at T.

    - ``s4d`` / ``mamba`` / a dotted path ``"package.module:Layer"`` (your own
      :class:`~ssmbench.models.AbstractSequenceLayer`, built as ``Layer(width, *, key)``): a
      linear encoder d -> width, then ``depth`` zoo layers (L, width) ->
      (L, width) with linear + ReLU mixing between them (the authors' "linear mixing layer +
      ReLU"); features are the last layer's outputs at the final time (width of them). At depth 1
      there is no nonlinearity between the recurrence and the readout, as in the paper.
    - ``lcde-*``: linear neural CDEs with ω = ξ = (t, u) (``lcde-t``: ω = t); layer 1 is driven
      by u = (x, z) with z = ReLU(LayerNorm(W h^{k-1})) / sqrt(mix) (see ``_CDEMix``);
      features are the last layer's hidden state at T (width of them).
    """

    family: str = eqx.field(static=True)
    encoder: eqx.nn.Linear | None
    layers: list
    mixes: list

    def __init__(
        self, family: str, d: int, width: int, depth: int, *, mix: int = 16, key: PRNGKeyArray
    ):
        """A random stack of ``depth`` layers of ``family`` with ``width`` channels on ``d``-dim
        paths; ``mix`` is the width of the control between LinearCDE layers."""
        check_family(family)
        if depth < 1 or width < 1:
            raise ValueError(f"depth and width must be >= 1, got {depth}, {width}")
        self.family = family
        keys = jax.random.split(key, 2 * depth + 1)
        if family in ("s4d", "mamba") or ":" in family:
            self.encoder = eqx.nn.Linear(d, width, key=keys[0])
            self.layers = [_ssm_layer(family, width, key=k) for k in keys[1 : depth + 1]]
            self.mixes = [eqx.nn.Linear(width, width, key=k) for k in keys[depth + 1 : 2 * depth]]
            self.mixes = [_Mix(m) for m in self.mixes]
        else:
            self.encoder = None
            ins = [d] + [d + mix] * (depth - 1)
            self.layers = [
                _lcde_layer(family, c, width, key=k) for c, k in zip(ins, keys[1 : depth + 1])
            ]
            self.mixes = [
                _CDEMix(eqx.nn.Linear(width, mix, key=k), eqx.nn.LayerNorm(mix))
                for k in keys[depth + 1 : 2 * depth]
            ]

    def __call__(self, x: Float[Array, "L d"]) -> Float[Array, " width"]:
        """The features at the final time (see :meth:`features`)."""
        return self.features(x)

    def features(self, x: Float[Array, "L d"]) -> Float[Array, " width"]:
        """The last layer's output (SSMs) or hidden state (LCDEs) at the final time."""
        if self.encoder is not None:
            h = jax.vmap(self.encoder)(x)
            for i, layer in enumerate(self.layers):
                if i > 0:
                    h = self.mixes[i - 1](h)
                h = layer(h)
            return h[-1]
        h = self.layers[0].states(x)
        for mix, layer in zip(self.mixes, self.layers[1:]):
            h = layer.states(jnp.concatenate([x, mix(h)], axis=-1))
        return h[-1]


class Regressor(eqx.Module):
    """A ``Stack`` with a trainable linear head on its final-time features (end-to-end mode)."""

    stack: Stack
    head: eqx.nn.Linear

    def __init__(self, stack: Stack, width: int, *, key: PRNGKeyArray):
        """A linear head from ``width`` features to a scalar on top of ``stack``."""
        self.stack = stack
        self.head = eqx.nn.Linear(width, "scalar", key=key)

    def __call__(self, x: Float[Array, "L d"]) -> Float[Array, ""]:
        """The scalar prediction for the path ``x``."""
        return self.head(self.stack.features(x))


def _ssm_layer(family: str, width: int, *, key: PRNGKeyArray) -> eqx.Module:
    """A zoo sequence layer, or the dotted path's layer, (L, width) -> (L, width)."""
    if ":" in family:
        return build(family, width, key=key)
    if family == "s4d":
        return S4D(width, 16, field="complex", key=key)
    if family == "mamba":
        return Mamba(width, key=key)
    raise ValueError(f"not a sequence-layer family: {family!r}")


def _lcde_layer(family: str, c_in: int, width: int, *, key: PRNGKeyArray) -> eqx.Module:
    """A linear neural CDE layer (L, c_in) -> hidden path (L, width)."""
    structure = "diagonal" if family == "lcde-diag" else "dense"
    gates = "t" if family == "lcde-t" else "tx"
    # Diagonal: the zoo's exact closed-form step (cheap). Dense: its Euler step; the exact dense
    # step is an expm per segment, far beyond this experiment's CPU budget (see the docs).
    solver = "exact" if structure == "diagonal" else "euler"
    return LinearCDE(c_in, width, structure=structure, gates=gates, solver=solver, key=key)
