"""MAD's memorization and compression tasks (Poli et al. 2024); registered, with the other
token tasks, in :mod:`ssmbench.tasks.mad` (see its docstring for the conventions)."""

from __future__ import annotations

from collections.abc import Mapping

import jax
import jax.numpy as jnp
from jaxtyping import Array, Int, PRNGKeyArray

from ssmbench.tasks.mqar import (
    BLANK,
    TokenBatch,
    _check_int,
    _interleave,
    _ints,
    _token_task,
    _uniforms,
)

__all__ = ["COMPRESS", "INSERT", "compression", "memorization", "memorization_kv_map"]

#: Compression: "the input is over; now output it" (data tokens are ``[2, vocab_size)``).
COMPRESS = 1
#: Memorization: "output the value of the key before me" (keys and values are ``>= 1``).
INSERT = 0

_Params = Mapping[str, object]


# --- memorization ------------------------------------------------------------------------------


def _check_memorization(p: _Params) -> None:
    """Validate memorization's parameters."""
    t = "memorization"
    _check_int(t, p, "vocab_size", 3, why="INSERT = 0, >= 1 key and >= 1 value")
    _check_int(t, p, "seq_len", 2, even=True, why="key-INSERT pairs")
    _check_int(t, p, "kv_map_seed", 0, 2**31 - 1)


def memorization_kv_map(vocab_size: int = 64, kv_map_seed: int = 12345) -> Int[Array, " nk"]:
    """The fixed key -> value map of :func:`memorization`: entry ``i`` is the value of key
    ``1 + i``, ``i < nk = (vocab_size - 1) // 2``; values are distinct ids of
    ``[1 + nk, vocab_size)``. It depends on ``vocab_size`` and ``kv_map_seed`` only."""
    _check_memorization(dict(vocab_size=vocab_size, seq_len=2, kv_map_seed=kv_map_seed))
    nk = (vocab_size - 1) // 2
    perm = jax.random.permutation(jax.random.PRNGKey(kv_map_seed), vocab_size - 1 - nk)
    return (1 + nk + perm[:nk]).astype(jnp.int32)


@_token_task(_check_memorization)
def memorization(
    key: PRNGKeyArray,
    batch: int,
    *,
    vocab_size: int = 64,
    seq_len: int = 32,
    kv_map_seed: int = 12345,
) -> TokenBatch:
    """MAD's memorization: ``seq_len / 2`` pairs ``k INSERT``, keys uniform in ``[1, 1 + nk)``;
    the target at each :data:`INSERT` (scored) is ``memorization_kv_map(vocab_size,
    kv_map_seed)[k - 1]``, the same map for every key and batch, so it must be learned into the
    weights.

    Our variant: ``vocab_size`` 64 by default (MAD: 256) and no noise option (MAD's is off by
    default)."""
    nk, table = (vocab_size - 1) // 2, memorization_kv_map(vocab_size, kv_map_seed)
    keys = _ints(_uniforms(key, (batch, seq_len // 2))[0], 1, 1 + nk)
    inputs = _interleave(keys, jnp.full_like(keys, INSERT))
    targets = _interleave(jnp.zeros_like(keys), table[keys - 1])
    mask = _interleave(jnp.zeros_like(keys, jnp.bool_), jnp.ones_like(keys, jnp.bool_))
    return TokenBatch(inputs, targets, mask)


# --- compression -------------------------------------------------------------------------------


def _check_compression(p: _Params) -> None:
    """Validate compression's parameters."""
    t = "compression"
    _check_int(t, p, "vocab_size", 4, why="BLANK = 0, COMPRESS = 1 and >= 2 data tokens")
    _check_int(t, p, "seq_len", 2, even=True, why="seq_len / 2 tokens, then their recall")


@_token_task(_check_compression)
def compression(
    key: PRNGKeyArray, batch: int, *, vocab_size: int = 16, seq_len: int = 32
) -> TokenBatch:
    """Compression, our variant: ``n = seq_len / 2`` data tokens uniform in ``[2, vocab_size)``,
    then :data:`COMPRESS`, then ``n - 1`` :data:`BLANK` s; the targets at :data:`COMPRESS` and
    the blanks (scored) are the data tokens in order.

    MAD trains an encoder to compress the sequence into the output at its final compression
    token and an MLP decoder to rebuild every token from it. A token-to-token model has no such
    decoder, so here the model itself rebuilds the tokens after the cue, from inputs that carry
    no information: a recurrent model must hold the whole sequence in its state at the cue."""
    n = seq_len // 2
    data = _ints(_uniforms(key, (batch, n))[0], 2, vocab_size)
    tail = jnp.full((batch, n), BLANK, jnp.int32).at[:, 0].set(COMPRESS)
    inputs = jnp.concatenate([data, tail], axis=1)
    targets = jnp.concatenate([jnp.zeros_like(data), data], axis=1)
    mask = jnp.broadcast_to(jnp.arange(seq_len, dtype=jnp.int32)[None, :] >= n, inputs.shape)
    return TokenBatch(inputs, targets, mask)
