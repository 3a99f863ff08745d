"""ssmbench.dsr: the HRF, its convolutions, Wiener deconvolution, the PLRNN, GTF and its loss.

Tolerances (float64): the HRF against scipy's gamma densities and the convolutions against the
Python loop agree to round-off (1e-14 relative, 1e-10 absolute over sums of 161 taps); the
inverse filter recovers a signal to 1e-6, the HRF's smallest DFT magnitude (~1e-6) amplifying
round-off of ~1e-16 to ~1e-10; the PLRNN and the rollout against numpy loops to 1e-12;
gradients against central finite differences at check_grads' float64 defaults.
"""

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.test_util import check_grads
from scipy import stats

from ssmbench.dsr import (
    ConvSSM,
    ShallowPLRNN,
    edge_widths,
    fit_gtf,
    force,
    gtf_loss,
    gtf_rollout,
    gtf_rollout_reference,
    haar_detail,
    haar_detail_reference,
    hrf_convolve,
    hrf_convolve_direct,
    hrf_convolve_fft,
    hrf_convolve_reference,
    make_windows,
    noise_sd,
    plrnn_step_reference,
    spm_hrf,
    wiener_deconvolve,
)
from ssmbench.train import TrainConfig


@pytest.mark.parametrize("tr", [0.2, 0.72, 2.0])
def test_hrf_equals_the_scipy_double_gamma(tr):
    h = np.asarray(spm_hrf(tr))
    u = tr * np.arange(int(np.floor(32 / tr + 1e-9)) + 1)
    ref = stats.gamma.pdf(u, 6, scale=1.0) - stats.gamma.pdf(u, 16, scale=1.0) / 6
    ref /= ref.sum()
    assert h.shape == ref.shape and h.dtype == np.float64
    np.testing.assert_allclose(h, ref, rtol=1e-12, atol=1e-16)
    assert abs(h.sum() - 1) < 1e-14
    if tr == 0.2:
        assert h.shape == (161,)


@pytest.mark.parametrize("K", [1, 7, 161])
def test_fft_direct_and_loop_convolutions_agree(K):
    k1, k2 = jax.random.split(jax.random.PRNGKey(K))
    z = jax.random.normal(k1, (300, 3), jnp.float64)
    h = spm_hrf(0.2)[:K] if K > 1 else jnp.ones((1,), jnp.float64)
    h = h + 0.01 * jax.random.uniform(k2, (K,), jnp.float64)
    ref = hrf_convolve_reference(z, h)
    assert ref.shape == (300 - K + 1, 3)
    for out in (hrf_convolve_fft(z, h), hrf_convolve_direct(z, h), hrf_convolve(z, h)):
        np.testing.assert_allclose(np.asarray(out), ref, rtol=0, atol=1e-10)


def _smooth_bump(T: int, K: int) -> np.ndarray:
    """A smooth 2-column signal that vanishes on the first and last K samples."""
    t = np.arange(T)
    inner = (t >= K) & (t < T - K)
    s = np.sin(2 * np.pi * (t - K) / (T - 2 * K)) ** 2
    z = np.stack([s * np.sin(t / 13.0), s * np.cos(t / 29.0)], 1)
    return np.where(inner[:, None], z, 0.0)


def test_deconvolution_recovers_a_noiseless_signal_with_nan_edges():
    """x = hrf * z (no noise, no wrap-around since z vanishes at the ends): the inverse filter
    returns z on the interior to 1e-6; the first floor(0.25K) and last floor(0.5K) are NaN."""
    h = spm_hrf(0.2)
    K, T = h.shape[0], 1000
    z = _smooth_bump(T, K)
    x = hrf_convolve(jnp.concatenate([jnp.zeros((K - 1, 2)), jnp.asarray(z)]), h)
    d = np.asarray(wiener_deconvolve(x, h, noise=0.0))
    left, right = edge_widths(K)
    assert (left, right) == (40, 80)
    assert np.all(np.isnan(d[:left])) and np.all(np.isnan(d[T - right :]))
    assert not np.any(np.isnan(d[left : T - right]))
    np.testing.assert_allclose(d[left : T - right], z[left : T - right], rtol=0, atol=1e-6)


