import time, sys, statistics
import jax, jax.numpy as jnp, equinox as eqx
from ssmbench.trainers import init_lgssm, make_proposal, make_loss
from ssmbench.tasks.ssm_data import lgssm_task
for T, N in [(128, 16), (128, 64)]:
    task = lgssm_task(T, seed=0, n_train=1, n_val=1, n_test=1)
    y = jnp.asarray(task.y_train, jnp.float32)
    m = init_lgssm(jax.random.PRNGKey(0), 5, 5)
    q = make_proposal("pvmc", 5, 5, 32, key=jax.random.PRNGKey(1))
    fns = {}
    for meth in ("pvmc-seq", "pvmc-assoc"):
        f = eqx.filter_jit(eqx.filter_value_and_grad(make_loss(meth, N), has_aux=True))
        t = time.perf_counter(); jax.block_until_ready(f((m, q), jax.random.PRNGKey(2), y)); c = time.perf_counter() - t
        fns[meth] = f
        print(T, N, meth, "compile+first", round(c, 1), flush=True)
    times = {k: [] for k in fns}
    for r in range(7):
        for meth, f in fns.items():
            t = time.perf_counter(); jax.block_until_ready(f((m, q), jax.random.PRNGKey(r), y)); times[meth].append(time.perf_counter() - t)
    for meth in fns:
        print(T, N, meth, "median s", round(statistics.median(times[meth]), 4), [round(x, 3) for x in times[meth]], flush=True)
