"""Bring your own model (issue #25, part 3): a layer named by a dotted path, outside the package,
runs through the zoo's stack, its delay task and a suite, with clear errors for bad paths."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from byo_layers import make_log_volatility

import ssmbench
from experiments.throughput import throughput
from experiments.trainers import sv_experiment
from experiments.trainers.driver import smc_evaluator
from ssmbench.models import Deep, build
from ssmbench.prob import StochasticVolatility, build_ssm
from theory.rough_paths import USER_CLASS, Stack, rough_paths


def test_a_dotted_path_builds_the_users_layer_and_it_matches_its_loop():
    layer = build("byo_layers:EMA", 4, key=jax.random.PRNGKey(0), init_decay=0.8)
    x = jax.random.normal(jax.random.PRNGKey(1), (12, 4))
    np.testing.assert_allclose(layer(x), layer.reference(x), rtol=1e-12, atol=1e-12)
    net = Deep("byo_layers:EMA", 1, 8, 1, depth=2, key=jax.random.PRNGKey(2))
    y = jax.vmap(net)(jnp.ones((3, 10, 1)))
    assert y.shape == (3, 10, 1) and bool(jnp.all(jnp.isfinite(y)))


@pytest.mark.parametrize(
    "path, err, msg",
    [
        ("byo_layers:Missing", ValueError, "has no callable 'Missing'"),
        ("no_such_module_xyz:EMA", ValueError, "cannot import"),
        ("byo_layers:NotALayer", TypeError, "must subclass"),
        ("byo_layers:", ValueError, "must look like"),
        ("nonsense", ValueError, "unknown layer 'nonsense'"),
    ],
)
def test_bad_layer_paths_are_refused_by_name(path, err, msg):
    with pytest.raises(err, match=msg):
        build(path, 4, key=jax.random.PRNGKey(0))


def test_the_zoo_delay_task_runs_a_users_layer_through_a_suite(tmp_path):
    suite = {
        "suite": {"name": "byo", "seeds": [0]},
        "experiment": [
            {
                "name": "delay",
                "run": "experiments.zoo:delay_learning",
                "params": {"model": "byo_layers:EMA", "lag": 2, "length": 16, "d_model": 8,
                           "depth": 1, "steps": 30, "batch": 8, "time_budget_s": 1e9},
            }
        ],
    }  # fmt: skip
    res = ssmbench.run_suite(suite, tmp_path / "run", progress=None)
    assert res.clean, res.table[["status", "status_detail"]].drop_duplicates()
    t = res.table.set_index("metric")["value"]
    assert t["steps"] == 30 and np.isfinite(t["ratio"]) and t["ratio"] > 0


def test_the_throughput_suite_times_a_users_layer_by_its_dotted_path():
    """The throughput experiment takes a dotted path wherever it takes a workload name; the
    layer is timed as built (method "auto"), forward and forward+backward."""
    rows = throughput(seed=0, model="byo_layers:EMA", d_model=4, n=2, lengths=[16, 32],
                      repeats=5, min_time_s=0.0, fit_from=16)  # fmt: skip
    got = {(r["metric"], r.get("L"), r.get("pass")) for r in rows}
    for L in (16, 32):
        for p in ("fwd", "fwdbwd"):
            assert ("time_s", L, p) in got and ("tokens_per_s", L, p) in got
    with pytest.raises(ValueError, match="cannot import"):
        throughput(seed=0, model="no_such_pkg.mod:Layer", lengths=[16])


def test_a_users_ssm_runs_through_the_trainers_and_matches_the_builtin_in_law():
    """A probabilistic model of one's own, named by a dotted path, trains through the SV
    experiment's methods; its particle-filter log-likelihood equals the built-in SV's for the
    same parameters, data and key (the same law, so the same estimate, to float32 rounding)."""
    mine = build_ssm("byo_layers:make_log_volatility", key=jax.random.key(0), state_dim=1,
                     obs_dim=1, dtype=jnp.float32)  # fmt: skip
    theirs = StochasticVolatility(0.5, 0.7, 0.6, 1.0, dtype=jnp.float32)
    _, y = theirs.simulate(jax.random.key(1), 40)
    ev = smc_evaluator(jax.random.key(2), 64)
    np.testing.assert_allclose(float(ev(mine, y[None])), float(ev(theirs, y[None])), rtol=1e-5)
    assert isinstance(make_log_volatility(key=None, state_dim=1, obs_dim=1, dtype=jnp.float32),
                      type(mine))  # fmt: skip
    rows = sv_experiment(seed=0, T=30, N=4, eval_particles=32, steps=3, n_train=4, n_val=2,
                         n_test=2, eval_every=3, methods=["fivo"],
                         model="byo_layers:make_log_volatility")  # fmt: skip
    got = {r["metric"]: r["value"] for r in rows if r.get("method") == "fivo"}
    assert np.isfinite(got["heldout_smc"]) and "phi" not in got
    with pytest.raises(ValueError, match="cannot import"):
        build_ssm("nope_pkg.mod:f", key=jax.random.key(0), state_dim=1, obs_dim=1, dtype=None)


def test_the_rough_path_check_runs_a_users_layer_by_its_dotted_path(tmp_path):
    """The rough-path experiment takes a dotted path as a family (encoder + the user's layers,
    linear + ReLU mixing between them); its rows carry class "user", so the suite's checks, which
    select zoo classes, do not judge it."""
    x = jax.random.normal(jax.random.PRNGKey(3), (20, 2))
    stack = Stack("byo_layers:EMA", 2, 6, 2, key=jax.random.PRNGKey(4))
    h = jax.vmap(stack.encoder)(x)
    h = stack.layers[0].reference(h)
    h = jax.nn.relu(jax.vmap(stack.mixes[0].lin)(h))
    h = stack.layers[1].reference(h)
    np.testing.assert_allclose(stack(x), h[-1], rtol=1e-12, atol=1e-12)
    suite = {
        "suite": {"name": "byo-rough", "seeds": [0]},
        "experiment": [
            {
                "name": "rough",
                "run": "theory.rough_paths:rough_paths",
                "params": {"family": "byo_layers:EMA", "ridge_families": ["byo_layers:EMA"],
                           "e2e_families": ["byo_layers:EMA"], "widths": [8], "depths": [1],
                           "e2e_widths": [4], "words": ["12"], "n_train": 60, "n_test": 40,
                           "length": 12, "steps": 5, "batch": 16},
            }
        ],
    }  # fmt: skip
    res = ssmbench.run_suite(suite, tmp_path / "run", progress=None)
    assert res.clean, res.table[["status", "status_detail"]].drop_duplicates()
    r2 = res.table[res.table.metric == "r2"]
    assert set(r2["mode"]) == {"ridge", "e2e"} and set(r2["class"]) == {USER_CLASS}
    assert np.all(np.isfinite(r2["value"]))
    with pytest.raises(TypeError, match="must subclass"):
        rough_paths(seed=0, family="s4d", ridge_families=["byo_layers:NotALayer"])
    with pytest.raises(ValueError, match="or a dotted path"):
        rough_paths(seed=0, family="s4dd")
