"""Multi-query associative recall (MQAR, Zoology; Arora et al. 2023), and the token-task basics.

This module holds what every synthetic token task shares: the :class:`TokenBatch` result, the
reserved token :data:`BLANK` and the parameter checks that name the task, the parameter and the
allowed range. The MAD tasks and the registry of all token tasks are in
:mod:`ssmbench.tasks.mad`.

MQAR (``mqar``): a sequence opens with ``num_kv_pairs`` key-value pairs ``k1 v1 k2 v2 ...``
(distinct keys from ``[1, vocab_size // 2)``, distinct values from ``[vocab_size // 2,
vocab_size)``); the rest of the sequence holds ``num_queries`` of those keys again, each at an
even offset after the context, and the model must output the key's value at the query's
position. The gaps between the context and the queries are drawn from Zoology's power law
``p(g) ∝ power_a · g^(power_a - 1)`` (``g = 1 .. space``; ``power_a = 1`` is uniform, small
``power_a`` puts the queries near the context, as repeated bigrams are in text). Positions that
are neither context nor query hold :data:`BLANK` (``random_non_queries=False``) or uniform tokens
from the whole vocabulary (``True``, Zoology's default; such a token may equal a key, but is not
scored). Difficulty axis: ``num_kv_pairs`` (how many associations the state must hold).

Our variant: Zoology queries every pair (``num_queries == num_kv_pairs``); here ``num_queries``
may be smaller, and then a random subset of the pairs is queried. Zoology's defaults
(``vocab_size = 8192``) are shrunk to a CPU size (``vocab_size = 64, seq_len = 64``); its
requirement ``vocab_size > seq_len`` is dropped, since our keys and values never depend on it.
"""

from __future__ import annotations

import functools
import inspect
import math
from collections.abc import Callable, Mapping
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Bool, Float, Int, PRNGKeyArray, Shaped, UInt32

from ssmbench._validate import check_sizes

__all__ = ["BLANK", "TokenBatch", "mqar", "check_mqar"]

#: The filler token: padding, the blanks of the copying tasks, MQAR's non-query positions.
BLANK = 0


class TokenBatch(NamedTuple):
    """A batch of a token task: ``inputs`` (batch, seq_len) int32 token ids in
    ``[0, vocab_size)``, ``targets`` (batch, seq_len) int32 ids in ``[0, vocab_size)`` (the
    output wanted at each position), ``mask`` (batch, seq_len) bool, True at the positions that
    are scored; losses and accuracies count only those (elsewhere ``targets`` is 0)."""

    inputs: Int[Array, "batch seq_len"]
    targets: Int[Array, "batch seq_len"]
    mask: Bool[Array, "batch seq_len"]


def _check_int(
    task: str,
    p: Mapping[str, object],
    name: str,
    lo: int,
    hi: int | None = None,
    why: str = "",
    *,
    even: bool = False,
) -> int:
    """Raise a ValueError naming ``task`` and ``name`` unless ``p[name]`` is an integer in
    ``[lo, hi]`` (``hi=None``: no upper bound; ``even``: also even); ``why`` explains bounds."""
    v = p[name]
    ok = isinstance(v, int | np.integer) and not isinstance(v, bool)
    ok = ok and lo <= v and (hi is None or v <= hi) and (not even or v % 2 == 0)  # type: ignore[operator]
    if not ok:
        span = f"[{lo}, {hi}]" if hi is not None else f">= {lo}"
        kind = "an even integer" if even else "an integer"
        because = f" ({why})" if why else ""
        raise ValueError(f"{task}: {name} must be {kind} {span}{because}, got {v!r}")
    return int(v)  # type: ignore[call-overload]


