"""An interleaved benchmark of the two PVMC paths (sequential and associative scan): the loss and
gradient of each, compiled once, then timed in alternation (7 repeats) at T = 128 and N = 16, 64.

``python -m experiments.trainers.pathbench`` (its output on the CPU box: ``results/trainers/previous/pathbench.txt``).
"""

from __future__ import annotations

import statistics
import time

import equinox as eqx
import jax
import jax.numpy as jnp

from ssmbench.prob import make_loss, make_proposal
from ssmbench.tasks.ssm_data import lgssm_task

from .tasks import init_lgssm


def main() -> None:
    """Print the compile-and-first-call time and the median time of each path."""
    for T, N in [(128, 16), (128, 64)]:
        task = lgssm_task(T, seed=0, n_train=1, n_val=1, n_test=1)
        y = jnp.asarray(task.y_train, jnp.float32)
        m = init_lgssm(jax.random.PRNGKey(0), 5, 5)
        q = make_proposal("pvmc", 5, 5, 32, key=jax.random.PRNGKey(1))
        fns = {}
        for meth in ("pvmc-seq", "pvmc-assoc"):
            f = eqx.filter_jit(eqx.filter_value_and_grad(make_loss(meth, N), has_aux=True))
            t = time.perf_counter()
            jax.block_until_ready(f((m, q), jax.random.PRNGKey(2), y))
            c = time.perf_counter() - t
            fns[meth] = f
            print(T, N, meth, "compile+first", round(c, 1), flush=True)
        times = {k: [] for k in fns}
        for r in range(7):
            for meth, f in fns.items():
                t = time.perf_counter()
                jax.block_until_ready(f((m, q), jax.random.PRNGKey(r), y))
                times[meth].append(time.perf_counter() - t)
        for meth in fns:
            med = round(statistics.median(times[meth]), 4)
            print(T, N, meth, "median s", med, [round(x, 3) for x in times[meth]], flush=True)


if __name__ == "__main__":
    main()
