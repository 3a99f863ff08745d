"""The one driver of the trainer experiments: a task, several methods, a common evaluator, rows.

Every method trains the *same* generative model from the *same* initialisation with the same
optimiser, batch, particle count ``N``, step budget and early-stopping rule, through the one loop
of :mod:`ssmbench.train`; only the bound and the proposal family differ
(:mod:`ssmbench.prob.methods`). An experiment describes its run as a :class:`Comparison` and calls
:func:`compare_methods` (or :func:`fit_methods` for the training rows alone).
"""

from __future__ import annotations

import math
import os
import sys
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import jax
import jax.numpy as jnp

from ssmbench.prob import AbstractSSM, make_loss, make_proposal, pvmc_path
from ssmbench.prob.methods import batch_bound, smc_eval_per_step, validate_method
from ssmbench.tasks.chorales import PianoRollTask
from ssmbench.tasks.ssm_data import SequenceTask
from ssmbench.train import TrainConfig, TrainResult, compile_step, time_to_target, train

__all__ = [
    "DTYPE",
    "Comparison",
    "compare_methods",
    "fit_methods",
    "check_methods",
    "train_config",
    "task_extra",
    "smc_evaluator",
    "ttt_rows",
]

DTYPE = jnp.float32
Row = dict[str, Any]
Metrics = Callable[[str, Any, jax.Array, dict[str, jax.Array]], Mapping[str, float]]


@dataclass(frozen=True)
class Comparison:
    """One side-by-side run: what every method shares.

    ``model0`` is trained on ``task.y_train`` (with the true states of the first ``n_labelled``
    sequences when ``supervised_weight`` > 0) from the fit ``key``; ``evaluator(model, y)`` scores
    a model on the validation split (early stopping) and the test split (the held-out curve).
    After training, each method's own bound is evaluated on ``y_eval`` with ``eval_key``
    (``smoothing``: with its state estimate), and ``metrics(method, params, log_Z, diagnostics)``
    gives the method's rows. The precompilation pool also runs the evaluator on ``model0`` and
    each array of ``warm_on`` (e.g. the validation and test sets), and the ``warmup`` calls.
    ``extra`` columns go on every row. ``ttt_fraction``: the time to target is the first time a
    held-out curve reaches this fraction of the best method's final improvement (declared per
    experiment in the suite).
    """

    task: SequenceTask | PianoRollTask
    model0: AbstractSSM
    key: jax.Array
    N: int
    hidden: int
    config: TrainConfig
    evaluator: Callable[[AbstractSSM, jax.Array], jax.Array]
    extra: Mapping[str, Any]
    supervised_weight: float = 0.0
    n_labelled: int = 0
    eval_key: jax.Array | None = None
    y_eval: jax.Array | None = None
    smoothing: bool = False
    metrics: Metrics | None = None
    warm_on: tuple[jax.Array, ...] = ()
    warmup: tuple[Callable[[], Any], ...] = ()
    ttt_fraction: float = 0.95


def check_methods(methods: list[str]) -> list[str]:
    """The methods as a list; a ValueError for a name that is not in :data:`ssmbench.prob.METHODS`
    (or a same-proposal ablation such as ``fivo@conv``)."""
    return [validate_method(m) for m in methods]


def _progress() -> bool:
    """Show the progress bar (``SSMBENCH_PROGRESS=1`` and stderr a terminal)."""
    return os.environ.get("SSMBENCH_PROGRESS", "") == "1" and sys.stderr.isatty()


def train_config(steps, lr, eval_every, patience, batch_size, devices: str = "one") -> TrainConfig:
    """The training configuration every method of an experiment shares (``devices="all"``: data
    parallelism over every device, :class:`ssmbench.train.TrainConfig`)."""
    return TrainConfig(steps=steps, learning_rate=lr, eval_every=eval_every, patience=patience,
                       batch_size=batch_size, progress=_progress(), devices=devices)  # fmt: skip


def smc_evaluator(key: jax.Array, num_particles: int, chunk: int | None = None):
    """The common evaluator of the non-linear tasks, ``evaluator(model, y)``: a bootstrap particle
    filter with ``num_particles`` particles and the fixed ``key`` under ``model``, log Z-hat / T
    averaged over the sequences (:func:`ssmbench.prob.methods.smc_eval_per_step`)."""

    def evaluator(model, y):
        return smc_eval_per_step(model, key, y, num_particles, chunk=chunk)

    return evaluator


def task_extra(task: str) -> dict[str, Any]:
    """The columns of every row of a task's experiment: the task and the JAX backend."""
    return {"task": task, "backend": jax.default_backend()}


