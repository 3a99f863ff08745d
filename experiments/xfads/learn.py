"""XFADS vs its diagonal ablation vs a DKF on van der Pol and a Poisson spiral (``suites/xfads.toml``).

Every method trains the same generative model (:class:`~ssmbench.prob.xfads.XfadsSSM`, the same
initialisation) through :func:`ssmbench.train.train` with the same optimiser, schedule, clipping,
batch, step cap and early-stopping rule; only the inference network and objective differ:

- ``xfads``: the low-rank XFADS filter (:func:`~ssmbench.prob.xfads.make_xfads_loss`);
- ``xfads-diag``: the same with diagonal covariances (the ablation of the low-rank structure);
- ``dkf``: the ELBO with a backward-GRU structured posterior q(z_t | z_{t-1}, y_{t:T})
  (``vae`` of :mod:`ssmbench.prob.methods`, a DKF/DMM-style VAE).

The encoders have the same hidden width and start at the prior (:func:`start_at_prior`), and the Monte Carlo sample count ``num_samples`` is the
XFADS predict-step S and the DKF's number of ELBO trajectories.

Metrics (held-out trials): ``forecast_r2`` (encode the first ``context`` bins, run the learned
dynamics ahead, R^2 of the forecast linear predictor ``C z + d`` against the true noiseless one,
pooled over neurons and bins after removing each neuron's mean); ``elbo`` (the method's own
objective per bin); ``heldout_ll`` and, on Poisson data, ``bits_per_spike`` = (NLL_null - NLL) /
(sum y ln 2) with NLL from a bootstrap particle filter with ``eval_particles`` particles under
the learned model (a common evaluator, biased low in expectation for every method alike) and the
null a per-neuron constant rate fitted to the training trials; ``wall_s``, ``steps``,
``diverged``. Early stopping uses the validation forecast R^2, a method-agnostic score.
"""

from __future__ import annotations

import math
import time
from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jax.scipy.special import gammaln

from ssmbench.prob.bounds import sample_trajectories
from ssmbench.prob.methods import make_loss, make_proposal, smc_eval_per_step
from ssmbench.prob.xfads import (
    XfadsEncoder,
    XfadsSSM,
    make_xfads_loss,
    mean_path_ahead,
    xfads_bound,
    xfads_forecast,
)
from ssmbench.tasks.neural_latents import poisson_spiral_trials, van_der_pol_trials
from ssmbench.train import TrainConfig, train

__all__ = ["latent_experiment", "METHODS", "forecast_eta", "start_at_prior"]

METHODS = ("xfads", "xfads-diag", "dkf")
DTYPE = jnp.float32


def _task(task: str, key, n: int, T: int):
    """The trials of ``task`` ('vdp' or 'poisson') and its emission."""
    if task == "vdp":
        return jax.jit(van_der_pol_trials, static_argnums=(1, 2))(key, n, T), "gaussian"
    if task == "poisson":
        return jax.jit(poisson_spiral_trials, static_argnums=(1, 2))(key, n, T), "poisson"
    raise ValueError(f"task must be 'vdp' or 'poisson', got {task!r}")


def forecast_eta(method: str, key, model: XfadsSSM, net, y_ctx, horizon: int, num_samples: int,
                 num_paths: int = 64):  # fmt: skip
    """The forecast linear predictor ``C E[z_t] + d`` for ``horizon`` bins after ``y_ctx``."""
    if method == "dkf":
        k1, k2 = jax.random.split(key)
        z = sample_trajectories(k1, model, net, y_ctx, num_paths)[:, -1]
        ahead = mean_path_ahead(k2, model, z, horizon)
    else:
        structure = "diagonal" if method == "xfads-diag" else "lowrank"
        _, ahead = xfads_forecast(key, model, net, y_ctx, horizon, num_samples, num_paths,
                                  structure=structure)  # fmt: skip
    return ahead @ model.C.T + model.d[None, :]


