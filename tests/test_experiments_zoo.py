"""Learning sanity (slow): every zoo layer against the delay task (lag 16, length 64).

Criterion: test MSE below half of the zero predictor's (``ratio < 0.5``), within a budget of
60 s of process CPU time (one core), Adam at lr 3e-3 for every layer. Layers that fail for a
documented reason are strict xfails: see docs/models.md, "Learning sanity: measured findings".
Also a fast test of the task generator itself.
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from experiments.zoo import delay_learning
from ssmbench.models import LAYERS
from ssmbench.tasks.delay import delay_task

_DOC = "docs/models.md, 'Learning sanity: measured findings'"
_REAL = (
    "a real diagonal recurrence (positive real poles) approximates a sharp 16-step delay of "
    "white noise only with exponentially large coefficients (Ran-Milo et al. 2024)"
)
#: Layers that fail the criterion for a documented reason. strict=True turns an unexpected pass
#: into a failure; raises=AssertionError keeps crashes and divergence (pytest.fail) as failures.
KNOWN_FAILURES = {
    "s4d-real": f"real S4D: {_REAL}; the complex S4D passes; {_DOC}",
    "mamba": (
        f"real-A Mamba: {_REAL}, and selectivity cannot locate a delay in white noise (it sees "
        f"content, not position); only ~257 steps fit the CPU budget; with complex_A=True "
        f"the same block passes at lr 1e-2; {_DOC}"
    ),
    "lcde": f"diagonal LinearCDE: real input-dependent poles exp(Σ a_i Δω^i) > 0; {_REAL}; {_DOC}",
}


def _check(r):
    if not np.isfinite(r["mse"]):
        pytest.fail(f"diverged: {r}")  # not an AssertionError: never absorbed by an xfail
    assert r["ratio"] < 0.5, r


def test_delay_task_targets():
    x, y = delay_task(jax.random.PRNGKey(0), 3, 20, 5)
    assert x.shape == y.shape == (3, 20, 1) and x.dtype == jnp.float32
    np.testing.assert_array_equal(np.asarray(y[:, :5]), 0)
    np.testing.assert_array_equal(np.asarray(y[:, 5:]), np.asarray(x[:, :15]))
    with pytest.raises(ValueError, match="lag"):
        delay_task(jax.random.PRNGKey(0), 1, 4, 4)


def test_known_failures_are_layers():
    assert set(KNOWN_FAILURES) <= set(LAYERS)


@pytest.mark.slow
@pytest.mark.parametrize(
    "model",
    [
        pytest.param(
            m,
            marks=pytest.mark.xfail(strict=True, raises=AssertionError, reason=KNOWN_FAILURES[m]),
        )
        if m in KNOWN_FAILURES
        else m
        for m in sorted(LAYERS)
    ],
)
def test_learns_delay(model):
    _check(delay_learning(seed=0, model=model, lag=16, length=64, steps=1500, time_budget_s=60.0))


@pytest.mark.slow
def test_learns_delay_mamba_complex_A():
    """Positive control for the real-A Mamba xfail: the same block with complex A learns.

    Paired at lr 1e-2, the grid point where real-A Mamba does best (0.84, still failing);
    at lr 3e-3 complex A is still at 0.72 when the budget ends (136 steps). See the docs.
    """
    _check(
        delay_learning(
            seed=0,
            model="mamba",
            lag=16,
            length=64,
            steps=1500,
            lr=1e-2,
            time_budget_s=60.0,
            layer_kwargs={"complex_A": True},
        )
    )
