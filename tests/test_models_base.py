"""The sequence-layer protocol (ssmbench.models._base.AbstractSequenceLayer), checked for every
zoo layer: construction, jit, vmap, grad, dtype, causality, long inputs."""

import typing

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from ssmbench.models import LAYERS, AbstractSequenceLayer, build

KEY = jax.random.PRNGKey(0)
D = 2
SMALL = {
    "s4": dict(d_state=4),
    "s4d": dict(d_state=4),
    "s4d-real": dict(d_state=4),
    "lru": dict(d_state=4),
    "mamba": dict(d_state=4),
    "ssm2d": dict(d_state=2),
    "lcde": dict(hidden=4),
}


def test_protocol_is_abstract():
    with pytest.raises(TypeError, match="abstract"):
        AbstractSequenceLayer()


@pytest.mark.parametrize("name", sorted(LAYERS))
def test_layer_follows_the_protocol(name):
    layer = build(name, D, key=KEY, **SMALL[name])
    assert isinstance(layer, AbstractSequenceLayer)
    assert layer.d_model == D
    assert getattr(type(layer), "__final__", False)  # final: never subclassed


@pytest.mark.parametrize("name", sorted(LAYERS))
def test_layer_jit_vmap_grad_dtype_causal(name):
    layer = build(name, D, key=KEY, **SMALL[name])
    L, t0 = 12, 7
    xb = jax.random.normal(jax.random.PRNGKey(1), (3, L, D))

    @eqx.filter_jit
    def run(layer, xb):
        # one compilation for every property below (eager calls would compile op by op)
        y = jax.vmap(layer)(xb)
        g = eqx.filter_grad(lambda m: jnp.sum(jax.vmap(m)(xb) ** 2))(layer)
        y_one = layer(xb[1])
        y_pert = layer(xb[0].at[t0:].add(1.0))
        y32 = layer(xb[0].astype(jnp.float32))
        return y, g, y_one, y_pert, y32

    y, g, y_one, y2, y32 = run(layer, xb)
    assert y.shape == (3, L, D) and y.dtype == jnp.float64
    leaves = [x for x in jax.tree_util.tree_leaves(eqx.filter(g, eqx.is_inexact_array))]
    assert leaves and all(bool(jnp.isfinite(x).all()) for x in leaves)
    assert sum(float(jnp.abs(x).sum()) for x in leaves) > 0
    # vmap equals the unbatched call
    np.testing.assert_allclose(np.asarray(y[1]), np.asarray(y_one), atol=1e-10)
    # causality: changing x from t0 on leaves outputs before t0 unchanged
    np.testing.assert_allclose(np.asarray(y2[:t0]), np.asarray(y[0, :t0]), atol=1e-10)
    assert float(jnp.abs(y2[t0:] - y[0, t0:]).max()) > 1e-6
    # float32 in -> float32 out, close to the float64 result (single-precision rounding)
    assert y32.dtype == jnp.float32
    np.testing.assert_allclose(np.asarray(y32), np.asarray(y[0]), atol=1e-4, rtol=1e-4)


@pytest.mark.parametrize("name", sorted(LAYERS))
def test_layer_long_sequence_float32_finite(name):
    layer = build(name, D, key=KEY, **SMALL[name])
    x = jax.random.normal(jax.random.PRNGKey(2), (16384, D), jnp.float32)
    if name == "lcde":
        # A dense linear CDE grows like exp(total variation of the control): white noise of
        # length 16384 has variation ~1e4 and overflows in any precision. Feed it a path of
        # O(1) variation, as in the paper (random walk normalized by its maximum).
        x = jnp.cumsum(x, 0)
        x = x / jnp.abs(x).max()
    y = eqx.filter_jit(lambda m, x: m(x))(layer, x)
    assert y.dtype == jnp.float32 and bool(jnp.isfinite(y).all())


def test_final_marker_is_typing_final():
    # the marker checked above is the one ``typing.final`` sets
    @typing.final
    class _Probe:
        pass

    assert _Probe.__final__
