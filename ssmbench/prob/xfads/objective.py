"""The XFADS objective of a model and encoder, its training loss, and forecasting.

``xfads_bound(key, model, encoder, y)`` runs the encoder on ``y`` and the filter of
:mod:`ssmbench.prob.xfads.smoother` on its pseudo-observations; :func:`make_xfads_loss` is the loss
of :func:`ssmbench.train.train` (``params = (model, encoder)``, nats per time step, vmapped over
the batch); :func:`xfads_forecast` encodes a prefix and runs the learned dynamics forward.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Literal

import jax
import jax.numpy as jnp
from jaxtyping import Array, Float

from .lowrank import diag_sample, lowrank_sample
from .model import AbstractXfadsEncoder, XfadsSSM
from .smoother import xfads_filter

__all__ = [
    "xfads_bound",
    "make_xfads_loss",
    "xfads_forecast",
    "xfads_posterior_sample",
    "mean_path_ahead",
]


def _check_y(model: XfadsSSM, y: Array) -> None:
    """Raise a ValueError unless ``y`` is (T, obs_dim) with T >= 1 and floating."""
    if y.ndim != 2 or y.shape[1] != model.obs_dim or y.shape[0] < 1:
        raise ValueError(
            f"y must have shape (T, {model.obs_dim}) with T >= 1; got {tuple(y.shape)}"
        )
    if not jnp.issubdtype(y.dtype, jnp.floating):
        raise ValueError(f"y must be floating (NaN marks a missing step); got dtype {y.dtype}")


def xfads_bound(
    key: Array,
    model: XfadsSSM,
    encoder: AbstractXfadsEncoder,
    y: Float[Array, "T dy"],
    num_samples: int = 5,
    *,
    structure: Literal["lowrank", "diagonal"] = "lowrank",
) -> tuple[Float[Array, ""], dict]:
    """``(L-hat, diagnostics)`` of one sequence (see :func:`~ssmbench.prob.xfads.smoother.xfads_filter`)."""
    _check_y(model, y)
    k, K = encoder(y)
    return xfads_filter(
        key, model.dynamics, jnp.exp(model.log_q), model.m0, jnp.exp(model.log_q0), k, K, y,
        model.C, model.d, model.expected_log_prob, num_samples=num_samples, structure=structure,
    )  # fmt: skip


def make_xfads_loss(
    num_samples: int = 5, *, structure: Literal["lowrank", "diagonal"] = "lowrank"
) -> Callable:
    """``loss(params, key, batch)`` for :func:`ssmbench.train.train`: ``-mean_b L-hat(y_b) / T``
    with ``params = (model, encoder)`` and ``batch`` of shape (B, T, dy). ``aux`` holds ``bound``
    (L-hat per time step), ``ell`` and ``kl`` (per step)."""

    def loss(params, key, batch):
        model, encoder = params
        T = batch.shape[1]
        keys = jax.random.split(key, batch.shape[0])
        lz, d = jax.vmap(
            lambda kk, yy: xfads_bound(kk, model, encoder, yy, num_samples, structure=structure)
        )(keys, batch)
        bound = jnp.mean(lz) / T
        aux = {"bound": bound, "ell": jnp.mean(d["ell"]), "kl": jnp.mean(d["kl"])}
        return -bound, aux

    return loss


def xfads_posterior_sample(key: Array, post, n: int, structure: str = "lowrank") -> Array:
    """``n`` draws from one time step's posterior (low-rank by Matheron's rule, or diagonal)."""
    return lowrank_sample(key, post, n) if structure == "lowrank" else diag_sample(key, post, n)


def xfads_forecast(
    key: Array,
    model: XfadsSSM,
    encoder: AbstractXfadsEncoder,
    y_context: Float[Array, "Tc dy"],
    horizon: int,
    num_samples: int = 5,
    num_paths: int = 64,
    *,
    structure: Literal["lowrank", "diagonal"] = "lowrank",
) -> tuple[Float[Array, "Tc L"], Float[Array, "H L"]]:
    """Encode ``y_context``, then run the learned dynamics ``horizon`` steps past it: ``(the
    filtered means over the context, the mean over ``num_paths`` sampled latent paths ahead)``.
    Each path starts from a draw of the last posterior and follows ``z_t ~ N(m_theta(z_{t-1}),
    diag q)``."""
    if horizon < 1:
        raise ValueError(f"horizon must be >= 1, got {horizon}")
    k1, k2, k3 = jax.random.split(key, 3)
    _, d = xfads_bound(k1, model, encoder, y_context, num_samples, structure=structure)
    last = jax.tree.map(lambda a: a[-1], d["posts"])
    z = xfads_posterior_sample(k2, last, num_paths, structure)
    return d["means"], mean_path_ahead(k3, model, z, horizon)


def mean_path_ahead(
    key: Array, model: XfadsSSM, z: Float[Array, "n L"], horizon: int
) -> Float[Array, "H L"]:
    """Run the learned transition ``z_t ~ N(m_theta(z_{t-1}), diag q)`` ``horizon`` steps from
    each of the ``n`` starting states ``z``; the mean over the paths at each step."""
    sd = jnp.exp(0.5 * model.log_q)

    def step(z, kk):
        z = jax.vmap(model.dynamics)(z) + sd[None, :] * jax.random.normal(kk, z.shape, z.dtype)
        return z, jnp.mean(z, 0)

    _, ahead = jax.lax.scan(step, z, jax.random.split(key, horizon))
    return ahead
