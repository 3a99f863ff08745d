"""One cell of the zoo accuracy benchmark: a layer, a task, a budget, a seed.

The protocol (issue #24), enforced here rather than in a README:

- every layer sits in the same ``Deep`` stack (encoder, ``depth`` pre-norm residual blocks with
  the same GLU MLP, final norm, decoder) at the same depth;
- the layer's width (``"iso-param"``) or state knob (``"iso-state"``) is fitted to the reference
  model (:func:`~experiments.zoo_bench.budget.fit_budget`); a layer that cannot come within 10%
  is refused before any training, and both counts are recorded;
- every (learning rate, weight decay) of the declared grid is trained with the same steps,
  warmup + cosine schedule, global-norm clipping and AdamW, through :func:`ssmbench.train.train`;
  the setting is selected on *validation* accuracy only, and the test accuracy of that setting
  is reported (never used to select);
- synthetic tasks draw a fresh training batch each step and fixed validation and test sets from
  separate keys; real data sets use their published test split and a validation set carved from
  the training split.
"""

from __future__ import annotations

from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp
import optax

from ssmbench.models import ChimeraStack, Deep
from ssmbench.tasks.classification import SEQUENCE_DATASETS, load_sequence_dataset
from ssmbench.tasks.mad import TOKEN_TASKS, check_task_params, make_batch
from ssmbench.train import TrainConfig, train

from .budget import VARIATE_LAYERS, fit_budget, resolve_layer

__all__ = ["zoo_benchmark", "build_model", "TASKS"]

#: Every task name the benchmark takes: the synthetic token tasks and the real data sets.
TASKS = (*TOKEN_TASKS, *SEQUENCE_DATASETS)


def build_model(layer: str, d_in: int, d_model: int, d_out: int, depth: int, *,
                state: int | None = None, key: jax.Array) -> Deep | ChimeraStack:  # fmt: skip
    """The benchmark's stack for ``layer`` (a benchmark name or a dotted path): the same GLU
    block for every layer; ``state`` sets ``d_state`` (``hidden`` for the LinearCDE).
    ``"ssm2d"`` is a :class:`~ssmbench.models.ChimeraStack` over ``d_in`` variates, with the
    same pre-norm GLU residual blocks, averaged over the variates before the decoder."""
    zoo, kw = resolve_layer(layer)
    if state is not None:
        kw["hidden" if zoo == "lcde" else "d_state"] = state
    if zoo == "ssm2d":
        return ChimeraStack(d_in, d_out, d_model, depth=depth, key=key, **kw)
    return Deep(zoo, d_in, d_model, d_out, depth, mlp="glu", layer_kwargs=kw, key=key)


def _token_data(task: str, params: dict, key: jax.Array, n_val: int, n_test: int, batch: int):
    """(train draw function, val set, test set, vocab) of a synthetic token task."""
    check_task_params(task, **params)
    k_val, k_test = jax.random.split(key)
    val = make_batch(task, k_val, n_val, **params)
    test = make_batch(task, k_test, n_test, **params)
    vocab = int(TOKEN_TASKS[task].defaults.get("vocab_size", 0))
    vocab = int(params.get("vocab_size", vocab))

    def draw(k):
        b = make_batch(task, k, batch, **params)
        return b.inputs, b.targets, b.mask

    as_sets = lambda b: (b.inputs, b.targets, b.mask)  # noqa: E731
    return draw, as_sets(val), as_sets(test), vocab


