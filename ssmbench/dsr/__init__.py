"""Dynamical-system reconstruction (DSR) from BOLD-like signals (issue #22: convSSM with
generalized teacher forcing, Volkmann, Brändle, Durstewitz, Koppe, NeurIPS 2024, arXiv
2411.02949).

Public API::

    from ssmbench.dsr import spm_hrf, hrf_convolve, wiener_deconvolve, noise_sd
    from ssmbench.dsr import ShallowPLRNN, ConvSSM, force, gtf_rollout, gtf_loss, fit_gtf
    from ssmbench.dsr import state_space_divergence, power_spectrum_distance
    from ssmbench.dsr import lyapunov_max_map, lyapunov_spectrum_flow
    from ssmbench.dsr import lorenz63, simulate_lorenz, lorenz_bold

Modules: the HRF and its convolution (``hrf``), Wiener deconvolution (``deconv``), the clipped
shallow PLRNN and the HRF readout (``plrnn``), generalized teacher forcing and its training
through :func:`ssmbench.train.train` (``gtf``), D_stsp and D_H (``metrics``), Lyapunov
exponents of maps and flows (``lyapunov``), and the Lorenz-63 data (``lorenz``). Each fast path
has its slow reference next to it (``*_reference``).
"""

from .deconv import (
    MAD_TO_SD,
    edge_widths,
    haar_detail,
    haar_detail_reference,
    noise_sd,
    wiener_deconvolve,
)
from .gtf import fit_gtf, force, gtf_loss, gtf_rollout, gtf_rollout_reference, make_windows
from .hrf import (
    FFT_MIN_TAPS,
    gamma_pdf,
    hrf_convolve,
    hrf_convolve_direct,
    hrf_convolve_fft,
    hrf_convolve_reference,
    spm_hrf,
)
from .lorenz import (
    LORENZ_LAMBDA_MAX,
    LORENZ_PARAMS,
    LorenzBold,
    lorenz63,
    lorenz_bold,
    simulate_lorenz,
)
from .lyapunov import (
    lyapunov_max_map,
    lyapunov_max_reference,
    lyapunov_spectrum_flow,
    lyapunov_spectrum_map,
)
from .metrics import (
    BINNING_MAX_DIM,
    gaussian_smooth,
    gmm_kl_divergence,
    hellinger_distance,
    occupation_histogram,
    occupation_histogram_reference,
    power_spectrum,
    power_spectrum_distance,
    state_space_divergence,
)
from .plrnn import AbstractLatentModel, ConvSSM, ShallowPLRNN, plrnn_step_reference

__all__ = [
    "spm_hrf",
    "gamma_pdf",
    "hrf_convolve",
    "hrf_convolve_fft",
    "hrf_convolve_direct",
    "hrf_convolve_reference",
    "FFT_MIN_TAPS",
    "haar_detail",
    "haar_detail_reference",
    "noise_sd",
    "edge_widths",
    "wiener_deconvolve",
    "MAD_TO_SD",
    "AbstractLatentModel",
    "ShallowPLRNN",
    "ConvSSM",
    "plrnn_step_reference",
    "force",
    "gtf_rollout",
    "gtf_rollout_reference",
    "gtf_loss",
    "make_windows",
    "fit_gtf",
    "occupation_histogram",
    "occupation_histogram_reference",
    "state_space_divergence",
    "gmm_kl_divergence",
    "gaussian_smooth",
    "hellinger_distance",
    "power_spectrum",
    "power_spectrum_distance",
    "BINNING_MAX_DIM",
    "lyapunov_spectrum_map",
    "lyapunov_max_map",
    "lyapunov_max_reference",
    "lyapunov_spectrum_flow",
    "LORENZ_PARAMS",
    "LORENZ_LAMBDA_MAX",
    "LorenzBold",
    "lorenz63",
    "simulate_lorenz",
    "lorenz_bold",
]
