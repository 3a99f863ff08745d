"""The Gaussian helpers against their slow oracles: scipy's triangular solve and density, and the
single-pair density over every pair. Values and gradients, float64."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.linalg import solve_triangular
from scipy.stats import multivariate_normal

from ssmbench.prob.gaussian import (
    gauss_log_prob,
    gauss_log_prob_many,
    gauss_log_prob_pairs,
    tril_inverse,
    tril_solve,
)


def _tril(key, d):
    """A well-conditioned random lower-triangular scale (diagonal in [0.5, 1.5], either sign)."""
    k1, k2, k3 = jax.random.split(key, 3)
    off = 0.3 * jnp.tril(jax.random.normal(k1, (d, d)), -1)
    diag = jax.random.uniform(k2, (d,), minval=0.5, maxval=1.5)
    sign = jnp.where(jax.random.bernoulli(k3, 0.3, (d,)), -1.0, 1.0)
    return off + jnp.diag(diag * sign)


@settings(max_examples=25, deadline=None)
@given(d=st.integers(1, 9), k=st.integers(0, 4), seed=st.integers(0, 10_000))
def test_tril_solve_matches_scipy(d, k, seed):
    key = jax.random.PRNGKey(seed)
    L = _tril(key, d)
    # garbage in the upper triangle must be ignored
    Lu = L + jnp.triu(jnp.ones((d, d)), 1) * 7.0
    b = jax.random.normal(jax.random.fold_in(key, 1), (d,) if k == 0 else (d, k))
    ref = solve_triangular(np.asarray(L), np.asarray(b), lower=True)
    # float64, condition number < ~20 at d <= 9: forward substitution is backward stable, 1e-12
    np.testing.assert_allclose(tril_solve(Lu, b), ref, atol=1e-12, rtol=1e-12)
    np.testing.assert_allclose(tril_inverse(Lu) @ L, np.eye(d), atol=1e-12)


def test_tril_solve_gradient_matches_lapack_solve():
    key = jax.random.PRNGKey(0)
    L, b = _tril(key, 6), jax.random.normal(jax.random.PRNGKey(1), (6, 3))
    w = jax.random.normal(jax.random.PRNGKey(2), (6, 3))

    def f(solve):
        return lambda L, b: jnp.sum(w * solve(L, b))

    ours = jax.grad(f(tril_solve), (0, 1))(L, b)
    ref = jax.grad(f(lambda L, b: jax.scipy.linalg.solve_triangular(L, b, lower=True)), (0, 1))(
        L, b
    )
    # the oracle's gradient wrt L is dense-tril; ours only reads tril, as the oracle does
    np.testing.assert_allclose(jnp.tril(ours[0]), jnp.tril(ref[0]), atol=1e-11)
    np.testing.assert_allclose(ours[1], ref[1], atol=1e-11)


def test_tril_solve_rejects_bad_shapes():
    with pytest.raises(ValueError, match="tril_solve needs"):
        tril_solve(jnp.eye(3), jnp.ones(4))


@pytest.mark.parametrize("kind", ["diag", "tril"])
def test_log_prob_variants_match_scipy_and_each_other(kind):
    key = jax.random.PRNGKey(3)
    m, n, d = 4, 5, 3
    xs = jax.random.normal(key, (n, d))
    means = jax.random.normal(jax.random.PRNGKey(4), (m, d))
    if kind == "diag":
        scales = jax.random.uniform(jax.random.PRNGKey(5), (m, d), minval=0.5, maxval=2.0)
        covs = [np.diag(np.asarray(s) ** 2) for s in scales]
    else:
        scales = jnp.stack([_tril(jax.random.PRNGKey(10 + j), d) for j in range(m)])
        covs = [np.asarray(s) @ np.asarray(s).T for s in scales]
    ref = np.array(
        [[multivariate_normal.logpdf(np.asarray(x), np.asarray(means[j]), covs[j]) for x in xs]
         for j in range(m)]
    )  # fmt: skip
    pairs = gauss_log_prob_pairs(xs, means, scales)
    single = jax.vmap(lambda mu, s: jax.vmap(lambda x: gauss_log_prob(x, mu, s))(xs))(means, scales)
    many = jax.vmap(lambda mu, s: gauss_log_prob_many(xs, mu, s))(means, scales)
    for got in (pairs, single, many):
        np.testing.assert_allclose(got, ref, atol=1e-11)  # float64, O(10) log densities


@pytest.mark.parametrize("kind", ["diag", "tril"])
def test_pairs_gradient_matches_the_pairwise_loop(kind):
    """Gradient oracle: autodiff of the obviously-correct double loop of single densities."""
    m, n, d = 3, 4, 3
    xs = jax.random.normal(jax.random.PRNGKey(6), (n, d))
    means = jax.random.normal(jax.random.PRNGKey(7), (m, d))
    if kind == "diag":
        scales = jax.random.uniform(jax.random.PRNGKey(8), (m, d), minval=0.5, maxval=2.0)
    else:
        scales = jnp.stack([_tril(jax.random.PRNGKey(20 + j), d) for j in range(m)])
    w = jax.random.normal(jax.random.PRNGKey(9), (m, n))

    def loop(xs, means, scales):
        rows = []
        for j in range(m):
            rows.append(jnp.stack([gauss_log_prob(xs[i], means[j], scales[j]) for i in range(n)]))
        return jnp.sum(w * jnp.stack(rows))

    def fast(xs, means, scales):
        return jnp.sum(w * gauss_log_prob_pairs(xs, means, scales))

    g_fast = jax.grad(fast, (0, 1, 2))(xs, means, scales)
    g_ref = jax.grad(loop, (0, 1, 2))(xs, means, scales)
    for a, b in zip(g_fast, g_ref):
        np.testing.assert_allclose(a, b, atol=1e-10)


def test_pairs_rejects_mismatched_shapes():
    with pytest.raises(ValueError, match="gauss_log_prob_pairs needs"):
        gauss_log_prob_pairs(jnp.ones((4, 3)), jnp.ones((2, 2)), jnp.ones((2, 2)))
