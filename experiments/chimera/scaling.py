"""Time per Chimera training step against the sequence length T and the number of variates V.

One :class:`ssmbench.models.ChimeraForecaster` (the forecasting cells' sizes) takes
``repeats + 1`` Adam steps through :func:`ssmbench.train.train` on random data of shape
(batch, T, V); the row holds the median step time (the first step, a warm-up, excluded) and the
compile time, in float32, for the scan ``method`` (default: what ``"auto"`` picks), in the
columns ``length`` (T) and ``variates`` (V).
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp

from ssmbench.models import ChimeraForecaster
from ssmbench.train import TrainConfig, train

__all__ = ["scaling_experiment"]

AXES = ("T", "V")


def scaling_experiment(
    *,
    seed: int,
    quick: bool = False,
    axis: str = "T",
    seq_lens: list[int] = [256, 512, 1024, 2048, 4096, 8192],  # noqa: B006 - suite default
    n_variates: list[int] = [4, 8, 16, 32, 64],  # noqa: B006
    T: int = 256,
    V: int = 8,
    d_model: int = 8,
    d_state: int = 4,
    depth: int = 1,
    batch_size: int = 1,
    repeats: int = 5,
    method: str = "auto",
) -> list[dict[str, Any]]:
    """Median training-step time at every value of ``axis`` ("T" or "V"), the other fixed."""
    if axis not in AXES:
        raise ValueError(f"axis must be one of {AXES}, got {axis!r}")
    values = seq_lens if axis == "T" else n_variates
    if not values or any(isinstance(v, bool) or not isinstance(v, int) or v < 2 for v in values):
        raise ValueError(f"the {axis} values must be integers >= 2, got {values!r}")
    rows: list[dict[str, Any]] = []
    for i, val in enumerate(values):
        t_len, v_num = (val, V) if axis == "T" else (T, val)
        k_x, k_m, k_t = jax.random.split(jax.random.fold_in(jax.random.PRNGKey(seed), i), 3)
        x = jax.random.normal(k_x, (batch_size, t_len + 1, v_num), jnp.float32)
        model = ChimeraForecaster(v_num, d_model, d_state, depth, key=k_m, method=method)

        def loss_fn(m, key, batch):
            pred = jax.vmap(lambda w: m(w[:-1]))(batch)
            return jnp.mean((pred - batch[:, 1:]) ** 2), {}

        config = TrainConfig(steps=repeats + 1, patience=None, eval_every=repeats + 1)
        res = train(loss_fn, model, x, key=k_t, config=config)
        for name, value in (("time_per_step", res.median_step_s), ("compile_s", res.compile_s)):
            rows.append({"metric": name, "value": float(value), "length": t_len, "variates": v_num})
    return rows
