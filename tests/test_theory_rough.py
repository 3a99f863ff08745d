"""Tests of theory/rough_paths.py: path generators, signature targets, readouts, training.

Signature oracles run in float64 (conftest enables x64) on short piecewise-linear paths, against
a brute-force iterated sum that shares no code with signax.
"""

import itertools
import math

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from theory import rough_paths as rp

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
    got = np.asarray(rp.signature_targets(paths, word))[:, 0]
    w = tuple(int(c) - 1 for c in word)
    want = np.array([brute_iterated_integral(np.asarray(p), w) for p in paths])
    # float64 throughout; both are exact formulas up to rounding of a few hundred products
    np.testing.assert_allclose(got, want, rtol=1e-10, atol=1e-12)


def test_level_spec_and_order():
    paths = _paths64(1, 2, 5, 2)
    lv = np.asarray(rp.signature_targets(paths, "level:2"))
    words = ["11", "12", "21", "22"]
    each = np.asarray(rp.signature_targets(paths, words))
    np.testing.assert_allclose(lv, each, rtol=0, atol=0)
    # level 1 is the increment
    inc = np.asarray(paths[:, -1] - paths[:, 0])
    np.testing.assert_allclose(np.asarray(rp.signature_targets(paths, "level:1")), inc, rtol=1e-12)


