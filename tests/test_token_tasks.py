"""Tests of ssmbench/tasks/mad.py and ssmbench/tasks/mqar.py: the synthetic token tasks.

Every parameter of every task must change the data (mad-lab once ignored ``num_tokens_to_copy``),
each task's targets and mask are re-derived from its inputs by a slow Python oracle, and a bad
parameter is refused, by name and range, before any data is drawn.
"""

import functools
import inspect

import jax
import numpy as np
import pytest

from ssmbench.tasks.mad import (
    BLANK,
    COMPRESS,
    COPY,
    INSERT,
    TOKEN_TASKS,
    TaskSpec,
    TokenBatch,
    check_task_params,
    make_batch,
    memorization_kv_map,
)

KEY = jax.random.PRNGKey(0)
OTHER = jax.random.PRNGKey(1)
B = 8

NAMES = [
    "selective_copying",
    "in_context_recall",
    "noisy_in_context_recall",
    "fuzzy_in_context_recall",
    "memorization",
    "compression",
    "mqar",
]


def _np(b: TokenBatch) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    return np.asarray(b.inputs), np.asarray(b.targets), np.asarray(b.mask)


def _differs(a: TokenBatch, b: TokenBatch) -> bool:
    return any(x.shape != y.shape or not np.array_equal(x, y) for x, y in zip(_np(a), _np(b)))


# --- registry ----------------------------------------------------------------------------------


def test_registry_lists_the_seven_tasks_with_their_signatures():
    assert sorted(TOKEN_TASKS) == sorted(NAMES)
    for name, spec in TOKEN_TASKS.items():
        assert isinstance(spec, TaskSpec) and spec.name == name
        params = [
            p.name
            for p in inspect.signature(spec.fn).parameters.values()
            if p.kind.name == "KEYWORD_ONLY"
        ]
        assert list(spec.defaults) == params  # every keyword parameter, nothing else
        assert spec.difficulty in spec.defaults
        assert check_task_params(name) == dict(spec.defaults)  # the defaults are valid
        with pytest.raises(TypeError):
            spec.defaults["seq_len"] = 1  # type: ignore[index]  # read-only


# --- every parameter reaches the data ----------------------------------------------------------


