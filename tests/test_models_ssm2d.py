"""Oracle tests for the 2D SSM: loop recursion, closed-form kernel, AR(p) companion."""

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from ssmbench.models.ssm2d import (
    SSM2D,
    ar_companion_modes,
    conv2d_causal,
    roesser_kernel,
    roesser_scan,
)

KEY = jax.random.PRNGKey(0)


def loop_2d(a1, a2, a3, a4, b1, b2, c1, c2, x):
    """The 2D recursion as explicit Python loops over v and t (coefficients (n,) or (V,T,n))."""
    V, T = x.shape
    cs = [np.broadcast_to(p, (V, T, np.shape(a1)[-1])) for p in (a1, a2, a3, a4, b1, b2, c1, c2)]
    a1, a2, a3, a4, b1, b2, c1, c2 = cs
    n = a1.shape[-1]
    h1 = np.zeros((V, T, n), complex)
    h2 = np.zeros((V, T, n), complex)
    y = np.zeros((V, T))
    for t in range(T):
        for v in range(V):
            p1 = h1[v, t - 1] if t > 0 else 0
            p2 = h2[v, t - 1] if t > 0 else 0
            h1[v, t] = a1[v, t] * p1 + a2[v, t] * p2 + b1[v, t] * x[v, t]
            q1 = h1[v - 1, t] if v > 0 else 0
            q2 = h2[v - 1, t] if v > 0 else 0
            h2[v, t] = a3[v, t] * q1 + a4[v, t] * q2 + b2[v, t] * x[v, t]
            y[v, t] = (c1[v, t] * h1[v, t] + c2[v, t] * h2[v, t]).sum().real
    return y


def _coeffs(rng, shape):
    def c(scale):
        return scale * (rng.uniform(-1, 1, shape) + 1j * rng.uniform(-1, 1, shape))

    return [c(0.6), c(0.4), c(0.4), c(0.6), c(1.0), c(1.0), c(1.0), c(1.0)]


@pytest.mark.parametrize("selective", [False, True])
def test_roesser_scan_matches_loop(selective):
    rng = np.random.default_rng(0)
    V, T, n = 4, 7, 3
    cs = _coeffs(rng, (V, T, n) if selective else (n,))
    x = rng.normal(size=(V, T))
    y = jax.jit(roesser_scan)(*cs, x)
    np.testing.assert_allclose(np.asarray(y), loop_2d(*cs, x), atol=1e-12)


def test_closed_form_kernel_conv_equals_recursion():
    """float64: 2D FFT convolution with the closed-form kernel equals the recursion to 1e-10."""
    rng = np.random.default_rng(1)
    V, T, n = 6, 13, 3
    cs = _coeffs(rng, (n,))
    x = rng.normal(size=(V, T))
    K = roesser_kernel(*[jnp.asarray(c) for c in cs], V, T)
    # the kernel is the response to an impulse at (0, 0)
    imp = np.zeros((V, T))
    imp[0, 0] = 1
    np.testing.assert_allclose(np.asarray(K), loop_2d(*cs, imp), atol=1e-10)
    y_conv = conv2d_causal(jnp.asarray(x), K)
    np.testing.assert_allclose(np.asarray(y_conv), loop_2d(*cs, x), atol=1e-10)


def test_ar_companion_reproduces_ar_recursion():
    phi = np.array([0.5, -0.3, 0.2, 0.1])  # stationary AR(4)
    p = len(phi)
    r, b1, c1 = ar_companion_modes(jnp.asarray(phi))
    V, T = 3, 40
    eps = np.random.default_rng(2).normal(size=(V, T))
    ref = np.zeros((V, T))
    for t in range(T):
        ref[:, t] = eps[:, t] + sum(phi[k] * ref[:, t - 1 - k] for k in range(p) if t - 1 - k >= 0)
    z = jnp.zeros(p, r.dtype)
    y = roesser_scan(r, z, z, z, b1, z, c1, z, jnp.asarray(eps))
    # float64 eigendecomposition of a well-conditioned 4x4 companion matrix: ~1e-14 rounding.
    np.testing.assert_allclose(np.asarray(y), ref, atol=1e-10)
    K = roesser_kernel(r, z, z, z, b1, z, c1, z, V, T)
    np.testing.assert_allclose(np.asarray(conv2d_causal(jnp.asarray(eps), K)), ref, atol=1e-10)


def test_ssm2d_module_modes_agree():
    T, V = 20, 5
    x = jax.random.normal(jax.random.PRNGKey(3), (T, V))
    conv = SSM2D(V, 4, mode="conv", key=KEY)
    rec = SSM2D(V, 4, mode="recurrent", key=KEY)
    yc, yr = eqx.filter_jit(lambda a, b, x: (a(x), b(x)))(conv, rec, x)
    np.testing.assert_allclose(np.asarray(yc), np.asarray(yr), atol=1e-10)
    sel = SSM2D(V, 4, selective=True, key=KEY)
    assert sel.mode == "recurrent"
    ys = eqx.filter_jit(lambda m, x: m(x))(sel, x)
    assert ys.shape == (T, V) and bool(jnp.isfinite(ys).all())
    with pytest.raises(ValueError, match="closed-form"):
        sel.kernel(V, T)
