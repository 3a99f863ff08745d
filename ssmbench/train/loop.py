"""The host training loop: one compiled step, a NaN guard, early stopping, per-step timing.

The loop is generic over a loss ``loss_fn(params, key, batch) -> (loss, aux)``: ``params`` is any
pytree (typically an ``eqx.Module`` or a tuple of them, e.g. ``(model, proposal)``); its inexact
array leaves are trained, everything else is held fixed. ``aux`` is a dict of scalars that is logged
every step (e.g. ``bound`` per time step and the mean ``ess``).

What the loop guarantees:

- **One jit'd step on the whole batch**: the step (gradient, optax update, NaN guard) is compiled
  once ahead of time (``jit(...).lower(...).compile()``, timed separately as ``compile_s``) and runs
  on the full training batch (or a random minibatch of ``batch_size`` sequences drawn inside the
  step) in a single call. ``data`` may instead be a function ``data(key) -> batch`` that draws a
  fresh batch inside the step.
- **NaN guard**: a step whose loss or gradient is non-finite is *skipped* inside the jit'd step (the
  parameters and optimiser state are kept), so the parameters are never poisoned. After
  ``max_bad_steps`` consecutive non-finite steps the run stops and is recorded as diverged
  (``TrainResult.diverged``, ``diverged_step``) instead of raising.
- **Early stopping** on a validation score (higher is better) evaluated every ``eval_every`` steps:
  the best parameters are kept and training stops after ``patience`` evaluations without an
  improvement larger than ``min_delta``, or, with ``config.target``, at the first evaluation
  that reaches the target (``time_to_target_s``: training wall time then; NaN if never).
- **Timing**: each step is timed with ``jax.block_until_ready``; ``wall_s`` in the log is the
  cumulative *training* time (compile and evaluation excluded), ``step_s`` the time of that step.
  :attr:`TrainResult.median_step_s` is the steady-state time per gradient step (first step
  excluded as warm-up).
- **Data parallelism** (``mesh=`` or ``TrainConfig(devices="all")``; :mod:`ssmbench.train.sharding`):
  the batch axis is sharded over the mesh's first axis, the parameters and optimiser state are
  replicated, and GSPMD turns the batch mean of the loss and its gradient into an all-reduce; the
  step is the single-device program, and the results equal the single-device ones up to the
  order of floating-point reductions. The batch of every step must divide evenly over the devices
  (a ValueError before compiling otherwise).
- **Log**: one dict per step (``step``, ``loss``, ``wall_s``, ``step_s``, ``finite`` and every
  ``aux`` entry, e.g. ``bound`` and ``ess``), one dict per evaluation, and an optional progress
  bar on stderr.
"""

from __future__ import annotations

import math
import statistics
import sys
import time
from collections.abc import Callable, Hashable, Mapping
from dataclasses import dataclass, field
from typing import Any, TextIO

import equinox as eqx
import jax
import jax.numpy as jnp
from jax.sharding import Mesh

from ..timing import compiled_memory
from .sharding import (
    check_divisible,
    constrain_batch,
    mesh_key,
    place_args,
    resolve_mesh,
    step_shardings,
)
from .step import (
    COMPILED,
    COMPILED_LOCK,
    COMPILED_MAX,
    TrainConfig,
    all_finite,
    apply_step,
    batch_size_of,
    draw_batch_indices,
    make_optimizer,
    signature,
)

__all__ = ["TrainResult", "train", "compile_step", "ProgressBar"]

#: The default settings of :func:`train` and :func:`compile_step`.
DEFAULT_CONFIG = TrainConfig()

LossFn = Callable[[Any, jax.Array, Any], tuple[jax.Array, dict[str, jax.Array]]]


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
    target_step: int | None = None  # the evaluation step that first reached config.target
    time_to_target_s: float = math.nan  # training wall time at that evaluation; NaN: not reached

    @property
    def reached_target(self) -> bool:
        """Whether an evaluation reached ``config.target``."""
        return self.target_step is not None

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


class ProgressBar:
    """A minimal text progress bar (one line, rewritten with ``\\r``) for the training loop."""

    def __init__(self, total: int, stream: TextIO | None = None, width: int = 24):
        self.total, self.stream, self.width = max(total, 1), stream or sys.stderr, width
        self._last = 0.0

    def update(self, step: int, info: Mapping[str, float], force: bool = False) -> None:
        """Redraw the bar at ``step`` with ``info`` (at most every 0.2 s unless ``force``)."""
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
        """End the bar's line."""
        self.stream.write("\n")
        self.stream.flush()


