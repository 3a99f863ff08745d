"""Check 5 of ``suites/sbi.toml``: amortisation over new observations.

One surrogate is fitted on ``num_series`` series simulated from the prior (T-SNL's windows, or
SNL's whole series), then reused without any new simulation for ``num_tests`` fresh pairs
(theta_i from the prior, y_i simulated at theta_i). Each posterior is sampled by random-walk
Metropolis started at the best point of a coarse grid of the surrogate posterior (1-D task).
Rows (column ``method``):

- ``coverage90``: the fraction of the fresh theta_i inside their 90% central credible interval;
- ``coverage90_exact`` (method ``exact``): the same for the exact posterior by quadrature, its
  interval taken as mean +- 1.645 sd (a Gaussian reading of the 90% interval; a calibration
  check of the set-up: near 0.9 up to binomial noise);
- ``amortised_mean_err_sd``: the median over tests of |mean - exact mean| / exact sd;
- ``amortised_sd_ratio``: the median over tests of sd / exact sd;
- ``sim_steps``: the simulated steps of the one training set.
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from ssmbench.sbi import LGSSMTask, fit_snl_surrogate, fit_tsnl_surrogate, surrogate_posterior

from .common import flow_config
from .truncation import grid_posterior

__all__ = ["amortised_experiment"]


def _covers(samples: np.ndarray, theta: float) -> bool:
    lo, hi = np.quantile(samples, [0.05, 0.95])
    return bool(lo <= theta <= hi)


def amortised_experiment(
    *,
    seed: int,
    quick: bool = False,
    T: int = 100,
    lag: int = 5,
    num_series: int = 500,
    num_tests: int = 20,
    methods: list[str] = ["tsnl", "snl"],  # noqa: B006 - suite-file default
    flow_steps: int = 3000,
    flow_layers: int = 5,
    nn_width: int = 32,
    nn_depth: int = 2,
    mcmc_steps: int = 2000,
    mcmc_burnin: int = 500,
    mcmc_sigma: float = 0.1,
) -> list[dict[str, Any]]:
    """Train once, infer ``num_tests`` times (module docstring); 1-D LGSSM, float64."""
    bad = [m for m in methods if m not in ("tsnl", "snl")]
    if bad:
        raise ValueError(f"methods must be 'tsnl' or 'snl', got {bad}")
    flow = {"flow_layers": flow_layers, "nn_width": nn_width, "nn_depth": nn_depth,
            "config": flow_config(flow_steps)}  # fmt: skip
    with jax.enable_x64(True):
        task = LGSSMTask(1)
        k_train, k_fit, k_test, k_mc = jax.random.split(jax.random.PRNGKey(seed), 4)
        kt1, kt2 = jax.random.split(k_train)
        thetas = jax.vmap(task.prior_sample)(jax.random.split(kt1, num_series))
        ys = task.simulate_batch(kt2, thetas, T)
        kq1, kq2 = jax.random.split(k_test)
        test_th = jax.vmap(task.prior_sample)(jax.random.split(kq1, num_tests))
        test_y = task.simulate_batch(kq2, test_th, T)
        exact = []
        for i in range(num_tests):
            y = test_y[i]
            m, s, _, _ = grid_posterior(lambda th, y=y: task.prior_log_prob(th)
                                        + task.exact_log_lik(th, y), -5.0, 4.0)  # fmt: skip
            exact.append((m, s))
        cover = [abs(float(test_th[i, 0]) - m) <= 1.6448536269514722 * s
                 for i, (m, s) in enumerate(exact)]  # fmt: skip
        rows: list[dict[str, Any]] = [
            {"metric": "coverage90_exact", "value": float(np.mean(cover)), "method": "exact"}
        ]
        for j, method in enumerate(methods):
            kf = jax.random.fold_in(k_fit, j)
            if method == "tsnl":
                sur, _ = fit_tsnl_surrogate(kf, thetas, ys, lag, **flow)
            else:
                sur, _ = fit_snl_surrogate(kf, thetas, ys, **flow)
            coarse = jnp.linspace(-4.0, 3.0, 141)[:, None]
            lp_of = jax.jit(jax.vmap(lambda th, y, sur=sur: task.prior_log_prob(th)
                                     + sur.log_lik(th, y), in_axes=(0, None)))  # fmt: skip
            hits, errs, ratios = [], [], []
            for i in range(num_tests):
                y = test_y[i]
                start = coarse[int(jnp.argmax(lp_of(coarse, y)))]
                mc = surrogate_posterior(jax.random.fold_in(k_mc, 100 * j + i), task, sur, y,
                                         init=start, num_steps=mcmc_steps,
                                         num_burnin=mcmc_burnin, sigma=mcmc_sigma)  # fmt: skip
                s = np.asarray(mc.samples[:, 0], np.float64)
                hits.append(_covers(s, float(test_th[i, 0])))
                m, sd = exact[i]
                errs.append(abs(float(s.mean()) - m) / sd)
                ratios.append(float(s.std(ddof=1)) / sd)
            rows += [
                {"metric": "coverage90", "value": float(np.mean(hits)), "method": method},
                {"metric": "amortised_mean_err_sd", "value": float(np.median(errs)),
                 "method": method},
                {"metric": "amortised_sd_ratio", "value": float(np.median(ratios)),
                 "method": method},
                {"metric": "sim_steps", "value": float(num_series * T), "method": method},
            ]  # fmt: skip
    return rows
