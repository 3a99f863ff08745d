"""Chimera: a selective 2-D SSM over (time, variates), and a one-step forecaster built on it.

Behrouz, Santacatterina, Zabih, "Chimera: Effectively Modeling Multivariate Time Series with
2-Dimensional State Space Models", NeurIPS 2024 (arXiv 2406.04320). No public code; the paper's
equations could not be read here, so the layer follows the recursion reconstructed in
:mod:`ssmbench.scan.scan2d` (what is confirmed and what is not: ``docs/claims/chimera.md``):

- input-dependent ``δ1, δ2`` (per cell and channel) and ``B1, B2, C1, C2`` (per cell, shared
  by the channels), from one linear projection of the cell's features, as in Mamba;
- heads with different time-step ranges: by default a small-step head (long-term progression)
  and a large-step head (seasonal patterns); the heads are summed;
- a forward and a backward copy along the variates (variates have no natural order), summed;
- ``variate=False`` zeroes every cross-variate term (``A2 = A3 = 0``, ``C2 = 0``): each variate
  is then an independent 1-D selective SSM (the ablation "without the variate direction").
"""

# No ``from __future__ import annotations`` here: equinox must see ``AbstractVar`` unstringified.
import abc
import math
from typing import final

import equinox as eqx
import jax
import jax.numpy as jnp
from jaxtyping import Array, Float, PRNGKeyArray

from .._validate import check_inexact, check_sizes
from ..scan.scan2d import Method2D, scan2d
from ._common import cast_floats, to_complex

__all__ = ["AbstractVariateLayer", "ChimeraForecaster", "ChimeraLayer", "ChimeraStack"]

#: Default time-step ranges of the heads: long-term progression, seasonal patterns.
DEFAULT_DT_RANGES = ((1e-3, 0.05), (0.05, 1.0))


class AbstractVariateLayer(eqx.Module):
    """A layer over a multivariate sequence: (T, V, d_model) -> (T, V, d_model), causal in time.

    Unbatched; output ``[t, v]`` depends on inputs at times ``<= t`` only (any variate).
    """

    d_model: eqx.AbstractVar[int]

    @abc.abstractmethod
    def __call__(self, x: Float[Array, "T V d"]) -> Float[Array, "T V d"]:
        """Apply to one multivariate sequence (T, V, d_model); the output has ``x``'s dtype."""


def check_grid(name: str, x: Array, d: int | None, *, min_variates: int = 1) -> None:
    """Raise early, naming ``name``, unless ``x`` is a real (T, V, d) array (or (T, V) when
    ``d`` is None) with at least ``min_variates`` variates."""
    check_inexact(name, x)
    want = 2 if d is None else 3
    if x.ndim != want or (d is not None and x.shape[-1] != d):
        shape = "(T, V)" if d is None else f"(T, V, {d})"
        raise ValueError(f"{name} must have shape {shape}, got {x.shape}")
    if x.shape[1] < min_variates:
        raise ValueError(
            f"{name} has V = {x.shape[1]} variate(s); the variate direction needs V >= "
            f"{min_variates} (use variate=False for a single series)"
        )


