"""VAE vs IWAE vs SMC (FIVO) vs PVMC, trained side by side (experiments of ``suites/trainers.toml``).

Every method trains the *same* generative model from the *same* initialisation with the same
optimiser, batch, particle count ``N``, step budget and early-stopping rule, through the one loop
of :mod:`ssmbench.train`; only the bound and the proposal family differ, all proposals having the
same hidden width:

========  ========================================  ===========================================
method    bound (ssmbench.prob.bounds)              proposal (ssmbench.prob.proposals)
========  ========================================  ===========================================
vae       ``elbo``, N samples averaged              ``SmoothingProposal`` (backward GRU, Resq)
iwae      ``iwae``, N trajectories                  ``SmoothingProposal``
fivo      ``smc``, N particles, systematic           ``FilteringProposal`` q(x_t | x_{t-1}, y_t)
          resampling at ESS < N/2, stopped
          resampling gradients (biased)
pvmc      ``pvmc``, N particles per t, N x N         ``ConvProposal`` (non-causal CNN, per-t
          potentials; sequential scan on CPU,       Gaussians q(x_t | y))
          associative scan on GPU/TPU
pvmc-tr   ``pvmc(truncated=True)``                  ``ConvProposal``
========  ========================================  ===========================================

Losses are ``-mean_b log Z-hat(y_b) / T`` (nats per time step). Wall times are training time only
(compile and evaluations excluded, ``block_until_ready`` every step).

Experiments (keyword-only, all randomness from ``seed``):

- :func:`lgssm_experiment`: LGSSM with unknown parameters (d_x = d_y = 5); exact held-out
  log p(y) per step under the learned vs the true parameters, smoothed-mean error against RTS,
  time per step and time to target.
- :func:`sv_experiment`: stochastic volatility, held-out bound by a common bootstrap SMC with
  N = 1024 particles under each learned model.
- :func:`lv_experiment`: Lotka-Volterra with Poisson counts and a learned MLP drift,
  semi-supervised (-bound + lambda * state MSE on the labelled half of the training sequences).
- :func:`chorales_experiment`: a Bernoulli-emission SRNN (or DMM) on music21's Bach chorales as an
  88-key binary piano roll in eighth-note frames (:mod:`ssmbench.tasks.chorales`); held-out NLL
  per frame by a common bootstrap SMC with N = 1024. Needs the optional ``music21``.
- :func:`speed_experiment`: FIVO vs PVMC on the LGSSM at a given (T, N): time per step of each
  (and of both PVMC paths), and time to target within a fixed step budget; ratios FIVO / PVMC.
"""

from __future__ import annotations

import math
import os
import sys
from collections.abc import Callable
from typing import Any, Literal

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

from .prob import (
    LGSSM,
    SRNN,
    SSM,
    BootstrapProposal,
    ConvProposal,
    DeepMarkovModel,
    FilteringProposal,
    LotkaVolterra,
    SmoothingProposal,
    StochasticVolatility,
    elbo,
    iwae,
    kalman_filter,
    pvmc,
    rts_smoother,
    smc,
)
from .tasks.chorales import PianoRollTask, chorale_task
from .tasks.ssm_data import (
    SequenceTask,
    lgssm_task,
    lotka_volterra_task,
    stochastic_volatility_task,
)
from .train import TrainConfig, TrainResult, compile_step, time_to_target, train

__all__ = [
    "METHODS",
    "pvmc_path",
    "make_proposal",
    "method_bound",
    "make_loss",
    "NeuralLotkaVolterra",
    "lgssm_experiment",
    "sv_experiment",
    "lv_experiment",
    "chorales_experiment",
    "speed_experiment",
    "plot_curves",
    "comparison_table",
]

METHODS = ("vae", "iwae", "fivo", "pvmc", "pvmc-truncated")
_DTYPE = jnp.float32


def pvmc_path(backend: str | None = None) -> Literal["sequential", "associative"]:
    """PVMC's log-semiring reduction for a backend: the parallel-in-time associative scan on
    accelerators (O(log T) depth, O(N^3 T) work), the O(N^2 T) sequential scan on CPU, where there
    is no parallelism to buy with the extra factor N of work (measured in ``speed_experiment``)."""
    backend = backend or jax.default_backend()
    return "sequential" if backend == "cpu" else "associative"


def make_proposal(method: str, state_dim: int, obs_dim: int, hidden: int, *, key: jax.Array):
    """The proposal family of ``method`` (same hidden width for every method)."""
    if method in ("vae", "iwae"):
        return SmoothingProposal(state_dim, obs_dim, hidden, key=key, dtype=_DTYPE)
    if method == "fivo":
        return FilteringProposal(state_dim, obs_dim, hidden, key=key, dtype=_DTYPE)
    if method in ("pvmc", "pvmc-truncated", "pvmc-seq", "pvmc-assoc"):
        return ConvProposal(state_dim, obs_dim, hidden, kernel_size=5, key=key, dtype=_DTYPE)
    raise ValueError(f"unknown method {method!r}; expected one of {METHODS}")


