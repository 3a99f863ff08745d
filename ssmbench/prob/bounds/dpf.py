r"""Differentiable particle filters: the baselines the PVMC paper compares against.

Every function has the bound signature of :mod:`ssmbench.prob.bounds` and returns
``(log Z-hat, diagnostics)`` with the diagnostics of :func:`~ssmbench.prob.bounds.smc`.

=========================  ======================  =====================  ==========================
function                   resampling              value                  model gradient
=========================  ======================  =====================  ==========================
``dpf(..., "stop-grad")``  multinomial/systematic  = SMC's (unbiased Ẑ)   consistent (Ścibior &
                           + weights W_a/sg(W_a)                          Wood 2021; path-space
                                                                          score, O(N) per step)
``dpf_marginal``           multinomial, every      marginal PF (unbiased  consistent (Poyiadjis
                           step, mixture weights   Ẑ), O(N^2) per step    et al.'s O(N^2) score)
``dpf(..., "soft")``       from αW + (1-α)/N,      unbiased Ẑ (weights    biased (Karkus et al.
                           weights W_a/q_a         corrected, not         2018: the gradient of the
                                                   renormalised)          mixture draw is dropped)
``dpf(..., "ot")``         entropic OT transport   biased for ε > 0       biased for ε > 0
                           (log-domain Sinkhorn)   (Corenflos et al.      (consistent as ε → 0,
                                                   2021)                  N → ∞)
=========================  ======================  =====================  ==========================

"Consistent" is about the gradient in the model parameters θ when the particles do not depend on
θ (a proposal with its own parameters): the mean over keys of ∇_θ log Ẑ tends to ∇_θ log p(y) as
N grows. The tests check it against autodiff of the exact Kalman likelihood. With a learned
proposal, the proposal parameters get pathwise gradients through the reparameterised particles,
as in FIVO.
"""

from __future__ import annotations

import math
from typing import Literal

import jax
import jax.numpy as jnp
from jaxtyping import Array, Float

from .._base import AbstractProposal, AbstractSSM
from ..gaussian import gauss_log_prob_pairs
from ._common import check_inputs as _check
from ._common import ess as _ess
from ._common import sg
from .smc import _RESAMPLERS, initial_particles, particle_filter

__all__ = ["dpf", "dpf_marginal", "soft_resample_transform", "ot_resample_transform"]


def _sg_transform(key, x_prev, logW, resample):
    """Stop-gradient resampling (Ścibior & Wood 2021): ancestors as usual; the new log weight of
    particle i is log W_{a_i} - sg(log W_{a_i}) - log N: the value 1/N of plain resampling, with
    the gradient of the ancestor's weight (the score of the ancestor draw)."""
    N = logW.shape[0]
    anc = resample(key, logW, N)
    la = logW[anc]
    return x_prev[anc], la - sg(la) - math.log(N), jnp.sum(sg(la))


def soft_resample_transform(key, x_prev, logW, alpha: float):
    """Soft resampling (Karkus et al. 2018): ancestors from q = alpha W + (1 - alpha)/N, new
    weights W_a / (N q_a) (unnormalised; their sum is 1 in expectation, so Ẑ stays unbiased).
    The gradient flows through W_a / q_a; the dependence of the draw on W is dropped."""
    N = logW.shape[0]
    log_q = jnp.logaddexp(math.log(alpha) + logW, math.log1p(-alpha) - math.log(N))
    anc = jax.random.categorical(key, sg(log_q), shape=(N,))
    return x_prev[anc], logW[anc] - log_q[anc] - math.log(N), jnp.sum(sg(log_q[anc]))


_OT_FLOOR = 1e-6  # the uniform share mixed into the OT source weights (see ot_resample_transform)


def sinkhorn_plan(
    x: Float[Array, "N d"], log_a: Float[Array, " N"], epsilon: float, iterations: int
) -> Float[Array, "N N"]:
    """The entropic OT plan between (x, a) and (x, 1/N) for the squared Euclidean cost, by
    ``iterations`` log-domain Sinkhorn updates in a ``lax.scan`` (differentiated by plain
    autodiff through them, exact for the computed plan; it cannot raise). ``epsilon`` is relative
    to the mean cost, as ott's ``relative_epsilon="mean"``. The last update is on the column
    potential, so the columns sum to 1/N exactly and the rows to ``a`` up to the tolerance
    reached. :func:`ott_plan` is the reference it is tested against."""
    N = x.shape[0]
    sq = jnp.sum(x * x, axis=-1)
    cost = jnp.maximum(sq[:, None] + sq[None, :] - 2.0 * x @ x.T, 0.0)
    eps = epsilon * jnp.maximum(jnp.mean(cost), 1e-12)  # all particles equal: no division by 0
    log_b = jnp.full((N,), -math.log(N), x.dtype)

    def update(carry, _):
        f, g = carry
        f = eps * (log_a - jax.nn.logsumexp((g[None, :] - cost) / eps, axis=1))
        g = eps * (log_b - jax.nn.logsumexp((f[:, None] - cost) / eps, axis=0))
        return (f, g), None

    zeros = jnp.zeros((N,), x.dtype)
    (f, g), _ = jax.lax.scan(update, (zeros, zeros), None, length=iterations)
    return jnp.exp((f[:, None] + g[None, :] - cost) / eps)