def _step_keys(key: jax.Array, step_keys: jax.Array | None) -> jax.Array:
    """The key argument of the compiled step: one base key (folded with the step index) or the
    caller's per-step keys."""
    return jax.random.split(key)[0] if step_keys is None else step_keys


def compile_step(
    loss_fn: LossFn,
    params: Any,
    data: Any,
    *,
    key: jax.Array,
    config: TrainConfig = DEFAULT_CONFIG,
    cache_key: Hashable | None = None,
    step_keys: jax.Array | None = None,
    mesh: Mesh | None = None,
) -> tuple[Any, float, bool]:
    """Compile the training step of :func:`train` for these arguments: ``(compiled, compile_s,
    reused)``. With ``cache_key`` the program goes into (or comes from) the in-process cache that
    :func:`train` reads, so a caller can compile several steps ahead of time, e.g. in threads
    (XLA compiles without holding the GIL). Arguments as for :func:`train`; with a mesh the
    program takes the parameters, optimiser state and keys replicated and the data sharded on
    its leading axis (:func:`ssmbench.train.sharding.data_sharding`), and returns them
    replicated."""
    draw = data if callable(data) else None
    arrays = None if draw is not None else data
    n_seq = None if draw is not None else batch_size_of(data)
    if draw is not None and config.batch_size is not None:
        raise ValueError("batch_size draws from fixed data; a data function draws its own batch")
    if n_seq is not None and config.batch_size is not None and config.batch_size > n_seq:
        raise ValueError(f"batch_size={config.batch_size} exceeds the {n_seq} sequences in data")
    trainable, static = eqx.partition(params, eqx.is_inexact_array)
    opt = make_optimizer(config)
    opt_state = opt.init(trainable)
    k_steps = _step_keys(key, step_keys)
    per_step = step_keys is not None
    mesh = resolve_mesh(config.devices, mesh)
    if mesh is not None:  # the batch of every step must split evenly, checked before compiling
        k0 = k_steps[0] if per_step else k_steps
        used = batch_size_of(jax.eval_shape(draw, k0)) if draw is not None else config.batch_size
        check_divisible(used if used is not None else n_seq, mesh)

    # the keys and the data are arguments, not closure constants, so that the compiled step is the
    # same program for every seed
    def step(trainable, opt_state, step_idx, k_steps, data):
        k = k_steps[step_idx] if per_step else jax.random.fold_in(k_steps, step_idx)
        if draw is not None:
            batch = draw(k)
        elif config.batch_size is not None:
            k_idx, k = jax.random.split(k)
            idx = draw_batch_indices(k_idx, n_seq, config.batch_size)
            batch = jax.tree.map(lambda z: z[idx], data)
        else:
            batch = data
        batch = constrain_batch(batch, mesh)
        new_trainable, new_opt_state, loss, aux, grads = apply_step(
            lambda p: loss_fn(p, k, batch), opt, trainable, static, opt_state, has_aux=True
        )
        finite = jnp.isfinite(loss) & all_finite(grads)
        keep = lambda new, old: jnp.where(finite, new, old)  # noqa: E731 - the NaN guard
        trainable = jax.tree.map(keep, new_trainable, trainable)
        opt_state = jax.tree.map(keep, new_opt_state, opt_state)
        return trainable, opt_state, loss, aux, finite

    i0 = jnp.asarray(0, jnp.int32)
    full_key = None
    if cache_key is not None and draw is None:
        # what the step program depends on: the optimiser's settings, not the loop's (steps,
        # evaluation, patience, progress)
        # (the schedule reads steps, warmup and the final fraction, so they belong here too)
        opt_key = (config.learning_rate, config.optimizer, config.grad_clip, config.batch_size,
                   config.schedule, config.warmup_steps, config.final_lr_fraction,
                   config.steps if config.schedule != "constant" else None,
                   config.weight_decay)  # fmt: skip
        full_key = (cache_key, opt_key, n_seq, signature(trainable), signature(static, by_value=True),
                    signature(opt_state), signature(data), signature(k_steps), mesh_key(mesh))  # fmt: skip
        try:
            hash(full_key)
        except TypeError:  # an unhashable non-array leaf: compile without caching
            full_key = None
    if full_key is not None:
        with COMPILED_LOCK:
            hit = COMPILED.get(full_key)
            if hit is not None:
                COMPILED.move_to_end(full_key)
        if hit is not None:
            return hit[0], hit[1], True
    t0 = time.perf_counter()
    compiled = (
        jax.jit(step, **step_shardings(mesh, n_seq))
        .lower(trainable, opt_state, i0, k_steps, arrays)
        .compile()
    )
    compile_s = time.perf_counter() - t0
    if full_key is not None:
        with COMPILED_LOCK:
            COMPILED[full_key] = (compiled, compile_s)
            while len(COMPILED) > COMPILED_MAX:
                COMPILED.popitem(last=False)
    return compiled, compile_s, False


