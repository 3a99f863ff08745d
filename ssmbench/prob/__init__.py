"""Probabilistic state space models, proposals, exact Kalman inference and Monte Carlo bounds.

Public API::

    from ssmbench.prob import LGSSM, StochasticVolatility, BootstrapProposal, GaussianMarginals
    from ssmbench.prob import elbo, iwae, smc, pvmc, kalman_filter, rts_smoother

    log_Z, diag = smc(key, model, proposal, y, num_particles=64)

See ``docs/bounds.md``.
"""

from .bounds import (
    BOUNDS,
    elbo,
    iwae,
    log_matmul,
    log_matmul_auto,
    log_matmul_exact,
    multinomial_resample,
    pvmc,
    smc,
    systematic_resample,
)
from .kalman import KalmanFiltered, KalmanSmoothed, kalman_filter, rts_smoother
from .models import SRNN, SSM, DeepMarkovModel, LGSSM, LotkaVolterra, StochasticVolatility
from .proposals import (
    BootstrapProposal,
    ConvProposal,
    FilteringProposal,
    GaussianMarginals,
    ParallelProposal,
    Proposal,
    SmoothingProposal,
)

__all__ = [
    "BOUNDS",
    "elbo",
    "iwae",
    "smc",
    "pvmc",
    "log_matmul",
    "log_matmul_auto",
    "log_matmul_exact",
    "multinomial_resample",
    "systematic_resample",
    "KalmanFiltered",
    "KalmanSmoothed",
    "kalman_filter",
    "rts_smoother",
    "SSM",
    "LGSSM",
    "DeepMarkovModel",
    "SRNN",
    "StochasticVolatility",
    "LotkaVolterra",
    "Proposal",
    "BootstrapProposal",
    "FilteringProposal",
    "SmoothingProposal",
    "ParallelProposal",
    "GaussianMarginals",
    "ConvProposal",
]
