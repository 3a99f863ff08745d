"""Training methods: each pairs a Monte Carlo bound with a proposal family, and the common evaluators.

========  ========================================  ===========================================
method    bound (:mod:`ssmbench.prob.bounds`)       proposal (:mod:`ssmbench.prob.proposals`)
========  ========================================  ===========================================
vae       ``elbo``, N samples averaged              ``SmoothingProposal`` (backward GRU, Resq)
iwae      ``iwae``, N trajectories                  ``SmoothingProposal``
dssm      ``elbo`` (as vae)                         ``ConvProposal`` (PVMC's; the PVMC paper's
                                                    DSSM baseline)
fivo      ``smc``, N particles, systematic           ``FilteringProposal`` q(x_t | x_{t-1}, y_t)
          resampling at ESS < N/2, stopped
          resampling gradients (biased)
fivo-cut  as fivo, with the pathwise gradient      ``FilteringProposal``
          stopped at each resampling
          (``ancestor_gradient=False``; see
          docs/trainers.md, SV)
dpf-sg    ``dpf(.., "stop-gradient")``, resampling  ``FilteringProposal``
          every step (Ścibior & Wood 2021)
dpf-      ``dpf_marginal``, O(N^2) per step         ``FilteringProposal``
marginal
dpf-soft  ``dpf(.., "soft")``, alpha = 0.5          ``FilteringProposal``
          (Karkus et al. 2018)
dpf-ot    ``dpf(.., "ot")``, epsilon = 0.1          ``FilteringProposal``
          (Corenflos et al. 2021, ott-jax)
pvmc      ``pvmc``, N particles per t, N x N         ``ConvProposal`` (non-causal CNN, per-t
          potentials; sequential scan on CPU,       Gaussians q(x_t | y))
          associative scan on GPU/TPU
========  ========================================  ===========================================

``pvmc-seq`` and ``pvmc-assoc`` force one PVMC path whatever the backend (for timing both).
``fivo@conv``, ``dpf-sg@conv``, ...: the sequential methods with PVMC's ``ConvProposal`` (the
same-proposal ablation).
A batch of PVMC bounds goes through :func:`~ssmbench.prob.bounds.pvmc_batch`, so the exp/exact
choice of the associative path is made once per batch, never inside ``vmap``.

The truncated PVMC (``pvmc(truncated=True)``) is not a training method: its log-estimate is not
a lower bound on log p(y) (measured: +2.5 to +2.7 nats above the exact value on the VSMC LGSS at
T = 20, not shrinking in N; docs/bounds.md). The bound keeps it for smoothing weights only.

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
from .bounds import dpf, dpf_marginal, elbo, iwae, pvmc, pvmc_batch, smc
from .kalman import kalman_filter, rts_smoother
from .lgssm import LGSSM
from .proposals import BootstrapProposal, ConvProposal, FilteringProposal, SmoothingProposal

__all__ = [
    "METHODS",
    "pvmc_path",
    "make_proposal",
    "method_bound",
    "batch_bound",
    "batched_bound",
    "validate_method",
    "make_loss",
    "exact_ll_per_step",
    "rts_means",
    "smc_eval_per_step",
]

METHODS = ("vae", "iwae", "dssm", "fivo", "fivo-cut", "dpf-sg", "dpf-marginal", "dpf-soft", "dpf-ot",
           "pvmc")  # fmt: skip
_PVMC = ("pvmc", "pvmc-seq", "pvmc-assoc")
_DPF = ("dpf-sg", "dpf-marginal", "dpf-soft", "dpf-ot")
_FAMILY = {"vae": "is", "iwae": "is", "dssm": "is", "fivo": "smc", "fivo-cut": "smc",
           **{m: "dpf" for m in _DPF}, **{m: "pvmc" for m in _PVMC}}  # fmt: skip
# the proposal each method is trained with (the same hidden width for all)
_PROPOSAL_OF = {"vae": "smoothing", "iwae": "smoothing", "dssm": "conv", "fivo": "filtering",
                "fivo-cut": "filtering",
                **{m: "filtering" for m in _DPF}, **{m: "conv" for m in _PVMC}}  # fmt: skip
# "<method>@conv": a sequential method with PVMC's parallel CNN proposal (the same-proposal
# ablation: the proposal is then not a confound of the comparison with PVMC)
_ABLATABLE = ("fivo", "fivo-cut", *_DPF)


def _split(method: str) -> tuple[str, str]:
    """``(base method, proposal kind)`` of a method name, with its ``@conv`` suffix resolved."""
    base, _, suffix = method.partition("@")
    if base not in _FAMILY or (suffix and (suffix != "conv" or base not in _ABLATABLE)):
        raise ValueError(
            f"unknown method {method!r}; expected one of {METHODS}, or one of {_ABLATABLE} "
            "with '@conv' (PVMC's proposal)"
        )
    return base, suffix or _PROPOSAL_OF[base]


def validate_method(method: str) -> str:
    """``method`` itself if it names a training method (one of :data:`METHODS`, or a sequential
    one with ``@conv``); a ValueError naming the accepted names otherwise."""
    _split(method)
    return method


def _family(method: str) -> str:
    """The bound family of ``method`` ('is', 'smc', 'dpf' or 'pvmc')."""
    return _FAMILY[_split(method)[0]]


def pvmc_path(backend: str | None = None) -> Literal["sequential", "associative"]:
    """PVMC's log-semiring reduction for a backend: the parallel-in-time associative scan on
    accelerators (O(log T) depth, O(N^3 T) work), the O(N^2 T) sequential scan on CPU, where there
    is no parallelism to buy with the extra factor N of work (measured by the speed experiment)."""
    backend = backend or jax.default_backend()
    return "sequential" if backend == "cpu" else "associative"


_PROPOSALS = {
    "smoothing": lambda dx, dy, hidden, key, dtype: SmoothingProposal(dx, dy, hidden, key=key, dtype=dtype),
    "filtering": lambda dx, dy, hidden, key, dtype: FilteringProposal(dx, dy, hidden, key=key, dtype=dtype),
    "conv": lambda dx, dy, hidden, key, dtype: ConvProposal(dx, dy, hidden, kernel_size=5, key=key, dtype=dtype),
}  # fmt: skip


def make_proposal(
    method: str, state_dim: int, obs_dim: int, hidden: int, *, key: jax.Array, dtype=jnp.float32
):
    """The proposal family of ``method`` (same hidden width for every method)."""
    return _PROPOSALS[_split(method)[1]](state_dim, obs_dim, hidden, key, dtype)


def _is_bound(method, key, model, proposal, y, N, smoothing):
    """vae / dssm / iwae: the ELBO or IWAE of N trajectories from the method's proposal (dssm:
    the ELBO with PVMC's parallel CNN proposal, the PVMC paper's DSSM baseline)."""
    elbo_like = method in ("vae", "dssm")
    if elbo_like and not smoothing:
        lz, d = elbo(key, model, proposal, y, N)
        w = d["log_weights"]
        return lz, {"ess": jnp.exp(2 * jax.nn.logsumexp(w) - jax.nn.logsumexp(2 * w))}
    lz, d = iwae(key, model, proposal, y, N)
    if elbo_like:  # the ELBO of the same N trajectories
        lz = jnp.mean(d["log_weights"])
    out = {"ess": d["ess"]}
    if smoothing:
        out["means"] = d["smoothed_means"]
    return lz, out


def _smc_bound(method, key, model, proposal, y, N, smoothing):
    """fivo: SMC with systematic resampling at ESS < N/2; fivo-cut: the same with the pathwise
    gradient stopped at each resampling (``ancestor_gradient=False``)."""
    lz, d = smc(key, model, proposal, y, N, resampling="systematic", ess_threshold=0.5,
                ancestor_gradient=method != "fivo-cut")  # fmt: skip
    out = {"ess": jnp.mean(d["ess"])}
    if smoothing:
        out["means"] = d["filtered_means"]
    return lz, out


def _pvmc_diag(d, smoothing):
    """The method diagnostics of one sequence's PVMC diagnostics ``d``."""
    if smoothing:
        return {"ess": jnp.mean(d["ess"]), "means": d["smoothed_means"]}
    la = d["log_alpha"]
    # ESS of the forward (filtering-like) weights alpha_t, averaged over the t that were kept
    # (all t on the sequential path; the last one on the associative likelihood-only reduction)
    ess = jnp.exp(2 * jax.nn.logsumexp(la, 1) - jax.nn.logsumexp(2 * la, 1))
    return {"ess": jnp.mean(ess)}