def method_bound(
    method: str,
    key: jax.Array,
    model: SSM,
    proposal: Any,
    y: jax.Array,
    num_particles: int,
    *,
    smoothing: bool = False,
) -> tuple[jax.Array, dict[str, jax.Array]]:
    """``(log Z-hat, diagnostics)`` of ``method`` on one sequence ``y`` of shape ``(T, dy)``.

    Diagnostics always hold ``ess`` (mean effective sample size) and, with ``smoothing``, the
    method's own state estimate ``means`` (T, dx): the self-normalised IS mean for vae/iwae (for
    vae from the same N draws as the ELBO), the *filtering* mean for fivo (a particle filter has no
    smoothing estimate without a backward pass), the PVMC smoothing-weight mean for pvmc.
    """
    N = num_particles
    if method in ("vae", "iwae"):
        if method == "vae" and not smoothing:
            lz, d = elbo(key, model, proposal, y, N)
            w = d["log_weights"]
            return lz, {"ess": jnp.exp(2 * jax.nn.logsumexp(w) - jax.nn.logsumexp(2 * w))}
        lz, d = iwae(key, model, proposal, y, N)
        if method == "vae":  # the ELBO of the same N trajectories
            lz = jnp.mean(d["log_weights"])
        out = {"ess": d["ess"]}
        if smoothing:
            out["means"] = d["smoothed_means"]
        return lz, out
    if method == "fivo":
        lz, d = smc(key, model, proposal, y, N, resampling="systematic", ess_threshold=0.5)
        out = {"ess": jnp.mean(d["ess"])}
        if smoothing:
            out["means"] = d["filtered_means"]
        return lz, out
    if method in ("pvmc", "pvmc-truncated", "pvmc-seq", "pvmc-assoc"):
        path = {"pvmc-seq": "sequential", "pvmc-assoc": "associative"}.get(method, pvmc_path())
        truncated = method == "pvmc-truncated"
        # the truncated variant's per-t weights come with smoothing=True at no extra pass
        lz, d = pvmc(key, model, proposal, y, N, method=path, smoothing=smoothing or truncated,
                     truncated=truncated)  # fmt: skip
        if smoothing or truncated:
            out = {"ess": jnp.mean(d["ess"])}
            if smoothing:
                out["means"] = d["smoothed_means"]
            return lz, out
        la = d["log_alpha"]
        # ESS of the forward (filtering-like) weights alpha_t, averaged over t
        ess = jnp.exp(2 * jax.nn.logsumexp(la, 1) - jax.nn.logsumexp(2 * la, 1))
        return lz, {"ess": jnp.mean(ess)}
    raise ValueError(f"unknown method {method!r}; expected one of {METHODS}")


def make_loss(
    method: str, num_particles: int, *, supervised_weight: float = 0.0
) -> Callable[[Any, jax.Array, Any], tuple[jax.Array, dict[str, jax.Array]]]:
    """``loss(params, key, batch)`` for :func:`ssmbench.train.train`: ``params = (model, proposal)``,
    ``batch`` = observations ``(B, T, dy)``, or ``(y, x_true, labelled)`` for the semi-supervised
    loss ``-bound/T + supervised_weight * MSE(method's state estimate, x_true)`` on labelled rows."""

    def loss(params, key, batch):
        model, proposal = params
        semi = isinstance(batch, tuple)
        y = batch[0] if semi else batch
        B, T = y.shape[0], y.shape[1]
        keys = jax.random.split(key, B)
        lz, d = jax.vmap(
            lambda k, yy: method_bound(
                method, k, model, proposal, yy, num_particles, smoothing=semi
            )  # fmt: skip
        )(keys, y)
        bound = jnp.mean(lz) / T
        aux = {"bound": bound, "ess": jnp.mean(d["ess"])}
        total = -bound
        if semi:
            _, x_true, lab = batch
            per_seq = jnp.mean((d["means"] - x_true) ** 2, axis=(1, 2))
            mse = jnp.sum(per_seq * lab) / jnp.maximum(jnp.sum(lab), 1.0)
            aux["state_mse"] = mse
            total = total + supervised_weight * mse
        return total, aux

    return loss


@eqx.filter_jit
def _mean_bound(method, params, key, y, N, smoothing=False):
    """Each sequence's ``(log Z-hat, diagnostics)`` of ``method`` (jit-cached across cells: the
    data and key are arguments; the method, N and smoothing flag static)."""
    model, q = params
    keys = jax.random.split(key, y.shape[0])
    return jax.vmap(lambda k, yy: method_bound(method, k, model, q, yy, N, smoothing=smoothing))(
        keys, y
    )


@eqx.filter_jit
def exact_ll_per_step(model: LGSSM, y: jax.Array) -> jax.Array:
    """Mean over sequences of the exact (Kalman) log p(y) / T."""
    return jnp.mean(jax.vmap(lambda yy: kalman_filter(model, yy).log_likelihood)(y)) / y.shape[1]


@eqx.filter_jit
def _rts_means(model: LGSSM, y: jax.Array) -> jax.Array:
    return jax.vmap(lambda yy: rts_smoother(model, yy).smoothed_means)(y)


@eqx.filter_jit
def _smc_lz(model: SSM, keys: jax.Array, y: jax.Array, num_particles: int) -> jax.Array:
    boot = BootstrapProposal()
    return jax.vmap(lambda k, yy: smc(k, model, boot, yy, num_particles)[0])(keys, y)


def smc_eval_per_step(
    model: SSM, key: jax.Array, y: jax.Array, num_particles: int, chunk: int | None = None
) -> jax.Array:
    """The common evaluator of non-linear tasks: a bootstrap particle filter with
    ``num_particles`` particles under ``model``; mean over sequences of log Z-hat / T.

    ``chunk``: run the filter on chunks of this many sequences (the last one padded with copies of
    the first sequence, which are dropped), so that sets of different sizes share one compiled
    program. Each sequence keeps the key of the unchunked call, so the value is the same up to
    float rounding."""
    n = y.shape[0]
    keys = jax.random.split(key, n)
    if not chunk:
        lz = _smc_lz(model, keys, y, num_particles)
    else:
        pad = -n % chunk
        idx = jnp.concatenate([jnp.arange(n), jnp.zeros(pad, jnp.int32)])
        yp, kp = y[idx], keys[idx]
        parts = [
            _smc_lz(model, kp[i : i + chunk], yp[i : i + chunk], num_particles)
            for i in range(0, n + pad, chunk)
        ]
        lz = jnp.concatenate(parts)[:n]
    return jnp.mean(lz) / y.shape[1]


