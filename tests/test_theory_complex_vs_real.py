"""Tests of theory/complex_vs_real (complex vs real diagonal SSMs).

Oracles: float64 SVD/lstsq where the problem is well conditioned (t <= 8), direct evaluation of
the residual in extended precision, the same fit at higher precision, numpy's Chebyshev
coefficients for the certified bound, and a Python loop for impulse responses.
"""

import math

import jax
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ssmbench.tasks.impulse import make_target
from theory import complex_vs_real as cp
from theory.complex_vs_real import training

# mpmath is required (extended-precision least squares): no importorskip, a missing dependency
# must fail loudly rather than skip the whole area.


# -------------------------------------------------------------------------------- pole sets


@pytest.mark.parametrize("name", cp.REAL_POLE_SETS)
@pytest.mark.parametrize("n", [1, 2, 7, 64, 1024])
def test_pole_sets_distinct_and_inside(name, n):
    lam = cp.real_pole_set(name, n)
    assert lam.shape == (n,)
    assert np.all(np.abs(lam) < 1.0)
    assert len(np.unique(lam)) == n


def test_timescale_pole_set_is_paper_parameterization():
    lam = cp.real_pole_set("timescale", 10)
    rates = -np.log(np.abs(lam))  # = exp(nu)
    assert np.all(rates > 0)
    np.testing.assert_allclose(np.sort(rates[:5]), np.logspace(-3, 1, 5), rtol=1e-12)
    assert np.all(lam[:5] > 0) and np.all(lam[5:] < 0)


# -------------------------------------------------------------------------------- least squares


def _f64_tradeoff(poles, phi, eps):
    """Float64 oracle for min ||c|| s.t. ||V c - phi|| <= eps (fine when V is well conditioned)."""
    t = phi.shape[0]
    v = np.power.outer(poles, np.arange(t)).T
    u, s, vt = np.linalg.svd(v, full_matrices=False)
    proj = u.T @ phi
    perp2 = float(np.sum((phi - u @ proj) ** 2))  # direct, not by subtraction of squares

    def res(a):
        return math.sqrt(np.sum((a / (s**2 + a)) ** 2 * proj**2) + perp2)

    lo, hi = 1e-30, 1e12
    for _ in range(300):
        mid = math.sqrt(lo * hi)
        lo, hi = (mid, hi) if res(mid) < eps else (lo, mid)
    a = math.sqrt(lo * hi)
    c = vt.T @ (s / (s**2 + a) * proj)
    return c, math.sqrt(perp2)


@pytest.mark.parametrize("n", [3, 6, 8, 20])
@pytest.mark.parametrize("target", ["delay", "random"])
def test_lsq_matches_float64_oracle_when_well_conditioned(n, target):
    t = 6  # Vandermonde on Chebyshev nodes with t = 6: cond ~ 1e2, so float64 is exact to ~1e-13
    phi = make_target(target, t)
    poles = cp.real_pole_set("chebyshev", n)
    fit = cp.RealLSQ(poles, phi)
    _, perp = _f64_tradeoff(poles, phi, 0.5)
    np.testing.assert_allclose(fit.min_error(), perp, atol=1e-10)
    eps = max(0.1, perp * 1.2)
    out = fit.for_eps(eps)
    c_ref, _ = _f64_tradeoff(poles, phi, eps)
    # bisection stops at relative alpha width 1e-12; the norm follows to ~1e-9
    np.testing.assert_allclose(out["mag_l2"], np.linalg.norm(c_ref), rtol=1e-8)
    coef = np.array([float(c) for c in out["coef"]])
    np.testing.assert_allclose(coef, c_ref, rtol=1e-6, atol=1e-9)


@pytest.mark.parametrize(("t", "n"), [(16, 4), (16, 16), (16, 200), (24, 24)])
def test_lsq_residual_and_norm_by_direct_evaluation(t, n):
    phi = make_target("oscillation", t)
    fit = cp.RealLSQ(cp.real_pole_set("uniform", n), phi)
    out = fit.for_eps(0.1)
    if fit.min_error() > 0.1:
        assert out is None
        return
    # the constrained solution sits on the constraint: residual = eps (bisection tolerance)
    np.testing.assert_allclose(fit.relative_error(out["coef"]), 0.1, rtol=1e-9)
    l2 = math.sqrt(sum(float(c) ** 2 for c in out["coef"]))
    np.testing.assert_allclose(out["mag_l2"], l2, rtol=1e-9)
    assert out["mag_l2"] <= out["sum_abs_c"] + 1e-12
    assert out["max_abs_c"] <= out["mag_l2"] + 1e-12


