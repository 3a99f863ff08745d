"""PMMH, T-SNL/SNL and SMC-ABC on the 1-D LGSSM (d = 1, T-SNL's benchmark at T = 50).

Tolerances.
- PMMH vs NUTS on the exact Kalman likelihood: both target the same posterior (sd ~0.2). The
  slow test runs 4000 PMMH steps (N = 100); its Monte Carlo standard error, estimated by batch
  means, is ~0.01 (measured) and NUTS's ~0.005; the means must agree within 4 combined standard
  errors, the sds within 15% (the sd of a 4000-step chain with ESS ~300 has a relative error of
  ~4%). The always-run version (1000 steps, N = 50, ESS ~60) uses 0.1 (half a posterior sd,
  ~4 standard errors) and 35%.
- T-SNL surrogate vs the exact truncated log-likelihood: both are log-likelihoods, so after
  centering their difference over a grid of theta within ~1.5 posterior sds of the truth should
  be flat. Measured spread (sd over 13 points) 0.20 nats with 200 series x T = 100 rows; 0.5
  nats keeps the surrogate posterior's density within a factor e^{+-1} of the truncated one's
  over that range, while the exact curve itself varies by 2.5 nats there.
- mean vs sum: the mean tempers the surrogate by 1/T (T = 30 here), so its posterior sd is
  several times the sum's (measured at T = 100: 0.76 vs 0.13); asserted > 2x.
"""

import math

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from ssmbench.sbi import (
    AbstractSBITask,
    LGSSMTask,
    TruncatedSurrogate,
    fit_tsnl_surrogate,
    nuts,
    pmmh,
    smc_abc,
    snl,
    surrogate_posterior,
    truncated_log_lik,
    tsnl,
)
from ssmbench.train import TrainConfig

_TINY = TrainConfig(steps=150, learning_rate=3e-3, batch_size=128, eval_every=50, patience=2)
_SMALL_FLOW = {"flow_layers": 2, "nn_width": 16, "nn_depth": 1}


class NaNTask(AbstractSBITask):
    """The 1-D LGSSM task whose simulator returns NaN whenever theta[0] > ``cut``."""

    cut: float = eqx.field(static=True)
    base: LGSSMTask = LGSSMTask(1)

    @property
    def theta_dim(self) -> int:
        """1."""
        return 1

    @property
    def obs_dim(self) -> int:
        """1."""
        return 1

    @property
    def theta_true(self):
        """The LGSSM's."""
        return self.base.theta_true

    def simulate_joint(self, key, theta, T):
        """The LGSSM's simulation, NaN above the cut."""
        x, y = self.base.simulate_joint(key, theta, T)
        return x, jnp.where(theta[0] > self.cut, jnp.nan, y)

    def prior_sample(self, key):
        """N(0, 1)."""
        return self.base.prior_sample(key)

    def prior_log_prob(self, theta):
        """log N(theta; 0, 1)."""
        return self.base.prior_log_prob(theta)

    def model(self, theta):
        """The LGSSM's."""
        return self.base.model(theta)


def _data(T=50, seed=1):
    """The 1-D task and an observed series at the true theta."""
    task = LGSSMTask(1)
    return task, task.simulate(jax.random.PRNGKey(seed), task.theta_true, T)


def _nuts_exact(task, y, steps, warmup):
    """NUTS on prior x Kalman likelihood."""
    ld = lambda th: task.prior_log_prob(th) + task.exact_log_lik(th, y)  # noqa: E731
    return nuts(jax.random.PRNGKey(2), ld, task.theta_true, num_steps=steps, num_warmup=warmup)


