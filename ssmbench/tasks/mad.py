"""MAD's six synthetic token tasks (Poli et al. 2024, "Mechanistic Design and Scaling of Hybrid
Architectures"), generated offline in JAX, and the registry of every token task (with MQAR).

A generator is ``fn(key, batch, **params) -> TokenBatch`` (scored where ``mask`` is True), pure,
one compiled program per parameter set; token ids are in ``[0, vocab_size)`` and the reserved
ids are the constants below. Each task and its difficulty axis (``TaskSpec.difficulty``):

- ``selective_copying``: copy the data tokens scattered among blanks (``num_tokens_to_copy``);
- ``in_context_recall``: recall the values of repeated keys (``vocab_size``: keys to hold);
- ``noisy_in_context_recall``: the same among noise pairs (``frac_noise``);
- ``fuzzy_in_context_recall``: keys and values of several tokens (``k_motif_size``);
- ``memorization``: one fixed key -> value map, learned into the weights (``vocab_size``);
- ``compression``: output the whole sequence again after a cue (``seq_len``);
- ``mqar``: Zoology's multi-query associative recall (``num_kv_pairs``), see
  :mod:`ssmbench.tasks.mqar`.

Our variants (all): MAD trains on next-token targets everywhere and scores these positions only;
here the mask marks just the scored positions. Sizes default to MAD's baselines except
``memorization`` (``vocab_size`` 256 -> 64, CPU-sized). Further deviations are in each docstring.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from types import MappingProxyType

import jax.numpy as jnp
from jaxtyping import Array, PRNGKeyArray

from ssmbench._validate import check_sizes
from ssmbench.tasks.mad_memory import (
    COMPRESS,
    INSERT,
    compression,
    memorization,
    memorization_kv_map,
)
from ssmbench.tasks.mqar import (
    BLANK,
    TokenBatch,
    _check_float,
    _check_int,
    _distinct,
    _interleave,
    _ints,
    _mix,
    _rows,
    _token_task,
    _uniforms,
    mqar,
)

__all__ = [
    "BLANK",
    "COPY",
    "COMPRESS",
    "INSERT",
    "TOKEN_TASKS",
    "TaskSpec",
    "TokenBatch",
    "check_task_params",
    "compression",
    "fuzzy_in_context_recall",
    "in_context_recall",
    "make_batch",
    "memorization",
    "memorization_kv_map",
    "noisy_in_context_recall",
    "selective_copying",
]

#: Selective copying: "now output the data tokens" (data tokens are ``[2, vocab_size)``).
COPY = 1

_Params = Mapping[str, object]


# --- selective copying -------------------------------------------------------------------------


def _check_selective_copying(p: _Params) -> None:
    """Validate selective copying's parameters."""
    t = "selective_copying"
    _check_int(t, p, "vocab_size", 4, why="BLANK = 0, COPY = 1 and >= 2 data tokens")
    n = _check_int(t, p, "seq_len", 4)
    _check_int(t, p, "num_tokens_to_copy", 1, (n - 2) // 2,
               f"2·num_tokens_to_copy + 1 < seq_len = {n}")  # fmt: skip


@_token_task(_check_selective_copying)
def selective_copying(
    key: PRNGKeyArray,
    batch: int,
    *,
    vocab_size: int = 16,
    seq_len: int = 256,
    num_tokens_to_copy: int = 16,
) -> TokenBatch:
    """MAD's selective copying: ``seq_len - num_tokens_to_copy - 1`` positions holding
    ``num_tokens_to_copy`` data tokens (uniform in ``[2, vocab_size)``, at uniformly random
    distinct positions) and :data:`BLANK` elsewhere, then :data:`COPY`, then
    ``num_tokens_to_copy`` blanks whose targets are the data tokens in order (the only scored
    positions)."""
    n, m = num_tokens_to_copy, seq_len - num_tokens_to_copy - 1
    u_pos, u_tok = _uniforms(key, (batch, m), (batch, n))
    pos = jnp.sort(_distinct(u_pos, n), axis=1)
    data = _ints(u_tok, 2, vocab_size)
    region = jnp.full((batch, m), BLANK, jnp.int32).at[_rows(pos.shape), pos].set(data)
    inputs = jnp.concatenate(
        [region, jnp.full((batch, 1), COPY, jnp.int32), jnp.full((batch, n), BLANK, jnp.int32)],
        axis=1,
    )
    targets = jnp.concatenate([jnp.zeros((batch, m + 1), jnp.int32), data], axis=1)
    mask = jnp.broadcast_to(jnp.arange(seq_len, dtype=jnp.int32)[None, :] > m, inputs.shape)
    return TokenBatch(inputs, targets, mask)


