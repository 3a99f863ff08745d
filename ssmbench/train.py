"""One optax training loop for every bound (VAE/ELBO, IWAE, SMC/FIVO, PVMC, ...).

The loop is generic over a loss ``loss_fn(params, key, batch) -> (loss, aux)``: ``params`` is any
pytree (typically an ``eqx.Module`` or a tuple of them, e.g. ``(model, proposal)``); its inexact
array leaves are trained, everything else is held fixed. ``aux`` is a dict of scalars that is logged
every step (e.g. ``bound`` per time step and the mean ``ess``).

What the loop guarantees:

- **One jit'd step on the whole batch**: the step (gradient, optax update, NaN guard) is compiled
  once ahead of time (``jit(...).lower(...).compile()``, timed separately as ``compile_s``) and runs
  on the full training batch (or a random minibatch of ``batch_size`` sequences drawn inside the
  step) in a single call.
- **NaN guard**: a step whose loss or gradient is non-finite is *skipped* inside the jit'd step (the
  parameters and optimiser state are kept), so the parameters are never poisoned. After
  ``max_bad_steps`` consecutive non-finite steps the run stops and is recorded as diverged
  (``TrainResult.diverged``, ``diverged_step``) instead of raising.
- **Early stopping** on a validation score (higher is better) evaluated every ``eval_every`` steps:
  the best parameters are kept and training stops after ``patience`` evaluations without an
  improvement larger than ``min_delta``.
- **Timing**: each step is timed with ``jax.block_until_ready``; ``wall_s`` in the log is the
  cumulative *training* time (compile and evaluation excluded), ``step_s`` the time of that step.
  :attr:`TrainResult.median_step_s` is the steady-state time per gradient step (first step
  excluded as warm-up).
- **Log**: one dict per step (``step``, ``loss``, ``wall_s``, ``step_s``, ``finite`` and every
  ``aux`` entry, e.g. ``bound`` and ``ess``), one dict per evaluation, and an optional progress
  bar on stderr.

:func:`time_to_target` turns evaluation curves of several methods into the time each needs to
reach a common target (95% of the best method's final improvement by default).
"""

from __future__ import annotations

import math
import statistics
import sys
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Hashable, Mapping
from dataclasses import dataclass, field
from typing import Any, TextIO

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import optax

__all__ = [
    "TrainConfig",
    "TrainResult",
    "train",
    "compile_step",
    "make_optimizer",
    "time_to_target",
    "ProgressBar",
]


@dataclass(frozen=True)
class TrainConfig:
    """Settings of :func:`train` (the same for every method in a comparison).

    steps: maximum number of gradient steps.
    learning_rate, optimizer ("adam" | "adamw" | "sgd"), grad_clip (global norm; None: off).
    batch_size: sequences per step, drawn at random inside the jit'd step; None: the whole batch.
    eval_every: evaluate ``eval_fn`` every this many steps (and at step 0 and at the end).
    patience: stop after this many evaluations without improvement; None: never stop early.
    min_delta: the improvement of the validation score that counts.
    max_bad_steps: consecutive non-finite steps after which the run is declared diverged.
    progress: draw a progress bar on stderr.
    """

    steps: int = 1000
    learning_rate: float = 1e-3
    optimizer: str = "adam"
    grad_clip: float | None = 10.0
    batch_size: int | None = None
    eval_every: int = 50
    patience: int | None = 10
    min_delta: float = 0.0
    max_bad_steps: int = 5
    progress: bool = False

    def __post_init__(self) -> None:
        if self.steps < 0:
            raise ValueError(f"steps must be >= 0, got {self.steps}")
        if self.eval_every < 1:
            raise ValueError(f"eval_every must be >= 1, got {self.eval_every}")
        if self.max_bad_steps < 1:
            raise ValueError(f"max_bad_steps must be >= 1, got {self.max_bad_steps}")
        if self.patience is not None and self.patience < 1:
            raise ValueError(f"patience must be >= 1 or None, got {self.patience}")
        if self.batch_size is not None and self.batch_size < 1:
            raise ValueError(f"batch_size must be >= 1 or None, got {self.batch_size}")


@dataclass
class TrainResult:
    """What :func:`train` returns. ``params`` are the best parameters by validation score (the
    final ones when there is no ``eval_fn``); ``final_params`` the last finite ones."""

    params: Any
    final_params: Any
    log: list[dict[str, float]]
    evals: list[dict[str, float]]
    compile_s: float
    steps_done: int
    diverged: bool = False
    diverged_step: int | None = None
    stopped_early: bool = False
    best_step: int | None = None
    best_val: float | None = None
    skipped_steps: int = 0
    step_times: list[float] = field(default_factory=list)
    memory_bytes: int | None = None  # XLA buffer assignment of the compiled step (args+out+temps)
    compile_reused: bool = False  # the step program came from the in-process cache (cache_key)

    @property
    def median_step_s(self) -> float:
        """Median wall time of one gradient step (compile excluded; the first call, a warm-up,
        excluded when there are at least 3 steps). NaN when no step ran."""
        t = self.step_times[1:] if len(self.step_times) >= 3 else self.step_times
        return float(statistics.median(t)) if t else math.nan

    @property
    def train_wall_s(self) -> float:
        """Total training wall time (sum of step times; compile and evaluations excluded)."""
        return float(sum(self.step_times))


