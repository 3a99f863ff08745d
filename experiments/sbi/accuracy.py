"""Checks 2-4 and 6 of ``suites/sbi.toml``: every method on one observed series against a reference.

One series is simulated at the task's true theta (key ``seed``). The reference posterior is exact
for the LGSSM (NUTS on the Kalman likelihood, ``ref_chains`` chains from dispersed starts; for
the 1-D task also checked against quadrature) and long PMMH with ``ref_particles`` particles for
SV and LV. The last reference chain is held out as method ``exact``: its metrics are the Monte
Carlo floor of a sample of that size. Rows (column ``method``):

- :func:`~experiments.sbi.common.posterior_rows`'s ``mean_err_sd``, ``sd_ratio``, ``mmd2``,
  ``c2st``; ``sim_steps``, ``wall_s``, ``n_sim_dropped``, ``diverged_rounds``;
- ``mmd2_budget`` (column ``budget``): MMD2 after each round of T-SNL/SNL and after prefixes of
  the PMMH chain (SMC-ABC: its final population);
- ``post_quantile`` (columns ``q``, ``param``): marginal quantiles, for the plots;
- method ``tsnl-mean``: the posterior of T-SNL's final flow with the authors' mean over t
  instead of the sum (no new simulation or fit), to show the 1/T tempering;
- with ``reference_kind = "none"`` (LV: no reference could be afforded) instead of the metrics
  against a reference, ``truth_err_sd`` (|mean - theta*| / posterior sd, the maximum over
  parameters) and ``post_sd``; and ``pf_loglik_sd`` (column ``particles``): the sd over
  ``pf_repeats`` bootstrap estimates of log p(y | theta*), the reason PMMH fails here;
- per cell: ``ref_rhat``, ``ref_grid_err_sd`` (1-D LGSSM: NUTS mean against quadrature, in
  sds), ``sim_steps_ratio_pmmh_tsnl`` and ``log10_mmd2_ratio_snl_tsnl``.
"""

from __future__ import annotations

import math
from typing import Any

import jax
import numpy as np

from ssmbench.sbi import (
    LGSSMTask,
    LVTask,
    SVTask,
    TruncatedSurrogate,
    mmd2,
    surrogate_posterior,
)
from ssmbench.sbi.pmmh import particle_log_lik

from .common import METHODS, nuts_reference, pmmh_reference, posterior_rows, run_method, thin
from .truncation import grid_posterior

__all__ = ["accuracy_experiment", "make_task"]

_QUANTILES = np.round(np.linspace(0.02, 0.98, 49), 2)


def make_task(name: str, state_dim: int = 1):
    """The benchmark task called ``name`` ('lgssm', 'sv' or 'lv')."""
    if name == "lgssm":
        return LGSSMTask(state_dim)
    if name == "sv":
        return SVTask()
    if name == "lv":
        return LVTask()
    raise ValueError(f"task must be 'lgssm', 'sv' or 'lv', got {name!r}")


def _quantile_rows(samples, method: str) -> list[dict[str, Any]]:
    s = np.asarray(samples, np.float64)
    qs = np.quantile(s, _QUANTILES, axis=0)
    return [{"metric": "post_quantile", "value": float(qs[i, j]), "q": float(q), "param": j,
             "method": method} for i, q in enumerate(_QUANTILES) for j in range(s.shape[1])]  # fmt: skip


def _pf_spread(key, task, y, N: int, repeats: int) -> float:
    """The sd of ``repeats`` bootstrap estimates of log p(y | theta*) with ``N`` particles."""
    f = jax.jit(jax.vmap(lambda k: particle_log_lik(k, task, task.theta_true, y, N)))
    return float(np.std(np.asarray(f(jax.random.split(key, repeats))), ddof=1))


def _truth_rows(samples, theta_true, method: str) -> list[dict[str, Any]]:
    """Without a reference: the distance of the posterior mean from the truth in posterior sds
    (``truth_err_sd``, the maximum over parameters) and the largest posterior sd (``post_sd``)."""
    s = np.asarray(samples, np.float64)
    sd = s.std(axis=0, ddof=1)
    z = np.abs(s.mean(axis=0) - np.asarray(theta_true)) / sd
    return [{"metric": "truth_err_sd", "value": float(np.max(z)), "method": method},
            {"metric": "post_sd", "value": float(np.max(sd)), "method": method}]  # fmt: skip