def _token_loss(vocab: int):
    """Masked cross-entropy and accuracy of a token model on (inputs, targets, mask)."""

    def logits(model, inputs):
        x = jax.nn.one_hot(inputs, vocab, dtype=jnp.float32)
        return jax.vmap(model)(x)

    def loss(model, batch):
        inputs, targets, mask = batch
        ce = optax.softmax_cross_entropy_with_integer_labels(logits(model, inputs), targets)
        w = mask.astype(jnp.float32)
        return jnp.sum(ce * w) / jnp.maximum(jnp.sum(w), 1.0)

    def accuracy(model, batch):
        inputs, targets, mask = batch
        pred = jnp.argmax(logits(model, inputs), -1).astype(targets.dtype)
        hit = ((pred == targets) & mask).astype(jnp.float32)
        return jnp.sum(hit) / jnp.maximum(jnp.sum(mask.astype(jnp.float32)), 1.0)

    return loss, accuracy


def _class_loss():
    """Cross-entropy and accuracy of a sequence classifier on (x, y, lengths): the per-step
    logits averaged over each sequence's valid steps (causal, so padding cannot leak back)."""

    def logits(model, x, lengths):
        per_step = jax.vmap(model)(x)  # (B, L, K)
        steps = jnp.arange(x.shape[1], dtype=lengths.dtype)
        valid = (steps[None, :] < lengths[:, None]).astype(per_step.dtype)
        return jnp.sum(per_step * valid[..., None], 1) / jnp.sum(valid, 1)[:, None]

    def loss(model, batch):
        x, y, lengths = batch
        return jnp.mean(
            optax.softmax_cross_entropy_with_integer_labels(logits(model, x, lengths), y)
        )

    def accuracy(model, batch):
        x, y, lengths = batch
        pred = jnp.argmax(logits(model, x, lengths), -1).astype(y.dtype)
        return jnp.mean((pred == y).astype(jnp.float32))

    return loss, accuracy


def _in_chunks(fn, model, data, chunk: int = 256) -> float:
    """The mean of ``fn(model, part)`` over equal-weight chunks of ``data`` (bounded memory)."""
    n = data[0].shape[0]
    vals, sizes = [], []
    for i in range(0, n, chunk):
        part = tuple(a[i : i + chunk] for a in data)
        vals.append(float(eqx.filter_jit(fn)(model, part)))
        sizes.append(part[0].shape[0])
    return sum(v * s for v, s in zip(vals, sizes)) / n


