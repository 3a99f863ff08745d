"""Tests of ssmbench/tasks/impulse.py: the impulse-response targets (definitions by formula)."""

import numpy as np
import pytest

from ssmbench.tasks.impulse import TARGETS, make_target


@pytest.mark.parametrize("name", TARGETS)
@pytest.mark.parametrize("t", [8, 13, 64])
def test_targets_unit_norm_and_shape(name, t):
    phi = make_target(name, t, target_seed=3, omega=0.7)
    assert phi.shape == (t,) and phi.dtype == np.float64
    np.testing.assert_allclose(np.linalg.norm(phi), 1.0, rtol=1e-14)


def test_target_definitions():
    t = 11
    delay = make_target("delay", t)
    assert np.argmax(delay) == (t - 1) // 2 and np.count_nonzero(delay) == 1
    osc = make_target("oscillation", t)
    ref = np.array([(1j**k).real for k in range(t)])
    np.testing.assert_allclose(osc, ref / np.linalg.norm(ref), atol=1e-15)
    freq = make_target("oscillation-freq", t, omega=0.3)
    ref = np.cos(0.3 * np.arange(t))
    np.testing.assert_allclose(freq, ref / np.linalg.norm(ref), rtol=1e-14)
    a = make_target("random", t, target_seed=1)
    np.testing.assert_array_equal(a, make_target("random", t, target_seed=1))
    assert not np.allclose(a, make_target("random", t, target_seed=2))


def test_target_bad_arguments():
    with pytest.raises(ValueError, match="target must be one of"):
        make_target("sawtooth", 8)
    with pytest.raises(ValueError, match="t must be"):
        make_target("delay", 1)
