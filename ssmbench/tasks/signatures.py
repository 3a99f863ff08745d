"""Rough-path data: random paths and their signature terms as regression targets.

- :func:`random_walk_paths`: the toy paths of Cirone et al. (NeurIPS 2024, arXiv 2402.19047):
  random walks with integer-rounded N(0, 1) increments, scaled into [-1, 1];
- :func:`brownian_paths`: Brownian paths from diffrax's ``VirtualBrownianTree``;
- :func:`signature_targets`: signature terms S^I of the paths (signax), one column per word
  (:func:`parse_words`: ``"12"`` is the Lévy-area term S^{12}, ``"level:k"`` every word of
  length k).
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence

import diffrax
import jax
import jax.numpy as jnp
import numpy as np
import signax
from jaxtyping import Array, Float, PRNGKeyArray

__all__ = ["Word", "random_walk_paths", "brownian_paths", "parse_words", "signature_targets"]


def _check_sizes(n: int, length: int, dim: int) -> None:
    """Raise ValueError unless ``n`` >= 1, ``length`` >= 2 and ``dim`` >= 1 are integers."""
    for name, v, lo in (("n", n, 1), ("length", length, 2), ("dim", dim, 1)):
        if not isinstance(v, int | np.integer) or v < lo:
            raise ValueError(f"{name} must be an integer >= {lo}, got {v!r}")


def random_walk_paths(
    key: PRNGKeyArray,
    n: int,
    length: int,
    dim: int,
    *,
    normalize: bool = True,
    dtype: jnp.dtype = jnp.float32,
) -> Float[Array, "n length dim"]:
    """The authors' toy paths: random walks with integer-rounded N(0, 1) increments.

    Each channel's increments are independent standard normals rounded to the nearest integer,
    cumulatively summed over ``length`` samples (so the first sample is the first increment, as in
    the authors' ``generate_toy_dataset.py``). With ``normalize`` the whole batch is divided by its
    global max |x|, so every value lies in [-1, 1]. Time is implicit: sample k sits at
    t = k / (length - 1) on [0, 1].
    """
    _check_sizes(n, length, dim)
    inc = jnp.round(jax.random.normal(key, (n, length, dim), dtype=dtype))
    x = jnp.cumsum(inc, axis=1)
    if normalize:
        x = x / jnp.maximum(jnp.max(jnp.abs(x)), jnp.asarray(1.0, dtype))
    return x


def brownian_paths(
    key: PRNGKeyArray,
    n: int,
    length: int,
    dim: int,
    *,
    t1: float = 1.0,
    tol: float = 1e-3,
    dtype: jnp.dtype = jnp.float32,
) -> Float[Array, "n length dim"]:
    """Brownian paths from diffrax's ``VirtualBrownianTree``, sampled on a uniform grid of [0, t1].

    Each path starts at 0 and has ``length`` samples at t_k = k t1 / (length - 1). ``tol`` is the
    tree's time resolution; it is clipped below the grid spacing so that the grid is resolved.
    """
    _check_sizes(n, length, dim)
    ts = jnp.linspace(0.0, t1, length, dtype=dtype)
    tol = min(tol, 0.25 * t1 / (length - 1))

    def one(k: PRNGKeyArray) -> Array:
        """One path, sampled on the grid ``ts``."""
        bm = diffrax.VirtualBrownianTree(
            0.0, t1, tol=tol, shape=jax.ShapeDtypeStruct((dim,), dtype), key=k
        )
        return jax.vmap(lambda t: bm.evaluate(0.0, t))(ts)

    return jax.vmap(one)(jax.random.split(key, n))


#: A signature word: a tuple of 0-based letters (channel indices).
Word = tuple[int, ...]


def parse_words(spec: str | Sequence[str], dim: int) -> list[Word]:
    """Parse signature words into 0-based letter tuples.

    ``spec`` is one item or a list of items; an item is either a word of 1-based letters, e.g.
    ``"12"`` (the Lévy-area term S^{12}) or ``"123"`` (the volume term S^{123}), or
    ``"level:k"``, meaning all ``dim**k`` words of length k in lexicographic order.
    Letters must be in 1..dim (so at most 9 channels in word notation).
    """
    items = [spec] if isinstance(spec, str) else list(spec)
    if not items:
        raise ValueError("spec must name at least one word")
    words: list[Word] = []
    for item in items:
        if item.startswith("level:"):
            k = int(item.split(":", 1)[1])
            if k < 1:
                raise ValueError(f"level must be >= 1, got {item!r}")
            words.extend(itertools.product(range(dim), repeat=k))
            continue
        if not item or not item.isdigit():
            raise ValueError(f"a word is a string of letters 1..{dim}, got {item!r}")
        w = tuple(int(c) - 1 for c in item)
        if min(w) < 0 or max(w) >= dim:
            raise ValueError(f"word {item!r} has letters outside 1..{dim}")
        words.append(w)
    return words


def signature_targets(
    paths: Float[Array, "n length dim"], spec: str | Sequence[str]
) -> Float[Array, "n n_words"]:
    """Signature terms S^I(X)_[0,T] of the piecewise-linear interpolation of each path.

    Computed with ``signax.signature`` truncated at the longest word; column j is the word j of
    ``parse_words(spec, dim)``. The dtype follows the paths.
    """
    if paths.ndim != 3:
        raise ValueError(f"paths must have shape (n, length, dim), got {paths.shape}")
    words = parse_words(spec, paths.shape[-1])
    depth = max(len(w) for w in words)
    sig = signax.signature(paths, depth, flatten=False)  # [(n, d), (n, d, d), ...]
    cols = [sig[len(w) - 1][(slice(None), *w)] for w in words]
    return jnp.stack(cols, axis=-1)
