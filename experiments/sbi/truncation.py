"""Check 1 of ``suites/sbi.toml``: what truncation alone costs, with no neural network at all.

On the 1-D LGSSM task the exact posterior (Kalman likelihood) and the exact posterior of T-SNL's
infinite-data target, the truncated likelihood sum_t log p(y_t | y_{t-L:t-1}) (the T x T
covariance of y, :func:`ssmbench.sbi.truncated_log_lik`), are both computed by quadrature on a
grid of theta, so neither carries Monte Carlo error. Metrics per lag L (column ``lag``):

- ``trunc_mean_shift_sd``: |mean_L - mean_exact| / sd_exact;
- ``trunc_sd_ratio``: sd_L / sd_exact;
- ``trunc_full_lag_shift``: the same shift at L = T - 1, where the truncated likelihood is the
  full one (an oracle of the machinery: it must be ~0).

Also ``exact_post_mean`` and ``exact_post_sd`` of the grid posterior.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from ssmbench.sbi import LGSSMTask, truncated_log_lik

__all__ = ["truncation_experiment", "grid_posterior"]


def grid_posterior(
    log_density: Callable[[jax.Array], jax.Array], lo: float, hi: float, n: int = 2001
) -> tuple[float, float, np.ndarray, np.ndarray]:
    """Mean, sd, grid and normalised weights of a 1-D density by quadrature.

    A coarse pass over ``[lo, hi]`` finds where the log-density is within 40 nats of its maximum;
    the fine grid of ``n`` points spans that region padded by two coarse steps. ``log_density``
    maps a ``(1,)`` theta to a scalar.
    """
    f = jax.jit(jax.vmap(lambda t: log_density(t[None])))
    coarse = jnp.linspace(lo, hi, 801)
    lc = np.asarray(f(coarse))
    keep = np.nonzero(lc > np.nanmax(lc) - 40.0)[0]
    step = (hi - lo) / 800
    a = max(lo, float(coarse[keep[0]]) - 2 * step)
    b = min(hi, float(coarse[keep[-1]]) + 2 * step)
    grid = np.linspace(a, b, n)
    lp = np.asarray(f(jnp.asarray(grid)), np.float64)
    w = np.exp(lp - np.max(lp))
    w /= w.sum()
    mean = float(np.sum(w * grid))
    sd = float(np.sqrt(np.sum(w * (grid - mean) ** 2)))
    return mean, sd, grid, w


def truncation_experiment(
    *,
    seed: int,
    quick: bool = False,
    T: int = 100,
    lags: list[int] = [1, 2, 5, 10],  # noqa: B006 - suite-file default
    grid_points: int = 2001,
) -> list[dict[str, Any]]:
    """The exact and the exact truncated posteriors of one simulated series (module docstring)."""
    with jax.enable_x64(True):
        task = LGSSMTask(1)
        y = task.simulate(jax.random.PRNGKey(seed), task.theta_true, T)
        prior = task.prior_log_prob

        def exact(th):
            return prior(th) + task.exact_log_lik(th, y)

        m0, s0, _, _ = grid_posterior(exact, -5.0, 4.0, grid_points)
        rows: list[dict[str, Any]] = [
            {"metric": "exact_post_mean", "value": m0},
            {"metric": "exact_post_sd", "value": s0},
        ]
        for lag in [*lags, T - 1]:

            def trunc(th, lag=lag):
                return prior(th) + truncated_log_lik(task.model(th), y, lag)

            m, s, _, _ = grid_posterior(trunc, -5.0, 4.0, grid_points)
            shift = abs(m - m0) / s0
            if lag == T - 1:
                rows.append({"metric": "trunc_full_lag_shift", "value": shift})
                continue
            rows.append({"metric": "trunc_mean_shift_sd", "value": shift, "lag": lag})
            rows.append({"metric": "trunc_sd_ratio", "value": s / s0, "lag": lag})
    return rows