# --- in-context recall, plain and noisy --------------------------------------------------------


def _check_recall(p: _Params, t: str, noisy: bool) -> None:
    """Validate (noisy) in-context recall's parameters."""
    v = _check_int(t, p, "vocab_size", 4 + noisy, why=">= 2 keys and >= 2 values")
    _check_int(t, p, "seq_len", 4, even=True, why="key-value pairs")
    if noisy:
        _check_int(t, p, "noise_vocab_size", 1, v - 4, "vocab_size - noise_vocab_size >= 4")
        _check_float(t, p, "frac_noise", 0.0, 1.0, hi_open=True)


def _recall(
    key: PRNGKeyArray, batch: int, vocab_size: int, seq_len: int, n_noise: int, frac: float
) -> TokenBatch:
    """In-context recall with keys ``[0, n // 2)``, values ``[n // 2, n)`` and noise tokens
    ``[n, vocab_size)``, ``n = vocab_size - n_noise``; a pair is noise with probability
    ``frac``, one pair before the last is always real, and the last pair re-asks a real key."""
    n = vocab_size - n_noise
    nk, npairs = n // 2, seq_len // 2
    u_key, u_map, u_noise, u_keep, u_probe, u_tok = _uniforms(
        key, (batch, npairs), (batch, nk), (batch, npairs), (batch, 1), (batch, npairs),
        (batch, npairs, 2),
    )  # fmt: skip
    keys = _ints(u_key, 0, nk)
    table = _ints(u_map, nk, n)  # the per-sequence map
    slot = jnp.arange(npairs, dtype=jnp.int32)[None, :]
    noise = (u_noise < frac) & (slot < npairs - 1)
    keep = _ints(u_keep, 0, npairs - 1)
    noise = noise & (slot != keep)
    u = jnp.where(noise, -1.0, u_probe)
    # the pair to re-ask: a random real pair before the last
    probe = jnp.argmax(jnp.where(slot < npairs - 1, u, -2.0), axis=1).astype(jnp.int32)
    keys = keys.at[:, npairs - 1].set(jnp.take_along_axis(keys, probe[:, None], axis=1)[:, 0])
    vals = jnp.take_along_axis(table, keys, axis=1)
    junk = _ints(u_tok, n, vocab_size)
    pair = jnp.where(noise[..., None], junk, jnp.stack([keys, vals], axis=-1))
    earlier = slot[:, None, :] < slot[:, :, None]  # [i, j]: j < i
    same = (keys[:, :, None] == keys[:, None, :]) & ~noise[:, None, :] & earlier
    seen = jnp.any(same, axis=2) & ~noise
    zeros = jnp.zeros_like(keys)
    targets = _interleave(jnp.where(seen, vals, zeros), zeros)
    mask = _interleave(seen, jnp.zeros_like(seen))
    return TokenBatch(pair.reshape(batch, seq_len), targets, mask)


@_token_task(functools.partial(_check_recall, t="in_context_recall", noisy=False))
def in_context_recall(
    key: PRNGKeyArray, batch: int, *, vocab_size: int = 16, seq_len: int = 128
) -> TokenBatch:
    """MAD's in-context recall (multi-query): ``seq_len / 2`` pairs ``key value``, keys uniform
    in ``[0, vocab_size // 2)``, each key's value drawn once per sequence from
    ``[vocab_size // 2, vocab_size)``; the last pair repeats an earlier key. The target at a key
    already seen in the sequence is its value (scored); nothing else is scored.

    Our variant: no special tokens (MAD's multi-query form has none either), and the target sits
    at the key's position (MAD's shifted targets)."""
    return _recall(key, batch, vocab_size, seq_len, 0, 0.0)


@_token_task(functools.partial(_check_recall, t="noisy_in_context_recall", noisy=True))
def noisy_in_context_recall(
    key: PRNGKeyArray,
    batch: int,
    *,
    vocab_size: int = 32,
    seq_len: int = 128,
    noise_vocab_size: int = 16,
    frac_noise: float = 0.2,
) -> TokenBatch:
    """MAD's noisy in-context recall: :func:`in_context_recall` on the ids
    ``[0, vocab_size - noise_vocab_size)``, where each pair before the last is, with probability
    ``frac_noise``, two uniform noise tokens from ``[vocab_size - noise_vocab_size, vocab_size)``
    (never scored, never a key); at least one pair before the last is real, and the last pair
    repeats a real key."""
    return _recall(key, batch, vocab_size, seq_len, noise_vocab_size, frac_noise)