def make_optimizer(config: TrainConfig) -> optax.GradientTransformation:
    """The optax optimiser of ``config`` (optionally after global-norm clipping)."""
    opts = {"adam": optax.adam, "adamw": optax.adamw, "sgd": optax.sgd}
    if config.optimizer not in opts:
        raise ValueError(f"optimizer must be one of {sorted(opts)}, got {config.optimizer!r}")
    opt = opts[config.optimizer](config.learning_rate)
    if config.grad_clip is not None:
        opt = optax.chain(optax.clip_by_global_norm(config.grad_clip), opt)
    return opt


def _all_finite(tree: Any) -> jax.Array:
    leaves = [jnp.all(jnp.isfinite(x)) for x in jax.tree.leaves(tree) if eqx.is_inexact_array(x)]
    return jnp.all(jnp.stack(leaves)) if leaves else jnp.asarray(True)


def _batch_size(data: Any) -> int:
    leaves = jax.tree.leaves(data)
    if not leaves:
        raise ValueError("data must contain at least one array (leading axis = sequences)")
    sizes = {int(jnp.shape(x)[0]) for x in leaves}
    if len(sizes) != 1:
        raise ValueError(
            f"every array in data must have the same leading (batch) size, got {sizes}"
        )
    return sizes.pop()


# In-process cache of compiled steps, for callers that pass ``cache_key`` (see :func:`train`):
# key -> (compiled step, the compile time it cost when it was built). Bounded, least recently used.
_COMPILED: OrderedDict[Hashable, tuple[Any, float]] = OrderedDict()
_COMPILED_MAX = 64
_COMPILED_LOCK = threading.Lock()


def _signature(tree: Any, *, by_value: bool = False) -> Hashable:
    """Tree structure plus the shape/dtype of every array leaf and the value of every other leaf.
    ``by_value``: arrays are keyed by their contents too (the non-trainable leaves, integer
    arrays included, are baked into the compiled program as constants)."""
    leaves, treedef = jax.tree.flatten(tree)
    sig = []
    for x in leaves:
        if isinstance(x, jax.Array | np.ndarray | np.generic):
            a = np.asarray(x)
            sig.append(("array", a.shape, str(a.dtype), a.tobytes() if by_value else None))
        else:
            sig.append(("leaf", type(x), x))
    return treedef, tuple(sig)


def _step_memory(compiled: Any) -> int | None:
    from .timing import _memory

    return _memory(compiled)[0]


class ProgressBar:
    """A minimal text progress bar (one line, rewritten with ``\\r``) for the training loop."""

    def __init__(self, total: int, stream: TextIO | None = None, width: int = 24):
        self.total, self.stream, self.width = max(total, 1), stream or sys.stderr, width
        self._last = 0.0

    def update(self, step: int, info: Mapping[str, float], force: bool = False) -> None:
        now = time.perf_counter()
        if not force and now - self._last < 0.2:
            return
        self._last = now
        frac = min(step / self.total, 1.0)
        bar = "#" * int(frac * self.width) + "-" * (self.width - int(frac * self.width))
        parts = " ".join(f"{k} {v:.4g}" for k, v in info.items())
        self.stream.write(f"\r[{bar}] {step}/{self.total} {parts}   ")
        self.stream.flush()

    def close(self) -> None:
        self.stream.write("\n")
        self.stream.flush()