def _pvmc_path_of(method):
    """The PVMC reduction of a pvmc-family method name."""
    method = _split(method)[0]
    return {"pvmc-seq": "sequential", "pvmc-assoc": "associative"}.get(method, pvmc_path())


def _pvmc_bound(method, key, model, proposal, y, N, smoothing):
    """pvmc on one sequence (on the backend's path, or a forced one)."""
    lz, d = pvmc(key, model, proposal, y, N, method=_pvmc_path_of(method), smoothing=smoothing)
    return lz, _pvmc_diag(d, smoothing)


def _dpf_bound(method, key, model, proposal, y, N, smoothing):
    """The differentiable particle filters, resampling at every step (their papers' setting):
    stop-gradient (multinomial), marginal O(N^2), soft (alpha = 0.5), OT (epsilon = 0.1)."""
    base = _split(method)[0]
    if base == "dpf-marginal":
        lz, d = dpf_marginal(key, model, proposal, y, N)
    else:
        resampler = {"dpf-sg": "stop-gradient", "dpf-soft": "soft", "dpf-ot": "ot"}[base]
        lz, d = dpf(key, model, proposal, y, N, resampler)
    out = {"ess": jnp.mean(d["ess"])}
    if smoothing:
        out["means"] = d["filtered_means"]
    return lz, out


