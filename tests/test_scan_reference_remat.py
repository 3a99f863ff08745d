"""The reference variants of the selective scan (ssmbench.scan.reference): the plain per-step scan
and its chunk-checkpointed (remat) form have the library's values and gradients, and remat lowers
the backward pass's memory."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from ssmbench import timing
from ssmbench.scan import selective_scan
from ssmbench.scan.reference import selective_scan_plain, selective_scan_remat

# ------------------------------------------------------------------------------------ remat


def _sel_inputs(L=50, d=3, n=4, dtype=jnp.float64):
    ks = jax.random.split(jax.random.PRNGKey(1), 6)
    u = jax.random.normal(ks[0], (L, d), dtype)
    delta = jax.random.normal(ks[1], (L, d), dtype)
    A = -jnp.exp(jax.random.normal(ks[2], (d, n), dtype))
    B = jax.random.normal(ks[3], (L, n), dtype)
    C = jax.random.normal(ks[4], (L, n), dtype)
    z = jax.random.normal(ks[5], (L, d), dtype)
    return u, delta, A, B, C, jnp.ones(d, dtype), z, 0.1 * jnp.ones(d, dtype)


@pytest.mark.parametrize("chunk", [7, 64])
def test_variants_match_library_values_and_gradients(chunk):
    args = _sel_inputs()  # L = 50: chunk 7 needs padding (8 chunks), 64 > L (one chunk)

    def loss(f):
        return lambda *a: jnp.sum(jnp.sin(f(*a)))

    lib = lambda *a: selective_scan(*a, method="sequential", chunk_size=chunk)  # noqa: E731
    plain = selective_scan_plain
    remat = lambda *a: selective_scan_remat(*a, chunk=chunk)  # noqa: E731
    g0 = jax.grad(loss(lib), argnums=tuple(range(8)))(*args)
    for f in (plain, remat):
        np.testing.assert_allclose(f(*args), lib(*args), rtol=1e-12, atol=1e-12)
        g = jax.grad(loss(f), argnums=tuple(range(8)))(*args)
        for a, b in zip(g, g0):  # float64: only summation order differs
            np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-10)


def test_remat_lowers_backward_memory():
    # Deterministic property of the compiled programs (XLA buffer assignment), not a timing.
    L, d, n = 256, 8, 16
    args = tuple(a.astype(jnp.float32) for a in _sel_inputs(L, d, n))

    def grad_of(f):
        return jax.grad(lambda *a: jnp.sum(f(*a) ** 2), argnums=(0, 1, 2, 3, 4))

    plain = timing.compile_fn(grad_of(selective_scan_plain), *args)
    remat = timing.compile_fn(grad_of(lambda *a: selective_scan_remat(*a, chunk=32)), *args)
    lib = timing.compile_fn(grad_of(lambda *a: selective_scan(*a, method="sequential")), *args)
    # plain reverse mode keeps the (L, d, n) states: at least L*d*n*4 bytes of temporaries
    assert plain.xla_temp_bytes >= L * d * n * 4
    assert remat.xla_temp_bytes < plain.xla_temp_bytes / 2
    assert lib.xla_temp_bytes < plain.xla_temp_bytes / 2


def test_remat_rejects_bad_shapes():
    u, delta, A, B, C, D, z, bias = _sel_inputs()
    with pytest.raises(ValueError, match="B, C"):
        selective_scan_remat(u, delta, A, A, C)
    with pytest.raises(ValueError, match="B, C"):
        selective_scan_plain(u, delta, A, A, C)
    with pytest.raises(ValueError, match="chunk"):
        selective_scan_remat(u, delta, A, B, C, chunk=0)
