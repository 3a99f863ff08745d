"""DSR experiments (``suites/dsr.toml``, issue 22): convSSM with GTF on Lorenz-63 through an HRF.

- :func:`reconstruction_experiment`: one method (convSSM, its α = 0 ablation, or a standard
  PLRNN on the raw signal) on one noisy series: D_stsp, D_H, λ_max, the deconvolution's
  correlation with the true latent, timings;
- :func:`scaling_experiment`: training time per step against window length, latent size and
  HRF length (for the log-log slopes).
"""

from .reconstruction import METHODS, deconv_correlation, reconstruction_experiment
from .scaling import scaling_experiment

__all__ = ["reconstruction_experiment", "scaling_experiment", "deconv_correlation", "METHODS"]
