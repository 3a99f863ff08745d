"""Oracle tests for the diagonal layers: S4D (real/complex), LRU, DiagonalSISO."""

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from ssmbench.models.diagonal import LRU, S4D, DiagonalSISO

KEY = jax.random.PRNGKey(0)


def loop_diag(Abar, Bbar, C, u, two_re):
    """Per-channel recurrence x_l = Ā x_{l-1} + B̄ u_l, y_l = (2)Re(C x_l), as a Python loop."""
    L, h = u.shape
    x = np.zeros(Abar.shape, complex)
    y = np.zeros((L, h))
    for t in range(L):
        x = Abar * x + Bbar * u[t][:, None]
        s = (C * x).sum(-1)
        y[t] = 2 * s.real if two_re else s.real
    return y


@pytest.mark.parametrize(
    "field,init,disc",
    [
        ("complex", "lin", "zoh"),
        ("complex", "inv", "bilinear"),
        ("real", "real", "zoh"),
        ("real", "real", "bilinear"),
    ],
)
def test_s4d_conv_equals_recurrence_and_loop(field, init, disc):
    h, N, L = 3, 8, 37
    u = jax.random.normal(jax.random.PRNGKey(1), (L, h))
    conv = S4D(h, N, field=field, init=init, discretization=disc, mode="conv", key=KEY)
    # larger steps so that the kernel has not decayed to nothing within L
    rec = S4D(h, N, field=field, init=init, discretization=disc, mode="recurrent", key=KEY)
    y_conv, y_rec = eqx.filter_jit(lambda a, b, u: (a(u), b(u)))(conv, rec, u)
    Abar, Bbar, C = (np.asarray(v) for v in conv.discrete())
    y_loop = loop_diag(Abar, Bbar, C, np.asarray(u), field == "complex") + np.asarray(
        u
    ) * np.asarray(conv.D)
    # float64 FFT convolution vs direct recurrence: rounding of O(L log L) ops -> 1e-10.
    np.testing.assert_allclose(np.asarray(y_conv), y_loop, atol=1e-10)
    np.testing.assert_allclose(np.asarray(y_rec), y_loop, atol=1e-10)
    # step() reproduces the sequence
    _, ys = eqx.filter_jit(lambda m, u: jax.lax.scan(lambda s, x: m.step(s, x), m.init_state(), u))(
        rec, u
    )
    np.testing.assert_allclose(np.asarray(ys), y_loop, atol=1e-10)


