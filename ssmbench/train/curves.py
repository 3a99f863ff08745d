"""Time-to-target from evaluation curves of several training runs."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np

__all__ = ["time_to_target"]


def time_to_target(
    curves: Mapping[str, tuple[Any, Any]],
    *,
    fraction: float = 0.95,
    initial: float | None = None,
) -> tuple[dict[str, float], float]:
    """Time each method needs to reach a common target on a held-out metric (higher is better).

    ``curves[method] = (wall_s, metric)``: the held-out metric at increasing training wall times
    (the first point is the common initialisation). The target is
    ``initial + fraction * (best_final - initial)``, where ``best_final`` is the best method's final
    value and ``initial`` (by default) the median of the methods' first values. A method's time is
    the first wall time at which its metric is >= the target; a method that never reaches it gets
    ``nan``. Returns ``(times, target)``.
    """
    if not 0 < fraction <= 1:
        raise ValueError(f"fraction must be in (0, 1], got {fraction}")
    cleaned = {}
    for m, (w, v) in curves.items():
        w, v = np.asarray(w, float), np.asarray(v, float)
        if w.shape != v.shape or w.ndim != 1 or w.size == 0:
            raise ValueError(f"curve of {m!r} needs equal-length 1-D wall_s and metric arrays")
        cleaned[m] = (w, v)
    finals = [v[-1] for _, v in cleaned.values() if np.isfinite(v[-1])]
    if not finals:
        return {m: math.nan for m in cleaned}, math.nan
    init = float(np.median([v[0] for _, v in cleaned.values()])) if initial is None else initial
    target = init + fraction * (max(finals) - init)
    times = {}
    for m, (w, v) in cleaned.items():
        hit = np.nonzero(np.isfinite(v) & (v >= target))[0]
        times[m] = float(w[hit[0]]) if hit.size else math.nan
    return times, float(target)
