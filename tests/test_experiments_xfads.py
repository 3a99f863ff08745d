"""XFADS experiments and task generators: oracles for the generators, small end-to-end cells.

Tolerances: the van der Pol RK4 is checked against diffrax's Tsit5 at rtol 1e-8 in float64; RK4
with 5 substeps of 0.02 has a global error of O(h^4) ~ 1e-6 over 10 time units, so 1e-4 is the
bound. The spiral's stationary covariance is a Monte Carlo estimate over 4000 trials (se ~ 2%).
"""

import math

import diffrax
import jax
import jax.numpy as jnp
import numpy as np
import pytest
import scipy.linalg

from experiments.xfads import cost_experiment, latent_experiment, oracle_experiment
from ssmbench.tasks.neural_latents import _vdp_drift, poisson_spiral_trials, van_der_pol_trials


def test_van_der_pol_matches_an_adaptive_ode_solver_without_noise():
    """Noiseless trials (process noise 0) follow the ODE solved by diffrax to 1e-4."""
    T, dt = 100, 0.1
    tr = van_der_pol_trials(
        jax.random.PRNGKey(0), 3, T, dt=dt, process_noise=0.0, dtype=jnp.float64
    )
    term = diffrax.ODETerm(lambda t, x, args: _vdp_drift(x, 1.5))
    ts = dt * jnp.arange(T, dtype=jnp.float64)
    for i in range(3):
        sol = diffrax.diffeqsolve(term, diffrax.Tsit5(), 0.0, ts[-1], 0.01, tr.x[i, 0],
                                  saveat=diffrax.SaveAt(ts=ts), max_steps=100_000,
                                  stepsize_controller=diffrax.PIDController(rtol=1e-8, atol=1e-10))  # fmt: skip
        np.testing.assert_allclose(tr.x[i], sol.ys, atol=1e-4)
    np.testing.assert_allclose(
        tr.eta, jnp.einsum("ntk,dk->ntd", tr.x, tr.C) + tr.d[None, None, :], atol=1e-12
    )


def test_poisson_spiral_has_its_lyapunov_covariance_and_rates():
    """At t = 99 (rho^198 ~ 0.02 of the start left) the latent covariance is the discrete Lyapunov
    solution of the rotation, and the mean count equals E exp(eta) (Monte Carlo, 4000 trials)."""
    tr = poisson_spiral_trials(jax.random.PRNGKey(1), 4000, 100, init_scale=0.0, dtype=jnp.float64)
    w = 2 * math.pi / 25.0
    A = 0.98 * np.array([[math.cos(w), -math.sin(w)], [math.sin(w), math.cos(w)]])
    Sig = scipy.linalg.solve_discrete_lyapunov(A, 0.15**2 * np.eye(2))
    np.testing.assert_allclose(np.cov(np.asarray(tr.x[:, -1]).T), Sig, atol=0.1 * Sig[0, 0])
    rate = np.exp(np.asarray(tr.eta[:, -1])).mean(0)
    np.testing.assert_allclose(np.asarray(tr.y[:, -1]).mean(0), rate, rtol=0.1)


def test_generators_reject_bad_sizes():
    """Non-positive sizes are rejected by name."""
    with pytest.raises(ValueError, match="n_trials must be >= 1"):
        van_der_pol_trials(jax.random.PRNGKey(0), 0, 10)
    with pytest.raises(ValueError, match="obs_dim must be >= 1"):
        poisson_spiral_trials(jax.random.PRNGKey(0), 2, 10, obs_dim=0)


def test_oracle_experiment_reports_the_exact_oracle():
    """A small oracle cell: the Kalman equivalence to 1e-8 and every metric finite."""
    rows = oracle_experiment(seed=0, T=20, sample_counts=[5, 50], n_keys=4, opt_steps=20)
    by = {r["metric"]: r["value"] for r in rows if "n_samples" not in r}
    assert by["oracle_max_abs_err"] < 1e-8
    assert all(np.isfinite(r["value"]) for r in rows)
    assert {r["n_samples"] for r in rows if r["metric"] == "lhat_gap_sampled"} == {5, 50}


def test_cost_experiment_rows():
    """A small cost cell: one step time per (impl, L) and both slopes."""
    rows = cost_experiment(seed=0, state_dims=[8, 16], T=4, repeats=1)
    steps = [r for r in rows if r["metric"] == "step_s"]
    assert {(r["impl"], r["state_dim"]) for r in steps} == {
        (i, L) for i in ("lowrank", "dense") for L in (8, 16)
    }
    assert all(r["value"] > 0 for r in steps)
    assert {r["metric"] for r in rows} >= {"cost_slope_lowrank", "cost_slope_dense"}


@pytest.mark.parametrize(
    "task",
    [pytest.param("vdp", marks=pytest.mark.slow), pytest.param("poisson", marks=pytest.mark.slow)],
)
def test_latent_experiment_runs_every_method(task):
    """A tiny cell with every method: the metrics of each, forecast R^2 at most 1, and bits per
    spike on the Poisson task only. Both are slow (~80 s of compilation each; the default run's
    20-minute budget); the committed results/xfads run exercises the same code at full size."""
    rows = latent_experiment(seed=0, task=task, T=16, n_train=8, n_val=4, n_test=4, context=8,
                             state_dim=4, rank_local=1, rank_backward=1, num_samples=3, hidden=8,
                             steps=4, eval_every=2, eval_particles=16, batch_size=4)  # fmt: skip
    for m in ("xfads", "xfads-diag", "dkf"):
        got = {r["metric"]: r["value"] for r in rows if r.get("method") == m and "step" not in r}
        assert {"forecast_r2", "elbo", "heldout_ll", "wall_s", "steps", "diverged"} <= set(got)
        assert got["forecast_r2"] <= 1.0 and got["steps"] == 4.0
        assert ("bits_per_spike" in got) == (task == "poisson")


def test_latent_experiment_rejects_bad_settings():
    """An unknown method or a context outside [1, T - 1] fails before training."""
    with pytest.raises(ValueError, match="unknown method"):
        latent_experiment(seed=0, methods=["xfads", "lfads"])
    with pytest.raises(ValueError, match="context must be in"):
        latent_experiment(seed=0, T=10, context=10)
