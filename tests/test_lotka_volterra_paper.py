"""Tests of the PVMC paper's Lotka-Volterra setting: the task generator
(``ssmbench.tasks.ssm_data.lotka_volterra_paper_task``, Milstein steps of the populations from
(2, 5), counts Poisson(5 sigmoid(v - 4))) against closed forms by Monte Carlo, and the learned model
(``ssmbench.prob.PaperNeuralLotkaVolterra``) against scipy and finite differences.

Monte Carlo tolerances are 4 standard errors (a two-sided 4-sigma band fails by chance with
probability about 6e-5 per comparison), with every seed fixed, so the tests are deterministic.
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import scipy.special
import scipy.stats

from ssmbench.prob import PaperNeuralLotkaVolterra
from ssmbench.tasks.ssm_data import lotka_volterra_paper_task

ALPHA, BETA, GAMMA, ZETA, SIGMA, DT = 6.0, 2.0, 6.0, 4.0, 0.15, 3 / 256
U0 = np.array([2.0, 5.0])


def _rate(u: np.ndarray) -> np.ndarray:
    """The paper's Poisson rate 5 / (1 + exp(4 - v)), v = (5 u_0, u_0 u_1)."""
    v = np.stack([5.0 * u[..., 0], u[..., 0] * u[..., 1]], axis=-1)
    return 5.0 * scipy.special.expit(v - 4.0)


def _all(task, attr: str) -> np.ndarray:
    """The train, validation and test parts of ``task.<attr>_*`` stacked."""
    return np.concatenate([getattr(task, f"{attr}_{s}") for s in ("train", "val", "test")])


# --------------------------------------------------------------------------------------------
# the task
# --------------------------------------------------------------------------------------------
def test_task_shapes_splits_start_and_params():
    task = lotka_volterra_paper_task(12, seed=3, n_train=5, n_val=2, n_test=3)
    assert task.y_train.shape == (5, 12, 2) and task.x_train.shape == (5, 12, 2)
    assert task.y_val.shape == (2, 12, 2) and task.x_test.shape == (3, 12, 2)
    assert (task.T, task.obs_dim, task.state_dim) == (12, 2, 2)
    # every sequence starts exactly at the populations (2, 5), and the populations stay positive
    np.testing.assert_array_equal(_all(task, "x")[:, 0], np.broadcast_to(U0, (10, 2)))
    assert np.all(_all(task, "x") > 0)
    y = _all(task, "y")
    assert np.all(y >= 0) and np.array_equal(y, np.round(y))
    again = lotka_volterra_paper_task(12, seed=3, n_train=5, n_val=2, n_test=3)
    np.testing.assert_array_equal(task.y_test, again.y_test)
    np.testing.assert_array_equal(task.x_test, again.x_test)
    assert not np.array_equal(task.x_train[0], task.x_val[0])
    assert not np.array_equal(task.x_val[0], task.x_test[0])
    p = task.params
    assert p["variant"] == "paper" and p["u0"] == (2.0, 5.0)
    assert (p["alpha"], p["beta"], p["gamma"], p["zeta"], p["sigma"], p["dt"]) == (
        ALPHA, BETA, GAMMA, ZETA, SIGMA, DT,
    )  # fmt: skip
    with pytest.raises(ValueError, match="n_test"):
        lotka_volterra_paper_task(12, n_test=0)
    with pytest.raises(ValueError, match="T must be"):
        lotka_volterra_paper_task(1)


def test_task_refuses_a_non_positive_population():
    # dt = 1: the prey's drift step 2 (1 + (6 - 2 * 5) * 1) = -6 is far below zero whatever the noise
    with pytest.raises(ValueError, match="seed=7"):
        lotka_volterra_paper_task(3, seed=7, n_train=2, n_val=1, n_test=1, dt=1.0)


def test_task_paper_sizes_stay_positive():
    # the authors' 250 sequences of 257 points, on one seed (seeds 0-4 were checked by hand)
    task = lotka_volterra_paper_task(257, seed=0, n_train=100, n_val=50, n_test=100)
    assert task.x_train.shape == (100, 257, 2) and task.x_test.shape == (100, 257, 2)
    assert np.all(_all(task, "x") > 0)


def test_one_milstein_step_and_the_observations_by_monte_carlo():
    n = 40_000
    task = lotka_volterra_paper_task(2, seed=11, n_train=n - 2, n_val=1, n_test=1)
    x, y = _all(task, "x"), _all(task, "y")
    # y_0 ~ Poisson(5 sigmoid(v(u0) - 4)): mean within 4 standard errors sqrt(rate / n)
    rate0 = _rate(U0)
    np.testing.assert_array_less(np.abs(y[:, 0].mean(0) - rate0), 4 * np.sqrt(rate0 / n))
    # y_1 given x_1: E[y_1 - rate(x_1)] = 0, with variance E[rate(x_1)] / n
    r1 = _rate(x[:, 1])
    np.testing.assert_array_less(np.abs((y[:, 1] - r1).mean(0)), 4 * np.sqrt(r1.mean(0) / n))
    # one Milstein step from u0: E[u_1] = u0 + drift(u0) dt exactly (E[dW] = E[dW^2 - dt] = 0), and
    # Var[u_1] = u0^2 (sigma^2 dt + sigma^4 Var(dW^2) / 4) = u0^2 sigma^2 dt (1 + sigma^2 dt / 2)
    # (Cov(dW, dW^2) = 0). Mean: 4 standard errors sqrt(var / n); variance: 4 standard errors of a
    # sample variance, var sqrt((kurtosis - 1) / n) with the kurtosis ~3 of a near-Gaussian step
    drift = U0 * np.array([ALPHA - BETA * U0[1], ZETA * U0[0] - GAMMA])
    mean = U0 + drift * DT
    var = U0**2 * SIGMA**2 * DT * (1 + SIGMA**2 * DT / 2)
    np.testing.assert_array_less(np.abs(x[:, 1].mean(0) - mean), 4 * np.sqrt(var / n))
    np.testing.assert_array_less(np.abs(x[:, 1].var(0, ddof=1) - var), 4 * var * np.sqrt(2 / n))


