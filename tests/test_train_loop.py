"""Tests of the generic training loop (ssmbench.train): convergence against closed forms, the NaN
guard, early stopping, minibatching, the log, and time-to-target against a brute-force loop."""

from __future__ import annotations

import math

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ssmbench.train import TrainConfig, time_to_target, train


class Linear(eqx.Module):
    w: jax.Array
    b: jax.Array
    name: str = eqx.field(static=True, default="lin")


def _regression(seed=0, n=64, d=3):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, d))
    y = X @ np.array([1.0, -2.0, 0.5])[:d] + 0.3 + 0.1 * rng.standard_normal(n)
    return jnp.asarray(X), jnp.asarray(y)


def _mse_loss(p, key, batch):
    X, y = batch
    r = X @ p.w + p.b - y
    return jnp.mean(r**2), {"bound": -jnp.mean(r**2), "batch": jnp.asarray(X.shape[0], float)}


def test_converges_to_least_squares():
    X, y = _regression()
    p0 = Linear(jnp.zeros(3), jnp.zeros(()))
    cfg = TrainConfig(steps=600, learning_rate=5e-2, eval_every=1000, patience=None)
    res = train(_mse_loss, p0, (X, y), key=jax.random.PRNGKey(0), config=cfg)
    # oracle: the closed-form least-squares solution (the loss is convex; Adam at lr 5e-2 for 600
    # steps gets within 1e-3 on this well-conditioned problem)
    Xa = np.concatenate([np.asarray(X), np.ones((X.shape[0], 1))], 1)
    sol = np.linalg.lstsq(Xa, np.asarray(y), rcond=None)[0]
    np.testing.assert_allclose(res.params.w, sol[:3], atol=1e-3)
    np.testing.assert_allclose(res.params.b, sol[3], atol=1e-3)
    assert res.params.name == "lin"  # static fields survive
    assert not res.diverged and res.steps_done == 600 and res.skipped_steps == 0
    assert res.compile_s > 0 and res.median_step_s > 0
    walls = [r["wall_s"] for r in res.log]
    assert all(b > a for a, b in zip(walls, walls[1:]))
    assert math.isclose(res.train_wall_s, walls[-1], rel_tol=1e-9)
    assert {"step", "loss", "wall_s", "step_s", "finite", "bound", "batch"} <= set(res.log[0])
    assert res.log[0]["batch"] == 64  # the whole batch in one step


def test_minibatch_inside_the_step():
    X, y = _regression(n=40)
    cfg = TrainConfig(steps=5, batch_size=8, eval_every=1000, patience=None)
    res = train(_mse_loss, Linear(jnp.zeros(3), jnp.zeros(())), (X, y), key=jax.random.PRNGKey(1), config=cfg)  # fmt: skip
    assert all(r["batch"] == 8 for r in res.log)
    with pytest.raises(ValueError, match="batch_size"):
        train(_mse_loss, Linear(jnp.zeros(3), jnp.zeros(())), (X, y), key=jax.random.PRNGKey(1),
              config=TrainConfig(steps=1, batch_size=41))  # fmt: skip


