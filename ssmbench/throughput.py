"""Throughput experiments: time every scan method of every model over sequence lengths.

One cell of :func:`throughput` is one workload (a model, or a bare scan) at one width: it times
every method of that workload at every sequence length, forward and forward+backward, and
returns a long list of rows. Measurement follows "Performance method" in DESIGN.md and
:mod:`ssmbench.timing`: compile time apart, warm-up, median of ``repeats`` calls each ending in
``block_until_ready``, and the methods of one (length, pass) are timed *interleaved* so that the
load of a shared machine falls on all of them alike and their ratios stay fair.

Rows (columns ``L``, ``method``, ``pass`` where they apply; ``pass`` is ``"fwd"`` or
``"fwdbwd"``, the gradient of a scalar loss ``mean(y**2)`` w.r.t. every parameter):

- ``time_s`` (median), ``time_min_s``, ``compile_s``, ``tokens_per_s`` (``batch * L / time_s``);
- ``xla_bytes`` / ``xla_temp_bytes``: XLA's buffer assignment of the compiled program
  (arguments + outputs + temporaries / temporaries only). This is the peak-memory figure on every
  backend (on CPU it is the only one). ``device_peak_bytes`` is added where the device reports
  memory statistics (GPU/TPU); it is the process's high-water mark, an upper bound;
- ``speedup_auto`` (column ``method`` = the explicit method): ``time(method) / time(auto)``;
- ``auto_vs_best`` (``method`` = the fastest explicit method): ``time(best) / time(auto)``, so
  1.0 means auto is the best, 0.9 means auto is 10% slower than the best;
  ``auto_vs_best_min`` is the same from the fastest call of each (less sensitive to load);
- ``bwd_over_fwd``: ``time(fwdbwd) / time(fwd)`` per method and length;
- ``exponent`` (no ``L``): least-squares slope of ``log time_s`` against ``log L`` over the
  lengths ``>= fit_from``.

Methods whose compiled program would need more than ``max_bytes`` of buffers are compiled but not
run (their ``xla_bytes`` and ``compile_s`` rows are kept, with no ``time_s``), so that a large grid
cannot exhaust a shared machine's memory; the comparisons then cover the methods that ran.
Nothing here assumes a CPU: the same code runs on a GPU and reports its device peak bytes there.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

import equinox as eqx
import jax
import jax.numpy as jnp
from jaxtyping import Array, Float

from .scan import selective_scan
from .timing import Compiled, Timing, compile_fn, fit_loglog, time_compiled

__all__ = [
    "Workload",
    "WorkloadSpec",
    "WORKLOADS",
    "SCAN_METHODS",
    "forward_backward",
    "selective_scan_plain",
    "selective_scan_remat",
    "throughput",
    "summarise",
]

#: Methods that compete for "auto" (explicit scan strategies / modes). Other methods of a
#: workload (``"plain"``, ``"remat"``) are variants with a different memory/time trade-off, reported
#: side by side but not counted as candidates for the best explicit method.
SCAN_METHODS = ("sequential", "associative", "chunked", "conv", "recurrent")

Pass = Literal["fwd", "fwdbwd"]


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


# --------------------------------------------------------------------------------------------
# Rematerialisation (forward+backward memory)
# --------------------------------------------------------------------------------------------


def _plain_selective(u, dt, A, B, C, x0):
    """The textbook selective scan: one ``lax.scan`` step per time step, readout inside the
    step, no custom VJP. Differentiating it stores every (d, n) state: O(L d n) memory."""

    def step(x, inp):
        u_t, dt_t, b_t, c_t = inp
        x = jnp.exp(dt_t[:, None] * A) * x + (dt_t * u_t)[:, None] * b_t[None, :]
        return x, x @ c_t

    return jax.lax.scan(step, x0, (u, dt, B, C))


def _check_selective_args(name, u, delta, A, B, C):
    if u.ndim != 2:
        raise ValueError(f"u must have shape (L, d), got {u.shape}")
    L, d = u.shape
    if B.shape != (L, A.shape[1]) or C.shape != (L, A.shape[1]):
        raise ValueError(
            f"{name} needs input-dependent B, C of shape (L, n)=({L}, {A.shape[1]}),"
            f" got B {B.shape}, C {C.shape}"
        )
    if delta.shape != (L, d):
        raise ValueError(f"delta must have shape (L, d)=({L}, {d}), got {delta.shape}")


def _gate(y, u, D, z):
    if D is not None:
        y = y + u * D.astype(y.dtype)
    if z is not None:
        y = y * jax.nn.silu(z.astype(y.dtype))
    return y


def _softplus_dt(u, delta, delta_bias, delta_softplus):
    dt = delta.astype(u.dtype)
    if delta_bias is not None:
        dt = dt + delta_bias.astype(u.dtype)
    return jax.nn.softplus(dt) if delta_softplus else dt


def selective_scan_plain(
    u: Float[Array, "L d"],
    delta: Float[Array, "L d"],
    A: Float[Array, "d n"],
    B: Float[Array, "L n"],
    C: Float[Array, "L n"],
    D: Float[Array, " d"] | None = None,
    z: Float[Array, "L d"] | None = None,
    delta_bias: Float[Array, " d"] | None = None,
    delta_softplus: bool = True,
) -> Float[Array, "L d"]:
    """The baseline for memory: a per-step ``lax.scan`` differentiated by plain autodiff.

    Same semantics as :func:`ssmbench.scan.selective_scan` (real A, input-dependent B and C).
    Its forward pass holds one state, but reverse mode stores all L of them, O(L d n); the
    library's sequential path (chunk-recomputing VJP) and :func:`selective_scan_remat` exist to
    avoid exactly that.
    """
    _check_selective_args("selective_scan_plain", u, delta, A, B, C)
    dt = _softplus_dt(u, delta, delta_bias, delta_softplus)
    x0 = jnp.zeros((u.shape[1], A.shape[1]), jnp.result_type(u, A, B, C))
    _, y = _plain_selective(u, dt, A, B, C, x0)
    return _gate(y.astype(u.dtype), u, D, z)


def selective_scan_remat(
    u: Float[Array, "L d"],
    delta: Float[Array, "L d"],
    A: Float[Array, "d n"],
    B: Float[Array, "L n"],
    C: Float[Array, "L n"],
    D: Float[Array, " d"] | None = None,
    z: Float[Array, "L d"] | None = None,
    delta_bias: Float[Array, " d"] | None = None,
    delta_softplus: bool = True,
    *,
    chunk: int = 128,
) -> Float[Array, "L d"]:
    """:func:`selective_scan_plain` with ``jax.checkpoint`` over chunks: the generic recipe.

    The sequence is cut into chunks of ``chunk`` steps; an outer ``lax.scan`` carries the
    (d, n) state across chunks and its body, the per-step scan of one chunk, is wrapped in
    ``jax.checkpoint``. Reverse mode then stores only the chunk-boundary states
    (``L/chunk * d * n``) and the (L, d)-sized inputs, and recomputes one chunk's states at a
    time: ``O(L d + (L/chunk + chunk) d n)`` memory for about one extra forward pass.
    ``chunk ~ sqrt(L)`` minimises the state term. (The library's own sequential path gets the
    same memory from a hand-written VJP; this variant shows what autodiff alone gives.)
    """
    _check_selective_args("selective_scan_remat", u, delta, A, B, C)
    if chunk < 1:
        raise ValueError(f"chunk must be >= 1, got {chunk}")
    L, d = u.shape
    dt = _softplus_dt(u, delta, delta_bias, delta_softplus)
    c = min(chunk, L)
    nc = -(-L // c)
    pad = nc * c - L

    def chunks(v):  # zero padding at the end: delta = 0 is the identity step, u = 0 adds nothing
        return jnp.pad(v, [(0, pad), (0, 0)]).reshape(nc, c, v.shape[1])

    @jax.checkpoint
    def body(x, inp):
        return _plain_selective(*inp[:2], A, *inp[2:], x)

    x0 = jnp.zeros((d, A.shape[1]), jnp.result_type(u, A, B, C))
    _, y = jax.lax.scan(body, x0, (chunks(u), chunks(dt), chunks(B), chunks(C)))
    return _gate(y.reshape(nc * c, d)[:L].astype(u.dtype), u, D, z)


# --------------------------------------------------------------------------------------------
# Workloads
# --------------------------------------------------------------------------------------------


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
    from .scan import linear_recurrence

    ka, kb = jax.random.split(key)
    a = jax.random.uniform(ka, (batch, L, d, n), jnp.float32, 0.5, 0.999)
    b = jax.random.normal(kb, (batch, L, d, n), jnp.float32)

    def one(a, b):
        return linear_recurrence(a, b, method=method).sum(-1)  # (L, d): keep outputs small

    return Workload(jax.vmap(one), (a, b), (0, 1))


def _model_workload(model: eqx.Module, key, *, L, batch, d=None) -> Workload:
    """An Equinox layer (unbatched ``(L, d) -> (L, d)``) as a workload differentiated by its params."""
    params, static = eqx.partition(model, eqx.is_inexact_array)
    x = jax.random.normal(key, (batch, L, d or model.d_model), jnp.float32)

    def fn(params, x):
        return jax.vmap(eqx.combine(params, static))(x)

    return Workload(fn, (params, x), (0,))


def _build_s4d(key, *, L, d, n, batch, method):
    from .models.diagonal import S4D

    km, kx = jax.random.split(key)
    if method in ("auto", "conv"):
        # S4D's default mode is the convolution; "auto" is the layer as users build it.
        model = S4D(d, n, key=km) if method == "auto" else S4D(d, n, mode="conv", key=km)
    else:  # "recurrent": the linear recurrence with the scan's own "auto"
        model = S4D(d, n, mode="recurrent", key=km)
    return _model_workload(model, kx, L=L, batch=batch)


def _build_lru(key, *, L, d, n, batch, method):
    from .models.diagonal import LRU

    km, kx = jax.random.split(key)
    return _model_workload(LRU(d, n, method=method, key=km), kx, L=L, batch=batch)


def _build_mamba(key, *, L, d, n, batch, method):
    from .models.mamba import Mamba

    km, kx = jax.random.split(key)
    return _model_workload(Mamba(d, n, method=method, key=km), kx, L=L, batch=batch)


def _build_s4(key, *, L, d, n, batch, method):
    from .models.s4 import S4

    km, kx = jax.random.split(key)
    if method == "auto":
        model = S4(d, n, key=km)  # the default mode (convolution)
    else:
        model = S4(d, n, mode=method, key=km)
    return _model_workload(model, kx, L=L, batch=batch)


def _build_ssm2d(key, *, L, d, n, batch, method):
    from .models.ssm2d import SSM2D

    km, kx = jax.random.split(key)
    if method == "auto":
        model = SSM2D(d, n, key=km)  # the default mode (recurrent, chosen by measurement)
    else:
        model = SSM2D(d, n, mode=method, key=km)
    return _model_workload(model, kx, L=L, batch=batch)


def _build_lcde(key, *, L, d, n, batch, method):
    from .models.lcde import LinearCDE

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
    "lcde": WorkloadSpec(
        ("auto", "sequential", "associative", "chunked"),
        _build_lcde,
        "Linear CDE (diagonal A_i, exact solver, hidden = n) over a d_model-channel path",
    ),
}


# --------------------------------------------------------------------------------------------
# The experiment
# --------------------------------------------------------------------------------------------


def forward_backward(w: Workload) -> Callable[..., Any]:
    """The forward+backward pass of ``w``: the gradient of ``mean(y**2)`` w.r.t. ``w.diff_argnums``."""

    def loss(*args):
        y = w.fn(*args)
        return jnp.mean(jnp.square(y.astype(jnp.float32)))

    return jax.grad(loss, argnums=w.diff_argnums)


def _timing_rows(t: Timing, tokens: int, **cols: Any) -> list[dict[str, Any]]:
    rows = [
        {"metric": "compile_s", "value": t.compile_s, **cols},
        {"metric": "time_s", "value": t.median_s, **cols},
        {"metric": "time_min_s", "value": t.min_s, **cols},
        {"metric": "tokens_per_s", "value": tokens / t.median_s, **cols},
    ]
    if t.xla_bytes is not None:
        rows.append({"metric": "xla_bytes", "value": float(t.xla_bytes), **cols})
        rows.append({"metric": "xla_temp_bytes", "value": float(t.xla_temp_bytes or 0), **cols})
    if t.device_peak_bytes is not None:
        rows.append({"metric": "device_peak_bytes", "value": float(t.device_peak_bytes), **cols})
    return rows


def summarise(rows: list[dict[str, Any]], *, fit_from: int = 1024) -> list[dict[str, Any]]:
    """Derived rows from ``time_s`` rows: ``speedup_auto``, ``auto_vs_best``, ``bwd_over_fwd``, ``exponent``.

    ``rows`` are the measurement rows of one cell (columns ``L``, ``method``, ``pass``). See the
    module docstring for the definitions. Only methods in :data:`SCAN_METHODS` count as
    candidates for the best explicit method.
    """
    times: dict[tuple[str, int], dict[str, float]] = {}
    mins: dict[tuple[str, int], dict[str, float]] = {}
    for r in rows:
        if r["metric"] == "time_s":
            times.setdefault((r["pass"], r["L"]), {})[r["method"]] = r["value"]
        elif r["metric"] == "time_min_s":
            mins.setdefault((r["pass"], r["L"]), {})[r["method"]] = r["value"]
    out: list[dict[str, Any]] = []
    for (p, L), tm in sorted(times.items()):
        if "auto" not in tm:
            continue
        for m, t in tm.items():
            if m != "auto":
                out.append(
                    {
                        "metric": "speedup_auto",
                        "value": t / tm["auto"],
                        "L": L,
                        "method": m,
                        "pass": p,
                    }
                )
        cands = {m: t for m, t in tm.items() if m in SCAN_METHODS}
        if cands:
            best = min(cands, key=cands.__getitem__)
            out.append(
                {
                    "metric": "auto_vs_best",
                    "value": cands[best] / tm["auto"],
                    "L": L,
                    "method": best,
                    "pass": p,
                }
            )
        mn = mins.get((p, L), {})
        cands = {m: t for m, t in mn.items() if m in SCAN_METHODS}
        if cands and "auto" in mn:
            best = min(cands, key=cands.__getitem__)
            out.append(
                {
                    "metric": "auto_vs_best_min",
                    "value": cands[best] / mn["auto"],
                    "L": L,
                    "method": best,
                    "pass": p,
                }
            )
    for (p, L), tm in sorted(times.items()):
        if p != "fwdbwd":
            continue
        fwd = times.get(("fwd", L), {})
        for m, t in tm.items():
            if m in fwd:
                out.append(
                    {"metric": "bwd_over_fwd", "value": t / fwd[m], "L": L, "method": m, "pass": p}
                )
    series: dict[tuple[str, str], list[tuple[int, float]]] = {}
    for (p, L), tm in times.items():
        if L >= fit_from:
            for m, t in tm.items():
                series.setdefault((p, m), []).append((L, t))
    for (p, m), pts in sorted(series.items()):
        if len(pts) >= 2:
            Ls, ts = zip(*sorted(pts))
            out.append({"metric": "exponent", "value": fit_loglog(Ls, ts), "method": m, "pass": p})
    return out


def throughput(
    *,
    seed: int,
    quick: bool = False,
    model: str = "selective_scan",
    d_model: int = 256,
    n: int = 16,
    batch: int = 1,
    lengths: list[int] = [256, 1024, 4096, 16384],  # noqa: B006 - never mutated
    methods: list[str] = [],  # noqa: B006 - empty: every method of the workload
    passes: list[Literal["fwd", "fwdbwd"]] = ["fwd", "fwdbwd"],  # noqa: B006
    fwdbwd_methods: list[str] = [],  # noqa: B006 - empty: the same as ``methods``
    repeats: int = 5,
    min_time_s: float = 0.5,
    fit_from: int = 1024,
    max_bytes: float = 4e9,
) -> list[dict[str, Any]]:
    """Time every method of workload ``model`` over ``lengths``, forward and forward+backward.

    Args:
        model: a key of :data:`WORKLOADS`.
        d_model, n, batch: width, state size (where it applies) and batch size; float32.
        lengths: sequence lengths L. ``quick`` keeps those ``<= 4096``.
        methods: subset of the workload's methods (default all; ``"auto"`` is always included
            so that the speed-ups can be computed).
        passes: ``"fwd"`` and/or ``"fwdbwd"``.
        fwdbwd_methods: methods for the forward+backward pass if not all of ``methods``
            (backward programs of parallel scans are slow to compile; the quick grid trims them).
        repeats: timed calls per measurement (median reported; at least 5 per DESIGN.md).
        min_time_s: fast programs get more timed calls, about this many seconds' worth (at most
            100 calls), which steadies the median on a loaded machine.
        fit_from: the exponent is fitted over lengths ``>= fit_from``.
        max_bytes: a method whose compiled program needs more buffer bytes is not run.

    Returns rows as described in the module docstring.
    """
    if model not in WORKLOADS:
        raise ValueError(f"unknown model {model!r}; expected one of {', '.join(WORKLOADS)}")
    spec = WORKLOADS[model]
    unknown = [m for m in [*methods, *fwdbwd_methods] if m not in spec.methods]
    if unknown:
        raise ValueError(f"unknown method(s) {unknown} for {model}; expected {spec.methods}")
    ms = [m for m in spec.methods if not methods or m in methods or m == "auto"]
    ms_bwd = [m for m in ms if not fwdbwd_methods or m in fwdbwd_methods or m == "auto"]
    if quick:
        lengths = [L for L in lengths if L <= 4096] or [min(lengths)]
    key = jax.random.PRNGKey(seed)
    rows: list[dict[str, Any]] = []
    for L in sorted(lengths):
        tokens = batch * L
        for p in passes:
            progs: dict[str, tuple[Compiled, tuple]] = {}
            for m in ms if p == "fwd" else ms_bwd:
                w = spec.build(key, L=L, d=d_model, n=n, batch=batch, method=m)
                fn = w.fn if p == "fwd" else forward_backward(w)
                prog = compile_fn(fn, *w.args)
                if prog.xla_bytes is not None and prog.xla_bytes > max_bytes:
                    cols = {"L": L, "method": m, "pass": p}
                    rows.append({"metric": "compile_s", "value": prog.compile_s, **cols})
                    rows.append({"metric": "xla_bytes", "value": float(prog.xla_bytes), **cols})
                    continue
                progs[m] = (prog, w.args)
            for m, t in time_compiled(progs, repeats=repeats, min_time_s=min_time_s).items():
                rows += _timing_rows(t, tokens, **{"L": L, "method": m, "pass": p})
            del progs
    return rows + summarise(rows, fit_from=fit_from)


# --------------------------------------------------------------------------------------------
# The measured choice behind method="auto"
# --------------------------------------------------------------------------------------------

CHOICE_FILE = "scan_choice.json"
_SCAN_PRIMITIVES = ("selective_scan", "linear_recurrence")
_EXPLICIT = ("sequential", "associative", "chunked")


def choose_auto(table: Any, *, min_L: int = 1024) -> dict[str, Any]:
    """The scan method ``auto`` should pick, from a throughput run's long table.

    Over every measured (experiment, width, state size, L >= ``min_L``, pass) of the bare scan
    workloads (``selective_scan``, ``linear_recurrence``), each explicit method's time is divided
    by the best explicit time of that group; the method with the smallest geometric-mean ratio
    wins. Returns ``{"method", "score" (geometric-mean ratio per method), "worst" (largest ratio
    of the winner), "groups"}``.
    """
    import numpy as np

    df = table[
        (table["metric"] == "time_s")
        & (table["status"] == "ok")
        & table["model"].isin(_SCAN_PRIMITIVES)
        & table["method"].isin(_EXPLICIT)
        & (table["L"] >= min_L)
    ]
    if df.empty:
        raise ValueError("no time_s rows of the scan workloads at L >= min_L in this table")
    keys = [k for k in ("experiment", "d_model", "n", "L", "pass") if k in df.columns]
    ratios: dict[str, list[float]] = {m: [] for m in _EXPLICIT}
    groups = 0
    for _, g in df.groupby(keys):
        t = g.groupby("method")["value"].median()
        if len(t) < 2:
            continue
        groups += 1
        for m, v in t.items():
            ratios[m].append(float(v / t.min()))
    full = [m for m in _EXPLICIT if len(ratios[m]) == groups and groups]
    if not full:
        raise ValueError("no explicit method was measured in every comparison group")
    score = {m: float(np.exp(np.mean(np.log(ratios[m])))) for m in full}
    best = min(score, key=score.__getitem__)
    return {"method": best, "score": score, "worst": max(ratios[best]), "groups": groups}


def write_choice(run_dir: str, out: str | None = None) -> dict[str, Any]:
    """Update the backend's entry of ``ssmbench/scan_choice.json`` from a committed run dir."""
    import json
    from pathlib import Path

    import pandas as pd

    run = Path(run_dir)
    env = json.loads((run / "env.json").read_text())
    backend = str(env.get("backend") or str(env.get("device", "cpu")).split(":")[0]).lower()
    choice = choose_auto(pd.read_csv(run / "table.csv"))
    path = Path(out) if out else Path(__file__).with_name(CHOICE_FILE)
    data = json.loads(path.read_text()) if path.exists() else {"backends": {}}
    data["backends"][backend] = {
        "method": choice["method"],
        "measured": True,
        "source": str(run),
        "git_commit": env.get("git_commit"),
        "device": env.get("device"),
        "cpu": env.get("cpu"),
        "date": env.get("date"),
        "geomean_time_vs_best": {k: round(v, 3) for k, v in choice["score"].items()},
        "worst_time_vs_best": round(choice["worst"], 3),
        "comparisons": choice["groups"],
    }
    path.write_text(json.dumps(data, indent=2) + "\n")
    return data["backends"][backend]


if __name__ == "__main__":  # python -m ssmbench.throughput choose RUN_DIR [OUT]
    import sys

    if len(sys.argv) < 3 or sys.argv[1] != "choose":
        sys.exit("usage: python -m ssmbench.throughput choose RUN_DIR [OUT_JSON]")
    print(write_choice(sys.argv[2], sys.argv[3] if len(sys.argv) > 3 else None))