# --- fuzzy in-context recall -------------------------------------------------------------------


def _check_fuzzy(p: _Params) -> None:
    """Validate fuzzy in-context recall's parameters."""
    t = "fuzzy_in_context_recall"
    v = _check_int(t, p, "vocab_size", 3, why="BLANK = 0, >= 1 key and >= 1 value token")
    nk = (v - 1) // 2
    k = _check_int(t, p, "k_motif_size", 1, nk, "distinct key tokens: (vocab_size - 1) // 2")
    m = _check_int(t, p, "v_motif_size", 1, v - 1 - nk, "distinct value tokens")
    _check_int(t, p, "seq_len", 2 * (k + m), why="room for a pair and its repeat")


@_token_task(_check_fuzzy)
def fuzzy_in_context_recall(
    key: PRNGKeyArray,
    batch: int,
    *,
    vocab_size: int = 16,
    seq_len: int = 128,
    k_motif_size: int = 3,
    v_motif_size: int = 3,
) -> TokenBatch:
    """MAD's fuzzy in-context recall: pairs of a key (1 .. ``k_motif_size`` distinct tokens of
    ``[1, 1 + nk)``, ``nk = (vocab_size - 1) // 2``) and its value (1 .. ``v_motif_size``
    distinct tokens of ``[1 + nk, vocab_size)``), packed until the sequence is full, left-padded
    with :data:`BLANK`; the last pair repeats an earlier one. Within a sequence a key tuple always
    has the same value tuple. At a pair whose key tuple appeared earlier, the targets are the
    value tokens, each at the position before it (the last key token, then the value tokens but
    the last); nothing else is scored.

    Our variant: a key tuple's value (length and tokens) is a random function of the tuple, drawn
    per sequence (a hash of the tuple under a per-sequence seed), not MAD's lazily filled dict;
    key lengths vary as in MAD's training data (its test data always use ``k_motif_size``)."""
    K, M, L = k_motif_size, v_motif_size, seq_len
    nk = (vocab_size - 1) // 2
    nv = vocab_size - 1 - nk
    S = (L - K - M) // 2  # at most this many pairs (>= 2 tokens each) before the repeat
    u_len, u_tok, u_seed, u_probe = _uniforms(
        key, (batch, S), (batch, S, nk), (batch, 1), (batch, S)
    )
    kk = jnp.arange(K, dtype=jnp.int32)[None, None, :]
    mm = jnp.arange(M, dtype=jnp.int32)[None, None, :]
    kl = _ints(u_len, 1, K + 1)
    ktok = _distinct(u_tok, K)
    ktok = jnp.where(kk < kl[..., None], 1 + ktok, 0)  # 0 marks an absent token

    # the value of a key tuple: a hash of the tuple under a per-sequence random seed
    h = (u_seed * 2**24).astype(jnp.uint32) * jnp.ones((1, S), jnp.uint32)
    for i in range(K):  # absent tokens are 0, so tuples of different lengths differ
        h = _mix(h ^ ktok[..., i].astype(jnp.uint32))
    vl = 1 + (_mix(h ^ jnp.uint32(0x9E3779B9)) % M).astype(jnp.int32)
    salt = (1 + jnp.arange(nv, dtype=jnp.uint32)[None, None, :]) * jnp.uint32(0x85EBCA6B)
    vtok = 1 + nk + jnp.argsort(_mix(h[..., None] ^ salt), axis=-1)[..., :M].astype(jnp.int32)
    lens = kl + vl
    ends = jnp.cumsum(lens, axis=1, dtype=jnp.int32)
    inc = ends <= L - K - M  # the pairs that fit, leaving room for the repeat
    u = jnp.where(inc, u_probe, -1.0)
    j = jnp.argmax(u, axis=1).astype(jnp.int32)[:, None]  # the pair to repeat (pair 0 always fits)

    def add(x: Array) -> Array:  # append the repeated pair as slot S
        idx = j.reshape(j.shape + (1,) * (x.ndim - 2))
        return jnp.concatenate([x, jnp.take_along_axis(x, idx, axis=1)], axis=1)

    body = jnp.sum(jnp.where(inc, lens, 0), axis=1, dtype=jnp.int32)[:, None]
    pad = L - body - jnp.take_along_axis(lens, j, axis=1)
    start = jnp.concatenate([pad + ends - lens, pad + body], axis=1)
    kl, vl, ktok, vtok = add(kl), add(vl), add(ktok), add(vtok)
    inc = jnp.concatenate([inc, jnp.ones((batch, 1), jnp.bool_)], axis=1)
    kvalid = inc[..., None] & (kk < kl[..., None])
    vvalid = inc[..., None] & (mm < vl[..., None])
    kpos = jnp.where(kvalid, start[..., None] + kk, L)  # L: dropped
    vpos = jnp.where(vvalid, (start + kl)[..., None] + mm, L)
    inputs = jnp.full((batch, L), BLANK, jnp.int32)
    inputs = inputs.at[_rows(kpos.shape), kpos].set(ktok, mode="drop")
    inputs = inputs.at[_rows(vpos.shape), vpos].set(vtok, mode="drop")
    slot = jnp.arange(S + 1, dtype=jnp.int32)
    same = jnp.all(ktok[:, :, None, :] == ktok[:, None, :, :], axis=-1) & inc[:, None, :]
    seen = jnp.any(same & (slot[None, None, :] < slot[None, :, None]), axis=2) & inc
    tpos = jnp.where(seen[..., None] & vvalid, vpos - 1, L)
    targets = jnp.zeros((batch, L), jnp.int32).at[_rows(tpos.shape), tpos].set(vtok, mode="drop")
    mask = jnp.zeros((batch, L), jnp.bool_).at[_rows(tpos.shape), tpos].set(True, mode="drop")
    return TokenBatch(inputs, targets, mask)


