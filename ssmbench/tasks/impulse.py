"""Impulse-response targets for fitting single-input single-output linear SSMs.

``make_target`` returns a length-``t`` impulse response ``phi(k)``, normalized to unit l2 norm:
the delay (a copy of the input with a lag), a random response, and two oscillations. A SISO
diagonal SSM fits ``phi`` with ``sum_j c_j lambda_j**k``; the zero map has relative error 1.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
from jaxtyping import Float

__all__ = ["TARGETS", "TargetName", "make_target"]

TargetName = Literal["delay", "random", "oscillation", "oscillation-freq"]

TARGETS: tuple[str, ...] = ("delay", "random", "oscillation", "oscillation-freq")


def make_target(
    name: str, t: int, *, target_seed: int = 0, omega: float = 1.0
) -> Float[np.ndarray, " t"]:
    """Impulse response of length ``t`` with unit l2 norm (float64).

    - ``delay``: a spike at ``(t - 1) // 2`` (copy the input with that delay);
    - ``random``: i.i.d. U[-1, 1] entries from ``numpy.random.default_rng(target_seed)``;
    - ``oscillation``: ``Re(i**k) = cos(pi k / 2)``;
    - ``oscillation-freq``: ``cos(omega k)``.
    """
    if not isinstance(t, int | np.integer) or t < 2:
        raise ValueError(f"t must be an integer >= 2, got {t!r}")
    k = np.arange(t, dtype=np.float64)
    if name == "delay":
        phi = np.zeros(t)
        phi[(t - 1) // 2] = 1.0
    elif name == "random":
        phi = np.random.default_rng(target_seed).uniform(-1.0, 1.0, size=t)
    elif name == "oscillation":
        # Re(i^k) exactly: 1, 0, -1, 0, ... (avoid cos rounding of the zeros)
        phi = np.array([1.0, 0.0, -1.0, 0.0])[np.arange(t) % 4]
    elif name == "oscillation-freq":
        phi = np.cos(omega * k)
    else:
        raise ValueError(f"target must be one of {TARGETS}, got {name!r}")
    return phi / np.linalg.norm(phi)
