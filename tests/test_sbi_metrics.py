"""Posterior metrics: MMD^2 against its double-loop reference and its null/alternative behaviour,
C2ST at the two ends, and the mean/sd errors on samples with known moments.

Tolerances and seeds:

- ``mmd2`` vs ``mmd2_reference``: the same sums in a different order and with the distance
  expanded as |a|^2 + |b|^2 - 2ab, so they agree to rounding of O(1e-15) on O(1) data
  (measured: 1e-15); 1e-10 leaves five orders.
- MMD^2 under the null: the unbiased statistic with the permutation-invariant median bandwidth
  has mean exactly 0 when both samples come from one law. Over 12 seeds at n = m = 150 the mean of
  the 12 values must lie within 4 standard errors (sd / sqrt(12)) of 0; under a shift of one
  standard deviation in each of 2 coordinates, the value must exceed 10 null standard deviations
  (measured: ~50).
- C2ST at n = 500 per class: the 5-fold accuracy of an MLP on one law is 0.5 up to a binomial
  sd of sqrt(0.25 / 1000) = 0.016 plus some overfitting (measured: 0.49 MLP, 0.51 logistic at these seeds); the
  issue's band is 0.1. Well-separated Gaussians (means 4 sds apart per coordinate) give 0.999; asserted > 0.9. A
  4x change of scale: MLP 0.79 (asserted > 0.7), logistic 0.49 (asserted < 0.6).
- ``mean_err_sd`` and ``sd_ratio`` on samples standardised to exact moments: exact up to 1e-12.
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy.spatial.distance import pdist

from ssmbench.sbi import c2st, mean_err_sd, median_bandwidth, mmd2, mmd2_reference, sd_ratio


@pytest.mark.parametrize("n,m,p,shift", [(5, 5, 1, 0.0), (20, 13, 2, 0.7), (9, 30, 4, 2.0)])
def test_mmd2_matches_the_double_loop_reference(n, m, p, shift):
    """Fast MMD^2 (median bandwidth, and a given one) equals the explicit loops."""
    rng = np.random.default_rng(n + m + p)
    x = rng.normal(size=(n, p))
    y = rng.normal(size=(m, p)) + shift
    np.testing.assert_allclose(float(mmd2(x, y)), mmd2_reference(x, y), atol=1e-10, rtol=0)
    np.testing.assert_allclose(
        float(mmd2(x, y, bandwidth=0.8)), mmd2_reference(x, y, bandwidth=0.8), atol=1e-10, rtol=0
    )


def test_median_bandwidth_is_the_median_pairwise_distance():
    """The bandwidth is scipy's median over the distinct pairs of the pooled sample."""
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(11, 3)), rng.normal(size=(8, 3)) + 1.0
    np.testing.assert_allclose(
        float(median_bandwidth(x, y)), np.median(pdist(np.concatenate([x, y]))), rtol=1e-12
    )


def test_mmd2_is_null_centred_and_detects_a_shift():
    """Mean ~0 over seeds for one law; a one-sd shift is far outside the null spread."""
    n, p = 150, 2
    keys = jax.random.split(jax.random.PRNGKey(0), 12)

    def pair(k, shift):
        ka, kb = jax.random.split(k)
        return jax.random.normal(ka, (n, p)), jax.random.normal(kb, (n, p)) + shift

    null = np.array([float(mmd2(*pair(k, 0.0))) for k in keys])
    se = null.std(ddof=1) / np.sqrt(len(null))
    assert abs(null.mean()) < 4 * se, (null.mean(), se)
    alt = float(mmd2(*pair(jax.random.PRNGKey(99), 1.0)))
    assert alt > 10 * null.std(ddof=1), (alt, null.std(ddof=1))


def test_c2st_is_chance_for_one_law_and_near_one_for_separated_laws():
    """MLP C2ST at n = 500: within 0.1 of 0.5 for one law, > 0.9 for means 4 sds apart."""
    rng = np.random.default_rng(1)
    x, y = rng.normal(size=(500, 2)), rng.normal(size=(500, 2))
    assert abs(c2st(x, y, seed=0) - 0.5) < 0.1
    assert c2st(x, y + 4.0, seed=0) > 0.9
    assert abs(c2st(x, y, seed=0, classifier="logistic") - 0.5) < 0.1


def test_c2st_mlp_sees_a_change_of_scale():
    """A variance change (same mean) is invisible to logistic regression but not to the MLP."""
    rng = np.random.default_rng(2)
    x, y = rng.normal(size=(500, 1)), 4.0 * rng.normal(size=(500, 1))
    assert c2st(x, y, seed=1) > 0.7
    assert c2st(x, y, seed=1, classifier="logistic") < 0.6


def _exact(n, p, mean, sd, seed):
    """Samples whose per-column mean and ddof-1 sd are exactly ``mean`` and ``sd``."""
    z = np.random.default_rng(seed).normal(size=(n, p))
    z = (z - z.mean(0)) / z.std(0, ddof=1)
    return mean[None, :] + sd[None, :] * z


def test_mean_err_sd_and_sd_ratio_on_known_moments():
    """With exact moments, mean_err_sd = |mu - mu_ref| / sd_ref and sd_ratio = sd / sd_ref."""
    mu, sd = np.array([0.3, -2.0, 0.0]), np.array([1.0, 0.5, 2.0])
    mu_ref, sd_ref = np.array([0.0, -1.0, 1.0]), np.array([0.5, 1.0, 4.0])
    s, r = _exact(400, 3, mu, sd, 0), _exact(700, 3, mu_ref, sd_ref, 1)
    np.testing.assert_allclose(mean_err_sd(s, r), np.abs(mu - mu_ref) / sd_ref, rtol=1e-12)
    np.testing.assert_allclose(sd_ratio(s, r), sd / sd_ref, rtol=1e-12)
    np.testing.assert_allclose(mean_err_sd(jnp.asarray(r), r), 0.0, atol=1e-12)


def test_bad_input_is_refused_by_name():
    """1-D samples, mismatched widths, too few rows and a bad classifier name themselves."""
    x = np.zeros((5, 2))
    with pytest.raises(ValueError, match="x must"):
        mmd2(np.zeros(5), x)
    with pytest.raises(ValueError, match="same number of columns"):
        mmd2(x, np.zeros((5, 3)))
    with pytest.raises(ValueError, match="y must .*n >= 2"):
        mmd2_reference(x, np.zeros((1, 2)))
    with pytest.raises(ValueError, match="bandwidth"):
        mmd2(x, x, bandwidth=0.0)
    with pytest.raises(ValueError, match="ref_samples"):
        sd_ratio(x, np.zeros(5))
    with pytest.raises(ValueError, match="classifier"):
        c2st(x, x, seed=0, classifier="svm")
    with pytest.raises(ValueError, match="folds"):
        c2st(x, x, seed=0, folds=6)