@final
class ChimeraLayer(AbstractVariateLayer):
    """Chimera's selective 2-D SSM layer (module docstring): (T, V, d) -> (T, V, d).

    Args:
        d_model: channels d per cell.
        d_state: modes n per head and direction (complex diagonal; output ``Re``).
        heads: number of heads; head k draws its time-step bias from ``dt_ranges[k]``.
        dt_ranges: (lo, hi) per head (default :data:`DEFAULT_DT_RANGES`, extended by
            (1e-3, 0.1) beyond two heads).
        dt2_range: the variate-step range of every head.
        bidirectional: a second copy scanning the variates in reverse order.
        variate: keep the cross-variate terms (False: per-variate ablation).
        method: :func:`ssmbench.scan.scan2d` method.
    """

    A_log: Float[Array, "r k 2 d n"]
    A_imag: Float[Array, "r k 2 d n"]
    A_cross: Float[Array, "r k 2 d n 2"]
    proj: eqx.nn.Linear
    dt_bias: Float[Array, "r k 2 d"]
    D: Float[Array, " d"]
    d_model: int = eqx.field(static=True)
    d_state: int = eqx.field(static=True)
    heads: int = eqx.field(static=True)
    bidirectional: bool = eqx.field(static=True)
    variate: bool = eqx.field(static=True)
    method: str = eqx.field(static=True)

    def __init__(
        self,
        d_model: int,
        d_state: int = 8,
        heads: int = 2,
        *,
        dt_ranges: tuple[tuple[float, float], ...] | None = None,
        dt2_range: tuple[float, float] = (0.05, 1.0),
        bidirectional: bool = True,
        variate: bool = True,
        method: Method2D = "auto",
        key: PRNGKeyArray,
    ):
        check_sizes(d_model=d_model, d_state=d_state, heads=heads)
        if dt_ranges is None:
            dt_ranges = DEFAULT_DT_RANGES[:heads] + ((1e-3, 0.1),) * max(0, heads - 2)
        if len(dt_ranges) != heads:
            raise ValueError(f"dt_ranges needs {heads} (lo, hi) pairs, got {len(dt_ranges)}")
        d, n, r = d_model, d_state, 2 if bidirectional else 1
        self.d_model, self.d_state, self.heads = d, n, heads
        self.bidirectional, self.variate, self.method = bidirectional, variate, method
        ks = jax.random.split(key, 4)
        # S4D-Lin along time (-1/2 + i pi m); real decay -1/2 along the variates
        self.A_log = jnp.full((r, heads, 2, d, n), math.log(0.5))
        imag = jnp.pi * jnp.arange(n, dtype=self.A_log.dtype)
        self.A_imag = jnp.stack(
            [jnp.broadcast_to(imag, (r, heads, d, n)), jnp.zeros((r, heads, d, n))], 2
        )
        self.A_cross = 0.5 * jax.random.normal(ks[0], (r, heads, 2, d, n, 2)) / math.sqrt(n)
        self.proj = eqx.nn.Linear(d, r * heads * (2 * d + 8 * n), key=ks[1])
        lo = jnp.log(jnp.array([[rg[0], dt2_range[0]] for rg in dt_ranges]))
        hi = jnp.log(jnp.array([[rg[1], dt2_range[1]] for rg in dt_ranges]))
        dt = jnp.exp(
            jax.random.uniform(
                ks[2], (r, heads, d, 2), minval=lo[None, :, None], maxval=hi[None, :, None]
            )
        )
        self.dt_bias = jnp.moveaxis(dt + jnp.log(-jnp.expm1(-dt)), -1, 2)  # softplus^-1(dt)
        self.D = jnp.ones((d,))

    def _direction(self, u, p, j: int):
        """Sum over heads of one direction's scan; ``u`` (V, T, d), ``p`` (V, T, k, P)."""
        d, n = self.d_model, self.d_state
        A = to_complex(-jnp.exp(self.A_log[j]), self.A_imag[j])  # (k, 2, d, n)
        cross = to_complex(self.A_cross[j][..., 0], self.A_cross[j][..., 1])  # (k, 2, d, n)
        p = jnp.moveaxis(p, 2, 0)  # (k, V, T, P)
        dt = jax.nn.softplus(
            jnp.stack([p[..., :d], p[..., d : 2 * d]], 1) + self.dt_bias[j][:, :, None, None, :]
        )  # (k, 2, V, T, d)
        bc = p[..., 2 * d :].reshape(p.shape[:3] + (4, n, 2))
        B1, B2, C1, C2 = (to_complex(bc[..., i, :, 0], bc[..., i, :, 1]) for i in range(4))
        A2, A3 = cross[:, 0], cross[:, 1]
        if not self.variate:
            A2, A3, C2 = jnp.zeros_like(A2), jnp.zeros_like(A3), jnp.zeros_like(C2)

        def one_head(dt1, dt2, A1, A2, A3, A4, B1, B2, C1, C2):
            return scan2d(u, dt1, dt2, A1, A2, A3, A4, B1, B2, C1, C2, method=self.method)

        ys = jax.vmap(one_head)(dt[:, 0], dt[:, 1], A[:, 0], A2, A3, A[:, 1], B1, B2, C1, C2)
        return jnp.sum(ys, 0)

    def __call__(self, x: Float[Array, "T V d"]) -> Float[Array, "T V d"]:
        """Apply to one multivariate sequence (T, V, d); output dtype follows ``x``."""
        check_grid("x", x, self.d_model, min_variates=2 if self.variate else 1)
        m = cast_floats(self, x.dtype)
        u = jnp.swapaxes(x, 0, 1)  # (V, T, d)
        V, T, _ = u.shape
        r = 2 if self.bidirectional else 1
        p = jax.vmap(jax.vmap(m.proj))(u).reshape(V, T, r, self.heads, -1)
        y = m._direction(u, p[:, :, 0], 0)
        if self.bidirectional:  # the reverse variate order: flip in, scan, flip back
            y = y + m._direction(u[::-1], p[::-1, :, 1], 1)[::-1]
        return (jnp.swapaxes(y, 0, 1) + x * m.D[None, None, :]).astype(x.dtype)


def _init_trunk(m, n_variates, d_model, d_state, depth, d_head, key, layer_kwargs) -> None:
    """Set the shared trunk's fields on ``m`` (a Chimera stack's ``__init__``)."""
    check_sizes(n_variates=n_variates, d_model=d_model, depth=depth, d_head=d_head)
    ks = jax.random.split(key, 3 + 2 * depth)
    m.n_variates = n_variates
    m.embed = eqx.nn.Linear(1, d_model, key=ks[0])
    m.variate_embed = 0.1 * jax.random.normal(ks[1], (n_variates, d_model))
    m.norms = [eqx.nn.LayerNorm(d_model) for _ in range(depth)]
    m.layers = [ChimeraLayer(d_model, d_state, key=ks[3 + i], **layer_kwargs) for i in range(depth)]
    m.glus = [eqx.nn.Linear(d_model, 2 * d_model, key=ks[3 + depth + i]) for i in range(depth)]
    m.norm = eqx.nn.LayerNorm(d_model)
    m.head = eqx.nn.Linear(d_model, d_head, key=ks[2])


