"""The zoo's learning sanity check: every layer of :data:`ssmbench.models.LAYERS` on the delay task.

:func:`delay_learning` trains ``Deep(model)`` (the zoo's residual block stack) with Adam on
:func:`ssmbench.tasks.delay.delay_task`, a fresh batch per step drawn inside the jitted step of
:func:`ssmbench.train.train`, and reports the test error against the zero predictor.
"""

from __future__ import annotations

import time

import equinox as eqx
import jax
import jax.numpy as jnp

from ssmbench.models import Deep
from ssmbench.tasks.delay import delay_task
from ssmbench.train import TrainConfig, train

__all__ = ["delay_learning"]


def delay_learning(
    *,
    seed: int,
    quick: bool = False,
    model: str = "s4d",
    lag: int = 16,
    length: int = 64,
    d_model: int = 32,
    depth: int = 2,
    steps: int = 600,
    batch: int = 32,
    lr: float = 3e-3,
    time_budget_s: float | None = 60.0,
    layer_kwargs: dict | None = None,
    complex_A: bool | None = None,
    schedule: str = "constant",
    warmup_steps: int = 0,
    grad_clip: float | None = None,
    final_lr_fraction: float = 0.0,
    curve_every: int = 0,
) -> dict[str, float] | list[dict]:
    """Train ``Deep(model)`` with Adam on the delay task; report the error vs the zero predictor.

    Returns ``mse`` (test MSE over t >= lag), ``zero_mse`` (the zero predictor's),
    ``ratio = mse / zero_mse`` (the sanity criterion is ratio < 0.5), ``steps`` actually run,
    ``compile_s``, ``median_step_s``, ``diverged`` (0 or 1), ``seconds`` (wall time of compile,
    training and any curve evaluations) and ``cpu_seconds`` (process CPU time, all
    threads, compile included). Training stops early when the training steps have spent
    ``time_budget_s`` of process CPU time (``TrainConfig.max_cpu_s``; compile excluded), a
    machine-dependent budget. ``quick`` quarters the steps. ``layer_kwargs`` go to every layer's
    constructor, e.g. ``{"complex_A": True}`` for Mamba. ``schedule``, ``warmup_steps`` and
    ``grad_clip`` go to :class:`~ssmbench.train.TrainConfig` (the defaults, a constant rate and no
    clipping, are the protocol of the committed runs). With ``time_budget_s = None`` every layer
    gets the same step budget. ``complex_A`` (Mamba only; None: the layer's default) is
    ``layer_kwargs["complex_A"]`` as a plain parameter that a suite's checks can select on.

    ``curve_every > 0`` also returns the learning curve: the test ratio of the current parameters
    every ``curve_every`` steps (and at step 0 and at the end), as rows of metric ``curve_ratio``
    with a ``step`` column. The curve is monitoring only: the reported ``ratio`` is always that of
    the final parameters (no selection on the test set).
    """
    if complex_A is not None:
        if model != "mamba":
            raise ValueError(f"complex_A applies to model 'mamba' only, got model={model!r}")
        layer_kwargs = {**(layer_kwargs or {}), "complex_A": complex_A}
    key = jax.random.PRNGKey(seed)
    k_model, k_data, k_test = jax.random.split(key, 3)
    net = Deep(model, 1, d_model, 1, depth=depth, layer_kwargs=layer_kwargs, key=k_model)
    net = jax.tree_util.tree_map(
        lambda a: a.astype(jnp.float32) if eqx.is_inexact_array(a) else a, net
    )

    def mse(net, x, y):
        pred = jax.vmap(net)(x)
        return jnp.mean((pred[:, lag:] - y[:, lag:]) ** 2)

    def loss_fn(net, _key, xy):
        return mse(net, *xy), {}

    n_steps = max(1, steps // 4) if quick else steps
    config = TrainConfig(
        steps=n_steps,
        learning_rate=lr,
        optimizer="adam",
        grad_clip=grad_clip,
        max_cpu_s=time_budget_s,
        schedule=schedule,
        warmup_steps=min(warmup_steps, n_steps),
        final_lr_fraction=final_lr_fraction,
        eval_every=max(1, curve_every),
        patience=None,
    )
    xt, yt = delay_task(k_test, 256, length, lag)
    zero = float(jnp.mean(yt[:, lag:] ** 2))
    test_mse = eqx.filter_jit(mse)

    def curve(params, _key):
        return {"val": -test_mse(params, xt, yt) / zero}

    t0, c0 = time.perf_counter(), time.process_time()
    res = train(
        loss_fn,
        net,
        lambda k: delay_task(k, batch, length, lag),
        key=k_data,
        config=config,
        step_keys=jax.random.split(k_data, n_steps),
        eval_fn=curve if curve_every > 0 else None,
    )
    seconds, cpu = time.perf_counter() - t0, time.process_time() - c0
    test = float(test_mse(res.final_params, xt, yt))
    out = {
        "mse": test,
        "zero_mse": zero,
        "ratio": test / zero,
        "steps": float(res.steps_done),
        "seconds": seconds,
        "cpu_seconds": cpu,
        "compile_s": res.compile_s,
        "median_step_s": res.median_step_s,
        "diverged": float(res.diverged),
    }
    if curve_every <= 0:
        return out
    rows = [{"metric": k, "value": v} for k, v in out.items()]
    rows += [{"metric": "curve_ratio", "value": -e["val"], "step": e["step"]} for e in res.evals]
    return rows
