"""Tests of ssmbench.train.fit (the jitted scan over steps) against a plain Python loop of optax
updates, the obviously correct form of the same training."""

from __future__ import annotations

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from ssmbench.train import fit


class _Line(eqx.Module):
    """y = w x + b, with a non-trainable integer leaf that fit must leave alone."""

    w: jax.Array
    b: jax.Array
    tag: jax.Array

    def __call__(self, x):
        return self.w * x + self.b


def _data():
    x = jnp.linspace(-1.0, 1.0, 32)
    return x, 3.0 * x - 0.5


def _loss(m, _):
    x, y = _data()
    return jnp.mean((m(x) - y) ** 2)


def _model():
    return _Line(jnp.asarray(0.1), jnp.asarray(0.0), jnp.asarray(7))


def _python_loop(loss, model, opt, xs):
    """The same training written out: value_and_grad, update, apply, one step at a time."""
    params, static = eqx.partition(model, eqx.is_inexact_array)
    state = opt.init(params)
    losses = []
    for x in xs:
        value, g = jax.value_and_grad(lambda p, x=x: loss(eqx.combine(p, static), x))(params)
        with jax.numpy_dtype_promotion("standard"):  # optax's bias correction: float ** int32
            upd, state = opt.update(g, state, params)
        params = optax.apply_updates(params, upd)
        losses.append(value)
    return eqx.combine(params, static), jnp.stack(losses)


def test_fit_matches_the_python_loop_and_converges():
    opt = optax.adam(optax.cosine_decay_schedule(0.1, 300))
    res = jax.jit(lambda m: fit(_loss, m, opt, steps=300))(_model())
    ref, ref_losses = _python_loop(_loss, _model(), opt, [None] * 300)
    # same operations in the same order; XLA fuses the scan body differently from op-by-op
    # dispatch, so float64 results may differ by a few ulps (2e-16) per step, which 300 Adam
    # steps amplify to ~1e-11 relative; the absolute floor covers losses near 0 (1e-8 here)
    np.testing.assert_allclose(res.losses, ref_losses, rtol=1e-9, atol=1e-13)
    np.testing.assert_allclose([res.params.w, res.params.b], [ref.w, ref.b], rtol=1e-9)
    np.testing.assert_allclose([res.params.w, res.params.b], [3.0, -0.5], atol=1e-3)
    assert int(res.params.tag) == 7 and res.losses.shape == (300,)


def test_fit_scans_per_step_inputs_and_returns_aux():
    keys = jax.random.split(jax.random.PRNGKey(0), 50)

    def loss(m, k):
        x = jax.random.normal(k, (16,))
        value = jnp.mean((m(x) - (3.0 * x - 0.5)) ** 2)
        return value, {"first": x[0]}

    res = fit(loss, _model(), optax.sgd(0.1), xs=keys, has_aux=True)
    ref, ref_losses = _python_loop(lambda m, k: loss(m, k)[0], _model(), optax.sgd(0.1), keys)
    np.testing.assert_allclose(res.losses, ref_losses, rtol=1e-9, atol=1e-13)
    np.testing.assert_allclose(res.params.w, ref.w, rtol=1e-9)
    expected_first = jnp.stack([jax.random.normal(k, (16,))[0] for k in keys])
    np.testing.assert_array_equal(res.aux["first"], expected_first)


def test_fit_vmaps_over_learning_rates_and_filters_leaves():
    def one(lr):
        return fit(_loss, _model(), optax.sgd(lr), steps=20).losses[-1]

    lrs = jnp.asarray([0.0, 0.01, 0.1])
    last = jax.vmap(one)(lrs)
    for lr, v in zip(lrs, last):
        np.testing.assert_allclose(v, one(lr), rtol=1e-12)
    assert last[0] == pytest.approx(float(_loss(_model(), None)))  # lr 0 changes nothing
    # a filter that trains only w leaves b where it was
    spec = eqx.tree_at(lambda m: (m.w, m.b, m.tag), _model(), (True, False, False))
    res = fit(_loss, _model(), optax.sgd(0.1), steps=20, filter_spec=spec)
    assert float(res.params.b) == 0.0 and float(res.params.w) != 0.1


def test_fit_needs_steps_or_xs():
    with pytest.raises(ValueError, match="steps"):
        fit(_loss, _model(), optax.sgd(0.1))
