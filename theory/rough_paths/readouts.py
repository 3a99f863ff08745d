"""Readouts of the rough-path check: the R² metric, a ridge readout on random features, and
end-to-end training (through ``ssmbench.train.fit``)."""

from __future__ import annotations

import functools
from collections.abc import Sequence

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import optax
from jaxtyping import Array, Float, PRNGKeyArray

from ssmbench.train import fit


def r2_score(y_true: Float[Array, " n"], y_pred: Float[Array, " n"]) -> float:
    """Coefficient of determination 1 − Σ(y − ŷ)² / Σ(y − ȳ)² on held-out data (can be < 0)."""
    yt = np.asarray(y_true, dtype=np.float64)
    yp = np.asarray(y_pred, dtype=np.float64)
    if yt.shape != yp.shape or yt.ndim != 1:
        raise ValueError(f"y_true and y_pred must be equal 1-D shapes, got {yt.shape}, {yp.shape}")
    ss_tot = float(np.sum((yt - yt.mean()) ** 2))
    if ss_tot == 0.0:
        raise ValueError("y_true is constant: R² is undefined")
    return 1.0 - float(np.sum((yt - yp) ** 2)) / ss_tot


DEFAULT_LAMBDAS = tuple(10.0**k for k in range(-10, 3))


def ridge_fit_predict(
    f_train: Float[Array, "n_train f"],
    y_train: Float[Array, " n_train"],
    f_test: Float[Array, "n_test f"],
    *,
    lambdas: Sequence[float] = DEFAULT_LAMBDAS,
    val_frac: float = 0.2,
) -> tuple[np.ndarray, float]:
    """Ridge regression readout with the penalty chosen on a validation split of the training set.

    Features are standardised with training statistics and an intercept is fitted. Penalties are
    relative to the mean eigenvalue of the Gram matrix (λ·tr(ZᵀZ)/f), so the grid is scale free.
    The last ``val_frac`` of the training rows is held out to choose λ; the final fit uses all
    training rows. Solved in float64 (a scoped ``jax.enable_x64``) by Cholesky on the Gram
    matrix, one solve per λ; this avoids LAPACK SVDs, which are slow on an oversubscribed CPU.
    Returns (test predictions as float64 numpy, chosen λ).
    """
    ftr = np.asarray(f_train, dtype=np.float64)
    fte = np.asarray(f_test, dtype=np.float64)
    ytr = np.asarray(y_train, dtype=np.float64)
    if ftr.ndim != 2 or fte.ndim != 2 or ftr.shape[1] != fte.shape[1]:
        raise ValueError(f"features must be (n, f) with equal f, got {ftr.shape}, {fte.shape}")
    if ytr.shape != (ftr.shape[0],):
        raise ValueError(f"y_train must have shape ({ftr.shape[0]},), got {ytr.shape}")
    if not (np.all(np.isfinite(ftr)) and np.all(np.isfinite(fte))):
        raise FloatingPointError("non-finite features")
    # Pad the feature count to a multiple of 128 with zero columns (their weights are exactly 0:
    # standardisation leaves them 0 and the penalty makes the Gram matrix definite), so all
    # widths up to 128 share one compiled solve.
    pad = (-ftr.shape[1]) % 128
    if pad:
        ftr = np.pad(ftr, ((0, 0), (0, pad)))
        fte = np.pad(fte, ((0, 0), (0, pad)))
    n_val = max(1, int(round(val_frac * ftr.shape[0])))
    n_fit = ftr.shape[0] - n_val
    with jax.enable_x64(True):
        lams = jnp.asarray(lambdas, dtype=jnp.float64)
        pv = _ridge_solve(
            jnp.asarray(ftr[:n_fit]), jnp.asarray(ytr[:n_fit]), lams, jnp.asarray(ftr[n_fit:])
        )
        errs = np.mean((np.asarray(pv) - ytr[None, n_fit:]) ** 2, axis=1)
        errs = np.where(np.isfinite(errs), errs, np.inf)
        best = float(lambdas[int(np.argmin(errs))])
        pred = _ridge_solve(
            jnp.asarray(ftr), jnp.asarray(ytr), jnp.asarray([best]), jnp.asarray(fte)
        )
        return np.asarray(pred[0]), best


@jax.jit
def _ridge_solve(f: Array, y: Array, lams: Array, g: Array) -> Array:
    """Predictions on ``g`` of ridge fits on (f, y), one row per penalty in ``lams``."""
    mu, sd = f.mean(0), f.std(0)
    active = sd > 0
    sd = jnp.where(active, sd, 1.0)
    z = (f - mu[None, :]) / sd[None, :]
    ym = y.mean()
    # constant (e.g. zero-padded) columns: z = 0 there, so a unit diagonal keeps the system
    # definite and their weights exactly 0; the penalty scale counts active columns only.
    gram = z.T @ z + jnp.diag(jnp.where(active, 0.0, 1.0))
    rhs = z.T @ (y - ym)
    n_active = jnp.maximum(jnp.sum(active), 1).astype(gram.dtype)
    scale = jnp.trace(gram * active[:, None].astype(gram.dtype)) / n_active
    eye = jnp.diag(active.astype(gram.dtype))

    def one(lam):
        """Predictions on ``g`` of the fit with penalty ``lam``."""
        w = jax.scipy.linalg.solve(gram + lam * scale * eye, rhs, assume_a="pos")
        return ((g - mu[None, :]) / sd[None, :]) @ w + ym

    return jax.vmap(one)(lams)


