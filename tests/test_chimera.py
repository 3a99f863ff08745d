"""Chimera's 2-D selective scan and layer against their oracles (issue 23).

Tolerances: float64 throughout (conftest enables x64); the recursions here are short (T <= 24,
V <= 6), so every exact method agrees with the numpy loop to a few ulps of the output scale;
1e-10 leaves room for the O(T V) accumulated rounding and the triangular solve of ``columns``.
"""

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from ssmbench.models.chimera import ChimeraForecaster, ChimeraLayer, ChimeraStack
from ssmbench.models.ssm2d import ar_companion_modes
from ssmbench.scan import scan2d, scan2d_loop, selective_scan
from ssmbench.scan.scan2d import _shift_inverse

TOL = 1e-10

#: every model call goes through one jit (eager dispatch of the scans is slow)
apply = eqx.filter_jit(lambda m, x: m(x))


def _cplx(key, shape, scale=1.0):
    k1, k2 = jax.random.split(key)
    return jax.lax.complex(
        scale * jax.random.normal(k1, shape), scale * jax.random.normal(k2, shape)
    )


def _args(V, T, d, n, *, seed=0, complex_=True):
    """Random, stable parameters of the 2-D recursion."""
    ks = jax.random.split(jax.random.key(seed), 10)
    u = jax.random.normal(ks[0], (V, T, d))
    d1 = jax.nn.softplus(jax.random.normal(ks[1], (V, T, d)))
    d2 = jax.nn.softplus(jax.random.normal(ks[2], (V, T, d)))
    if complex_:
        A1 = jax.lax.complex(
            -jnp.exp(jax.random.normal(ks[3], (d, n))), jax.random.normal(ks[4], (d, n))
        )
        A4 = jax.lax.complex(
            -jnp.exp(jax.random.normal(ks[5], (d, n))), jax.random.normal(ks[6], (d, n))
        )
        A2, A3 = _cplx(ks[7], (d, n), 0.3), _cplx(ks[8], (d, n), 0.3)
        B1, B2, C1, C2 = (_cplx(k, (V, T, n)) for k in jax.random.split(ks[9], 4))
    else:
        A1 = -jnp.exp(jax.random.normal(ks[3], (d, n)))
        A4 = -jnp.exp(jax.random.normal(ks[5], (d, n)))
        A2 = 0.3 * jax.random.normal(ks[7], (d, n))
        A3 = 0.3 * jax.random.normal(ks[8], (d, n))
        B1, B2, C1, C2 = (jax.random.normal(k, (V, T, n)) for k in jax.random.split(ks[9], 4))
    return (u, d1, d2, A1, A2, A3, A4, B1, B2, C1, C2)


@pytest.mark.parametrize("method", ["sequential", "columns"])
@pytest.mark.parametrize(
    ("V", "T", "d", "n", "complex_"), [(4, 7, 3, 2, True), (1, 5, 2, 3, False), (5, 3, 1, 1, True)]
)
def test_scan2d_equals_loop(method, V, T, d, n, complex_):
    args = _args(V, T, d, n, complex_=complex_)
    ref = scan2d_loop(*args)
    y = np.asarray(scan2d(*args, method=method))
    assert y.shape == (V, T, d) and y.dtype == np.float64
    np.testing.assert_allclose(y, ref, rtol=0, atol=TOL * max(1.0, np.abs(ref).max()))


@pytest.mark.parametrize("V", [1, 2, 7])
def test_shift_inverse_is_the_dense_inverse(V):
    """The columns scan's closed-form (I - diag(a) S)^-1 (no LAPACK) against numpy's inverse,
    batched, complex; a[0] is multiplied by nothing, so it is set to 0 as in the scan."""
    rng = np.random.default_rng(V)
    a = rng.normal(size=(3, V)) + 1j * rng.normal(size=(3, V))
    a[:, 0] = 0
    S = np.eye(V, k=-1)
    dense = np.stack([np.linalg.inv(np.eye(V) - np.diag(ai) @ S) for ai in a])
    np.testing.assert_allclose(_shift_inverse(jnp.asarray(a)), dense, rtol=1e-12, atol=1e-12)


