"""Training methods: each pairs a Monte Carlo bound with a proposal family, and the common evaluators.

========  ========================================  ===========================================
method    bound (:mod:`ssmbench.prob.bounds`)       proposal (:mod:`ssmbench.prob.proposals`)
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

``pvmc-seq`` and ``pvmc-assoc`` force one PVMC path whatever the backend (for timing both).
Losses are ``-mean_b log Z-hat(y_b) / T`` (nats per time step), for
:func:`ssmbench.train.train`. The evaluators score a learned model independently of the method:
the exact Kalman log-likelihood (LGSSM) or a bootstrap particle filter (any model).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Literal

import equinox as eqx
import jax
import jax.numpy as jnp

from ._base import AbstractSSM
from .bounds import elbo, iwae, pvmc, smc
from .kalman import kalman_filter, rts_smoother
from .lgssm import LGSSM
from .proposals import BootstrapProposal, ConvProposal, FilteringProposal, SmoothingProposal

__all__ = [
    "METHODS",
    "pvmc_path",
    "make_proposal",
    "method_bound",
    "batch_bound",
    "make_loss",
    "exact_ll_per_step",
    "rts_means",
    "smc_eval_per_step",
]

METHODS = ("vae", "iwae", "fivo", "pvmc", "pvmc-truncated")
_PVMC = ("pvmc", "pvmc-truncated", "pvmc-seq", "pvmc-assoc")
_FAMILY = {"vae": "is", "iwae": "is", "fivo": "smc", **{m: "pvmc" for m in _PVMC}}


def _family(method: str) -> str:
    """The bound family of ``method`` ('is', 'smc' or 'pvmc')."""
    if method not in _FAMILY:
        raise ValueError(f"unknown method {method!r}; expected one of {METHODS}")
    return _FAMILY[method]


def pvmc_path(backend: str | None = None) -> Literal["sequential", "associative"]:
    """PVMC's log-semiring reduction for a backend: the parallel-in-time associative scan on
    accelerators (O(log T) depth, O(N^3 T) work), the O(N^2 T) sequential scan on CPU, where there
    is no parallelism to buy with the extra factor N of work (measured by the speed experiment)."""
    backend = backend or jax.default_backend()
    return "sequential" if backend == "cpu" else "associative"


_PROPOSALS = {
    "is": lambda dx, dy, hidden, key, dtype: SmoothingProposal(dx, dy, hidden, key=key, dtype=dtype),
    "smc": lambda dx, dy, hidden, key, dtype: FilteringProposal(dx, dy, hidden, key=key, dtype=dtype),
    "pvmc": lambda dx, dy, hidden, key, dtype: ConvProposal(dx, dy, hidden, kernel_size=5, key=key, dtype=dtype),
}  # fmt: skip


def make_proposal(
    method: str, state_dim: int, obs_dim: int, hidden: int, *, key: jax.Array, dtype=jnp.float32
):
    """The proposal family of ``method`` (same hidden width for every method)."""
    return _PROPOSALS[_family(method)](state_dim, obs_dim, hidden, key, dtype)


def _is_bound(method, key, model, proposal, y, N, smoothing):
    """vae / iwae: the ELBO or IWAE of N trajectories from the smoothing proposal."""
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


def _smc_bound(method, key, model, proposal, y, N, smoothing):
    """fivo: SMC with systematic resampling at ESS < N/2."""
    lz, d = smc(key, model, proposal, y, N, resampling="systematic", ess_threshold=0.5)
    out = {"ess": jnp.mean(d["ess"])}
    if smoothing:
        out["means"] = d["filtered_means"]
    return lz, out


def _pvmc_bound(method, key, model, proposal, y, N, smoothing):
    """pvmc (on the backend's path, or a forced one) and the truncated variant."""
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


_BOUNDS = {"is": _is_bound, "smc": _smc_bound, "pvmc": _pvmc_bound}


def method_bound(
    method: str,
    key: jax.Array,
    model: AbstractSSM,
    proposal: Any,
    y: jax.Array,
    num_particles: int,
    *,
    smoothing: bool = False,
) -> tuple[jax.Array, dict[str, jax.Array]]:
    """``(log Z-hat, diagnostics)`` of ``method`` on one sequence ``y`` of shape ``(T, dy)``.

    Diagnostics always hold ``ess`` (mean effective sample size) and, with ``smoothing``, the
    method's own state estimate ``means`` (T, dx): the self-normalized IS mean for vae/iwae (for
    vae from the same N draws as the ELBO), the *filtering* mean for fivo (a particle filter has no
    smoothing estimate without a backward pass), the PVMC smoothing-weight mean for pvmc.
    """
    return _BOUNDS[_family(method)](method, key, model, proposal, y, num_particles, smoothing)


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
def batch_bound(method, params, key, y, N, smoothing=False):
    """Each sequence's ``(log Z-hat, diagnostics)`` of ``method`` on ``y`` (B, T, dy), one key per
    sequence split from ``key`` (jit-cached across calls: the data and key are arguments; the
    method, N and smoothing flag static)."""
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
def rts_means(model: LGSSM, y: jax.Array) -> jax.Array:
    """The exact smoothed means E[x_t | y] of each sequence of ``y`` (B, T, dy)."""
    return jax.vmap(lambda yy: rts_smoother(model, yy).smoothed_means)(y)


@eqx.filter_jit
def _smc_lz(model: AbstractSSM, keys: jax.Array, y: jax.Array, num_particles: int) -> jax.Array:
    """Each sequence's bootstrap-SMC log Z-hat, one key per sequence."""
    boot = BootstrapProposal()
    return jax.vmap(lambda k, yy: smc(k, model, boot, yy, num_particles)[0])(keys, y)


def smc_eval_per_step(
    model: AbstractSSM, key: jax.Array, y: jax.Array, num_particles: int, chunk: int | None = None
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
        first = jnp.arange(n)
        idx = jnp.concatenate([first, jnp.zeros(pad, first.dtype)])
        yp, kp = y[idx], keys[idx]
        parts = [
            _smc_lz(model, kp[i : i + chunk], yp[i : i + chunk], num_particles)
            for i in range(0, n + pad, chunk)
        ]
        lz = jnp.concatenate(parts)[:n]
    return jnp.mean(lz) / y.shape[1]
