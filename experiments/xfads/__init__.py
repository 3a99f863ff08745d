"""XFADS experiments (``suites/xfads.toml``): exactness, cost in the state dimension, learning.

- :func:`oracle_experiment`: the Kalman-equivalence oracle on random LGSSMs, and L-hat - log p(y)
  with sampled prediction and with pseudo-observations optimised to maximise L-hat;
- :func:`cost_experiment`: steady-state time of one filter step against the state dimension L,
  low-rank against the dense reference; the log-log slopes;
- :func:`latent_experiment`: XFADS vs its diagonal ablation vs a DKF on van der Pol and a
  Poisson spiral (forecast R^2, bits per spike).
"""

from .exactness import cost_experiment, oracle_experiment
from .learn import METHODS, latent_experiment

__all__ = ["oracle_experiment", "cost_experiment", "latent_experiment", "METHODS"]
