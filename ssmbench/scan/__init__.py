"""Linear recurrences and Mamba's selective scan: the bottom layer of the model zoo.

- :mod:`ssmbench.scan.linear`: :func:`linear_recurrence`, ``h_t = a_t * h_{t-1} + b_t``, by a
  sequential, associative or chunked scan;
- :mod:`ssmbench.scan.selective`: :func:`selective_scan`, Mamba's selective scan, with a
  sequential path whose hand-written VJP never materializes the (L, d, n) states;
- :mod:`ssmbench.scan.reference`: slow, obviously correct listings (the test oracles) and the
  memory baselines :func:`selective_scan_plain`, :func:`selective_scan_remat`;
- :mod:`ssmbench.scan.scan2d`: :func:`scan2d`, Chimera's input-dependent 2-D recursion over
  (variate, time), by a sequential or a time-parallel (columns) scan, and its loop oracle
  :func:`scan2d_loop`;
- :mod:`ssmbench.scan.auto`: what ``method="auto"`` picks per backend, from the committed
  table ``scan_choice.json``.
"""

from __future__ import annotations

from typing import Any

from . import auto
from .auto import auto_method
from .linear import DEFAULT_CHUNK, Method, linear_recurrence, resolve_method
from .reference import (
    linear_recurrence_loop,
    selective_scan_loop,
    selective_scan_plain,
    selective_scan_remat,
    selective_scan_stepwise,
)
from .scan2d import AUTO_2D, Method2D, discretize2d, scan2d, scan2d_loop
from .selective import SEQUENTIAL_CHUNK, selective_scan

__all__ = [
    "AUTO_2D",
    "AUTO_METHOD",
    "DEFAULT_CHUNK",
    "SEQUENTIAL_CHUNK",
    "Method",
    "Method2D",
    "discretize2d",
    "scan2d",
    "scan2d_loop",
    "auto_method",
    "linear_recurrence",
    "linear_recurrence_loop",
    "resolve_method",
    "selective_scan",
    "selective_scan_loop",
    "selective_scan_plain",
    "selective_scan_remat",
    "selective_scan_stepwise",
]


def __getattr__(name: str) -> Any:
    """Lazy ``AUTO_METHOD`` (``{backend: method}``, read from ``scan_choice.json`` on access)."""
    if name == "AUTO_METHOD":
        return auto.auto_table()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
