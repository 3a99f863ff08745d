"""A conditional masked autoregressive flow q_phi(y | context), fitted through ``ssmbench.train``.

T-SNL fits q_phi(y_t | h_t, theta) on its training rows (context = theta and the flattened window
``h_t``); SNL fits q_phi(y_{1:T} | theta) on whole flattened series (context = theta). Both use
one :class:`ConditionalFlow`: a flowjax MAF (``masked_autoregressive_flow`` with ``cond_dim``)
over standardised targets and contexts, the standardisation statistics (the training rows'
mean and sd) stored next to it, and :meth:`ConditionalFlow.log_prob` in the original units
(the log-Jacobian of the standardisation added back).

:func:`fit_conditional_flow` fits by maximum likelihood with the project's one training loop
:func:`ssmbench.train.train`: a random validation split, minibatches of ``batch_size`` rows and
early stopping on the validation mean log-likelihood. Only the flow's trainable leaves are handed
to the loop; flowjax's ``paramax.NonTrainable`` leaves (the MADE masks) and the statistics are
closed over, so neither the gradient nor AdamW's weight decay touches them.

Two compatibility shims for flowjax 18 under jax 0.10 (module-level, idempotent): flowjax checks
its inputs with ``isinstance(x, jax.typing.ArrayLike)``, a ``typing.Union`` that no longer
matches jax tracers, so every flowjax call under ``jit``/``vmap`` raised a TypeError; its
``ArrayLike`` is widened to a tuple containing ``jax.Array`` (whose ``isinstance`` does accept
tracers). And flowjax builds its masks with implicit rank promotion, so the construction runs
under ``jax.numpy_rank_promotion("allow")``.
"""

from __future__ import annotations

import dataclasses
import math

import equinox as eqx
import flowjax.utils
import jax
import jax.numpy as jnp
import numpy as np
import paramax
from flowjax.distributions import Normal
from flowjax.flows import masked_autoregressive_flow
from jaxtyping import Array, Float

from ssmbench.train import TrainConfig, TrainResult, train

__all__ = ["ConditionalFlow", "make_conditional_flow", "fit_conditional_flow", "FLOW_CONFIG"]

# flowjax 18 + jax 0.10: tracers are not instances of the ``ArrayLike`` Union (see module doc).
flowjax.utils.ArrayLike = (jax.Array, np.ndarray, np.bool_, np.number, bool, int, float, complex)

#: The default fitting settings: Adam, minibatches of 256 rows, early stopping on validation.
FLOW_CONFIG = TrainConfig(
    steps=3000, learning_rate=1e-3, optimizer="adam", batch_size=256, eval_every=100, patience=5
)


def _is_frozen(leaf: object) -> bool:
    """flowjax's non-trainable wrapper (the MADE masks)."""
    return isinstance(leaf, paramax.NonTrainable)


class ConditionalFlow(eqx.Module):
    """q(y | context) = MAF(standardised y | standardised context) / prod(y_sd).

    ``flow`` is a flowjax ``Transformed`` distribution of shape ``(y_dim,)`` with condition shape
    ``(cond_dim,)``; ``y_mean, y_sd, c_mean, c_sd`` the standardisation statistics.
    """

    flow: eqx.Module
    y_mean: Float[Array, " dy"]
    y_sd: Float[Array, " dy"]
    c_mean: Float[Array, " dc"]
    c_sd: Float[Array, " dc"]

    @property
    def y_dim(self) -> int:
        """The dimension of the modelled variable."""
        return self.y_mean.shape[0]

    @property
    def cond_dim(self) -> int:
        """The dimension of the context."""
        return self.c_mean.shape[0]

    def _log_prob_one(self, y: Array, context: Array) -> Array:
        """log q(y | context) for one row."""
        z = (y - self.y_mean) / self.y_sd
        c = (context - self.c_mean) / self.c_sd
        return self.flow.log_prob(z, c) - jnp.sum(jnp.log(self.y_sd))  # type: ignore[attr-defined]

    def log_prob(
        self, y: Float[Array, "*n dy"], context: Float[Array, "*n dc"]
    ) -> Float[Array, "*n"]:
        """log q(y | context), for one row (``(d_y,)``, ``(d_c,)``) or a batch of rows."""
        if y.shape[-1:] != (self.y_dim,) or context.shape[-1:] != (self.cond_dim,):
            raise ValueError(
                f"y and context must end in ({self.y_dim},) and ({self.cond_dim},), "
                f"got {y.shape} and {context.shape}"
            )
        if y.ndim == 1:
            return self._log_prob_one(y, context)
        if y.ndim != 2 or context.shape[0] != y.shape[0]:
            raise ValueError(
                f"batched y and context must be (n, .), got {y.shape}, {context.shape}"
            )
        return jax.vmap(self._log_prob_one)(y, context)


