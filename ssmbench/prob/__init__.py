"""Probabilistic state space models, proposals, exact Kalman inference and Monte Carlo bounds.

Public API::

    from ssmbench.prob import LGSSM, StochasticVolatility, BootstrapProposal, GaussianMarginals
    from ssmbench.prob import elbo, iwae, smc, pvmc, kalman_filter, rts_smoother

    log_Z, diag = smc(key, model, proposal, y, num_particles=64)

Modules: the abstract bases (``_base``), the models (``lgssm``, ``deep``, ``classic``), the
proposals, the bounds (``bounds.elbo``, ``bounds.smc``, ``bounds.pvmc``), exact inference
(``kalman``) and the training methods with their evaluators (``methods``). See ``docs/bounds.md``.
"""

from ._base import (
    AbstractMarkovSSM,
    AbstractParallelProposal,
    AbstractProposal,
    AbstractSSM,
    check_observations,
)
from .bounds import (
    BOUNDS,
    dpf,
    dpf_marginal,
    elbo,
    iwae,
    log_matmul,
    log_matmul_auto,
    log_matmul_exact,
    log_matprod,
    multinomial_resample,
    pvmc,
    pvmc_batch,
    smc,
    systematic_resample,
)
from .byo import build_ssm, load_ssm
from .classic import (
    AbstractLotkaVolterra,
    LotkaVolterra,
    NeuralLotkaVolterra,
    PaperNeuralLotkaVolterra,
    StochasticVolatility,
)
from .deep import SRNN, DeepMarkovModel, bernoulli_log_prob
from .kalman import KalmanFiltered, KalmanSmoothed, kalman_filter, rts_smoother
from .lgssm import LGSSM
from .methods import METHODS, make_loss, make_proposal, method_bound, pvmc_path
from .proposals import (
    BootstrapProposal,
    ConvProposal,
    FilteringProposal,
    GaussianMarginals,
    SmoothingProposal,
    sv_linearized_marginals,
)

__all__ = [
    "build_ssm",
    "load_ssm",
    "dpf",
    "dpf_marginal",
    "BOUNDS",
    "elbo",
    "iwae",
    "smc",
    "pvmc",
    "pvmc_batch",
    "log_matmul",
    "log_matmul_auto",
    "log_matmul_exact",
    "log_matprod",
    "multinomial_resample",
    "systematic_resample",
    "KalmanFiltered",
    "KalmanSmoothed",
    "kalman_filter",
    "rts_smoother",
    "AbstractSSM",
    "AbstractMarkovSSM",
    "check_observations",
    "LGSSM",
    "DeepMarkovModel",
    "SRNN",
    "bernoulli_log_prob",
    "StochasticVolatility",
    "LotkaVolterra",
    "NeuralLotkaVolterra",
    "AbstractLotkaVolterra",
    "PaperNeuralLotkaVolterra",
    "AbstractProposal",
    "AbstractParallelProposal",
    "BootstrapProposal",
    "FilteringProposal",
    "SmoothingProposal",
    "GaussianMarginals",
    "ConvProposal",
    "sv_linearized_marginals",
    "METHODS",
    "pvmc_path",
    "make_proposal",
    "method_bound",
    "make_loss",
]
