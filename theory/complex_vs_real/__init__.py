"""Complex vs real diagonal SSMs: a separation in dimension and in parameter magnitude.

Paper: Ran-Milo, Lumbroso, Cohen-Karlik, Giryes, Globerson, Cohen, "Provable Benefits of Complex
Parameterizations for Structured State Space Models", NeurIPS 2024, arXiv 2410.14067. Claim page:
``docs/claims/complex-vs-real.md``; suite experiment ``complex-vs-real`` in ``suites/theory.toml``
(``run = "theory.complex_vs_real:complex_vs_real"``). The paper's claim 4 (selectivity) is the
separate package :mod:`theory.selectivity`.

Claims: a single-input single-output diagonal SSM has the impulse response
``phi(k) = sum_j c_j lambda_j**k`` with ``c_j = B_j C_j``. A *complex* diagonal SSM of moderate
dimension with moderate parameters expresses the delay (copy), random (generic) and oscillating
impulse responses up to time ``t``; a *real* one needs a much larger dimension, and even where
its dimension suffices it needs coefficients of exponentially large magnitude (in ``t``).

The experiment measures three things per (target, t, n, field):

1. the error of a diagonal SSM trained with Adam and a cosine schedule (the zoo's
   :class:`ssmbench.models.diagonal.DiagonalSISO`, in the paper's parameterization), best over a
   small learning-rate grid and a few initializations, together with ``sum_j |B_j C_j|`` and
   ``max_j |B_j C_j|`` at the fit (:mod:`.training`);
2. for the real field, an optimizer-free least-squares fit on fixed real pole sets, solved in
   extended precision (mpmath): the smallest reachable error, the smallest coefficient norm that
   reaches a relative error ``eps``, and the smallest error reachable with a coefficient budget
   (:mod:`.lsq`);
3. for the complex field, the same least-squares fit on poles on the unit circle (float64 is
   enough there: the problem is a DFT; :mod:`.bounds`).

Errors are relative l2 errors ``||phi_hat - phi|| / ||phi||`` over the first ``t`` samples, so the
zero map scores 1. Targets (:mod:`ssmbench.tasks.impulse`) are normalized to unit norm.

Why the least-squares numbers bound what any optimizer could find (for the given pole set):
``min {||c||_2 : err <= eps}`` is a lower bound on ``min {sum_j |c_j| : err <= eps}`` (since
``||c||_1 >= ||c||_2``), and the smallest error with ``||c||_2 <= M`` lower-bounds the smallest
error with ``sum_j |c_j| <= M``.

Modules: :mod:`.lsq` (real pole sets, extended-precision least squares), :mod:`.bounds`
(unit-circle fit, certified bounds, growth rates), :mod:`.training` (trained fits through
``ssmbench.train.fit``), :mod:`.experiment` (the suite cell), :mod:`.report` (the claim page's
tables).
"""

from .bounds import (
    complex_error_at_budget,
    complex_unit_circle_lsq,
    delay_exact_lower_bound,
    fit_log2_slope,
    oscillation_rate_bits,
)
from .experiment import complex_vs_real, model_sizes
from .lsq import REAL_POLE_SETS, RealLSQ, RealPoleSet, default_dps, lsq_float64, real_pole_set
from .report import report_tables
from .training import summarize_fits, zoo_siso

__all__ = [
    "REAL_POLE_SETS",
    "RealPoleSet",
    "RealLSQ",
    "real_pole_set",
    "default_dps",
    "lsq_float64",
    "complex_unit_circle_lsq",
    "complex_error_at_budget",
    "delay_exact_lower_bound",
    "fit_log2_slope",
    "oscillation_rate_bits",
    "zoo_siso",
    "summarize_fits",
    "model_sizes",
    "complex_vs_real",
    "report_tables",
]