# --- registry ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class TaskSpec:
    """A token task: its ``name``, generator ``fn(key, batch, **params)``, ``defaults`` (every
    keyword parameter of ``fn`` and its default, read-only), ``difficulty`` (the parameter that
    is the task's difficulty axis) and ``check`` (validates a full parameter dict, raising a
    ValueError that names the task, the parameter and its allowed range)."""

    name: str
    fn: Callable[..., TokenBatch]
    defaults: Mapping[str, object]
    difficulty: str
    check: Callable[[Mapping[str, object]], None]


def _spec(name: str, fn: Callable[..., TokenBatch], difficulty: str) -> TaskSpec:
    """A TaskSpec whose defaults are read off ``fn``'s keyword-only parameters."""
    sig = inspect.signature(fn).parameters.values()
    defaults = {p.name: p.default for p in sig if p.kind is inspect.Parameter.KEYWORD_ONLY}
    assert difficulty in defaults, (name, difficulty)
    check = fn.check  # type: ignore[attr-defined]  # set by _token_task
    return TaskSpec(name, fn, MappingProxyType(defaults), difficulty, check)


#: Every synthetic token task, by name.
TOKEN_TASKS: dict[str, TaskSpec] = {
    s.name: s
    for s in (
        _spec("selective_copying", selective_copying, "num_tokens_to_copy"),
        _spec("in_context_recall", in_context_recall, "vocab_size"),
        _spec("noisy_in_context_recall", noisy_in_context_recall, "frac_noise"),
        _spec("fuzzy_in_context_recall", fuzzy_in_context_recall, "k_motif_size"),
        _spec("memorization", memorization, "vocab_size"),
        _spec("compression", compression, "seq_len"),
        _spec("mqar", mqar, "num_kv_pairs"),
    )
}


def check_task_params(name: str, **params: object) -> dict[str, object]:
    """Validate ``params`` (a subset of the task's parameters) for the token task ``name``
    without generating data; return the full parameter dict (defaults filled in).

    Raises ValueError naming the task and the parameter for an unknown task or parameter name,
    a value of the wrong type, or a value out of its range (the message gives the range).
    """
    if name not in TOKEN_TASKS:
        raise ValueError(f"unknown token task {name!r}; the tasks are {sorted(TOKEN_TASKS)}")
    spec = TOKEN_TASKS[name]
    unknown = sorted(set(params) - set(spec.defaults))
    if unknown:
        raise ValueError(
            f"{name}: unknown parameter(s) {unknown}; the parameters are {list(spec.defaults)}"
        )
    full = {**spec.defaults, **params}
    spec.check(full)
    return full


def make_batch(name: str, key: PRNGKeyArray, batch: int, **params: object) -> TokenBatch:
    """Validate ``params`` and ``batch`` (:func:`check_task_params`), then draw a batch of the
    token task ``name``."""
    check_sizes(batch=batch)
    check_task_params(name, **params)
    return TOKEN_TASKS[name].fn(key, batch, **params)
