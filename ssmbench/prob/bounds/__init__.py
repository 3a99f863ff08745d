r"""Monte Carlo lower bounds on log p(y): ELBO, IWAE, SMC (FIVO/VSMC/AESMC), the differentiable
particle filters (stop-gradient, marginal, soft, optimal transport) and PVMC.

Every bound has the signature

    bound(key, model, proposal, y, num_particles, **options) -> (log_Z, diagnostics)

``log_Z`` is a scalar; ``diagnostics`` is a dict of arrays. Everything is differentiable in the
(array) parameters of ``model`` and ``proposal`` through reparameterised Gaussian draws (use
``eqx.filter_grad`` / ``eqx.filter_value_and_grad`` on a loss that calls the bound). IWAE, SMC and
PVMC return the log of an unbiased estimator Z-hat of p(y), so E[log Z-hat] <= log p(y) (Jensen);
the ELBO is the average of K single-sample log weights. All weights are kept in log space.

Sequences have T points, t = 0..T-1 (the PVMC paper's t = 0..T, i.e. its T + 1 = our T).
See docs/bounds.md for the equations, the normalisation of PVMC and the stopped-gradient bias of SMC.
"""

from __future__ import annotations

from .dpf import dpf, dpf_marginal
from .elbo import elbo, iwae, sample_trajectories
from .pvmc import log_matmul, log_matmul_auto, log_matmul_exact, log_matprod, pvmc, pvmc_batch
from .smc import multinomial_resample, smc, systematic_resample

__all__ = [
    "dpf",
    "dpf_marginal",
    "elbo",
    "iwae",
    "sample_trajectories",
    "smc",
    "pvmc",
    "pvmc_batch",
    "multinomial_resample",
    "systematic_resample",
    "log_matmul",
    "log_matmul_exact",
    "log_matprod",
    "log_matmul_auto",
    "BOUNDS",
]

BOUNDS = {
    "elbo": elbo,
    "iwae": iwae,
    "smc": smc,
    "pvmc": pvmc,
    "dpf": dpf,
    "dpf_marginal": dpf_marginal,
}