def test_scan2d_gradients_agree_with_finite_differences():
    args = _args(3, 5, 2, 2, seed=1)
    w = jax.random.normal(jax.random.key(9), (3, 5, 2))

    def loss(method, A2, B2, d2):
        a = list(args)
        a[4], a[7], a[2] = A2, B2, d2
        return jnp.sum(w * scan2d(*a, method=method))

    loss = jax.jit(loss, static_argnums=0)
    p = (args[4], args[7], args[2])
    g_seq = jax.grad(lambda *q: loss("sequential", *q), argnums=(0, 1, 2))(*p)
    g_col = jax.grad(lambda *q: loss("columns", *q), argnums=(0, 1, 2))(*p)
    for a, b in zip(g_seq, g_col):
        np.testing.assert_allclose(np.asarray(a), np.asarray(b), atol=1e-10)
    # central differences on a few real coordinates of delta2 (step 1e-6: error O(1e-12 / 1e-6))
    eps = 1e-6
    for idx in [(0, 0, 0), (2, 4, 1), (1, 2, 0)]:
        e = jnp.zeros_like(p[2]).at[idx].set(eps)
        fd = (
            loss("sequential", p[0], p[1], p[2] + e) - loss("sequential", p[0], p[1], p[2] - e)
        ) / (2 * eps)
        np.testing.assert_allclose(float(g_seq[2][idx]), float(fd), rtol=1e-6, atol=1e-8)


@pytest.mark.parametrize("complex_", [False, True])
def test_without_cross_terms_each_variate_is_mambas_selective_scan(complex_):
    u, d1, d2, A1, A2, A3, A4, B1, B2, C1, C2 = _args(4, 9, 3, 2, seed=2, complex_=complex_)
    zero = jnp.zeros_like(A2)
    y = scan2d(u, d1, d2, A1, zero, zero, A4, B1, B2, C1, jnp.zeros_like(C2))
    # selective_scan reads out 2 Re <x, C> for complex A, Re <x, C> for real A
    half = 0.5 if complex_ else 1.0
    for v in range(4):
        ref = selective_scan(
            u[v],
            d1[v],
            A1,
            B1[v],
            half * C1[v],
            delta_softplus=False,
            selective_B=True,
            selective_C=True,
        )
        np.testing.assert_allclose(np.asarray(y[v]), np.asarray(ref), atol=TOL)


def test_var1_predictor_is_reproduced_exactly():
    """Forward + backward variate scans with A4 = 0 compute y[t] = Phi x[t] for any Phi."""
    V, T = 5, 6
    Phi = jax.random.normal(jax.random.key(3), (V, V))
    x = jax.random.normal(jax.random.key(4), (V, T, 1))
    ones = jnp.ones((V, T, 1))
    zc = jnp.zeros((1, V), jnp.complex128)
    eye = jnp.broadcast_to(jnp.eye(V, dtype=jnp.complex128)[:, None, :], (V, T, V))  # [m == u]
    zeros_vt = jnp.zeros((V, T, V), jnp.complex128)

    def run(P, xs):  # modes m = source variates; h2[v, m] = xs[m] for m <= v
        C2 = jnp.broadcast_to(P[:, None, :], (V, T, V)).astype(jnp.complex128)
        return scan2d(xs, ones, ones, zc, zc, zc, zc, zeros_vt, eye, zeros_vt, C2)[..., 0]

    lower = run(jnp.tril(Phi), x)
    upper = run(jnp.tril(Phi[::-1, ::-1], k=-1), x[::-1])[
        ::-1
    ]  # the backward direction: reversed variates
    want = jnp.einsum("vu,ut->vt", Phi, x[..., 0])
    np.testing.assert_allclose(np.asarray(lower + upper), np.asarray(want), atol=TOL)


@pytest.mark.parametrize("phi", [[0.5, -0.3, 0.2], [0.0] * 5 + [1.0]], ids=["AR3", "seasonal6"])
def test_ar_and_seasonal_processes_are_reproduced_exactly(phi):
    """Driven by noise, the time direction with companion modes generates AR(p); phi = e_P is
    the seasonal model y_t = y_{t-P} + eps_t (modes: the P-th roots of unity)."""
    phi = jnp.asarray(phi)
    p = phi.shape[0]
    V, T = 2, 4 * p
    r, b, c = ar_companion_modes(phi)
    delta = 0.7
    eps = jax.random.normal(jax.random.key(5), (V, T, 1))
    ones = jnp.full((V, T, 1), delta)
    A1 = (jnp.log(r) / delta)[None, :]
    z = jnp.zeros((1, p), jnp.complex128)
    B1 = jnp.broadcast_to(b / delta, (V, T, p))
    C1 = jnp.broadcast_to(c, (V, T, p))
    zeros = jnp.zeros((V, T, p), complex)
    y = scan2d(eps, ones, ones, A1, z, z, z, B1, zeros, C1, zeros)[..., 0]
    want = np.zeros((V, T))
    e = np.asarray(eps[..., 0])
    for t in range(T):
        want[:, t] = e[:, t] + sum(
            float(phi[k]) * want[:, t - k - 1] for k in range(p) if t - k - 1 >= 0
        )
    np.testing.assert_allclose(np.asarray(y), want, atol=TOL)


