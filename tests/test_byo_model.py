"""Bring your own model (issue #25, part 3): a layer named by a dotted path, outside the package,
runs through the zoo's stack, its delay task and a suite, with clear errors for bad paths."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import ssmbench
from ssmbench.models import Deep, build


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
