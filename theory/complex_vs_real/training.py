"""Trained fits (Adam + cosine schedule) of the zoo's diagonal SISO SSM, through ``ssmbench.train.fit``.

:func:`zoo_siso` adapts :class:`ssmbench.models.diagonal.DiagonalSISO` (the paper's
parameterization); :func:`_train_batch` trains a batch of initializations at every learning rate
of a grid in one vmapped, jitted program; :func:`summarize_fits` keeps the best and worst runs.
"""

from __future__ import annotations

import functools

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import optax

from ssmbench.models.diagonal import DiagonalSISO
from ssmbench.train import fit


def _relative_error(h, phi):
    """Relative l2 error ``||h - phi|| / ||phi||``."""
    return jnp.sqrt(jnp.sum((h - phi) ** 2) / jnp.sum(phi**2))


def _train_batch(models, lrs, phi, steps: int, impulse_fn, coef_fn, trainable):
    """Train every (init, lr) pair: ``models`` batched over inits, ``lrs`` a vector.

    Each run is ``steps`` Adam steps with a cosine schedule through :func:`ssmbench.train.fit`,
    on the leaves ``trainable(model)`` selects. Returns ``(error, sum_abs_c, max_abs_c)`` arrays
    of shape (inits, lrs); the error is the relative l2 error of the final parameters (the cosine
    schedule ends at lr 0).
    """
    t = phi.shape[0]

    def one(model, lr):
        """One (init, lr) run: the final error and ``sum |c|``, ``max |c|`` of the fit."""
        opt = optax.adam(optax.cosine_decay_schedule(lr, steps))

        def loss(m, _):
            """Squared relative error of the impulse response (no per-step input)."""
            h = impulse_fn(m, t)
            return jnp.sum((h - phi) ** 2) / jnp.sum(phi**2)

        final = fit(loss, model, opt, steps=steps, filter_spec=trainable(model)).params
        c = coef_fn(final)
        err = _relative_error(impulse_fn(final, t), phi)
        return err, jnp.sum(jnp.abs(c)), jnp.max(jnp.abs(c))

    per_lr = jax.vmap(one, in_axes=(None, 0))
    return eqx.filter_vmap(per_lr, in_axes=(eqx.if_array(0), None))(models, lrs)


def summarize_fits(err, sum_abs, max_abs, lrs) -> dict[str, float]:
    """Best over (init, lr): error and magnitudes at that fit; worst init (best lr per init).

    Non-finite errors (diverged runs) are skipped; if every run diverged the error is inf
    (the runner then records the cell as diverged).
    """
    err = np.asarray(err, np.float64)
    bad = ~np.isfinite(err)
    e = np.where(bad, np.inf, err)
    i, j = np.unravel_index(np.argmin(e), e.shape)
    per_init = e.min(axis=1)
    return {
        "error": float(e[i, j]),
        "error_worst_init": float(per_init.max()),
        "sum_abs_c": float(np.asarray(sum_abs)[i, j]),
        "max_abs_c": float(np.asarray(max_abs)[i, j]),
        "best_lr": float(lrs[j]),
        "diverged_runs": float(bad.sum()),
    }


# The cache of compiled trainers, defined here: one jitted :func:`_train_batch` per (model
# adapter, steps), so that every cell of a process reuses its compilation. It never changes a
# result: a hit returns the same function a miss would build.
@functools.lru_cache(maxsize=32)
def _jitted_trainer(impulse_fn, coef_fn, trainable, steps: int):
    """``_train_batch`` jitted for one model adapter and number of steps (cached, see above)."""
    return eqx.filter_jit(
        functools.partial(
            _train_batch, steps=steps, impulse_fn=impulse_fn, coef_fn=coef_fn, trainable=trainable
        )
    )


def _pad_model(small, big):
    """``small`` (n modes) padded to the structure of ``big`` (m >= n modes) with zeros.

    Every array leaf of the diagonal SISO SSM has the mode axis first; the padded modes get
    ``B = C = 0`` (so ``c = 0``), which keeps them out of the impulse response and gives them
    zero gradients.
    """
    leaves, _ = jax.tree_util.tree_flatten(small)
    big_leaves, treedef = jax.tree_util.tree_flatten(big)
    padded = []
    for a, b in zip(leaves, big_leaves):
        if a.shape[1:] != b.shape[1:] or a.shape[0] > b.shape[0]:
            raise ValueError(f"cannot pad a leaf of shape {a.shape} to {b.shape}")
        pad = [(0, b.shape[0] - a.shape[0])] + [(0, 0)] * (a.ndim - 1)
        padded.append(jnp.pad(a, pad))
    return jax.tree_util.tree_unflatten(treedef, padded)


def _stack_models(models):
    """Stack equal-structure models along a new leading (batch) axis."""
    return jax.tree_util.tree_map(lambda *xs: jnp.stack(xs), *models)


def _siso_impulse(model, t: int):
    """The first ``t`` samples of the model's impulse response."""
    return model.impulse_response(t)


def _siso_coef(model):
    """The coefficients ``c_j = B_j C_j`` of the model."""
    return model.coefficients()


def _siso_trainable(model):
    """Every inexact array except the fixed signs of the real field (the paper's angle in {0, pi})."""

    spec = jax.tree_util.tree_map(eqx.is_inexact_array, model)
    if getattr(model, "sign", None) is not None:
        spec = eqx.tree_at(lambda m: m.sign, spec, False)
    return spec


def zoo_siso(field: str, *, bc_std: float, dtype: str):
    """Adapter to the zoo's :class:`ssmbench.models.diagonal.DiagonalSISO` (paper parameterization).

    Returns ``(make_model(n, key), impulse_fn(model, t), coef_fn(model), trainable(model))``:
    ``coef_fn`` gives ``c_j = B_j C_j`` and ``trainable`` the equinox filter of trained leaves.
    The model's arrays are cast to ``dtype`` (the trained fits run in that precision).
    """
    return _siso_maker(field, bc_std, dtype), _siso_impulse, _siso_coef, _siso_trainable


@functools.lru_cache(maxsize=16)
def _siso_maker(field: str, bc_std: float, dtype: str):
    """``make_model(n, key)`` for one (field, bc_std, dtype); cached so that jit caches hit.

    The cache, defined here, keeps one function object per settings so that the jitted trainers
    keyed on it are reused; it never changes a result."""
    jdtype = jnp.float32 if dtype == "float32" else jnp.float64

    def make_model(n: int, key):
        """A model with ``n`` modes from ``key``, its arrays cast to ``dtype``."""
        model = DiagonalSISO(n, field=field, bc_std=bc_std, key=key)
        return jax.tree_util.tree_map(
            lambda x: x.astype(jdtype) if eqx.is_inexact_array(x) else x, model
        )

    return make_model
