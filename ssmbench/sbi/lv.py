"""Lotka-Volterra by exact (Gillespie) simulation: T-SNL's stochastic kinetic benchmark.

The model of the authors' code (kostastsa/neuralssm): predators ``x1`` and prey ``x2``, integer
counts stored as floats, four mass-action reactions with rates ``c = exp(theta)``:

====  =================  =============  ==========
 j    reaction           propensity     change
====  =================  =============  ==========
 1    x1 + x2 -> 2 x1    c1 x1 x2       (+1, -1)
 2    x1 -> 0            c2 x1          (-1,  0)
 3    x2 -> 2 x2         c3 x2          ( 0, +1)
 4    x1 + x2 -> x1      c4 x1 x2       ( 0, -1)
====  =================  =============  ==========

(``pre = [[1,1],[1,0],[0,1],[1,1]]``, ``post = [[2,0],[0,0],[0,2],[1,0]]``, change = post - pre,
propensity ``c_j prod_i x_i^pre_ji``.) Truth ``theta* = log(0.01, 0.5, 1.0, 0.01)``; prior
``theta ~ N(theta*, 0.5^2 I)`` (the authors' code writes the scale as ``0.5**2``, and one of
their scripts uses 0.1; we take the standard deviation 0.5). ``x_0 ~ N((50, 100), 5 I)``,
rounded to integers and clipped at 0. One observation every ``DELTA = 1`` time unit,
``y_t = log(x_t + 1) + 0.1 eps_t`` (both species; the +1 keeps an extinct species finite),
``x_t`` the state at time ``t * DELTA``, ``t = 0..T-1`` (``y_0`` observes ``x_0``).

Between observations the Gillespie algorithm draws a waiting time ``Exp(a0)`` (``a0`` the total
propensity) and a reaction with probability ``a_j / a0`` until the clock passes the next
observation time (a ``lax.while_loop`` per interval inside a ``lax.scan`` over the intervals);
``a0 = 0`` (absorbing) leaves the state put. More than ``max_events`` events in one interval
make the series invalid: NaN from that observation on (SBI drops NaN series, ``n_sim_dropped``).
:func:`gillespie_reference` is the plain numpy loop (the slow oracle of :func:`gillespie_path`).

``model(theta)`` for the bootstrap particle filter: :mod:`ssmbench.prob`'s models have Gaussian
initial and transition laws (``smc`` draws ``mean + scale * eps`` and weights by
``f / q``), and a Gillespie step has no tractable density. :class:`GillespieLV` is an exact
reformulation with a Gaussian transition on an augmented state ``z = (n1, n2, s, f)``: ``n``
the counts at the *start* of the interval, ``s`` a fresh N(0, 1) seed, ``f`` a flag (0 at
t = 0, 1 after). The counts at time t are the deterministic ``counts(z_t) =
Gillespie(round(n), key = hash(bits of s))`` (``clip(round(n), 0)`` when ``f = 0``), and the
transition is ``z_t ~ N((counts(z_{t-1}), 0, 1), diag(0.05, 0.05, 1, 0.05)^2)``. The filter's
own Gaussian draw thus supplies the fresh randomness of each interval (resampled siblings
evolve independently), rounding removes the 0.05 jitter (10 sd from a rounding boundary), and
the bootstrap weight ``f / q`` cancels exactly, leaving ``g(y_t | counts(z_t))``. So ``smc``
estimates the Gillespie model's likelihood. Costs: each interval is simulated two or three
times per particle (in the emission and in the next transition's mean, which ``smc``
evaluates twice). A capped particle gets the absorbing counts (-1, -1) and likelihood 0.

(No ``from __future__ import annotations``: equinox reads ``AbstractVar`` annotations as objects.)
"""

import math

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Bool, Float

from ssmbench.prob import AbstractMarkovSSM
from ssmbench.prob.gaussian import gauss_log_prob

from ._checks import check_length
from .tasks import AbstractSBITask

__all__ = ["LVTask", "GillespieLV", "gillespie_path", "gillespie_reference", "lv_propensities"]

PRE = np.array([[1, 1], [1, 0], [0, 1], [1, 1]])
POST = np.array([[2, 0], [0, 0], [0, 2], [1, 0]])
CHANGE = POST - PRE
THETA_TRUE = (math.log(0.01), math.log(0.5), math.log(1.0), math.log(0.01))
PRIOR_SD = 0.5
X0_MEAN, X0_VAR = (50.0, 100.0), 5.0
OBS_SD, DELTA, MAX_EVENTS = 0.1, 1.0, 10_000
_JITTER = 0.05  # scale of the count and flag coordinates of GillespieLV's transition
_LOG_2PI = math.log(2.0 * math.pi)


def lv_propensities(x: Float[Array, " 2"], rates: Float[Array, " 4"]) -> Float[Array, " 4"]:
    """``a_j = c_j prod_i x_i^pre_ji`` (pre entries are 0/1)."""
    pre = jnp.asarray(PRE == 1)
    return rates * jnp.prod(jnp.where(pre, jnp.broadcast_to(x[None, :], (4, 2)), 1.0), axis=1)