def _check_float(
    task: str,
    p: Mapping[str, object],
    name: str,
    lo: float,
    hi: float,
    *,
    lo_open: bool = False,
    hi_open: bool = False,
) -> float:
    """Raise a ValueError naming ``task`` and ``name`` unless ``p[name]`` is a finite number in
    the interval from ``lo`` to ``hi`` (each end closed unless ``lo_open`` / ``hi_open``)."""
    v = p[name]
    ok = isinstance(v, int | float | np.integer | np.floating) and not isinstance(v, bool)
    ok = ok and math.isfinite(v)  # type: ignore[arg-type]
    ok = ok and (lo < v if lo_open else lo <= v) and (v < hi if hi_open else v <= hi)  # type: ignore[operator]
    if not ok:
        span = f"{'(' if lo_open else '['}{lo:g}, {hi:g}{')' if hi_open else ']'}"
        raise ValueError(f"{task}: {name} must be a number in {span}, got {v!r}")
    return float(v)  # type: ignore[arg-type]


def _check_bool(task: str, p: Mapping[str, object], name: str) -> bool:
    """Raise a ValueError naming ``task`` and ``name`` unless ``p[name]`` is a bool."""
    v = p[name]
    if not isinstance(v, bool | np.bool_):
        raise ValueError(f"{task}: {name} must be True or False, got {v!r}")
    return bool(v)


def _uniforms(key: PRNGKeyArray, *shapes: tuple[int, ...]) -> list[Float[Array, "..."]]:
    """Uniform float32 arrays in [0, 1), one per shape, cut from one flat threefry draw: on CPU
    each threefry call compiles in ~0.2 s, and a multi-dimensional one in several times that, so
    a generator draws once (its compile time fell from ~4 s to well under 1 s)."""
    sizes = [math.prod(s) for s in shapes]
    flat = jax.random.uniform(key, (sum(sizes),), jnp.float32)
    offsets = np.cumsum([0] + sizes)
    return [flat[o : o + n].reshape(s) for o, n, s in zip(offsets, sizes, shapes)]


def _ints(u: Float[Array, "..."], lo: int, hi: int) -> Int[Array, "..."]:
    """Uniform integers of ``[lo, hi)`` from uniforms ``u`` in [0, 1)."""
    i = jnp.floor(u * (hi - lo)).astype(jnp.int32)
    return lo + jnp.minimum(i, hi - lo - 1)  # float rounding never reaches hi


def _distinct(u: Float[Array, "... n"], k: int) -> Int[Array, "... k"]:
    """``k`` distinct integers of ``[0, n)`` per row, in random order, from uniforms ``u``."""
    return jnp.argsort(u, axis=-1)[..., :k].astype(jnp.int32)


def _mix(x: UInt32[Array, "..."]) -> UInt32[Array, "..."]:
    """A 32-bit integer hash (Wellons' lowbias32): a cheap random function of ``x``."""
    x = (x ^ (x >> 16)) * jnp.uint32(0x7FEB352D)
    x = (x ^ (x >> 15)) * jnp.uint32(0x846CA68B)
    return x ^ (x >> 16)


def _rows(shape: tuple[int, ...]) -> Int[Array, "..."]:
    """The batch index broadcast to ``shape`` (for ``x.at[rows, cols]``)."""
    ax = jnp.arange(shape[0], dtype=jnp.int32).reshape((-1,) + (1,) * (len(shape) - 1))
    return jnp.broadcast_to(ax, shape)


def _interleave(a: Shaped[Array, "b n"], b: Shaped[Array, "b n"]) -> Shaped[Array, "b 2*n"]:
    """``a0 b0 a1 b1 ...`` along the last axis."""
    return jnp.stack([a, b], axis=-1).reshape(a.shape[0], 2 * a.shape[1])


def _token_task(
    check: Callable[[Mapping[str, object]], None],
) -> Callable[[Callable[..., TokenBatch]], Callable[..., TokenBatch]]:
    """Make ``body(key, batch, *, **params)`` a token-task generator: each call first checks
    ``batch`` and the parameters (defaults filled in) with ``check``, which raises before any data
    is drawn, then runs ``body`` compiled with every argument but the key static (one cached
    program per parameter set, rather than slow op-by-op dispatch). ``generator.check`` is
    ``check``."""

    def wrap(body: Callable[..., TokenBatch]) -> Callable[..., TokenBatch]:
        sig = inspect.signature(body)
        jitted = jax.jit(body, static_argnames=list(sig.parameters)[1:])

        @functools.wraps(body)
        def generator(key: PRNGKeyArray, batch: int, **params: object) -> TokenBatch:
            bound = sig.bind(key, batch, **params)
            bound.apply_defaults()
            kw = {k: v for k, v in bound.arguments.items() if k not in ("key", "batch")}
            check_sizes(batch=batch)
            check(kw)
            return jitted(key, batch, **kw)

        generator.check = check  # type: ignore[attr-defined]
        return generator

    return wrap


