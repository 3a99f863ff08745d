"""Tests of ssmbench/tasks/signatures.py: path generators and signature targets.

Signature oracles run in float64 (conftest enables x64) on short piecewise-linear paths, against
a brute-force iterated sum that shares no code with signax.
"""

import itertools
import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ssmbench.tasks.signatures import (
    brownian_paths,
    parse_words,
    random_walk_paths,
    signature_targets,
)

# ------------------------------------------------------------------ brute-force oracle


def brute_iterated_integral(path: np.ndarray, word: tuple[int, ...]) -> float:
    """∫_{0<t1<...<tm<T} dX^{w1}_{t1} ... dX^{wm}_{tm} for the piecewise-linear path.

    Sum over segment indices k1 <= k2 <= ... <= km. Letters that share a segment k contribute
    Π Δ^{w}_k / j! for a run of length j (the simplex volume within one linear piece).
    """
    inc = np.diff(path, axis=0)
    total = 0.0
    for ks in itertools.combinations_with_replacement(range(inc.shape[0]), len(word)):
        term = 1.0
        for k, w in zip(ks, word):
            term *= inc[k, w]
        for _, run in itertools.groupby(ks):
            term /= math.factorial(len(list(run)))
        total += term
    return total


def _paths64(seed: int, n: int, length: int, dim: int) -> jnp.ndarray:
    return jax.random.normal(jax.random.PRNGKey(seed), (n, length, dim), dtype=jnp.float64)


@settings(max_examples=15, deadline=None)
@given(
    seed=st.integers(0, 2**16),
    length=st.integers(2, 7),
    word=st.sampled_from(["1", "12", "21", "11", "123", "312", "111", "2132"]),
)
def test_signature_targets_match_brute_force(seed, length, word):
    paths = _paths64(seed, 3, length, 3)
    got = np.asarray(signature_targets(paths, word))[:, 0]
    w = tuple(int(c) - 1 for c in word)
    want = np.array([brute_iterated_integral(np.asarray(p), w) for p in paths])
    # float64 throughout; both are exact formulas up to rounding of a few hundred products
    np.testing.assert_allclose(got, want, rtol=1e-10, atol=1e-12)


def test_level_spec_and_order():
    paths = _paths64(1, 2, 5, 2)
    lv = np.asarray(signature_targets(paths, "level:2"))
    words = ["11", "12", "21", "22"]
    each = np.asarray(signature_targets(paths, words))
    np.testing.assert_allclose(lv, each, rtol=0, atol=0)
    # level 1 is the increment
    inc = np.asarray(paths[:, -1] - paths[:, 0])
    np.testing.assert_allclose(np.asarray(signature_targets(paths, "level:1")), inc, rtol=1e-12)


def test_chen_identity_on_concatenation():
    a = _paths64(2, 4, 6, 3)
    b = _paths64(3, 4, 5, 3)
    b = b - b[:, :1] + a[:, -1:]  # b starts where a ends
    ab = jnp.concatenate([a, b[:, 1:]], axis=1)
    for word in ["12", "123", "321", "1213"]:
        w = [str(c) for c in word]
        got = np.asarray(signature_targets(ab, word))[:, 0]
        # S^I(a*b) = Σ_{I = UV} S^U(a) S^V(b), with S^∅ = 1
        want = np.zeros(a.shape[0])
        for cut in range(len(w) + 1):
            u, v = "".join(w[:cut]), "".join(w[cut:])
            su = np.asarray(signature_targets(a, u))[:, 0] if u else 1.0
            sv = np.asarray(signature_targets(b, v))[:, 0] if v else 1.0
            want = want + su * sv
        np.testing.assert_allclose(got, want, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("i,j", [(1, 2), (2, 3), (1, 1)])
def test_shuffle_identity_level_one(i, j):
    x = _paths64(4, 8, 9, 3)
    si, sj = (np.asarray(signature_targets(x, str(c)))[:, 0] for c in (i, j))
    sij, sji = np.asarray(signature_targets(x, [f"{i}{j}", f"{j}{i}"])).T
    np.testing.assert_allclose(si * sj, sij + sji, rtol=1e-10, atol=1e-12)


def test_shuffle_identity_one_by_two():
    # S^1 S^23 = S^123 + S^213 + S^231
    x = _paths64(5, 8, 9, 3)
    s1, s23, s123, s213, s231 = np.asarray(signature_targets(x, ["1", "23", "123", "213", "231"])).T
    np.testing.assert_allclose(s1 * s23, s123 + s213 + s231, rtol=1e-10, atol=1e-12)


def test_parse_words_errors():
    with pytest.raises(ValueError, match="outside"):
        parse_words("14", 3)
    with pytest.raises(ValueError, match="letters"):
        parse_words("a1", 3)
    with pytest.raises(ValueError, match="shape"):
        signature_targets(jnp.zeros((5, 2)), "12")


# ------------------------------------------------------------------ paths


def test_random_walk_is_authors_recipe():
    key = jax.random.PRNGKey(0)
    x = random_walk_paths(key, 64, 100, 2, dtype=jnp.float64)
    assert x.shape == (64, 100, 2) and x.dtype == jnp.float64
    assert float(jnp.max(jnp.abs(x))) == pytest.approx(1.0)
    raw = random_walk_paths(key, 64, 100, 2, normalize=False, dtype=jnp.float64)
    inc = np.diff(np.asarray(raw), axis=1)
    np.testing.assert_array_equal(inc, np.round(inc))  # integer increments
    np.testing.assert_allclose(np.asarray(x), np.asarray(raw) / np.max(np.abs(raw)))
    # rounded N(0,1): P(|inc| >= 1) = P(|z| >= 0.5) ≈ 0.617; 64*99*2 draws, 5 sigma band
    frac = np.mean(np.abs(inc) >= 1)
    assert abs(frac - 0.617) < 5 * math.sqrt(0.617 * 0.383 / inc.size)
    # same key, same paths; float32 follows dtype
    np.testing.assert_array_equal(
        np.asarray(random_walk_paths(key, 64, 100, 2, dtype=jnp.float64)), np.asarray(x)
    )
    assert random_walk_paths(key, 4, 10, 2).dtype == jnp.float32


def test_brownian_paths_statistics():
    x = brownian_paths(jax.random.PRNGKey(1), 400, 11, 2, dtype=jnp.float64)
    assert x.shape == (400, 11, 2)
    np.testing.assert_array_equal(np.asarray(x[:, 0]), 0.0)
    inc = np.diff(np.asarray(x), axis=1)
    # increments over dt = 0.1 have variance 0.1; 8000 draws, relative sd of a variance ≈ 1.6%
    assert np.var(inc) == pytest.approx(0.1, rel=0.08)
    # independent across time steps
    c = np.corrcoef(inc[:, :-1].ravel(), inc[:, 1:].ravel())[0, 1]
    assert abs(c) < 0.05
    # E[S^{12}] = 0 and Var(S^{12}) = T^2 / 2 for a Brownian path (Itô/Stratonovich agree off
    # the diagonal); a piecewise-linear 10-step interpolation keeps the variance exactly.
    s12 = np.asarray(signature_targets(x, "12"))[:, 0]
    assert np.var(s12) == pytest.approx(0.5, rel=0.25)


def test_bad_sizes():
    with pytest.raises(ValueError, match="length"):
        random_walk_paths(jax.random.PRNGKey(0), 3, 1, 2)
