"""The workloads of the throughput experiment: each builds a forward function and its inputs for
one scan method (a bare scan, or a zoo layer in one of its modes)."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import equinox as eqx
import jax
import jax.numpy as jnp
from jaxtyping import Array

from ssmbench.models import build as build_layer
from ssmbench.models import load_layer
from ssmbench.models.chimera import ChimeraLayer
from ssmbench.models.diagonal import LRU, S4D
from ssmbench.models.lcde import LinearCDE
from ssmbench.models.mamba import Mamba
from ssmbench.models.s4 import S4
from ssmbench.models.ssm2d import SSM2D
from ssmbench.scan import linear_recurrence, selective_scan
from ssmbench.scan.reference import selective_scan_plain, selective_scan_remat

__all__ = ["Workload", "WorkloadSpec", "WORKLOADS", "workload_spec"]


@dataclass(frozen=True)
class Workload:
    """A forward function of arrays, its arguments, and which arguments the loss is differentiated by.

    ``fn(*args)`` returns the output (batch, L, d); ``diff_argnums`` index the float arguments
    that forward+backward differentiates (the parameters; for bare scans, every float input).
    """

    fn: Callable[..., Array]
    args: tuple
    diff_argnums: tuple[int, ...]


@dataclass(frozen=True)
class WorkloadSpec:
    """How to build one workload for a method: ``build(key, L=, d=, n=, batch=, method=)``."""

    methods: tuple[str, ...]  # "auto" first, then the explicit methods and variants
    build: Callable[..., Workload]
    description: str


def _selective_inputs(key, L, d, n, batch, dtype=jnp.float32):
    """Mamba-shaped inputs: dt in [1e-3, 1e-1] after softplus, S4D-real A = -(1..n)."""
    ks = jax.random.split(key, 6)
    u = jax.random.normal(ks[0], (batch, L, d), dtype)
    delta = jax.random.normal(ks[1], (batch, L, d), dtype)
    dt0 = jnp.exp(jax.random.uniform(ks[2], (d,), dtype, math.log(1e-3), math.log(1e-1)))
    delta_bias = dt0 + jnp.log(-jnp.expm1(-dt0))  # inverse softplus
    A = -jnp.broadcast_to(jnp.arange(1, n + 1, dtype=dtype), (d, n))
    B = jax.random.normal(ks[3], (batch, L, n), dtype)
    C = jax.random.normal(ks[4], (batch, L, n), dtype)
    D = jnp.ones((d,), dtype)
    z = jax.random.normal(ks[5], (batch, L, d), dtype)
    return u, delta, A, B, C, D, z, delta_bias


def _build_selective(key, *, L, d, n, batch, method):
    u, delta, A, B, C, D, z, delta_bias = _selective_inputs(key, L, d, n, batch)
    if method == "remat":
        chunk = max(16, int(2 ** round(math.log2(math.sqrt(L)))))

        def one(u, delta, A, B, C, D, z, bias):
            return selective_scan_remat(u, delta, A, B, C, D, z, bias, chunk=chunk)

    elif method == "plain":

        def one(u, delta, A, B, C, D, z, bias):
            return selective_scan_plain(u, delta, A, B, C, D, z, bias)

    else:

        def one(u, delta, A, B, C, D, z, bias):
            return selective_scan(
                u, delta, A, B, C, D, z, bias, method=method, selective_B=True, selective_C=True
            )

    fn = jax.vmap(one, in_axes=(0, 0, None, 0, 0, None, 0, None))
    return Workload(fn, (u, delta, A, B, C, D, z, delta_bias), (0, 1, 2, 3, 4, 5, 6, 7))


def _build_recurrence(key, *, L, d, n, batch, method):

    ka, kb = jax.random.split(key)
    a = jax.random.uniform(ka, (batch, L, d, n), jnp.float32, 0.5, 0.999)
    b = jax.random.normal(kb, (batch, L, d, n), jnp.float32)

    def one(a, b):
        return linear_recurrence(a, b, method=method).sum(-1)  # (L, d): keep outputs small

    return Workload(jax.vmap(one), (a, b), (0, 1))


def _model_workload(model: eqx.Module, key, *, L, batch, d=None, cell=()) -> Workload:
    """An Equinox layer (unbatched ``(L, d, *cell) -> same``) as a workload differentiated by
    its params; ``cell`` are trailing input axes (e.g. Chimera's channels per variate)."""
    params, static = eqx.partition(model, eqx.is_inexact_array)
    x = jax.random.normal(key, (batch, L, d or model.d_model, *cell), jnp.float32)

    def fn(params, x):
        return jax.vmap(eqx.combine(params, static))(x)

    return Workload(fn, (params, x), (0,))


def _build_s4d(key, *, L, d, n, batch, method):

    km, kx = jax.random.split(key)
    if method in ("auto", "conv"):
        # S4D's default mode is the convolution; "auto" is the layer as users build it.
        model = S4D(d, n, key=km) if method == "auto" else S4D(d, n, mode="conv", key=km)
    else:  # "recurrent": the linear recurrence with the scan's own "auto"
        model = S4D(d, n, mode="recurrent", key=km)
    return _model_workload(model, kx, L=L, batch=batch)


def _build_lru(key, *, L, d, n, batch, method):

    km, kx = jax.random.split(key)
    return _model_workload(LRU(d, n, method=method, key=km), kx, L=L, batch=batch)


def _build_mamba(key, *, L, d, n, batch, method):

    km, kx = jax.random.split(key)
    return _model_workload(Mamba(d, n, method=method, key=km), kx, L=L, batch=batch)


def _build_s4(key, *, L, d, n, batch, method):

    km, kx = jax.random.split(key)
    if method == "auto":
        model = S4(d, n, key=km)  # the default mode (convolution)
    else:
        model = S4(d, n, mode=method, key=km)
    return _model_workload(model, kx, L=L, batch=batch)


def _build_ssm2d(key, *, L, d, n, batch, method):

    km, kx = jax.random.split(key)
    if method == "auto":
        model = SSM2D(d, n, key=km)  # the default mode (recurrent, chosen by measurement)
    else:
        model = SSM2D(d, n, mode=method, key=km)
    return _model_workload(model, kx, L=L, batch=batch)


def _build_chimera(key, *, L, d, n, batch, method):
    """ChimeraLayer on (L, V = d, 8 channels): two heads, both variate directions."""
    km, kx = jax.random.split(key)
    model = ChimeraLayer(8, n, method=method, key=km)
    return _model_workload(model, kx, L=L, batch=batch, d=d, cell=(8,))


def _build_lcde(key, *, L, d, n, batch, method):

    km, kx = jax.random.split(key)
    model = LinearCDE(d, n, structure="diagonal", method=method, key=km)
    return _model_workload(model, kx, L=L, batch=batch, d=d)


WORKLOADS: dict[str, WorkloadSpec] = {
    "selective_scan": WorkloadSpec(
        ("auto", "sequential", "associative", "chunked", "plain", "remat"),
        _build_selective,
        "Mamba-shaped selective scan (u, delta: (L, d); A: (d, n); B, C: (L, n); D, z)",
    ),
    "linear_recurrence": WorkloadSpec(
        ("auto", "sequential", "associative", "chunked"),
        _build_recurrence,
        "time-varying diagonal recurrence h_t = a_t h_{t-1} + b_t on (L, d, n)",
    ),
    "s4d": WorkloadSpec(
        ("auto", "conv", "recurrent"),
        _build_s4d,
        "S4D layer (complex, ZOH): FFT convolution vs linear recurrence (scan auto)",
    ),
    "lru": WorkloadSpec(
        ("auto", "sequential", "associative", "chunked"),
        _build_lru,
        "LRU layer (complex diagonal recurrence, d_state = n)",
    ),
    "mamba": WorkloadSpec(
        ("auto", "sequential", "associative", "chunked"),
        _build_mamba,
        "full Mamba block (expand 2, conv 4, selective scan with d_inner = 2 d_model)",
    ),
    "s4": WorkloadSpec(
        ("auto", "conv", "recurrent"),
        _build_s4,
        "S4 layer (DPLR HiPPO-LegS, bilinear): Cauchy-kernel convolution vs recurrence",
    ),
    "ssm2d": WorkloadSpec(
        ("auto", "conv", "recurrent"),
        _build_ssm2d,
        "2D SSM (time x variates, V = d_model, 2 heads): Roesser scan (default) vs closed-form 2D kernel",
    ),
    "chimera": WorkloadSpec(
        ("auto", "sequential", "columns"),
        _build_chimera,
        "Chimera layer (V = d_model variates, 8 channels, 2 heads, both directions): sequential"
        " 2-D scan vs the time-parallel columns scan",
    ),
    "lcde": WorkloadSpec(
        ("auto", "sequential", "associative", "chunked"),
        _build_lcde,
        "Linear CDE (diagonal A_i, exact solver, hidden = n) over a d_model-channel path",
    ),
}


def _build_user_layer(path: str):
    """A builder for the layer a dotted path names, timed as built (one method, "auto")."""

    def build(key, *, L, d, n, batch, method):
        km, kx = jax.random.split(key)
        layer = build_layer(path, d, key=km)
        # timed in float32, like the zoo's workloads (a user layer need not cast its parameters)
        f32 = lambda a: a.astype(jnp.float32) if eqx.is_inexact_array(a) else a  # noqa: E731
        return _model_workload(jax.tree.map(f32, layer), kx, L=L, batch=batch)

    return build


def workload_spec(model: str) -> WorkloadSpec:
    """The workload ``model`` names: a key of :data:`WORKLOADS`, or a dotted path
    ``"package.module:Name"`` to a sequence layer of your own (bring your own model; see
    :func:`ssmbench.models.load_layer`), built as ``Name(d_model, key=...)`` and timed with the
    one method ``"auto"`` (as built)."""
    if model in WORKLOADS:
        return WORKLOADS[model]
    if ":" in model:
        load_layer(model)  # fails early, naming the path, if it cannot be imported
        return WorkloadSpec(("auto",), _build_user_layer(model), f"user layer {model}")
    raise ValueError(
        f"unknown model {model!r}; expected one of {', '.join(WORKLOADS)}, or a dotted path "
        f"'package.module:Name' to a sequence layer"
    )