def train(
    loss_fn: Callable[[Any, jax.Array, Any], tuple[jax.Array, dict[str, jax.Array]]],
    params: Any,
    data: Any,
    *,
    key: jax.Array,
    config: TrainConfig = DEFAULT_CONFIG,
    eval_fn: Callable[[Any, jax.Array], Mapping[str, float]] | None = None,
    cache_key: Hashable | None = None,
    step_keys: jax.Array | None = None,
    mesh: Mesh | None = None,
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

    ``data`` may be a function ``data(key) -> batch`` that draws a fresh batch inside the step
    (no ``batch_size``, no cache). ``step_keys``: an array of one PRNG key per step (at least
    ``config.steps``) to use instead of ``fold_in(split(key)[0], step)``.

    ``mesh``: data parallelism over a :class:`jax.sharding.Mesh` (it wins over
    ``config.devices``; ``devices="all"`` is a 1-D mesh ``"data"`` over ``jax.devices()``). The
    data are sharded on their leading axis over the mesh's first axis, the parameters and
    optimiser state replicated (``params``/``final_params`` come back replicated). The batch of
    every step (the data, ``batch_size`` or the drawn batch) must be divisible by that axis's
    size. A one-device mesh runs the single-device program.
    """
    trainable, static = eqx.partition(params, eqx.is_inexact_array)
    opt_state = make_optimizer(config).init(trainable)
    k_eval = jax.random.split(key)[1]
    k_steps = _step_keys(key, step_keys)
    if step_keys is not None and len(step_keys) < config.steps:
        raise ValueError(f"step_keys has {len(step_keys)} keys for {config.steps} steps")
    compiled, compile_s, reused = compile_step(loss_fn, params, data, key=key, config=config,
                                               cache_key=cache_key, step_keys=step_keys, mesh=mesh)  # fmt: skip
    memory_bytes = compiled_memory(compiled)[0]
    arrays = None if callable(data) else data
    mesh = resolve_mesh(config.devices, mesh)
    n_seq = None if arrays is None else batch_size_of(arrays)
    trainable, opt_state, k_steps, arrays = place_args(
        mesh, n_seq, (trainable, opt_state, k_steps, arrays)
    )

    log: list[dict[str, float]] = []
    evals: list[dict[str, float]] = []
    step_times: list[float] = []
    best_val, best_step, best_trainable = -math.inf, None, trainable
    bad_run, skipped, evals_since_best = 0, 0, 0
    diverged, diverged_step, stopped_early = False, None, False
    wall = 0.0
    bar = ProgressBar(config.steps) if config.progress else None

    target_step, time_to_target = None, math.nan

    def evaluate(step_idx: int) -> bool:
        """Run eval_fn; return True when early stopping triggers (patience or target)."""
        nonlocal best_val, best_step, best_trainable, evals_since_best, target_step, time_to_target
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
        if config.target is not None and math.isfinite(val) and val >= config.target:
            target_step, time_to_target = step_idx, wall
            return True
        return config.patience is not None and evals_since_best >= config.patience

    done_at_start = evaluate(0) and target_step is not None  # the initial point already meets it
    steps_done = 0
    cpu0 = time.process_time()
    for i in range(0 if done_at_start else config.steps):
        t = time.perf_counter()
        trainable, opt_state, loss, aux, finite = compiled(
            trainable, opt_state, jnp.asarray(i, jnp.int32), k_steps, arrays
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
        if config.max_cpu_s is not None and time.process_time() - cpu0 > config.max_cpu_s:
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
        target_step=target_step,
        time_to_target_s=time_to_target,
    )