_BOUNDS = {"is": _is_bound, "smc": _smc_bound, "dpf": _dpf_bound, "pvmc": _pvmc_bound}


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
    return _BOUNDS[_family(method)](_split(method)[0], key, model, proposal, y, num_particles,
                                    smoothing)  # fmt: skip


def batched_bound(
    method: str,
    key: jax.Array,
    model: AbstractSSM,
    proposal: Any,
    y: jax.Array,
    num_particles: int,
    *,
    smoothing: bool = False,
) -> tuple[jax.Array, dict[str, jax.Array]]:
    """:func:`method_bound` on each sequence of ``y`` (B, T, dy), one key per sequence split from
    ``key``. PVMC goes through :func:`~ssmbench.prob.bounds.pvmc_batch` (exp/exact decided once
    per batch); the other methods are vmapped."""
    if _family(method) == "pvmc":
        lz, d = pvmc_batch(key, model, proposal, y, num_particles,
                           method=_pvmc_path_of(method), smoothing=smoothing)  # fmt: skip
        return lz, jax.vmap(lambda dd: _pvmc_diag(dd, smoothing))(d)
    keys = jax.random.split(key, y.shape[0])
    return jax.vmap(
        lambda k, yy: method_bound(
            method, k, model, proposal, yy, num_particles, smoothing=smoothing
        )
    )(keys, y)


def make_loss(
    method: str, num_particles: int, *, supervised_weight: float = 0.0
) -> Callable[[Any, jax.Array, Any], tuple[jax.Array, dict[str, jax.Array]]]:
    """``loss(params, key, batch)`` for :func:`ssmbench.train.train`: ``params = (model, proposal)``,
    ``batch`` = observations ``(B, T, dy)``, or ``(y, x_true, labelled)`` for the semi-supervised
    loss ``-bound/T + supervised_weight * MSE(method's state estimate, x_true)`` on labelled rows."""
    _family(method)  # an unknown method fails here, not at the first step

    def loss(params, key, batch):
        model, proposal = params
        semi = isinstance(batch, tuple)
        y = batch[0] if semi else batch
        T = y.shape[1]
        lz, d = batched_bound(method, key, model, proposal, y, num_particles, smoothing=semi)
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
    return batched_bound(method, key, model, q, y, N, smoothing=smoothing)


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
