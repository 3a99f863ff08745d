"""SBI experiments (``suites/sbi.toml``): the quadrature reference and small end-to-end cells.

Tolerances: quadrature on 2001 points of a posterior ~0.13 wide (grid spacing ~0.01 sd after the
coarse pass) integrates the mean and sd to ~1e-6 relative; the NUTS/quadrature agreement of the
cells is asserted within 0.5 sd because the chains there are short (500 steps, ESS ~ 200: se of
the mean ~0.07 sd). The truncated posterior at L = T - 1 is the exact one up to float64
round-off in the T x T conditioning (1e-8 sd).
"""

import math

import jax
import jax.numpy as jnp
import numpy as np
import pandas as pd
import pytest

from experiments.sbi import (
    accuracy_experiment,
    amortised_experiment,
    grid_posterior,
    truncation_experiment,
)
from experiments.sbi.common import posterior_rows, thin


def test_grid_posterior_of_a_gaussian():
    """Quadrature recovers the mean and sd of N(0.7, 0.2^2) times a N(0, 1) prior in closed form."""
    m, s = 0.7, 0.2
    prec = 1 / s**2 + 1.0
    pm, ps = (m / s**2) / prec, math.sqrt(1 / prec)
    mean, sd, grid, w = grid_posterior(
        lambda th: -0.5 * ((th[0] - m) / s) ** 2 - 0.5 * th[0] ** 2, -5.0, 4.0
    )
    assert abs(mean - pm) < 1e-6 and abs(sd - ps) < 1e-6 * 10
    assert abs(w.sum() - 1) < 1e-12 and grid[0] < pm - 8 * ps and grid[-1] > pm + 8 * ps


def test_posterior_rows_of_a_sample_against_itself_and_a_shift():
    """The same sample: mean error 0, sd ratio 1, MMD2 ~ 0, C2ST ~ 0.5; a 1-sd shift shows."""
    x = jax.random.normal(jax.random.PRNGKey(0), (2000, 2), jnp.float64)
    same = {r["metric"]: r["value"] for r in posterior_rows(x, x, seed=0, method="m")
            if "param" not in r}  # fmt: skip
    assert same["mean_err_sd"] == 0.0 and same["sd_ratio"] == pytest.approx(1.0)
    assert abs(same["mmd2"]) < 1e-3 and 0.35 < same["c2st"] < 0.65
    shifted = {r["metric"]: r["value"]
               for r in posterior_rows(x + jnp.array([[1.0, 0.0]]), x, seed=0, c2st_rows=False)
               if "param" not in r}  # fmt: skip
    assert shifted["mean_err_sd"] == pytest.approx(1.0, abs=0.05) and shifted["mmd2"] > 0.05
    assert thin(x, 10).shape == (10, 2)


def test_truncation_experiment_small():
    """At L = T - 1 the truncated posterior is the exact one; short lags shift it."""
    rows = pd.DataFrame(truncation_experiment(seed=0, T=30, lags=[1, 5], grid_points=401))
    full = rows.loc[rows.metric == "trunc_full_lag_shift", "value"].item()
    assert full < 1e-8
    shift = rows[rows.metric == "trunc_mean_shift_sd"].set_index("lag")["value"]
    assert shift.loc[1] > shift.loc[5] >= 0.0


@pytest.mark.slow
def test_accuracy_experiment_small_cell():
    """Every method runs on a tiny LGSSM budget; the budget accounting and the metric rows are
    there and finite; the NUTS reference agrees with quadrature (slow: ~100 s, mostly compiling
    the flows, NUTS and PMMH)."""
    rows = pd.DataFrame(
        accuracy_experiment(
            seed=0, T=30, num_rounds=1, num_simulations=20, flow_steps=30, mcmc_steps=200,
            mcmc_burnin=50, pmmh_steps=200, pmmh_burnin=20, pmmh_particles=20,
            abc_particles=50, abc_max_simulations=200, ref_chains=2, ref_steps=500,
            ref_warmup=200, c2st_rows=False,
        )
    )  # fmt: skip
    assert np.all(np.isfinite(rows["value"]))
    steps = rows[rows.metric == "sim_steps"].set_index("method")["value"]
    assert steps["tsnl"] == steps["snl"] == 20 * 30
    assert steps["pmmh"] == 20 * 30 * (200 + 20 + 1) and steps["abc"] == 200 * 30
    ratio = rows.loc[rows.metric == "sim_steps_ratio_pmmh_tsnl", "value"].item()
    assert ratio == pytest.approx(steps["pmmh"] / steps["tsnl"])
    assert rows.loc[rows.metric == "ref_grid_err_sd", "value"].item() < 0.5
    methods = set(rows.loc[rows.metric == "mmd2", "method"])
    assert methods == {"exact", "tsnl", "tsnl-mean", "snl", "pmmh", "abc"}
    curve = rows[(rows.metric == "mmd2_budget") & (rows.method == "tsnl")]
    assert list(curve["budget"]) == [20 * 30]
    q = rows[(rows.metric == "post_quantile") & (rows.method == "reference")]
    assert len(q) == 49 and np.all(np.diff(q["value"].to_numpy()) >= 0)