def test_deconvolution_of_a_noisy_signal_tracks_the_latent():
    """With 1% noise and the estimated noise level the deconvolved signal correlates > 0.99
    with the latent on its interior; the estimated noise sd is within a factor 3 of the truth
    (the Haar details of a smooth signal add a little)."""
    h = spm_hrf(0.2)
    K, T = h.shape[0], 1000
    z = jnp.asarray(_smooth_bump(T, K))
    x = hrf_convolve(jnp.concatenate([jnp.zeros((K - 1, 2)), z]), h)
    sd = 0.01 * jnp.std(x, axis=0)
    x = x + sd[None, :] * jax.random.normal(jax.random.PRNGKey(0), x.shape, x.dtype)
    est = np.asarray(noise_sd(x))
    assert np.all(est > 0.5 * np.asarray(sd)) and np.all(est < 3 * np.asarray(sd))
    d = np.asarray(wiener_deconvolve(x, h))
    ok = ~np.isnan(d[:, 0])
    for i in range(2):
        assert np.corrcoef(d[ok, i], np.asarray(z)[ok, i])[0, 1] > 0.99


def test_haar_detail_and_noise_sd():
    x = 0.3 * jax.random.normal(jax.random.PRNGKey(1), (4001, 2), jnp.float64)
    np.testing.assert_allclose(np.asarray(haar_detail(x)), haar_detail_reference(x), atol=1e-15)
    assert haar_detail(x).shape == (2000, 2)
    np.testing.assert_allclose(np.asarray(noise_sd(x)), 0.3, rtol=0.06)  # se of a MAD at n=2000


def test_force_with_nan_leaves_z_unchanged():
    z = jnp.asarray([1.0, -2.0, 3.0, 0.5])
    nan = jnp.full((3,), jnp.nan)
    assert np.array_equal(np.asarray(force(z, nan, 0.3)), np.asarray(z))
    d = jnp.asarray([10.0, jnp.nan, -4.0])
    out = np.asarray(force(z, d, 0.25))
    np.testing.assert_allclose(out, [0.75 * 1 + 2.5, -2.0, 0.75 * 3 - 1.0, 0.5], atol=1e-15)
    assert np.array_equal(np.asarray(force(z, d, 0.0)), np.asarray(z))
    np.testing.assert_allclose(np.asarray(force(z, d, 1.0)), [10.0, -2.0, -4.0, 0.5])
    # the gradient through a NaN-masked coordinate is finite
    g = jax.grad(lambda v: jnp.sum(force(v, d, 0.25)))(z)
    np.testing.assert_allclose(np.asarray(g), [0.75, 1.0, 0.75, 1.0])


def test_plrnn_step_and_generator_match_numpy_loops():
    m = ShallowPLRNN(4, 7, key=jax.random.PRNGKey(2))
    z = jax.random.normal(jax.random.PRNGKey(3), (4,), jnp.float64)
    np.testing.assert_allclose(np.asarray(m.step(z)), plrnn_step_reference(m, z), atol=1e-12)
    traj = np.asarray(m.generate(z, 20))
    ref, cur = [], np.asarray(z)
    for _ in range(20):
        cur = plrnn_step_reference(m, cur)
        ref.append(cur)
    np.testing.assert_allclose(traj, np.stack(ref), atol=1e-12)
    J = np.asarray(m.jacobian(z))
    hidden = (np.asarray(m.W2 @ z + m.h2) > 0).astype(float) - (np.asarray(m.W2 @ z) > 0)
    np.testing.assert_allclose(
        J, np.diag(np.asarray(m.A)) + np.asarray(m.W1) @ np.diag(hidden) @ np.asarray(m.W2),
        atol=1e-12,
    )  # fmt: skip


def test_gtf_rollout_matches_the_loop_with_nan_forcing():
    m = ConvSSM(2, 4, 6, key=jax.random.PRNGKey(4))
    d = jax.random.normal(jax.random.PRNGKey(5), (15, 2), jnp.float64)
    d = d.at[11:].set(jnp.nan).at[5, 1].set(jnp.nan)
    for alpha in (0.0, 0.3, 1.0):
        out = np.asarray(gtf_rollout(m, d, alpha, unroll=3))
        np.testing.assert_allclose(out, gtf_rollout_reference(m, d, alpha), atol=1e-12)
    # alpha = 0: the rollout is the free run from (d_0, 0, 0)
    free = m.latent.generate(m.init_state(d[0]), 14)
    np.testing.assert_allclose(np.asarray(gtf_rollout(m, d, 0.0)), np.asarray(free), atol=1e-12)


