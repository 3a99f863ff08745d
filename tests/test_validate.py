"""Early, named input errors of the public scans and models (ssmbench._validate).

Each case was reproduced first: integer ``u`` gave truncated int32 output from
``selective_scan``, a wrong ``h0`` shape gave JAX's generic broadcast error, ``Mamba(0)`` raised
ZeroDivisionError, ``d_state=-1`` an MLIRError, S4D's conv mode failed inside ``jnp.fft`` on
float16, and a Python list raised AttributeError.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from ssmbench.models import LAYERS, S4D, Mamba, build
from ssmbench.scan import linear_recurrence, selective_scan

KEY = jax.random.PRNGKey(0)


def _selective_args(L=6, d=3, n=2, dtype=jnp.float32):
    k = jax.random.split(KEY, 4)
    return (
        jax.random.normal(k[0], (L, d), dtype),
        jax.random.normal(k[1], (L, d), dtype),
        -jnp.exp(jax.random.normal(k[2], (d, n), dtype)),
        jax.random.normal(k[3], (L, n), dtype),
        jax.random.normal(k[3], (L, n), dtype),
    )


def test_selective_scan_refuses_integer_input_by_name():
    u, delta, A, B, C = _selective_args()
    with pytest.raises(TypeError, match=r"^u must have a floating dtype .* got int32"):
        selective_scan(jnp.arange(18, dtype=jnp.int32).reshape(6, 3), delta, A, B, C)
    with pytest.raises(TypeError, match="^delta must have a floating dtype"):
        selective_scan(u, delta.astype(jnp.int32), A, B, C)


def test_selective_scan_h0_shape_is_named():
    u, delta, A, B, C = _selective_args()
    with pytest.raises(ValueError, match=r"^h0 must have shape \(3, 2\), got \(2, 3\)"):
        selective_scan(u, delta, A, B, C, h0=jnp.zeros((2, 3), jnp.float32))


def test_linear_recurrence_checks_dtypes_and_h0():
    a = jnp.full((5, 4), 0.5, jnp.float32)
    with pytest.raises(TypeError, match="^b must have a floating dtype"):
        linear_recurrence(a, jnp.ones((5, 4), jnp.int32))
    with pytest.raises(ValueError, match=r"^h0 \(shape \(3,\)\) must broadcast"):
        linear_recurrence(a, jnp.ones((5, 4), jnp.float32), jnp.zeros((3,), jnp.float32))
    with pytest.raises(TypeError, match=r"^a must be a jax or numpy array, got list"):
        linear_recurrence([0.5] * 5, jnp.ones((5,), jnp.float32))
    # numpy arrays are arrays
    h = linear_recurrence(np.full((5,), 0.5, np.float32), np.ones((5,), np.float32))
    assert h.shape == (5,)


@pytest.mark.parametrize(
    "make,match",
    [
        (lambda: Mamba(0, key=KEY), "^d_model must be a positive integer, got 0"),
        (lambda: Mamba(8, d_state=-1, key=KEY), "^d_state must be a positive integer, got -1"),
        (lambda: S4D(8, 0, key=KEY), "^d_state must be a positive integer, got 0"),
        (lambda: S4D(8.5, key=KEY), "^d_model must be a positive integer, got 8.5"),
    ],
)
def test_non_positive_sizes_are_named(make, match):
    with pytest.raises(ValueError, match=match):
        make()


@pytest.mark.parametrize("name", sorted(LAYERS))
def test_every_layer_refuses_lists_and_integers_by_name(name):
    layer = build(name, 4, key=KEY)
    with pytest.raises(TypeError, match=r"must be a jax or numpy array, got list"):
        layer([[0.0] * 4] * 3)
    with pytest.raises(TypeError, match=r"must have a floating dtype .* got int32"):
        layer(jnp.ones((3, 4), jnp.int32))


def test_s4d_conv_on_float16_upcasts_the_fft_and_returns_float16():
    """The documented rule: half-precision inputs are convolved in float32 and cast back."""
    layer = S4D(4, 8, mode="conv", key=KEY)
    x = jax.random.normal(KEY, (16, 4), jnp.float32)
    y16 = layer(x.astype(jnp.float16))
    assert y16.dtype == jnp.float16
    y32 = layer(x)
    # float16 keeps about 3 decimal digits: compare at float16's resolution of O(1) values
    np.testing.assert_allclose(np.asarray(y16, np.float32), np.asarray(y32), atol=5e-2)
