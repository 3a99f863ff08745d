"""XLA's cost analysis of PVMC's associative path on a batch: what ``vmap`` does to the exp/exact
choice, and what the likelihood-only reduction saves (issue #19, "fair accelerator path").

``python -m experiments.trainers.pvmc_cost [T N B]`` prints one row per variant of the jitted
value-and-gradient of the mean bound over a batch of B sequences (LGSSM d_x = 5, d_y = 3,
float32, the exact RTS marginals as proposal):

- ``vmap-auto-prefix``: the old training path, per-sequence ``matmul="auto"`` under ``vmap`` (the
  cond becomes a select, so the chunked exact products always run too), full prefix scan;
- ``batch-auto-prefix``: :func:`~ssmbench.prob.bounds.pvmc_batch` (one batch-level cond) with the
  prefix scan (``smoothing=True``);
- ``batch-auto-reduce``: ``pvmc_batch`` with the likelihood-only reduction (``smoothing=False``,
  what training uses);
- ``vmap-exp-prefix`` / ``vmap-exp-reduce``: the exp branch alone, which is what the batch-level
  rows run unless an underflow occurred.

The flops and bytes are XLA's static estimates on the current backend (a ``cond`` counts its
branches as the compiler sees them, so the batch-level rows include the exact branch's cost once
although it only runs after an underflow); temporaries are the compiled program's temp buffer.
Nothing is timed here.
"""

from __future__ import annotations

import sys

import jax
import jax.numpy as jnp

from ssmbench.prob import LGSSM, GaussianMarginals, pvmc, pvmc_batch

__all__ = ["cost_rows"]


def _costs(fn, *args):
    """(flops, bytes accessed, temporary bytes) of the compiled ``fn(*args)``."""
    compiled = jax.jit(fn).lower(*args).compile()
    ca = compiled.cost_analysis()
    ca = ca[0] if isinstance(ca, list) else ca
    mem = compiled.memory_analysis()
    temp = getattr(mem, "temp_size_in_bytes", float("nan")) if mem is not None else float("nan")
    return float(ca.get("flops", float("nan"))), float(ca.get("bytes accessed", float("nan"))), temp


def cost_rows(T: int = 256, N: int = 32, B: int = 16) -> list[dict]:
    """One dict per variant: name, flops, bytes accessed, temporary bytes (module docstring)."""
    m = LGSSM.vsmc(dtype=jnp.float32)
    ys = jnp.stack([m.simulate(jax.random.PRNGKey(i), T)[1] for i in range(B)])
    q = GaussianMarginals.from_kalman_smoother(m, ys[0])
    key = jax.random.PRNGKey(0)

    def vmapped(mm, smoothing):
        def loss(model):
            keys = jax.random.split(key, B)
            lz = jax.vmap(lambda k, y: pvmc(k, model, q, y, N, matmul=mm, smoothing=smoothing)[0])(
                keys, ys
            )
            return -jnp.mean(lz)

        return jax.value_and_grad(loss)  # every leaf of the LGSSM is an array

    def batched(smoothing):
        def loss(model):
            return -jnp.mean(pvmc_batch(key, model, q, ys, N, smoothing=smoothing)[0])

        return jax.value_and_grad(loss)  # every leaf of the LGSSM is an array

    variants = {
        "vmap-auto-prefix": vmapped("auto", True),
        "batch-auto-prefix": batched(True),
        "batch-auto-reduce": batched(False),
        "vmap-exp-prefix": vmapped("exp", True),
        "vmap-exp-reduce": vmapped("exp", False),
    }
    rows = []
    for name, f in variants.items():
        flops, bytes_, temp = _costs(f, m)
        rows.append({"variant": name, "T": T, "N": N, "B": B, "flops": flops,
                     "bytes_accessed": bytes_, "temp_bytes": temp})  # fmt: skip
    return rows


if __name__ == "__main__":
    T, N, B = (int(a) for a in sys.argv[1:4]) if len(sys.argv) >= 4 else (256, 32, 16)
    print(f"backend {jax.default_backend()}, jax {jax.__version__}")
    print("| variant | flops | bytes accessed | temporaries (MB) |")
    print("|---|---|---|---|")
    for r in cost_rows(T, N, B):
        print(f"| {r['variant']} | {r['flops']:.3g} | {r['bytes_accessed']:.3g} | "
              f"{r['temp_bytes'] / 1e6:.1f} |")  # fmt: skip
