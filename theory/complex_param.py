"""Complex vs real diagonal SSMs: a separation in dimension and in parameter magnitude.

Claim (Ran-Milo, Lumbroso, Cohen-Karlik, Giryes, Globerson, Cohen, "Provable Benefits of
Complex Parameterizations for Structured State Space Models", NeurIPS 2024, arXiv 2410.14067):
a single-input single-output diagonal SSM has the impulse response
``phi(k) = sum_j c_j lambda_j**k`` with ``c_j = B_j C_j``. A *complex* diagonal SSM of moderate
dimension with moderate parameters expresses the delay (copy), random (generic) and oscillating
impulse responses up to time ``t``; a *real* one needs a much larger dimension, and even where
its dimension suffices it needs coefficients of exponentially large magnitude (in ``t``).

This module measures three things per (target, t, n, field):

1. the error of a diagonal SSM trained with Adam and a cosine schedule (the zoo's
   :class:`ssmbench.models.diagonal.DiagonalSISO`, in the paper's parameterisation), best over a
   small learning-rate grid and a few initialisations, together with ``sum_j |B_j C_j|`` and
   ``max_j |B_j C_j|`` at the fit;
2. for the real field, an optimiser-free least-squares fit on fixed real pole sets, solved in
   extended precision (mpmath): the smallest reachable error, the smallest coefficient norm that
   reaches a relative error ``eps``, and the smallest error reachable with a coefficient budget;
3. for the complex field, the same least-squares fit on poles on the unit circle (float64 is
   enough there: the problem is a DFT).

Errors are relative l2 errors ``||phi_hat - phi|| / ||phi||`` over the first ``t`` samples, so the
zero map scores 1. Targets are normalised to unit norm.

Why the least-squares numbers bound what any optimiser could find (for the given pole set):
``min {||c||_2 : err <= eps}`` is a lower bound on ``min {sum_j |c_j| : err <= eps}`` (since
``||c||_1 >= ||c||_2``), and the smallest error with ``||c||_2 <= M`` lower-bounds the smallest
error with ``sum_j |c_j| <= M``.
"""

from __future__ import annotations

import functools
import math
from fractions import Fraction
from typing import Literal

import numpy as np
from jaxtyping import Float

TargetName = Literal["delay", "random", "oscillation", "oscillation-freq"]
RealPoleSet = Literal["chebyshev", "uniform", "timescale"]

TARGETS: tuple[str, ...] = ("delay", "random", "oscillation", "oscillation-freq")
REAL_POLE_SETS: tuple[str, ...] = ("chebyshev", "uniform", "timescale")


# --------------------------------------------------------------------------------------------
# Targets
# --------------------------------------------------------------------------------------------


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


# --------------------------------------------------------------------------------------------
# Fixed pole sets
# --------------------------------------------------------------------------------------------


def real_pole_set(name: str, n: int) -> Float[np.ndarray, " n"]:
    """A fixed set of ``n`` distinct real poles in (-1, 1) (float64, deterministic).

    - ``chebyshev``: ``cos(pi (j + 1/2) / n)``, Chebyshev nodes; they cluster at +-1, where the
      slowly decaying (long-memory) modes live;
    - ``uniform``: midpoints of ``n`` equal cells of [-1, 1];
    - ``timescale``: the paper's parameterisation ``+-exp(-exp(nu))`` with decay rates
      ``exp(nu)`` log-spaced in [1e-3, 10]; the first ``ceil(n/2)`` get sign +, the rest sign -.
    """
    if n < 1:
        raise ValueError(f"n must be >= 1, got {n}")
    j = np.arange(n, dtype=np.float64)
    if name == "chebyshev":
        lam = np.cos(np.pi * (j + 0.5) / n)
    elif name == "uniform":
        lam = -1.0 + (2.0 * j + 1.0) / n
    elif name == "timescale":
        n_pos = (n + 1) // 2
        n_neg = n - n_pos
        rates_pos = np.logspace(-3.0, 1.0, n_pos)
        rates_neg = np.logspace(-3.0, 1.0, n_neg) if n_neg > 1 else np.full(n_neg, 1e-3)
        lam = np.concatenate([np.exp(-rates_pos), -np.exp(-rates_neg)])
    else:
        raise ValueError(f"pole set must be one of {REAL_POLE_SETS}, got {name!r}")
    if len(np.unique(lam)) != n:
        raise ValueError(f"pole set {name!r} with n={n} has repeated poles")
    return lam