def _interval(
    key: Array, x: Float[Array, " 2"], rates: Float[Array, " 4"], max_events: int, active
) -> tuple[Float[Array, " 2"], Bool[Array, ""]]:
    """Gillespie over one interval of length DELTA from ``x``: ``(x at its end, ok)``; ``ok`` is
    False when more than ``max_events`` events happened (then ``x`` is meaningless). An inactive
    call returns ``(x, True)`` without an event."""
    change = jnp.asarray(CHANGE, x.dtype)

    def cond(carry):
        _, _, n, done = carry
        return ~done & (n <= max_events)

    def body(carry):
        t, x, n, _ = carry
        u = jax.random.uniform(jax.random.fold_in(key, n), (2,), x.dtype)
        cum = jnp.cumsum(lv_propensities(x, rates))
        t_new = t - jnp.log1p(-u[0]) / cum[-1]  # Exp(a0); a0 = 0 gives inf: no event
        fire = t_new <= DELTA
        j = jnp.minimum(jnp.sum(cum <= u[1] * cum[-1]), 3)  # reaction with probability a_j / a0
        x = jnp.where(fire, x + change[j], x)
        return t_new, x, n + fire.astype(n.dtype), ~fire

    init = (jnp.zeros((), x.dtype), x, jnp.zeros((), jnp.int32), ~jnp.asarray(active))
    _, x, _, done = jax.lax.while_loop(cond, body, init)
    return x, done


def gillespie_path(
    key: Array, theta: Float[Array, " 4"], x0: Float[Array, " 2"], T: int,
    max_events: int = MAX_EVENTS,
) -> Float[Array, "T 2"]:  # fmt: skip
    """Counts at times ``0, DELTA, ..., (T-1) DELTA`` from ``x0`` (a ``lax.scan`` of Gillespie
    intervals); NaN from the first interval with more than ``max_events`` events on."""
    check_length(T)
    rates, x0 = jnp.exp(theta), jnp.asarray(x0, theta.dtype)

    def step(carry, k):
        x, ok = carry
        x_new, fine = _interval(k, x, rates, max_events, ok)
        ok = ok & fine
        return (jnp.where(ok, x_new, x), ok), jnp.where(ok, x_new, jnp.nan)

    _, xs = jax.lax.scan(step, (x0, jnp.ones((), bool)), jax.random.split(key, T - 1))
    return jnp.concatenate([x0[None, :], xs])


def gillespie_reference(
    rng: np.random.Generator, theta, x0, T: int, max_events: int = MAX_EVENTS
) -> np.ndarray:
    """The plain Python loop of :func:`gillespie_path` (numpy random numbers): ``(T, 2)``."""
    rates = np.exp(np.asarray(theta, np.float64))
    x = np.asarray(x0, np.float64).copy()
    out = np.full((T, 2), np.nan)
    out[0] = x
    for t in range(1, T):
        clock, n = 0.0, 0
        while True:
            a = rates * np.array([x[0] * x[1], x[0], x[1], x[0] * x[1]])
            a0 = a.sum()
            if a0 <= 0.0:
                break
            clock += rng.exponential(1.0 / a0)
            if clock > DELTA:
                break
            j = int(np.searchsorted(np.cumsum(a), rng.random() * a0, side="right"))
            x = x + CHANGE[min(j, 3)]
            n += 1
            if n > max_events:
                return out
        out[t] = x
    return out


def _seed_key(s: Float[Array, ""]) -> Array:
    """A PRNG key hashed from the bit pattern of the float ``s``."""
    bits = jnp.atleast_1d(jax.lax.bitcast_convert_type(s, jnp.uint32))
    key = jax.random.PRNGKey(0)
    for i in range(bits.shape[0]):
        key = jax.random.fold_in(key, bits[i])
    return key


