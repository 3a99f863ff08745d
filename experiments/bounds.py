"""Suite experiments for the Monte Carlo bounds (``suites/bounds.toml``; the bounds are in
:mod:`ssmbench.prob.bounds`).

One cell = one (model, bound, proposal, N, T) and one suite seed. The suite seed fixes the
simulated data set y; inside the cell the bound is evaluated with ``num_seeds`` independent Monte
Carlo keys, giving the mean and standard deviation of log Z-hat over those keys. One evaluation
(one key) is compiled once (compile time reported apart); the ``num_seeds`` evaluations, each ended
by ``jax.block_until_ready`` after a warm-up call, double as the timing repeats (median reported).

Proposals (``proposal``):
- ``"prior"``: the model's prior, i.e. the bootstrap proposal for elbo/iwae/smc and the prior
  marginals p(x_t) for pvmc (which needs per-t marginals); it ignores y.
- ``"smoother"``: per-t Gaussians from a Kalman smoother (exact RTS marginals of the LGSSM with
  covariance inflated by ``inflation``; for stochastic volatility the RTS marginals of its standard
  log-chi^2 linearization, :func:`ssmbench.prob.sv_linearized_marginals`), used by all four bounds (the sequential bounds then ignore x_{t-1}).
"""

from __future__ import annotations

import math
import time
from typing import Literal

import jax
import jax.numpy as jnp
import numpy as np

from ssmbench.prob import (
    BOUNDS,
    LGSSM,
    BootstrapProposal,
    GaussianMarginals,
    StochasticVolatility,
    kalman_filter,
    sv_linearized_marginals,
)

__all__ = ["bound_statistics"]


def _setup(model_name: str, proposal: str, bound: str, T: int, data_seed: int, inflation: float):
    """The model, the proposal, simulated data y and the exact log p(y) (LGSSM; else None)."""
    if model_name == "lgssm":
        model = LGSSM.vsmc()
    elif model_name == "sv":
        model = StochasticVolatility(mu=-1.0, phi=0.95, sigma=0.3, beta=1.0)
    else:
        raise ValueError(f"unknown model {model_name!r}")
    _, y = model.simulate(jax.random.PRNGKey(data_seed), T)
    exact = float(kalman_filter(model, y).log_likelihood) if isinstance(model, LGSSM) else None
    if proposal == "prior":
        if bound != "pvmc":
            q = BootstrapProposal()
        elif isinstance(model, LGSSM):
            q = GaussianMarginals.prior_marginals(model, T)
        else:
            m0, s0 = model.initial_dist(None)  # stationary law, the marginal at every t
            q = GaussianMarginals(jnp.broadcast_to(m0, (T,) + m0.shape), jnp.broadcast_to(s0, (T,) + s0.shape))  # fmt: skip
    elif proposal == "smoother":
        if isinstance(model, LGSSM):
            q = GaussianMarginals.from_kalman_smoother(model, y, inflation=inflation)
        else:
            q = sv_linearized_marginals(model, y, inflation=inflation)
    else:
        raise ValueError(f"unknown proposal {proposal!r}")
    return model, q, y, exact


def bound_statistics(
    *,
    seed: int,
    quick: bool = False,
    model: Literal["lgssm", "sv"] = "lgssm",
    bound: Literal["elbo", "iwae", "smc", "pvmc"] = "smc",
    proposal: Literal["prior", "smoother"] = "prior",
    num_particles: int = 16,
    T: int = 10,
    num_seeds: int = 20,
    inflation: float = 2.0,
    matmul: Literal["auto", "exp", "exact"] = "auto",
) -> list[dict]:
    """Mean / std of log Z-hat over ``num_seeds`` Monte Carlo keys, the gap to the exact log p(y)
    (LGSSM only), and the wall time of one evaluation (compile separate).

    Rows: ``mean_log_Z``, ``std_log_Z``, ``time_s``, ``compile_s``, and for the LGSSM ``exact_log_p``,
    ``gap`` = log p(y) - mean log Z-hat, ``gap_se`` = std / sqrt(num_seeds) and
    ``gap_plus_3se`` = gap + 3 gap_se (>= 0 is the bound property at 3 standard errors).
    ``quick`` caps the work at 8 keys. Timing: the program is compiled once (``compile_s``), called
    once to warm up, then each of the ``num_seeds`` evaluations is timed to
    ``jax.block_until_ready``; ``time_s`` is their median (>= 5 repeats when num_seeds >= 5).
    """
    if quick:
        num_seeds = min(num_seeds, 8)
    m, q, y, exact = _setup(model, proposal, bound, T, seed, inflation)
    fn = BOUNDS[bound]
    N = num_particles
    kw = {"smoothing": False, "matmul": matmul} if bound == "pvmc" else {}

    def one(key):
        return fn(key, m, q, y, N, **kw)[0]

    keys = jax.random.split(jax.random.PRNGKey(10_000 + seed), num_seeds)
    t0 = time.perf_counter()
    compiled = jax.jit(one).lower(keys[0]).compile()
    compile_s = time.perf_counter() - t0
    jax.block_until_ready(compiled(keys[0]))  # warm-up
    lz, times = [], []
    for k in keys:  # each Monte Carlo key is one timed repeat of the same compiled program
        t0 = time.perf_counter()
        lz.append(float(jax.block_until_ready(compiled(k))))
        times.append(time.perf_counter() - t0)
    lz = np.asarray(lz)
    mean, std = float(lz.mean()), float(lz.std(ddof=1)) if num_seeds > 1 else 0.0
    metrics = {
        "mean_log_Z": mean,
        "std_log_Z": std,
        "time_s": float(np.median(times)),
        "compile_s": compile_s,
    }
    if exact is not None:
        se = std / math.sqrt(num_seeds)
        metrics.update(
            exact_log_p=exact, gap=exact - mean, gap_se=se, gap_plus_3se=exact - mean + 3 * se
        )
    return [{"metric": k, "value": float(v)} for k, v in metrics.items()]
