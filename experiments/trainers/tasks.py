"""The trainer experiments on simulated data: LGSSM, stochastic volatility, Lotka-Volterra.

Each describes its task, initial model, common evaluator and per-method metrics as a
:class:`~experiments.trainers.driver.Comparison`; :func:`~experiments.trainers.driver.compare_methods`
trains the methods and gives the rows. Each takes ``devices`` (``"one"``, the default, or
``"all"``: data-parallel training over every device, :class:`ssmbench.train.TrainConfig`), so a
suite can say ``params = { devices = "all" }``.
"""

from __future__ import annotations

import math
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from ssmbench.prob import (
    LGSSM,
    NeuralLotkaVolterra,
    PaperNeuralLotkaVolterra,
    StochasticVolatility,
    build_ssm,
)
from ssmbench.prob.methods import exact_ll_per_step, rts_means
from ssmbench.tasks.ssm_data import (
    lgssm_task,
    lotka_volterra_paper_task,
    lotka_volterra_task,
    stochastic_volatility_task,
)

from .driver import (
    DTYPE,
    Comparison,
    check_methods,
    compare_methods,
    smc_evaluator,
    task_extra,
    train_config,
)

__all__ = ["init_lgssm", "true_lgssm", "lgssm_experiment", "sv_experiment", "lv_experiment"]


def init_lgssm(key: jax.Array, state_dim: int, obs_dim: int) -> LGSSM:
    """The common initialisation of the learned LGSSM: A = 0.5 I, C ~ N(0, 1/d_x), unit noises."""
    dx, dy = state_dim, obs_dim
    C = jax.random.normal(key, (dy, dx), DTYPE) / math.sqrt(dx)
    eye = lambda d: jnp.eye(d, dtype=DTYPE)  # noqa: E731
    zeros = lambda d: jnp.zeros(d, DTYPE)  # noqa: E731
    return LGSSM(zeros(dx), eye(dx), 0.5 * eye(dx), zeros(dx), eye(dx), C, zeros(dy), eye(dy))


def true_lgssm(params: dict[str, np.ndarray]) -> LGSSM:
    """The LGSSM of the task's true parameters (float32)."""
    f = lambda k: jnp.asarray(params[k], DTYPE)  # noqa: E731
    return LGSSM.from_covariances(f("m0"), f("P0"), f("A"), f("Q"), f("C"), f("R"))


def lgssm_experiment(
    *,
    seed: int,
    quick: bool = False,
    T: int = 100,
    N: int = 16,
    steps: int = 300,
    lr: float = 2e-2,
    hidden: int = 32,
    n_train: int = 16,
    batch_size: int = 4,
    n_val: int = 4,
    n_test: int = 8,
    eval_every: int = 20,
    patience: int = 5,
    methods: list[str] = ["vae", "iwae", "fivo", "pvmc"],  # noqa: B006 - suite-file default
    ttt_fraction: float = 0.95,
    devices: str = "one",
) -> list[dict[str, Any]]:
    """LGSSM with unknown parameters: every method learns (A, b, Q, C, d, R, m0, P0) from the same
    initialisation; early stopping on the exact validation log p(y). Rows per method:
    ``heldout_ll`` (exact log p(y_test) per step under the learned best-validation parameters),
    ``true_ll`` (the same under the true parameters), ``gap`` = true - learned (nats/step),
    ``heldout_bound`` (the method's own bound per step on the test set), ``smoothed_rmse`` (the
    method's state estimate vs the exact RTS means of the learned model), timings, the held-out
    curve (``curve_heldout`` vs ``wall_s``), time to target, and ``pvmc_minus_fivo``."""
    methods = check_methods(methods)
    task = lgssm_task(T, seed=seed, n_train=n_train, n_val=n_val, n_test=n_test)
    y_test = jnp.asarray(task.y_test, DTYPE)
    y_val = jnp.asarray(task.y_val, DTYPE)
    true_ll = float(exact_ll_per_step(true_lgssm(task.params), y_test))
    k_model, k_fit, k_eval = jax.random.split(jax.random.PRNGKey(seed), 3)
    model0 = init_lgssm(k_model, task.state_dim, task.obs_dim)

    def metrics(method, params, lz, d):
        model = params[0]
        ll = float(exact_ll_per_step(model, y_test))
        rmse = float(jnp.sqrt(jnp.mean((d["means"] - rts_means(model, y_test)) ** 2)))
        return {"heldout_ll": ll, "true_ll": true_ll, "gap": true_ll - ll,
                "heldout_bound": float(jnp.mean(lz)) / T, "smoothed_rmse": rmse}  # fmt: skip

    c = Comparison(
        task, model0, k_fit, N, hidden, train_config(steps, lr, eval_every, patience, min(batch_size, n_train), devices),
        exact_ll_per_step, task_extra("lgssm"), eval_key=k_eval, y_eval=y_test, smoothing=True,
        metrics=metrics,
        warm_on=(y_val,), warmup=(lambda: rts_means(model0, y_test),), ttt_fraction=ttt_fraction,
    )  # fmt: skip
    return compare_methods(methods, c, paired="heldout_ll")