def _fit_inputs(method: str, c: Comparison):
    """``(loss, params, data, train key, cache key)`` of one method's training run."""
    k_q, k_train = jax.random.split(c.key)
    q = make_proposal(method, c.model0.state_dim, c.model0.obs_dim, c.hidden, key=k_q, dtype=DTYPE)
    y_tr = jnp.asarray(c.task.y_train, DTYPE)
    if c.supervised_weight > 0:
        lab = (jnp.arange(y_tr.shape[0]) < c.n_labelled).astype(DTYPE)
        data = (y_tr, jnp.asarray(c.task.x_train, DTYPE), lab)
    else:
        data = y_tr
    loss = make_loss(method, c.N, supervised_weight=c.supervised_weight)
    # the loss is fully determined by (method, N, supervised_weight): later seeds and cells of the
    # same shapes reuse the compiled step (compile_s then reports the first compile)
    cache_key = ("experiments.trainers", method, c.N, float(c.supervised_weight), pvmc_path())
    return loss, (c.model0, q), data, k_train, cache_key


def _own_bound(method: str, params: Any, c: Comparison):
    """Each ``y_eval`` sequence's ``(log Z-hat, diagnostics)`` of ``method`` (jit-cached: called
    the same way at warm-up and after training)."""
    if c.smoothing:
        return batch_bound(method, params, c.eval_key, c.y_eval, c.N, smoothing=True)
    return batch_bound(method, params, c.eval_key, c.y_eval, c.N)


def _precompile(methods: list[str], c: Comparison) -> None:
    """Compile every method's training step ahead of :func:`_fit`, in threads (one per core):
    XLA compiles without holding the GIL, and on CPU compiling dominates short runs. Each
    method's ``compile_s`` is still its own program's compile time. With ``y_eval`` this also
    warms the jit cache of the method's own bound; the evaluator on ``c.warm_on`` and the
    ``c.warmup`` calls run in the same pool."""

    def one(method: str) -> None:
        loss, params, data, k_train, cache_key = _fit_inputs(method, c)
        compile_step(loss, params, data, key=k_train, config=c.config, cache_key=cache_key)
        if c.y_eval is not None:
            jax.block_until_ready(_own_bound(method, params, c))

    tasks = [lambda m=m: one(m) for m in methods]
    tasks += [lambda y=y: jax.block_until_ready(c.evaluator(c.model0, y)) for y in c.warm_on]
    tasks += [lambda j=j: jax.block_until_ready(j()) for j in c.warmup]
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    workers = max(1, min(len(tasks), cores or 1))
    with ThreadPoolExecutor(workers) as pool:
        for f in [pool.submit(t) for t in tasks]:
            f.result()  # re-raises a compile error here


def _fit(method: str, c: Comparison) -> TrainResult:
    """Train (model, proposal of ``method``) on ``task.y_train``. Early stopping uses the task's
    common evaluator on the validation split (the same rule for every method); every evaluation
    also logs it on the test split (``heldout``, the curves)."""
    loss, params, data, k_train, cache_key = _fit_inputs(method, c)
    y_val = jnp.asarray(c.task.y_val, DTYPE)
    y_test = jnp.asarray(c.task.y_test, DTYPE)

    def eval_fn(params, k):
        return {"val": float(c.evaluator(params[0], y_val)), "heldout": float(c.evaluator(params[0], y_test))}  # fmt: skip

    return train(loss, params, data, key=k_train, config=c.config, eval_fn=eval_fn,
                 cache_key=cache_key)  # fmt: skip


def _common_rows(method: str, res: TrainResult, extra: Mapping[str, Any]) -> list[Row]:
    """Timings, step counts, flags and the held-out curve of one method's training run."""
    rows = [
        ("time_per_step", res.median_step_s),
        ("train_wall_s", res.train_wall_s),
        ("compile_s", res.compile_s),
        ("compile_reused", float(res.compile_reused)),
        ("steps", float(res.steps_done)),
        ("stopped_early", float(res.stopped_early)),
        ("diverged", float(res.diverged)),
        ("skipped_steps", float(res.skipped_steps)),
        ("final_train_ess", res.log[-1].get("ess", math.nan) if res.log else math.nan),
    ]
    if res.memory_bytes is not None:
        rows.append(("step_memory_bytes", float(res.memory_bytes)))
    out = [{"metric": m, "value": float(v), "method": method, **extra} for m, v in rows]
    for e in res.evals:
        out.append({"metric": "curve_heldout", "value": e["heldout"], "method": method,
                    "step": int(e["step"]), "train_s": float(e["wall_s"]), **extra})  # fmt: skip
    return out