# -------------------------------------------------------------------------------------------------
# models
# -------------------------------------------------------------------------------------------------
def init_lgssm(key: jax.Array, state_dim: int, obs_dim: int) -> LGSSM:
    """The common initialisation of the learned LGSSM: A = 0.5 I, C ~ N(0, 1/d_x), unit noises."""
    dx, dy = state_dim, obs_dim
    C = jax.random.normal(key, (dy, dx), _DTYPE) / math.sqrt(dx)
    eye = lambda d: jnp.eye(d, dtype=_DTYPE)  # noqa: E731
    zeros = lambda d: jnp.zeros(d, _DTYPE)  # noqa: E731
    return LGSSM(zeros(dx), eye(dx), 0.5 * eye(dx), zeros(dx), eye(dx), C, zeros(dy), eye(dy))


def true_lgssm(params: dict[str, np.ndarray]) -> LGSSM:
    """The LGSSM of the task's true parameters (float32)."""
    f = lambda k: jnp.asarray(params[k], _DTYPE)  # noqa: E731
    return LGSSM.from_covariances(f("m0"), f("P0"), f("A"), f("Q"), f("C"), f("R"))


class NeuralLotkaVolterra(SSM):
    """Lotka-Volterra with a learned drift: log-populations ``x_t ~ N(x_{t-1} + MLP(x_{t-1}) dt,
    diag(sigma^2 dt))``, ``x_0 ~ N(m0, s0^2)``, counts ``y_t ~ Poisson(obs_scale * exp(x_t))``."""

    drift: eqx.nn.MLP
    log_sigma: jax.Array
    x0_mean: jax.Array
    log_x0_scale: jax.Array
    dt: float = eqx.field(static=True)
    obs_scale: float = eqx.field(static=True)

    def __init__(self, hidden: int = 32, *, key, dt: float = 3 / 256, obs_scale: float = 10.0):
        self.drift = eqx.nn.MLP(2, 2, hidden, 2, jax.nn.tanh, key=key, dtype=_DTYPE)
        self.log_sigma = jnp.full((2,), math.log(0.5), _DTYPE)
        self.x0_mean = jnp.zeros(2, _DTYPE)
        self.log_x0_scale = jnp.full((2,), math.log(0.5), _DTYPE)
        self.dt, self.obs_scale = dt, obs_scale

    @property
    def state_dim(self) -> int:
        return 2

    @property
    def obs_dim(self) -> int:
        return 2

    def initial_dist(self, c):
        return self.x0_mean, jnp.exp(self.log_x0_scale)

    def transition_dist(self, x_prev, c):
        return x_prev + self.drift(x_prev) * self.dt, jnp.exp(self.log_sigma) * math.sqrt(self.dt)

    # The same Poisson observation model on log-populations as the simulator's.
    emission_log_prob = LotkaVolterra.emission_log_prob
    emission_sample = LotkaVolterra.emission_sample


# -------------------------------------------------------------------------------------------------
# the common driver
# -------------------------------------------------------------------------------------------------
def _progress() -> bool:
    return os.environ.get("SSMBENCH_PROGRESS", "") == "1" and sys.stderr.isatty()


def _fit_inputs(
    method: str,
    model: SSM,
    task: SequenceTask | PianoRollTask,
    *,
    key: jax.Array,
    N: int,
    hidden: int,
    supervised_weight: float = 0.0,
    n_labelled: int = 0,
):
    """``(loss, params, data, train key, cache key)`` of one method's training run."""
    k_q, k_train = jax.random.split(key)
    q = make_proposal(method, model.state_dim, model.obs_dim, hidden, key=k_q)
    y_tr = jnp.asarray(task.y_train, _DTYPE)
    if supervised_weight > 0:
        lab = (jnp.arange(y_tr.shape[0]) < n_labelled).astype(_DTYPE)
        data = (y_tr, jnp.asarray(task.x_train, _DTYPE), lab)
    else:
        data = y_tr
    loss = make_loss(method, N, supervised_weight=supervised_weight)
    # the loss is fully determined by (method, N, supervised_weight): later seeds and cells of the
    # same shapes reuse the compiled step (compile_s then reports the first compile)
    cache_key = ("ssmbench.trainers", method, N, float(supervised_weight), pvmc_path())
    return loss, (model, q), data, k_train, cache_key


