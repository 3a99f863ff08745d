"""ssmbench: benchmark and theory-verification suite for state space models.

The public API, re-exported here (as diffrax does):

- suites and runs: :func:`run_suite` (a suite as a path, TOML text, a dict or a
  :class:`Suite`), :func:`load_run`, :func:`compare`, :func:`load_suite`, :func:`parse_suite`,
  :func:`expand_cells`, :func:`read_records`, :func:`records_to_table`;
- the one training loop: :func:`train`, :func:`fit`, :class:`TrainConfig`;
- the layers, scans and probabilistic models live in :mod:`ssmbench.models`,
  :mod:`ssmbench.scan` and :mod:`ssmbench.prob`.
"""

from ._version import __version__
from .harness import (
    Comparison,
    RunResult,
    Suite,
    SuiteError,
    Verdict,
    expand_cells,
    load_suite,
    parse_suite,
    read_records,
    records_to_table,
)
from .harness.api import compare, load_run, run_suite
from .train import FitResult, TrainConfig, TrainResult, fit, train

__all__ = [
    "__version__",
    "Comparison",
    "FitResult",
    "RunResult",
    "Suite",
    "SuiteError",
    "TrainConfig",
    "TrainResult",
    "Verdict",
    "compare",
    "expand_cells",
    "fit",
    "load_run",
    "load_suite",
    "parse_suite",
    "read_records",
    "records_to_table",
    "run_suite",
    "train",
]
