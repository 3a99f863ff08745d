"""Oracle tests for ssmbench.discretize against expm of the continuous system."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.scipy.linalg import expm

from ssmbench.discretize import bilinear, discretize, euler_b, zoh
from ssmbench.scan import linear_recurrence


def _system(rng, n, cplx):
    lam = -rng.uniform(0.2, 2.0, n)
    if cplx:
        lam = lam + 1j * rng.uniform(-3, 3, n)
    B = rng.normal(size=n) + (1j * rng.normal(size=n) if cplx else 0)
    return lam, B


@pytest.mark.parametrize("cplx", [False, True])
def test_zoh_equals_expm_block(cplx):
    """ZOH equals expm([[ΛΔ, BΔ], [0, 0]]) = [[Λ̄, B̄], [0, 1]] (Van Loan)."""
    rng = np.random.default_rng(0)
    n = 5
    lam, B = _system(rng, n, cplx)
    for delta in (1e-3, 0.1, 0.7):
        M = np.zeros((n + 1, n + 1), complex)
        M[:n, :n] = np.diag(lam) * delta
        M[:n, n] = B * delta
        E = np.asarray(expm(jnp.asarray(M)))
        Lb, Bb = zoh(jnp.asarray(lam), jnp.asarray(B), delta)
        # float64 expm (Padé + scaling-squaring) vs closed form: rounding level.
        np.testing.assert_allclose(np.asarray(Lb), np.diag(E[:n, :n]), atol=1e-13)
        np.testing.assert_allclose(np.asarray(Bb), E[:n, n], atol=1e-13)


@pytest.mark.parametrize("cplx", [False, True])
def test_zoh_exact_for_piecewise_constant_input(cplx):
    """The ZOH recurrence equals the exact solution of the dense continuous system."""
    rng = np.random.default_rng(1)
    n, T, delta = 4, 25, 0.3
    lam, B = _system(rng, n, cplx)
    u = rng.normal(size=T)
    Lb, Bb = zoh(jnp.asarray(lam), jnp.asarray(B), delta)
    x = linear_recurrence(Lb[None], Bb[None] * jnp.asarray(u[:, None], Bb.dtype))
    # oracle: propagate the augmented state [x; u] through expm over each hold interval
    A = np.diag(lam).astype(complex)
    xe = np.zeros(n, complex)
    M = np.zeros((n + 1, n + 1), complex)
    M[:n, :n] = A * delta
    M[:n, n] = B * delta
    E = np.asarray(expm(jnp.asarray(M)))
    for t in range(T):
        xe = E[:n, :n] @ xe + E[:n, n] * u[t]
        np.testing.assert_allclose(np.asarray(x[t]), xe, atol=1e-12)


def test_zoh_zero_eigenvalue_limit_and_grad():
    Lb, Bb = zoh(jnp.array([0.0, -1e-20, -1.0]), jnp.ones(3), 0.5)
    np.testing.assert_allclose(np.asarray(Bb[:2]), [0.5, 0.5], rtol=1e-12)
    g = jax.grad(lambda lam: zoh(lam, jnp.ones(3), 0.5)[1].sum())(jnp.array([0.0, -0.3, -1.0]))
    assert bool(jnp.isfinite(g).all())


def _sine_response(lam, b, w, t):
    """Exact solution of x' = λx + b sin(wt), x(0) = 0."""
    alpha = -b * lam / (w**2 + lam**2)
    beta = -b * w / (w**2 + lam**2)
    return alpha * np.sin(w * t) + beta * np.cos(w * t) - beta * np.exp(lam * t)


@pytest.mark.parametrize("cplx", [False, True])
def test_bilinear_is_second_order(cplx):
    """Global error of bilinear (input sampled at interval midpoints) scales as Δ²."""
    rng = np.random.default_rng(2)
    lam, B = _system(rng, 3, cplx)
    Tend, w = 4.0, 2.0
    deltas = np.array([0.1, 0.05, 0.025, 0.0125])
    errs = []
    for delta in deltas:
        T = int(round(Tend / delta))
        tmid = (np.arange(T) + 0.5) * delta
        Lb, Bb = bilinear(jnp.asarray(lam), jnp.asarray(B), delta)
        x = linear_recurrence(Lb[None], Bb[None] * jnp.asarray(np.sin(w * tmid)[:, None], Bb.dtype))
        exact = _sine_response(lam, B, w, Tend)
        errs.append(np.max(np.abs(np.asarray(x[-1]) - exact)))
    slope = np.polyfit(np.log(deltas), np.log(errs), 1)[0]
    assert 1.8 < slope < 2.2, (slope, errs)
    # The check can fail: Euler-B (Mamba's mix) is only first order on the same data.
    errs_e = []
    for delta in deltas:
        T = int(round(Tend / delta))
        tmid = (np.arange(T) + 0.5) * delta
        Lb, Bb = euler_b(jnp.asarray(lam), jnp.asarray(B), delta)
        x = linear_recurrence(Lb[None], Bb[None] * jnp.asarray(np.sin(w * tmid)[:, None], Bb.dtype))
        errs_e.append(np.max(np.abs(np.asarray(x[-1]) - _sine_response(lam, B, w, Tend))))
    slope_e = np.polyfit(np.log(deltas), np.log(errs_e), 1)[0]
    assert 0.8 < slope_e < 1.2, (slope_e, errs_e)


def test_euler_b_formula_and_dtype():
    lam = jnp.array([-1.0, -2.0], jnp.float32)
    Lb, Bb = euler_b(lam, jnp.array([3.0, 4.0], jnp.float32), jnp.float32(0.1))
    np.testing.assert_allclose(Lb, np.exp([-0.1, -0.2]), rtol=1e-6)
    np.testing.assert_allclose(Bb, [0.3, 0.4], rtol=1e-6)
    for name in ("zoh", "bilinear", "euler_b"):
        a, b = discretize(name, lam, jnp.ones(2, jnp.float32), jnp.float32(0.1))
        assert a.dtype == b.dtype == jnp.float32
    with pytest.raises(ValueError, match="discretization"):
        discretize("rk4", lam, lam, 0.1)