def ttt_rows(
    results: dict[str, TrainResult],
    extra: Mapping[str, Any],
    *,
    target: float | None = None,
    fraction: float = 0.95,
) -> list[Row]:
    """Time to target of each method.

    With ``target`` (an absolute validation score that ``config.target`` stopped training at):
    each method's own ``time_to_target_s``; a method that did not reach it within the step cap
    gets ``reached_target = 0``, no time row (never its wall time), and its ``best_val``. Without:
    ``fraction`` of the best final improvement of the held-out curves
    (:func:`ssmbench.train.time_to_target`).
    """
    rows = []
    if target is not None:
        for m, r in results.items():
            rows.append({"metric": "reached_target", "value": float(r.reached_target), "method": m, **extra})  # fmt: skip
            rows.append({"metric": "best_val", "value": float(r.best_val if r.best_val is not None else math.nan), "method": m, **extra})  # fmt: skip
            if r.reached_target:
                rows.append({"metric": "time_to_target", "value": r.time_to_target_s, "method": m, **extra})  # fmt: skip
                rows.append({"metric": "steps_to_target", "value": float(r.target_step), "method": m, **extra})  # fmt: skip
        rows.append({"metric": "target_val", "value": target, "method": "all", **extra})
        return rows
    curves = {
        m: ([e["wall_s"] for e in r.evals], [e["heldout"] for e in r.evals])
        for m, r in results.items()
        if r.evals
    }
    times, target = time_to_target(curves, fraction=fraction)
    for m, t in times.items():
        rows.append({"metric": "reached_target", "value": float(math.isfinite(t)), "method": m, **extra})  # fmt: skip
        if math.isfinite(t):  # a method that never reached the target reports no time (see docs)
            rows.append({"metric": "time_to_target", "value": t, "method": m, **extra})
    rows.append({"metric": "target_heldout", "value": target, "method": "all", **extra})
    return rows


def _paired(rows: list[Row], metric: str, extra: Mapping[str, Any], *, sign: float = 1.0,
            of: str | None = None) -> list[Row]:  # fmt: skip
    """PVMC against every other method of the run, paired (same seed, data, initialisation): the
    difference ``sign * (pvmc - baseline)`` of ``metric`` (``sign = -1`` for a metric where lower
    is better), labelled ``of``: metric ``pvmc_minus_baseline``, method ``pvmc-<baseline>``
    (positive: PVMC is better). The FIVO row is also written as ``pvmc_minus_fivo`` (the name the
    committed runs before issue #19 used)."""
    v = {r["method"]: r["value"] for r in rows if r["metric"] == metric}
    if "pvmc" not in v:
        return []
    out = []
    for b, vb in v.items():
        if b == "pvmc":
            continue
        diff = v["pvmc"] - vb if sign > 0 else vb - v["pvmc"]
        names = ["pvmc_minus_baseline"] + (["pvmc_minus_fivo"] if b == "fivo" else [])
        out += [{"metric": n, "value": diff, "method": f"pvmc-{b}", "of": of or metric, **extra}
                for n in names]  # fmt: skip
    return out


def fit_methods(methods: list[str], c: Comparison) -> tuple[list[Row], dict[str, TrainResult]]:
    """Train every method of ``c`` (compiled ahead, in a pool) and return its rows (``metrics`` of
    its own bound on ``y_eval``, then timings and the held-out curve) and the training results."""
    _precompile(methods, c)
    rows: list[Row] = []
    results: dict[str, TrainResult] = {}
    for method in methods:
        res = _fit(method, c)
        results[method] = res
        if c.metrics is not None:
            lz, d = _own_bound(method, res.params, c)
            values = c.metrics(method, res.params, lz, d)
            rows += [{"metric": k, "value": v, "method": method, **c.extra} for k, v in values.items()]  # fmt: skip
        rows += _common_rows(method, res, c.extra)
    return rows, results


def compare_methods(
    methods: list[str],
    c: Comparison,
    *,
    paired: str,
    sign: float = 1.0,
    paired_of: str | None = None,
    rows0: list[Row] = (),  # type: ignore[assignment]
) -> list[Row]:
    """The rows of one experiment: ``rows0``, every method's rows (:func:`fit_methods`), the time to
    target, and ``pvmc_minus_fivo`` of the metric ``paired`` (see :func:`_paired`)."""
    rows, results = fit_methods(methods, c)
    rows = list(rows0) + rows + ttt_rows(results, c.extra, fraction=c.ttt_fraction)
    return rows + _paired(rows, paired, c.extra, sign=sign, of=paired_of)
