"""The suite experiment ``complex-vs-real`` (``suites/theory.toml``): one cell per field and t."""

from __future__ import annotations

import math
from typing import Literal

import jax
import numpy as np

from ssmbench.tasks.impulse import TARGETS, make_target

from .bounds import complex_error_at_budget, complex_unit_circle_lsq
from .lsq import REAL_POLE_SETS, RealLSQ, lsq_float64, real_pole_set
from .training import _jitted_trainer, _pad_model, _stack_models, summarize_fits, zoo_siso


def _n_rel(n: int, t: int) -> str:
    """``n`` relative to ``t`` as a label: ``"t/4"``, ``"t/2"``, ``"t"``, ``"32t"``, ..."""
    if n == t:
        return "t"
    if n > t:
        return f"{n // t}t" if n % t == 0 else f"{n / t:g}t"
    return f"t/{t // n}" if t % n == 0 else f"t/{t / n:g}"


def model_sizes(field: str, t: int, extra_ns: list[int]) -> list[int]:
    """State sizes per cell: t/4, t/2, t for both fields; for the real field also extra_ns > t."""
    base = sorted({max(1, t // 4), max(1, t // 2), t})
    if field == "complex":
        return base
    return base + sorted({n for n in extra_ns if n > t})


def complex_vs_real(
    *,
    seed: int,
    quick: bool = False,
    field: Literal["real", "complex"] = "real",
    t: int = 32,
    targets: list[str] = list(TARGETS),  # noqa: B006 - the runner passes lists; never mutated
    extra_ns: list[int] = [256, 1024],  # noqa: B006
    lrs: list[float] = [1e-3, 1e-2, 1e-1],  # noqa: B006
    n_inits: int = 3,
    steps: int = 4000,
    bc_std: float = 1e-3,
    dtype: Literal["float32", "float64"] = "float32",
    omega: float = 1.0,
    target_seed: int = 0,
    eps: float = 0.1,
    budget: float = 10.0,
    pole_sets: list[str] = list(REAL_POLE_SETS),  # noqa: B006
    lsq: bool = True,
) -> list[dict]:
    """One cell: every target, every state size ``n`` of ``field`` at horizon ``t``.

    Rows carry the columns ``target``, ``n``, ``n_rel`` (n relative to t, e.g. ``"t"``),
    ``method`` (``"adam"`` or ``"lsq"``) and ``poleset`` (``"learned"`` for trained fits).

    - ``method = "adam"``: ``n_inits`` initializations (from ``seed``) x ``lrs``, each trained for
      ``steps`` Adam steps with a cosine schedule; metrics ``error`` (best run),
      ``error_worst_init`` (worst initialization, best lr), ``sum_abs_c`` and ``max_abs_c``
      (``|B_j C_j|`` at the best run), ``best_lr``, ``diverged_runs``.
    - ``method = "lsq"`` (if ``lsq``): fixed poles, no optimizer. Real field: ``pole_sets`` in
      extended precision; complex field: ``"unit-circle"``. Metrics ``lsq_min_error``,
      ``lsq_error_at_budget`` (``||c||_2 <= budget``), ``f64_lsq_error`` (real only), and when
      ``eps`` is reachable ``lsq_mag_l2_eps``, ``lsq_log2_mag_eps``, ``lsq_sum_abs_c_eps``,
      ``lsq_max_abs_c_eps``.

    The least-squares rows use n = t/4, t/2, t and the largest n only.
    ``quick`` trains for at most 300 steps and skips the least squares at n = t when a larger n
    is in the cell.
    """

    for name in targets:
        if name not in TARGETS:
            raise ValueError(f"targets: unknown target {name!r}; expected a subset of {TARGETS}")
    for name in pole_sets:
        if name not in REAL_POLE_SETS:
            raise ValueError(f"pole_sets: unknown {name!r}; expected a subset of {REAL_POLE_SETS}")
    if t < 4:
        raise ValueError(f"t must be >= 4, got {t}")
    if quick:
        steps = min(steps, 300)
    ns = model_sizes(field, t, extra_ns)
    phis = {name: make_target(name, t, target_seed=target_seed, omega=omega) for name in targets}
    rows: list[dict] = []

    def row(metric, value, target, n, method, poleset):
        """One table row of this cell."""
        return {
            "metric": metric,
            "value": float(value),
            "target": target,
            "n": int(n),
            "n_rel": _n_rel(n, t),
            "method": method,
            "poleset": poleset,
        }

    # -- trained fits ---------------------------------------------------------------------
    make_model, impulse_fn, coef_fn, trainable = zoo_siso(field, bc_std=bc_std, dtype=dtype)
    keys = list(jax.random.split(jax.random.PRNGKey(seed), n_inits))
    jdtype = np.float32 if dtype == "float32" else np.float64
    lr_arr = np.asarray(lrs, jdtype)
    train = _jitted_trainer(impulse_fn, coef_fn, trainable, steps)
    # Sizes n <= t share one compiled trainer: each is padded to t modes with B = C = 0, which
    # are exactly inert (their gradients, and so their Adam updates, are identically zero).
    small = [n for n in ns if n <= t]
    groups = [(small, t)] + [([n], n) for n in ns if n > t]
    for sizes, width in groups:
        models = _stack_models(
            [_pad_model(make_model(n, key), make_model(width, key)) for n in sizes for key in keys]
        )
        for name, phi in phis.items():
            err, s_abs, m_abs = train(models, lr_arr, phi.astype(jdtype))
            err, s_abs, m_abs = (
                np.asarray(x).reshape(len(sizes), n_inits, len(lrs)) for x in (err, s_abs, m_abs)
            )
            for g, n in enumerate(sizes):
                summary = summarize_fits(err[g], s_abs[g], m_abs[g], lrs)
                for metric, value in summary.items():
                    rows.append(row(metric, value, name, n, "adam", "learned"))

    # least squares at n = t/4, t/2, t and the largest n (an extended-precision eigen-decomposition
    # per (pole set, n >= t) dominates the cost)
    lsq_ns = [n for n in ns if n <= t] + [n for n in ns[-1:] if n > t]
    if quick:  # one large decomposition per pole set: the largest n only
        lsq_ns = [n for n in ns if n < t] + ns[-1:]
    if lsq and field == "real":
        for ps in pole_sets:
            for n in lsq_ns:
                poles = real_pole_set(ps, n)
                for name, phi in phis.items():
                    fit = RealLSQ(poles, phi)
                    rows.append(row("lsq_min_error", fit.min_error(), name, n, "lsq", ps))
                    rows.append(
                        row("lsq_error_at_budget", fit.error_at_budget(budget), name, n, "lsq", ps)
                    )
                    f64 = lsq_float64(poles, phi)
                    rows.append(row("f64_lsq_error", f64["error"], name, n, "lsq", ps))
                    out = fit.for_eps(eps)
                    if out is not None:
                        rows += _eps_rows(out, row, name, n, ps)
    elif lsq:
        for n in ns:
            for name, phi in phis.items():
                out = complex_unit_circle_lsq(n, phi, eps)
                rows.append(row("lsq_min_error", out["min_error"], name, n, "lsq", "unit-circle"))
                if "mag_l2" in out:
                    rows += _eps_rows(out, row, name, n, "unit-circle")
                rows.append(
                    row(
                        "lsq_error_at_budget",
                        complex_error_at_budget(n, phi, budget),
                        name,
                        n,
                        "lsq",
                        "unit-circle",
                    )
                )
    return rows


def _eps_rows(out, row, name, n, ps) -> list[dict]:
    """The four rows of a least-squares fit that reaches ``eps`` (norms of its coefficients)."""
    return [
        row("lsq_mag_l2_eps", out["mag_l2"], name, n, "lsq", ps),
        row("lsq_log2_mag_eps", math.log2(out["mag_l2"]), name, n, "lsq", ps),
        row("lsq_sum_abs_c_eps", out["sum_abs_c"], name, n, "lsq", ps),
        row("lsq_max_abs_c_eps", out["max_abs_c"], name, n, "lsq", ps),
    ]
