"""Shared pieces of the SBI experiments (``suites/sbi.toml``): references, methods, metric rows.

Every method gets the same observed series and returns equally weighted posterior samples, the
simulated time steps it spent (``sim_steps``) and its wall time; :func:`posterior_rows` turns
samples into the issue's metrics against a reference sample. The metric rows use the column
``method``; budget curves use ``budget`` (simulated time steps up to that point).
"""

from __future__ import annotations

import dataclasses
import time
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from blackjax.diagnostics import potential_scale_reduction

from ssmbench.sbi import (
    FLOW_CONFIG,
    AbstractSBITask,
    c2st,
    mean_err_sd,
    mmd2,
    nuts,
    pmmh,
    sd_ratio,
    smc_abc,
    snl,
    tsnl,
)
from ssmbench.train import TrainConfig

__all__ = [
    "METHODS",
    "nuts_reference",
    "pmmh_reference",
    "run_method",
    "posterior_rows",
    "thin",
    "flow_config",
]

METHODS = ("tsnl", "snl", "pmmh", "abc")
_METRIC_ROWS = 1000  # samples of a method and of the reference that the metrics compare


def thin(samples: jax.Array, n: int = _METRIC_ROWS) -> np.ndarray:
    """``n`` evenly spaced rows of ``samples`` (all of them if there are fewer)."""
    s = np.asarray(samples, np.float64)
    if s.shape[0] <= n:
        return s
    return s[np.linspace(0, s.shape[0] - 1, n).round().astype(int)]


def flow_config(steps: int) -> TrainConfig:
    """The library's flow-fitting settings with at most ``steps`` optimiser steps."""
    return dataclasses.replace(FLOW_CONFIG, steps=steps)


def _chains_rhat(chains: jax.Array) -> float:
    """The largest split-free R-hat over parameters of ``chains (c, n, p)``."""
    with jax.numpy_dtype_promotion("standard"):
        r = potential_scale_reduction(chains, chain_axis=0, sample_axis=1)
    return float(jnp.max(r))


def nuts_reference(
    key: jax.Array, task: AbstractSBITask, y: jax.Array, *, chains: int, steps: int, warmup: int
) -> dict[str, Any]:
    """NUTS on the exact (Kalman) posterior of an LGSSM task from dispersed starts.

    Returns ``reference`` (the first ``chains - 1`` chains pooled), ``held_out`` (the last chain:
    an exact sample the size of one method's, whose metrics are the Monte Carlo floor) and
    ``rhat`` over all chains.
    """
    log_density = jax.jit(lambda th: task.prior_log_prob(th) + task.exact_log_lik(th, y))
    k_init, k_run = jax.random.split(key)
    p = task.theta_dim
    inits = task.theta_true[None, :] + 0.3 * jax.random.normal(k_init, (chains, p), y.dtype)
    runs = [nuts(k, log_density, inits[i], num_steps=steps, num_warmup=warmup)
            for i, k in enumerate(jax.random.split(k_run, chains))]  # fmt: skip
    stacked = jnp.stack([r.samples for r in runs])
    return {
        "reference": stacked[:-1].reshape(-1, p),
        "held_out": stacked[-1],
        "rhat": _chains_rhat(stacked),
    }


def pmmh_reference(
    key: jax.Array, task: AbstractSBITask, y: jax.Array, *, chains: int, steps: int,
    burnin: int, particles: int, sigma: float,
) -> dict[str, Any]:  # fmt: skip
    """Long PMMH chains with many particles (the SV and LV reference), as :func:`nuts_reference`
    (``reference``, ``held_out``, ``rhat``), started at the truth."""
    runs = [pmmh(k, task, y, init=task.theta_true, num_steps=steps, num_particles=particles,
                 sigma=sigma, num_burnin=burnin)
            for k in jax.random.split(key, chains)]  # fmt: skip
    stacked = jnp.stack([r.samples for r in runs])
    return {
        "reference": stacked[:-1].reshape(-1, task.theta_dim),
        "held_out": stacked[-1],
        "rhat": _chains_rhat(stacked),
        "acceptance": float(np.mean([float(r.acceptance_rate) for r in runs])),
    }


def _abc_samples(key: jax.Array, res: Any, n: int) -> jax.Array:
    """``n`` equally weighted draws from SMC-ABC's weighted population."""
    idx = jax.random.choice(key, res.samples.shape[0], (n,), p=res.weights)
    return res.samples[idx]


