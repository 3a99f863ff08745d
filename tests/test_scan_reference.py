"""The reference listings (ssmbench.scan.reference) agree with each other and with hand-worked
values: they are the oracles of the scan tests, so they are checked independently here."""

import jax.numpy as jnp
import numpy as np
import pytest

from ssmbench.scan.reference import (
    linear_recurrence_loop,
    selective_scan_loop,
    selective_scan_plain,
    selective_scan_stepwise,
)


def test_linear_recurrence_loop_by_hand():
    b = np.ones((3, 1))
    np.testing.assert_allclose(linear_recurrence_loop(0.5, b)[:, 0], [1.0, 1.5, 1.75])
    np.testing.assert_allclose(linear_recurrence_loop(0.5, b, reverse=True)[:, 0], [1.75, 1.5, 1])
    np.testing.assert_allclose(
        linear_recurrence_loop(0.5, b, np.array([4.0]))[:, 0], [3, 2.5, 2.25]
    )


def test_selective_scan_loop_by_hand():
    # d = n = 1, no softplus: x_t = exp(δ A) x_{t-1} + δ B u_t, y = C x
    u, delta = np.array([[1.0], [2.0]]), np.full((2, 1), np.log(2.0))
    A, B, C = -np.ones((1, 1)), np.ones((1, 1)), 2 * np.ones((1, 1))
    y, x = selective_scan_loop(
        u, delta, A, B, C, delta_softplus=False, selective_B=False, selective_C=False
    )
    x1 = np.log(2.0)
    x2 = 0.5 * x1 + np.log(2.0) * 2
    np.testing.assert_allclose(y[:, 0], [2 * x1, 2 * x2])
    np.testing.assert_allclose(x, [[x2]])


@pytest.mark.parametrize("cplx", [False, True])
@pytest.mark.parametrize("selB,selC", [(True, True), (False, True), (True, False), (False, False)])
def test_stepwise_equals_loop(selB, selC, cplx):
    rng = np.random.default_rng(4)
    L, d, n = 7, 3, 2

    def r(*shape, c=cplx):
        return rng.normal(size=shape) + (1j * rng.normal(size=shape) if c else 0)

    u, delta, z = (r(L, d, c=False) for _ in range(3))
    A = -rng.uniform(0.1, 2, (d, n)) + (1j * rng.normal(size=(d, n)) if cplx else 0)
    B, C = r(*((L, n) if selB else (d, n))), r(*((L, n) if selC else (d, n)))
    D, bias, h0 = r(d, c=False), r(d, c=False), r(d, n)
    kw = dict(selective_B=selB, selective_C=selC, h0=h0)
    ref, x_ref = selective_scan_loop(u, delta, A, B, C, D, z, bias, **kw)
    args = [jnp.asarray(v) for v in (u, delta, A, B, C, D, z, bias)]
    y, x = selective_scan_stepwise(*args, return_state=True, **kw)
    np.testing.assert_allclose(np.asarray(y), ref, atol=1e-12)
    np.testing.assert_allclose(np.asarray(x), x_ref if cplx else x_ref.real, atol=1e-12)


def test_plain_equals_loop():
    rng = np.random.default_rng(5)
    L, d, n = 9, 2, 3
    u, delta, z = (rng.normal(size=(L, d)) for _ in range(3))
    A = -rng.uniform(0.1, 2, (d, n))
    B, C = rng.normal(size=(L, n)), rng.normal(size=(L, n))
    D, bias = rng.normal(size=d), rng.normal(size=d)
    ref, _ = selective_scan_loop(u, delta, A, B, C, D, z, bias, selective_B=True, selective_C=True)
    y = selective_scan_plain(*(jnp.asarray(v) for v in (u, delta, A, B, C, D, z, bias)))
    np.testing.assert_allclose(np.asarray(y), ref, atol=1e-12)
