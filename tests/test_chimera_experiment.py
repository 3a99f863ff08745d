"""The Chimera experiment's data and its least-squares VAR baseline (numpy; fast)."""

import jax
import numpy as np
import pytest

from experiments.chimera import chimera_series, fit_var, forecast_experiment, splits
from experiments.throughput import WORKLOADS


def test_series_is_standardised_and_its_parts_are_as_documented():
    d = chimera_series(0, V=4, T=480, kappa=0.3, seasonal=False, trend=False, obs_sd=0.0)
    n_tr, n_va = splits(480)
    assert (n_tr, n_va) == (288, 384)
    np.testing.assert_allclose(d.x[:n_tr].mean(0), 0, atol=1e-12)
    np.testing.assert_allclose(d.x[:n_tr].std(0), 1, atol=1e-12)
    assert np.max(np.abs(np.linalg.eigvals(d.Phi))) <= 0.95 + 1e-12
    # without noise terms other than the innovations, x_std[t] - Phi_std x_std[t-1] is the
    # standardised innovation plus a constant: its covariance is diag(1/sd^2)
    resid = d.x[1:] - d.x[:-1] @ d.Phi_std.T
    np.testing.assert_allclose(np.var(resid, 0) * d.sd**2, 1, atol=0.25)  # 479 samples


def test_seasonal_term_has_the_period():
    flat = chimera_series(1, V=3, T=240, kappa=0.0, rho=0.0, seasonal=True, trend=False, obs_sd=0.0)
    # rho = kappa = 0: x is the seasonal profile plus white innovations; the lag-24 difference
    # removes the profile, so it has the variance of two innovations, far below the series'
    diff = flat.x[24:] - flat.x[:-24]
    assert np.all(np.var(diff, 0) < 0.4 * np.var(flat.x, 0))  # expected ratio 2 / (1 + 9) = 0.2


def test_least_squares_var_recovers_phi_on_a_long_series():
    d = chimera_series(2, V=3, T=20000, kappa=0.3, seasonal=False, trend=False, obs_sd=0.0)
    n_tr, n_va = splits(20000)
    fit = fit_var(d.x, n_tr, n_va, [1, 2])
    assert fit["p"] in (1, 2)
    one = fit_var(d.x, n_tr, n_va, [1])
    # 12,000 training rows: the LS error is O(1/sqrt(n)) ~ 1e-2 per coefficient
    np.testing.assert_allclose(one["Phi1"], d.Phi_std, atol=0.05)


def test_bad_method_and_setting_are_rejected():
    with pytest.raises(ValueError, match="method must be one of"):
        forecast_experiment(seed=0, method="transformer")
    with pytest.raises(ValueError, match="setting must be one of"):
        forecast_experiment(seed=0, setting="weekly")


def test_throughput_workload_methods_compute_the_same_layer():
    """The throughput suite's chimera workload: every method builds the same layer (same key)
    and, in float32, agrees with the sequential scan to float32 rounding (1e-4 relative)."""
    spec = WORKLOADS["chimera"]
    outs = {}
    for method in spec.methods:
        w = spec.build(jax.random.key(0), L=12, d=3, n=2, batch=2, method=method)
        outs[method] = np.asarray(jax.jit(w.fn)(*w.args))
    ref = outs["sequential"]
    assert ref.shape == (2, 12, 3, 8)
    for method, y in outs.items():
        np.testing.assert_allclose(y, ref, rtol=1e-4, atol=1e-4 * np.abs(ref).max(), err_msg=method)