def run_method(
    method: str, key: jax.Array, task: AbstractSBITask, y: jax.Array, p: dict[str, Any]
) -> dict[str, Any]:
    """Run one method on ``y`` with the settings ``p``; returns ``samples``, ``sim_steps``,
    ``wall_s``, ``n_sim_dropped`` and ``curve`` ([(budget, samples)], the posterior after part of
    the budget: each round of T-SNL/SNL, prefixes of the PMMH chain)."""
    flow = {"flow_layers": p["flow_layers"], "nn_width": p["nn_width"], "nn_depth": p["nn_depth"],
            "config": flow_config(p["flow_steps"])}  # fmt: skip
    mc = {"mcmc_steps": p["mcmc_steps"], "mcmc_burnin": p["mcmc_burnin"],
          "mcmc_sigma": p["mcmc_sigma"], "init": task.theta_true}  # fmt: skip
    rounds = {"num_rounds": p["num_rounds"], "num_simulations": p["num_simulations"]}
    t0 = time.perf_counter()
    if method in ("tsnl", "tsnl-mean"):
        reduction = "mean" if method == "tsnl-mean" else "sum"
        r = tsnl(key, task, y, lag=p["lag"], reduction=reduction, **rounds, **mc, **flow)
        out = {"samples": r.samples, "sim_steps": r.sim_steps, "n_sim_dropped": r.n_sim_dropped,
               "curve": list(r.round_samples), "diverged_rounds": len(r.diverged_rounds),
               "surrogate": r.surrogate}  # fmt: skip
    elif method == "snl":
        r = snl(key, task, y, **rounds, **mc, **flow)
        out = {"samples": r.samples, "sim_steps": r.sim_steps, "n_sim_dropped": r.n_sim_dropped,
               "curve": list(r.round_samples), "diverged_rounds": len(r.diverged_rounds)}  # fmt: skip
    elif method == "pmmh":
        n, burn, N = p["pmmh_steps"], p["pmmh_burnin"], p["pmmh_particles"]
        r = pmmh(key, task, y, init=task.theta_true, num_steps=n, num_particles=N,
                 sigma=p["pmmh_sigma"], num_burnin=burn)  # fmt: skip
        per_step = N * y.shape[0]
        curve = [(per_step * (burn + k + 1), r.samples[:k]) for k in (n // 8, n // 4, n // 2, n)]
        out = {"samples": r.samples, "sim_steps": r.sim_steps, "n_sim_dropped": 0, "curve": curve,
               "acceptance": float(r.acceptance_rate)}  # fmt: skip
    elif method == "abc":
        k_run, k_draw = jax.random.split(key)
        r = smc_abc(k_run, task, y, num_particles=p["abc_particles"],
                    max_simulations=p["abc_max_simulations"])  # fmt: skip
        s = _abc_samples(k_draw, r, _METRIC_ROWS)
        out = {"samples": s, "sim_steps": r.sim_steps, "n_sim_dropped": r.n_sim_dropped,
               "curve": [(r.sim_steps, s)], "abc_final_eps": r.epsilons[-1] if r.epsilons else
               float("nan")}  # fmt: skip
    else:
        raise ValueError(f"unknown method {method!r}; expected one of {METHODS + ('tsnl-mean',)}")
    jax.block_until_ready(out["samples"])
    out["wall_s"] = time.perf_counter() - t0
    return out


def posterior_rows(
    samples: jax.Array, reference: jax.Array, *, seed: int, c2st_rows: bool = True,
    **columns: Any,
) -> list[dict[str, Any]]:  # fmt: skip
    """The issue's metrics of ``samples`` against ``reference``: ``mean_err_sd`` (the maximum over
    parameters), ``sd_ratio`` (the parameter farthest from 1), ``mmd2`` and ``c2st``; with more
    than one parameter also ``mean_err_sd_param`` and ``sd_ratio_param`` per ``param``. Each row
    carries ``columns``."""
    s, ref = thin(samples), thin(reference)
    err, ratio = mean_err_sd(s, ref), sd_ratio(s, ref)
    worst = int(np.argmax(np.abs(np.log(ratio))))
    rows = [
        {"metric": "mean_err_sd", "value": float(np.max(err)), **columns},
        {"metric": "sd_ratio", "value": float(ratio[worst]), **columns},
        {"metric": "mmd2", "value": float(mmd2(jnp.asarray(s), jnp.asarray(ref))), **columns},
    ]
    if s.shape[1] > 1:
        for j in range(s.shape[1]):
            rows.append({"metric": "mean_err_sd_param", "value": float(err[j]), "param": j, **columns})  # fmt: skip
            rows.append({"metric": "sd_ratio_param", "value": float(ratio[j]), "param": j, **columns})  # fmt: skip
    if c2st_rows:
        rows.append({"metric": "c2st", "value": c2st(s, ref, seed=seed), **columns})
    return rows