def ott_plan(x, a, epsilon: float, iterations: int, threshold: float = 1e-3):
    """The same plan by ott-jax's Sinkhorn (the reference for :func:`sinkhorn_plan`). Not used in
    training: ott's implicit gradient raised a non-finite linear-solve error from inside the
    backward pass on the LGSSM and SV tasks (an exception, not a recorded divergence), and its
    unrolled gradient (``implicit_diff=None``) disagreed with finite differences."""
    from ott.geometry import pointcloud
    from ott.problems.linear import linear_problem
    from ott.solvers.linear import sinkhorn

    N = x.shape[0]
    geom = pointcloud.PointCloud(x, x, epsilon=epsilon, relative_epsilon="mean")
    prob = linear_problem.LinearProblem(geom, a=a, b=jnp.full((N,), 1.0 / N, x.dtype))
    # ott relies on implicit rank and dtype promotion, which our callers (and tests) may forbid
    with jax.numpy_rank_promotion("allow"), jax.numpy_dtype_promotion("standard"):
        solver = sinkhorn.Sinkhorn(max_iterations=iterations, threshold=threshold)
        return solver(prob).matrix


def ot_resample_transform(key, x_prev, logW, epsilon: float, iterations: int):
    """Entropy-regularised optimal-transport resampling (Corenflos et al. 2021): the plan P
    between (x, W) and (x, 1/N) (:func:`sinkhorn_plan`, ``iterations`` log-domain updates,
    differentiated through them as Corenflos et al. do) moves particle j to N sum_i P_ij x_i;
    the weights become 1/N. Deterministic and differentiable; biased for ``epsilon`` > 0. The
    source weights are normalised in log space and mixed with 1e-6 of the uniform weights, so a
    weight that underflows to 0 never enters Sinkhorn as log 0."""
    del key
    N = logW.shape[0]
    a = (1.0 - _OT_FLOOR) * jax.nn.softmax(logW) + _OT_FLOOR / N
    plan = sinkhorn_plan(x_prev, jnp.log(a), epsilon, iterations)
    x_new = N * plan.T @ x_prev
    return x_new, jnp.full_like(logW, -math.log(N)), jnp.zeros((), logW.dtype)


def dpf(
    key: Array,
    model: AbstractSSM,
    proposal: AbstractProposal,
    y: Float[Array, "T dy"],
    num_particles: int,
    resampler: Literal["stop-gradient", "soft", "ot"] = "stop-gradient",
    *,
    resampling: Literal["multinomial", "systematic"] = "multinomial",
    ess_threshold: float = 1.0,
    soft_alpha: float = 0.5,
    ot_epsilon: float = 0.1,
    ot_iterations: int = 100,
    stick_the_landing: bool = False,
) -> tuple[Float[Array, ""], dict[str, Array]]:
    """A differentiable particle filter in the standard O(N) form (table in the module docstring).

    ``ess_threshold``: resample when ESS < threshold * N (default 1.0: at every step, as the DPF
    papers do). ``resampling``: the ancestor draw of ``"stop-gradient"`` (``"soft"`` draws from
    its own mixture; ``"ot"`` draws nothing). ``soft_alpha`` in (0, 1]: weight of W in the soft
    mixture (1 = plain resampling, zero gradient through the draw). ``ot_epsilon`` > 0,
    ``ot_iterations``: the Sinkhorn regularisation and iteration cap.
    """
    _check(model, y, num_particles)
    if resampler == "stop-gradient":
        if resampling not in _RESAMPLERS:
            raise ValueError(f"resampling must be one of {sorted(_RESAMPLERS)}, got {resampling!r}")
        res = _RESAMPLERS[resampling]
        transform = lambda k, x, lw: _sg_transform(k, x, lw, res)  # noqa: E731
    elif resampler == "soft":
        if not 0.0 < soft_alpha <= 1.0:
            raise ValueError(f"soft_alpha must be in (0, 1], got {soft_alpha!r}")
        transform = lambda k, x, lw: soft_resample_transform(k, x, lw, soft_alpha)  # noqa: E731
    elif resampler == "ot":
        if not ot_epsilon > 0:
            raise ValueError(f"ot_epsilon must be > 0, got {ot_epsilon!r}")
        transform = lambda k, x, lw: ot_resample_transform(k, x, lw, ot_epsilon, ot_iterations)  # noqa: E731
    else:
        raise ValueError(f"resampler must be 'stop-gradient', 'soft' or 'ot', got {resampler!r}")
    incs, ess, res_, fmeans, _ = particle_filter(
        key, model, proposal, y, num_particles, transform,
        ess_threshold=ess_threshold, stick_the_landing=stick_the_landing,
    )  # fmt: skip
    diag = {"ess": ess, "resampled": res_, "filtered_means": fmeans, "log_Z_increments": incs}
    return jnp.sum(incs), diag