def _trunk(stack, x: Float[Array, "T V"]) -> tuple[eqx.Module, Float[Array, "T V d"]]:
    """The shared trunk of a Chimera stack on one series, after checking ``x`` and casting the
    stack to its dtype: per-cell embedding plus the variate's embedding, ``depth`` blocks
    ``x + GLU(ChimeraLayer(norm(x)))``, final norm. Returns (the cast stack, the features)."""
    check_grid("x", x, None)
    if x.shape[1] != stack.n_variates:
        raise ValueError(f"x must have {stack.n_variates} variates, got shape {x.shape}")
    m = cast_floats(stack, x.dtype)
    cells = jax.vmap(jax.vmap(m.embed))(x[..., None]) + m.variate_embed[None]  # (T, V, d)
    per_cell = lambda f, z: jax.vmap(jax.vmap(f))(z)  # noqa: E731
    for norm, layer, glu in zip(m.norms, m.layers, m.glus):
        h = layer(per_cell(norm, cells))
        a, b = jnp.split(per_cell(glu, jax.nn.gelu(h)), 2, axis=-1)
        cells = cells + a * jax.nn.sigmoid(b)
    return m, per_cell(m.norm, cells)


@final
class ChimeraForecaster(eqx.Module):
    """One-step forecaster: a series (T, V) -> predictions (T, V) of ``x[t + 1]`` at each t.

    Per cell: a linear embedding of the value plus a learned per-variate embedding (our
    choice: it lets input-dependent parameters tell the variates apart); ``depth`` pre-norm
    residual blocks ``x + GLU(ChimeraLayer(norm(x)))``; a final norm and a linear readout.
    ``layer_kwargs`` go to every :class:`ChimeraLayer` (``heads``, ``variate``, ...).
    """

    embed: eqx.nn.Linear
    variate_embed: Float[Array, "V d"]
    norms: list[eqx.nn.LayerNorm]
    layers: list[ChimeraLayer]
    glus: list[eqx.nn.Linear]
    norm: eqx.nn.LayerNorm
    head: eqx.nn.Linear
    n_variates: int = eqx.field(static=True)

    def __init__(
        self,
        n_variates: int,
        d_model: int = 16,
        d_state: int = 8,
        depth: int = 2,
        *,
        key: PRNGKeyArray,
        **layer_kwargs,
    ):
        _init_trunk(self, n_variates, d_model, d_state, depth, 1, key, layer_kwargs)

    def __call__(self, x: Float[Array, "T V"]) -> Float[Array, "T V"]:
        """Predict ``x[t + 1]`` from ``x[:t + 1]`` at every t; output dtype follows ``x``."""
        m, h = _trunk(self, x)
        return jax.vmap(jax.vmap(m.head))(h)[..., 0].astype(x.dtype)


@final
class ChimeraStack(eqx.Module):
    """A multivariate sequence (T, V) -> per-step outputs (T, d_out), causal in time: the
    forecaster's trunk (:class:`ChimeraForecaster`), then the mean over the variates and a
    linear decoder. The zoo benchmark's 2-D layer on multivariate data (per-step logits).
    """

    embed: eqx.nn.Linear
    variate_embed: Float[Array, "V d"]
    norms: list[eqx.nn.LayerNorm]
    layers: list[ChimeraLayer]
    glus: list[eqx.nn.Linear]
    norm: eqx.nn.LayerNorm
    head: eqx.nn.Linear
    n_variates: int = eqx.field(static=True)

    def __init__(
        self,
        n_variates: int,
        d_out: int,
        d_model: int = 16,
        d_state: int = 8,
        depth: int = 2,
        *,
        key: PRNGKeyArray,
        **layer_kwargs,
    ):
        _init_trunk(self, n_variates, d_model, d_state, depth, d_out, key, layer_kwargs)

    def __call__(self, x: Float[Array, "T V"]) -> Float[Array, "T o"]:
        """Per-step outputs (T, d_out) of one series; output dtype follows ``x``."""
        m, h = _trunk(self, x)
        return jax.vmap(m.head)(jnp.mean(h, 1)).astype(x.dtype)

    def state_size(self) -> int:
        """Real numbers the stack carries from one time step to the next: per block, variate,
        direction and head, the complex time and variate states ``h1, h2`` (d x n each)."""
        r, k, _, d, n = self.layers[0].A_log.shape
        return len(self.layers) * self.n_variates * r * k * 2 * d * n * 2