def accuracy_experiment(
    *,
    seed: int,
    quick: bool = False,
    task: str = "lgssm",
    state_dim: int = 1,
    T: int = 100,
    methods: list[str] = list(METHODS),  # noqa: B006 - suite-file default
    lag: int = 5,
    num_rounds: int = 5,
    num_simulations: int = 100,
    flow_steps: int = 3000,
    flow_layers: int = 5,
    nn_width: int = 32,
    nn_depth: int = 2,
    mcmc_steps: int = 1000,
    mcmc_burnin: int = 200,
    mcmc_sigma: float = 0.1,
    pmmh_steps: int = 2000,
    pmmh_burnin: int = 200,
    pmmh_particles: int = 100,
    pmmh_sigma: float = 0.1,
    abc_particles: int = 500,
    abc_max_simulations: int = 20_000,
    ref_chains: int = 4,
    ref_steps: int = 2000,
    ref_warmup: int = 500,
    ref_particles: int = 1000,
    ref_sigma: float = 0.1,
    c2st_rows: bool = True,
    reference_kind: str = "auto",
    pf_particles: list[int] = [50, 200, 1000],  # noqa: B006 - suite-file default
    pf_repeats: int = 8,
) -> list[dict[str, Any]]:
    """Every method in ``methods`` against the reference (module docstring); float64."""
    p = dict(locals())
    if reference_kind not in ("auto", "none"):
        raise ValueError(f"reference_kind must be 'auto' or 'none', got {reference_kind!r}")
    bad = [m for m in methods if m not in METHODS]
    if bad:
        raise ValueError(f"methods must be among {METHODS}, got {bad}")
    with jax.enable_x64(True):
        tk = make_task(task, state_dim)
        key = jax.random.PRNGKey(seed)
        k_data, k_ref, k_methods = jax.random.split(key, 3)
        y = tk.simulate(k_data, tk.theta_true, T)
        rows: list[dict[str, Any]] = []
        reference = None
        if reference_kind == "none":
            for N in pf_particles:  # why no PMMH reference: the spread of the estimate
                ll = _pf_spread(jax.random.fold_in(k_ref, N), tk, y, N, pf_repeats)
                rows.append({"metric": "pf_loglik_sd", "value": ll, "particles": N})
        elif task == "lgssm":
            ref = nuts_reference(k_ref, tk, y, chains=ref_chains, steps=ref_steps,
                                 warmup=ref_warmup)  # fmt: skip
            if tk.theta_dim == 1:

                def exact(th):
                    return tk.prior_log_prob(th) + tk.exact_log_lik(th, y)

                gm, gs, _, _ = grid_posterior(exact, -5.0, 4.0)
                err = abs(float(np.mean(np.asarray(ref["reference"]))) - gm) / gs
                rows.append({"metric": "ref_grid_err_sd", "value": err})
        else:
            ref = pmmh_reference(k_ref, tk, y, chains=ref_chains, steps=ref_steps,
                                 burnin=ref_warmup, particles=ref_particles, sigma=ref_sigma)  # fmt: skip
            rows.append({"metric": "ref_acceptance", "value": ref["acceptance"]})
        if reference_kind != "none":
            rows.append({"metric": "ref_rhat", "value": ref["rhat"]})
            reference = ref["reference"]
            rows += posterior_rows(ref["held_out"], reference, seed=seed, c2st_rows=c2st_rows,
                                   method="exact")  # fmt: skip
            rows += _quantile_rows(reference, "reference")
        ref_thin = thin(reference) if reference is not None else None
        mmd_of: dict[str, float] = {}
        steps_of: dict[str, int] = {}

        def compare(samples, method, c2st_ok=c2st_rows):
            if reference is None:
                return _truth_rows(samples, tk.theta_true, method)
            return posterior_rows(samples, reference, seed=seed, c2st_rows=c2st_ok, method=method)

        for i, m in enumerate(methods):
            out = run_method(m, jax.random.fold_in(k_methods, i), tk, y, p)
            rs = compare(out["samples"], m)
            rows += rs
            for r in rs:
                if r["metric"] == "mmd2":
                    mmd_of[m] = r["value"]
            steps_of[m] = out["sim_steps"]
            for name in ("sim_steps", "wall_s", "n_sim_dropped", "diverged_rounds",
                         "acceptance", "abc_final_eps"):  # fmt: skip
                if name in out and math.isfinite(float(out[name])):
                    rows.append({"metric": name, "value": float(out[name]), "method": m})
            if reference is not None:
                for budget, s in out["curve"]:
                    rows.append({"metric": "mmd2_budget", "value": float(mmd2(thin(s), ref_thin)),
                                 "method": m, "budget": int(budget)})  # fmt: skip
            rows += _quantile_rows(out["samples"], m)
            if "surrogate" in out:  # the authors' mean on the same fitted flow: tempered by 1/T
                sur = out["surrogate"]
                tempered = TruncatedSurrogate(sur.flow, sur.lag, "mean")
                mc = surrogate_posterior(
                    jax.random.fold_in(k_methods, 100 + i), tk, tempered, y, init=tk.theta_true,
                    num_steps=mcmc_steps, num_burnin=mcmc_burnin,
                    sigma=min(1.0, mcmc_sigma * math.sqrt(T)),
                )  # fmt: skip
                rows += compare(mc.samples, f"{m}-mean", False)
                rows += _quantile_rows(mc.samples, f"{m}-mean")
        if "pmmh" in steps_of and "tsnl" in steps_of:
            rows.append({"metric": "sim_steps_ratio_pmmh_tsnl",
                         "value": steps_of["pmmh"] / steps_of["tsnl"]})  # fmt: skip
        if "snl" in mmd_of and "tsnl" in mmd_of:
            # MMD2 (unbiased) can be <= 0 at the noise floor; clip at 1e-6 before the log
            a, b = max(mmd_of["snl"], 1e-6), max(mmd_of["tsnl"], 1e-6)
            rows.append({"metric": "log10_mmd2_ratio_snl_tsnl", "value": math.log10(a / b)})
    return rows