def _precompile(
    methods: list[str],
    model: SSM,
    task,
    *,
    config: TrainConfig,
    bound: tuple[jax.Array, jax.Array, bool] | None = None,
    jobs: tuple[Callable[[], Any], ...] = (),
    **kw: Any,
) -> None:
    """Compile every method's training step ahead of :func:`_fit`, in threads (one per core):
    XLA compiles without holding the GIL, and on CPU compiling dominates short runs. Each
    method's ``compile_s`` is still its own program's compile time. ``bound = (key, y,
    smoothing)`` also warms the jit cache of the method's :func:`_mean_bound` evaluation, and
    ``jobs`` are further warm-up calls (e.g. the common evaluator on the validation and test
    shapes) run in the same pool."""
    from concurrent.futures import ThreadPoolExecutor

    def one(method: str) -> None:
        loss, params, data, k_train, cache_key = _fit_inputs(method, model, task, **kw)
        compile_step(loss, params, data, key=k_train, config=config, cache_key=cache_key)
        if bound is not None:
            k, y, smoothing = bound
            # called exactly as the experiments call it (the jit cache keys on the call)
            if smoothing:
                out = _mean_bound(method, params, k, y, kw["N"], smoothing=True)
            else:
                out = _mean_bound(method, params, k, y, kw["N"])
            jax.block_until_ready(out)

    tasks = [lambda m=m: one(m) for m in methods] + [lambda j=j: jax.block_until_ready(j()) for j in jobs]  # fmt: skip
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    workers = max(1, min(len(tasks), cores or 1))
    with ThreadPoolExecutor(workers) as pool:
        for f in [pool.submit(t) for t in tasks]:
            f.result()  # re-raises a compile error here


def _fit(
    method: str,
    model: SSM,
    task: SequenceTask | PianoRollTask,
    *,
    key: jax.Array,
    N: int,
    hidden: int,
    config: TrainConfig,
    evaluator: Callable[[SSM, jax.Array], jax.Array],
    supervised_weight: float = 0.0,
    n_labelled: int = 0,
) -> TrainResult:
    """Train (model, proposal of ``method``) on ``task.y_train``. Early stopping uses the task's
    common evaluator on the validation split (the same rule for every method); every evaluation
    also logs it on the test split (``heldout``, the curves)."""
    loss, params, data, k_train, cache_key = _fit_inputs(
        method, model, task, key=key, N=N, hidden=hidden,
        supervised_weight=supervised_weight, n_labelled=n_labelled,
    )  # fmt: skip
    y_val = jnp.asarray(task.y_val, _DTYPE)
    y_test = jnp.asarray(task.y_test, _DTYPE)

    def eval_fn(params, k):
        return {"val": float(evaluator(params[0], y_val)), "heldout": float(evaluator(params[0], y_test))}  # fmt: skip

    return train(loss, params, data, key=k_train, config=config, eval_fn=eval_fn,
                 cache_key=cache_key)  # fmt: skip


def _common_rows(method: str, res: TrainResult, extra: dict[str, Any]) -> list[dict[str, Any]]:
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


def _ttt_rows(results: dict[str, TrainResult], extra: dict[str, Any]) -> list[dict[str, Any]]:
    curves = {
        m: ([e["wall_s"] for e in r.evals], [e["heldout"] for e in r.evals])
        for m, r in results.items()
        if r.evals
    }
    times, target = time_to_target(curves, fraction=0.95)
    rows = []
    for m, t in times.items():
        rows.append({"metric": "reached_target", "value": float(math.isfinite(t)), "method": m, **extra})  # fmt: skip
        if math.isfinite(t):  # a method that never reached the target reports no time (see docs)
            rows.append({"metric": "time_to_target", "value": t, "method": m, **extra})
    rows.append({"metric": "target_heldout", "value": target, "method": "all", **extra})
    return rows


def _methods(methods: list[str]) -> list[str]:
    for m in methods:
        if m not in METHODS:
            raise ValueError(f"unknown method {m!r}; expected a subset of {METHODS}")
    return list(methods)


# -------------------------------------------------------------------------------------------------
# experiments
# -------------------------------------------------------------------------------------------------
def _config(steps, lr, eval_every, patience, batch_size) -> TrainConfig:
    return TrainConfig(steps=steps, learning_rate=lr, eval_every=eval_every, patience=patience,
                       batch_size=batch_size, progress=_progress())  # fmt: skip


