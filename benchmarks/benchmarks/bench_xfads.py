"""Regression benchmarks of the XFADS filter: time per call of T = 16 steps, low rank vs dense.

The low-rank filter (``ssmbench.prob.xfads.xfads_filter``) against the dense reference of the
same sampled filter (``experiments.xfads.exactness.cost_cases``: L x L covariances), over the
state dimension L, with rank r = 4 and S = 5 samples. Compiled and warmed up in ``setup``; each
timed call ends in ``jax.block_until_ready``. ``suites/xfads.toml`` (experiment ``cost``) fits
the slopes over L = 32..2048.
"""

from __future__ import annotations

import jax

from experiments.xfads.exactness import cost_cases
from ssmbench import timing

IMPLS = ["lowrank", "dense"]
STATE_DIMS = [128, 512]
T, RANK, S = 16, 4, 5


def build(impl: str, L: int):
    """The compiled filter of ``impl`` at state dimension ``L`` and its arguments."""
    fn, args = cost_cases(jax.random.PRNGKey(L), L, rank=RANK, num_samples=S, T=T, obs_dim=1)[impl]
    prog = timing.compile_fn(fn, *args)
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