def test_lsq_precision_is_sufficient():
    """The same fit with 30 more digits gives the same numbers (t = 28, cond(G) ~ 1e21)."""
    t = 28
    phi = make_target("delay", t)
    poles = cp.real_pole_set("chebyshev", t)
    a = cp.RealLSQ(poles, phi).for_eps(0.1)
    b = cp.RealLSQ(poles, phi, dps=cp.default_dps(t) + 30).for_eps(0.1)
    np.testing.assert_allclose(a["mag_l2"], b["mag_l2"], rtol=1e-10)
    np.testing.assert_allclose(a["sum_abs_c"], b["sum_abs_c"], rtol=1e-10)


def test_precision_is_raised_for_clustered_poles():
    """The timescale poles cluster near 0 and 1: the Gram matrix needs more digits than the
    default estimate; the fit raises them, and 30 digits more change nothing."""
    t = 36
    phi = make_target("delay", t)
    poles = cp.real_pole_set("timescale", t)
    fit = cp.RealLSQ(poles, phi)
    assert fit.dps > cp.default_dps(t)
    a = fit.for_eps(0.1)
    b = cp.RealLSQ(poles, phi, dps=fit.dps + 30).for_eps(0.1)
    np.testing.assert_allclose(a["mag_l2"], b["mag_l2"], rtol=1e-10)
    np.testing.assert_allclose(fit.relative_error(a["coef"]), 0.1, rtol=1e-9)


def test_error_at_budget_monotone_and_consistent():
    t = 16
    phi = make_target("delay", t)
    fit = cp.RealLSQ(cp.real_pole_set("chebyshev", 64), phi)
    budgets = [0.1, 1.0, 10.0, 100.0, 1e4, 1e8]
    errs = [fit.error_at_budget(b) for b in budgets]
    assert all(e1 >= e2 for e1, e2 in zip(errs, errs[1:]))
    assert errs[-1] <= fit.min_error() + 1e-12
    # consistency with the dual problem: the norm needed for the error reached at budget 10 is 10
    out = fit.for_eps(errs[2])
    np.testing.assert_allclose(out["mag_l2"], 10.0, rtol=1e-6)


def test_float64_lstsq_runs_out_where_extended_precision_does_not():
    t = 36
    phi = make_target("delay", t)
    poles = cp.real_pole_set("chebyshev", t)
    assert cp.RealLSQ(poles, phi).min_error() < 1e-20  # square, distinct nodes: exact in theory
    assert cp.lsq_float64(poles, phi)["error"] > 1e-6  # float64 cannot resolve it


# -------------------------------------------------------------------------------- certified bound


@pytest.mark.parametrize("t", [2, 3, 5, 8, 9, 16, 33])
def test_delay_bound_is_a_chebyshev_coefficient(t):
    m = (t - 1) // 2
    best = 0.0
    for d in (t - 1, t - 2):
        if d < 0:
            continue
        coef = np.polynomial.chebyshev.cheb2poly([0] * d + [1])
        if m < len(coef):
            best = max(best, abs(coef[m]))
    assert cp.delay_exact_lower_bound(t) == pytest.approx(best, rel=1e-12)


@pytest.mark.parametrize("t", [8, 16])
@pytest.mark.parametrize("pole_set", ["chebyshev", "uniform", "timescale"])
def test_near_exact_delay_respects_certified_bound(t, pole_set):
    """Duality: no real SSM reproducing the delay up to eps can have sum|c| below
    (a_m - eps ||a||_2) / 1, with a the Chebyshev coefficients; checked on our LSQ solutions."""
    phi = make_target("delay", t)
    eps = 1e-9
    out = cp.RealLSQ(cp.real_pole_set(pole_set, 4 * t), phi).for_eps(eps)
    m = (t - 1) // 2
    d = t - 1 if (t - 1 - m) % 2 == 0 else t - 2
    a = np.polynomial.chebyshev.cheb2poly([0] * d + [1])
    bound = abs(a[m]) - eps * np.linalg.norm(a)
    assert cp.delay_exact_lower_bound(t) == pytest.approx(abs(a[m]))
    assert out["sum_abs_c"] >= bound * (1 - 1e-9)