def sv_experiment(
    *,
    seed: int,
    quick: bool = False,
    T: int = 500,
    N: int = 16,
    eval_particles: int = 1024,
    steps: int = 200,
    lr: float = 2e-2,
    hidden: int = 32,
    n_train: int = 16,
    batch_size: int = 4,
    n_val: int = 4,
    n_test: int = 8,
    eval_every: int = 20,
    patience: int = 5,
    methods: list[str] = ["vae", "iwae", "fivo", "pvmc"],  # noqa: B006
    ttt_fraction: float = 0.95,
    model: str = "sv",
    devices: str = "one",
) -> list[dict[str, Any]]:
    """Stochastic volatility: learn (mu, phi, sigma, beta) and a proposal. The common evaluator
    (early stopping on validation, the held-out metric on test) is a bootstrap particle filter
    with ``eval_particles`` particles under each learned model, per step, with a fixed key; the
    true parameters' value under the same evaluator is ``true_bound``.

    ``model``: ``"sv"`` (the StochasticVolatility class from mu, phi, sigma, beta = 0.5, 0.7,
    0.6, 1.0), or a dotted path ``"package.module:name"`` to a model of your own, built by
    :func:`ssmbench.prob.build_ssm` (bring your own model; the SV-specific rows ``phi`` and
    ``sigma`` are then left out)."""
    methods = check_methods(methods)
    task = stochastic_volatility_task(T, seed=seed, n_train=n_train, n_val=n_val, n_test=n_test)
    y_test = jnp.asarray(task.y_test, DTYPE)
    y_val = jnp.asarray(task.y_val, DTYPE)
    k_fit, k_eval, k_ref = jax.random.split(jax.random.PRNGKey(seed), 3)
    evaluator = smc_evaluator(k_ref, eval_particles)

    p = task.params
    true_bound = float(evaluator(StochasticVolatility(p["mu"], p["phi"], p["sigma"], p["beta"], dtype=DTYPE), y_test))  # fmt: skip
    if model == "sv":
        model0 = StochasticVolatility(0.5, 0.7, 0.6, 1.0, dtype=DTYPE)
    else:
        model0 = build_ssm(model, key=jax.random.fold_in(k_fit, 1), state_dim=task.state_dim,
                           obs_dim=task.obs_dim, dtype=DTYPE)  # fmt: skip

    def metrics(method, params, lz, d):
        m = params[0]
        out = {"heldout_smc": float(evaluator(m, y_test)), "true_bound": true_bound,
               "heldout_bound": float(jnp.mean(lz)) / T}  # fmt: skip
        if isinstance(m, StochasticVolatility):
            out.update(phi=float(jnp.tanh(m.phi_raw[0])), sigma=float(jnp.exp(m.log_sigma[0])))
        return out

    c = Comparison(
        task, model0, k_fit, N, hidden, train_config(steps, lr, eval_every, patience, min(batch_size, n_train), devices),
        evaluator, task_extra("sv"), eval_key=k_eval, y_eval=y_test, metrics=metrics,
        warm_on=(y_val, y_test), ttt_fraction=ttt_fraction,
    )  # fmt: skip
    return compare_methods(methods, c, paired="heldout_smc")