def default_dps(t: int) -> int:
    """Decimal digits for the extended-precision fit at horizon ``t``.

    The Gram matrix of the real Vandermonde system has a condition number of roughly
    ``(1 + sqrt 2) ** (2 t)``, i.e. ``0.77 t`` decimal digits; we keep 40 digits on top.
    """
    return 40 + math.ceil(0.85 * t)


# --------------------------------------------------------------------------------------------
# Optimiser-free least squares on fixed real poles (extended precision)
# --------------------------------------------------------------------------------------------


@functools.lru_cache(maxsize=64)
def _gram_eig(poles: tuple[float, ...], t: int, dps: int):
    """Eigen-decomposition of the smaller Gram matrix of ``V[k, j] = poles[j] ** k`` in mpmath.

    Returns ``(mode, eigenvalues, eigenvectors, lam)``. ``mode == "left"`` (n >= t): the Gram
    matrix is the t x t Hankel matrix of power sums ``V V^T``; ``mode == "right"`` (n < t): it is
    ``V^T V`` (n x n). The eigenvalues are the squared singular values of ``V``.
    """
    import mpmath

    with mpmath.workdps(dps):
        lam = [mpmath.mpf(float(x)) for x in poles]
        n = len(lam)
        if n >= t:
            # Hankel matrix of power sums: G[k, l] = sum_j lam_j ** (k + l)
            h = []
            pw = [mpmath.mpf(1)] * n
            for _ in range(2 * t - 1):
                h.append(mpmath.fsum(pw))
                pw = [p * x for p, x in zip(pw, lam)]
            gram = mpmath.matrix(t, t)
            for k in range(t):
                for m in range(t):
                    gram[k, m] = h[k + m]
            mode = "left"
        else:
            gram = mpmath.matrix(n, n)
            for i in range(n):
                for m in range(i, n):
                    q = lam[i] * lam[m]
                    gram[i, m] = gram[m, i] = mpmath.fsum(q**k for k in range(t))
            mode = "right"
        evals, evecs = mpmath.eigsy(gram)
    return mode, evals, evecs, lam


def _vandermonde_mp(lam, t: int):
    """Rows ``V[k, :] = lam ** k`` as nested lists of mpf (k < t)."""
    rows = []
    pw = [x**0 for x in lam]
    for _ in range(t):
        rows.append(pw)
        pw = [p * x for p, x in zip(pw, lam)]
    return rows


