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

from collections.abc import Callable
from typing import Any, Literal

import jax
import jax.numpy as jnp

from ssmbench.timing import Compiled, Timing, compile_fn, fit_loglog, time_compiled

from .workloads import Workload, workload_spec

__all__ = ["SCAN_METHODS", "forward_backward", "summarize", "throughput"]

#: Methods that compete for "auto" (explicit scan strategies / modes). Other methods of a
#: workload (``"plain"``, ``"remat"``) are variants with a different memory/time trade-off, reported
#: side by side but not counted as candidates for the best explicit method.
SCAN_METHODS = ("sequential", "associative", "chunked", "conv", "recurrent")

Pass = Literal["fwd", "fwdbwd"]


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


def summarize(rows: list[dict[str, Any]], *, fit_from: int = 1024) -> list[dict[str, Any]]:
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
        model: a key of :data:`WORKLOADS`, or a dotted path ``"package.module:Name"`` to a
            sequence layer of your own, timed as built (method ``"auto"`` only).
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
    spec = workload_spec(model)
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
    return rows + summarize(rows, fit_from=fit_from)
