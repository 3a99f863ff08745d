"""Oracle tests for the Mamba block against a plain numpy loop of the reference semantics."""

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from ssmbench.models.mamba import Mamba

KEY = jax.random.PRNGKey(0)


def silu(v):
    return v / (1 + np.exp(-v))


def numpy_mamba(m: Mamba, u):
    """mamba_simple.Mamba.forward + selective_scan_ref, written as loops in numpy."""
    P = jax.tree_util.tree_map(np.asarray, m)
    L = u.shape[0]
    di, n, k, r = m.d_inner, m.d_state, m.d_conv, m.dt_rank
    xz = u @ P.in_proj.weight.T
    x, z = xz[:, :di], xz[:, di:]
    w = P.conv.weight[:, 0, :]  # (di, k), w[:, -1] multiplies the current input
    xc = np.zeros_like(x)
    for t in range(L):
        for j in range(k):
            s = t - (k - 1) + j
            if s >= 0:
                xc[t] += w[:, j] * x[s]
    xc = silu(xc + P.conv.bias[:, 0])
    proj = xc @ P.x_proj.weight.T if P.x_proj is not None else np.zeros((L, 0))
    nbc = 2 * n if m.complex_A else n

    def cplx(v):
        return v[..., 0] + 1j * v[..., 1] if m.complex_A else v

    i = 0
    if m.selective_delta:
        dr = proj[:, :r] @ P.dt_proj.weight.T
        i = r
    else:
        dr = np.zeros((L, di))
    delta = np.log1p(np.exp(dr + P.dt_proj.bias))
    if m.selective_B:
        B = cplx(proj[:, i : i + nbc].reshape(L, n, 2)) if m.complex_A else proj[:, i : i + nbc]
        i += nbc
    else:
        B = cplx(P.B)
    if m.selective_C:
        C = cplx(proj[:, i : i + nbc].reshape(L, n, 2)) if m.complex_A else proj[:, i : i + nbc]
    else:
        C = cplx(P.C)
    A = -np.exp(P.A_log) + (1j * P.A_imag if m.complex_A else 0)
    h = np.zeros((di, n), complex)
    y = np.zeros((L, di))
    for t in range(L):
        Bt = B[t][None] if m.selective_B else B
        Ct = C[t][None] if m.selective_C else C
        h = np.exp(delta[t][:, None] * A) * h + (delta[t] * xc[t])[:, None] * Bt
        s = (h * Ct).sum(-1)
        y[t] = 2 * s.real if m.complex_A else s.real
    y = (y + xc * P.D) * silu(z)
    return y @ P.out_proj.weight.T


@pytest.mark.parametrize(
    "flags",
    [
        dict(),
        dict(complex_A=True),
        dict(selective_delta=False, selective_B=False, selective_C=False),
        dict(selective_B=False, complex_A=True),
        dict(selective_C=False, selective_delta=False),
    ],
)
def test_mamba_matches_numpy_reference_and_step(flags):
    m = Mamba(8, d_state=4, key=KEY, **flags)
    L = 11
    u = np.asarray(jax.random.normal(jax.random.PRNGKey(1), (L, 8)))
    ref = numpy_mamba(m, u)

    @eqx.filter_jit
    def both(m, u):
        y = m(u)
        _, ys = jax.lax.scan(lambda s, x: m.step(s, x), m.init_state(), u)
        return y, ys

    y, ys = both(m, jnp.asarray(u))
    # float64 end to end: rounding only.
    np.testing.assert_allclose(np.asarray(y), ref, atol=1e-10)
    np.testing.assert_allclose(np.asarray(ys), ref, atol=1e-10)


def test_mamba_init_and_aux():
    m = Mamba(40, key=KEY)
    assert m.d_inner == 80 and m.dt_rank == 3 and m.d_state == 16
    np.testing.assert_allclose(np.exp(np.asarray(m.A_log[5])), np.arange(1, 17))
    np.testing.assert_allclose(np.asarray(m.D), 1.0)
    dt = np.asarray(jax.nn.softplus(m.dt_proj.bias))
    assert dt.min() >= 1e-3 * (1 - 1e-9) and dt.max() <= 0.1 * (1 + 1e-9)
    assert np.abs(np.asarray(m.dt_proj.weight)).max() <= 3**-0.5
    assert m.x_proj.weight.shape == (3 + 2 * 16, 80)
    x = jax.random.normal(KEY, (7, 40))
    y, aux = eqx.filter_jit(lambda m, x: m(x, return_aux=True))(m, x)
    assert aux["y_ssm"].shape == (7, 80) and aux["state"].shape == (80, 16)
    z = (x @ m.in_proj.weight.T)[:, 80:]
    again = ((aux["y_ssm"] + aux["u"] * m.D[None, :]) * jax.nn.silu(z)) @ m.out_proj.weight.T
    np.testing.assert_allclose(np.asarray(y), np.asarray(again), atol=1e-12)
    m2 = Mamba(8, selective_delta=False, selective_B=False, selective_C=False, key=KEY)
    assert m2.x_proj is None and m2.B.shape == (16, 16)


@pytest.mark.parametrize("complex_A", [False, True])
def test_mamba_nonselective_is_time_invariant(complex_A):
    """With δ, B and C all input-independent the scan is S4D-like: its output is the causal
    convolution of its input u with the fixed kernel K_k = sum_n C_n exp(k δ A_n) δ B_n (2 Re for
    complex A), computed here as a double loop over (t, s) in numpy."""
    m = Mamba(
        6,
        d_state=3,
        selective_delta=False,
        selective_B=False,
        selective_C=False,
        complex_A=complex_A,
        key=KEY,
    )
    L = 9
    x = jax.random.normal(jax.random.PRNGKey(2), (L, 6))
    _, aux = eqx.filter_jit(lambda m, x: m(x, return_aux=True))(m, x)
    u = np.asarray(aux["u"])
    delta = np.log1p(np.exp(np.asarray(m.dt_proj.bias)))  # softplus: one step per channel
    np.testing.assert_allclose(np.asarray(aux["delta"]), np.tile(delta, (L, 1)), atol=1e-12)
    P = jax.tree_util.tree_map(np.asarray, m)
    A = -np.exp(P.A_log) + (1j * P.A_imag if complex_A else 0)
    B = P.B[..., 0] + 1j * P.B[..., 1] if complex_A else P.B
    C = P.C[..., 0] + 1j * P.C[..., 1] if complex_A else P.C
    y = np.zeros((L, m.d_inner))
    for t in range(L):
        for s in range(t + 1):
            K = (C * np.exp((t - s) * delta[:, None] * A) * delta[:, None] * B).sum(-1)
            y[t] += (2 * K.real if complex_A else K.real) * u[s]
    np.testing.assert_allclose(np.asarray(aux["y_ssm"]), y, atol=1e-10)


def test_mamba_nonselective_delta_is_constant_in_time():
    """selective_delta=False with selective B and C: δ is softplus(dt_proj.bias) at every step,
    and x_proj holds only the B and C columns."""
    m = Mamba(8, d_state=4, selective_delta=False, key=KEY)
    assert m.x_proj.weight.shape == (2 * 4, 16)
    x = jax.random.normal(jax.random.PRNGKey(3), (5, 8))
    _, aux = m(x, return_aux=True)
    d = np.asarray(aux["delta"])
    np.testing.assert_allclose(d, np.tile(np.asarray(jax.nn.softplus(m.dt_proj.bias)), (5, 1)))
    assert np.asarray(aux["B"]).shape == (5, 4)
