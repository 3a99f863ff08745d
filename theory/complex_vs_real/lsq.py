"""Optimizer-free least squares on fixed real poles, in extended precision (mpmath).

A real diagonal SISO SSM with poles ``lambda_j`` has the impulse response ``V c`` with
``V[k, j] = lambda_j ** k``. For a fixed pole set (:func:`real_pole_set`) :class:`RealLSQ` traces
the whole trade-off between the residual and ``||c||_2`` from one singular value decomposition of
``V``, computed in extended precision (the real Vandermonde system is exponentially ill
conditioned in ``t``); :func:`lsq_float64` shows where float64 runs out.
"""

from __future__ import annotations

import functools
import math
from typing import Literal

import numpy as np
from jaxtyping import Float

RealPoleSet = Literal["chebyshev", "uniform", "timescale"]

REAL_POLE_SETS: tuple[str, ...] = ("chebyshev", "uniform", "timescale")


def real_pole_set(name: str, n: int) -> Float[np.ndarray, " n"]:
    """A fixed set of ``n`` distinct real poles in (-1, 1) (float64, deterministic).

    - ``chebyshev``: ``cos(pi (j + 1/2) / n)``, Chebyshev nodes; they cluster at +-1, where the
      slowly decaying (long-memory) modes live;
    - ``uniform``: midpoints of ``n`` equal cells of [-1, 1];
    - ``timescale``: the paper's parameterization ``+-exp(-exp(nu))`` with decay rates
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
    ``(1 + sqrt 2) ** (2 t)``, i.e. ``0.77 t`` decimal digits; we keep ``20 + 0.03 t`` digits on top (tests check that 30 more
    digits change nothing).
    """
    return 20 + math.ceil(0.8 * t)


#: decimal digits kept between the smallest eigenvalue and the working precision
_HEADROOM_DIGITS = 25


@functools.lru_cache(maxsize=64)
def _gram_eig(poles: tuple[float, ...], t: int, dps: int):
    """Like :func:`_gram_eig_at`, raising the precision until the smallest eigenvalue of the
    Gram matrix sits at least ``_HEADROOM_DIGITS`` digits above the working precision (pole
    sets with clusters, e.g. ``timescale``, are much worse conditioned than the estimate of
    :func:`default_dps`). Returns ``(mode, eigenvalues, eigenvectors, lam, dps_used)``.
    """
    import mpmath

    while True:
        mode, evals, evecs, lam = _gram_eig_at(poles, t, dps)
        lo, hi = min(evals), max(evals)
        if lo > 0:
            digits = float(mpmath.log10(hi / lo))
            if digits + _HEADROOM_DIGITS <= dps:
                return mode, evals, evecs, lam, dps
            dps = math.ceil(digits) + _HEADROOM_DIGITS + 5
        else:
            dps = 2 * dps
        if dps > 2000:
            raise RuntimeError(f"Gram matrix too ill-conditioned for {dps} digits (t={t})")