def start_at_prior(method: str, net, model: XfadsSSM):
    """The inference network with its output layer set so that its posterior starts at the prior:
    XFADS's pseudo-observations are zero (k = K = 0), and the DKF's residual proposal is the prior
    transition mean with the prior's transition sd. The same rule for every method. (With the
    default initialisation the DKF's proposal drifts by its per-step offsets to |z| ~ 80 over 100
    bins, and the Poisson rates overflow float32 at step 0: the first full run, results/xfads.)"""
    if method == "dkf":
        last = net.mlp.layers[-1]
        L = model.state_dim
        sd = float(jnp.exp(0.5 * model.log_q[0]))
        raw = math.log(math.expm1(sd - net.min_scale))  # softplus(raw) + min_scale = sd
        bias = jnp.concatenate([jnp.zeros(L, last.bias.dtype), jnp.full(L, raw, last.bias.dtype)])
        net = eqx.tree_at(lambda n: n.mlp.layers[-1].weight, net, jnp.zeros_like(last.weight))
        return eqx.tree_at(lambda n: n.mlp.layers[-1].bias, net, bias)
    zero = lambda a: jnp.zeros_like(a)  # noqa: E731
    net = eqx.tree_at(lambda n: (n.local.layers[-1].weight, n.local.layers[-1].bias), net,
                      (zero(net.local.layers[-1].weight), zero(net.local.layers[-1].bias)))  # fmt: skip
    return eqx.tree_at(lambda n: (n.head.weight, n.head.bias), net, (zero(net.head.weight), zero(net.head.bias)))  # fmt: skip


def _r2(pred: np.ndarray, true: np.ndarray) -> float:
    """R^2 pooled over trials, bins and neurons, each neuron's mean removed from the truth."""
    mean = true.reshape(-1, true.shape[-1]).mean(0)
    return float(1.0 - np.sum((pred - true) ** 2) / np.sum((true - mean) ** 2))


@eqx.filter_jit
def _own_bound(method: str, key, params, y, num_samples: int):
    """The method's own objective per bin, mean over the trials of ``y``."""
    model, net = params
    keys = jax.random.split(key, y.shape[0])
    if method == "dkf":
        return -make_loss("vae", num_samples)(params, key, y)[0]
    structure = "diagonal" if method == "xfads-diag" else "lowrank"
    f = lambda k, yy: xfads_bound(k, model, net, yy, num_samples, structure=structure)[0]  # noqa: E731
    return jnp.mean(jax.vmap(f)(keys, y)) / y.shape[1]


def _poisson_nll(y: np.ndarray, rate: np.ndarray) -> float:
    """Total Poisson NLL of counts ``y`` under per-neuron rates ``rate``."""
    return float(np.sum(rate - y * np.log(rate) + gammaln(y + 1.0)))