def zoo_benchmark(
    *,
    seed: int,
    quick: bool = False,
    task: str = "mqar",
    task_params: dict | None = None,
    layer: str = "s4d",
    budget: str = "iso-param",
    reference_layer: str = "s4d",
    width: int = 32,
    depth: int = 2,
    steps: int = 1000,
    batch: int = 32,
    warmup_frac: float = 0.1,
    grad_clip: float = 1.0,
    lrs: list[float] = [1e-3, 3e-3],  # noqa: B006 - read-only suite default
    weight_decays: list[float] = [0.0, 0.1],  # noqa: B006
    n_val: int = 256,
    n_test: int = 512,
    val_fraction: float = 0.2,
) -> list[dict[str, Any]]:
    """Train ``layer`` on ``task`` under ``budget``; select (lr, wd) on validation.

    ``task``: a synthetic token task (:data:`ssmbench.tasks.mad.TOKEN_TASKS`, parameters in
    ``task_params``) or a real data set (:data:`ssmbench.tasks.classification.SEQUENCE_DATASETS`).
    ``width``: the reference model's width (``reference_layer`` at ``width``, ``depth`` blocks).

    Rows: ``test_acc`` and ``val_acc`` of the selected setting, ``n_params``, ``state_size``,
    ``ref_n_params``, ``ref_state_size``, ``budget_gap``, ``d_model``, ``train_s`` (training wall
    time summed over the grid, compile excluded), ``steps``, and per grid setting ``val_acc_hp``
    (columns ``lr``, ``wd``: the selection's evidence). Columns on every row: ``difficulty`` (the
    token task's difficulty parameter value; NaN for real data). ``quick`` is applied by the
    suite's ``quick_params``.
    """
    del quick
    params = dict(task_params or {})
    key = jax.random.PRNGKey(seed)
    k_data, k_model, k_train = jax.random.split(key, 3)
    if task in TOKEN_TASKS:
        draw, val, test, vocab = _token_data(task, params, k_data, n_val, n_test, batch)
        d_in = d_out = vocab
        loss_of, acc_of = _token_loss(vocab)
        data, batch_size = draw, None
        diff_name = TOKEN_TASKS[task].difficulty
        difficulty = float(params.get(diff_name, TOKEN_TASKS[task].defaults[diff_name]))
    elif task in SEQUENCE_DATASETS:
        if params:
            raise ValueError(f"task_params apply to the synthetic tasks, not {task!r}")
        ds = load_sequence_dataset(task, seed=seed, val_fraction=val_fraction)
        d_in, d_out = ds.n_channels, ds.n_classes
        loss_of, acc_of = _class_loss()
        as_j = lambda x, y, n: (jnp.asarray(x), jnp.asarray(y), jnp.asarray(n))  # noqa: E731
        data = as_j(ds.x_train, ds.y_train, ds.lengths_train)
        val = as_j(ds.x_val, ds.y_val, ds.lengths_val)
        test = as_j(ds.x_test, ds.y_test, ds.lengths_test)
        batch_size = min(batch, ds.x_train.shape[0])
        difficulty = float("nan")
    else:
        raise ValueError(f"unknown task {task!r}; known: {sorted(TASKS)}")

    if layer in VARIATE_LAYERS and (task not in SEQUENCE_DATASETS or d_in < 2):
        raise ValueError(
            f"layer {layer!r} reads a multivariate series as a (time, variates) grid: it takes "
            f"the real data sets with >= 2 channels (JapaneseVowels, BasicMotions), not {task!r}"
        )

    def build(*, layer, d_model, state):
        return build_model(layer, d_in, d_model, d_out, depth, state=state, key=k_model)

    fit = fit_budget(budget, build, layer, reference_layer, width)  # refuses before training
    model0 = jax.tree_util.tree_map(
        lambda a: a.astype(jnp.float32) if eqx.is_inexact_array(a) else a,
        build(layer=layer, d_model=fit["d_model"], state=fit["state"]),
    )
    warmup = int(round(warmup_frac * steps))
    best, rows, train_s, diverged = None, [], 0.0, 0.0
    for lr in lrs:
        for wd in weight_decays:
            config = TrainConfig(steps=steps, learning_rate=lr, optimizer="adamw",
                                 weight_decay=wd, grad_clip=grad_clip, batch_size=batch_size,
                                 schedule="warmup_cosine", warmup_steps=warmup,
                                 eval_every=steps + 1, patience=None)  # fmt: skip
            res = train(lambda m, _k, b: (loss_of(m, b), {}), model0, data, key=k_train,
                        config=config)  # fmt: skip
            train_s += res.train_wall_s
            diverged = max(diverged, float(res.diverged))
            final = res.final_params
            v = _in_chunks(acc_of, final, val)
            rows.append({"metric": "val_acc_hp", "value": v, "lr": lr, "wd": wd})
            if best is None or v > best[0]:
                best = (v, final, lr, wd, res.steps_done)
    v, final, lr, wd, done = best
    out = [
        {"metric": "val_acc", "value": v},
        {"metric": "test_acc", "value": _in_chunks(acc_of, final, test)},
        {"metric": "train_s", "value": train_s},
        {"metric": "steps", "value": float(done)},
        {"metric": "diverged_any", "value": diverged},
        {"metric": "selected_lr", "value": lr},
        {"metric": "selected_wd", "value": wd},
        *({"metric": k, "value": float(fit[k])} for k in
          ("n_params", "state_size", "ref_n_params", "ref_state_size", "budget_gap", "d_model")),
    ]  # fmt: skip
    for r in out + rows:
        r.setdefault("lr", float("nan"))
        r.setdefault("wd", float("nan"))
        r["difficulty"] = difficulty
    return out + rows
