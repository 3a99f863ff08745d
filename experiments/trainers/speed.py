"""PVMC vs SMC-based baselines: speed on the LGSSM: time per step, time to target, and both PVMC paths."""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp

from ssmbench.prob import make_loss, make_proposal, pvmc_path
from ssmbench.prob.methods import exact_ll_per_step
from ssmbench.tasks.ssm_data import lgssm_task
from ssmbench.train import TrainConfig, train

from .driver import DTYPE, Comparison, check_methods, fit_methods, task_extra, ttt_rows
from .tasks import init_lgssm, true_lgssm

__all__ = ["speed_experiment"]


def speed_experiment(
    *,
    seed: int,
    quick: bool = False,
    T: int = 128,
    N: int = 16,
    steps: int = 40,
    lr: float = 2e-2,
    hidden: int = 32,
    batch: int = 2,
    eval_every: int = 5,
    path_steps: int = 3,
    path_max_work: float = 2.0**28,
    target_gap: float | None = 0.1,
    methods: list[str] = ["fivo", "pvmc"],  # noqa: B006 - suite-file default
    min_obs: int = 0,
) -> list[dict[str, Any]]:
    """PVMC against SMC-based baselines at one (T, N) on the LGSSM task, the same budget of
    ``steps`` steps each (no early stopping on validation) on ``batch`` sequences. ``methods``
    must include ``pvmc``. Rows: ``time_per_step`` (median, compile excluded) for every method
    (PVMC on its backend path, :func:`ssmbench.prob.pvmc_path`) and, over
    ``path_steps`` steps each, for both PVMC paths (``pvmc-seq``, ``pvmc-assoc``) so the table
    shows which is faster here (``path_steps = 0`` skips the other path; so does a work N^3 T, or
    N^2 T for the sequential path, above ``path_max_work``, with a ``path_skipped_work`` row);
    ``time_to_target``: with ``target_gap`` (default 0.1), the training wall time at which the
    exact validation log p(y) per step first comes within ``target_gap`` nats/step of the true
    parameters' value (training stops there; ``steps`` is the cap; a method that does not reach
    it records ``reached_target = 0`` and its ``best_val``, no time); with ``target_gap = None``,
    95% of the best method's final improvement of the held-out curve. The ratios
    ``ratio_time_per_step`` / ``ratio_time_to_target`` = baseline / PVMC, one row per baseline
    (method ``<baseline>/pvmc``; the latter only when both reached the target). ``min_obs``
    raises the batch to at least ``ceil(min_obs / T)`` sequences, so that short cells have
    enough data for the learned parameters to come within the target of the true ones (a
    single T = 128 sequence does not: measured, no method within 0.1 nats/step in 400 steps);
    the number of training sequences is the column ``n_sequences``."""
    methods = check_methods(methods)
    if "pvmc" not in methods:
        raise ValueError(f"speed_experiment: methods must include 'pvmc', got {methods}")
    batch = max(batch, -(-min_obs // T))
    task = lgssm_task(T, seed=seed, n_train=batch, n_val=1, n_test=2)
    k_model, k_fit = jax.random.split(jax.random.PRNGKey(seed))
    model0 = init_lgssm(k_model, task.state_dim, task.obs_dim)
    extra = {**task_extra("lgssm"), "pvmc_path": pvmc_path(), "n_sequences": batch}
    target = None
    if target_gap is not None:
        y_val = jnp.asarray(task.y_val, DTYPE)
        target = float(exact_ll_per_step(true_lgssm(task.params), y_val)) - target_gap
    cfg = TrainConfig(steps=steps, learning_rate=lr, eval_every=eval_every, patience=None,
                      target=target)  # fmt: skip
    c = Comparison(task, model0, k_fit, N, hidden, cfg, exact_ll_per_step, extra)
    rows, results = fit_methods(methods, c)
    other = "pvmc-assoc" if pvmc_path() == "sequential" else "pvmc-seq"
    this = "pvmc-seq" if other == "pvmc-assoc" else "pvmc-assoc"
    rows.append(
        {"metric": "time_per_step", "value": results["pvmc"].median_step_s, "method": this, **extra}
    )
    # the associative path's autodiff keeps O(N^3 T) values (its exact-logsumexp fallback is
    # evaluated under vmap too): at T = 8192, N = 64 that exceeded the 23 GB of the CPU machine
    work = float(N) ** 3 * T if other == "pvmc-assoc" else float(N) ** 2 * T
    if path_steps > 0 and work > path_max_work:
        rows.append({"metric": "path_skipped_work", "value": work, "method": other, **extra})
    elif path_steps > 0:  # the other PVMC path, timed over path_steps steps (0: skipped)
        short = TrainConfig(steps=path_steps, learning_rate=lr, eval_every=10**9, patience=None)
        q = make_proposal(other, task.state_dim, task.obs_dim, hidden, key=k_fit, dtype=DTYPE)
        res = train(make_loss(other, N), (model0, q), jnp.asarray(task.y_train, DTYPE),
                    key=k_fit, config=short)  # fmt: skip
        rows += [
            {"metric": "time_per_step", "value": res.median_step_s, "method": other, **extra},
            {"metric": "compile_s", "value": res.compile_s, "method": other, **extra},
        ]
    ttt = ttt_rows(results, extra, target=target)
    rows += ttt
    p = results["pvmc"].median_step_s
    t = {r["method"]: r["value"] for r in ttt if r["metric"] == "time_to_target"}
    for b in (m for m in methods if m != "pvmc"):
        rows.append({"metric": "ratio_time_per_step", "value": results[b].median_step_s / p,
                     "method": f"{b}/pvmc", **extra})  # fmt: skip
        if b in t and "pvmc" in t and t["pvmc"] > 0:
            rows.append({"metric": "ratio_time_to_target", "value": t[b] / t["pvmc"],
                         "method": f"{b}/pvmc", **extra})  # fmt: skip
    return rows