def train_e2e(
    model: eqx.Module,
    x_train: Float[Array, "n length dim"],
    y_train: Float[Array, " n"],
    *,
    key: PRNGKeyArray,
    steps: int = 1000,
    lr: float = 1e-3,
    batch: int = 64,
    weight_decay: float = 0.0,
    warmup_steps: int = 0,
) -> tuple[eqx.Module, float]:
    """Train ``model`` (an unbatched map path -> scalar) by Adam(W) on the mean squared error.

    Targets are standardised with training statistics inside the loss and the returned model
    includes the de-standardisation, so ``model(x)`` predicts y directly. Uses a cosine learning
    rate decay to 0 (after a linear warmup from 0 over ``warmup_steps`` steps when that is > 0:
    the schedule of :class:`ssmbench.train.TrainConfig`'s ``"warmup_cosine"``) and clips
    gradients at global norm 1. Returns (trained model, final train loss);
    a non-finite loss propagates to the result (the caller marks the cell diverged).
    """
    if x_train.ndim != 3 or y_train.shape != (x_train.shape[0],):
        raise ValueError(
            f"x_train must be (n, length, dim) and y_train (n,), got {x_train.shape}, {y_train.shape}"
        )
    if not 0 <= warmup_steps < max(steps, 1):
        raise ValueError(
            f"warmup_steps must be in [0, steps), got {warmup_steps} for {steps} steps"
        )
    mu = jnp.mean(y_train)
    sd = jnp.std(y_train) + jnp.finfo(y_train.dtype).tiny
    yz = (y_train - mu) / sd
    run = _e2e_trainer(steps, float(lr), int(batch), float(weight_decay), int(warmup_steps))
    result = run(model, jax.random.split(key, steps), x_train, yz)
    losses = np.asarray(result.losses)
    final = float(np.mean(losses[-min(20, losses.size) :]))
    return _Destandardized(result.params, mu, sd), final


def e2e_schedule(steps: int, lr: float, warmup_steps: int = 0) -> optax.Schedule:
    """The learning rate of :func:`train_e2e` by step: a cosine decay from ``lr`` to 0 over
    ``steps``, after a linear warmup from 0 over ``warmup_steps`` when that is > 0 (then the same
    as :func:`ssmbench.train.learning_rate_at` for ``schedule="warmup_cosine"``)."""
    if warmup_steps > 0:
        return optax.warmup_cosine_decay_schedule(0.0, lr, warmup_steps, steps, end_value=0.0)
    return optax.cosine_decay_schedule(lr, steps)


# The cache of compiled end-to-end trainers, defined here: one jitted ``run`` per
# hyper-parameters (steps, lr, batch, weight decay), so that repeated trainings (seeds, words)
# reuse one compilation per model structure. Data are arguments, not closed-over constants. It
# never changes a result: a hit returns the very function a miss would build.
@functools.cache
def _e2e_trainer(steps: int, lr: float, batch: int, weight_decay: float, warmup_steps: int = 0):
    """A jitted ``run(model, keys, x, yz) -> FitResult``: one :func:`ssmbench.train.fit` over all
    steps, Adam(W) with a cosine decay (after a linear warmup if ``warmup_steps > 0``) after
    clipping at global norm 1, each step on a minibatch of ``batch`` rows drawn with replacement
    from the step's key (cached, see above)."""
    opt = optax.chain(
        optax.clip_by_global_norm(1.0),
        optax.adamw(e2e_schedule(steps, lr, warmup_steps), weight_decay=weight_decay),
    )

    @eqx.filter_jit
    def run(model, keys, x, yz):
        """Train ``model`` on (x, yz) with one PRNG key per step."""
        n = x.shape[0]

        def loss_fn(m, k):
            """Mean squared error on the minibatch the step's key draws."""
            idx = jax.random.randint(k, (min(batch, n),), 0, n)
            return jnp.mean((jax.vmap(m)(x[idx]) - yz[idx]) ** 2)

        return fit(loss_fn, model, opt, xs=keys)

    return run


class _Destandardized(eqx.Module):
    """A trained model on standardized targets, mapped back: ``inner(x) * sd + mu``."""

    inner: eqx.Module
    mu: Array
    sd: Array

    def __call__(self, x: Array) -> Array:
        """The prediction of ``inner`` on the targets' original scale."""
        return self.inner(x) * self.sd + self.mu
