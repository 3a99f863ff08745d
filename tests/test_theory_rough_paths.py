"""Tests of theory/rough_paths: the R² metric, the ridge readout, end-to-end training and the
model families (the paths and signature targets are tested in tests/test_tasks_signatures.py)."""

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from ssmbench.tasks.signatures import random_walk_paths, signature_targets
from theory import rough_paths as rp

# ------------------------------------------------------------------ metric and ridge


def test_r2_score_against_definition():
    rng = np.random.default_rng(0)
    y = rng.normal(size=50)
    p = y + 0.3 * rng.normal(size=50)
    want = 1 - np.sum((y - p) ** 2) / np.sum((y - y.mean()) ** 2)
    assert rp.r2_score(y, p) == pytest.approx(want, rel=1e-12)
    assert rp.r2_score(y, y) == 1.0
    assert rp.r2_score(y, np.full_like(y, y.mean())) == pytest.approx(0.0, abs=1e-12)
    with pytest.raises(ValueError):
        rp.r2_score(y, p[:-1])


def test_ridge_recovers_linear_map_and_matches_lstsq():
    rng = np.random.default_rng(1)
    f = rng.normal(size=(300, 10)) * rng.uniform(0.1, 10, size=10)
    w = rng.normal(size=10)
    y = f @ w + 2.0
    ft = rng.normal(size=(100, 10))
    pred, lam = rp.ridge_fit_predict(f, y, ft, lambdas=[0.0])
    np.testing.assert_allclose(pred, ft @ w + 2.0, rtol=1e-8, atol=1e-8)
    # a fixed penalty against the closed form on standardised features (float64, well posed)
    z = (f - f.mean(0)) / f.std(0)
    lam_rel = 1e-1
    a = z.T @ z + lam_rel * np.trace(z.T @ z) / 10 * np.eye(10)
    wz = np.linalg.solve(a, z.T @ (y - y.mean()))
    want = ((ft - f.mean(0)) / f.std(0)) @ wz + y.mean()
    pred, _ = rp.ridge_fit_predict(f, y, ft, lambdas=[lam_rel], val_frac=0.1)
    np.testing.assert_allclose(pred, want, rtol=1e-9, atol=1e-9)
    # noisy: the chosen penalty comes from the grid, predictions still close to the truth
    yn = y + 0.1 * rng.normal(size=300)
    pred, lam = rp.ridge_fit_predict(f, yn, ft)
    assert lam in rp.DEFAULT_LAMBDAS
    assert rp.r2_score(ft @ w + 2.0, pred) > 0.99


def test_ridge_on_signature_features_vs_endpoint_features():
    """The readout harness separates what is linear in the signature from what is not.

    S^{12} is linear in the level-2 signature (R² = 1) but, for a path law symmetric under
    X -> -X, orthogonal to every linear functional of the path (R² ≈ 0).
    """
    key = jax.random.PRNGKey(2)
    x = random_walk_paths(key, 1500, 50, 2, dtype=jnp.float64)
    y = np.asarray(signature_targets(x, "12"))[:, 0]
    sig = np.asarray(signature_targets(x, ["1", "2", "11", "12", "21", "22"]))
    pred, _ = rp.ridge_fit_predict(sig[:1000], y[:1000], sig[1000:])
    assert rp.r2_score(y[1000:], pred) > 0.999999
    lin = np.asarray(x).reshape(1500, -1)  # the whole path: every linear functional
    pred, _ = rp.ridge_fit_predict(lin[:1000], y[:1000], lin[1000:])
    assert rp.r2_score(y[1000:], pred) < 0.05


# ------------------------------------------------------------------ end-to-end training


class _Lin(eqx.Module):
    w: jax.Array

    def __call__(self, x):
        return jnp.sum(self.w * x)


def test_train_e2e_fits_a_linear_target():
    key = jax.random.PRNGKey(3)
    x = jax.random.normal(key, (512, 8, 2))
    wt = jax.random.normal(jax.random.PRNGKey(4), (8, 2))
    y = jax.vmap(lambda p: 10.0 * jnp.sum(wt * p) + 5.0)(x)
    model = _Lin(jnp.zeros((8, 2)))
    trained, loss = rp.train_e2e(model, x, y, key=key, steps=400, lr=3e-2, batch=64)
    assert np.isfinite(loss)
    pred = jax.vmap(trained)(x)
    assert rp.r2_score(y, pred) > 0.999