def compile_step(
    loss_fn: Callable[[Any, jax.Array, Any], tuple[jax.Array, dict[str, jax.Array]]],
    params: Any,
    data: Any,
    *,
    key: jax.Array,
    config: TrainConfig = TrainConfig(),
    cache_key: Hashable | None = None,
) -> tuple[Any, float, bool]:
    """Compile the training step of :func:`train` for these arguments: ``(compiled, compile_s,
    reused)``. With ``cache_key`` the program goes into (or comes from) the in-process cache that
    :func:`train` reads, so a caller can compile several steps ahead of time, e.g. in threads
    (XLA compiles without holding the GIL). Arguments as for :func:`train`."""
    n_seq = _batch_size(data)
    if config.batch_size is not None and config.batch_size > n_seq:
        raise ValueError(f"batch_size={config.batch_size} exceeds the {n_seq} sequences in data")
    trainable, static = eqx.partition(params, eqx.is_inexact_array)
    opt = make_optimizer(config)
    opt_state = opt.init(trainable)
    k_steps, _ = jax.random.split(key)

    # the key and the data are arguments, not closure constants, so that the compiled step is the
    # same program for every seed
    def step(trainable, opt_state, step_idx, k_steps, data):
        k = jax.random.fold_in(k_steps, step_idx)
        if config.batch_size is not None:
            k_idx, k = jax.random.split(k)
            idx = jax.random.choice(k_idx, n_seq, (config.batch_size,), replace=False)
            batch = jax.tree.map(lambda z: z[idx], data)
        else:
            batch = data

        def f(tr):
            loss, aux = loss_fn(eqx.combine(tr, static), k, batch)
            return loss, aux

        (loss, aux), grads = jax.value_and_grad(f, has_aux=True)(trainable)
        finite = jnp.isfinite(loss) & _all_finite(grads)
        updates, new_opt_state = opt.update(grads, opt_state, trainable)
        new_trainable = optax.apply_updates(trainable, updates)
        keep = lambda new, old: jnp.where(finite, new, old)  # noqa: E731 - the NaN guard
        trainable = jax.tree.map(keep, new_trainable, trainable)
        opt_state = jax.tree.map(keep, new_opt_state, opt_state)
        return trainable, opt_state, loss, aux, finite

    i0 = jnp.asarray(0, jnp.int32)
    full_key = None
    if cache_key is not None:
        # what the step program depends on: the optimiser's settings, not the loop's (steps,
        # evaluation, patience, progress)
        opt_key = (config.learning_rate, config.optimizer, config.grad_clip, config.batch_size)
        full_key = (cache_key, opt_key, n_seq, _signature(trainable), _signature(static, by_value=True),
                    _signature(opt_state), _signature(data), _signature(k_steps))  # fmt: skip
        try:
            hash(full_key)
        except TypeError:  # an unhashable non-array leaf: compile without caching
            full_key = None
    if full_key is not None:
        with _COMPILED_LOCK:
            hit = _COMPILED.get(full_key)
            if hit is not None:
                _COMPILED.move_to_end(full_key)
        if hit is not None:
            return hit[0], hit[1], True
    t0 = time.perf_counter()
    compiled = jax.jit(step).lower(trainable, opt_state, i0, k_steps, data).compile()
    compile_s = time.perf_counter() - t0
    if full_key is not None:
        with _COMPILED_LOCK:
            _COMPILED[full_key] = (compiled, compile_s)
            while len(_COMPILED) > _COMPILED_MAX:
                _COMPILED.popitem(last=False)
    return compiled, compile_s, False


