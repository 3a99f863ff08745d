"""Learning sanity (slow): every zoo layer learns the delay task (lag 16, length 64).

Criterion: test MSE below half of the zero predictor's, within about a CPU minute of training.
Also a fast test of the task generator itself.
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from ssmbench.models import LAYERS
from ssmbench.tasks.delay import delay_learning, delay_task


def test_delay_task_targets():
    x, y = delay_task(jax.random.PRNGKey(0), 3, 20, 5)
    assert x.shape == y.shape == (3, 20, 1) and x.dtype == jnp.float32
    np.testing.assert_array_equal(np.asarray(y[:, :5]), 0)
    np.testing.assert_array_equal(np.asarray(y[:, 5:]), np.asarray(x[:, :15]))
    with pytest.raises(ValueError, match="lag"):
        delay_task(jax.random.PRNGKey(0), 1, 4, 4)


@pytest.mark.slow
@pytest.mark.parametrize("model", sorted(LAYERS))
def test_learns_delay(model):
    r = delay_learning(seed=0, model=model, lag=16, length=64, steps=1500, time_budget_s=60.0)
    assert np.isfinite(r["mse"])
    assert r["ratio"] < 0.5, r
