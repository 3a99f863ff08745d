"""The zoo accuracy benchmark (issue #24): every zoo layer on MAD-style synthetic tasks, MQAR
and small real sequence-classification sets, under iso-parameter or iso-state budgets, with
hyperparameters selected on validation only. See ``docs/benchmark.md`` and ``suites/zoo.toml``.
"""

from .bench import TASKS, build_model, zoo_benchmark
from .budget import TOLERANCE, ZOO, BudgetError, fit_budget, n_params, state_size

__all__ = [
    "TASKS",
    "TOLERANCE",
    "ZOO",
    "BudgetError",
    "build_model",
    "fit_budget",
    "n_params",
    "state_size",
    "zoo_benchmark",
]
