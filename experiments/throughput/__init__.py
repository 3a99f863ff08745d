"""Throughput experiments: time every scan method of every model over sequence lengths.

See :mod:`experiments.throughput.run` for the rows a cell returns and the measurement method,
:mod:`experiments.throughput.workloads` for what is timed, and
:mod:`experiments.throughput.choose` for the measured choice behind ``method="auto"``.
"""

from .choose import choose_auto, write_choice
from .run import SCAN_METHODS, forward_backward, summarize, throughput
from .workloads import WORKLOADS, Workload, WorkloadSpec, workload_spec

__all__ = [
    "SCAN_METHODS",
    "WORKLOADS",
    "Workload",
    "WorkloadSpec",
    "choose_auto",
    "forward_backward",
    "summarize",
    "throughput",
    "workload_spec",
    "write_choice",
]
