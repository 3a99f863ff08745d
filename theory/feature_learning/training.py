"""Training of the feature-learning network through ``ssmbench.train``: one probed step (the
coordinate check), a scanned fit (the learning-rate transfer), and the log-log slope fit."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import optax
from jaxtyping import Array, Float, Int

from ssmbench.train import apply_step, fit

from .network import SSMNet, init_net, lr_tree


def _loss(net: SSMNet, seqs: Int[Array, "B L1"], euler) -> Float[Array, ""]:
    """Mean next-token cross-entropy of ``net`` on ``seqs`` (batch, L+1)."""
    logits = jax.vmap(lambda s: net(s[:-1], euler)[0])(seqs)
    return jnp.mean(optax.softmax_cross_entropy_with_integer_labels(logits, seqs[:, 1:]))


# eps far below the smallest gradient entries at the largest width, so Adam stays scale-free (a
# width-independent eps that is not negligible would itself break the width scaling).
_ADAM = optax.adam(1.0, eps=1e-15)


def _opt_init(net: SSMNet):
    """The Adam state of ``net`` (the state of :func:`per_tensor_optimizer` too)."""
    return _ADAM.init(eqx.filter(net, eqx.is_array))


def _check_opt(optimizer: str) -> None:
    """Raise ValueError unless ``optimizer`` is "adam" or "sgd"."""
    if optimizer not in ("adam", "sgd"):
        raise ValueError(f"optimizer must be 'adam' or 'sgd', got {optimizer!r}")


def per_tensor_optimizer(lrs: SSMNet, eta, use_adam) -> optax.GradientTransformation:
    """Adam (``use_adam`` True) or plain SGD with per-tensor learning rates ``eta * lrs``.

    ``lrs`` is shaped like the network (see :func:`lr_tree`). ``use_adam`` and ``eta`` may be
    traced, so one compiled program serves both optimizers and every base LR: the Adam moments
    are updated in both cases (SGD ignores them)."""

    def update(grads, state, params=None):
        """Adam's update or ``-grads``, times ``eta`` times the tensor's multiplier."""
        adam_updates, state = _ADAM.update(grads, state, params)
        updates = jax.tree_util.tree_map(
            lambda a, g, m: jnp.where(use_adam, a, -g) * (eta * m), adam_updates, grads, lrs
        )
        return updates, state

    return optax.GradientTransformation(_ADAM.init, update)


@eqx.filter_jit
def _probe_and_step(net, opt_state, seqs, probe, lrs, eta, use_adam, euler):
    """States of ``net`` on ``probe``, then one step (:func:`ssmbench.train.apply_step`) of
    :func:`per_tensor_optimizer` on ``seqs``.

    ``use_adam`` and ``euler`` are traced, so one compiled program per width serves all four
    (optimizer, discretization) pairs."""
    _, xs, ys, yss = jax.vmap(net.states, in_axes=(0, None))(probe, euler)
    states = tuple(jnp.moveaxis(a, 1, 0) for a in (xs, ys, yss))  # layer axis first
    trainable, static = eqx.partition(net, eqx.is_inexact_array)
    trainable, opt_state, loss, _, _ = apply_step(
        lambda m: _loss(m, seqs, euler),
        per_tensor_optimizer(lrs, eta, use_adam),
        trainable,
        static,
        opt_state,
    )
    return eqx.combine(trainable, static), opt_state, loss, states


@jax.jit
def _rms_all(states, states0):
    """Per-layer sizes of x, y, Δx, Δy, y_ssm, Δy_ssm (arrays with a leading layer axis). A state
    (x, Δx: last axis the N_x state coordinates) is measured by the RMS over (batch, time,
    channel) of its L2 norm over the state axis, an output by its RMS over every coordinate."""

    def rms(a):
        """RMS over every axis but the leading (layer) one."""
        return jnp.sqrt(jnp.mean(jnp.square(a), axis=tuple(range(1, a.ndim))))

    def state_norm(a):
        """RMS over every axis but the layer and state axes of the L2 norm over the state axis."""
        return jnp.sqrt(jnp.mean(jnp.sum(jnp.square(a), axis=-1), axis=tuple(range(1, a.ndim - 1))))

    (x, y, ys), (x0, y0, ys0) = states, states0
    return jnp.stack(
        [state_norm(x), rms(y), state_norm(x - x0), rms(y - y0), rms(ys), rms(ys - ys0)]
    )


def fit_slope(widths: Sequence[float], values: Sequence[float]) -> float:
    """Least-squares slope of log(values) against log(widths). NaN if any value is not > 0 or
    not finite (a diverged or vanished measurement cannot be fitted)."""
    w = np.asarray(widths, dtype=float)
    v = np.asarray(values, dtype=float)
    if w.shape != v.shape or w.ndim != 1 or w.size < 2:
        raise ValueError(f"need two 1-D sequences of equal length >= 2, got {w.shape}, {v.shape}")
    if not (np.all(np.isfinite(v)) and np.all(v > 0) and np.all(w > 0)):
        return float("nan")
    return float(np.polyfit(np.log(w), np.log(v), 1)[0])


def _setup_training(parameterization, n_u, n_x, key, probe, optimizer, discretization, eta, vocab):
    """Shared by the coordinate check and the B-path split: the initial net, the optimizer state,
    the probe inputs and the trailing arguments of :func:`_probe_and_step` (lrs, eta, use_adam,
    euler)."""
    _check_opt(optimizer)
    if discretization not in ("zoh", "euler"):
        raise ValueError(f"discretization must be 'zoh' or 'euler', got {discretization!r}")
    net = init_net(parameterization, n_u, n_x, key=key, vocab=vocab, discretization=discretization)
    lrs = lr_tree(net, parameterization, optimizer, n_u, n_x, discretization)
    use_adam, euler = jnp.asarray(optimizer == "adam"), jnp.asarray(discretization == "euler")
    args = (lrs, jnp.asarray(eta, jnp.float32), use_adam, euler)
    return net, _opt_init(net), jnp.asarray(probe[:, :-1]), args


LOSS_CAP = 10.0  # losses above this (and NaN) count as diverged; log(32) = 3.47 is the uniform loss


@eqx.filter_jit
def _train_final_loss(net, lrs, eta, data, eval_seqs, use_adam, euler):
    """Train ``net`` for len(data) steps (one :func:`ssmbench.train.fit`) at base LR ``eta``;
    return the final eval loss. ``eta`` is traced: one compiled program per width serves the whole
    LR grid."""
    opt = per_tensor_optimizer(lrs, eta, use_adam)
    final = fit(lambda m, seqs: _loss(m, seqs, euler), net, opt, xs=data).params
    return _loss(final, eval_seqs, euler)


def lr_transfer(
    parameterization: str,
    n_u: int,
    n_x: int,
    *,
    key: Array,
    data: np.ndarray,
    eval_seqs: np.ndarray,
    etas: Sequence[float],
    optimizer: Literal["adam", "sgd"] = "adam",
    discretization: Literal["zoh", "euler"] = "zoh",
    vocab: int = 32,
) -> np.ndarray:
    """Final eval loss after training on ``data`` (steps, batch, L+1) for each base LR in ``etas``.
    Diverged runs (NaN, or loss above 10) are returned as NaN."""
    _check_opt(optimizer)
    net = init_net(parameterization, n_u, n_x, key=key, vocab=vocab, discretization=discretization)
    lrs = lr_tree(net, parameterization, optimizer, n_u, n_x, discretization)
    args = (
        jnp.asarray(data),
        jnp.asarray(eval_seqs),
        jnp.asarray(optimizer == "adam"),
        jnp.asarray(discretization == "euler"),
    )
    losses = np.array([float(_train_final_loss(net, lrs, jnp.float32(eta), *args)) for eta in etas])
    return np.where(np.isfinite(losses) & (losses <= LOSS_CAP), losses, np.nan)