def _batch_mcse(x, batches=20):
    """Monte Carlo standard error of the mean by batch means."""
    x = np.asarray(x)[: len(x) // batches * batches]
    return x.reshape(batches, -1).mean(1).std(ddof=1) / math.sqrt(batches)


def test_pmmh_agrees_with_nuts_small():
    """Short PMMH (N = 50) vs NUTS on the exact likelihood: mean within 0.1, sd within 35%."""
    task, y = _data()
    ref = _nuts_exact(task, y, 1000, 200)
    res = pmmh(jax.random.PRNGKey(3), task, y, init=task.theta_true, num_steps=1000,
               num_particles=50, sigma=0.3, num_burnin=100)  # fmt: skip
    assert abs(float(jnp.mean(res.samples) - jnp.mean(ref.samples))) < 0.1
    np.testing.assert_allclose(jnp.std(res.samples), jnp.std(ref.samples), rtol=0.35)
    assert res.sim_steps == 50 * 50 * 1101


@pytest.mark.slow
def test_pmmh_agrees_with_nuts():
    """4000 PMMH steps (N = 100): mean within 4 combined MC standard errors, sd within 15%."""
    task, y = _data()
    ref = _nuts_exact(task, y, 2000, 500)
    res = pmmh(jax.random.PRNGKey(3), task, y, init=task.theta_true, num_steps=4000,
               num_particles=100, sigma=0.3, num_burnin=200)  # fmt: skip
    se = math.hypot(_batch_mcse(res.samples[:, 0]), _batch_mcse(ref.samples[:, 0]))
    assert se < 0.03  # the chain mixed: the comparison is informative
    assert abs(float(jnp.mean(res.samples) - jnp.mean(ref.samples))) < 4 * se
    np.testing.assert_allclose(jnp.std(res.samples), jnp.std(ref.samples), rtol=0.15)


def test_pmmh_is_pseudo_marginal():
    """At a rejected step the stored estimate is the previous one, bit for bit; accepted steps
    carry a fresh estimate."""
    task, y = _data(T=20)
    res = pmmh(jax.random.PRNGKey(4), task, y, init=task.theta_true, num_steps=200,
               num_particles=10, sigma=0.5)  # fmt: skip
    acc, ll, th = (np.asarray(a) for a in (res.accepted, res.log_lik, res.samples))
    rej = ~acc[1:]
    assert rej.sum() > 20 and acc.sum() > 5
    np.testing.assert_array_equal(ll[1:][rej], ll[:-1][rej])
    np.testing.assert_array_equal(th[1:][rej], th[:-1][rej])
    assert np.all(ll[1:][acc[1:]] != ll[:-1][acc[1:]])


@pytest.mark.slow
def test_tsnl_surrogate_approaches_the_truncated_likelihood():
    """200 series x T = 100 rows near the truth, lag 5: the centred surrogate-minus-exact
    truncated log-likelihood over theta* +- 0.3 has sd < 0.5 nats; the mean surrogate's
    posterior is wider than the sum's."""
    task, y = _data(T=100)
    lag, n = 5, 200
    k = jax.random.split(jax.random.PRNGKey(5), 3)
    th = task.theta_true[None, :] + jax.random.uniform(k[0], (n, 1), minval=-0.6, maxval=0.6)
    sur, _ = fit_tsnl_surrogate(k[2], th, task.simulate_batch(k[1], th, 100), lag,
                                flow_layers=3, nn_width=32, nn_depth=1)  # fmt: skip
    grid = task.theta_true[0] + jnp.linspace(-0.3, 0.3, 13)
    lh = jnp.stack([sur.log_lik(g[None], y) for g in grid])
    le = jnp.stack([truncated_log_lik(task.model(g[None]), y, lag) for g in grid])
    assert float(jnp.std(lh - le)) < 0.5
    assert float(jnp.max(le) - jnp.min(le)) > 1.0  # the grid spans a real change
    sds = [float(jnp.std(surrogate_posterior(jax.random.PRNGKey(9), task, s, y,
                                             init=task.theta_true, num_steps=2000, sigma=0.2).samples))
           for s in (sur, TruncatedSurrogate(sur.flow, lag, "mean"))]  # fmt: skip
    assert sds[1] > 3 * sds[0]


def test_tsnl_smoke_and_mean_vs_sum():
    """Two small rounds run end to end with the budget counted; on the same fitted surrogate
    the mean's posterior sd exceeds twice the sum's."""
    task, y = _data(T=30)
    res = tsnl(jax.random.PRNGKey(6), task, y, lag=3, num_rounds=2, num_simulations=20,
               mcmc_steps=300, mcmc_burnin=50, mcmc_sigma=0.2, config=_TINY, **_SMALL_FLOW)  # fmt: skip
    assert res.samples.shape == (300, 1) and bool(jnp.all(jnp.isfinite(res.samples)))
    assert res.sim_steps == 2 * 20 * 30 and res.n_sim_dropped == 0 and res.diverged_rounds == ()
    assert res.round_means.shape == (2, 1)
    assert [b for b, _ in res.round_samples] == [20 * 30, 2 * 20 * 30]
    assert res.round_samples[-1][1] is res.samples
    sds = [float(jnp.std(surrogate_posterior(jax.random.PRNGKey(7), task, s, y,
                                             init=res.round_means[-1], num_steps=1500, sigma=0.3).samples))
           for s in (res.surrogate, TruncatedSurrogate(res.surrogate.flow, 3, "mean"))]  # fmt: skip
    assert sds[1] > 2 * sds[0]


@pytest.mark.slow
def test_snl_smoke():
    """One small SNL round (a flow over the flattened series) runs and counts its budget."""
    task, y = _data(T=10)
    res = snl(jax.random.PRNGKey(8), task, y, num_rounds=1, num_simulations=60, mcmc_steps=200,
              mcmc_burnin=50, config=_TINY, **_SMALL_FLOW)  # fmt: skip
    assert res.sim_steps == 600 and bool(jnp.all(jnp.isfinite(res.samples)))


def test_nan_simulations_are_dropped_and_counted():
    """NaN series are dropped; a round that loses more than half is flagged; none kept: error."""
    y = _data(T=20)[1]
    kw = dict(lag=2, num_rounds=1, num_simulations=40, mcmc_steps=100, mcmc_burnin=10,
              config=_TINY, **_SMALL_FLOW)  # fmt: skip
    bad = tsnl(jax.random.PRNGKey(9), NaNTask(cut=-0.6), y, **kw)  # P(theta > -0.6) = 0.73
    assert 20 < bad.n_sim_dropped < 40 and bad.diverged_rounds == (0,)
    assert bad.sim_steps == 40 * 20  # dropped simulations still count
    assert bool(jnp.all(bad.samples < 10.0))
    with pytest.raises(RuntimeError, match="failed"):
        tsnl(jax.random.PRNGKey(9), NaNTask(cut=-10.0), y, **kw)


def test_bad_input_raises_before_training():
    """lag outside [1, T), a wrong-shaped init and a start of zero prior density: ValueErrors."""
    task, y = _data(T=20)
    kw = dict(num_rounds=1, num_simulations=10, config=_TINY)
    for lag in (0, 20, 25):
        with pytest.raises(ValueError, match="lag"):
            tsnl(jax.random.PRNGKey(0), task, y, lag=lag, **kw)
    with pytest.raises(ValueError, match="init"):
        tsnl(jax.random.PRNGKey(0), task, y, lag=2, init=jnp.zeros(2), **kw)
    with pytest.raises(ValueError, match="init"):
        tsnl(jax.random.PRNGKey(0), task, y, lag=2, init=jnp.array([jnp.inf]), **kw)
    with pytest.raises(ValueError, match="init"):
        pmmh(jax.random.PRNGKey(0), task, y, init=jnp.zeros((1, 1)))
    with pytest.raises(ValueError, match="y_obs"):
        snl(jax.random.PRNGKey(0), task, y[:, 0], **kw)


def test_smc_abc_respects_the_cap():
    """SMC-ABC: shrinking tolerances, normalised weights, never more than the cap."""
    task, y = _data(T=30)
    res = smc_abc(jax.random.PRNGKey(10), task, y, num_particles=200, max_simulations=1100)
    assert res.num_simulations <= 1100 and res.sim_steps == res.num_simulations * 30
    assert res.num_simulations == 1000  # 5 generations of 200 fit, a 6th would not
    assert len(res.epsilons) >= 1 and all(np.diff(res.epsilons) <= 0)
    np.testing.assert_allclose(float(jnp.sum(res.weights)), 1.0, rtol=1e-12)
    # the population moved towards the truth from the N(0, 1) prior
    assert abs(float(res.weights @ res.samples[:, 0]) - float(task.theta_true[0])) < 1.0