def make_conditional_flow(
    key: Array,
    y_dim: int,
    cond_dim: int,
    *,
    flow_layers: int = 5,
    nn_width: int = 32,
    nn_depth: int = 2,
) -> ConditionalFlow:
    """An unfitted :class:`ConditionalFlow` (identity standardisation; ReLU MADEs, the authors'
    activation; their sizes are 5 layers x 32 units)."""
    for name, v in [("y_dim", y_dim), ("cond_dim", cond_dim), ("flow_layers", flow_layers),
                    ("nn_width", nn_width), ("nn_depth", nn_depth)]:  # fmt: skip
        if isinstance(v, bool) or not isinstance(v, int) or v < 1:
            raise ValueError(f"{name} must be a positive integer, got {v!r}")
    dt = jnp.result_type(float)
    with jax.numpy_rank_promotion("allow"):
        flow = masked_autoregressive_flow(
            key, base_dist=Normal(jnp.zeros(y_dim, dt)), cond_dim=cond_dim,
            flow_layers=flow_layers, nn_width=nn_width, nn_depth=nn_depth, nn_activation=jax.nn.relu,
        )  # fmt: skip
    ones_y, ones_c = jnp.ones(y_dim, dt), jnp.ones(cond_dim, dt)
    return ConditionalFlow(flow, 0.0 * ones_y, ones_y, 0.0 * ones_c, ones_c)


def _stats(x: Array) -> tuple[Array, Array]:
    """Column means and sds (sds floored at 1e-8 of the scale, so constant columns stay finite)."""
    m, s = jnp.mean(x, axis=0), jnp.std(x, axis=0)
    return m, jnp.maximum(s, 1e-8 * (1.0 + jnp.abs(m)))


def fit_conditional_flow(
    key: Array,
    y: Float[Array, "n dy"],
    context: Float[Array, "n dc"],
    *,
    val_fraction: float = 0.1,
    config: TrainConfig = FLOW_CONFIG,
    flow_layers: int = 5,
    nn_width: int = 32,
    nn_depth: int = 2,
) -> tuple[ConditionalFlow, TrainResult]:
    """Fit q(y | context) by maximum likelihood on the rows ``(y[i], context[i])``.

    A random ``val_fraction`` of the rows is held out; the rest are standardised with their own
    statistics and fitted with :func:`ssmbench.train.train` (loss: minus the mean
    log-likelihood of a minibatch; early stopping on the validation mean log-likelihood, the
    best parameters kept). ``config.batch_size`` is capped at the number of training rows.
    Returns ``(flow, train_result)``.
    """
    if getattr(y, "ndim", None) != 2 or getattr(context, "ndim", None) != 2:
        raise ValueError(f"y and context must be 2-D arrays (n, .), got {jnp.shape(y)}, "
                         f"{jnp.shape(context)}")  # fmt: skip
    if y.shape[0] != context.shape[0]:
        raise ValueError(
            f"y and context must have the same rows, got {y.shape[0]}, {context.shape[0]}"
        )
    if not 0.0 < val_fraction < 1.0:
        raise ValueError(f"val_fraction must be in (0, 1), got {val_fraction}")
    n = y.shape[0]
    n_val = max(1, int(math.ceil(val_fraction * n)))
    if n - n_val < 2:
        raise ValueError(f"y has {n} rows; at least 2 training rows are needed")
    if not (bool(jnp.all(jnp.isfinite(y))) and bool(jnp.all(jnp.isfinite(context)))):
        raise ValueError("y and context must be finite (drop failed simulations first)")
    k_perm, k_init, k_train = jax.random.split(key, 3)
    perm = jax.random.permutation(k_perm, n)
    tr, va = perm[n_val:], perm[:n_val]
    y_mean, y_sd = _stats(y[tr])
    c_mean, c_sd = _stats(context[tr])
    zy, zc = (y - y_mean[None, :]) / y_sd[None, :], (context - c_mean[None, :]) / c_sd[None, :]
    base = make_conditional_flow(
        k_init, y.shape[1], context.shape[1],
        flow_layers=flow_layers, nn_width=nn_width, nn_depth=nn_depth,
    )  # fmt: skip
    params, static = eqx.partition(base.flow, eqx.is_inexact_array, is_leaf=_is_frozen)

    def mean_log_lik(p, yb, cb):
        """The mean standardised log-likelihood of rows (yb, cb)."""
        flow = eqx.combine(p, static)
        return jnp.mean(jax.vmap(flow.log_prob)(yb, cb))  # type: ignore[attr-defined]

    def loss_fn(p, _key, batch):
        """Minus the mean log-likelihood of a minibatch."""
        ll = mean_log_lik(p, *batch)
        return -ll, {"log_lik": ll}

    val_ll = eqx.filter_jit(mean_log_lik)
    y_va, c_va = zy[va], zc[va]

    def eval_fn(p, _key):
        """The validation mean log-likelihood (higher is better)."""
        return {"val": float(val_ll(p, y_va, c_va))}

    n_tr = int(tr.shape[0])
    if config.batch_size is not None and config.batch_size > n_tr:
        config = dataclasses.replace(config, batch_size=n_tr)
    result = train(loss_fn, params, (zy[tr], zc[tr]), key=k_train, config=config, eval_fn=eval_fn)
    flow = eqx.combine(result.params, static)
    return ConditionalFlow(flow, y_mean, y_sd, c_mean, c_sd), result