def lv_experiment(
    *,
    seed: int,
    quick: bool = False,
    T: int = 256,
    N: int = 16,
    eval_particles: int = 1024,
    steps: int = 200,
    lr: float = 5e-3,
    hidden: int = 32,
    n_train: int = 16,
    n_labelled: int = 8,
    batch_size: int = 4,
    n_val: int = 4,
    n_test: int = 8,
    supervised_weight: float = 1.0,
    eval_every: int = 20,
    patience: int = 5,
    methods: list[str] = ["vae", "iwae", "fivo", "pvmc"],  # noqa: B006
    ttt_fraction: float = 0.95,
    variant: str = "ours",
    devices: str = "one",
) -> list[dict[str, Any]]:
    """Lotka-Volterra, Poisson counts, learned MLP drift, semi-supervised: the loss is
    ``-bound/T + supervised_weight * MSE(state estimate, true states)`` with the true states of
    the first ``n_labelled`` training sequences. Metrics: ``test_state_mse`` (each method's own
    state estimate on the test set, N particles), ``heldout_smc`` (bootstrap SMC with
    ``eval_particles`` under the learned model, per step), ``heldout_bound``; the paired
    ``pvmc_minus_baseline`` is baseline MSE - PVMC MSE (positive: PVMC better).

    ``variant="ours"`` (task column ``lv``): our variant of the task, log-populations with
    Euler-Maruyama steps, counts Poisson(10 e^x) and a jittered start, learned by
    :class:`~ssmbench.prob.NeuralLotkaVolterra`; the states and ``test_state_mse`` are in
    log-population units. ``variant="paper"`` (task column ``lv-paper``): the PVMC paper's setting
    (:func:`~ssmbench.tasks.ssm_data.lotka_volterra_paper_task`: Milstein steps of the populations
    from (2, 5), counts Poisson(5 / (1 + e^{4 - (5 u_0, u_0 u_1)}))), learned by
    :class:`~ssmbench.prob.PaperNeuralLotkaVolterra` (learned drift and noise scale, the true
    observation law, the start N((2, 5), 0.05^2)); the states and ``test_state_mse`` are in
    population units (the paper uses ``T = 257``, 100/50/100 sequences)."""
    methods = check_methods(methods)
    if variant not in ("ours", "paper"):
        raise ValueError(f"variant must be 'ours' or 'paper', got {variant!r}")
    if not 0 <= n_labelled <= n_train:
        raise ValueError(f"n_labelled must be in [0, n_train={n_train}], got {n_labelled}")
    make_task = lotka_volterra_task if variant == "ours" else lotka_volterra_paper_task
    task = make_task(T, seed=seed, n_train=n_train, n_val=n_val, n_test=n_test)
    y_test = jnp.asarray(task.y_test, DTYPE)
    x_test = jnp.asarray(task.x_test, DTYPE)
    y_val = jnp.asarray(task.y_val, DTYPE)
    k_model, k_fit, k_eval, k_ref = jax.random.split(jax.random.PRNGKey(seed), 4)
    evaluator = smc_evaluator(k_ref, eval_particles)

    if variant == "ours":
        model0 = NeuralLotkaVolterra(hidden, key=k_model, dt=task.params["dt"],
                                     obs_scale=task.params["obs_scale"], dtype=DTYPE)  # fmt: skip
    else:
        model0 = PaperNeuralLotkaVolterra(hidden, key=k_model, dt=task.params["dt"],
                                          x0=task.params["u0"], dtype=DTYPE)  # fmt: skip

    def metrics(method, params, lz, d):
        return {"test_state_mse": float(jnp.mean((d["means"] - x_test) ** 2)),
                "heldout_smc": float(evaluator(params[0], y_test)),
                "heldout_bound": float(jnp.mean(lz)) / T}  # fmt: skip

    c = Comparison(
        task, model0, k_fit, N, hidden, train_config(steps, lr, eval_every, patience, min(batch_size, n_train), devices),
        evaluator, task_extra("lv" if variant == "ours" else "lv-paper"), supervised_weight=supervised_weight, n_labelled=n_labelled,
        eval_key=k_eval, y_eval=y_test, smoothing=True, metrics=metrics,
        warm_on=(y_val, y_test), ttt_fraction=ttt_fraction,
    )  # fmt: skip
    return compare_methods(methods, c, paired="test_state_mse", sign=-1.0)  # lower MSE is better