def test_compile_cache_reuses_the_program_and_changes_nothing():
    X, y = _regression(n=16)
    cfg = TrainConfig(steps=4, eval_every=1000, patience=None)
    p0 = Linear(jnp.zeros(3), jnp.zeros(()))
    ref = train(_mse_loss, p0, (X, y), key=jax.random.PRNGKey(3), config=cfg)
    key = ("test_compile_cache", object())  # unique to this test run
    first = train(_mse_loss, p0, (X, y), key=jax.random.PRNGKey(3), config=cfg, cache_key=key)
    again = train(_mse_loss, p0, (X, y), key=jax.random.PRNGKey(3), config=cfg, cache_key=key)
    assert not ref.compile_reused and not first.compile_reused and again.compile_reused
    assert again.compile_s == first.compile_s  # the first compile's cost is reported
    for r in (first, again):  # same numbers as the uncached run
        np.testing.assert_array_equal(r.params.w, ref.params.w)
        assert [e["loss"] for e in r.log] == [e["loss"] for e in ref.log]
    # a different static value, data shape or config is a different program
    other_static = Linear(jnp.zeros(3), jnp.zeros(()), name="other")
    assert not train(_mse_loss, other_static, (X, y), key=jax.random.PRNGKey(3), config=cfg,
                     cache_key=key).compile_reused  # fmt: skip
    assert not train(_mse_loss, p0, (X[:8], y[:8]), key=jax.random.PRNGKey(3), config=cfg,
                     cache_key=key).compile_reused  # fmt: skip
    cfg2 = TrainConfig(steps=4, eval_every=1000, patience=None, learning_rate=0.5)
    cfg3 = TrainConfig(steps=2, eval_every=1, patience=3)  # only the loop differs: same program
    assert train(_mse_loss, p0, (X, y), key=jax.random.PRNGKey(3), config=cfg3,
                 cache_key=key).compile_reused  # fmt: skip
    assert not train(_mse_loss, p0, (X, y), key=jax.random.PRNGKey(3), config=cfg2,
                     cache_key=key).compile_reused  # fmt: skip
    # the learning-rate schedule is part of the program (it was missing from the cache key)
    sched = dict(eval_every=1000, patience=None, schedule="warmup_cosine")
    cos_a = TrainConfig(steps=4, warmup_steps=1, **sched)
    cos_b = TrainConfig(steps=4, warmup_steps=2, **sched)
    cos_c = TrainConfig(steps=6, warmup_steps=2, **sched)
    runs = [train(_mse_loss, p0, (X, y), key=jax.random.PRNGKey(3), config=c, cache_key=key)
            for c in (cos_a, cos_b, cos_c)]  # fmt: skip
    assert not any(r.compile_reused for r in runs)
    ref_b = train(_mse_loss, p0, (X, y), key=jax.random.PRNGKey(3), config=cos_b)
    np.testing.assert_array_equal(runs[1].params.w, ref_b.params.w)


def test_training_stops_at_an_absolute_target_and_records_its_time():
    X, y = _regression()
    p0 = Linear(jnp.zeros(3), jnp.zeros(()))

    def val(p, key):
        return {"val": -jnp.mean((X @ p.w + p.b - y) ** 2)}

    base = dict(steps=400, learning_rate=5e-2, eval_every=10, patience=None)
    free = train(_mse_loss, p0, (X, y), key=jax.random.PRNGKey(0), config=TrainConfig(**base),
                 eval_fn=val)  # fmt: skip
    # oracle: the first evaluation of the untargeted run (same key, same steps) at or above -0.5
    first = next(e for e in free.evals if e["val"] >= -0.5)
    res = train(_mse_loss, p0, (X, y), key=jax.random.PRNGKey(0),
                config=TrainConfig(target=-0.5, **base), eval_fn=val)  # fmt: skip
    assert res.reached_target and res.target_step == first["step"]
    assert res.steps_done == first["step"] and res.stopped_early
    assert res.time_to_target_s == pytest.approx(res.log[first["step"] - 1]["wall_s"])
    # not reached within the cap: NaN time, no step, and the best value is still recorded
    miss = train(_mse_loss, p0, (X, y), key=jax.random.PRNGKey(0),
                 config=TrainConfig(target=1.0, **base), eval_fn=val)  # fmt: skip
    assert not miss.reached_target and math.isnan(miss.time_to_target_s)
    assert miss.steps_done == 400 and miss.best_val == pytest.approx(
        max(e["val"] for e in free.evals)
    )
    with pytest.raises(ValueError, match="target must be"):
        TrainConfig(target=math.nan)


def test_nan_guard_records_divergence_and_keeps_params():
    p0 = Linear(jnp.ones(3), jnp.zeros(()))

    def loss(p, key, batch):
        return jnp.sum(p.w) * jnp.nan, {}

    cfg = TrainConfig(steps=50, max_bad_steps=3, eval_every=1000, patience=None)
    res = train(loss, p0, jnp.zeros((4, 1)), key=jax.random.PRNGKey(0), config=cfg)
    assert res.diverged and res.diverged_step == 3 and res.steps_done == 3
    assert res.skipped_steps == 3
    # the guard skipped every update: the parameters are the initial ones, finite
    np.testing.assert_array_equal(res.final_params.w, p0.w)
    assert not any(r["finite"] for r in res.log)


