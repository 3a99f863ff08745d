"""Deep residual stacks of any zoo layer, with sequence-to-sequence / vector / next-step heads.

Each residual block is (pre-norm) ``x + dropout(mlp(layer(norm(x))))``, where ``mlp`` is a
GELU followed by a GLU (``Linear(d, 2d)`` + GLU, as in S4/S4D), a two-layer GELU MLP, or
nothing (the default for Mamba, whose block is already gated). An encoder ``Linear(d_in,
d_model)`` and a decoder ``Linear(d_model, d_out)`` surround the stack. Heads:

- ``"seq2seq"``: (L, d_in) -> (L, d_out), decoder at every step;
- ``"seq2vec"``: (L, d_in) -> (d_out,), mean over time, then the decoder;
- ``"next-step"``: (L, d_in) -> (L, d_out), output t is the prediction of x_{t+1}. Every
  layer in the zoo is causal in time, so output t depends on x_{<=t} only.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Literal, final

import equinox as eqx
import jax
import jax.numpy as jnp
from jaxtyping import Array, Float, PRNGKeyArray

from .._validate import load_dotted
from ._base import AbstractSequenceLayer
from ._common import cast_floats
from .diagonal import LRU, S4D
from .lcde import LinearCDE
from .mamba import Mamba
from .s4 import S4
from .ssm2d import SSM2D

__all__ = ["LAYERS", "Block", "Deep", "build", "load_layer"]


def _s4d_real(d_model, **kw):
    """S4D with ``field="real"``."""
    return S4D(d_model, field="real", **kw)


def _lcde(d_model, *, key, **kw):
    """A :class:`LinearCDE` of width ``d_model`` in and out, diagonal by default (see below)."""
    # Inside a deep stack the control is a LayerNorm'd feature path with O(1) increments per
    # step in d_model channels: a dense CDE grows like exp(variation) there, so the stack uses
    # the diagonal (Mamba-like) variant with A_i scaled by 1/sqrt(#gates) unless told otherwise.
    kw.setdefault("structure", "diagonal")
    kw.setdefault("a_std", 1 / math.sqrt(d_model + 1))
    return LinearCDE(d_model, kw.pop("hidden", 64), d_model, key=key, **kw)


#: Layer constructors by name: ``f(d_model, *, key, **kwargs)`` -> (L, d_model) -> (L, d_model).
LAYERS: dict[str, Callable[..., AbstractSequenceLayer]] = {
    "s4": S4,
    "s4d": S4D,
    "s4d-real": _s4d_real,
    "lru": LRU,
    "mamba": Mamba,
    "ssm2d": SSM2D,
    "lcde": _lcde,
}


def load_layer(path: str) -> Callable[..., AbstractSequenceLayer]:
    """The layer constructor a dotted path ``"package.module:Name"`` names (bring your own model).

    ``Name`` must be a subclass of :class:`AbstractSequenceLayer` or a function returning one;
    it is called as ``Name(d_model, *, key, **kwargs)``. The module is imported by name, so it
    must be importable from where the run starts (the working directory and the suite's own
    directory are on the import path during a suite run).
    """
    ctor = load_dotted(path, "layer")
    if isinstance(ctor, type) and not issubclass(ctor, AbstractSequenceLayer):
        raise TypeError(
            f"layer {path!r}: {ctor.__name__} must subclass ssmbench.models.AbstractSequenceLayer "
            f"(the protocol: Layer(d_model, *, key, **kwargs), an unbatched (L, d_model) -> "
            f"(L, d_model) causal __call__)"
        )
    return ctor


def build(name: str, d_model: int, *, key: PRNGKeyArray, **kwargs) -> AbstractSequenceLayer:
    """Build the zoo layer ``name`` (see :data:`LAYERS`), or the layer a dotted path
    ``"package.module:Name"`` names (see :func:`load_layer`), of width ``d_model``.

    Extra keyword arguments go to the layer's constructor, e.g.
    ``build("s4d", 64, field="real", key=k)`` or ``build("mamba", 64, complex_A=True, key=k)``.
    """
    if ":" in name:
        ctor = load_layer(name)
    else:
        try:
            ctor = LAYERS[name]
        except KeyError:
            raise ValueError(
                f"unknown layer {name!r}; known: {sorted(LAYERS)}, or a dotted path "
                f"'package.module:Name'"
            ) from None
    layer = ctor(d_model, key=key, **kwargs)
    if not isinstance(layer, AbstractSequenceLayer):
        raise TypeError(
            f"layer {name!r} built a {type(layer).__name__}, not an AbstractSequenceLayer"
        )
    return layer


@final
class _GLU(eqx.Module):
    """GELU, then ``Linear(d, 2d)`` and a gated linear unit: (d,) -> (d,)."""

    lin: eqx.nn.Linear

    def __call__(self, x):
        """Apply to one step (d,)."""
        a, b = jnp.split(self.lin(jax.nn.gelu(x)), 2)
        return a * jax.nn.sigmoid(b)


@final
class _MLP(eqx.Module):
    """Two-layer GELU MLP: (d,) -> (2d,) -> (d,)."""

    l1: eqx.nn.Linear
    l2: eqx.nn.Linear

    def __call__(self, x):
        """Apply to one step (d,)."""
        return self.l2(jax.nn.gelu(self.l1(x)))


@final
class Block(eqx.Module):
    """Pre-norm residual block around one zoo layer: ``x + dropout(mlp(layer(norm(x))))``."""

    norm: eqx.nn.LayerNorm
    layer: AbstractSequenceLayer
    mlp: eqx.Module | None
    dropout: eqx.nn.Dropout

    def __init__(
        self,
        layer: str,
        d_model: int,
        *,
        mlp: Literal["glu", "mlp", "none"] | None = None,
        dropout: float = 0.0,
        key: PRNGKeyArray,
        **layer_kwargs,
    ):
        k1, k2, k3 = jax.random.split(key, 3)
        self.norm = eqx.nn.LayerNorm(d_model)
        self.layer = build(layer, d_model, key=k1, **layer_kwargs)
        mlp = mlp or ("none" if layer == "mamba" else "glu")
        if mlp == "glu":
            self.mlp = _GLU(eqx.nn.Linear(d_model, 2 * d_model, key=k2))
        elif mlp == "mlp":
            self.mlp = _MLP(
                eqx.nn.Linear(d_model, 2 * d_model, key=k2),
                eqx.nn.Linear(2 * d_model, d_model, key=k3),
            )
        elif mlp == "none":
            self.mlp = None
        else:
            raise ValueError(f"mlp must be 'glu', 'mlp' or 'none', got {mlp!r}")
        self.dropout = eqx.nn.Dropout(dropout)

    def __call__(
        self, x: Float[Array, "L d"], *, key: PRNGKeyArray | None = None
    ) -> Float[Array, "L d"]:
        """Apply to (L, d_model); dropout is active only when ``key`` is given."""
        y = self.layer(jax.vmap(self.norm)(x))
        if self.mlp is not None:
            y = jax.vmap(self.mlp)(y)
        y = self.dropout(y, key=key, inference=key is None)
        return x + y


@final
class Deep(eqx.Module):
    """Encoder -> ``depth`` residual blocks of layer ``layer`` -> final norm -> decoder.

    Args:
        layer: a name in :data:`LAYERS`.
        d_in, d_model, d_out: input, model and output widths.
        depth: number of residual blocks.
        head: ``"seq2seq"``, ``"seq2vec"`` or ``"next-step"``.
        mlp, dropout: per-block options (see :class:`Block`).
        layer_kwargs: passed to every layer's constructor.
    """

    encoder: eqx.nn.Linear
    blocks: list[Block]
    norm: eqx.nn.LayerNorm
    decoder: eqx.nn.Linear
    head: str = eqx.field(static=True)
    d_in: int = eqx.field(static=True)

    def __init__(
        self,
        layer: str,
        d_in: int,
        d_model: int,
        d_out: int,
        depth: int = 2,
        *,
        head: Literal["seq2seq", "seq2vec", "next-step"] = "seq2seq",
        mlp: Literal["glu", "mlp", "none"] | None = None,
        dropout: float = 0.0,
        layer_kwargs: dict | None = None,
        key: PRNGKeyArray,
    ):
        if head not in ("seq2seq", "seq2vec", "next-step"):
            raise ValueError(f"head must be 'seq2seq', 'seq2vec' or 'next-step', got {head!r}")
        ke, kd, *kb = jax.random.split(key, depth + 2)
        self.encoder = eqx.nn.Linear(d_in, d_model, key=ke)
        self.blocks = [
            Block(layer, d_model, mlp=mlp, dropout=dropout, key=k, **(layer_kwargs or {}))
            for k in kb
        ]
        self.norm = eqx.nn.LayerNorm(d_model)
        self.decoder = eqx.nn.Linear(d_model, d_out, key=kd)
        self.head, self.d_in = head, d_in

    def __call__(
        self, x: Float[Array, "L d_in"], *, key: PRNGKeyArray | None = None
    ) -> Float[Array, "L d_out"] | Float[Array, " d_out"]:
        """Apply to one sequence; output dtype follows ``x``."""
        if x.ndim != 2 or x.shape[1] != self.d_in:
            raise ValueError(f"x must have shape (L, {self.d_in}), got {x.shape}")
        m = cast_floats(self, x.dtype)
        h = jax.vmap(m.encoder)(x)
        keys = [None] * len(m.blocks) if key is None else list(jax.random.split(key, len(m.blocks)))
        for blk, k in zip(m.blocks, keys):
            h = blk(h, key=k)
        h = jax.vmap(m.norm)(h)
        if self.head == "seq2vec":
            return m.decoder(h.mean(0))
        return jax.vmap(m.decoder)(h)