def check_mqar(p: Mapping[str, object]) -> None:
    """Validate a full MQAR parameter dict (every parameter of :func:`mqar` present); raise a
    ValueError naming the parameter and its allowed range."""
    t = "mqar"
    v = _check_int(t, p, "vocab_size", 4, why="keys are 1 .. vocab_size // 2 - 1")
    n = _check_int(t, p, "seq_len", 4)
    _check_float(t, p, "power_a", 0.0, 1.0, lo_open=True)
    _check_bool(t, p, "random_non_queries")
    q = _check_int(
        t, p, "num_queries", 1, (n - 2) // 2, "2·num_kv_pairs + 2·num_queries <= seq_len"
    )
    _check_int(
        t, p, "num_kv_pairs", 1, min(v // 2 - 1, (n - 2 * q) // 2),
        f"distinct keys: vocab_size // 2 - 1 = {v // 2 - 1}; and "
        f"2·num_kv_pairs + 2·num_queries <= seq_len = {n} with num_queries = {q}",
    )  # fmt: skip
    _check_int(t, p, "num_queries", 1, int(p["num_kv_pairs"]), "each query asks a distinct pair")  # type: ignore[call-overload]


@_token_task(check_mqar)
def mqar(
    key: PRNGKeyArray,
    batch: int,
    *,
    vocab_size: int = 64,
    seq_len: int = 64,
    num_kv_pairs: int = 8,
    num_queries: int = 8,
    power_a: float = 0.01,
    random_non_queries: bool = True,
) -> TokenBatch:
    """``batch`` MQAR sequences (see the module docstring): ``num_kv_pairs`` pairs, then
    ``num_queries`` of their keys at power-law gaps; the target at a query is its key's value.

    Exactly ``num_queries`` positions per sequence are scored. The parameters are static Python
    values (under an outer ``jax.jit``, close over them).
    """
    half, ctx = vocab_size // 2, 2 * num_kv_pairs
    space = (seq_len - ctx) // 2  # query slots: even offsets after the context
    u_keys, u_vals, u_pick, u_gap, u_fill = _uniforms(
        key, (batch, half - 1), (batch, vocab_size - half), (batch, num_kv_pairs),
        (batch, space), (batch, seq_len - ctx),
    )  # fmt: skip
    keys = 1 + _distinct(u_keys, num_kv_pairs)
    vals = half + _distinct(u_vals, num_kv_pairs)
    which = _distinct(u_pick, num_queries)  # the pairs that are queried
    g = np.arange(1, space + 1, dtype=np.float64)
    logp = jnp.asarray(np.log(power_a * g ** (power_a - 1.0))[None, :], jnp.float32)
    # Gumbel top-k: num_queries distinct gaps, drawn without replacement with p ∝ power law
    gumbel = -jnp.log(-jnp.log(u_gap))
    gaps = jnp.argsort(-(gumbel + logp), axis=1)[:, :num_queries].astype(jnp.int32)
    pos = ctx + 2 * gaps
    rows = _rows(pos.shape)
    context = _interleave(keys, vals)
    if random_non_queries:
        fill = _ints(u_fill, 0, vocab_size)
    else:
        fill = jnp.full((batch, seq_len - ctx), BLANK, jnp.int32)
    inputs = jnp.concatenate([context, fill], axis=1)
    inputs = inputs.at[rows, pos].set(jnp.take_along_axis(keys, which, axis=1))
    targets = jnp.zeros((batch, seq_len), jnp.int32)
    targets = targets.at[rows, pos].set(jnp.take_along_axis(vals, which, axis=1))
    mask = jnp.zeros((batch, seq_len), jnp.bool_).at[rows, pos].set(True)
    return TokenBatch(inputs, targets, mask)
