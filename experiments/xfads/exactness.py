"""XFADS exactness and cost experiments (``suites/xfads.toml``).

- :func:`oracle_experiment`: on a random LGSSM (diagonal Q, P0, R), the filter with exact
  pseudo-observations and sigma-point prediction against the Kalman filter
  (``oracle_max_abs_err``: max over filtered means, covariances and L-hat - log p(y)); L-hat -
  log p(y) with S random samples (``lhat_gap_sampled``, mean over keys, per S); and the largest
  L-hat - log p(y) that free pseudo-observations reach when optimised to maximise L-hat
  (``lhat_gap_optimised``, sigma-point prediction, so no Monte Carlo error): a positive value
  shows L-hat is not a lower bound on log p(y).
- :func:`cost_experiment`: steady-state time per filter step (a scan of ``T`` steps with fixed
  pseudo-observations, median of repeats, compile separate) for L in ``state_dims``: the low-rank
  filter, and a dense reference that forms the L x L covariances and uses
  :func:`~ssmbench.prob.xfads.dense_update`; ``cost_slope_lowrank`` / ``cost_slope_dense`` are the
  log-log slopes of time against L.
"""

from __future__ import annotations

import math
from typing import Any

import jax
import jax.numpy as jnp
import optax

from ssmbench.prob import LGSSM, kalman_filter
from ssmbench.prob.xfads import (
    dense_update,
    gaussian_expected_log_prob,
    lowrank_dense_cov,
    predict_from_samples,
    xfads_filter,
)
from ssmbench.timing import fit_loglog, time_many

__all__ = ["oracle_experiment", "cost_experiment", "cost_cases"]


def _random_lgssm(key, L: int, dy: int, T: int):
    """A random stable LGSSM with diagonal noise covariances, its parameters and one sequence."""
    ks = jax.random.split(key, 6)
    A = jax.random.normal(ks[0], (L, L))
    A = (0.9 * A / jnp.max(jnp.abs(jnp.linalg.eigvals(A)))).real
    C = jax.random.normal(ks[1], (dy, L)) / math.sqrt(L)
    q = 0.1 + 0.4 * jax.random.uniform(ks[2], (L,))
    q0 = 0.5 + jax.random.uniform(ks[3], (L,))
    r = 0.1 + 0.4 * jax.random.uniform(ks[4], (dy,))
    b, d, m0 = jnp.zeros(L), jnp.zeros(dy), jnp.zeros(L)
    lg = LGSSM.from_covariances(m0, jnp.diag(q0), A, jnp.diag(q), C, jnp.diag(r), b=b, d=d)
    _, y = lg.simulate(ks[5], T)
    return lg, (A, C, q, q0, r, m0), y


def oracle_experiment(
    *,
    seed: int,
    quick: bool = False,
    state_dim: int = 4,
    obs_dim: int = 3,
    T: int = 50,
    sample_counts: list[int] = [5, 20, 100, 1000],  # noqa: B006 - suite-file default
    n_keys: int = 20,
    opt_steps: int = 500,
) -> list[dict[str, Any]]:
    """The oracle, the sampled gap and the optimised gap (module docstring); float64."""
    with jax.enable_x64(True):
        key = jax.random.PRNGKey(seed)
        lg, (A, C, q, q0, r, m0), y = _random_lgssm(key, state_dim, obs_dim, T)
        kf = kalman_filter(lg, y)
        exact = float(kf.log_likelihood)
        k = (y / r[None]) @ C
        K = jnp.broadcast_to((C / jnp.sqrt(r)[:, None]).T, (T, state_dim, obs_dim))
        dyn = lambda z: A @ z  # noqa: E731
        log_r = jnp.log(r)
        ell = lambda yt, mu, var: gaussian_expected_log_prob(yt, mu, var, log_r)  # noqa: E731

        def run(key, k, K, **kw):
            return xfads_filter(key, dyn, q, m0, q0, k, K, y, C, jnp.zeros(obs_dim), ell, **kw)

        lhat, d = run(key, k, K, predict="sigma")
        covs = jax.vmap(lowrank_dense_cov)(d["posts"])
        err = max(float(jnp.max(jnp.abs(d["means"] - kf.filtered_means))),
                  float(jnp.max(jnp.abs(covs - kf.filtered_covs))), abs(float(lhat) - exact))  # fmt: skip
        rows = [
            {"metric": "oracle_max_abs_err", "value": err},
            {"metric": "exact_log_p", "value": exact},
        ]
        for S in sample_counts:
            keys = jax.random.split(jax.random.fold_in(key, S), n_keys)
            vals = jax.jit(jax.vmap(lambda kk, S=S: run(kk, k, K, num_samples=S)[0]))(keys)
            gap = vals - exact
            rows.append(
                {"metric": "lhat_gap_sampled", "value": float(jnp.mean(gap)), "n_samples": S}
            )
            rows.append({"metric": "lhat_gap_sampled_se", "value": float(jnp.std(gap) / math.sqrt(n_keys)), "n_samples": S})  # fmt: skip

        # free pseudo-observations, optimised to maximise L-hat (sigma points: deterministic)
        obj = jax.jit(lambda p: -run(key, p[0], p[1], predict="sigma")[0])
        opt = optax.adam(1e-2)
        p = (k, K)
        state = opt.init(p)
        best = float(lhat)

        @jax.jit
        def step(p, state):
            val, g = jax.value_and_grad(obj)(p)
            # optax mixes Python floats with its int32 step count, which strict promotion refuses
            with jax.numpy_dtype_promotion("standard"):
                upd, state = opt.update(g, state, p)
            return optax.apply_updates(p, upd), state, val

        for _ in range(opt_steps):
            p, state, val = step(p, state)
            best = max(best, -float(val))
        best = max(best, -float(obj(p)))
        rows.append({"metric": "lhat_gap_optimised", "value": best - exact})
    return rows