class RealLSQ:
    """Least-squares fit ``min ||V c - phi||`` on fixed real poles, in extended precision.

    The singular value decomposition of ``V`` is taken from the (cached) eigen-decomposition of
    its smaller Gram matrix in mpmath at ``dps`` digits. The Tikhonov path
    ``c(alpha) = argmin ||V c - phi||^2 + alpha ||c||^2`` traces exactly the trade-off curve between
    the residual and ``||c||_2``, so both constrained problems ("smallest ``||c||_2`` with error
    <= eps" and "smallest error with ``||c||_2 <= M``") are solved by bisection on ``alpha``.
    """

    def __init__(self, poles: Float[np.ndarray, " n"], target: Float[np.ndarray, " t"], dps=None):
        import mpmath

        poles = np.asarray(poles, dtype=np.float64)
        target = np.asarray(target, dtype=np.float64)
        if poles.ndim != 1 or target.ndim != 1:
            raise ValueError(
                f"poles and target must be 1-d, got shapes {poles.shape}, {target.shape}"
            )
        if np.any(np.abs(poles) > 1.0):
            raise ValueError("real poles must lie in [-1, 1]")
        self.t = t = target.shape[0]
        self.n = poles.shape[0]
        self.dps = dps if dps is not None else default_dps(t)
        self.poles = poles
        self.target = target
        self._mp = mpmath
        mode, evals, evecs, lam = _gram_eig(tuple(poles.tolist()), t, self.dps)
        self._mode, self._lam = mode, lam
        with mpmath.workdps(self.dps):
            phi = [mpmath.mpf(float(x)) for x in target]
            self._phi = phi
            norm2 = mpmath.fsum(x * x for x in phi)
            r = len(evals)
            self._e = [max(evals[i], mpmath.mpf(0)) for i in range(r)]
            if mode == "left":
                # phi_hat_i = q_i . phi
                self._q = evecs
                self._proj = [mpmath.fsum(evecs[k, i] * phi[k] for k in range(t)) for i in range(r)]
            else:
                # u_i = V p_i / s_i, phi_hat_i = p_i . (V^T phi) / s_i
                vt_phi = [
                    mpmath.fsum(phi[k] * lam[j] ** k for k in range(t)) for j in range(self.n)
                ]
                self._p = evecs
                self._proj = []
                for i in range(r):
                    s = mpmath.sqrt(self._e[i])
                    dot = mpmath.fsum(evecs[j, i] * vt_phi[j] for j in range(self.n))
                    self._proj.append(dot / s if s > 0 else mpmath.mpf(0))
            perp2 = norm2 - mpmath.fsum(p * p for p in self._proj)
            self._perp2 = max(perp2, mpmath.mpf(0))
            self._norm = mpmath.sqrt(norm2)

    # -- the trade-off curve ------------------------------------------------------------------
    def _residual(self, alpha):
        mp = self._mp
        s = mp.fsum((alpha / (e + alpha)) ** 2 * p * p for e, p in zip(self._e, self._proj))
        return mp.sqrt(s + self._perp2) / self._norm

    def _coef_norm(self, alpha):
        mp = self._mp
        return mp.sqrt(mp.fsum(e * p * p / (e + alpha) ** 2 for e, p in zip(self._e, self._proj)))

    def _bisect(self, fn, value, increasing: bool):
        """log-alpha bisection for fn(alpha) = value (fn monotone in alpha)."""
        mp = self._mp
        lo, hi = mp.mpf(10) ** (-(self.dps + 10)), mp.mpf(10) ** 12
        for _ in range(4 * self.dps + 200):
            mid = mp.sqrt(lo * hi)
            if (fn(mid) < value) == increasing:
                lo = mid
            else:
                hi = mid
            if hi / lo < 1 + mp.mpf(10) ** -12:
                break
        return mp.sqrt(lo * hi)

    def min_error(self) -> float:
        """Smallest relative error reachable with these poles, at any coefficient size."""
        with self._mp.workdps(self.dps):
            return float(self._mp.sqrt(self._perp2) / self._norm)

    def coefficients(self, alpha) -> list:
        """Tikhonov coefficients ``c(alpha)`` (mpf list)."""
        mp = self._mp
        with mp.workdps(self.dps):
            w = [p / (e + alpha) for e, p in zip(self._e, self._proj)]
            if self._mode == "left":
                # c = V^T Q diag(1/(e + alpha)) phi_hat
                r = len(w)
                z = [mp.fsum(self._q[k, i] * w[i] for i in range(r)) for k in range(self.t)]
                return [
                    mp.fsum(z[k] * self._lam[j] ** k for k in range(self.t)) for j in range(self.n)
                ]
            # c = P diag(s / (e + alpha)) phi_hat
            ws = [wi * mp.sqrt(e) for wi, e in zip(w, self._e)]
            return [mp.fsum(self._p[j, i] * ws[i] for i in range(len(ws))) for j in range(self.n)]

    def relative_error(self, coef) -> float:
        """Direct evaluation of ``||V c - phi|| / ||phi||`` in extended precision (oracle)."""
        mp = self._mp
        with mp.workdps(self.dps):
            rows = _vandermonde_mp(self._lam, self.t)
            res = [mp.fsum(a * b for a, b in zip(row, coef)) - f for row, f in zip(rows, self._phi)]
            return float(mp.sqrt(mp.fsum(x * x for x in res)) / self._norm)

    def for_eps(self, eps: float) -> dict[str, float] | None:
        """Smallest ``||c||_2`` reaching relative error ``eps``; None when unreachable.

        Returns ``mag_l2`` (that norm: a lower bound on ``sum |c_j|`` over all coefficient
        vectors on these poles that reach ``eps``), and ``sum_abs_c``, ``max_abs_c`` of the
        minimising coefficients (so ``mag_l2 <= min sum|c| <= sum_abs_c``).
        """
        mp = self._mp
        with mp.workdps(self.dps):
            if mp.sqrt(self._perp2) / self._norm > eps:
                return None
            alpha = self._bisect(self._residual, mp.mpf(eps), increasing=True)
            coef = self.coefficients(alpha)
            return {
                "mag_l2": float(self._coef_norm(alpha)),
                "sum_abs_c": float(mp.fsum(abs(c) for c in coef)),
                "max_abs_c": float(max(abs(c) for c in coef)),
                "alpha": float(alpha),
                "coef": coef,
            }

    def error_at_budget(self, budget: float) -> float:
        """Smallest relative error with ``||c||_2 <= budget`` (<= the error with sum|c| <= budget)."""
        mp = self._mp
        with mp.workdps(self.dps):
            if self._coef_norm(mp.mpf(10) ** (-(self.dps + 10))) <= budget:
                return self.min_error()
            alpha = self._bisect(self._coef_norm, mp.mpf(budget), increasing=False)
            return float(self._residual(alpha))