def _paired(rows: list[dict[str, Any]], metric: str, extra: dict[str, Any]) -> list[dict[str, Any]]:
    """``pvmc_minus_fivo``: the paired (same seed, data, initialisation) difference of ``metric``."""
    v = {r["method"]: r["value"] for r in rows if r["metric"] == metric}
    if "pvmc" in v and "fivo" in v:
        return [{"metric": "pvmc_minus_fivo", "value": v["pvmc"] - v["fivo"], "method": "pvmc-fivo",
                 "of": metric, **extra}]  # fmt: skip
    return []


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
) -> list[dict[str, Any]]:
    """LGSSM with unknown parameters: every method learns (A, b, Q, C, d, R, m0, P0) from the same
    initialisation; early stopping on the exact validation log p(y). Rows per method:
    ``heldout_ll`` (exact log p(y_test) per step under the learned best-validation parameters),
    ``true_ll`` (the same under the true parameters), ``gap`` = true - learned (nats/step),
    ``heldout_bound`` (the method's own bound per step on the test set), ``smoothed_rmse`` (the
    method's state estimate vs the exact RTS means of the learned model), timings, the held-out
    curve (``curve_heldout`` vs ``wall_s``), time to target, and ``pvmc_minus_fivo``."""
    methods = _methods(methods)
    task = lgssm_task(T, seed=seed, n_train=n_train, n_val=n_val, n_test=n_test)
    y_test = jnp.asarray(task.y_test, _DTYPE)
    true_ll = float(exact_ll_per_step(true_lgssm(task.params), y_test))
    key = jax.random.PRNGKey(seed)
    k_model, k_fit, k_eval = jax.random.split(key, 3)
    model0 = init_lgssm(k_model, task.state_dim, task.obs_dim)
    cfg = _config(steps, lr, eval_every, patience, min(batch_size, n_train))
    extra = {"task": "lgssm", "backend": jax.default_backend()}
    rows, results = [], {}
    y_val = jnp.asarray(task.y_val, _DTYPE)
    _precompile(methods, model0, task, key=k_fit, N=N, hidden=hidden, config=cfg,
                bound=(k_eval, y_test, True), jobs=(lambda: exact_ll_per_step(model0, y_val),
                                                    lambda: _rts_means(model0, y_test)))  # fmt: skip
    for method in methods:
        res = _fit(method, model0, task, key=k_fit, N=N, hidden=hidden, config=cfg,
                   evaluator=exact_ll_per_step)  # fmt: skip
        results[method] = res
        model, q = res.params
        ll = float(exact_ll_per_step(model, y_test))
        lz, d = _mean_bound(method, (model, q), k_eval, y_test, N, smoothing=True)
        rts = _rts_means(model, y_test)
        rmse = float(jnp.sqrt(jnp.mean((d["means"] - rts) ** 2)))
        rows += [
            {"metric": "heldout_ll", "value": ll, "method": method, **extra},
            {"metric": "true_ll", "value": true_ll, "method": method, **extra},
            {"metric": "gap", "value": true_ll - ll, "method": method, **extra},
            {
                "metric": "heldout_bound",
                "value": float(jnp.mean(lz)) / T,
                "method": method,
                **extra,
            },  # fmt: skip
            {"metric": "smoothed_rmse", "value": rmse, "method": method, **extra},
        ]
        rows += _common_rows(method, res, extra)
    rows += _ttt_rows(results, extra)
    rows += _paired(rows, "heldout_ll", extra)
    return rows


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
) -> list[dict[str, Any]]:
    """Stochastic volatility: learn (mu, phi, sigma, beta) and a proposal. The common evaluator
    (early stopping on validation, the held-out metric on test) is a bootstrap particle filter
    with ``eval_particles`` particles under each learned model, per step, with a fixed key; the
    true parameters' value under the same evaluator is ``true_bound``."""
    methods = _methods(methods)
    task = stochastic_volatility_task(T, seed=seed, n_train=n_train, n_val=n_val, n_test=n_test)
    y_test = jnp.asarray(task.y_test, _DTYPE)
    key = jax.random.PRNGKey(seed)
    k_fit, k_eval, k_ref = jax.random.split(key, 3)

    def evaluator(model, y):
        return smc_eval_per_step(model, k_ref, y, eval_particles)

    p = task.params
    true_model = StochasticVolatility(p["mu"], p["phi"], p["sigma"], p["beta"], dtype=_DTYPE)
    model0 = StochasticVolatility(0.5, 0.7, 0.6, 1.0, dtype=_DTYPE)
    cfg = _config(steps, lr, eval_every, patience, min(batch_size, n_train))
    extra = {"task": "sv", "backend": jax.default_backend()}
    rows, results = [], {}
    y_val = jnp.asarray(task.y_val, _DTYPE)
    _precompile(methods, model0, task, key=k_fit, N=N, hidden=hidden, config=cfg,
                bound=(k_eval, y_test, False), jobs=(lambda: evaluator(model0, y_val),
                                                     lambda: evaluator(model0, y_test)))  # fmt: skip
    true_bound = float(evaluator(true_model, y_test))
    for method in methods:
        res = _fit(method, model0, task, key=k_fit, N=N, hidden=hidden, config=cfg,
                   evaluator=evaluator)  # fmt: skip
        results[method] = res
        model, q = res.params
        lz, _ = _mean_bound(method, (model, q), k_eval, y_test, N)
        rows += [
            {
                "metric": "heldout_smc",
                "value": float(evaluator(model, y_test)),
                "method": method,
                **extra,
            },  # fmt: skip
            {"metric": "true_bound", "value": true_bound, "method": method, **extra},
            {
                "metric": "heldout_bound",
                "value": float(jnp.mean(lz)) / T,
                "method": method,
                **extra,
            },  # fmt: skip
            {
                "metric": "phi",
                "value": float(jnp.tanh(model.phi_raw[0])),
                "method": method,
                **extra,
            },  # fmt: skip
            {
                "metric": "sigma",
                "value": float(jnp.exp(model.log_sigma[0])),
                "method": method,
                **extra,
            },  # fmt: skip
        ]
        rows += _common_rows(method, res, extra)
    rows += _ttt_rows(results, extra)
    rows += _paired(rows, "heldout_smc", extra)
    return rows


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
) -> list[dict[str, Any]]:
    """Lotka-Volterra, Poisson counts, learned MLP drift, semi-supervised: the loss is
    ``-bound/T + supervised_weight * MSE(state estimate, true log-populations)`` with the true
    states of the first ``n_labelled`` training sequences. Metrics: ``test_state_mse`` (each
    method's own state estimate on the test set, N particles), ``heldout_smc`` (bootstrap SMC
    with ``eval_particles`` under the learned model, per step), ``heldout_bound``."""
    methods = _methods(methods)
    if not 0 <= n_labelled <= n_train:
        raise ValueError(f"n_labelled must be in [0, n_train={n_train}], got {n_labelled}")
    task = lotka_volterra_task(T, seed=seed, n_train=n_train, n_val=n_val, n_test=n_test)
    y_test = jnp.asarray(task.y_test, _DTYPE)
    x_test = jnp.asarray(task.x_test, _DTYPE)
    key = jax.random.PRNGKey(seed)
    k_model, k_fit, k_eval, k_ref = jax.random.split(key, 4)

    def evaluator(model, y):
        return smc_eval_per_step(model, k_ref, y, eval_particles)

    model0 = NeuralLotkaVolterra(hidden, key=k_model, dt=task.params["dt"],
                                 obs_scale=task.params["obs_scale"])  # fmt: skip
    cfg = _config(steps, lr, eval_every, patience, min(batch_size, n_train))
    extra = {"task": "lv", "backend": jax.default_backend()}
    rows, results = [], {}
    y_val = jnp.asarray(task.y_val, _DTYPE)
    _precompile(
        methods,
        model0,
        task,
        key=k_fit,
        N=N,
        hidden=hidden,
        config=cfg,
        supervised_weight=supervised_weight,
        n_labelled=n_labelled,
        bound=(k_eval, y_test, True),
        jobs=(lambda: evaluator(model0, y_val), lambda: evaluator(model0, y_test)),
    )
    for method in methods:
        res = _fit(method, model0, task, key=k_fit, N=N, hidden=hidden, config=cfg,
                   evaluator=evaluator, supervised_weight=supervised_weight,
                   n_labelled=n_labelled)  # fmt: skip
        results[method] = res
        lz, d = _mean_bound(method, res.params, k_eval, y_test, N, smoothing=True)
        mse = float(jnp.mean((d["means"] - x_test) ** 2))
        rows += [
            {"metric": "test_state_mse", "value": mse, "method": method, **extra},
            {
                "metric": "heldout_smc",
                "value": float(evaluator(res.params[0], y_test)),
                "method": method,
                **extra,
            },  # fmt: skip
            {
                "metric": "heldout_bound",
                "value": float(jnp.mean(lz)) / T,
                "method": method,
                **extra,
            },  # fmt: skip
        ]
        rows += _common_rows(method, res, extra)
    rows += _ttt_rows(results, extra)
    rows += _paired(rows, "test_state_mse", extra)
    return rows