# -------------------------------------------------------------------------------- complex lsq


@settings(max_examples=10, deadline=None)
@given(t=st.integers(4, 40), seed=st.integers(0, 100))
def test_complex_unit_circle_spans_when_n_exceeds_half_t(t, seed):
    phi = make_target("random", t, target_seed=seed)
    out = cp.complex_unit_circle_lsq(math.ceil(t / 2) + 1, phi, 0.1)
    assert out["min_error"] < 1e-10  # 2n - 2 >= t real directions: a (real) DFT basis
    assert out["mag_l2"] > 0


def test_complex_unit_circle_coefficients_reproduce_error():
    t, n, eps = 16, 16, 0.05
    phi = make_target("delay", t)
    out = cp.complex_unit_circle_lsq(n, phi, eps, return_coef=True)
    lam = np.exp(1j * np.pi * np.arange(n) / (n - 1))
    # Python-loop impulse response of the complex SSM with 2 Re output
    h = np.array([2 * sum(c * z**k for c, z in zip(out["coef"], lam)).real for k in range(t)])
    np.testing.assert_allclose(np.linalg.norm(h - phi), eps, rtol=1e-9)
    np.testing.assert_allclose(out["sum_abs_c"], np.sum(np.abs(out["coef"])), rtol=1e-12)


# -------------------------------------------------------------------------------- slope fit


def test_fit_log2_slope_exact_on_exponential():
    ts = np.array([8.0, 16.0, 32.0, 64.0])
    slope, intercept = cp.fit_log2_slope(ts, 3.0 * 2.0 ** (0.7 * ts))
    assert slope == pytest.approx(0.7, rel=1e-12)
    assert intercept == pytest.approx(math.log2(3.0), rel=1e-12)
    with pytest.raises(ValueError):
        cp.fit_log2_slope(ts, ts[:2])


# -------------------------------------------------------------------------------- trained fits


def test_summarize_fits_best_worst_and_divergence():
    err = np.array([[0.5, np.nan, 0.2], [0.9, 0.7, np.inf]])
    s = np.arange(6.0).reshape(2, 3)
    out = cp.summarize_fits(err, s, s + 10, [1e-3, 1e-2, 1e-1])
    assert out["error"] == 0.2 and out["best_lr"] == 1e-1
    assert out["sum_abs_c"] == 2.0 and out["max_abs_c"] == 12.0
    assert out["error_worst_init"] == 0.7  # init 1: best over lrs is 0.7
    assert out["diverged_runs"] == 2.0
    all_bad = cp.summarize_fits(np.full((1, 2), np.nan), s[:1, :2], s[:1, :2], [1.0, 2.0])
    assert all_bad["error"] == np.inf  # the runner records the cell as diverged


def _loop_impulse(model, t):
    """Python-loop oracle: phi(k) = sum_j c_j lambda_j^k (2 Re for the complex field)."""
    lam = np.asarray(model.eigenvalues(), np.complex128)
    c = np.asarray(model.coefficients(), np.complex128)
    h = np.array([sum(cj * lj**k for cj, lj in zip(c, lam)) for k in range(t)])
    return 2 * h.real if model.field == "complex" else h.real


# The trainer tests share one compiled trainer per (field, shape): steps = 50, two models, one lr.
_STEPS = 50


@pytest.mark.parametrize("field", ["real", "complex"])
def test_trainer_at_zero_lr_reports_the_initial_error(field):
    """With lr = 0 nothing moves: the reported error and magnitudes are the init's (loop oracle)."""
    t, n = 8, 3
    make, imp, coef, trainable = cp.zoo_siso(field, bc_std=0.3, dtype="float64")
    keys = jax.random.split(jax.random.PRNGKey(1), 2)
    models = training._stack_models([make(n, k) for k in keys])
    phi = make_target("random", t, target_seed=4)
    err, s_abs, m_abs = training._jitted_trainer(imp, coef, trainable, _STEPS)(
        models, np.zeros(1), phi
    )
    for i, key in enumerate(keys):
        model = make(n, key)
        h = _loop_impulse(model, t)
        # float64 throughout: agreement to rounding
        np.testing.assert_allclose(err[i, 0], np.linalg.norm(h - phi), rtol=1e-10)
        c = np.abs(np.asarray(model.coefficients()))
        np.testing.assert_allclose(s_abs[i, 0], c.sum(), rtol=1e-12)
        np.testing.assert_allclose(m_abs[i, 0], c.max(), rtol=1e-12)