@pytest.mark.parametrize("warmup", [0, 7])
def test_e2e_schedule_matches_the_closed_form(warmup):
    """train_e2e's schedule is TrainConfig's warmup+cosine (decay to 0) by step; warmup 0 keeps
    the plain cosine decay of the committed runs. float32 optax vs float64 closed form: rtol 1e-6."""
    from ssmbench.train import TrainConfig, learning_rate_at
    from theory.rough_paths.readouts import e2e_schedule

    steps, lr = 40, 1e-2
    sched = e2e_schedule(steps, lr, warmup)
    cfg = TrainConfig(steps=steps, learning_rate=lr, schedule="warmup_cosine", warmup_steps=warmup)
    got = np.array([float(sched(i)) for i in range(steps + 1)])
    want = np.array([learning_rate_at(cfg, i) for i in range(steps + 1)])
    np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-9)
    if warmup:
        assert got[0] == 0.0 and got[warmup] == pytest.approx(lr)


def test_train_e2e_rejects_bad_warmup():
    x, y = jnp.zeros((4, 8, 2)), jnp.zeros(4)
    with pytest.raises(ValueError, match="warmup_steps"):
        rp.train_e2e(
            _Lin(jnp.zeros((8, 2))), x, y, key=jax.random.PRNGKey(0), steps=5, warmup_steps=5
        )


def test_experiment_rejects_unknown_family_in_overrides():
    with pytest.raises(ValueError, match="family_widths"):
        rp.rough_paths(seed=0, family="lcde-diag", family_widths={"nope": [8]})


# ------------------------------------------------------------------ model families


@pytest.mark.parametrize("family", ["s4d", "lcde-t"])
def test_time_invariant_stacks_are_affine_in_the_path(family):
    """The theory's time-invariant case: at depth 1 the final-time features are an affine
    function of the input path (a convolution), so superposition holds exactly (float64)."""
    k1, k2, k3 = jax.random.split(jax.random.PRNGKey(6), 3)
    x1 = jax.random.normal(k1, (12, 2), dtype=jnp.float64)
    x2 = jax.random.normal(k2, (12, 2), dtype=jnp.float64)
    stack = rp.Stack(family, 2, 8, 1, key=k3)
    f = stack.features
    a, b = 0.7, -1.3
    lhs = f(a * x1 + b * x2)
    rhs = a * f(x1) + b * f(x2) + (1 - a - b) * f(jnp.zeros_like(x1))
    np.testing.assert_allclose(np.asarray(lhs), np.asarray(rhs), rtol=1e-9, atol=1e-9)


@pytest.mark.parametrize("family", ["lcde-diag", "lcde-dense"])
def test_selective_stacks_are_not_affine(family):
    k1, k2, k3 = jax.random.split(jax.random.PRNGKey(7), 3)
    x1 = jax.random.normal(k1, (12, 2), dtype=jnp.float64)
    x2 = jax.random.normal(k2, (12, 2), dtype=jnp.float64)
    f = rp.Stack(family, 2, 8, 1, key=k3).features
    a, b = 0.7, -1.3
    gap = f(a * x1 + b * x2) - (a * f(x1) + b * f(x2) + (1 - a - b) * f(jnp.zeros_like(x1)))
    assert float(jnp.max(jnp.abs(gap))) > 1e-3


@pytest.mark.slow
def test_experiment_rows_small():
    rows = rp.rough_paths(
        seed=0,
        family="lcde-diag",
        widths=[8],
        depths=[1],
        words=["12"],
        n_train=200,
        n_test=100,
        length=20,
    )
    r2 = [r for r in rows if r["metric"] == "r2"]
    assert len(r2) == 1 and r2[0]["class"] == "selective-diagonal" and r2[0]["largest"]
    assert np.isfinite(r2[0]["value"])
