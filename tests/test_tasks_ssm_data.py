"""Tests of the trainers' data generators (ssmbench.tasks.ssm_data): shapes, determinism, distinct
splits, and the simulated laws against closed forms (stationary moments, one-step residuals)."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.linalg

from ssmbench.tasks.ssm_data import (
    lgssm_params,
    lgssm_task,
    lotka_volterra_task,
    stochastic_volatility_task,
)


@pytest.mark.parametrize(
    "make,dx,dy",
    [(lgssm_task, 5, 5), (stochastic_volatility_task, 1, 1), (lotka_volterra_task, 2, 2)],
)
def test_shapes_determinism_and_splits(make, dx, dy):
    task = make(12, seed=3, n_train=5, n_val=2, n_test=3)
    assert task.y_train.shape == (5, 12, dy) and task.x_train.shape == (5, 12, dx)
    assert task.y_val.shape == (2, 12, dy) and task.y_test.shape == (3, 12, dy)
    assert (task.T, task.obs_dim, task.state_dim) == (12, dy, dx)
    again = make(12, seed=3, n_train=5, n_val=2, n_test=3)
    np.testing.assert_array_equal(task.y_test, again.y_test)
    other = make(12, seed=4, n_train=5, n_val=2, n_test=3)
    assert not np.array_equal(task.y_train, other.y_train)
    # the splits are different sequences
    assert not np.array_equal(task.y_train[0], task.y_val[0])
    assert not np.array_equal(task.y_val[0], task.y_test[0])
    with pytest.raises(ValueError, match="n_val"):
        make(12, n_val=0)
    with pytest.raises(ValueError, match="T must be"):
        make(1)


def test_lgssm_params_fixed_by_param_seed_and_stable():
    a, b = lgssm_params(param_seed=0), lgssm_params(param_seed=0)
    np.testing.assert_array_equal(a["A"], b["A"])
    assert np.max(np.abs(np.linalg.eigvals(a["A"]))) == pytest.approx(0.9)
    np.linalg.cholesky(a["Q"])  # positive definite
    assert not np.array_equal(a["A"], lgssm_params(param_seed=1)["A"])


def test_lgssm_moments_match_lyapunov():
    # oracle: Cov(x_t) = A^t P0 A^t' + sum_s A^s Q A^s' -> the discrete Lyapunov solution; with
    # P0 = I and rho = 0.9 the transient at t = 60 is ~0.9^120 ~ 3e-6 of it. 4000 sequences give a
    # Monte Carlo standard error of ~ sqrt(2/4000) ~ 2% relative on each entry; tolerance 0.15 abs.
    task = lgssm_task(61, seed=0, n_train=4000, n_val=1, n_test=1)
    p = task.params
    S = scipy.linalg.solve_discrete_lyapunov(p["A"], p["Q"])
    xs = task.x_train[:, 60]
    np.testing.assert_allclose(np.cov(xs.T), S, atol=0.15)
    ys = task.y_train[:, 60]
    np.testing.assert_allclose(np.cov(ys.T), p["C"] @ S @ p["C"].T + p["R"], atol=0.15)
    # one-step residuals are N(0, Q), independent of x_{t-1}
    r = task.x_train[:, 1:] - task.x_train[:, :-1] @ p["A"].T
    np.testing.assert_allclose(np.cov(r.reshape(-1, 5).T), p["Q"], atol=0.03)


def test_stochastic_volatility_stationary_law():
    task = stochastic_volatility_task(40, seed=1, n_train=3000, n_val=1, n_test=1)
    x, y = task.x_train[..., 0], task.y_train[..., 0]
    sd = 0.3 / np.sqrt(1 - 0.95**2)  # stationary std ~0.96; MC se of the mean over 3000 ~0.02
    assert abs(x[:, 0].mean()) < 0.08 and abs(x[:, -1].mean()) < 0.08
    assert x[:, -1].std() == pytest.approx(sd, rel=0.06)
    # y / (beta exp(x/2)) is standard normal
    e = y / (0.7 * np.exp(x / 2))
    assert abs(e.mean()) < 0.01 and e.std() == pytest.approx(1.0, rel=0.01)


def test_lotka_volterra_residuals_and_poisson_counts():
    task = lotka_volterra_task(64, seed=2, n_train=200, n_val=1, n_test=1)
    p = task.params
    x = task.x_train
    u = np.exp(x[:, :-1])
    growth = np.stack([p["alpha"] - p["beta"] * u[..., 1], p["zeta"] * u[..., 0] - p["gamma"]], -1)
    mean = x[:, :-1] + (growth - 0.5 * p["sigma"] ** 2) * p["dt"]
    z = (x[:, 1:] - mean) / (p["sigma"] * np.sqrt(p["dt"]))
    # standardised Euler-Maruyama residuals: N(0, 1); 25200 draws -> se of the std ~0.005
    assert abs(z.mean()) < 0.03 and z.std() == pytest.approx(1.0, rel=0.03)
    y = task.y_train
    assert np.all(y >= 0) and np.all(y == np.round(y))
    rate = p["obs_scale"] * np.exp(x)
    # Pearson residuals of Poisson counts have mean 0 and variance 1
    pr = (y - rate) / np.sqrt(rate)
    assert abs(pr.mean()) < 0.03 and pr.std() == pytest.approx(1.0, rel=0.03)