def test_nan_guard_skips_intermittent_bad_steps_and_still_converges():
    X, y = _regression()

    def loss(p, key, batch):
        val, aux = _mse_loss(p, key, batch)
        bad = jax.random.uniform(key) < 0.2  # ~20% of steps produce an infinite gradient
        # multiplicative, so that the good steps' gradients stay finite (no where-NaN trap)
        return val * jnp.where(bad, jnp.inf, 1.0), aux

    cfg = TrainConfig(steps=600, learning_rate=5e-2, max_bad_steps=20, eval_every=1000, patience=None)  # fmt: skip
    res = train(loss, Linear(jnp.zeros(3), jnp.zeros(())), (X, y), key=jax.random.PRNGKey(3), config=cfg)  # fmt: skip
    assert not res.diverged
    assert 60 < res.skipped_steps < 200  # Binomial(600, 0.2): mean 120, sd ~10
    assert np.all(np.isfinite(res.params.w))
    Xa = np.concatenate([np.asarray(X), np.ones((X.shape[0], 1))], 1)
    sol = np.linalg.lstsq(Xa, np.asarray(y), rcond=None)[0]
    np.testing.assert_allclose(res.params.w, sol[:3], atol=1e-2)


def test_early_stopping_keeps_best_params():
    # the loss pushes w up forever; the validation score -(w - 1)^2 peaks at w = 1
    p0 = Linear(jnp.zeros(1), jnp.zeros(()))

    def loss(p, key, batch):
        return -jnp.sum(p.w), {}

    def eval_fn(p, key):
        return {"val": -float((p.w[0] - 1.0) ** 2), "w": float(p.w[0])}

    cfg = TrainConfig(steps=10_000, optimizer="sgd", learning_rate=0.01, grad_clip=None,
                      eval_every=5, patience=3)  # fmt: skip
    res = train(loss, p0, jnp.zeros((2, 1)), key=jax.random.PRNGKey(0), config=cfg, eval_fn=eval_fn)
    # plain SGD moves w by exactly 0.01 per step: w = 0.01 * step; best eval at step 100 (w = 1)
    assert res.stopped_early and res.best_step == 100
    assert res.steps_done == 115  # three more evaluations without improvement
    np.testing.assert_allclose(res.params.w, [1.0], atol=1e-9)
    np.testing.assert_allclose(res.final_params.w, [1.15], atol=1e-9)
    assert res.evals[0]["step"] == 0 and res.evals[-1]["step"] == 115
    assert all(e["eval_s"] >= 0 for e in res.evals)


def test_eval_fn_must_return_val():
    with pytest.raises(ValueError, match="'val'"):
        train(lambda p, k, b: (jnp.sum(p.w**2), {}), Linear(jnp.zeros(1), jnp.zeros(())),
              jnp.zeros((2, 1)), key=jax.random.PRNGKey(0),
              config=TrainConfig(steps=1), eval_fn=lambda p, k: {"x": 0.0})  # fmt: skip


def test_config_validation():
    with pytest.raises(ValueError, match="eval_every"):
        TrainConfig(eval_every=0)
    with pytest.raises(ValueError, match="optimizer"):
        train(lambda p, k, b: (jnp.sum(p.w), {}), Linear(jnp.zeros(1), jnp.zeros(())),
              jnp.zeros((2, 1)), key=jax.random.PRNGKey(0), config=TrainConfig(optimizer="lbfgs"))  # fmt: skip


def _ttt_bruteforce(curves, fraction):
    init = float(np.median([c[1][0] for c in curves.values()]))
    best = max(c[1][-1] for c in curves.values())
    target = init + fraction * (best - init)
    out = {}
    for m, (w, v) in curves.items():
        out[m] = math.nan
        for wi, vi in zip(w, v):
            if vi >= target:
                out[m] = float(wi)
                break
    return out, target


def test_time_to_target_example():
    curves = {"a": ([0, 1, 2, 3], [-10, -5, -2, -1]), "b": ([0, 2, 4], [-10, -1.2, -1.0]),
              "c": ([0, 5], [-10, -9])}  # fmt: skip
    times, target = time_to_target(curves)
    assert target == pytest.approx(-10 + 0.95 * 9)
    assert times["a"] == 3 and times["b"] == 2 and math.isnan(times["c"])


