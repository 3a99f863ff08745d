"""SBI experiments (``suites/sbi.toml``, issue 20): T-SNL against SNL, PMMH and SMC-ABC.

- :func:`truncation_experiment`: the exact posterior against the exact truncated-likelihood
  posterior (quadrature, no network), per lag;
"""

from .accuracy import accuracy_experiment, make_task
from .amortise import amortised_experiment
from .common import METHODS
from .truncation import grid_posterior, truncation_experiment

__all__ = [
    "truncation_experiment",
    "accuracy_experiment",
    "amortised_experiment",
    "grid_posterior",
    "make_task",
    "METHODS",
]
