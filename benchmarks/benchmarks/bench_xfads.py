"""Regression benchmarks of the XFADS filter: time per call of T = 16 steps, low rank vs dense.

The low-rank filter (``ssmbench.prob.xfads.xfads_filter``) against the dense reference of the
same sampled filter (``experiments.xfads.exactness._dense_filter``: L x L covariances), over the
state dimension L, with rank r = 4 and S = 5 samples. Compiled and warmed up in ``setup``; each
timed call ends in ``jax.block_until_ready``. ``suites/xfads.toml`` (experiment ``cost``) fits
the slopes over L = 32..2048.
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp

from experiments.xfads.exactness import _dense_filter, _dynamics
from ssmbench import timing
from ssmbench.prob.xfads import xfads_filter

IMPLS = ["lowrank", "dense"]
STATE_DIMS = [128, 512]
T, RANK, S = 16, 4, 5


def build(impl: str, L: int):
    """The compiled filter of ``impl`` at state dimension ``L`` and its arguments."""
    ks = jax.random.split(jax.random.PRNGKey(L), 4)
    dyn = _dynamics(ks[0], L)
    q, q0, m0 = jnp.full(L, 0.01, jnp.float32), jnp.ones(L, jnp.float32), jnp.zeros(L, jnp.float32)
    k = jax.random.normal(ks[1], (T, L), jnp.float32)
    K = jax.random.normal(ks[2], (T, L, RANK), jnp.float32) / math.sqrt(L)
    C, d, y = (
        jnp.zeros((1, L), jnp.float32),
        jnp.zeros(1, jnp.float32),
        jnp.zeros((T, 1), jnp.float32),
    )

    def ell(yt, mu, var):
        return jnp.sum(mu) * 0.0

    def low(key, k, K):
        return xfads_filter(key, dyn, q, m0, q0, k, K, y, C, d, ell, num_samples=S)[0]

    def dense(key, k, K):
        return _dense_filter(key, dyn, q, m0, q0, k, K, S)

    args = (ks[3], k, K)
    prog = timing.compile_fn(low if impl == "lowrank" else dense, *args)
    jax.block_until_ready(prog.call(*args))
    return prog, args


class TimeXfadsFilter:
    """One call of the filter over T = 16 steps."""

    params = (IMPLS, STATE_DIMS)
    param_names = ["impl", "L"]
    timeout = 300

    def setup(self, impl, L):
        self.prog, self.args = build(impl, L)

    def time_filter(self, impl, L):
        jax.block_until_ready(self.prog.call(*self.args))
