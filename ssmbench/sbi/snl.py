"""Sequential neural likelihood: T-SNL (truncated, per-step) and plain SNL (whole series).

T-SNL (Tsampourakis & Elvira, arXiv 2605.21805) fits a conditional flow q(y_t | h_t, theta) on
the rows of every simulated series (:func:`ssmbench.sbi.rows_from_batch`) and uses the
surrogate ``l_hat(theta) = sum_t log q(y_t^o | h_t^o, theta)`` (:class:`TruncatedSurrogate`).
SNL fits q(y_{1:T} | theta) on the flattened series (:class:`SeriesSurrogate`). Both run
sequential rounds (:func:`tsnl`, :func:`snl`): round 0 simulates from the prior, round r > 0
from the last ``num_simulations`` positions of round r-1's posterior chain; the rows of all
rounds are pooled and the flow is refitted from scratch; the posterior ``p(theta) exp(l_hat)``
is sampled by random-walk Metropolis (:func:`ssmbench.sbi.random_walk_metropolis`), started at
``init`` in round 0 and at the previous round's posterior mean after that.

Not copied from the authors' code: their MCMC target uses the *mean* over t, i.e. the
posterior tempered by 1/T. ``reduction="mean"`` keeps it as a named option, only to show that
effect; the default is the sum. Also left out: their ABC-like resampling of training series.

Failed simulations (any NaN/inf) are dropped and counted (``n_sim_dropped``); a round that
loses more than half of its simulations is recorded in ``diverged_rounds`` and the run goes
on. ``sim_steps`` counts every simulated time step, dropped ones included.
"""

from __future__ import annotations

import abc
from typing import Literal, NamedTuple

import equinox as eqx
import jax
import jax.numpy as jnp
from jaxtyping import Array, Float

from ssmbench.train import TrainConfig

from ._checks import check_lag, check_series
from .flows import FLOW_CONFIG, ConditionalFlow, fit_conditional_flow
from .mcmc import MCMCResult, check_start, random_walk_metropolis
from .tasks import AbstractSBITask
from .windows import make_rows, rows_from_batch

__all__ = [
    "AbstractSurrogate",
    "TruncatedSurrogate",
    "SeriesSurrogate",
    "SNLResult",
    "fit_tsnl_surrogate",
    "fit_snl_surrogate",
    "surrogate_posterior",
    "tsnl",
    "snl",
]

_REDUCTIONS = ("sum", "mean")


class AbstractSurrogate(eqx.Module):
    """A fitted neural log-likelihood ``l_hat(theta; y)`` around a :class:`ConditionalFlow`."""

    flow: eqx.AbstractVar[ConditionalFlow]

    @abc.abstractmethod
    def log_lik(self, theta: Float[Array, " p"], y: Float[Array, "T dy"]) -> Float[Array, ""]:
        """The surrogate log-likelihood of the series ``y`` at ``theta``."""


class TruncatedSurrogate(AbstractSurrogate):
    """T-SNL's ``l_hat(theta) = sum_t log q(y_t | h_t, theta)`` (``reduction="sum"``), or the
    authors' tempered ``(1/T) sum_t`` (``reduction="mean"``, a bug kept only as an option)."""

    flow: ConditionalFlow
    lag: int = eqx.field(static=True)
    reduction: str = eqx.field(static=True, default="sum")

    def __check_init__(self) -> None:
        """Validate ``reduction``."""
        if self.reduction not in _REDUCTIONS:
            raise ValueError(f"reduction must be one of {_REDUCTIONS}, got {self.reduction!r}")

    def terms(self, theta: Float[Array, " p"], y: Float[Array, "T dy"]) -> Float[Array, " T"]:
        """``log q(y_t | h_t, theta)`` for t = 0..T-1."""
        th, h, tg = make_rows(theta, y, self.lag)
        return self.flow.log_prob(tg, jnp.concatenate([th, h.reshape(h.shape[0], -1)], axis=1))

    def log_lik(self, theta: Float[Array, " p"], y: Float[Array, "T dy"]) -> Float[Array, ""]:
        """The sum (or the mean) of :meth:`terms`."""
        t = self.terms(theta, y)
        return jnp.sum(t) if self.reduction == "sum" else jnp.mean(t)


class SeriesSurrogate(AbstractSurrogate):
    """SNL's ``l_hat(theta) = log q(vec y | theta)`` (a flow over the flattened series)."""

    flow: ConditionalFlow

    def log_lik(self, theta: Float[Array, " p"], y: Float[Array, "T dy"]) -> Float[Array, ""]:
        """log q(vec y | theta)."""
        return self.flow.log_prob(y.reshape(-1), theta)


