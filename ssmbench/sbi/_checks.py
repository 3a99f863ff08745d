"""Early, named input errors shared by the SBI modules (a ValueError naming the argument)."""

from __future__ import annotations

import numpy as np

__all__ = ["check_length", "check_lag", "check_series"]


def check_length(T: object, name: str = "T") -> None:
    """Raise a ValueError unless ``T`` is a positive Python integer (a static length)."""
    if isinstance(T, bool) or not isinstance(T, (int, np.integer)) or T < 1:
        raise ValueError(f"{name} must be a positive integer (at least 1), got {T!r}")


def check_lag(lag: object, T: int) -> None:
    """Raise a ValueError unless ``1 <= lag < T`` (an integer window of past observations)."""
    if isinstance(lag, bool) or not isinstance(lag, (int, np.integer)) or not 1 <= lag < T:
        raise ValueError(f"lag must be an integer with 1 <= lag < T = {T}, got {lag!r}")


def check_series(y: object, name: str = "y", obs_dim: int | None = None) -> None:
    """Raise a ValueError unless ``y`` is a floating array of shape ``(T, d_y)``, T >= 1 (and
    ``d_y == obs_dim`` when given)."""
    shape = tuple(getattr(y, "shape", ()))
    want = f"(T, {obs_dim})" if obs_dim is not None else "(T, d_y)"
    if (
        not hasattr(y, "dtype")
        or len(shape) != 2
        or shape[0] < 1
        or (obs_dim is not None and shape[1] != obs_dim)
    ):
        raise ValueError(f"{name} must be an array of shape {want} with T >= 1, got {shape}")
    if not np.issubdtype(np.dtype(y.dtype), np.floating):  # type: ignore[attr-defined]
        raise ValueError(f"{name} must have a floating dtype, got {y.dtype}")  # type: ignore[attr-defined]
