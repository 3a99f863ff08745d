"""Throughput measurement done properly.

- Compile time is measured separately (``jit(...).lower(...).compile()``), never mixed into
  steady-state time.
- Steady state: one warm-up call, then the median of ``repeats`` calls, each ending in
  ``jax.block_until_ready``.
- Memory: XLA's buffer assignment for the compiled program (arguments + outputs + temporaries,
  ``compiled.memory_analysis()``), which is available on every backend, and, where the device
  reports it (GPU/TPU), the device's peak bytes in use.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

import jax

__all__ = ["Timing", "time_fn", "fit_loglog"]


@dataclass(frozen=True)
class Timing:
    compile_s: float
    median_s: float
    min_s: float
    times_s: tuple[float, ...]
    xla_bytes: int | None  # args + outputs + temps of the compiled program (XLA buffer assignment)
    xla_temp_bytes: int | None
    device_peak_bytes: int | None  # from device.memory_stats() where the backend reports it

    def as_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d.pop("times_s")
        return d


def _memory(compiled: Any) -> tuple[int | None, int | None]:
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
    try:
        stats = jax.devices()[0].memory_stats()
    except Exception:  # noqa: BLE001
        return None
    if not stats:
        return None
    return int(stats.get("peak_bytes_in_use", 0)) or None


def time_fn(fn: Callable[..., Any], *args: Any, repeats: int = 5, warmup: int = 1) -> Timing:
    """Compile ``fn`` for ``args`` and time it: compile separately, median of ``repeats`` after warm-up."""
    if repeats < 1:
        raise ValueError(f"repeats must be >= 1, got {repeats}")
    jitted = jax.jit(fn)
    t0 = time.perf_counter()
    compiled = jitted.lower(*args).compile()
    compile_s = time.perf_counter() - t0
    xla_bytes, temp = _memory(compiled)
    for _ in range(max(warmup, 1)):
        jax.block_until_ready(compiled(*args))
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        jax.block_until_ready(compiled(*args))
        times.append(time.perf_counter() - t)
    return Timing(
        compile_s=compile_s,
        median_s=statistics.median(times),
        min_s=min(times),
        times_s=tuple(times),
        xla_bytes=xla_bytes,
        xla_temp_bytes=temp,
        device_peak_bytes=_device_peak(),
    )


def fit_loglog(x: Any, y: Any) -> float:
    """Least-squares slope of log y against log x (the scaling exponent)."""
    import numpy as np

    lx, ly = np.log(np.asarray(x, float)), np.log(np.asarray(y, float))
    return float(np.polyfit(lx, ly, 1)[0])