def init_piano_roll_model(
    key: jax.Array,
    y_train: jax.Array,
    *,
    kind: Literal["srnn", "dmm"] = "srnn",
    state_dim: int = 8,
    hidden: int = 32,
) -> SSM:
    """The common initialisation of the piano-roll model: a Bernoulli-emission SRNN (GRU over
    the previous frame + stochastic layer) or DMM, float32, with the emission's output bias set
    to the logit of each key's training frequency (clipped to [1e-3, 1 - 1e-3]), so that every
    method starts from the independent-keys baseline instead of p = 1/2 per key."""
    obs_dim = y_train.shape[-1]
    if kind == "srnn":
        model = SRNN(state_dim, obs_dim, hidden, key=key, dtype=_DTYPE, emission="bernoulli")
    elif kind == "dmm":
        model = DeepMarkovModel(state_dim, obs_dim, hidden, key=key, dtype=_DTYPE,
                                emission="bernoulli")  # fmt: skip
    else:
        raise ValueError(f"model must be 'srnn' or 'dmm', got {kind!r}")
    p = jnp.clip(jnp.mean(y_train.reshape(-1, obs_dim), axis=0), 1e-3, 1 - 1e-3)
    bias = jnp.log(p) - jnp.log1p(-p)
    return eqx.tree_at(lambda m: m.emit_mlp.layers[-1].bias, model, bias.astype(_DTYPE))


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
) -> list[dict[str, Any]]:
    """Bach chorales (music21's corpus) as an 88-key binary piano roll in eighth-note frames, cut
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
    methods = _methods(methods)
    task = chorale_task(T, split_seed=split_seed, max_pieces=max_pieces or None)
    key = jax.random.PRNGKey(seed)
    k_model, k_fit, k_eval, k_ref, k_sub = jax.random.split(key, 5)
    y_test_all = jnp.asarray(task.y_test, _DTYPE)
    fit_task = task
    if max_eval_windows > 0:  # a subset of the validation/test windows, fixed by split_seed
        rng = np.random.default_rng(split_seed)

        def sub(y):
            return y if len(y) <= max_eval_windows else y[np.sort(rng.choice(len(y), max_eval_windows, replace=False))]  # fmt: skip

        fit_task = PianoRollTask(task.name, task.y_train, sub(task.y_val), sub(task.y_test),
                                 task.stats)  # fmt: skip

    def evaluator(m, y):
        # the validation, test and all-test sets share one compiled filter (chunks of the subset size)
        return smc_eval_per_step(m, k_ref, y, eval_particles, chunk=max_eval_windows or None)

    model0 = init_piano_roll_model(k_model, jnp.asarray(task.y_train, _DTYPE), kind=model,
                                   state_dim=state_dim, hidden=hidden)  # fmt: skip
    n_train = task.y_train.shape[0]
    cfg = _config(steps, lr, eval_every, patience, min(batch_size, n_train))
    extra = {"task": "chorales", "backend": jax.default_backend()}
    rows: list[dict[str, Any]] = [
        {"metric": f"data_{k}", "value": float(v), "method": "all", **extra}
        for k, v in task.stats.items()
        if isinstance(v, (int, float))
    ]
    # the independent-keys baseline (the initial emission bias alone): -mean log Bernoulli / frame
    p = np.clip(task.y_train.reshape(-1, task.obs_dim).mean(0), 1e-3, 1 - 1e-3)
    yt = task.y_test.reshape(-1, task.obs_dim)
    base = -np.mean(np.sum(yt * np.log(p) + (1 - yt) * np.log1p(-p), axis=1))
    rows.append({"metric": "independent_keys_nll", "value": float(base), "method": "all", **extra})
    results = {}
    y_val_fit = jnp.asarray(fit_task.y_val, _DTYPE)
    _precompile(methods, model0, fit_task, key=k_fit, N=N, hidden=hidden, config=cfg,
                bound=(k_eval, y_test_all, False),
                jobs=(lambda: evaluator(model0, y_val_fit),))  # fmt: skip
    for method in methods:
        res = _fit(method, model0, fit_task, key=k_fit, N=N, hidden=hidden, config=cfg,
                   evaluator=evaluator)  # fmt: skip
        results[method] = res
        lz, _ = _mean_bound(method, res.params, k_eval, y_test_all, N)
        rows += [
            {
                "metric": "heldout_nll",
                "value": -float(evaluator(res.params[0], y_test_all)),
                "method": method,
                **extra,
            },  # fmt: skip
            {
                "metric": "heldout_bound",
                "value": float(jnp.mean(lz)) / T,
                "method": method,
                **extra,
            },  # fmt: skip
        ]
        rows += _common_rows(method, res, extra)
    rows += _ttt_rows(results, extra)
    # paired on the bound (higher is better), as for the other tasks: pvmc - fivo = fivo_nll - pvmc_nll
    nll = {r["method"]: r["value"] for r in rows if r["metric"] == "heldout_nll"}
    if "pvmc" in nll and "fivo" in nll:
        rows.append({"metric": "pvmc_minus_fivo", "value": nll["fivo"] - nll["pvmc"],
                     "method": "pvmc-fivo", "of": "heldout_bound_smc", **extra})  # fmt: skip
    return rows


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
) -> list[dict[str, Any]]:
    """FIVO vs PVMC at one (T, N) on the LGSSM task, the same budget of ``steps`` steps each
    (no early stopping) on ``batch`` sequences. Rows: ``time_per_step`` (median, compile excluded)
    for fivo and pvmc (PVMC on its backend path, :func:`pvmc_path`) and, over ``path_steps``
    steps each, for both PVMC paths (``pvmc-seq``, ``pvmc-assoc``) so the table shows which is
    faster here (``path_steps = 0`` skips the other path; so does a work N^3 T, or N^2 T for the
    sequential path, above ``path_max_work``, with a ``path_skipped_work`` row); ``time_to_target`` (exact held-out log p(y) reaching 95% of the better method's
    final improvement); the ratios ``ratio_time_per_step`` / ``ratio_time_to_target`` = FIVO / PVMC."""
    task = lgssm_task(T, seed=seed, n_train=batch, n_val=1, n_test=2)
    key = jax.random.PRNGKey(seed)
    k_model, k_fit = jax.random.split(key)
    model0 = init_lgssm(k_model, task.state_dim, task.obs_dim)
    extra = {"task": "lgssm", "backend": jax.default_backend(), "pvmc_path": pvmc_path()}
    cfg = TrainConfig(steps=steps, learning_rate=lr, eval_every=eval_every, patience=None)
    results = {}
    rows: list[dict[str, Any]] = []
    _precompile(["fivo", "pvmc"], model0, task, key=k_fit, N=N, hidden=hidden, config=cfg)
    for method in ("fivo", "pvmc"):
        res = _fit(method, model0, task, key=k_fit, N=N, hidden=hidden, config=cfg,
                   evaluator=exact_ll_per_step)  # fmt: skip
        results[method] = res
        rows += _common_rows(method, res, extra)
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
        q = make_proposal(other, task.state_dim, task.obs_dim, hidden, key=k_fit)
        res = train(make_loss(other, N), (model0, q), jnp.asarray(task.y_train, _DTYPE),
                    key=k_fit, config=short)  # fmt: skip
        rows += [
            {"metric": "time_per_step", "value": res.median_step_s, "method": other, **extra},
            {"metric": "compile_s", "value": res.compile_s, "method": other, **extra},
        ]
    ttt = _ttt_rows(results, extra)
    rows += ttt
    f, p = results["fivo"].median_step_s, results["pvmc"].median_step_s
    rows.append({"metric": "ratio_time_per_step", "value": f / p, "method": "fivo/pvmc", **extra})
    t = {r["method"]: r["value"] for r in ttt if r["metric"] == "time_to_target"}
    if "fivo" in t and "pvmc" in t and t["pvmc"] > 0:
        rows.append({"metric": "ratio_time_to_target", "value": t["fivo"] / t["pvmc"],
                     "method": "fivo/pvmc", **extra})  # fmt: skip
    return rows


# -------------------------------------------------------------------------------------------------
# plots: held-out metric vs training wall time, per task and method
# -------------------------------------------------------------------------------------------------
def plot_curves(run_dir: str, out_dir: str | None = None) -> list[str]:
    """Draw ``curve_heldout`` against ``train_s`` (training wall time) per method (one PNG per experiment and grid
    point, seeds as separate thin lines) from a run directory's ``table.csv``."""
    import matplotlib

    matplotlib.use("Agg")
    # read the rows from records.jsonl: the table's ``wall_s`` column is the runner's cell time
    import json

    import matplotlib.pyplot as plt
    import pandas as pd

    rows = []
    with open(os.path.join(run_dir, "records.jsonl")) as fh:
        for line in fh:
            rec = json.loads(line)
            for r in rec["rows"]:
                if r["metric"] == "curve_heldout":
                    t = r.get("train_s", r.get("wall_s"))
                    rows.append({**rec["point"], **r, "seed": rec["seed"], "train_s": t,
                                 "experiment": rec["experiment"]})  # fmt: skip
    df = pd.DataFrame(rows)
    if df.empty:
        return []
    out_dir = out_dir or run_dir
    paths = []
    for exp, g in df.groupby("experiment"):
        point_cols = [c for c in ("T", "N") if c in g.columns and g[c].nunique(dropna=True) > 1]
        groups = g.groupby(point_cols) if point_cols else [((), g)]
        for point, gp in groups:
            point = point if isinstance(point, tuple) else (point,)
            fig, ax = plt.subplots(figsize=(6, 4))
            for i, (method, gm) in enumerate(gp.groupby("method")):
                for j, (_, gs) in enumerate(gm.groupby("seed")):
                    gs = gs.sort_values("train_s")
                    ax.plot(gs["train_s"], gs["value"].astype(float), color=f"C{i}", alpha=0.8,
                            marker=".", label=method if j == 0 else None)  # fmt: skip
            ax.set_xscale("symlog", linthresh=0.1)
            ax.set_xlabel("training wall time (s, compile and evaluation excluded)")
            ax.set_ylabel("held-out metric per step (nats)")
            label = ", ".join(f"{c}={v}" for c, v in zip(point_cols, point))
            ax.set_title(f"{exp} {label}".strip(), fontsize=9)
            ax.legend(fontsize=8)
            fig.tight_layout()
            name = f"{exp}" + "".join(f"_{c}{v}" for c, v in zip(point_cols, point)) + ".png"
            path = os.path.join(out_dir, name)
            fig.savefig(path, dpi=100)
            plt.close(fig)
            paths.append(path)
    return paths