def test_chen_identity_on_concatenation():
    a = _paths64(2, 4, 6, 3)
    b = _paths64(3, 4, 5, 3)
    b = b - b[:, :1] + a[:, -1:]  # b starts where a ends
    ab = jnp.concatenate([a, b[:, 1:]], axis=1)
    for word in ["12", "123", "321", "1213"]:
        w = [str(c) for c in word]
        got = np.asarray(rp.signature_targets(ab, word))[:, 0]
        # S^I(a*b) = Σ_{I = UV} S^U(a) S^V(b), with S^∅ = 1
        want = np.zeros(a.shape[0])
        for cut in range(len(w) + 1):
            u, v = "".join(w[:cut]), "".join(w[cut:])
            su = np.asarray(rp.signature_targets(a, u))[:, 0] if u else 1.0
            sv = np.asarray(rp.signature_targets(b, v))[:, 0] if v else 1.0
            want = want + su * sv
        np.testing.assert_allclose(got, want, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("i,j", [(1, 2), (2, 3), (1, 1)])
def test_shuffle_identity_level_one(i, j):
    x = _paths64(4, 8, 9, 3)
    si, sj = (np.asarray(rp.signature_targets(x, str(c)))[:, 0] for c in (i, j))
    sij, sji = np.asarray(rp.signature_targets(x, [f"{i}{j}", f"{j}{i}"])).T
    np.testing.assert_allclose(si * sj, sij + sji, rtol=1e-10, atol=1e-12)


def test_shuffle_identity_one_by_two():
    # S^1 S^23 = S^123 + S^213 + S^231
    x = _paths64(5, 8, 9, 3)
    s1, s23, s123, s213, s231 = np.asarray(
        rp.signature_targets(x, ["1", "23", "123", "213", "231"])
    ).T
    np.testing.assert_allclose(s1 * s23, s123 + s213 + s231, rtol=1e-10, atol=1e-12)


def test_parse_words_errors():
    with pytest.raises(ValueError, match="outside"):
        rp.parse_words("14", 3)
    with pytest.raises(ValueError, match="letters"):
        rp.parse_words("a1", 3)
    with pytest.raises(ValueError, match="shape"):
        rp.signature_targets(jnp.zeros((5, 2)), "12")


# ------------------------------------------------------------------ paths


def test_random_walk_is_authors_recipe():
    key = jax.random.PRNGKey(0)
    x = rp.random_walk_paths(key, 64, 100, 2, dtype=jnp.float64)
    assert x.shape == (64, 100, 2) and x.dtype == jnp.float64
    assert float(jnp.max(jnp.abs(x))) == pytest.approx(1.0)
    raw = rp.random_walk_paths(key, 64, 100, 2, normalise=False, dtype=jnp.float64)
    inc = np.diff(np.asarray(raw), axis=1)
    np.testing.assert_array_equal(inc, np.round(inc))  # integer increments
    np.testing.assert_allclose(np.asarray(x), np.asarray(raw) / np.max(np.abs(raw)))
    # rounded N(0,1): P(|inc| >= 1) = P(|z| >= 0.5) ≈ 0.617; 64*99*2 draws, 5 sigma band
    frac = np.mean(np.abs(inc) >= 1)
    assert abs(frac - 0.617) < 5 * math.sqrt(0.617 * 0.383 / inc.size)
    # same key, same paths; float32 follows dtype
    np.testing.assert_array_equal(
        np.asarray(rp.random_walk_paths(key, 64, 100, 2, dtype=jnp.float64)), np.asarray(x)
    )
    assert rp.random_walk_paths(key, 4, 10, 2).dtype == jnp.float32


def test_brownian_paths_statistics():
    x = rp.brownian_paths(jax.random.PRNGKey(1), 400, 11, 2, dtype=jnp.float64)
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
    s12 = np.asarray(rp.signature_targets(x, "12"))[:, 0]
    assert np.var(s12) == pytest.approx(0.5, rel=0.25)


def test_bad_sizes():
    with pytest.raises(ValueError, match="length"):
        rp.random_walk_paths(jax.random.PRNGKey(0), 3, 1, 2)


# ------------------------------------------------------------------ metric and ridge


def test_r2_score_against_definition():
    rng = np.random.default_rng(0)
    y = rng.normal(size=50)
    p = y + 0.3 * rng.normal(size=50)
    want = 1 - np.sum((y - p) ** 2) / np.sum((y - y.mean()) ** 2)
    assert rp.r2_score(y, p) == pytest.approx(want, rel=1e-12)
    assert rp.r2_score(y, y) == 1.0
    assert rp.r2_score(y, np.full_like(y, y.mean())) == pytest.approx(0.0, abs=1e-12)
    with pytest.raises(ValueError):
        rp.r2_score(y, p[:-1])


def test_ridge_recovers_linear_map_and_matches_lstsq():
    rng = np.random.default_rng(1)
    f = rng.normal(size=(300, 10)) * rng.uniform(0.1, 10, size=10)
    w = rng.normal(size=10)
    y = f @ w + 2.0
    ft = rng.normal(size=(100, 10))
    pred, lam = rp.ridge_fit_predict(f, y, ft, lambdas=[0.0])
    np.testing.assert_allclose(pred, ft @ w + 2.0, rtol=1e-8, atol=1e-8)
    # a fixed penalty against the closed form on standardised features (float64, well posed)
    z = (f - f.mean(0)) / f.std(0)
    lam_rel = 1e-1
    a = z.T @ z + lam_rel * np.trace(z.T @ z) / 10 * np.eye(10)
    wz = np.linalg.solve(a, z.T @ (y - y.mean()))
    want = ((ft - f.mean(0)) / f.std(0)) @ wz + y.mean()
    pred, _ = rp.ridge_fit_predict(f, y, ft, lambdas=[lam_rel], val_frac=0.1)
    np.testing.assert_allclose(pred, want, rtol=1e-9, atol=1e-9)
    # noisy: the chosen penalty comes from the grid, predictions still close to the truth
    yn = y + 0.1 * rng.normal(size=300)
    pred, lam = rp.ridge_fit_predict(f, yn, ft)
    assert lam in rp.DEFAULT_LAMBDAS
    assert rp.r2_score(ft @ w + 2.0, pred) > 0.99


def test_ridge_on_signature_features_vs_endpoint_features():
    """The readout harness separates what is linear in the signature from what is not.

    S^{12} is linear in the level-2 signature (R² = 1) but, for a path law symmetric under
    X -> -X, orthogonal to every linear functional of the path (R² ≈ 0).
    """
    key = jax.random.PRNGKey(2)
    x = rp.random_walk_paths(key, 1500, 50, 2, dtype=jnp.float64)
    y = np.asarray(rp.signature_targets(x, "12"))[:, 0]
    sig = np.asarray(rp.signature_targets(x, ["1", "2", "11", "12", "21", "22"]))
    pred, _ = rp.ridge_fit_predict(sig[:1000], y[:1000], sig[1000:])
    assert rp.r2_score(y[1000:], pred) > 0.999999
    lin = np.asarray(x).reshape(1500, -1)  # the whole path: every linear functional
    pred, _ = rp.ridge_fit_predict(lin[:1000], y[:1000], lin[1000:])
    assert rp.r2_score(y[1000:], pred) < 0.05


# ------------------------------------------------------------------ end-to-end training


class _Lin(eqx.Module):
    w: jax.Array

    def __call__(self, x):
        return jnp.sum(self.w * x)


def test_train_e2e_fits_a_linear_target():
    key = jax.random.PRNGKey(3)
    x = jax.random.normal(key, (512, 8, 2))
    wt = jax.random.normal(jax.random.PRNGKey(4), (8, 2))
    y = jax.vmap(lambda p: 10.0 * jnp.sum(wt * p) + 5.0)(x)
    model = _Lin(jnp.zeros((8, 2)))
    trained, loss = rp.train_e2e(model, x, y, key=key, steps=400, lr=3e-2, batch=64)
    assert np.isfinite(loss)
    pred = jax.vmap(trained)(x)
    assert rp.r2_score(y, pred) > 0.999


# ------------------------------------------------------------------ model families


@pytest.mark.parametrize("family", ["s4d", "lcde-t"])
def test_time_invariant_stacks_are_affine_in_the_path(family):
    """The theory's time-invariant case: at depth 1 the final-time features are an affine
    function of the input path (a convolution), so superposition holds exactly (float64)."""
    k1, k2, k3 = jax.random.split(jax.random.PRNGKey(6), 3)
    x1 = jax.random.normal(k1, (12, 2), dtype=jnp.float64)
    x2 = jax.random.normal(k2, (12, 2), dtype=jnp.float64)
    stack = rp.Stack(family, 2, 8, 1, key=k3)
    f = stack.features
    a, b = 0.7, -1.3
    lhs = f(a * x1 + b * x2)
    rhs = a * f(x1) + b * f(x2) + (1 - a - b) * f(jnp.zeros_like(x1))
    np.testing.assert_allclose(np.asarray(lhs), np.asarray(rhs), rtol=1e-9, atol=1e-9)


@pytest.mark.parametrize("family", ["lcde-diag", "lcde-dense"])
def test_selective_stacks_are_not_affine(family):
    k1, k2, k3 = jax.random.split(jax.random.PRNGKey(7), 3)
    x1 = jax.random.normal(k1, (12, 2), dtype=jnp.float64)
    x2 = jax.random.normal(k2, (12, 2), dtype=jnp.float64)
    f = rp.Stack(family, 2, 8, 1, key=k3).features
    a, b = 0.7, -1.3
    gap = f(a * x1 + b * x2) - (a * f(x1) + b * f(x2) + (1 - a - b) * f(jnp.zeros_like(x1)))
    assert float(jnp.max(jnp.abs(gap))) > 1e-3


@pytest.mark.slow
def test_experiment_rows_small():
    rows = rp.rough_paths(
        seed=0,
        family="lcde-diag",
        widths=[8],
        depths=[1],
        words=["12"],
        n_train=200,
        n_test=100,
        length=20,
    )
    r2 = [r for r in rows if r["metric"] == "r2"]
    assert len(r2) == 1 and r2[0]["class"] == "selective-diagonal" and r2[0]["largest"]
    assert np.isfinite(r2[0]["value"])
