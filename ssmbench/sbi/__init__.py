"""Simulation-based inference for state space models (issue #20: T-SNL, Tsampourakis & Elvira,
"Truncated Neural Likelihood Estimation for SBI in State-Space Models", arXiv 2605.21805).

Public API::

    from ssmbench.sbi import LGSSMTask, SVTask, make_rows, rows_from_batch
    from ssmbench.sbi import truncated_log_lik, full_log_lik_dense, mmd2, c2st
    from ssmbench.sbi import tsnl, snl, pmmh, smc_abc, nuts, random_walk_metropolis

Modules: the tasks (``tasks``: simulators, priors, true parameters and ``model(theta)`` for
``ssmbench.prob.smc``), T-SNL's training rows (``windows``), the exact truncated likelihood of
the LGSSM (``truncated``, the oracle of the neural surrogate), the posterior metrics
(``metrics``), the conditional flow (``flows``), T-SNL and SNL (``snl``), blackjax samplers
(``mcmc``), PMMH (``pmmh``) and SMC-ABC (``abc``). Each fast path has its slow reference next to it (``*_reference``).
"""

from .abc import ABCResult, rms_distance, smc_abc
from .flows import FLOW_CONFIG, ConditionalFlow, fit_conditional_flow, make_conditional_flow
from .lv import LVTask, gillespie_reference
from .mcmc import MCMCResult, nuts, random_walk_metropolis, random_walk_metropolis_reference
from .metrics import c2st, mean_err_sd, median_bandwidth, mmd2, mmd2_reference, sd_ratio
from .pmmh import PMMHResult, PMMHState, particle_log_lik, pmmh, pmmh_step
from .snl import (
    AbstractSurrogate,
    SeriesSurrogate,
    SNLResult,
    TruncatedSurrogate,
    fit_snl_surrogate,
    fit_tsnl_surrogate,
    snl,
    surrogate_posterior,
    tsnl,
)
from .tasks import AbstractSBITask, CorrelatedSV, LGSSMTask, SVTask
from .truncated import (
    block_to_dense,
    full_log_lik_dense,
    lgssm_moments,
    lgssm_moments_reference,
    truncated_log_lik,
    truncated_log_lik_terms,
    truncated_log_lik_terms_reference,
)
from .windows import make_rows, make_rows_reference, rows_from_batch

__all__ = [
    "AbstractSBITask",
    "LGSSMTask",
    "SVTask",
    "CorrelatedSV",
    "LVTask",
    "gillespie_reference",
    "make_rows",
    "make_rows_reference",
    "rows_from_batch",
    "lgssm_moments",
    "lgssm_moments_reference",
    "block_to_dense",
    "full_log_lik_dense",
    "truncated_log_lik",
    "truncated_log_lik_terms",
    "truncated_log_lik_terms_reference",
    "median_bandwidth",
    "mmd2",
    "mmd2_reference",
    "c2st",
    "mean_err_sd",
    "sd_ratio",
    "ConditionalFlow",
    "FLOW_CONFIG",
    "make_conditional_flow",
    "fit_conditional_flow",
    "MCMCResult",
    "random_walk_metropolis",
    "random_walk_metropolis_reference",
    "nuts",
    "PMMHState",
    "PMMHResult",
    "particle_log_lik",
    "pmmh_step",
    "pmmh",
    "AbstractSurrogate",
    "TruncatedSurrogate",
    "SeriesSurrogate",
    "SNLResult",
    "fit_tsnl_surrogate",
    "fit_snl_surrogate",
    "surrogate_posterior",
    "tsnl",
    "snl",
    "ABCResult",
    "rms_distance",
    "smc_abc",
]
