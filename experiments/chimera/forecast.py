"""One-step forecasting on the synthetic series: Chimera, its ablations and two baselines.

Methods (``method``):

- ``chimera``: :class:`ssmbench.models.ChimeraForecaster` (two heads, both variate directions);
- ``no_seasonal``: the same with only the small-step (trend) head;
- ``no_variate``: the same with every cross-variate term zeroed (each variate alone);
- ``mamba``: the zoo's ``Deep`` Mamba on each variate separately (shared weights);
- ``var``: least-squares VAR(p) with an intercept, p chosen on the validation segment.

Every neural method trains the same number of Adam steps with the same warmup-cosine schedule,
clipping, batch size and windows (random windows of the training segment), in float32; the
loss is the mean squared one-step error over every position of a window. Test MSE is over the
test segment's one-step predictions, each made from the whole series before it.

``coef_err`` (``var1`` data only): ``‖Φ̂ − Φ_std‖_F / ‖Φ_std‖_F``, where Φ̂ is the VAR's
lag-1 matrix, or for the neural models the Jacobian ``∂ŷ[t] / ∂x[t]`` averaged over four test
positions, each from the last ``jacobian_context`` steps up to t (a linear response; exact
only for a linear predictor).
"""

from __future__ import annotations

import math
import time
from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

from ssmbench.models import ChimeraForecaster, Deep
from ssmbench.train import TrainConfig, train

from .data import chimera_series, splits

__all__ = ["METHODS", "SETTINGS", "fit_forecaster", "fit_var", "forecast_experiment"]

METHODS = ("chimera", "no_seasonal", "no_variate", "mamba", "var")

#: data settings: (kappa, seasonal, trend)
SETTINGS = {
    "seasonal-k0.3": (0.3, True, True),
    "plain-k0.3": (0.3, False, True),
    "seasonal-k0": (0.0, True, True),
    "var1-k0.3": (0.3, False, False),
}


def _var_design(x: np.ndarray, p: int, idx: np.ndarray) -> np.ndarray:
    """Rows ``[x[t], x[t−1], ..., x[t−p+1], 1]`` for t in ``idx`` (zeros before the start)."""
    T, V = x.shape
    pad = np.vstack([np.zeros((p, V)), x])
    lags = [pad[idx + p - k] for k in range(p)]
    return np.hstack(lags + [np.ones((len(idx), 1))])


def fit_var(x: np.ndarray, n_tr: int, n_va: int, lags: list[int]) -> dict[str, Any]:
    """Least-squares VAR(p) for each p in ``lags`` on the training segment; the p with the
    lowest validation MSE is kept. Returns its test MSE, p and lag-1 matrix."""
    T, V = x.shape
    tr, va, te = np.arange(0, n_tr - 1), np.arange(n_tr - 1, n_va - 1), np.arange(n_va - 1, T - 1)
    best: dict[str, Any] = {"val": math.inf}
    for p in lags:
        X = _var_design(x, p, tr[p - 1 :])
        coef, *_ = np.linalg.lstsq(X, x[tr[p - 1 :] + 1], rcond=None)
        val = float(np.mean((_var_design(x, p, va) @ coef - x[va + 1]) ** 2))
        if val < best["val"]:
            test = float(np.mean((_var_design(x, p, te) @ coef - x[te + 1]) ** 2))
            best = {"val": val, "mse": test, "p": p, "Phi1": coef[:V].T}
    return best


def _build(method: str, V: int, d_model: int, d_state: int, depth: int, key) -> eqx.Module:
    if method == "mamba":
        return Deep("mamba", 1, d_model, 1, depth=depth, key=key)
    kw = {"no_seasonal": {"heads": 1}, "no_variate": {"variate": False}}.get(method, {})
    return ChimeraForecaster(V, d_model, d_state, depth, key=key, **kw)


def _predict(model: eqx.Module, x: jax.Array) -> jax.Array:
    """(T, V) -> one-step predictions (T, V)."""
    if isinstance(model, Deep):  # per variate, shared weights
        return jax.vmap(lambda s: model(s[:, None])[:, 0], in_axes=1, out_axes=1)(x)
    return model(x)


_predict_jit = eqx.filter_jit(_predict)


@eqx.filter_jit
def _jacobian(model: eqx.Module, x: jax.Array, t: jax.Array) -> jax.Array:
    """``∂ŷ[t] / ∂x[t]`` (V, V) of the one-step prediction at time t."""
    return jax.jacrev(lambda z: _predict(model, z)[t])(x)[:, t]