class SNLResult(NamedTuple):
    """What :func:`tsnl` and :func:`snl` return.

    ``samples (n, p)``: the last round's posterior chain; ``sim_steps``: total simulated time
    steps (rounds x simulations x T); ``n_sim_dropped``: failed simulations dropped;
    ``diverged_rounds``: the rounds that lost more than half of theirs; ``surrogate``: the last
    fitted surrogate; ``acceptance_rate``: the last chain's; ``round_means (rounds, p)``: each
    round's posterior mean; ``round_samples``: each fitted round's chain and the simulated steps
    spent up to it, ``((sim_steps, samples), ...)`` (the posterior against the budget).
    """

    samples: Float[Array, "n p"]
    sim_steps: int
    n_sim_dropped: int
    diverged_rounds: tuple[int, ...]
    surrogate: AbstractSurrogate
    acceptance_rate: float
    round_means: Float[Array, "r p"]
    round_samples: tuple[tuple[int, Array], ...] = ()


def _flow_kwargs(flow_layers: int, nn_width: int, nn_depth: int) -> dict[str, int]:
    """The flow's size arguments as a dict."""
    return {"flow_layers": flow_layers, "nn_width": nn_width, "nn_depth": nn_depth}


def fit_tsnl_surrogate(
    key: Array,
    thetas: Float[Array, "n p"],
    ys: Float[Array, "n T dy"],
    lag: int,
    *,
    reduction: Literal["sum", "mean"] = "sum",
    config: TrainConfig = FLOW_CONFIG,
    flow_layers: int = 5,
    nn_width: int = 32,
    nn_depth: int = 2,
) -> tuple[TruncatedSurrogate, object]:
    """Fit q(y_t | h_t, theta) on the rows of the series ``ys`` (``thetas[i]`` simulated
    ``ys[i]``); returns ``(surrogate, train_result)``."""
    if reduction not in _REDUCTIONS:
        raise ValueError(f"reduction must be one of {_REDUCTIONS}, got {reduction!r}")
    th, h, tg = rows_from_batch(thetas, ys, lag)
    ctx = jnp.concatenate([th, h.reshape(h.shape[0], -1)], axis=1)
    flow, res = fit_conditional_flow(
        key, tg, ctx, config=config, **_flow_kwargs(flow_layers, nn_width, nn_depth)
    )
    return TruncatedSurrogate(flow, int(lag), reduction), res


def fit_snl_surrogate(
    key: Array,
    thetas: Float[Array, "n p"],
    ys: Float[Array, "n T dy"],
    *,
    config: TrainConfig = FLOW_CONFIG,
    flow_layers: int = 5,
    nn_width: int = 32,
    nn_depth: int = 2,
) -> tuple[SeriesSurrogate, object]:
    """Fit q(vec y | theta) on the flattened series; returns ``(surrogate, train_result)``."""
    if getattr(ys, "ndim", None) != 3 or getattr(thetas, "ndim", None) != 2:
        raise ValueError(f"thetas and ys must be (n, p) and (n, T, d_y), got {jnp.shape(thetas)}, "
                         f"{jnp.shape(ys)}")  # fmt: skip
    flow, res = fit_conditional_flow(
        key, ys.reshape(ys.shape[0], -1), thetas, config=config,
        **_flow_kwargs(flow_layers, nn_width, nn_depth),
    )  # fmt: skip
    return SeriesSurrogate(flow), res


def surrogate_posterior(
    key: Array,
    task: AbstractSBITask,
    surrogate: AbstractSurrogate,
    y_obs: Float[Array, "T dy"],
    *,
    init: Float[Array, " p"],
    num_steps: int = 1000,
    num_burnin: int = 200,
    sigma: float = 0.1,
) -> MCMCResult:
    """Random-walk Metropolis on ``log p(theta) + surrogate.log_lik(theta, y_obs)``."""

    def log_density(theta):
        """The unnormalised surrogate log-posterior."""
        return task.prior_log_prob(theta) + surrogate.log_lik(theta, y_obs)

    return random_walk_metropolis(
        key, log_density, init, num_steps=num_steps, sigma=sigma, num_burnin=num_burnin
    )


def _check_count(v: object, name: str, lo: int) -> None:
    """Raise a ValueError unless ``v`` is an integer >= ``lo``."""
    if isinstance(v, bool) or not isinstance(v, int) or v < lo:
        raise ValueError(f"{name} must be an integer >= {lo}, got {v!r}")