def test_gtf_loss_gradients_against_finite_differences():
    m = ConvSSM(2, 3, 4, key=jax.random.PRNGKey(6), fixed_readout=False)
    k1, k2 = jax.random.split(jax.random.PRNGKey(7))
    x = jax.random.normal(k1, (12, 2), jnp.float64)
    d = jax.random.normal(k2, (12, 2), jnp.float64).at[10:].set(jnp.nan)
    h = spm_hrf(2.0)[:4]
    params, static = eqx.partition(m, eqx.is_inexact_array)

    def f(p):
        return gtf_loss(eqx.combine(p, static), x, d, h, 0.2)

    with jax.numpy_dtype_promotion("standard"):
        check_grads(f, (params,), order=1, modes=["rev", "fwd"])
    g = jax.grad(f)(params)
    assert float(jnp.abs(g.B).sum()) > 0  # a trained readout gets a gradient
    fixed = ConvSSM(2, 3, 4, key=jax.random.PRNGKey(6), fixed_readout=True)
    pf, sf = eqx.partition(fixed, eqx.is_inexact_array)
    gf = jax.grad(lambda p: gtf_loss(eqx.combine(p, sf), x, d, h, 0.2))(pf)
    assert float(jnp.abs(gf.B).sum()) == 0.0  # the fixed readout gets none


def test_fit_gtf_trains_through_the_loop():
    """A short fit on a tiny series lowers the loss; the fixed readout stays [I 0]."""
    h = spm_hrf(2.0)[:5]
    h = h / h.sum()
    m = ConvSSM(2, 3, 8, key=jax.random.PRNGKey(8))
    t = jnp.arange(120, dtype=jnp.float64)
    z = jnp.stack([jnp.sin(t / 5), jnp.cos(t / 7)], 1)
    x = hrf_convolve(jnp.concatenate([jnp.zeros((4, 2)), z]), h)
    d = wiener_deconvolve(x, h, noise=0.0)
    cfg = TrainConfig(steps=60, learning_rate=1e-2, batch_size=8, patience=None, eval_every=60)
    res = fit_gtf(m, x, d, h, alpha=0.2, window=20, key=jax.random.PRNGKey(9), config=cfg)
    losses = [r["loss"] for r in res.log]
    assert len(losses) == 60 and np.mean(losses[-10:]) < 0.5 * np.mean(losses[:5])
    np.testing.assert_array_equal(np.asarray(res.params.B), np.eye(2, 3))
    windows = make_windows(x, d, 20)
    assert windows["x"].shape[1:] == (20, 2)
    assert not np.any(np.isnan(np.asarray(windows["d"][:, 0])))  # every window starts defined


def test_bad_input_raises_named_errors():
    h = spm_hrf(0.2)
    short = jnp.ones((100, 3))
    with pytest.raises(ValueError, match="tr must be"):
        spm_hrf(0.0)
    with pytest.raises(ValueError, match="tr must be"):
        spm_hrf(-1.0)
    with pytest.raises(ValueError, match="shorter than the HRF"):
        hrf_convolve(short, h)
    with pytest.raises(ValueError, match="shorter than the HRF"):
        wiener_deconvolve(short, h)
    x = jnp.ones((400, 3)).at[200, 1].set(jnp.nan)
    with pytest.raises(ValueError, match="x must be finite.*row is 200"):
        wiener_deconvolve(x, h)
    with pytest.raises(ValueError, match="x must be finite"):
        make_windows(x, x, 50)
    with pytest.raises(ValueError, match="x must be an array of shape"):
        wiener_deconvolve(jnp.ones((400,)), h)
    with pytest.raises(ValueError, match="hrf must be"):
        hrf_convolve(jnp.ones((400, 2)), jnp.ones((2, 2)))
    with pytest.raises(ValueError, match="latent_dim must be >= obs_dim"):
        ConvSSM(3, 2, 4, key=jax.random.PRNGKey(0))
    with pytest.raises(ValueError, match="noise must be >= 0"):
        wiener_deconvolve(jnp.ones((400, 3)), h, noise=-1.0)
    m = ConvSSM(3, 3, 4, key=jax.random.PRNGKey(0))
    cfg = TrainConfig(steps=1, batch_size=1)
    xs = jnp.ones((400, 3))
    with pytest.raises(ValueError, match="alpha must be in"):
        fit_gtf(m, xs, xs, h, alpha=1.5, window=200, key=jax.random.PRNGKey(0), config=cfg)
    with pytest.raises(ValueError, match="window must be longer than the HRF"):
        fit_gtf(m, xs, xs, h, alpha=0.1, window=100, key=jax.random.PRNGKey(0), config=cfg)