def fit_forecaster(
    method: str,
    x: np.ndarray,
    n_tr: int,
    *,
    seed: int,
    d_model: int,
    d_state: int,
    depth: int,
    window: int,
    batch_size: int,
    steps: int,
    learning_rate: float,
    grad_clip: float,
):
    """Train one neural method on the training segment of ``x`` (T, V); ``(model, result)``."""
    T, V = x.shape
    k_model, k_train = jax.random.split(jax.random.PRNGKey(seed), 2)
    model = _build(method, V, d_model, d_state, depth, k_model)
    xs = jnp.asarray(x, jnp.float32)
    windows = jnp.stack([xs[s : s + window + 1] for s in range(n_tr - window)])  # (N, W + 1, V)

    def loss_fn(m, key, batch):
        pred = jax.vmap(lambda w: _predict(m, w[:-1]))(batch)
        return jnp.mean((pred - batch[:, 1:]) ** 2), {}

    config = TrainConfig(
        steps=steps, learning_rate=learning_rate, batch_size=batch_size, patience=None,
        eval_every=max(steps, 1), schedule="warmup_cosine", warmup_steps=min(100, steps),
        final_lr_fraction=0.01, grad_clip=grad_clip,
    )  # fmt: skip
    # one compiled step per method and sizes in a process (cells differ in data and seed)
    cache = ("chimera-forecast", method, V, window, d_model, d_state, depth)
    res = train(loss_fn, model, windows, key=k_train, config=config, cache_key=cache)
    return res.final_params, res


def forecast_experiment(
    *,
    seed: int,
    quick: bool = False,
    method: str = "chimera",
    setting: str = "seasonal-k0.3",
    V: int = 8,
    T: int = 1024,
    period: int = 24,
    season_amp: float = 3.0,
    d_model: int = 8,
    d_state: int = 4,
    depth: int = 1,
    window: int = 96,
    batch_size: int = 8,
    steps: int = 1000,
    learning_rate: float = 3e-3,
    grad_clip: float = 1.0,
    var_lags: list[int] = [1, 2, 3, 6, 12, 24, 25],  # noqa: B006 - suite-file default
    jacobian_context: int = 256,
) -> list[dict[str, Any]]:
    """One method on one series (module docstring)."""
    if method not in METHODS:
        raise ValueError(f"method must be one of {METHODS}, got {method!r}")
    if setting not in SETTINGS:
        raise ValueError(f"setting must be one of {sorted(SETTINGS)}, got {setting!r}")
    t_cell = time.perf_counter()
    kappa, seasonal, trend = SETTINGS[setting]
    data = chimera_series(
        seed, V=V, T=T, kappa=kappa, seasonal=seasonal, trend=trend, period=period,
        season_amp=season_amp,
    )  # fmt: skip
    n_tr, n_va = splits(T)
    x = data.x
    values: dict[str, float] = {}
    phi_hat = None
    if method == "var":
        fit = fit_var(x, n_tr, n_va, var_lags)
        values.update(mse=fit["mse"], var_p=fit["p"])
        phi_hat = fit["Phi1"]
    else:
        model, res = fit_forecaster(
            method, x, n_tr, seed=seed, d_model=d_model, d_state=d_state, depth=depth,
            window=window, batch_size=batch_size, steps=steps, learning_rate=learning_rate,
            grad_clip=grad_clip,
        )  # fmt: skip
        xs = jnp.asarray(x, jnp.float32)
        pred = np.asarray(_predict_jit(model, xs), np.float64)
        te = np.arange(n_va - 1, T - 1)
        values.update(
            mse=float(np.mean((pred[te] - x[te + 1]) ** 2)),
            train_s=res.train_wall_s,
            compile_s=res.compile_s,
            time_per_step=res.median_step_s,
            final_loss=float(np.mean([r["loss"] for r in res.log[-50:]])) if res.log else math.nan,
            train_diverged=float(res.diverged),
        )
        if setting.startswith("var1") and not res.diverged:
            # the last jacobian_context steps up to t (one compiled program for all t)
            c = jacobian_context
            ts = np.linspace(n_va, T - 2, 4).astype(int)
            jac = [_jacobian(model, xs[t - c + 1 : t + 1], jnp.asarray(c - 1)) for t in ts]
            phi_hat = np.mean([np.asarray(j) for j in jac], 0)
    if phi_hat is not None and setting.startswith("var1"):
        err = np.linalg.norm(phi_hat - data.Phi_std) / np.linalg.norm(data.Phi_std)
        values["coef_err"] = float(err)
    values["wall_s"] = time.perf_counter() - t_cell
    return [{"metric": k, "value": float(v)} for k, v in values.items()]
