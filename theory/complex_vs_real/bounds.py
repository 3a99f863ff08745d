"""References for the real fits: complex poles on the unit circle, and certified bounds.

- :func:`complex_unit_circle_lsq`: least squares with ``n`` complex poles evenly spaced on the
  unit circle (float64 suffices there: the problem is a DFT);
- :func:`delay_exact_lower_bound`: a certified lower bound on ``sum_j |c_j|`` for an exact delay
  by any real diagonal SSM (duality with the Chebyshev polynomials);
- :func:`oscillation_rate_bits`: the exact-fit growth rate of the coefficients a real SSM needs
  for ``cos(omega k)``; :func:`fit_log2_slope`: the measured growth rate.
"""

from __future__ import annotations

import math
from fractions import Fraction

import numpy as np
from jaxtyping import Float


def _unit_circle_svd(n: int, target: Float[np.ndarray, " t"]):
    """The SVD of the real system of ``n`` unit-circle modes ``exp(i pi j/(n-1))``.

    The unknowns are ``[Re c, Im c]``; singular values below ``1e-12`` of the largest are dropped.
    Returns ``(s, vt, proj, perp2)``: the kept singular values and right singular vectors, the
    target's coordinates in the kept left singular vectors, and its squared residual norm.
    """
    t = target.shape[0]
    lam = np.exp(1j * np.pi * np.arange(n) / (n - 1))
    pw = np.power.outer(lam, np.arange(t)).T  # (t, n)
    a = np.concatenate([2 * pw.real, -2 * pw.imag], axis=1)  # unknowns [Re c, Im c]
    u, s, vt = np.linalg.svd(a, full_matrices=False)
    keep = s > s[0] * 1e-12
    u, s, vt = u[:, keep], s[keep], vt[keep]
    proj = u.T @ target
    perp2 = float(np.sum((target - u @ proj) ** 2))
    return s, vt, proj, perp2


def complex_unit_circle_lsq(
    n: int, target: Float[np.ndarray, " t"], eps: float, *, return_coef: bool = False
) -> dict:
    """Least squares for ``phi(k) = 2 Re sum_j c_j lambda_j**k`` with ``lambda_j = exp(i pi j/(n-1))``.

    ``n`` complex modes with frequencies evenly spaced in [0, pi]; for ``n >= ceil(t/2) + 1`` they span
    every real sequence of length ``t`` (a real DFT). Returns the smallest error, and the
    smallest ``||c||_2`` reaching ``eps`` with ``sum |c_j|`` and ``max |c_j|`` of that solution.
    """
    if n < 2:
        raise ValueError(f"n must be >= 2, got {n}")
    s, vt, proj, perp2 = _unit_circle_svd(n, target)
    norm = float(np.linalg.norm(target))
    out = {"min_error": math.sqrt(perp2) / norm}

    def residual(alpha):
        """Relative error of the Tikhonov solution ``c(alpha)``."""
        return math.sqrt(float(np.sum((alpha / (s**2 + alpha)) ** 2 * proj**2)) + perp2) / norm

    if out["min_error"] <= eps:
        lo, hi = 1e-30, 1e12
        for _ in range(200):
            mid = math.sqrt(lo * hi)
            lo, hi = (mid, hi) if residual(mid) < eps else (lo, mid)
        alpha = math.sqrt(lo * hi)
        x = vt.T @ (s / (s**2 + alpha) * proj)
        c = x[:n] + 1j * x[n:]
        out.update(
            mag_l2=float(np.linalg.norm(x)),
            sum_abs_c=float(np.sum(np.abs(c))),
            max_abs_c=float(np.max(np.abs(c))),
        )
        if return_coef:
            out["coef"] = c
    return out


def delay_exact_lower_bound(t: int) -> float:
    """Lower bound on ``sum_j |c_j|`` for ANY real diagonal SSM (any n, poles in [-1, 1]) whose
    impulse response equals the delay ``delta_m``, ``m = (t - 1) // 2``, exactly up to time t.

    Duality: for a polynomial ``p(x) = sum_k a_k x^k`` of degree < t with ``|p| <= 1`` on [-1, 1],
    ``a_m = sum_k a_k phi(k) = sum_j c_j p(lambda_j) <= sum_j |c_j|``. The Chebyshev polynomial
    ``T_d`` (d = t-1 or t-2, the one with the parity of m) gives ``|a_m|`` = its x^m coefficient.
    """
    m = (t - 1) // 2
    d = t - 1 if (t - 1 - m) % 2 == 0 else t - 2
    # T_d(x) = (d/2) sum_j (-1)^j (d-j-1)! / (j! (d-2j)!) (2x)^(d-2j)
    j = (d - m) // 2
    if d == 0:
        return 1.0
    coef = Fraction(d, d - j) * math.comb(d - j, j) * Fraction(2) ** (d - 2 * j - 1)
    return float(coef)


def fit_log2_slope(
    ts: Float[np.ndarray, " m"], mags: Float[np.ndarray, " m"]
) -> tuple[float, float]:
    """Least-squares slope and intercept of ``log2(mags)`` against ``ts`` (bits per time step)."""
    ts = np.asarray(ts, np.float64)
    y = np.log2(np.asarray(mags, np.float64))
    if ts.shape != y.shape or ts.ndim != 1 or ts.size < 2:
        raise ValueError(f"need two 1-d arrays of equal length >= 2, got {ts.shape}, {y.shape}")
    slope, intercept = np.polyfit(ts, y, 1)
    return float(slope), float(intercept)


def complex_error_at_budget(n: int, target, budget: float) -> float:
    """Smallest error of the unit-circle complex fit with ``||[Re c, Im c]||_2 <= budget``."""
    s, _, proj, perp2 = _unit_circle_svd(n, target)

    def norm(alpha):
        """``||c(alpha)||_2`` on the Tikhonov path."""
        return math.sqrt(float(np.sum(s**2 * proj**2 / (s**2 + alpha) ** 2)))

    def residual(alpha):
        """Absolute error of the Tikhonov solution ``c(alpha)``."""
        return math.sqrt(float(np.sum((alpha / (s**2 + alpha)) ** 2 * proj**2)) + perp2)

    if norm(0.0) <= budget:
        return residual(0.0) / float(np.linalg.norm(target))
    lo, hi = 1e-30, 1e12
    for _ in range(200):
        mid = math.sqrt(lo * hi)
        lo, hi = (mid, hi) if norm(mid) > budget else (lo, mid)
    return residual(math.sqrt(lo * hi)) / float(np.linalg.norm(target))


def oscillation_rate_bits(omega: float) -> float:
    """Asymptotic growth (bits per step) of the coefficient size a real SSM needs for cos(omega k).

    A polynomial bounded by 1 on [-1, 1] grows at most like ``rho(z)**d`` at ``z = exp(i omega)``,
    with ``rho(z) = |z + sqrt(z**2 - 1)|`` (Bernstein ellipse); by duality the coefficient size
    needed to match ``cos(omega k)`` for ``k < t`` grows like ``rho**t``.
    """
    z = complex(math.cos(omega), math.sin(omega))
    r = (z * z - 1) ** 0.5
    return math.log2(max(abs(z + r), abs(z - r)))