def _layer(**kw):
    return ChimeraLayer(4, 3, key=jax.random.key(6), **kw)


def test_layer_methods_agree_and_layer_is_causal():
    x = jax.random.normal(jax.random.key(7), (10, 3, 4))
    one = dict(heads=1, bidirectional=False)  # the two-head, two-direction sum is tested below
    seq, col = _layer(method="sequential", **one), _layer(method="columns", **one)
    y = apply(seq, x)
    np.testing.assert_allclose(np.asarray(y), np.asarray(apply(col, x)), atol=TOL)
    x2 = x.at[6:].add(1.0)  # change the future only
    y2 = apply(seq, x2)
    np.testing.assert_allclose(np.asarray(y2[:6]), np.asarray(y[:6]), atol=TOL)
    assert float(jnp.max(jnp.abs(y2[6:] - y[6:]))) > 1e-3


def test_variate_false_keeps_variates_apart_and_true_mixes_them():
    x = jax.random.normal(jax.random.key(8), (8, 3, 4))
    x2 = x.at[:, 2].add(1.0)  # change variate 2 only
    alone = _layer(variate=False)
    np.testing.assert_allclose(
        np.asarray(apply(alone, x2)[:, :2]), np.asarray(apply(alone, x)[:, :2]), atol=TOL
    )
    mixed = _layer()
    change = jnp.abs(apply(mixed, x2)[:, 0] - apply(mixed, x)[:, 0])
    assert float(jnp.max(change)) > 1e-4  # the backward direction reaches v = 0


def test_forecaster_shapes_dtype_and_gradients():
    model = ChimeraForecaster(3, d_model=4, d_state=2, depth=1, key=jax.random.key(9))
    x = jax.random.normal(jax.random.key(10), (12, 3), dtype=jnp.float32)
    y = apply(model, x)
    assert y.shape == (12, 3) and y.dtype == jnp.float32
    g = eqx.filter_jit(eqx.filter_grad(lambda m: jnp.mean((m(x)[:-1] - x[1:]) ** 2)))(model)
    leaves = jax.tree_util.tree_leaves(g)
    assert all(bool(jnp.all(jnp.isfinite(leaf))) for leaf in leaves)
    assert any(float(jnp.max(jnp.abs(leaf))) > 0 for leaf in leaves)


def test_bad_input_is_rejected_by_name():
    layer = _layer()
    with pytest.raises(ValueError, match=r"x must have shape \(T, V, 4\)"):
        layer(jnp.zeros((5, 3)))
    with pytest.raises(ValueError, match="V = 1 variate"):
        layer(jnp.zeros((5, 1, 4)))
    assert _layer(variate=False)(jnp.zeros((5, 1, 4))).shape == (5, 1, 4)
    with pytest.raises(ValueError, match="3 variates"):
        ChimeraForecaster(3, d_model=4, d_state=2, key=jax.random.key(0))(jnp.zeros((5, 2)))
    args = list(_args(2, 3, 1, 1))
    args[7] = jnp.zeros((2, 4, 1))
    with pytest.raises(ValueError, match="B1 must be"):
        scan2d(*args)
    with pytest.raises(ValueError, match="method must be"):
        scan2d(*_args(2, 3, 1, 1), method="fast")


def test_stack_is_causal_in_time_and_counts_its_state():
    """ChimeraStack (the zoo's 2-D layer on multivariate data): per-step outputs (T, d_out) that
    do not see later steps, while every variate reaches them; state = blocks V r k 2 d n 2
    (blocks 1, V 3, r 2 directions, k 2 heads, h1 and h2, d 4, n 2, complex)."""
    model = ChimeraStack(3, 5, d_model=4, d_state=2, depth=1, key=jax.random.key(11))
    x = jax.random.normal(jax.random.key(12), (6, 3), dtype=jnp.float32)
    y = apply(model, x)
    assert y.shape == (6, 5) and y.dtype == jnp.float32
    later = x.at[4:].add(1.0)  # change steps >= 4: outputs before 4 are untouched
    np.testing.assert_array_equal(np.asarray(apply(model, later)[:4]), np.asarray(y[:4]))
    assert float(jnp.max(jnp.abs(apply(model, later)[4:] - y[4:]))) > 1e-4
    other = x.at[:, 2].add(1.0)  # the last variate reaches the pooled output at every step
    assert float(jnp.min(jnp.max(jnp.abs(apply(model, other) - y), axis=1))) > 1e-6
    assert model.state_size() == 1 * 3 * 2 * 2 * 2 * 4 * 2 * 2
    with pytest.raises(ValueError, match="3 variates"):
        model(jnp.zeros((5, 2)))
