"""Oracle tests for ssmbench.scan.linear against a plain Python loop (numpy, float64/complex128)."""

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ssmbench.scan import linear_recurrence
from ssmbench.scan.reference import linear_recurrence_loop

METHODS = ["sequential", "associative", "chunked", "auto"]


@functools.partial(jax.jit, static_argnames=("reverse", "chunk"))
def _all_methods(a, b, h0, reverse, chunk):
    # One compilation per shape for all methods keeps the hypothesis test fast.
    return [
        linear_recurrence(a, b, h0, method=m, reverse=reverse, chunk_size=chunk) for m in METHODS
    ]


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
    ref = linear_recurrence_loop(a, b, h0, reverse)
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
    """An ``a`` without a time axis, or with a time axis of 1, and of lower rank than ``b``, is
    broadcast explicitly (the tests run with ``jax_numpy_rank_promotion="raise"``)."""
    rng = np.random.default_rng(0)
    a = rng.uniform(-1, 1, (4,))  # no time axis, broadcasts over (T, 3, 4)
    b = rng.normal(size=(11, 3, 4))
    h0 = rng.normal(size=(4,))  # broadcasts to (3, 4)
    ref = linear_recurrence_loop(np.broadcast_to(a, b.shape), b)
    out = linear_recurrence(a, b, method=method, chunk_size=4)
    np.testing.assert_allclose(np.asarray(out), ref, atol=1e-12)
    out = linear_recurrence(a[None], b, method=method, chunk_size=4)
    np.testing.assert_allclose(np.asarray(out), ref, atol=1e-12)
    for reverse in (False, True):
        ref = linear_recurrence_loop(a, b, np.broadcast_to(h0, (3, 4)), reverse)
        out = linear_recurrence(a, b, h0, method=method, reverse=reverse, chunk_size=4)
        np.testing.assert_allclose(np.asarray(out), ref, atol=1e-12)
    out = linear_recurrence(a, b[:1], h0, method=method)  # T = 1
    np.testing.assert_allclose(np.asarray(out), linear_recurrence_loop(a, b[:1], h0), atol=1e-12)


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
