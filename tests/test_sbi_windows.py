"""T-SNL's training rows: the vectorised gather against the Python-loop reference, and bad input.

The rows are copies of the data (a gather with zero padding), so fast path and reference agree
exactly; the tests assert equality with ``atol=0``.
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from ssmbench.sbi import make_rows, make_rows_reference, rows_from_batch


def _series(seed, T, dy):
    return jax.random.normal(jax.random.PRNGKey(seed), (T, dy))


@pytest.mark.parametrize("T,lag,dy,p", [(2, 1, 1, 1), (7, 3, 2, 2), (10, 9, 3, 1), (12, 5, 1, 4)])
def test_make_rows_matches_the_loop_reference(T, lag, dy, p):
    """Every (theta, history, target) row equals the loop's, for lags below and near T."""
    y = _series(T, T, dy)
    theta = jnp.arange(p, dtype=y.dtype) - 0.5
    for got, want in zip(make_rows(theta, y, lag), make_rows_reference(theta, y, lag)):
        np.testing.assert_array_equal(np.asarray(got), want)


def test_rows_pad_with_zeros_and_hold_the_last_lag_observations():
    """Row 0's history is all zeros; row t >= lag holds y[t-lag:t]; row t < lag has lag-t zeros."""
    T, lag = 8, 3
    y = _series(0, T, 2) + 5.0  # no accidental zeros
    _, hist, tgt = make_rows(jnp.zeros(1), y, lag)
    assert hist.shape == (T, lag, 2)
    np.testing.assert_array_equal(hist[0], 0.0)
    np.testing.assert_array_equal(tgt, y)
    for t in range(T):
        n_pad = max(0, lag - t)
        np.testing.assert_array_equal(hist[t, :n_pad], 0.0)
        np.testing.assert_array_equal(hist[t, n_pad:], y[max(0, t - lag) : t])


def test_make_rows_jits_with_a_static_lag():
    """The gather traces: jit with ``lag`` static gives the same rows."""
    y, theta = _series(1, 9, 2), jnp.ones(2)
    fast = jax.jit(make_rows, static_argnums=2)(theta, y, 4)
    for got, want in zip(fast, make_rows_reference(theta, y, 4)):
        np.testing.assert_array_equal(np.asarray(got), want)


def test_rows_from_batch_concatenates_the_series_in_order():
    """Rows of series i occupy rows i T .. (i+1) T - 1, each as the reference builds them."""
    n, T, dy, lag = 3, 6, 2, 2
    ys = jax.random.normal(jax.random.PRNGKey(2), (n, T, dy))
    thetas = jax.random.normal(jax.random.PRNGKey(3), (n, 2))
    th, hist, tgt = rows_from_batch(thetas, ys, lag)
    assert th.shape == (n * T, 2) and hist.shape == (n * T, lag, dy) and tgt.shape == (n * T, dy)
    for i in range(n):
        want = make_rows_reference(thetas[i], ys[i], lag)
        for got, w in zip((th, hist, tgt), want):
            np.testing.assert_array_equal(np.asarray(got[i * T : (i + 1) * T]), w)


@pytest.mark.parametrize("lag", [0, -1, 6, 7, 2.0, True])
def test_bad_lag_is_refused_by_name(lag):
    """``lag`` must be an integer with 1 <= lag < T."""
    y = _series(0, 6, 1)
    with pytest.raises(ValueError, match="lag"):
        make_rows(jnp.zeros(1), y, lag)
    with pytest.raises(ValueError, match="lag"):
        make_rows_reference(jnp.zeros(1), y, lag)


def test_bad_shapes_are_refused_by_name():
    """A 2-D theta, a 1-D series and a batch whose sizes disagree name their argument."""
    y = _series(0, 6, 1)
    with pytest.raises(ValueError, match="theta"):
        make_rows(jnp.zeros((1, 1)), y, 2)
    with pytest.raises(ValueError, match="y must"):
        make_rows(jnp.zeros(1), y[:, 0], 2)
    with pytest.raises(ValueError, match="ys"):
        rows_from_batch(jnp.zeros((2, 1)), jnp.zeros((3, 6, 1)), 2)
    with pytest.raises(ValueError, match="thetas"):
        rows_from_batch(jnp.zeros(2), jnp.zeros((2, 6, 1)), 2)