def test_accuracy_experiment_without_flows():
    """The always-run cell: the reference, PMMH and SMC-ABC on a tiny LGSSM (the flows' paths run
    in the slow cell above and in tests/test_sbi_methods.py); budgets and rows as above."""
    rows = pd.DataFrame(
        accuracy_experiment(
            seed=0, T=20, methods=["pmmh", "abc"], pmmh_steps=100, pmmh_burnin=10,
            pmmh_particles=10, abc_particles=30, abc_max_simulations=90, ref_chains=2,
            ref_steps=200, ref_warmup=100, c2st_rows=False,
        )
    )  # fmt: skip
    assert np.all(np.isfinite(rows["value"]))
    steps = rows[rows.metric == "sim_steps"].set_index("method")["value"]
    assert steps["pmmh"] == 10 * 20 * (100 + 10 + 1) and steps["abc"] == 90 * 20
    assert set(rows.loc[rows.metric == "mmd2", "method"]) == {"exact", "pmmh", "abc"}
    pm = rows[(rows.metric == "mmd2_budget") & (rows.method == "pmmh")]
    assert list(pm["budget"]) == [10 * 20 * (10 + k + 1) for k in (12, 25, 50, 100)]


def test_amortised_experiment_small_cell():
    """One surrogate, fresh observations: coverage rates are fractions of the tests."""
    rows = amortised_experiment(seed=0, T=20, num_series=40, num_tests=3, flow_steps=20,
                                mcmc_steps=100, mcmc_burnin=20, methods=["tsnl"])  # fmt: skip
    by = {(r["metric"], r["method"]): r["value"] for r in rows}
    for key in [("coverage90", "tsnl"), ("coverage90_exact", "exact")]:
        assert by[key] in (0.0, 1 / 3, 2 / 3, 1.0)
    assert by[("sim_steps", "tsnl")] == 40 * 20
    assert by[("amortised_sd_ratio", "tsnl")] > 0


def test_unknown_method_and_task_are_rejected():
    """A misspelt method or task names what is allowed."""
    with pytest.raises(ValueError, match="task must be"):
        accuracy_experiment(seed=0, task="lgsm")
    with pytest.raises(ValueError, match="methods must be"):
        accuracy_experiment(seed=0, methods=["tsnl", "smc"])
    with pytest.raises(ValueError, match="methods must be"):
        amortised_experiment(seed=0, T=10, num_series=4, num_tests=1, flow_steps=1,
                             methods=["abc"])  # fmt: skip


def test_plot_marginals_writes_one_png_per_experiment_and_T(tmp_path):
    """From a table.csv with stored quantiles: one PNG per (experiment, T), none for other seeds."""
    from scipy.stats import norm

    from experiments.sbi.report import plot_marginals

    qs = np.round(np.linspace(0.02, 0.98, 49), 2)
    rows = [{"experiment": exp, "T": T, "seed": seed, "metric": "post_quantile", "method": m,
             "param": 0, "q": q, "value": norm.ppf(q)}
            for exp, T in [("lgssm", 100), ("lgssm", 200), ("sv", 100)] for seed in (0, 1)
            for m in ("reference", "tsnl") for q in qs]  # fmt: skip
    pd.DataFrame(rows).to_csv(tmp_path / "table.csv", index=False)
    paths = plot_marginals(tmp_path)
    assert sorted(p.name for p in paths) == [
        "marginals-lgssm-T100.png", "marginals-lgssm-T200.png", "marginals-sv-T100.png"
    ]  # fmt: skip
    assert all(p.stat().st_size > 1000 for p in paths)