def latent_experiment(
    *,
    seed: int,
    quick: bool = False,
    task: str = "vdp",
    T: int = 100,
    n_train: int = 200,
    n_val: int = 20,
    n_test: int = 50,
    context: int = 50,
    state_dim: int = 8,
    rank_local: int = 2,
    rank_backward: int = 2,
    num_samples: int = 5,
    hidden: int = 64,
    steps: int = 1500,
    lr: float = 3e-3,
    batch_size: int = 16,
    eval_every: int = 100,
    patience: int = 5,
    eval_particles: int = 1024,
    methods: list[str] = list(METHODS),  # noqa: B006 - suite-file default
) -> list[dict[str, Any]]:
    """Train each of ``methods`` on ``task`` and score it on held-out trials (module docstring)."""
    bad = [m for m in methods if m not in METHODS]
    if bad:
        raise ValueError(f"unknown method(s) {bad}; expected a subset of {METHODS}")
    if not 1 <= context < T:
        raise ValueError(f"context must be in [1, T - 1] = [1, {T - 1}], got {context}")
    k_data, k_model, k_net, k_train, k_eval = jax.random.split(jax.random.PRNGKey(seed), 5)
    trials, emission = _task(task, k_data, n_train + n_val + n_test, T)
    y = trials.y.astype(DTYPE)
    y_tr, y_va, y_te = y[:n_train], y[n_train : n_train + n_val], y[n_train + n_val :]
    eta_va, eta_te = trials.eta[n_train : n_train + n_val], trials.eta[n_train + n_val :]
    dy = y.shape[-1]
    model0 = XfadsSSM(state_dim, dy, hidden, key=k_model, emission=emission, dtype=DTYPE)
    config = TrainConfig(steps=steps, learning_rate=lr, schedule="warmup_cosine",
                         warmup_steps=max(1, steps // 20), final_lr_fraction=0.1, grad_clip=10.0,
                         batch_size=min(batch_size, n_train), eval_every=eval_every,
                         patience=patience)  # fmt: skip
    horizon = T - context
    rows: list[dict[str, Any]] = []
    for method in methods:
        if method == "dkf":
            net = make_proposal("vae", state_dim, dy, hidden, key=k_net, dtype=DTYPE)
            loss = make_loss("vae", num_samples)
        else:
            net = XfadsEncoder(
                state_dim, dy, rank_local, rank_backward, hidden, key=k_net, dtype=DTYPE
            )
            loss = make_xfads_loss(
                num_samples, structure="diagonal" if method == "xfads-diag" else "lowrank"
            )

        net = start_at_prior(method, net, model0)

        @eqx.filter_jit
        def forecast_all(params, key, y_ctx, method=method):
            keys = jax.random.split(key, y_ctx.shape[0])

            def f(k, yy):
                return forecast_eta(method, k, params[0], params[1], yy, horizon, num_samples)

            return jax.vmap(f)(keys, y_ctx)

        def eval_fn(params, key):
            pred = forecast_all(params, k_eval, y_va[:, :context])
            return {"val": _r2(np.asarray(pred), np.asarray(eta_va[:, context:]))}

        t0 = time.perf_counter()
        res = train(loss, (model0, net), y_tr, key=k_train, config=config, eval_fn=eval_fn)
        wall = time.perf_counter() - t0
        params = res.params
        pred = forecast_all(params, k_eval, y_te[:, :context])
        r2 = _r2(np.asarray(pred), np.asarray(eta_te[:, context:]))
        elbo = float(_own_bound(method, k_eval, params, y_te, num_samples))
        ll = float(smc_eval_per_step(params[0], k_eval, y_te, eval_particles, chunk=10))
        vals = {"forecast_r2": r2, "elbo": elbo if not res.diverged else math.nan, "heldout_ll": ll,
                "wall_s": wall, "train_wall_s": res.train_wall_s, "time_per_step": res.median_step_s,
                "steps": float(res.steps_done), "diverged": float(res.diverged),
                "best_val_r2": float(res.best_val if res.best_val is not None else math.nan)}  # fmt: skip
        if emission == "poisson":
            yt = np.asarray(y_te)
            rate0 = np.maximum(np.asarray(y_tr).mean((0, 1)), 1e-6)[None, None, :]
            nll_null = _poisson_nll(yt, np.broadcast_to(rate0, yt.shape))
            vals["bits_per_spike"] = (nll_null + ll * yt.shape[0] * T) / (yt.sum() * math.log(2))
        for name, v in vals.items():
            rows.append({"metric": name, "value": float(v), "method": method})
        for e in res.evals:
            rows.append({"metric": "curve_val_r2", "value": float(e["val"]), "method": method,
                         "step": int(e["step"]), "train_s": float(e["wall_s"])})  # fmt: skip
        if method == methods[0]:
            for t in range(horizon):
                for j in range(min(3, dy)):
                    rows.append({"metric": "forecast_example_true", "value": float(eta_te[0, context + t, j]),
                                 "method": "truth", "step": context + t, "neuron": j})  # fmt: skip
        ex = np.asarray(pred[0])
        for t in range(horizon):
            for j in range(min(3, dy)):
                rows.append({"metric": "forecast_example", "value": float(ex[t, j]), "method": method,
                             "step": context + t, "neuron": j})  # fmt: skip
    return rows
