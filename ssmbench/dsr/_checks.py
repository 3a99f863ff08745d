"""Early, named input errors shared by the DSR modules (a ValueError naming the argument)."""

from __future__ import annotations

import math

import numpy as np

__all__ = ["check_tr", "check_series", "check_hrf", "check_alpha"]


def check_tr(tr: object) -> float:
    """Return ``tr`` as a float; raise a ValueError unless it is a finite number > 0."""
    if isinstance(tr, bool) or not isinstance(tr, (int, float, np.integer, np.floating)):
        raise ValueError(f"tr must be a positive number (seconds), got {tr!r}")
    if not math.isfinite(float(tr)) or float(tr) <= 0:
        raise ValueError(f"tr must be a finite number > 0 (seconds), got {tr!r}")
    return float(tr)


def check_series(x: object, name: str = "x", *, min_length: int = 1) -> tuple[int, int]:
    """Raise a ValueError unless ``x`` is a floating ``(T, N)`` array with ``T >= min_length``;
    return ``(T, N)``."""
    shape = tuple(getattr(x, "shape", ()))
    if not hasattr(x, "dtype") or len(shape) != 2 or shape[1] < 1:
        raise ValueError(f"{name} must be an array of shape (T, N), got shape {shape}")
    if not np.issubdtype(np.dtype(x.dtype), np.floating):  # type: ignore[attr-defined]
        raise ValueError(f"{name} must have a floating dtype, got {x.dtype}")  # type: ignore[attr-defined]
    if shape[0] < min_length:
        raise ValueError(
            f"{name} has {shape[0]} time steps; at least {min_length} are needed "
            "(the series must not be shorter than the HRF)"
        )
    return shape[0], shape[1]


def check_hrf(hrf: object) -> int:
    """Raise a ValueError unless ``hrf`` is a non-empty 1-D floating array; return its length."""
    shape = tuple(getattr(hrf, "shape", ()))
    if not hasattr(hrf, "dtype") or len(shape) != 1 or shape[0] < 1:
        raise ValueError(f"hrf must be a non-empty 1-D array, got shape {shape}")
    if not np.issubdtype(np.dtype(hrf.dtype), np.floating):  # type: ignore[attr-defined]
        raise ValueError(f"hrf must have a floating dtype, got {hrf.dtype}")  # type: ignore[attr-defined]
    return shape[0]


def check_alpha(alpha: object) -> float:
    """Return ``alpha`` as a float; raise a ValueError unless it lies in [0, 1]."""
    if isinstance(alpha, bool) or not isinstance(alpha, (int, float, np.integer, np.floating)):
        raise ValueError(f"alpha must be a number in [0, 1], got {alpha!r}")
    if not 0.0 <= float(alpha) <= 1.0:
        raise ValueError(f"alpha must be in [0, 1], got {alpha!r}")
    return float(alpha)
