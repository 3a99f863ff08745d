"""Chimera's claims on synthetic multivariate series (issue 23; suite ``suites/chimera.toml``).

- :mod:`experiments.chimera.data`: VAR(1) + seasonal + trend series, generated offline;
- :mod:`experiments.chimera.forecast`: one-step forecasting by Chimera, its ablations, a
  per-variate Mamba and a least-squares VAR(p);
- :mod:`experiments.chimera.scaling`: time per training step against T and V.
"""

from .data import chimera_series, splits
from .forecast import METHODS, SETTINGS, fit_var, forecast_experiment
from .scaling import scaling_experiment

__all__ = [
    "METHODS",
    "SETTINGS",
    "chimera_series",
    "fit_var",
    "forecast_experiment",
    "scaling_experiment",
    "splits",
]
