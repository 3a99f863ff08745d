"""Wall time of PVMC's jitted value and value-and-gradient on the LGSSM (issue #19's grid).

``python -m experiments.trainers.pvmc_speed [--sizes T:N,...] [--repeats R]`` prints one JSON line
per (T, N, pass): LGSSM d_x = 5, d_y = 3 (VSMC's), float32, the exact RTS marginals as proposal,
the path that :func:`ssmbench.prob.pvmc_path` picks on this backend (``--method`` overrides it).
Compile time is measured apart (the first call); the statistic is the median of ``R`` calls,
each ending in ``block_until_ready``, with a fresh key per call.

Only the public API (``LGSSM``, ``GaussianMarginals``, ``pvmc``) is used, so the same file can time
another checkout: ``PYTHONPATH=/path/to/old/checkout python experiments/trainers/pvmc_speed.py``.
Time nothing else on the machine meanwhile.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time

import jax
import jax.numpy as jnp

from ssmbench.prob import LGSSM, GaussianMarginals, pvmc

__all__ = ["time_pvmc"]


def time_pvmc(T: int, N: int, *, method: str | None = None, repeats: int = 7) -> list[dict]:
    """Rows ``{T, N, pass, method, compile_s, median_s, min_s}`` for ``value`` and ``value+grad``."""
    method = method or ("sequential" if jax.default_backend() == "cpu" else "associative")
    m = LGSSM.vsmc(dtype=jnp.float32)
    _, y = m.simulate(jax.random.PRNGKey(1), T)
    q = GaussianMarginals.from_kalman_smoother(m, y)

    def bound(model, k):
        return pvmc(k, model, q, y, N, method=method, smoothing=False)[0]

    fns = {"value": jax.jit(bound), "value+grad": jax.jit(jax.value_and_grad(bound))}
    rows = []
    for name, f in fns.items():
        t0 = time.perf_counter()
        jax.block_until_ready(f(m, jax.random.PRNGKey(0)))
        compile_s = time.perf_counter() - t0
        times = []
        for i in range(repeats):
            t0 = time.perf_counter()
            jax.block_until_ready(f(m, jax.random.PRNGKey(i + 1)))
            times.append(time.perf_counter() - t0)
        rows.append({"T": T, "N": N, "pass": name, "method": method, "compile_s": compile_s,
                     "median_s": statistics.median(times), "min_s": min(times)})  # fmt: skip
    return rows


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", default="128:32,128:64,500:32,500:64,2048:32,2048:64")
    ap.add_argument("--repeats", type=int, default=7)
    ap.add_argument("--method", default=None)
    a = ap.parse_args()
    for tn in a.sizes.split(","):
        T, N = (int(v) for v in tn.split(":"))
        for row in time_pvmc(T, N, method=a.method, repeats=a.repeats):
            print(json.dumps(row), flush=True)