class GillespieLV(AbstractMarkovSSM):
    """The Gillespie Lotka-Volterra model as an :mod:`ssmbench.prob` Markov model on the
    augmented state ``z = (n1, n2, s, f)`` (see the module docstring): Gaussian initial and
    transition laws, the Gillespie step inside :meth:`counts`, emission
    ``N(y; log(counts(z) + 1), 0.1^2 I)``. ``simulate`` returns ``z``; ``counts`` maps it back."""

    log_rates: Float[Array, " 4"]
    max_events: int = eqx.field(static=True)

    def __init__(self, log_rates: Float[Array, " 4"], max_events: int = MAX_EVENTS):
        """``log_rates`` = theta (shape (4,)); ``max_events`` the per-interval event cap."""
        if tuple(jnp.shape(log_rates)) != (4,):
            raise ValueError(
                f"GillespieLV: log_rates must have shape (4,), got shape {jnp.shape(log_rates)}"
            )
        check_length(max_events, "max_events")
        self.log_rates, self.max_events = log_rates, int(max_events)

    @property
    def state_dim(self) -> int:
        """4: start-of-interval counts, seed, flag."""
        return 4

    @property
    def obs_dim(self) -> int:
        """2 (both species)."""
        return 2

    def counts(self, z: Float[Array, " 4"]) -> Float[Array, " 2"]:
        """The counts at the observation time of ``z``; (-1, -1) once a path has been capped."""
        n, first = jnp.round(z[:2]), z[3] < 0.5
        dead = ~first & jnp.any(n < 0.0)
        start = jnp.maximum(n, 0.0)
        rates = jnp.exp(self.log_rates)
        x, ok = _interval(_seed_key(z[2]), start, rates, self.max_events, ~first & ~dead)
        return jnp.where(first, start, jnp.where(dead | ~ok, -1.0, x))

    def initial_dist(self, c):
        """``n ~ N((50, 100), 5 I)`` (rounded and clipped by ``counts``), s ~ N(0, 1), f = 0."""
        dt = self.log_rates.dtype
        mean = jnp.asarray(X0_MEAN + (0.0, 0.0), dt)
        return mean, jnp.asarray((math.sqrt(X0_VAR),) * 2 + (1.0, _JITTER), dt)

    def transition_dist(self, x_prev, c):
        """``N((counts(z_{t-1}), 0, 1), diag(0.05, 0.05, 1, 0.05)^2)``."""
        dt = self.log_rates.dtype
        mean = jnp.concatenate([self.counts(x_prev), jnp.asarray((0.0, 1.0), dt)])
        return mean, jnp.asarray((_JITTER, _JITTER, 1.0, _JITTER), dt)

    def emission_log_prob(self, x, y, c):
        """``log N(y; log(counts + 1), 0.1^2 I)``; -inf for a capped path."""
        n = self.counts(x)
        valid = jnp.all(n >= 0.0)
        mu = jnp.log1p(jnp.maximum(n, 0.0))
        lp = gauss_log_prob(y, mu, jnp.full((2,), OBS_SD, y.dtype))
        return jnp.where(valid, lp, -jnp.inf)

    def emission_sample(self, key, x, c):
        """``y = log(counts + 1) + 0.1 eps`` (NaN for a capped path)."""
        n = self.counts(x)
        mu = jnp.where(jnp.all(n >= 0.0), jnp.log1p(jnp.maximum(n, 0.0)), jnp.nan)
        return mu + OBS_SD * jax.random.normal(key, (2,), x.dtype)


class LVTask(AbstractSBITask):
    """T-SNL's Lotka-Volterra benchmark by Gillespie simulation (module docstring for the law).

    theta = log rates (shape (4,)), prior ``N(theta*, 0.5^2 I)``, truth
    ``theta* = log(0.01, 0.5, 1.0, 0.01)``. ``simulate_joint`` returns the counts ``x (T, 2)``
    and ``y (T, 2)``, NaN from the first interval with more than ``max_events`` events on.
    ``model(theta)`` is a :class:`GillespieLV` (an augmented-state Markov model) for
    ``ssmbench.prob.smc`` with ``BootstrapProposal``.
    """

    max_events: int = eqx.field(static=True, default=MAX_EVENTS)

    def __check_init__(self):
        """The event cap must be a positive integer."""
        check_length(self.max_events, "max_events")

    @property
    def theta_dim(self) -> int:
        """4 (log reaction rates)."""
        return 4

    @property
    def obs_dim(self) -> int:
        """2 (both species)."""
        return 2

    @property
    def theta_true(self) -> Float[Array, " p"]:
        """``log(0.01, 0.5, 1.0, 0.01)``."""
        return jnp.asarray(THETA_TRUE, jnp.result_type(float))

    def prior_sample(self, key: Array) -> Float[Array, " p"]:
        """theta ~ N(theta*, 0.5^2 I)."""
        return self.theta_true + PRIOR_SD * jax.random.normal(key, (4,), jnp.result_type(float))

    def prior_log_prob(self, theta: Float[Array, " p"]) -> Float[Array, ""]:
        """log N(theta; theta*, 0.5^2 I)."""
        self.check_theta(theta)
        z = (theta - jnp.asarray(THETA_TRUE, theta.dtype)) / PRIOR_SD
        return -0.5 * jnp.sum(z**2) - 4 * (math.log(PRIOR_SD) + 0.5 * _LOG_2PI)

    def simulate_joint(
        self, key: Array, theta: Float[Array, " p"], T: int
    ) -> tuple[Float[Array, "T dx"], Float[Array, "T dy"]]:
        """x_0 (rounded, clipped Gaussian), Gillespie intervals, log-normal observations."""
        self.check_theta(theta)
        check_length(T)
        dt = theta.dtype
        k0, kx, ky = jax.random.split(key, 3)
        eps0 = jax.random.normal(k0, (2,), dt)
        x0 = jnp.maximum(jnp.round(jnp.asarray(X0_MEAN, dt) + math.sqrt(X0_VAR) * eps0), 0.0)
        x = gillespie_path(kx, theta, x0, T, self.max_events)
        return x, jnp.log1p(x) + OBS_SD * jax.random.normal(ky, (T, 2), dt)

    def model(self, theta: Float[Array, " p"]) -> GillespieLV:
        """The :class:`GillespieLV` with ``log_rates = theta`` and this task's event cap."""
        self.check_theta(theta)
        return GillespieLV(theta, self.max_events)