def _sequential(key, task, y_obs, fit, *, init, num_rounds, num_simulations, mcmc_steps,
                mcmc_burnin, mcmc_sigma) -> SNLResult:  # fmt: skip
    """The rounds shared by :func:`tsnl` and :func:`snl` (inputs already validated)."""
    T = y_obs.shape[0]
    n = num_simulations
    pool_th, pool_y = [], []
    dropped, diverged, sim_steps, means, per_round = 0, [], 0, [], []
    start, chain, surrogate, acc = init, None, None, float("nan")
    for r in range(num_rounds):
        key, k_th, k_sim, k_fit, k_mc = jax.random.split(key, 5)
        if chain is None:
            thetas = jax.vmap(task.prior_sample)(jax.random.split(k_th, n))
        elif chain.shape[0] >= n:
            thetas = chain[-n:]
        else:
            thetas = chain[jax.random.choice(k_th, chain.shape[0], (n,))]
        ys = task.simulate_batch(k_sim, thetas, T)
        sim_steps += n * T
        ok = jnp.all(jnp.isfinite(ys), axis=(1, 2)) & jnp.all(jnp.isfinite(thetas), axis=1)
        n_bad = n - int(jnp.sum(ok))
        dropped += n_bad
        if 2 * n_bad > n:
            diverged.append(r)
        if n_bad < n:
            pool_th.append(thetas[ok])
            pool_y.append(ys[ok])
        if not pool_th:
            continue  # nothing to fit yet: the next round draws from the prior again
        surrogate = fit(k_fit, jnp.concatenate(pool_th), jnp.concatenate(pool_y))
        mc = surrogate_posterior(
            k_mc, task, surrogate, y_obs,
            init=start, num_steps=mcmc_steps, num_burnin=mcmc_burnin, sigma=mcmc_sigma,
        )  # fmt: skip
        chain, acc = mc.samples, float(mc.acceptance_rate)
        means.append(jnp.mean(chain, axis=0))
        per_round.append((sim_steps, chain))
        mean = means[-1]
        ok_mean = bool(jnp.isfinite(task.prior_log_prob(mean) + surrogate.log_lik(mean, y_obs)))
        start = mean if ok_mean else chain[-1]
    if surrogate is None or chain is None:
        raise RuntimeError(f"every one of the {num_rounds * n} simulations failed (NaN/inf)")
    return SNLResult(
        chain, sim_steps, dropped, tuple(diverged), surrogate, acc, jnp.stack(means),
        tuple(per_round),
    )  # fmt: skip


def _validate(task, y_obs, init, num_rounds, num_simulations, mcmc_steps, mcmc_burnin):
    """Shared input checks of :func:`tsnl` and :func:`snl`; returns the start of the chain."""
    check_series(y_obs, "y_obs", obs_dim=task.obs_dim)
    _check_count(num_rounds, "num_rounds", 1)
    _check_count(num_simulations, "num_simulations", 2)
    _check_count(mcmc_steps, "mcmc_steps", 1)
    _check_count(mcmc_burnin, "mcmc_burnin", 0)
    if init is None:
        init = jnp.zeros(task.theta_dim, y_obs.dtype)
    task.check_theta(init, "init")
    check_start(task.prior_log_prob, init, "init")
    return init


def tsnl(
    key: Array,
    task: AbstractSBITask,
    y_obs: Float[Array, "T dy"],
    *,
    lag: int,
    num_rounds: int = 5,
    num_simulations: int = 100,
    init: Float[Array, " p"] | None = None,
    reduction: Literal["sum", "mean"] = "sum",
    mcmc_steps: int = 1000,
    mcmc_burnin: int = 200,
    mcmc_sigma: float = 0.1,
    config: TrainConfig = FLOW_CONFIG,
    flow_layers: int = 5,
    nn_width: int = 32,
    nn_depth: int = 2,
) -> SNLResult:
    """T-SNL with window ``lag`` (``1 <= lag < T``); ``init`` (default zeros) must have positive
    prior density. All inputs are checked before any simulation or training."""
    init = _validate(task, y_obs, init, num_rounds, num_simulations, mcmc_steps, mcmc_burnin)
    check_lag(lag, y_obs.shape[0])
    if reduction not in _REDUCTIONS:
        raise ValueError(f"reduction must be one of {_REDUCTIONS}, got {reduction!r}")
    kw = _flow_kwargs(flow_layers, nn_width, nn_depth)

    def fit(k, th, ys):
        """Fit T-SNL's surrogate on the pooled series."""
        return fit_tsnl_surrogate(k, th, ys, lag, reduction=reduction, config=config, **kw)[0]

    return _sequential(
        key, task, y_obs, fit, init=init, num_rounds=num_rounds, num_simulations=num_simulations,
        mcmc_steps=mcmc_steps, mcmc_burnin=mcmc_burnin, mcmc_sigma=mcmc_sigma,
    )  # fmt: skip


def snl(
    key: Array,
    task: AbstractSBITask,
    y_obs: Float[Array, "T dy"],
    *,
    num_rounds: int = 5,
    num_simulations: int = 100,
    init: Float[Array, " p"] | None = None,
    mcmc_steps: int = 1000,
    mcmc_burnin: int = 200,
    mcmc_sigma: float = 0.1,
    config: TrainConfig = FLOW_CONFIG,
    flow_layers: int = 5,
    nn_width: int = 32,
    nn_depth: int = 2,
) -> SNLResult:
    """Plain SNL: a flow over the flattened series, the same rounds as :func:`tsnl`."""
    init = _validate(task, y_obs, init, num_rounds, num_simulations, mcmc_steps, mcmc_burnin)
    kw = _flow_kwargs(flow_layers, nn_width, nn_depth)

    def fit(k, th, ys):
        """Fit SNL's surrogate on the pooled series."""
        return fit_snl_surrogate(k, th, ys, config=config, **kw)[0]

    return _sequential(
        key, task, y_obs, fit, init=init, num_rounds=num_rounds, num_simulations=num_simulations,
        mcmc_steps=mcmc_steps, mcmc_burnin=mcmc_burnin, mcmc_sigma=mcmc_sigma,
    )  # fmt: skip