def lsq_float64(
    poles: Float[np.ndarray, " n"], target: Float[np.ndarray, " t"]
) -> dict[str, float]:
    """Plain float64 least squares (numpy ``lstsq``, min-norm): where float64 runs out."""
    t = target.shape[0]
    v = np.power.outer(np.asarray(poles, np.float64), np.arange(t)).T  # (t, n)
    coef, *_ = np.linalg.lstsq(v, target, rcond=None)
    err = np.linalg.norm(v @ coef - target) / np.linalg.norm(target)
    return {"error": float(err), "mag_l2": float(np.linalg.norm(coef))}


# --------------------------------------------------------------------------------------------
# Complex poles on the unit circle (float64 suffices)
# --------------------------------------------------------------------------------------------


def complex_unit_circle_lsq(
    n: int, target: Float[np.ndarray, " t"], eps: float, *, return_coef: bool = False
) -> dict:
    """Least squares for ``phi(k) = 2 Re sum_j c_j lambda_j**k`` with ``lambda_j = exp(i pi j/(n-1))``.

    ``n`` complex modes with frequencies evenly spaced in [0, pi]; for ``n >= ceil(t/2) + 1`` they span
    every real sequence of length ``t`` (a real DFT). Returns the smallest error, and the
    smallest ``||c||_2`` reaching ``eps`` with ``sum |c_j|`` and ``max |c_j|`` of that solution.
    """
    t = target.shape[0]
    if n < 2:
        raise ValueError(f"n must be >= 2, got {n}")
    lam = np.exp(1j * np.pi * np.arange(n) / (n - 1))
    pw = np.power.outer(lam, np.arange(t)).T  # (t, n)
    a = np.concatenate([2 * pw.real, -2 * pw.imag], axis=1)  # unknowns [Re c, Im c]
    u, s, vt = np.linalg.svd(a, full_matrices=False)
    keep = s > s[0] * 1e-12
    u, s, vt = u[:, keep], s[keep], vt[keep]
    proj = u.T @ target
    perp2 = float(np.sum((target - u @ proj) ** 2))
    norm = float(np.linalg.norm(target))
    out = {"min_error": math.sqrt(perp2) / norm}

    def residual(alpha):
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


# --------------------------------------------------------------------------------------------
# Certified reference: exact delay by any real SSM
# --------------------------------------------------------------------------------------------


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