def test_s4d_init_values():
    N = 8
    m = S4D(2, N, field="complex", init="lin", key=KEY)
    A = -np.exp(np.asarray(m.log_A_real)) + 1j * np.asarray(m.A_imag)
    np.testing.assert_allclose(A[0], -0.5 + 1j * np.pi * np.arange(N // 2))
    m = S4D(2, N, field="complex", init="inv", key=KEY)
    A = -np.exp(np.asarray(m.log_A_real)) + 1j * np.asarray(m.A_imag)
    n = np.arange(N // 2)
    np.testing.assert_allclose(A[1], -0.5 + 1j * (N / np.pi) * (N / (2 * n + 1) - 1))
    m = S4D(2, N, field="real", key=KEY)
    np.testing.assert_allclose(-np.exp(np.asarray(m.log_A_real[0])), -(np.arange(N) + 1.0))
    dt = np.exp(np.asarray(S4D(500, 2, key=KEY).log_dt))
    assert dt.min() >= 1e-3 and dt.max() <= 1e-1
    with pytest.raises(ValueError, match="field='real'"):
        S4D(2, N, field="real", init="lin", key=KEY)
    with pytest.raises(ValueError, match=r"shape \(L, 2\)"):
        m(jnp.ones((5, 3)))


def test_s4d_kernel_formula_zoh():
    """Kernel equals the closed form of models.md: 2 Re Σ C B (exp(ΔA) − 1)/A exp(ΔA l)."""
    m = S4D(2, 6, field="complex", init="lin", key=KEY)
    L = 20
    A = -np.exp(np.asarray(m.log_A_real)) + 1j * np.asarray(m.A_imag)
    B = np.asarray(m.B[..., 0]) + 1j * np.asarray(m.B[..., 1])
    C = np.asarray(m.C[..., 0]) + 1j * np.asarray(m.C[..., 1])
    dt = np.exp(np.asarray(m.log_dt))[:, None]
    ell = np.arange(L)
    K = 2 * np.real(
        np.einsum("hn,hnl->lh", C * B * (np.exp(dt * A) - 1) / A, np.exp((dt * A)[..., None] * ell))
    )
    np.testing.assert_allclose(np.asarray(m.kernel(L)), K, atol=1e-12)


def test_lru_ring_init_and_recurrence():
    r_min, r_max = 0.4, 0.9
    m = LRU(3, 64, r_min=r_min, r_max=r_max, max_phase=np.pi / 4, key=KEY)
    mod = np.abs(np.asarray(m.eigenvalues()))
    assert mod.min() >= r_min - 1e-12 and mod.max() <= r_max + 1e-12
    assert np.ptp(mod) > 0.3  # spread across the ring, not collapsed
    ang = np.angle(np.asarray(m.eigenvalues()))
    assert ang.min() >= 0 and ang.max() <= np.pi / 4 + 1e-12
    gamma = np.exp(np.asarray(m.gamma_log))
    np.testing.assert_allclose(gamma, np.sqrt(1 - mod**2), rtol=1e-12)

    m = LRU(3, 5, key=KEY)
    L = 23
    u = np.asarray(jax.random.normal(jax.random.PRNGKey(2), (L, 3)))
    lam = np.asarray(m.eigenvalues())
    B = (np.asarray(m.B[..., 0]) + 1j * np.asarray(m.B[..., 1])) * np.exp(np.asarray(m.gamma_log))[
        :, None
    ]
    C = np.asarray(m.C[..., 0]) + 1j * np.asarray(m.C[..., 1])
    x = np.zeros(5, complex)
    ref = []
    for t in range(L):
        x = lam * x + B @ u[t]
        ref.append((C @ x).real + np.asarray(m.D) * u[t])
    np.testing.assert_allclose(
        np.asarray(eqx.filter_jit(m)(jnp.asarray(u))), np.stack(ref), atol=1e-12
    )
    _, ys = eqx.filter_jit(lambda m, u: jax.lax.scan(lambda s, x: m.step(s, x), m.init_state(), u))(
        m, jnp.asarray(u)
    )
    np.testing.assert_allclose(np.asarray(ys), np.stack(ref), atol=1e-12)


@pytest.mark.parametrize("field", ["real", "complex"])
def test_diagonal_siso_impulse_response(field):
    m = DiagonalSISO(6, field=field, bc_std=1.0, key=KEY)
    t = 15
    lam = np.asarray(m.eigenvalues())
    c = np.asarray(m.coefficients())
    if field == "real":
        assert set(np.sign(lam)) <= {-1.0, 1.0} and np.isrealobj(lam)
    # oracle: feed a unit impulse through the recurrence x_k = λ x_{k-1} + B δ_k, y = C x
    x = np.zeros(6, complex)
    phi = []
    for k in range(t):
        x = lam * x + (1.0 if k == 0 else 0.0)
        s = (c * x).sum()
        phi.append(2 * s.real if field == "complex" else s.real)
    np.testing.assert_allclose(np.asarray(m.impulse_response(t)), phi, atol=1e-12)
    u = np.asarray(jax.random.normal(jax.random.PRNGKey(3), (t,)))
    y = np.convolve(u, phi)[:t]
    np.testing.assert_allclose(np.asarray(m(jnp.asarray(u)[:, None]))[:, 0], y, atol=1e-12)
    g = jax.grad(lambda mm: jnp.sum(mm.impulse_response(t) ** 2))(m)
    assert bool(jnp.isfinite(g.nu).all()) and bool(jnp.abs(g.nu).sum() > 0)