def _alternative(task: str, name: str, default: object) -> object:
    """Another valid value of one parameter, the others at their defaults."""
    if isinstance(default, bool):
        cands: list[object] = [not default]
    elif isinstance(default, int):
        cands = [default + 1, default * 2, default - 1, default // 2]
    else:
        assert isinstance(default, float)
        cands = [default + 0.5, default * 2, default / 2]
    for c in cands:
        try:
            check_task_params(task, **{name: c})
        except ValueError:
            continue
        return c
    raise AssertionError(f"no other valid value of {task}.{name} among {cands}")


PARAMS = [(t, p) for t, spec in TOKEN_TASKS.items() for p in spec.defaults]


@pytest.mark.parametrize(("task", "param"), PARAMS, ids=[f"{t}-{p}" for t, p in PARAMS])
def test_every_parameter_reaches_the_data(task, param):
    spec = TOKEN_TASKS[task]
    alt = _alternative(task, param, spec.defaults[param])
    base = make_batch(task, KEY, B)
    changed = make_batch(task, KEY, B, **{param: alt})
    assert _differs(base, changed), f"{task}: {param}={alt!r} gives the same batch as the default"
    assert not _differs(base, make_batch(task, KEY, B, **{param: spec.defaults[param]}))


# --- shapes, dtypes, ranges, determinism -------------------------------------------------------


@pytest.mark.parametrize("task", NAMES)
def test_shapes_dtypes_ranges_and_determinism(task):
    d = TOKEN_TASKS[task].defaults
    V, L = d["vocab_size"], d["seq_len"]
    b = make_batch(task, KEY, B)
    assert b.inputs.shape == b.targets.shape == b.mask.shape == (B, L)
    assert (b.inputs.dtype, b.targets.dtype, b.mask.dtype) == (np.int32, np.int32, np.bool_)
    x, y, m = _np(b)
    assert x.min() >= 0 and x.max() < V and y.min() >= 0 and y.max() < V
    assert np.all(y[~m] == 0) and np.all(m.sum(1) >= 1)
    assert not _differs(b, make_batch(task, KEY, B))  # same key, same batch
    assert _differs(b, make_batch(task, OTHER, B))  # another key, other data
    jitted = jax.jit(functools.partial(TOKEN_TASKS[task].fn, batch=B, **d))(KEY)
    assert not _differs(b, jitted)  # jit-compatible, and the same numbers
    typed = make_batch(task, jax.random.key(0), 2)  # new-style typed keys work too
    assert typed.inputs.shape == (2, L)


# --- oracles: targets and mask re-derived from the inputs, by slow Python loops ----------------


def _check_rows(b: TokenBatch, oracle) -> None:
    x, y, m = _np(b)
    for xi, yi, mi in zip(x, y, m):
        ey, em = oracle([int(t) for t in xi])
        np.testing.assert_array_equal(mi, em)
        np.testing.assert_array_equal(yi, ey)


def test_selective_copying_oracle():
    V, L, n = 12, 40, 7
    b = make_batch("selective_copying", KEY, B, vocab_size=V, seq_len=L, num_tokens_to_copy=n)

    def oracle(x):
        c = L - n - 1
        assert x[c] == COPY and x[c + 1 :] == [BLANK] * n
        data = [t for t in x[:c] if t != BLANK]  # the data tokens, in order
        assert len(data) == n and all(2 <= t < V for t in data)
        return [0] * (c + 1) + data, [False] * (c + 1) + [True] * n

    _check_rows(b, oracle)


@pytest.mark.parametrize("noisy", [False, True])
def test_in_context_recall_oracle(noisy):
    V, L, nv = (24, 64, 8) if noisy else (16, 64, 0)
    params = dict(noise_vocab_size=nv, frac_noise=0.3) if noisy else {}
    task = "noisy_in_context_recall" if noisy else "in_context_recall"
    b = make_batch(task, KEY, 16, vocab_size=V, seq_len=L, **params)
    n = V - nv
    noise_pairs = []

    def oracle(x):
        y, m, seen = [0] * L, [False] * L, {}
        for i in range(0, L, 2):
            k, v = x[i], x[i + 1]
            if k >= n:  # a noise pair: both tokens from the noise ids
                assert noisy and n <= v < V
                noise_pairs.append(i)
                continue
            assert 0 <= k < n // 2 <= v < n
            if k in seen:
                assert seen[k] == v  # one value per key within a sequence
                y[i], m[i] = v, True
            seen[k] = v
        assert m[L - 2]  # the last pair re-asks a key
        return y, m

    _check_rows(b, oracle)
    if noisy:  # about frac_noise of the pairs before the last are noise
        assert abs(len(noise_pairs) / (16 * (L // 2 - 1)) - 0.3) < 0.05


def test_fuzzy_in_context_recall_oracle():
    V, L, K, M = 16, 96, 3, 2
    b = make_batch(
        "fuzzy_in_context_recall", KEY, 16, vocab_size=V, seq_len=L, k_motif_size=K, v_motif_size=M
    )
    nk = (V - 1) // 2
    multi = []

    def oracle(x):
        y, m, table, i = [0] * L, [False] * L, {}, 0
        while x[i] == BLANK:  # left padding
            i += 1
        repeated = False
        while i < L:
            ks = i
            while i < L and 1 <= x[i] < 1 + nk:
                i += 1
            vs = i
            while i < L and x[i] >= 1 + nk:
                i += 1
            key, val = tuple(x[ks:vs]), tuple(x[vs:i])
            assert 1 <= len(key) <= K and len(set(key)) == len(key)
            assert 1 <= len(val) <= M and len(set(val)) == len(val)
            multi.append(len(key) > 1)
            repeated = key in table
            if repeated:
                assert table[key] == val  # one value tuple per key tuple within a sequence
                for j, t in enumerate(val):
                    y[vs + j - 1], m[vs + j - 1] = t, True
            table[key] = val
        assert repeated  # the last pair repeats an earlier key
        return y, m

    _check_rows(b, oracle)
    assert any(multi) and not all(multi)  # keys of one and of several tokens


def test_memorization_oracle_one_map_for_all_batches():
    V, L = 32, 24
    table = np.asarray(memorization_kv_map(V, 7))
    nk = (V - 1) // 2
    assert table.shape == (nk,) and len(set(table.tolist())) == nk  # distinct values
    assert table.min() >= 1 + nk and table.max() < V
    found: dict[int, int] = {}

    def oracle(x):
        assert x[1::2] == [INSERT] * (L // 2)
        y, m = [0] * L, [False] * L
        for i in range(0, L, 2):
            assert 1 <= x[i] < 1 + nk
            y[i + 1], m[i + 1] = int(table[x[i] - 1]), True
        return y, m

    for k, batch in ((KEY, 16), (OTHER, 16), (jax.random.PRNGKey(5), 3)):
        b = make_batch("memorization", k, batch, vocab_size=V, seq_len=L, kv_map_seed=7)
        _check_rows(b, oracle)
        x, y, _ = _np(b)
        for key_tok, val in zip(x[:, 0::2].ravel(), y[:, 1::2].ravel()):
            assert found.setdefault(int(key_tok), int(val)) == val  # the same map every time
    assert len(found) > nk // 2
    other = np.asarray(memorization_kv_map(V, 8))
    assert not np.array_equal(table, other)  # the seed picks the map


def test_compression_oracle():
    V, L = 10, 20
    b = make_batch("compression", KEY, B, vocab_size=V, seq_len=L)
    n = L // 2

    def oracle(x):
        assert x[n] == COMPRESS and x[n + 1 :] == [BLANK] * (n - 1)
        assert all(2 <= t < V for t in x[:n])
        return [0] * n + x[:n], [False] * n + [True] * n

    _check_rows(b, oracle)


@pytest.mark.parametrize("random_non_queries", [True, False])
def test_mqar_oracle(random_non_queries):
    V, L, P, Q = 40, 64, 10, 6
    b = make_batch(
        "mqar", KEY, 16, vocab_size=V, seq_len=L, num_kv_pairs=P, num_queries=Q,
        random_non_queries=random_non_queries,
    )  # fmt: skip
    x, y, m = _np(b)
    for xi, yi, mi in zip(x.tolist(), y.tolist(), m.tolist()):
        keys, vals = xi[: 2 * P : 2], xi[1 : 2 * P : 2]
        assert len(set(keys)) == P and all(1 <= k < V // 2 for k in keys)
        assert len(set(vals)) == P and all(V // 2 <= v < V for v in vals)
        pairs = dict(zip(keys, vals))
        scored = [t for t in range(L) if mi[t]]
        assert len(scored) == Q  # exactly num_queries scored positions
        asked = []
        for t in scored:  # a query: a context key again, at an even offset after the context
            assert t >= 2 * P and (t - 2 * P) % 2 == 0
            assert yi[t] == pairs[xi[t]]  # its value, from the context
            asked.append(xi[t])
        assert len(set(asked)) == Q  # each query asks a different pair
        if not random_non_queries:  # then the queries are the only non-blank tokens after it
            assert scored == [t for t in range(2 * P, L) if xi[t] != BLANK]


def test_mqar_power_law_puts_queries_near_the_context():
    mean_offset = {}
    for a in (0.01, 1.0):
        _, _, m = _np(make_batch("mqar", KEY, 64, power_a=a))
        mean_offset[a] = np.nonzero(m)[1].mean()
    assert mean_offset[0.01] < mean_offset[1.0] - 5  # power law vs uniform gaps


# --- bad parameters: refused by name, before any data ------------------------------------------

BAD = [
    ("mqar", {"num_kv_pairs": 40}, "num_kv_pairs", "[1, 24]"),  # 2·40 + 2·8 > seq_len 64
    ("mqar", {"num_kv_pairs": 40, "seq_len": 512}, "num_kv_pairs", "[1, 31]"),  # 31 keys
    ("mqar", {"num_queries": 9}, "num_queries", "[1, 8]"),  # more queries than pairs
    ("mqar", {"num_queries": 40}, "num_queries", "[1, 31]"),
    ("mqar", {"vocab_size": 3}, "vocab_size", ">= 4"),
    ("mqar", {"power_a": 0.0}, "power_a", "(0, 1]"),
    ("mqar", {"random_non_queries": 1}, "random_non_queries", "True or False"),
    ("selective_copying", {"num_tokens_to_copy": 128}, "num_tokens_to_copy", "[1, 127]"),
    ("selective_copying", {"num_tokens_to_copy": 0}, "num_tokens_to_copy", "[1, 127]"),
    ("selective_copying", {"vocab_size": 3}, "vocab_size", ">= 4"),
    ("selective_copying", {"seq_len": 64.0}, "seq_len", "integer"),
    ("in_context_recall", {"seq_len": 127}, "seq_len", "even"),
    ("in_context_recall", {"vocab_size": 3}, "vocab_size", ">= 4"),
    ("noisy_in_context_recall", {"frac_noise": 1.0}, "frac_noise", "[0, 1)"),
    ("noisy_in_context_recall", {"frac_noise": -0.1}, "frac_noise", "[0, 1)"),
    ("noisy_in_context_recall", {"noise_vocab_size": 29}, "noise_vocab_size", "[1, 28]"),
    ("fuzzy_in_context_recall", {"k_motif_size": 8}, "k_motif_size", "[1, 7]"),
    ("fuzzy_in_context_recall", {"v_motif_size": 9}, "v_motif_size", "[1, 8]"),
    ("fuzzy_in_context_recall", {"seq_len": 11}, "seq_len", ">= 12"),
    ("memorization", {"seq_len": 31}, "seq_len", "even"),
    ("memorization", {"vocab_size": 2}, "vocab_size", ">= 3"),
    ("memorization", {"kv_map_seed": -1}, "kv_map_seed", "[0, "),
    ("compression", {"seq_len": 33}, "seq_len", "even"),
    ("compression", {"vocab_size": 3}, "vocab_size", ">= 4"),
]


@pytest.mark.parametrize(("task", "params", "param", "span"), BAD)
def test_bad_parameters_are_refused_by_name_and_range(task, params, param, span):
    for call in (
        lambda: check_task_params(task, **params),  # no key, no data: validation alone
        lambda: make_batch(task, None, B, **params),  # refused before the key is touched
        lambda: TOKEN_TASKS[task].fn(KEY, B, **params),  # the generator checks too
    ):
        with pytest.raises(ValueError) as err:
            call()
        msg = str(err.value)
        assert task in msg and param in msg and span in msg and "got" in msg, msg


@pytest.mark.parametrize(("task", "param"), PARAMS, ids=[f"{t}-{p}" for t, p in PARAMS])
def test_every_parameter_is_type_checked(task, param):
    with pytest.raises(ValueError, match=f"{task}: {param} must be"):
        check_task_params(task, **{param: "3"})


def test_unknown_task_parameter_and_batch_are_refused():
    with pytest.raises(ValueError, match="compression: unknown parameter.*'num_tokens_to_copy'"):
        check_task_params("compression", num_tokens_to_copy=4)
    with pytest.raises(ValueError, match="unknown token task 'copying'"):
        check_task_params("copying")
    with pytest.raises(ValueError, match="batch must be a positive integer"):
        make_batch("mqar", KEY, 0)


def test_same_data_without_x64():
    """The tests run with x64 on; users mostly do not. The data must not depend on it."""
    with_x64 = {t: make_batch(t, KEY, B) for t in NAMES}
    with jax.enable_x64(False):
        for t in NAMES:
            b = make_batch(t, KEY, B)
            assert b.inputs.dtype == np.int32 and not _differs(b, with_x64[t]), t