def _dynamics(key, L: int, hidden: int = 64):
    """z + W2 tanh(W1 z): an MLP whose cost is linear in L."""
    k1, k2 = jax.random.split(key)
    W1 = jax.random.normal(k1, (hidden, L), jnp.float32) / math.sqrt(L)
    W2 = 0.1 * jax.random.normal(k2, (L, hidden), jnp.float32) / math.sqrt(hidden)
    return lambda z: z + W2 @ jnp.tanh(W1 @ z)


def _dense_filter(key, dyn, q, m0, q0, k, K, S: int):
    """The dense reference of the sampled filter (L x L covariances, O(L^3) per step); returns the
    sum of the KLs (enough to time it)."""
    L = m0.shape[0]
    m, P, kl0 = dense_update(m0, jnp.diag(q0), k[0], K[0])

    def step(carry, inp):
        m, P = carry
        kk, kt, Kt = inp
        z = m[None, :] + jax.random.normal(kk, (S, L), m.dtype) @ jnp.linalg.cholesky(P).T
        mbar, Mc = predict_from_samples(jax.vmap(dyn)(z))
        m, P, kl = dense_update(mbar, Mc @ Mc.T + jnp.diag(q), kt, Kt)
        return (m, P), kl

    _, kls = jax.lax.scan(step, (m, P), (jax.random.split(key, k.shape[0] - 1), k[1:], K[1:]))
    return kl0 + jnp.sum(kls)


def cost_cases(
    key: jax.Array,
    L: int,
    *,
    rank: int = 4,
    num_samples: int = 5,
    T: int = 16,
    obs_dim: int = 8,
    dense: bool = True,
) -> dict[str, tuple[Any, tuple]]:
    """The timed programs at state dimension ``L``: ``{"lowrank": (fn, args), "dense": ...}``,
    each a T-step filter with random pseudo-observations of rank ``rank`` and an MLP's dynamics
    (the emission term is zero: the update's cost only). Shared with the asv benchmark."""
    ks = jax.random.split(key, 4)
    dyn = _dynamics(ks[0], L)
    q, q0, m0 = jnp.full(L, 0.01, jnp.float32), jnp.ones(L, jnp.float32), jnp.zeros(L, jnp.float32)
    k = jax.random.normal(ks[1], (T, L), jnp.float32)
    K = jax.random.normal(ks[2], (T, L, rank), jnp.float32) / math.sqrt(L)
    C, d = jnp.zeros((obs_dim, L), jnp.float32), jnp.zeros(obs_dim, jnp.float32)
    y = jnp.zeros((T, obs_dim), jnp.float32)

    def ell(yt, mu, var):
        return jnp.sum(mu) * 0.0

    def low(key, k, K):
        return xfads_filter(key, dyn, q, m0, q0, k, K, y, C, d, ell, num_samples=num_samples)[0]

    def dense_fn(key, k, K):
        return _dense_filter(key, dyn, q, m0, q0, k, K, num_samples)

    cases = {"lowrank": (low, (ks[3], k, K))}
    if dense:
        cases["dense"] = (dense_fn, (ks[3], k, K))
    return cases


def cost_experiment(
    *,
    seed: int,
    quick: bool = False,
    state_dims: list[int] = [32, 128, 512, 2048],  # noqa: B006 - suite-file default
    rank: int = 4,
    num_samples: int = 5,
    T: int = 16,
    obs_dim: int = 8,
    repeats: int = 7,
    dense: bool = True,
) -> list[dict[str, Any]]:
    """Time per filter step against L, low-rank vs dense (float32; module docstring)."""
    rows: list[dict[str, Any]] = []
    t_low, t_dense = [], []
    for L in state_dims:
        cases = cost_cases(jax.random.PRNGKey(seed + L), L, rank=rank, num_samples=num_samples,
                           T=T, obs_dim=obs_dim, dense=dense)  # fmt: skip
        timings = time_many(cases, repeats=repeats, warmup=1)
        for name, tm in timings.items():
            per_step = tm.median_s / T
            (t_low if name == "lowrank" else t_dense).append(per_step)
            rows.append({"metric": "step_s", "value": per_step, "impl": name, "state_dim": L})
            rows.append(
                {"metric": "compile_s", "value": tm.compile_s, "impl": name, "state_dim": L}
            )
    rows.append({"metric": "cost_slope_lowrank", "value": fit_loglog(state_dims, t_low)})
    if dense:
        rows.append({"metric": "cost_slope_dense", "value": fit_loglog(state_dims, t_dense)})
        rows.append({"metric": "dense_over_lowrank_at_max_L", "value": t_dense[-1] / t_low[-1]})
    return rows
