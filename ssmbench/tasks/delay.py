"""Delay (copy-with-lag) task and a small learning-sanity experiment for the model zoo.

``delay_task`` draws white-noise inputs and targets ``y_t = x_{t−lag}`` (zero for t < lag).
A model that predicts zeros scores ``E[y²]``; a model that learned the delay scores ≈ 0.
"""

from __future__ import annotations

import time

import equinox as eqx
import jax
import jax.numpy as jnp
import optax
from jaxtyping import Array, Float, PRNGKeyArray

__all__ = ["delay_learning", "delay_task"]


def delay_task(
    key: PRNGKeyArray, n: int, length: int, lag: int, *, dtype=jnp.float32
) -> tuple[Float[Array, "n length 1"], Float[Array, "n length 1"]]:
    """``n`` sequences of N(0, 1) inputs x (n, length, 1) and delayed targets y (same shape)."""
    if not 0 <= lag < length:
        raise ValueError(f"need 0 <= lag < length, got lag={lag}, length={length}")
    x = jax.random.normal(key, (n, length, 1), dtype)
    y = jnp.concatenate([jnp.zeros((n, lag, 1), dtype), x[:, : length - lag]], axis=1)
    return x, y


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
    time_budget_s: float = 60.0,
    layer_kwargs: dict | None = None,
) -> dict[str, float]:
    """Train ``Deep(model)`` with Adam on the delay task; report the error vs the zero predictor.

    Returns ``mse`` (test MSE over t >= lag), ``zero_mse`` (the zero predictor's),
    ``ratio = mse / zero_mse`` (the sanity criterion is ratio < 0.5), ``steps`` actually run
    ``seconds`` (training wall time) and ``cpu_seconds`` (process CPU time, all threads,
    compile included). Training stops early when ``time_budget_s`` of process CPU time is
    spent (a CPU budget is robust to a shared, loaded machine). ``quick`` quarters the steps.
    ``layer_kwargs`` go to every layer's constructor, e.g. ``{"complex_A": True}`` for Mamba.
    """
    from ..models import Deep

    key = jax.random.PRNGKey(seed)
    k_model, k_data, k_test = jax.random.split(key, 3)
    net = Deep(model, 1, d_model, 1, depth=depth, layer_kwargs=layer_kwargs, key=k_model)
    net = jax.tree_util.tree_map(
        lambda a: a.astype(jnp.float32) if eqx.is_inexact_array(a) else a, net
    )
    opt = optax.adam(lr)
    state = opt.init(eqx.filter(net, eqx.is_inexact_array))

    def loss_fn(net, x, y):
        pred = jax.vmap(net)(x)
        return jnp.mean((pred[:, lag:] - y[:, lag:]) ** 2)

    @eqx.filter_jit
    def step(net, state, k):
        x, y = delay_task(k, batch, length, lag)
        loss, g = eqx.filter_value_and_grad(loss_fn)(net, x, y)
        upd, state = opt.update(g, state, eqx.filter(net, eqx.is_inexact_array))
        return eqx.apply_updates(net, upd), state, loss

    n_steps = max(1, steps // 4) if quick else steps
    t0, c0 = time.perf_counter(), time.process_time()
    done = 0
    for k in jax.random.split(k_data, n_steps):
        net, state, loss = step(net, state, k)
        done += 1
        loss.block_until_ready()
        if time.process_time() - c0 > time_budget_s:
            break
    seconds, cpu = time.perf_counter() - t0, time.process_time() - c0
    xt, yt = delay_task(k_test, 256, length, lag)
    mse = float(eqx.filter_jit(loss_fn)(net, xt, yt))
    zero = float(jnp.mean(yt[:, lag:] ** 2))
    return {
        "mse": mse,
        "zero_mse": zero,
        "ratio": mse / zero,
        "steps": float(done),
        "seconds": seconds,
        "cpu_seconds": cpu,
    }
