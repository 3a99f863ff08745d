"""ssmbench.dsr metrics, Lyapunov exponents and the Lorenz-BOLD data.

Tolerances: the histogram and the Gaussian smoothing against their loops / scipy are exact up to
float64 round-off (1e-12); a divergence of a series with itself is 0 to round-off. The QR and
the one-vector Lyapunov iterations are the same arithmetic up to round-off (1e-10); a linear
map's estimate converges as O(1/n) (the transient of the frame), 2000 steps give < 1e-3. The
Lorenz exponent over 500 time units has a finite-time spread of ~0.01-0.02 (literature), so
0.9056 ± 0.05; the exponents' sum is -(σ + 1 + β) exactly (the divergence of the field is
constant), up to the integrator's error (1e-4 at Tsit5, dt = 0.01).
"""

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy.ndimage import gaussian_filter1d

from ssmbench.dsr import (
    LORENZ_LAMBDA_MAX,
    LORENZ_PARAMS,
    ShallowPLRNN,
    gaussian_smooth,
    gmm_kl_divergence,
    hrf_convolve,
    lorenz63,
    lorenz_bold,
    lyapunov_max_map,
    lyapunov_max_reference,
    lyapunov_spectrum_flow,
    lyapunov_spectrum_map,
    occupation_histogram,
    occupation_histogram_reference,
    power_spectrum_distance,
    simulate_lorenz,
    spm_hrf,
    state_space_divergence,
)


@pytest.fixture(scope="module")
def lorenz_pair():
    """Two standardized Lorenz trajectories (20,000 samples, different initial conditions)
    standardized with the first one's mean and sd, and a limit cycle of the same scale."""
    a = np.asarray(simulate_lorenz(jax.random.PRNGKey(0), 20_000))
    b = np.asarray(simulate_lorenz(jax.random.PRNGKey(1), 20_000))
    m, s = a.mean(0), a.std(0)
    t = 0.01 * np.arange(20_000)
    cycle = np.stack([1.2 * np.sin(8 * t), 1.2 * np.cos(8 * t), 0.8 * np.sin(16 * t)], 1)
    return (a - m) / s, (b - m) / s, cycle


def test_occupation_histogram_matches_the_loop_and_numpy():
    x = np.random.default_rng(0).normal(size=(500, 3))
    lo, width, bins = np.full(3, -2.0), np.full(3, 4.0 / 7), 7
    h = occupation_histogram(x, lo, width, bins)
    np.testing.assert_array_equal(h, occupation_histogram_reference(x, lo, width, bins))
    edges = [np.linspace(-2, 2, bins + 1)] * 3
    ref, _ = np.histogramdd(x, bins=edges)
    np.testing.assert_array_equal(h, ref.ravel())
    assert h.sum() < 500  # points outside the box are not counted


def test_divergences_of_a_series_with_itself_are_zero(lorenz_pair):
    a, _, _ = lorenz_pair
    assert state_space_divergence(a, a) == pytest.approx(0.0, abs=1e-12)
    assert power_spectrum_distance(a, a) == pytest.approx(0.0, abs=1e-12)
    six = np.random.default_rng(1).normal(size=(2000, 6))
    assert gmm_kl_divergence(six, six) == pytest.approx(0.0, abs=1e-12)
    assert state_space_divergence(six, six) == pytest.approx(0.0, abs=1e-12)  # GMM branch
    assert state_space_divergence(six, six + 2.0) > 0.5


def test_lorenz_is_closer_to_lorenz_than_to_a_limit_cycle(lorenz_pair):
    a, b, cycle = lorenz_pair
    same, other = state_space_divergence(a, b), state_space_divergence(a, cycle)
    assert same < 0.5 and other > 5 * same
    assert power_spectrum_distance(a, b) < 0.5 * power_spectrum_distance(a, cycle)


def test_divergences_report_a_diverged_series_as_nan(lorenz_pair):
    a, b, _ = lorenz_pair
    bad = b.copy()
    bad[100:] = np.inf
    assert math.isnan(state_space_divergence(a, bad))
    assert math.isnan(power_spectrum_distance(a, bad))
    assert math.isnan(state_space_divergence(a, a + 1e6))  # nothing in the data's box
    with pytest.raises(ValueError, match="same length"):
        power_spectrum_distance(a, b[:1000])
    with pytest.raises(ValueError, match="same columns"):
        state_space_divergence(a, b[:, :2])


@pytest.mark.parametrize("sigma", [1.0, 20.0])
def test_gaussian_smoothing_matches_scipy(sigma):
    p = np.random.default_rng(2).random((500, 2))
    ref = gaussian_filter1d(p, sigma, axis=0, mode="reflect", truncate=4.0)
    np.testing.assert_allclose(gaussian_smooth(p, sigma), ref, atol=1e-12)


def test_lyapunov_of_a_linear_map_is_the_log_of_its_largest_eigenvalue():
    A = jnp.asarray([[0.9, 0.5, 0.0], [-0.2, 1.1, 0.3], [0.1, 0.0, 0.5]])
    ev = np.linalg.eigvals(np.asarray(A))
    lam = float(lyapunov_max_map(lambda z: A @ z, jnp.ones(3), 2000, transient=100))
    assert lam == pytest.approx(np.log(np.max(np.abs(ev))), abs=1e-3)
    spec = np.asarray(lyapunov_spectrum_map(lambda z: A @ z, jnp.ones(3), 2000, transient=100))
    assert spec.sum() == pytest.approx(np.log(abs(np.linalg.det(np.asarray(A)))), abs=1e-10)


def test_lyapunov_qr_matches_the_one_vector_loop_on_a_plrnn():
    m = ShallowPLRNN(3, 8, key=jax.random.PRNGKey(3))
    z0 = jax.random.normal(jax.random.PRNGKey(4), (3,), jnp.float64)
    fast = float(lyapunov_spectrum_map(m.step, z0, 200, transient=5)[0])
    assert fast == pytest.approx(lyapunov_max_reference(m.step, z0, 200, transient=5), abs=1e-10)


def test_lyapunov_of_the_lorenz_flow():
    u0 = simulate_lorenz(jax.random.PRNGKey(5), 1)[0]
    spec = np.asarray(lyapunov_spectrum_flow(lorenz63, u0, t_total=500.0, transient=10.0))
    assert spec[0] == pytest.approx(LORENZ_LAMBDA_MAX, abs=0.05)
    s, _, b = LORENZ_PARAMS
    assert spec.sum() == pytest.approx(-(s + 1 + b), abs=1e-4)
    assert abs(spec[1]) < 0.05


def test_lorenz_bold_is_the_convolved_latent_plus_noise():
    h = spm_hrf(0.2)
    K = h.shape[0]
    clean = lorenz_bold(jax.random.PRNGKey(6), 400, h, noise=0.0)
    assert clean.x.shape == clean.z.shape == (400, 3)
    # x_t = sum_k h_k z_{t-k}: checkable where the aligned latent holds the whole history
    np.testing.assert_allclose(np.asarray(hrf_convolve(clean.z, h)), np.asarray(clean.x[K - 1 :]),
                               atol=1e-12)  # fmt: skip
    noisy = lorenz_bold(jax.random.PRNGKey(6), 400, h, noise=0.1)
    ratio = np.std(np.asarray(noisy.x - noisy.x_clean), 0) / np.std(np.asarray(noisy.x_clean), 0)
    np.testing.assert_allclose(ratio, 0.1, rtol=0.2)  # sd of an sd estimate at n = 400: 4%
    with pytest.raises(ValueError, match="T must be an integer >= the HRF length"):
        lorenz_bold(jax.random.PRNGKey(0), 100, h)