def _gram_eig_at(poles: tuple[float, ...], t: int, dps: int):
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
                    q = lam[i] * lam[m]  # |q| < 1: geometric sum
                    gram[i, m] = gram[m, i] = (1 - q**t) / (1 - q)
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
        """Decompose the Vandermonde system of ``poles`` at ``dps`` digits (default
        :func:`default_dps`; raised as needed) and project ``target`` on it."""
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
        mode, evals, evecs, lam, self.dps = _gram_eig(tuple(poles.tolist()), t, self.dps)
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
                vt_phi = [_horner(phi, x) for x in lam]
                self._p = evecs
                self._proj = []
                for i in range(r):
                    s = mpmath.sqrt(self._e[i])
                    dot = mpmath.fsum(evecs[j, i] * vt_phi[j] for j in range(self.n))
                    self._proj.append(dot / s if s > 0 else mpmath.mpf(0))
            perp2 = norm2 - mpmath.fsum(p * p for p in self._proj)
            self._perp2 = max(perp2, mpmath.mpf(0))
            self._norm = mpmath.sqrt(norm2)
            # float64 copies, normalized so that ||phi|| = 1
            self._e_f = np.array([float(e) for e in self._e])
            self._proj_f = np.array([float(p / self._norm) for p in self._proj])
            self._perp2_f = float(self._perp2 / norm2)

    # -- the trade-off curve ------------------------------------------------------------------
    # Given accurate squared singular values e_i and projections p_i (from extended precision),
    # residual(alpha) and ||c(alpha)|| are sums of positive terms: float64 evaluates them fine.
    def _residual(self, alpha: float) -> float:
        """Relative residual of the Tikhonov solution ``c(alpha)``."""
        e, p = self._e_f, self._proj_f
        return math.sqrt(float(np.sum((alpha / (e + alpha)) ** 2 * p * p)) + self._perp2_f)

    def _coef_norm(self, alpha: float) -> float:
        """``||c(alpha)||_2`` for the unit-norm target."""
        e, p = self._e_f, self._proj_f
        with np.errstate(invalid="ignore", divide="ignore"):
            terms = np.where(e > 0, e * p * p / (e + alpha) ** 2, 0.0)
        return math.sqrt(float(np.sum(terms)))

    @staticmethod
    def _bisect(fn, value: float, increasing: bool) -> float:
        """Bisection on log10(alpha) in [-300, 12] for fn(alpha) = value (fn monotone)."""
        lo, hi = -300.0, 12.0
        for _ in range(200):
            mid = 0.5 * (lo + hi)
            if (fn(10.0**mid) < value) == increasing:
                lo = mid
            else:
                hi = mid
            if hi - lo < 1e-14:
                break
        return 10.0 ** (0.5 * (lo + hi))

    def min_error(self) -> float:
        """Smallest relative error reachable with these poles, at any coefficient size."""
        with self._mp.workdps(self.dps):
            return float(self._mp.sqrt(self._perp2) / self._norm)

    def coefficients(self, alpha: float) -> list:
        """Tikhonov coefficients ``c(alpha)`` (list of mpf, for the target as given)."""
        mp = self._mp
        with mp.workdps(self.dps):
            a = mp.mpf(alpha)  # c(alpha) is linear in phi: alpha does not depend on ||phi||
            w = [p / (e + a) for e, p in zip(self._e, self._proj)]
            if self._mode == "left":
                # c = V^T Q diag(1/(e + alpha)) phi_hat, i.e. c_j = z(lambda_j) with z = Q w
                r = len(w)
                z = [mp.fsum(self._q[k, i] * w[i] for i in range(r)) for k in range(self.t)]
                return [_horner(z, x) for x in self._lam]
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

    def for_eps(self, eps: float) -> dict | None:
        """Smallest ``||c||_2`` reaching relative error ``eps``; None when unreachable.

        Returns ``mag_l2`` (that norm: a lower bound on ``sum |c_j|`` over all coefficient
        vectors on these poles that reach ``eps``), ``sum_abs_c`` and ``max_abs_c`` of the
        minimising coefficients (so ``mag_l2 <= min sum|c| <= sum_abs_c``), and ``coef``.
        """
        if math.sqrt(self._perp2_f) > eps:
            return None
        alpha = self._bisect(self._residual, eps, increasing=True)
        coef = self.coefficients(alpha)
        mp = self._mp
        with mp.workdps(self.dps):
            return {
                "mag_l2": self._coef_norm(alpha) * float(self._norm),
                "sum_abs_c": float(mp.fsum(abs(c) for c in coef)),
                "max_abs_c": float(max(abs(c) for c in coef)),
                "alpha": alpha,
                "coef": coef,
            }

    def error_at_budget(self, budget: float) -> float:
        """Smallest relative error with ``||c||_2 <= budget`` (<= the error with sum|c| <= budget)."""
        b = budget / float(self._norm)
        if self._coef_norm(0.0) <= b:
            return self.min_error()
        alpha = self._bisect(self._coef_norm, b, increasing=False)
        return self._residual(alpha)


def _horner(coefs, x):
    """``sum_k coefs[k] x**k``."""
    acc = coefs[-1] * 0
    for a in reversed(coefs):
        acc = acc * x + a
    return acc


def lsq_float64(
    poles: Float[np.ndarray, " n"], target: Float[np.ndarray, " t"]
) -> dict[str, float]:
    """Plain float64 least squares (numpy ``lstsq``, min-norm): where float64 runs out."""
    t = target.shape[0]
    v = np.power.outer(np.asarray(poles, np.float64), np.arange(t)).T  # (t, n)
    coef, *_ = np.linalg.lstsq(v, target, rcond=None)
    err = np.linalg.norm(v @ coef - target) / np.linalg.norm(target)
    return {"error": float(err), "mag_l2": float(np.linalg.norm(coef))}