_TABLE_METRICS = {
    "lgssm": ["gap", "heldout_ll", "smoothed_rmse", "heldout_bound", "time_per_step", "time_to_target", "steps"],
    "lgssm-long": ["gap", "heldout_ll", "smoothed_rmse", "heldout_bound", "time_per_step", "time_to_target", "steps"],
    "sv": ["heldout_smc", "true_bound", "heldout_bound", "phi", "sigma", "time_per_step", "time_to_target", "steps"],
    "lv": ["test_state_mse", "heldout_smc", "heldout_bound", "time_per_step", "time_to_target", "steps"],
    "chorales": ["heldout_nll", "heldout_bound", "time_per_step", "time_to_target", "steps"],
}  # fmt: skip


def comparison_table(run_dir: str) -> str:
    """Markdown tables (mean ± std over seeds, per experiment and method) of a run's key metrics,
    and the speed ratios per (T, N)."""
    import pandas as pd

    df = pd.read_csv(os.path.join(run_dir, "table.csv"))
    df = df[df["metric"] != "curve_heldout"]
    df = df.assign(value=pd.to_numeric(df["value"], errors="coerce"))
    out = []
    for exp, metrics in _TABLE_METRICS.items():
        g = df[(df["experiment"] == exp) & df["metric"].isin(metrics)]
        if g.empty:
            continue
        stats = g.groupby(["method", "metric"])["value"].agg(["mean", "std", "count"])
        methods = [m for m in METHODS if m in stats.index.get_level_values(0)]
        out.append(f"**{exp}** (mean ± std over seeds; n = seeds)\n")
        out.append("| method | " + " | ".join(metrics) + " |")
        out.append("|---" * (len(metrics) + 1) + "|")
        for m in methods:
            cells = []
            for k in metrics:
                if (m, k) in stats.index:
                    r = stats.loc[(m, k)]
                    sd = "" if not np.isfinite(r["std"]) else f" ± {r['std']:.3g}"
                    cells.append(f"{r['mean']:.4g}{sd} (n={int(r['count'])})")
                else:
                    cells.append("—")
            out.append(f"| {m} | " + " | ".join(cells) + " |")
        pf = df[(df["experiment"] == exp) & (df["metric"] == "pvmc_minus_fivo")]["value"]
        if len(pf):
            out.append(
                f"\npvmc − fivo (paired, per seed): {', '.join(f'{v:.4f}' for v in pf)}; "
                f"mean {pf.mean():.4f}, std {pf.std():.4f}\n"
            )
        out.append("")
    sp = df[df["experiment"] == "speed"]
    if not sp.empty:
        out.append("**speed** (FIVO vs PVMC, LGSSM; seconds; ratio = FIVO / PVMC)\n")
        out.append("| T | N | fivo s/step | pvmc s/step | pvmc-seq s/step | pvmc-assoc s/step | ratio s/step | fivo time to target | pvmc time to target | ratio time to target |")  # fmt: skip
        out.append("|---" * 10 + "|")

        def val(g, metric, method):
            v = g[(g["metric"] == metric) & (g["method"] == method)]["value"]
            return f"{v.median():.4g}" if len(v) else "—"

        for (T, N), g in sp.groupby(["T", "N"]):
            out.append(
                f"| {T} | {N} | {val(g, 'time_per_step', 'fivo')} | {val(g, 'time_per_step', 'pvmc')} | "
                f"{val(g, 'time_per_step', 'pvmc-seq')} | {val(g, 'time_per_step', 'pvmc-assoc')} | "
                f"{val(g, 'ratio_time_per_step', 'fivo/pvmc')} | {val(g, 'time_to_target', 'fivo')} | "
                f"{val(g, 'time_to_target', 'pvmc')} | {val(g, 'ratio_time_to_target', 'fivo/pvmc')} |"
            )
    return "\n".join(out)


if __name__ == "__main__":  # python -m ssmbench.trainers plot|table RUN_DIR [OUT_DIR]
    if len(sys.argv) >= 3 and sys.argv[1] == "plot":
        for p_ in plot_curves(sys.argv[2], sys.argv[3] if len(sys.argv) > 3 else None):
            print(p_)
    elif len(sys.argv) >= 3 and sys.argv[1] == "table":
        print(comparison_table(sys.argv[2]))
    else:
        print("usage: python -m ssmbench.trainers plot|table RUN_DIR [OUT_DIR]", file=sys.stderr)
        sys.exit(2)
