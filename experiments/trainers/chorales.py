"""The trainer experiment on real data: Bach chorales as a binary piano roll (needs ``music21``)."""

from __future__ import annotations

from typing import Any, Literal

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

from ssmbench.prob import SRNN, AbstractSSM, DeepMarkovModel
from ssmbench.tasks.chorales import PianoRollTask, chorale_task

from .driver import (
    DTYPE,
    Comparison,
    check_methods,
    compare_methods,
    smc_evaluator,
    task_extra,
    train_config,
)

__all__ = ["init_piano_roll_model", "chorales_experiment"]


def init_piano_roll_model(
    key: jax.Array,
    y_train: jax.Array,
    *,
    kind: Literal["srnn", "dmm"] = "srnn",
    state_dim: int = 8,
    hidden: int = 32,
) -> AbstractSSM:
    """The common initialisation of the piano-roll model: a Bernoulli-emission SRNN (GRU over
    the previous frame + stochastic layer) or DMM, float32, with the emission's output bias set
    to the logit of each key's training frequency (clipped to [1e-3, 1 - 1e-3]), so that every
    method starts from the independent-keys baseline instead of p = 1/2 per key."""
    obs_dim = y_train.shape[-1]
    if kind == "srnn":
        model = SRNN(state_dim, obs_dim, hidden, key=key, dtype=DTYPE, emission="bernoulli")
    elif kind == "dmm":
        model = DeepMarkovModel(state_dim, obs_dim, hidden, key=key, dtype=DTYPE,
                                emission="bernoulli")  # fmt: skip
    else:
        raise ValueError(f"model must be 'srnn' or 'dmm', got {kind!r}")
    p = jnp.clip(jnp.mean(y_train.reshape(-1, obs_dim), axis=0), 1e-3, 1 - 1e-3)
    bias = jnp.log(p) - jnp.log1p(-p)
    return eqx.tree_at(lambda m: m.emit_mlp.layers[-1].bias, model, bias.astype(DTYPE))


def _eval_subset(task: PianoRollTask, max_windows: int, split_seed: int) -> PianoRollTask:
    """The task with at most ``max_windows`` validation and test windows (a subset fixed by
    ``split_seed``; all of them when ``max_windows`` <= 0)."""
    if max_windows <= 0:
        return task
    rng = np.random.default_rng(split_seed)

    def sub(y):
        return y if len(y) <= max_windows else y[np.sort(rng.choice(len(y), max_windows, replace=False))]  # fmt: skip

    return PianoRollTask(task.name, task.y_train, sub(task.y_val), sub(task.y_test), task.stats)


def _data_rows(task: PianoRollTask, extra: dict[str, Any]) -> list[dict[str, Any]]:
    """The data-set sizes (``data_*``) and the independent-keys baseline, the initial emission
    bias alone: ``-mean log Bernoulli`` per frame of the test windows."""
    rows = [
        {"metric": f"data_{k}", "value": float(v), "method": "all", **extra}
        for k, v in task.stats.items()
        if isinstance(v, (int, float))
    ]
    p = np.clip(task.y_train.reshape(-1, task.obs_dim).mean(0), 1e-3, 1 - 1e-3)
    yt = task.y_test.reshape(-1, task.obs_dim)
    base = -np.mean(np.sum(yt * np.log(p) + (1 - yt) * np.log1p(-p), axis=1))
    rows.append({"metric": "independent_keys_nll", "value": float(base), "method": "all", **extra})
    return rows


def chorales_experiment(
    *,
    seed: int,
    quick: bool = False,
    T: int = 64,
    N: int = 16,
    eval_particles: int = 1024,
    steps: int = 100,
    lr: float = 5e-3,
    state_dim: int = 8,
    hidden: int = 32,
    model: Literal["srnn", "dmm"] = "srnn",
    batch_size: int = 8,
    max_pieces: int = 0,
    split_seed: int = 0,
    max_eval_windows: int = 0,
    eval_every: int = 10,
    patience: int = 5,
    methods: list[str] = ["vae", "iwae", "fivo", "pvmc"],  # noqa: B006
    frame_ql: float = 0.5,
    ttt_fraction: float = 0.95,
    devices: str = "one",
) -> list[dict[str, Any]]:
    """Bach chorales (music21's corpus) as an 88-key binary piano roll in frames of ``frame_ql``
    quarter lengths (0.5: eighth notes; 1.0: quarter notes, closer to JSB), cut
    into windows of ``T`` frames, split by piece with ``split_seed`` (the same split for every
    seed; :mod:`ssmbench.tasks.chorales`); ``max_pieces`` > 0 uses only the first chorales. The
    model (``srnn`` or ``dmm``, Bernoulli emission, :func:`init_piano_roll_model`) starts from the
    same initialisation (by ``seed``) for every method. The common evaluator is a bootstrap SMC
    with ``eval_particles`` particles under the learned model (fixed key): early stopping on the
    validation windows, curves on the test windows (at most ``max_eval_windows`` of each, a
    subset fixed by ``split_seed``, when > 0). Metrics: ``heldout_nll`` = -(evaluator on *all*
    test windows), the held-out negative log-likelihood bound per frame (nats; an upper bound on
    the NLL up to Monte Carlo error), ``heldout_bound`` (the method's own bound, N particles),
    ``independent_keys_nll`` (the starting point's baseline), data-set sizes (``data_*``),
    timings. Not comparable to the published JSB numbers (docs/trainers.md)."""
    methods = check_methods(methods)
    task = chorale_task(T, split_seed=split_seed, max_pieces=max_pieces or None, frame_ql=frame_ql)
    k_model, k_fit, k_eval, k_ref, _ = jax.random.split(jax.random.PRNGKey(seed), 5)
    y_test_all = jnp.asarray(task.y_test, DTYPE)
    fit_task = _eval_subset(task, max_eval_windows, split_seed)
    y_val_fit = jnp.asarray(fit_task.y_val, DTYPE)

    # the validation, test and all-test sets share one compiled filter (chunks of the subset size)
    evaluator = smc_evaluator(k_ref, eval_particles, chunk=max_eval_windows or None)

    def metrics(method, params, lz, d):
        return {"heldout_nll": -float(evaluator(params[0], y_test_all)),
                "heldout_bound": float(jnp.mean(lz)) / T}  # fmt: skip

    model0 = init_piano_roll_model(k_model, jnp.asarray(task.y_train, DTYPE), kind=model,
                                   state_dim=state_dim, hidden=hidden)  # fmt: skip
    batch = min(batch_size, task.y_train.shape[0])
    extra = task_extra("chorales")
    c = Comparison(
        fit_task, model0, k_fit, N, hidden, train_config(steps, lr, eval_every, patience, batch, devices),
        evaluator, extra, eval_key=k_eval, y_eval=y_test_all, metrics=metrics,
        warm_on=(y_val_fit,), ttt_fraction=ttt_fraction,
    )  # fmt: skip
    # paired on the bound (higher is better), as for the other tasks: pvmc - fivo = fivo_nll - pvmc_nll
    return compare_methods(methods, c, paired="heldout_nll", sign=-1.0,
                           paired_of="heldout_bound_smc", rows0=_data_rows(task, extra))  # fmt: skip
