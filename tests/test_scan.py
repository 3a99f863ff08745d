"""Oracle tests for ssmbench.scan against plain Python loops (numpy, float64/complex128)."""

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ssmbench.scan import linear_recurrence, selective_scan

METHODS = ["sequential", "associative", "chunked", "auto"]


@functools.partial(jax.jit, static_argnames=("reverse", "chunk"))
def _all_methods(a, b, h0, reverse, chunk):
    # One compilation per shape for all methods keeps the hypothesis test fast.
    return [
        linear_recurrence(a, b, h0, method=m, reverse=reverse, chunk_size=chunk) for m in METHODS
    ]


def loop_recurrence(a, b, h0=None, reverse=False):
    a = np.broadcast_to(a, b.shape)
    h = np.zeros(b.shape[1:], np.result_type(a, b)) if h0 is None else np.array(h0)
    out = np.zeros(b.shape, np.result_type(a, b))
    order = range(b.shape[0] - 1, -1, -1) if reverse else range(b.shape[0])
    for t in order:
        h = a[t] * h + b[t]
        out[t] = h
    return out


def _rand(rng, shape, cplx):
    x = rng.uniform(-1, 1, shape)
    if cplx:
        x = x + 1j * rng.uniform(-1, 1, shape)
    return x


@settings(max_examples=10, deadline=None)
@given(
    T=st.sampled_from([1, 2, 7, 16, 33]),
    tail=st.sampled_from([(), (3,), (2, 3)]),
    cplx=st.booleans(),
    reverse=st.booleans(),
    use_h0=st.booleans(),
    chunk=st.sampled_from([1, 4, 5]),
    seed=st.integers(0, 2**16),
)
def test_linear_recurrence_matches_loop(T, tail, cplx, reverse, use_h0, chunk, seed):
    rng = np.random.default_rng(seed)
    # |a| <= 1 keeps the recurrence bounded so an absolute tolerance is meaningful.
    a = _rand(rng, (T,) + tail, cplx) * 0.99
    b = _rand(rng, (T,) + tail, cplx)
    h0 = _rand(rng, tail, cplx) if use_h0 else None
    ref = loop_recurrence(a, b, h0, reverse)
    # float64: agreement up to rounding of O(T) operations -> 1e-12.
    for out in _all_methods(a, b, h0, reverse, chunk):
        np.testing.assert_allclose(np.asarray(out), ref, atol=1e-12, rtol=1e-12)
    # float32: single-precision rounding over <= 33 steps of bounded values -> 1e-5.
    dt = np.complex64 if cplx else np.float32
    h0_32 = None if h0 is None else jnp.asarray(h0, dt)
    for out32 in _all_methods(jnp.asarray(a, dt), jnp.asarray(b, dt), h0_32, reverse, chunk):
        assert out32.dtype == dt
        np.testing.assert_allclose(np.asarray(out32), ref, atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("method", METHODS)
def test_linear_recurrence_time_invariant_broadcast(method):
    rng = np.random.default_rng(0)
    a = rng.uniform(-1, 1, (4,))  # no time axis, broadcasts over (T, 3, 4)
    b = rng.normal(size=(11, 3, 4))
    ref = loop_recurrence(np.broadcast_to(a, b.shape), b)
    out = linear_recurrence(a, b, method=method, chunk_size=4)
    np.testing.assert_allclose(np.asarray(out), ref, atol=1e-12)
    out = linear_recurrence(a[None], b, method=method, chunk_size=4)
    np.testing.assert_allclose(np.asarray(out), ref, atol=1e-12)


def test_linear_recurrence_errors():
    with pytest.raises(ValueError, match="method"):
        linear_recurrence(jnp.ones(3), jnp.ones(3), method="nope")
    with pytest.raises(ValueError, match="broadcast"):
        linear_recurrence(jnp.ones((3, 2)), jnp.ones((3, 4)))


def test_linear_recurrence_jit_vmap_grad():
    a = jnp.full((9, 2), 0.5)
    b = jnp.arange(18.0).reshape(9, 2)
    for m in ("sequential", "associative", "chunked"):
        f = jax.jit(lambda a, b, m=m: linear_recurrence(a, b, method=m, chunk_size=4).sum())
        g = jax.grad(f, argnums=(0, 1))(a, b)
        g_ref = jax.grad(lambda a, b: linear_recurrence(a, b, method="sequential").sum(), (0, 1))(
            a, b
        )
        for x, y in zip(g, g_ref):
            np.testing.assert_allclose(x, y, atol=1e-10)
        vm = jax.vmap(lambda b, m=m: linear_recurrence(a, b, method=m, chunk_size=4))(
            jnp.stack([b, 2 * b])
        )
        np.testing.assert_allclose(vm[1], 2 * vm[0], atol=1e-10)


def loop_selective_scan(u, delta, A, B, C, D, z, delta_bias, softplus, selB, selC, h0=None):
    """Mamba's selective_scan_ref, written as an explicit loop over time."""
    L, d = u.shape
    n = A.shape[1]
    if delta_bias is not None:
        delta = delta + delta_bias
    if softplus:
        delta = np.log1p(np.exp(delta))
    x = np.zeros((d, n), complex) if h0 is None else np.array(h0, complex)
    ys = np.zeros((L, d))
    for t in range(L):
        Bt = B[t][None, :] if selB else B
        Ct = C[t][None, :] if selC else C
        for i in range(d):
            for j in range(n):
                x[i, j] = (
                    np.exp(delta[t, i] * A[i, j]) * x[i, j]
                    + delta[t, i] * Bt[i if not selB else 0, j] * u[t, i]
                )
        y = (x * Ct).sum(-1)
        ys[t] = 2 * y.real if np.iscomplexobj(A) else y.real
    if D is not None:
        ys = ys + D * u
    if z is not None:
        ys = ys * z / (1 + np.exp(-z))
    return ys, x


@settings(max_examples=6, deadline=None)
@given(
    cplx=st.booleans(),
    selB=st.booleans(),
    selC=st.booleans(),
    useD=st.booleans(),
    usez=st.booleans(),
    usebias=st.booleans(),
    softplus=st.booleans(),
    L=st.sampled_from([1, 5, 13]),
    seed=st.integers(0, 2**16),
)
def test_selective_scan_matches_loop(cplx, selB, selC, useD, usez, usebias, softplus, L, seed):
    rng = np.random.default_rng(seed)
    d, n = 3, 4
    u = rng.normal(size=(L, d))
    delta = rng.uniform(0.01, 0.5, (L, d))
    A = -rng.uniform(0.1, 2, (d, n))
    if cplx:
        A = A + 1j * rng.normal(size=(d, n))
    B = _rand(rng, (L, n) if selB else (d, n), cplx)
    C = _rand(rng, (L, n) if selC else (d, n), cplx)
    D = rng.normal(size=d) if useD else None
    z = rng.normal(size=(L, d)) if usez else None
    bias = rng.normal(size=d) if usebias else None
    ref, xlast = loop_selective_scan(u, delta, A, B, C, D, z, bias, softplus, selB, selC)
    outs = _ss_all(u, delta, A, B, C, D, z, bias, softplus, selB, selC)
    for y, xl in outs:
        assert y.shape == (L, d) and y.dtype == u.dtype
        # float64 vs a float64/complex128 loop: rounding only.
        np.testing.assert_allclose(np.asarray(y), ref, atol=1e-12, rtol=1e-12)
        np.testing.assert_allclose(
            np.asarray(xl), xlast if np.iscomplexobj(xl) else xlast.real, atol=1e-12
        )


@functools.partial(jax.jit, static_argnums=(8, 9, 10))
def _ss_all(u, delta, A, B, C, D, z, bias, softplus, selB, selC, h0=None):
    return [
        selective_scan(
            u,
            delta,
            A,
            B,
            C,
            D,
            z,
            bias,
            softplus,
            method=m,
            selective_B=selB,
            selective_C=selC,
            return_state=True,
            chunk_size=4,
            h0=h0,
        )
        for m in METHODS
    ]


def test_selective_scan_h0_and_float32():
    rng = np.random.default_rng(1)
    L, d, n = 9, 2, 3
    u = rng.normal(size=(L, d))
    delta = rng.normal(size=(L, d))
    A = -np.exp(rng.normal(size=(d, n)))
    B, C = rng.normal(size=(L, n)), rng.normal(size=(L, n))
    h0 = rng.normal(size=(d, n))
    ref, _ = loop_selective_scan(u, delta, A, B, C, None, None, None, True, True, True, h0)
    for y, _ in _ss_all(u, delta, A, B, C, None, None, None, True, True, True, h0):
        np.testing.assert_allclose(np.asarray(y), ref, atol=1e-12)
    f32 = [jnp.asarray(v, jnp.float32) for v in (u, delta, A, B, C, h0)]
    for y32, _ in _ss_all(*f32[:5], None, None, None, True, True, True, f32[5]):
        assert y32.dtype == jnp.float32
        # float32 rounding over 9 steps of O(1) values -> 1e-5.
        np.testing.assert_allclose(np.asarray(y32), ref, atol=1e-5, rtol=1e-5)


def test_selective_scan_shape_errors():
    u = jnp.ones((4, 4))
    A = -jnp.ones((4, 2))
    with pytest.raises(ValueError, match="ambiguous"):
        selective_scan(u, u, A, jnp.ones((4, 2)), jnp.ones((4, 2)))
    with pytest.raises(ValueError, match="delta"):
        selective_scan(
            u,
            jnp.ones((3, 4)),
            A,
            jnp.ones((4, 2)),
            jnp.ones((4, 2)),
            selective_B=True,
            selective_C=True,
        )


def test_selective_scan_sequential_does_not_materialise_LDN():
    """The sequential path's compiled program holds no (L, d, n) buffer."""
    L, d, n = 512, 8, 16
    u = jnp.ones((L, d), jnp.float32)
    A = -jnp.ones((d, n), jnp.float32)
    Bm = jnp.ones((L, n), jnp.float32)

    def f(u, A, B):
        return selective_scan(u, u, A, B, B, method="sequential")

    hlo = jax.jit(f).lower(u, A, Bm).as_text()
    assert f"{L}x{d}x{n}" not in hlo and f"[{L},{d},{n}]" not in hlo
    # ... nor does its backward pass (the chunk-recomputing VJP), unlike plain autodiff would
    hlo_grad = jax.jit(jax.grad(lambda u, A, B: f(u, A, B).sum(), (0, 1, 2))).lower(u, A, Bm)
    hlo_grad = hlo_grad.as_text()
    assert f"{L}x{d}x{n}" not in hlo_grad and f"[{L},{d},{n}]" not in hlo_grad
    hlo_assoc = (
        jax.jit(lambda u, A, B: selective_scan(u, u, A, B, B, method="associative"))
        .lower(u, A, Bm)
        .as_text()
    )
    assert f"{L}x{d}x{n}" in hlo_assoc  # the check can fail: the parallel path does materialise


def _jnp_loop_selective(u, delta, A, B, C, D, z, bias, h0, selB, selC):
    """The reference semantics, one time step per ``lax.scan`` step (no chunking, no custom
    VJP): differentiable by plain autodiff."""
    dt = jax.nn.softplus(delta + bias)
    Bs = B if selB else jnp.broadcast_to(B[None], (u.shape[0],) + B.shape)
    Cs = C if selC else jnp.broadcast_to(C[None], (u.shape[0],) + C.shape)

    def step(x, inp):
        dt_t, u_t, B_t, C_t = inp
        x = jnp.exp(dt_t[:, None] * A) * x + (dt_t * u_t)[:, None] * B_t
        y = jnp.sum(x * C_t, -1)
        return x, (2 * y.real if jnp.iscomplexobj(x) else y)

    x, y = jax.lax.scan(step, h0, (dt, u, Bs, Cs))
    return (y + u * D) * jax.nn.silu(z), x


@pytest.mark.parametrize(
    "selB,selC,cplx",
    [(True, True, False), (False, True, False), (True, False, False), (False, False, False)]
    + [(True, True, True), (False, False, True)],  # complex A: jax.checkpoint + autodiff
)
def test_selective_scan_gradients_match_loop(selB, selC, cplx):
    """Reverse mode of every method (the sequential path has a hand-written, chunk-recomputing
    VJP for real A) equals autodiff through the Python-loop reference. L = 13 with chunk 4 makes
    the last chunk padded. float64: only rounding separates them (1e-10)."""
    rng = np.random.default_rng(3)
    L, d, n = 13, 3, 4
    u, delta, z = (rng.normal(size=(L, d)) for _ in range(3))
    A = -rng.uniform(0.1, 2, (d, n)) + (1j * rng.normal(size=(d, n)) if cplx else 0)
    B = _rand(rng, (L, n) if selB else (d, n), cplx)
    C = _rand(rng, (L, n) if selC else (d, n), cplx)
    D, bias = rng.normal(size=d), rng.normal(size=d)
    h0 = _rand(rng, (d, n), cplx)
    wy, wx = rng.normal(size=(L, d)), _rand(rng, (d, n), cplx)
    args = tuple(jnp.asarray(v) for v in (u, delta, A, B, C, D, z, bias, h0))

    def all_methods(*a):
        outs = [_jnp_loop_selective(*a, selB, selC)]
        for m in ("sequential", "associative", "chunked"):
            outs.append(
                selective_scan(
                    *a[:8],
                    method=m,
                    selective_B=selB,
                    selective_C=selC,
                    h0=a[8],
                    return_state=True,
                    chunk_size=4,
                )
            )
        return outs

    def loss(*a):
        return [jnp.sum(y * wy) + jnp.sum((x * wx).real) for y, x in all_methods(*a)]

    ref, *got = jax.jit(jax.jacrev(loss, argnums=tuple(range(9))))(*args)
    for m, grads in zip(("sequential", "associative", "chunked"), got):
        for name, g, r in zip("u delta A B C D z bias h0".split(), grads, ref):
            np.testing.assert_allclose(g, r, atol=1e-10, rtol=1e-10, err_msg=f"{m}: d{name}")