# --------------------------------------------------------------------------------------------
# the learned model
# --------------------------------------------------------------------------------------------
C0 = jnp.zeros((0,), jnp.float64)


def _model(dtype=jnp.float64, **kw) -> PaperNeuralLotkaVolterra:
    return PaperNeuralLotkaVolterra(8, key=jax.random.PRNGKey(0), dtype=dtype, **kw)


def test_model_initial_and_transition_laws():
    m = _model()
    assert (m.state_dim, m.obs_dim) == (2, 2)
    mean0, std0 = m.initial_dist(C0)
    np.testing.assert_array_equal(np.asarray(mean0), U0)
    np.testing.assert_array_equal(np.asarray(std0), [0.05, 0.05])
    assert mean0.dtype == std0.dtype == jnp.float64
    for u in ([2.0, 5.0], [0.1, 12.0], [-0.3, 0.2]):  # a particle may step below zero
        u = jnp.asarray(u, jnp.float64)
        mean, std = m.transition_dist(u, C0)
        assert mean.shape == std.shape == (2,) and bool(jnp.all(std > 0))
        np.testing.assert_allclose(np.asarray(mean), np.asarray(u + m.a(u) * DT), rtol=1e-14)
        want = np.exp(np.tanh(np.asarray(m.b(u)))) * math.sqrt(DT)
        np.testing.assert_allclose(np.asarray(std), want, rtol=1e-14)
        # exp(tanh(.)) keeps the scale within [e^-1, e] sqrt(dt)
        assert bool(
            jnp.all((std >= math.exp(-1) * math.sqrt(DT)) & (std <= math.e * math.sqrt(DT)))
        )
    with pytest.raises(ValueError, match="x0_scale"):
        _model(x0_scale=0.0)
    # float32 parameters give float32 densities
    m32 = _model(jnp.float32)
    u32 = jnp.asarray([2.0, 5.0], jnp.float32)
    assert m32.transition_dist(u32, jnp.zeros((0,), jnp.float32))[1].dtype == jnp.float32
    assert m32.initial_dist(jnp.zeros((0,), jnp.float32))[0].dtype == jnp.float32
    xs, ys = m32.simulate(jax.random.PRNGKey(1), 6)
    assert xs.shape == ys.shape == (6, 2) and xs.dtype == ys.dtype == jnp.float32


@pytest.mark.parametrize("u", [[2.0, 5.0], [0.3, 1.5], [-10.0, 0.5], [8.0, 40.0]])
def test_model_emission_log_prob_matches_scipy(u):
    m = _model()
    u = np.asarray(u)
    y = np.array([3.0, 0.0])
    want = scipy.stats.poisson.logpmf(y, _rate(u)).sum()
    got = float(m.emission_log_prob(jnp.asarray(u), jnp.asarray(y), C0))
    # float64 throughout; log 5 + log_sigmoid(v - 4) vs scipy's log(5 expit(v - 4)): a few ulps of
    # the largest term (|log rate| <= ~60 at u = (-10, .)), hence an absolute 1e-10
    assert got == pytest.approx(want, rel=1e-12, abs=1e-10)


def test_model_emission_sample_mean():
    m = _model()
    u = jnp.asarray([0.9, 3.0], jnp.float64)  # v - 4 = (0.5, -1.3): rates away from 0 and 5
    n = 40_000
    ys = jax.vmap(lambda k: m.emission_sample(k, u, C0))(jax.random.split(jax.random.PRNGKey(2), n))
    assert ys.dtype == jnp.float64 and ys.shape == (n, 2)
    rate = _rate(np.asarray(u))
    # 4 standard errors sqrt(rate / n) of a Poisson mean
    np.testing.assert_array_less(np.abs(np.asarray(ys).mean(0) - rate), 4 * np.sqrt(rate / n))


def test_model_emission_gradient_matches_finite_differences():
    m = _model()
    y = jnp.asarray([4.0, 2.0], jnp.float64)
    f = lambda x: m.emission_log_prob(x, y, C0)  # noqa: E731
    for u in ([0.7, 2.5], [2.0, 5.0], [-0.4, 1.0]):
        x = jnp.asarray(u, jnp.float64)
        g = np.asarray(jax.grad(f)(x))
        h = 1e-6
        fd = np.array(
            [
                (float(f(x + h * e)) - float(f(x - h * e))) / (2 * h)
                for e in jnp.eye(2, dtype=x.dtype)
            ]
        )
        # central differences in float64: truncation O(h^2 f''') ~ 1e-11, rounding ~ eps |f| / h
        # ~ 1e-9 (|f| of order 10), so 1e-7 absolute leaves a wide margin
        np.testing.assert_allclose(g, fd, rtol=1e-7, atol=1e-7)