@settings(max_examples=25, deadline=None)
@given(
    st.dictionaries(
        st.sampled_from(["vae", "iwae", "fivo", "pvmc"]),
        st.lists(st.floats(-100, 0), min_size=1, max_size=8),
        min_size=1,
    ),
    st.floats(0.05, 1.0),
)
def test_time_to_target_matches_bruteforce(vals, fraction):
    curves = {m: (np.cumsum(np.ones(len(v))), np.asarray(v)) for m, v in vals.items()}
    got, target = time_to_target(curves, fraction=fraction)
    want, want_target = _ttt_bruteforce(curves, fraction)
    assert target == pytest.approx(want_target)
    for m in curves:
        assert (math.isnan(got[m]) and math.isnan(want[m])) or got[m] == want[m]


def test_warmup_cosine_schedule_matches_its_closed_form():
    """SGD on f(w) = w (gradient 1) moves w by exactly -lr_k at update k: the optax schedule in
    make_optimizer against the closed form learning_rate_at, step by step."""
    import jax
    import jax.numpy as jnp
    import optax

    from ssmbench.train import TrainConfig, learning_rate_at, make_optimizer

    cfg = TrainConfig(steps=20, learning_rate=0.1, optimizer="sgd", grad_clip=None,
                      schedule="warmup_cosine", warmup_steps=5, final_lr_fraction=0.1)  # fmt: skip
    opt = make_optimizer(cfg)
    w = jnp.zeros((), jnp.float64)
    state = opt.init(w)
    for k in range(25):
        with jax.numpy_dtype_promotion("standard"):  # as apply_step runs optax
            upd, state = opt.update(jnp.ones((), jnp.float64), state, w)
            w_new = optax.apply_updates(w, upd)
        # optax evaluates the schedule in float32 (an int32 step count): float32 resolution
        assert float(w - w_new) == pytest.approx(learning_rate_at(cfg, k), rel=1e-6, abs=1e-9)
        w = w_new
    assert learning_rate_at(cfg, 0) == 0.0 and learning_rate_at(cfg, 5) == pytest.approx(0.1)
    assert learning_rate_at(cfg, 20) == pytest.approx(0.01)
    with pytest.raises(ValueError, match="schedule"):
        TrainConfig(schedule="linear")
    with pytest.raises(ValueError, match="warmup_steps"):
        TrainConfig(steps=10, warmup_steps=11)


@settings(max_examples=25, deadline=None)
@given(n=st.integers(1, 40), frac=st.floats(0.01, 1.0), seed=st.integers(0, 2**16))
def test_batch_indices_are_distinct_and_in_range(n, frac, seed):
    from ssmbench.train.step import draw_batch_indices

    size = max(1, int(frac * n))
    idx = np.asarray(draw_batch_indices(jax.random.PRNGKey(seed), n, size))
    assert idx.shape == (size,)
    assert len(set(idx.tolist())) == size and idx.min() >= 0 and idx.max() < n


@pytest.mark.parametrize("n, size, chi2_999", [(5, 2, 43.8), (4, 4, 49.7), (6, 1, 20.5)])
def test_batch_indices_have_the_law_of_a_permutation_prefix(n, size, chi2_999):
    """Oracle: the fast draw's law over the ordered size-subsets of range(n) matches the
    reference (a permutation prefix), both uniform: 20,000 draws each, a chi-square test against
    the uniform law (threshold: its 0.999 quantile at cells - 1 degrees of freedom; fixed keys,
    so deterministic). (4, 4) tests that the order is uniform too."""
    import itertools

    from ssmbench.train.step import draw_batch_indices, draw_batch_indices_reference

    keys = jax.random.split(jax.random.PRNGKey(7), 20_000)
    cells = {c: i for i, c in enumerate(itertools.permutations(range(n), size))}
    for draw in (draw_batch_indices, draw_batch_indices_reference):
        idx = np.asarray(jax.vmap(lambda k, draw=draw: draw(k, n, size))(keys))
        counts = np.zeros(len(cells))
        for row in idx:
            counts[cells[tuple(row.tolist())]] += 1  # KeyError: a repeat or an out-of-range index
        expected = 20_000 / len(cells)
        assert np.sum((counts - expected) ** 2 / expected) < chi2_999


def test_batch_indices_reject_a_bad_size():
    from ssmbench.train.step import draw_batch_indices

    with pytest.raises(ValueError, match="size must be in"):
        draw_batch_indices(jax.random.PRNGKey(0), 3, 4)
