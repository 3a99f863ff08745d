"""XFADS (Dowling, Zhao & Park, NeurIPS 2024): low-rank structured variational smoothing.

Public API::

    from ssmbench.prob.xfads import XfadsSSM, XfadsEncoder, xfads_bound, make_xfads_loss

    model = XfadsSSM(L, dy, key=k1, emission="poisson")
    encoder = XfadsEncoder(L, dy, rank_local=2, rank_backward=2, key=k2)
    lhat, diag = xfads_bound(key, model, encoder, y, num_samples=5)

Modules: the structured algebra and its dense references (``lowrank``), the filter over
pseudo-observations (``smoother``), the model and encoder (``model``) and the objective, loss and
forecast (``objective``). See ``docs/claims/xfads.md``.
"""

from .lowrank import (
    DiagGaussian,
    LowRankGaussian,
    dense_update,
    diag_update,
    lowrank_dense_cov,
    lowrank_readout_var,
    lowrank_sample,
    lowrank_update,
    pbar_matmul,
    predict_from_samples,
    sigma_points,
)
from .model import (
    EMISSIONS,
    AbstractXfadsEncoder,
    XfadsEncoder,
    XfadsSSM,
    gaussian_expected_log_prob,
    missing_mask,
)
from .objective import (
    make_xfads_loss,
    mean_path_ahead,
    xfads_bound,
    xfads_forecast,
    xfads_posterior_sample,
)
from .smoother import PREDICTS, STRUCTURES, xfads_filter

__all__ = [
    "LowRankGaussian",
    "DiagGaussian",
    "pbar_matmul",
    "lowrank_update",
    "lowrank_sample",
    "lowrank_dense_cov",
    "lowrank_readout_var",
    "dense_update",
    "diag_update",
    "predict_from_samples",
    "sigma_points",
    "xfads_filter",
    "STRUCTURES",
    "PREDICTS",
    "XfadsSSM",
    "AbstractXfadsEncoder",
    "XfadsEncoder",
    "EMISSIONS",
    "missing_mask",
    "xfads_bound",
    "make_xfads_loss",
    "xfads_forecast",
    "xfads_posterior_sample",
    "mean_path_ahead",
    "gaussian_expected_log_prob",
]