@pytest.mark.parametrize("field", ["real", "complex"])
def test_padded_modes_are_inert_and_training_helps(field):
    """Models padded with B = C = 0 modes have the same impulse response and the same training
    run (final error, magnitudes) as the small models: the batching of sizes relies on it."""
    t, n = 8, 3
    make, imp, coef, trainable = cp.zoo_siso(field, bc_std=0.3, dtype="float64")
    keys = jax.random.split(jax.random.PRNGKey(1), 2)
    small = [make(n, k) for k in keys]
    padded = [training._pad_model(m, make(t, k)) for m, k in zip(small, keys)]
    for a, b in zip(small, padded):
        np.testing.assert_allclose(imp(b, t), imp(a, t), rtol=1e-13, atol=1e-15)
    phi = make_target("random", t, target_seed=4)
    train = training._jitted_trainer(imp, coef, trainable, _STEPS)
    lr = np.array([3e-2])
    out_small = train(training._stack_models(small), lr, phi)
    out_pad = train(training._stack_models(padded), lr, phi)
    for a, b in zip(out_small, out_pad):
        np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-9)
    initial = [np.linalg.norm(_loop_impulse(m, t) - phi) for m in small]
    assert np.all(np.asarray(out_small[0])[:, 0] < np.array(initial))


def test_real_signs_are_frozen():
    make, _, _, trainable = cp.zoo_siso("real", bc_std=1e-3, dtype="float32")
    spec = trainable(make(4, jax.random.PRNGKey(0)))
    assert spec.sign is False and spec.nu is True and spec.B is True and spec.C is True


@pytest.mark.parametrize("field", ["real", "complex"])
def test_experiment_rows_end_to_end(field):
    rows = cp.complex_vs_real(
        seed=0,
        field=field,
        t=8,
        targets=["delay", "random"],
        extra_ns=[16],
        lrs=[1e-2],
        n_inits=1,
        steps=5,
        pole_sets=["chebyshev"],
    )
    assert all(np.isfinite(r["value"]) for r in rows)
    assert {r["target"] for r in rows} == {"delay", "random"}
    ns = {r["n"] for r in rows if r["method"] == "adam"}
    assert ns == ({2, 4, 8, 16} if field == "real" else {2, 4, 8})
    metrics = {r["metric"] for r in rows}
    assert {"error", "error_worst_init", "sum_abs_c", "max_abs_c", "lsq_min_error"} <= metrics
    assert {r["n_rel"] for r in rows if r["n"] == 8} == {"t"}
    if field == "real":
        # at n >= t the least squares reach eps; the log2 magnitude row is there
        assert any(r["metric"] == "lsq_log2_mag_eps" and r["n"] == 16 for r in rows)


def test_experiment_rejects_unknown_target():
    with pytest.raises(ValueError, match="targets"):
        cp.complex_vs_real(seed=0, targets=["sawtooth"], steps=1)


def test_suite_block_parses():
    from ssmbench.harness.suite import load_suite

    suite = load_suite("suites/theory.toml")
    exp = [e for e in suite.experiments if e.name == "complex-vs-real"]
    assert len(exp) == 1
    assert len([c for c in suite.checks if c.experiment == "complex-vs-real"]) >= 4


def test_oscillation_rate_bits():
    # z = i: |i + sqrt(-2)| = 1 + sqrt 2 (the Chebyshev growth rate at i)
    assert cp.oscillation_rate_bits(math.pi / 2) == pytest.approx(math.log2(1 + math.sqrt(2)))
    # frequencies near 0 (smooth targets) are cheap for real poles, pi/2 is the worst case
    rates = [cp.oscillation_rate_bits(w) for w in (0.05, 0.5, 1.0, math.pi / 2)]
    assert all(a < b for a, b in zip(rates, rates[1:]))
    # the delay bound's growth is in the same range (Markov: middle Chebyshev coefficient)
    slope, _ = cp.fit_log2_slope(
        np.array([16.0, 32.0, 64.0]),
        np.array([cp.delay_exact_lower_bound(t) for t in (16, 32, 64)]),
    )
    assert 1.0 < slope < math.log2(1 + math.sqrt(2)) + 1e-9
