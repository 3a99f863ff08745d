"""Throughput measurement done properly.

- Compile time is measured separately (``jit(...).lower(...).compile()``), never mixed into
  steady-state time.
- Steady state: ``warmup`` calls, then the median of ``repeats`` calls, each ending in
  ``jax.block_until_ready``.
- Several candidates can be timed *interleaved* (:func:`time_many`): all are compiled and warmed
  up first, then repeat ``r`` runs every candidate once before repeat ``r + 1`` starts, so that
  background load on a shared machine hits every candidate alike and their ratios stay fair.
- Memory: XLA's buffer assignment for the compiled program (arguments + outputs + temporaries,
  ``compiled.memory_analysis()``), which is available on every backend, and, where the device
  reports it (GPU/TPU), the device's peak bytes in use. The latter is the process's high-water
  mark so far (JAX cannot reset it), so it bounds the program's peak from above only.
"""

from __future__ import annotations

import math
import statistics
import time
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass
from typing import Any

import jax

__all__ = [
    "Compiled",
    "Timing",
    "compile_fn",
    "fit_loglog",
    "time_compiled",
    "time_fn",
    "time_many",
]

#: The clock used for every measurement (a module attribute so tests can substitute a fake one).
_clock: Callable[[], float] = time.perf_counter


@dataclass(frozen=True)
class Timing:
    """The timing of one compiled program: compile time, median and min of the timed calls, memory."""

    compile_s: float
    median_s: float
    min_s: float
    times_s: tuple[float, ...]
    xla_bytes: int | None  # args + outputs + temps of the compiled program (XLA buffer assignment)
    xla_temp_bytes: int | None
    device_peak_bytes: int | None  # from device.memory_stats() where the backend reports it

    def as_dict(self) -> dict[str, Any]:
        """The timing as a dict of scalars (the per-call times left out)."""
        d = asdict(self)
        d.pop("times_s")
        return d


def compiled_memory(compiled: Any) -> tuple[int | None, int | None]:
    """XLA's buffer assignment of a compiled program: ``(arguments + outputs - aliased +
    temporaries, temporaries)`` in bytes, or ``(None, None)`` where the backend has no analysis."""
    try:
        m = compiled.memory_analysis()
    except Exception:  # noqa: BLE001 - not every backend implements it
        return None, None
    if m is None:
        return None, None
    temp = int(getattr(m, "temp_size_in_bytes", 0))
    total = (
        int(getattr(m, "argument_size_in_bytes", 0))
        + int(getattr(m, "output_size_in_bytes", 0))
        - int(getattr(m, "alias_size_in_bytes", 0))
        + temp
    )
    return total, temp


def _device_peak() -> int | None:
    """The device's peak bytes in use, where the backend reports memory statistics (GPU/TPU)."""
    try:
        stats = jax.devices()[0].memory_stats()
    except Exception:  # noqa: BLE001
        return None
    if not stats:
        return None
    return int(stats.get("peak_bytes_in_use", 0)) or None


@dataclass(frozen=True)
class Compiled:
    """A compiled program with its compile time and XLA buffer-assignment sizes."""

    call: Callable[..., Any]
    compile_s: float
    xla_bytes: int | None
    xla_temp_bytes: int | None


def compile_fn(fn: Callable[..., Any], *args: Any) -> Compiled:
    """``jax.jit(fn)`` lowered and compiled for ``args``; the compile time is timed on its own."""
    jitted = jax.jit(fn)
    t0 = _clock()
    compiled = jitted.lower(*args).compile()
    compile_s = _clock() - t0
    xla_bytes, temp = compiled_memory(compiled)
    return Compiled(compiled, compile_s, xla_bytes, temp)


def _run(call: Callable[..., Any], args: tuple) -> float:
    """Wall time of one call, ended by ``block_until_ready``."""
    t = _clock()
    jax.block_until_ready(call(*args))
    return _clock() - t


def time_compiled(
    progs: Mapping[str, tuple[Compiled, tuple]],
    *,
    repeats: int = 5,
    warmup: int = 1,
    min_time_s: float = 0.0,
    max_repeats: int = 100,
) -> dict[str, Timing]:
    """Time already compiled ``name -> (program, args)`` candidates, interleaved.

    Each candidate is called ``warmup`` times (at least once) before any timed call. A candidate
    gets ``repeats`` timed calls, or more for fast programs: enough for about ``min_time_s`` of
    timed calls (judged from its last warm-up call), at most ``max_repeats``. The timed calls
    run in rounds; every round calls each candidate that still needs calls once, and each call
    ends in ``jax.block_until_ready``. Returns one :class:`Timing` per name.
    """
    if repeats < 1:
        raise ValueError(f"repeats must be >= 1, got {repeats}")
    warmup = max(warmup, 1)  # the first call is never timed
    want: dict[str, int] = {}
    for name, (prog, args) in progs.items():
        for _ in range(warmup):
            w = _run(prog.call, args)
        extra = math.ceil(min_time_s / w) if min_time_s > 0 and w > 0 else 0
        want[name] = max(repeats, min(extra, max_repeats))
    times: dict[str, list[float]] = {name: [] for name in progs}
    while any(len(times[n]) < want[n] for n in progs):
        for name, (prog, args) in progs.items():
            if len(times[name]) < want[name]:
                times[name].append(_run(prog.call, args))
    peak = _device_peak()
    return {
        name: Timing(
            compile_s=prog.compile_s,
            median_s=statistics.median(times[name]),
            min_s=min(times[name]),
            times_s=tuple(times[name]),
            xla_bytes=prog.xla_bytes,
            xla_temp_bytes=prog.xla_temp_bytes,
            device_peak_bytes=peak,
        )
        for name, (prog, _) in progs.items()
    }


def time_many(
    cases: Mapping[str, tuple[Callable[..., Any], tuple]],
    *,
    repeats: int = 5,
    warmup: int = 1,
    min_time_s: float = 0.0,
) -> dict[str, Timing]:
    """Compile and time several ``name -> (fn, args)`` candidates, interleaved.

    Every candidate is compiled first (each compile timed on its own), then handed to
    :func:`time_compiled`: warm-up calls, then ``repeats`` rounds that call every candidate once.
    """
    progs = {name: (compile_fn(fn, *args), args) for name, (fn, args) in cases.items()}
    return time_compiled(progs, repeats=repeats, warmup=warmup, min_time_s=min_time_s)


def time_fn(fn: Callable[..., Any], *args: Any, repeats: int = 5, warmup: int = 1) -> Timing:
    """Compile ``fn`` for ``args`` and time it: compile separately, median of ``repeats`` after warm-up."""
    return time_many({"fn": (fn, args)}, repeats=repeats, warmup=warmup)["fn"]


def fit_loglog(x: Any, y: Any) -> float:
    """Least-squares slope of log y against log x (the scaling exponent)."""
    import numpy as np

    lx, ly = np.log(np.asarray(x, float)), np.log(np.asarray(y, float))
    if lx.size < 2:
        raise ValueError(f"need at least 2 points to fit an exponent, got {lx.size}")
    return float(np.polyfit(lx, ly, 1)[0])
