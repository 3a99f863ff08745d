"""The per-backend scan method behind ``method="auto"``.

The choice is a committed table, ``scan_choice.json`` beside this module, read lazily on first
use and never written by the library. Each entry records the throughput run it was measured on;
unmeasured backends say so. To change an entry, run ``python -m experiments.throughput choose
RUN_DIR OUT.json`` on a committed throughput run (it writes the backend's entry into ``OUT.json``,
outside the package), copy the entry into ``ssmbench/scan/scan_choice.json`` and commit it with
the run directory (see docs/performance.md).
"""

from __future__ import annotations

import functools
import json
from importlib import resources
from typing import Any

__all__ = ["FALLBACK_METHOD", "auto_method", "auto_table"]  # and the lazy AUTO_METHOD

#: Method for a backend that the table does not list.
FALLBACK_METHOD = "sequential"


@functools.cache
def _choice_file() -> dict[str, Any]:
    """The parsed ``scan_choice.json`` (read once)."""
    text = resources.files(__package__).joinpath("scan_choice.json").read_text(encoding="utf-8")
    return json.loads(text)


def auto_table() -> dict[str, str]:
    """``{backend: method}`` for ``method="auto"``, from ``scan_choice.json`` (a fresh dict)."""
    return {backend: entry["method"] for backend, entry in _choice_file()["backends"].items()}


def auto_method(backend: str) -> str:
    """The scan method ``method="auto"`` uses on ``backend`` (a ``jax.default_backend()`` name).

    Backends the table does not list get :data:`FALLBACK_METHOD`.
    """
    return auto_table().get(backend, FALLBACK_METHOD)


def __getattr__(name: str) -> Any:
    """Lazy module attributes: ``AUTO_METHOD`` is :func:`auto_table`, read on first access."""
    if name == "AUTO_METHOD":
        return auto_table()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
