"""Learning sanity (slow): every zoo layer against the delay task (lag 16, length 64).

Criterion: test MSE below half of the zero predictor's (``ratio < 0.5``) under the protocol of
``suites/zoo-learning.toml`` at seed 0: 2000 Adam steps for every layer (no CPU-time budget), peak
lr 1e-2, warmup 100 steps + cosine to 0, clipping at global norm 1. Layers that fail for a
documented reason are strict xfails: see docs/models.md, "Learning sanity: measured findings",
and results/zoo-learning/. Also a fast test of the task generator itself.
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from experiments.zoo import delay_learning
from ssmbench.models import LAYERS
from ssmbench.tasks.delay import delay_task

_DOC = "docs/models.md, 'Learning sanity: measured findings'"
#: The protocol of suites/zoo-learning.toml (equal step budgets for every layer).
PROTOCOL = dict(
    lag=16,
    length=64,
    d_model=32,
    depth=2,
    batch=32,
    steps=2000,
    lr=1e-2,
    schedule="warmup_cosine",
    warmup_steps=100,
    grad_clip=1.0,
    time_budget_s=None,
)
#: Layers that fail the criterion at this budget (measured, results/zoo-learning/layers, seeds
#: 0-2). strict=True turns an unexpected pass into a failure; raises=AssertionError keeps crashes
#: and divergence (pytest.fail) as failures.
KNOWN_FAILURES = {
    "s4d-real": (
        "real S4D: ratio 0.846-0.861 after 2000 steps (seeds 0-2), still falling by about 0.01 "
        "per 500 steps; its complex twin s4d reaches 1e-4 by the same protocol; " + _DOC
    ),
    "lcde": (
        "diagonal LinearCDE (real, input-dependent poles): ratio 0.877-0.935 after 2000 steps "
        "(seeds 0-2); " + _DOC
    ),
}
#: Real-A Mamba is tested on its own (test_real_A_mamba_learns_slowly): its measured ratio at
#: 2000 steps straddles the criterion over seeds (0.427-0.521), so neither a pass nor an xfail
#: at 0.5 would be a stable statement.
SEPARATE = {"mamba"}


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
    assert set(KNOWN_FAILURES) | SEPARATE <= set(LAYERS)
    assert not set(KNOWN_FAILURES) & SEPARATE


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
        for m in sorted(set(LAYERS) - SEPARATE)
    ],
)
def test_learns_delay(model):
    _check(delay_learning(seed=0, model=model, **PROTOCOL))


@pytest.mark.slow
def test_real_A_mamba_learns_slowly():
    """Real-A Mamba is slower, not unable: a regression guard, not a claim check.

    Measured (results/zoo-learning/mamba, seed 0): ratio 0.754 at step 500, 0.618 at 1000, 0.498
    at 2000; over seeds 0-2 the final ratio is 0.427-0.521, so the suite's check (mean < 0.5) is
    judged there with its interval. This test asserts what holds with a margin on every seed: the
    curve falls over the second half and the final ratio is below 0.6, far under the plateau of
    the other real-pole layers (s4d-real 0.85, lcde 0.90). The 0.6 was set from that run.
    """
    rows = delay_learning(seed=0, model="mamba", curve_every=1000, **PROTOCOL)
    final = {r["metric"]: r["value"] for r in rows if "step" not in r}
    curve = {r["step"]: r["value"] for r in rows if r["metric"] == "curve_ratio"}
    if not np.isfinite(final["mse"]):
        pytest.fail(f"diverged: {final}")
    assert curve[2000] < curve[1000], curve
    assert final["ratio"] < 0.6, final


@pytest.mark.slow
def test_learns_delay_mamba_complex_A():
    """Positive control for real-A Mamba: the same block with complex A learns the delay under the
    same protocol (measured: ratio 1e-4 at 2000 steps and 0.003 at step 500, seeds 0-2)."""
    _check(delay_learning(seed=0, model="mamba", complex_A=True, **PROTOCOL))