def train(
    loss_fn: Callable[[Any, jax.Array, Any], tuple[jax.Array, dict[str, jax.Array]]],
    params: Any,
    data: Any,
    *,
    key: jax.Array,
    config: TrainConfig = TrainConfig(),
    eval_fn: Callable[[Any, jax.Array], Mapping[str, float]] | None = None,
    cache_key: Hashable | None = None,
) -> TrainResult:
    """Minimise ``loss_fn`` over the inexact array leaves of ``params`` with optax.

    ``loss_fn(params, key, batch)`` returns ``(loss, aux)`` with ``aux`` a dict of scalar arrays;
    ``batch`` is ``data`` (a pytree of arrays with a common leading sequence axis) or a random
    minibatch of it. ``eval_fn(params, key)`` returns a dict with a ``"val"`` entry (higher is
    better, used for early stopping) and any other held-out metrics to log; it runs outside the
    timed region. See the module docstring for the guarantees.

    ``cache_key``: when given, the compiled step is kept in an in-process cache and reused by a
    later call with the same ``cache_key``, optimiser settings (learning rate, optimiser, clipping,
    batch size; not the loop's steps or evaluation settings), data shapes and parameter structure (array
    shapes and dtypes; the values of the non-trainable leaves). The key must identify ``loss_fn``
    completely: two different losses under one key would share a program. ``compile_s`` then
    reports the time the program took when it was first compiled, and ``compile_reused`` is True.
    Without it, every call compiles (the default).
    """
    trainable, static = eqx.partition(params, eqx.is_inexact_array)
    opt_state = make_optimizer(config).init(trainable)
    k_steps, k_eval = jax.random.split(key)
    compiled, compile_s, reused = compile_step(
        loss_fn, params, data, key=key, config=config, cache_key=cache_key
    )
    memory_bytes = _step_memory(compiled)

    log: list[dict[str, float]] = []
    evals: list[dict[str, float]] = []
    step_times: list[float] = []
    best_val, best_step, best_trainable = -math.inf, None, trainable
    bad_run, skipped, evals_since_best = 0, 0, 0
    diverged, diverged_step, stopped_early = False, None, False
    wall = 0.0
    bar = ProgressBar(config.steps) if config.progress else None

    def evaluate(step_idx: int) -> bool:
        """Run eval_fn; return True when early stopping triggers."""
        nonlocal best_val, best_step, best_trainable, evals_since_best
        if eval_fn is None:
            return False
        t = time.perf_counter()
        out = dict(eval_fn(eqx.combine(trainable, static), jax.random.fold_in(k_eval, step_idx)))
        if "val" not in out:
            raise ValueError(f"eval_fn must return a dict with a 'val' entry, got {sorted(out)}")
        rec = {"step": step_idx, "wall_s": wall, "eval_s": time.perf_counter() - t}
        rec.update({k: float(v) for k, v in out.items()})
        evals.append(rec)
        val = rec["val"]
        if math.isfinite(val) and (best_step is None or val > best_val + config.min_delta):
            best_val, best_step, best_trainable = val, step_idx, trainable
            evals_since_best = 0
        else:
            evals_since_best += 1
        return config.patience is not None and evals_since_best >= config.patience

    evaluate(0)
    steps_done = 0
    for i in range(config.steps):
        t = time.perf_counter()
        trainable, opt_state, loss, aux, finite = compiled(
            trainable, opt_state, jnp.asarray(i, jnp.int32), k_steps, data
        )
        jax.block_until_ready((trainable, loss))
        dt = time.perf_counter() - t
        step_times.append(dt)
        wall += dt
        steps_done = i + 1
        ok = bool(finite)
        rec = {"step": steps_done, "loss": float(loss), "wall_s": wall, "step_s": dt, "finite": ok}
        rec.update({k: float(v) for k, v in aux.items()})
        log.append(rec)
        if bar is not None:
            bar.update(steps_done, {"loss": rec["loss"], **{k: rec[k] for k in aux}})
        if not ok:
            skipped += 1
            bad_run += 1
            if bad_run >= config.max_bad_steps:
                diverged, diverged_step = True, steps_done
                break
            continue
        bad_run = 0
        if steps_done % config.eval_every == 0 and evaluate(steps_done):
            stopped_early = True
            break
    if not diverged and eval_fn is not None and (not evals or evals[-1]["step"] != steps_done):
        evaluate(steps_done)
    if bar is not None:
        bar.update(steps_done, {"loss": log[-1]["loss"]} if log else {}, force=True)
        bar.close()

    final = eqx.combine(trainable, static)
    best = eqx.combine(best_trainable, static) if eval_fn is not None else final
    return TrainResult(
        params=best,
        final_params=final,
        log=log,
        evals=evals,
        compile_s=compile_s,
        steps_done=steps_done,
        diverged=diverged,
        diverged_step=diverged_step,
        stopped_early=stopped_early,
        best_step=best_step,
        best_val=None if best_step is None else best_val,
        skipped_steps=skipped,
        step_times=step_times,
        memory_bytes=memory_bytes,
        compile_reused=reused,
    )


def time_to_target(
    curves: Mapping[str, tuple[Any, Any]],
    *,
    fraction: float = 0.95,
    initial: float | None = None,
) -> tuple[dict[str, float], float]:
    """Time each method needs to reach a common target on a held-out metric (higher is better).

    ``curves[method] = (wall_s, metric)``: the held-out metric at increasing training wall times
    (the first point is the common initialisation). The target is
    ``initial + fraction * (best_final - initial)``, where ``best_final`` is the best method's final
    value and ``initial`` (by default) the median of the methods' first values. A method's time is
    the first wall time at which its metric is >= the target; a method that never reaches it gets
    ``nan``. Returns ``(times, target)``.
    """
    if not 0 < fraction <= 1:
        raise ValueError(f"fraction must be in (0, 1], got {fraction}")
    cleaned = {}
    for m, (w, v) in curves.items():
        w, v = np.asarray(w, float), np.asarray(v, float)
        if w.shape != v.shape or w.ndim != 1 or w.size == 0:
            raise ValueError(f"curve of {m!r} needs equal-length 1-D wall_s and metric arrays")
        cleaned[m] = (w, v)
    finals = [v[-1] for _, v in cleaned.values() if np.isfinite(v[-1])]
    if not finals:
        return {m: math.nan for m in cleaned}, math.nan
    init = float(np.median([v[0] for _, v in cleaned.values()])) if initial is None else initial
    target = init + fraction * (max(finals) - init)
    times = {}
    for m, (w, v) in cleaned.items():
        hit = np.nonzero(np.isfinite(v) & (v >= target))[0]
        times[m] = float(w[hit[0]]) if hit.size else math.nan
    return times, float(target)