def dpf_marginal(
    key: Array,
    model: AbstractSSM,
    proposal: AbstractProposal,
    y: Float[Array, "T dy"],
    num_particles: int,
    *,
    stick_the_landing: bool = False,
) -> tuple[Float[Array, ""], dict[str, Array]]:
    r"""The marginal stop-gradient DPF, O(N^2) per step (Ścibior & Wood 2021, marginal form).

    At each t >= 1 draw ancestors a_n ~ Cat(sg W_{t-1}) and x_t^n ~ q(. | x_{t-1}^{a_n}), and weight

        w_t^n = g(y_t | x_t^n) sum_m W_{t-1}^m f(x_t^n | x_{t-1}^m) / sum_m sg(W_{t-1}^m) q(x_t^n | x_{t-1}^m),

    the marginal particle filter's weight (the draw's density is the q-mixture). Ẑ = prod_t
    mean_n w_t^n is unbiased; W_{t-1} keeps its gradient in the numerator, which gives the
    O(N^2) score estimator of Poyiadjis et al. (2011). All N x N transition and proposal
    densities come from whitened matrix products (:func:`~ssmbench.prob.gaussian.gauss_log_prob_pairs`).
    """
    _check(model, y, num_particles)
    N = num_particles
    log_n = math.log(N)
    c, a, _, ks, x0, inc0, logW0 = initial_particles(key, model, proposal, y, N, stick_the_landing)

    def step(carry, inp):
        x_prev, logW = carry
        k, at, yt, ct = inp
        k_res, k_prop = jax.random.split(k)
        anc = jax.random.categorical(k_res, sg(logW), shape=(N,))
        qm, qs = jax.vmap(lambda xp: proposal.step(model, xp, at))(x_prev)  # per m
        noise = jax.random.normal(k_prop, (N,) + x_prev.shape[1:], x_prev.dtype)
        qsa = qs[anc]
        x = qm[anc] + (
            noise * qsa if qsa.ndim == 2 else jnp.einsum("nij,nj->ni", jnp.tril(qsa), noise)
        )
        if stick_the_landing:
            qm, qs = sg(qm), sg(qs)
        fm, fs = jax.vmap(model.transition_dist, (0, None))(x_prev, ct)
        lf = gauss_log_prob_pairs(x, fm, fs)  # (m, n)
        lq = gauss_log_prob_pairs(x, qm, qs)
        num = jax.nn.logsumexp(logW[:, None] + lf, axis=0)
        den = jax.nn.logsumexp(sg(logW)[:, None] + lq, axis=0)
        lw = jax.vmap(model.emission_log_prob, (0, None, None))(x, yt, ct) + num - den
        inc = jax.nn.logsumexp(lw) - log_n
        logW_new = lw - jax.nn.logsumexp(lw)
        return (x, logW_new), (inc, _ess(logW_new), jnp.exp(logW_new) @ x)

    xs_in = (jax.random.split(ks, y.shape[0] - 1), jax.tree.map(lambda z: z[1:], a), y[1:], c[1:])
    _, (incs, ess, fmeans) = jax.lax.scan(step, (x0, logW0), xs_in)
    incs = jnp.concatenate([inc0[None], incs])
    diag = {
        "ess": jnp.concatenate([_ess(logW0)[None], ess]),
        "resampled": jnp.concatenate([jnp.zeros((1,), bool), jnp.ones_like(ess, bool)]),
        "filtered_means": jnp.concatenate([(jnp.exp(logW0) @ x0)[None], fmeans]),
        "log_Z_increments": incs,
    }
    return jnp.sum(incs), diag
