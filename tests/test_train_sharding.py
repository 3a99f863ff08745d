"""Data-parallel training (issue #26, part): ``train(..., mesh=)`` and ``TrainConfig(devices=)``
shard the batch axis, replicate the parameters and equal the single-device run up to the order of
the float32 reductions.

The multi-device checks run in a subprocess with four forced host devices
(``XLA_FLAGS=--xla_force_host_platform_device_count=4``) and float32 (the test process has x64 on
and one CPU device); the subprocess trains the trainer experiments' FIVO loss (the SMC bound) on a
small LGSSM task, built as :mod:`experiments.trainers.driver` builds it, and prints JSON.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from ssmbench.train import TrainConfig, compile_step, train
from ssmbench.train.sharding import data_mesh

TESTS = Path(__file__).parent
ENV = {**os.environ, "PYTHONPATH": os.pathsep.join([str(TESTS), str(TESTS.parent)]),
       "JAX_PLATFORMS": "cpu", "XLA_FLAGS": "--xla_force_host_platform_device_count=4",
       "JAX_ENABLE_X64": "0"}  # fmt: skip

SCRIPT = r"""
import json
import equinox as eqx, jax, jax.numpy as jnp, numpy as np
from ssmbench.prob import make_loss, make_proposal
from ssmbench.tasks.ssm_data import lgssm_task
from ssmbench.train import compile_step, train
from experiments.trainers import init_lgssm
from experiments.trainers.driver import DTYPE, train_config
from ssmbench.train.sharding import data_mesh

out = {"devices": len(jax.devices()), "x64": bool(jax.config.jax_enable_x64)}
# the driver's path (_fit_inputs): a learned LGSSM, the method's proposal, make_loss, float32 data
task = lgssm_task(10, seed=0, n_train=8, n_val=2, n_test=2)
k_model, k_q, k_train = jax.random.split(jax.random.PRNGKey(0), 3)
model0 = init_lgssm(k_model, task.state_dim, task.obs_dim)
q = make_proposal("fivo", task.state_dim, task.obs_dim, 8, key=k_q, dtype=DTYPE)
params, loss = (model0, q), make_loss("fivo", 4)
y = jnp.asarray(task.y_train, DTYPE)  # (8, 10, 5)
mesh = jax.make_mesh((4,), ("data",))  # Explicit axes by default: the loop makes them Auto
leaves = lambda t: [np.asarray(x) for x in jax.tree.leaves(eqx.filter(t, eqx.is_inexact_array))]

# 1. one step's loss and gradient: the sharded jit against the unsharded one
tr, st = eqx.partition(params, eqx.is_inexact_array)
vg = jax.value_and_grad(lambda tr, k, y: loss(eqx.combine(tr, st), k, y), has_aux=True)
auto = data_mesh()  # Auto axes: GSPMD partitions the hand-written step as it does train's
rep, dat = jax.NamedSharding(auto, jax.P()), jax.NamedSharding(auto, jax.P("data"))
(l1, _), g1 = jax.jit(vg)(tr, k_train, y)
sharded = jax.jit(vg, in_shardings=(rep, rep, dat), out_shardings=rep)
(l4, _), g4 = sharded(*jax.device_put((tr, k_train, y), (rep, rep, dat)))
out["loss"] = [float(l1), float(l4)]
out["grads"] = [[a.tolist() for a in leaves(g1)], [a.tolist() for a in leaves(g4)]]

# 2./3. five train steps; a sharded and an unsharded program under one cache key never collide
cfg = train_config(5, 2e-2, 100, None, None)
cfg_all = train_config(5, 2e-2, 100, None, None, devices="all")
r1 = train(loss, params, y, key=k_train, config=cfg, cache_key="shard-test")
r4 = train(loss, params, y, key=k_train, config=cfg, cache_key="shard-test", mesh=mesh)
ra = train(loss, params, y, key=k_train, config=cfg_all, cache_key="shard-test")
out["params"] = [[a.tolist() for a in leaves(r.params)] for r in (r1, r4, ra)]
out["losses"] = [[e["loss"] for e in r.log] for r in (r1, r4, ra)]
out["reused"] = [r.compile_reused for r in (r1, r4, ra)]
p = jax.tree.leaves(ra.params)[0].sharding
out["param_sharding"] = [len(p.device_set), p.is_fully_replicated]

def shardings(cfg):
    c, _, reused = compile_step(loss, params, y, key=k_train, config=cfg, cache_key="shard-test")
    (trs, _, _, _, ys), _ = c.input_shardings
    trs = jax.tree.leaves(trs)
    return {"reused": reused, "data_devices": len(ys.device_set),
            "data_shard": list(ys.shard_shape(y.shape)),
            "params_replicated": all(s.is_fully_replicated for s in trs),
            "params_devices": sorted({len(s.device_set) for s in trs})}

out["compiled_all"], out["compiled_one"] = shardings(cfg_all), shardings(cfg)

# the other batch paths, on a cheap regression loss: a minibatch of 4 drawn from 10 sequences
# (the data then replicated, the minibatch sharded) and a data function drawing 8 sequences
X = jax.random.normal(jax.random.PRNGKey(1), (10, 3), DTYPE)
Y = X @ jnp.asarray([1.0, -2.0, 0.5], DTYPE)
def mse(p, key, batch):
    r = batch[0] @ p["w"] - batch[1]
    return jnp.mean(r**2), {}
draw = lambda k: (lambda x: (x, x @ jnp.asarray([1.0, -2.0, 0.5], DTYPE)))(jax.random.normal(k, (8, 3), DTYPE))
w0 = {"w": jnp.zeros(3, DTYPE)}
out["paths"] = {}
for name, data, bs in [("minibatch", (X, Y), 4), ("drawn", draw, None)]:
    ws = [train(mse, w0, data, key=k_train, config=train_config(5, 5e-2, 100, None, bs, d)).params["w"].tolist()
          for d in ("one", "all")]
    out["paths"][name] = ws

# 4. a batch that does not split over 4 devices: a ValueError before anything is compiled
def no_jit(*a, **k):
    raise AssertionError("compiled")

jax_jit, jax.jit = jax.jit, no_jit
errors = {}
for name, data, c in [("data", y[:6], cfg_all), ("batch_size", y, train_config(5, 2e-2, 100, None, 6, "all")),
                      ("drawn", lambda k: y[:6] + jax.random.normal(k, (6, 10, 5), DTYPE), cfg_all)]:
    try:
        compile_step(loss, params, data, key=k_train, config=c)
    except ValueError as e:
        errors[name] = str(e)
jax.jit = jax_jit
out["errors"] = errors
print("RESULT " + json.dumps(out))
"""


@pytest.fixture(scope="module")
def four_devices() -> dict:
    """The subprocess's JSON results (four CPU devices, float32)."""
    proc = subprocess.run([sys.executable, "-c", SCRIPT], env=ENV, capture_output=True, text=True,
                          timeout=300)  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-4000:]
    line = [ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT ")][-1]
    out = json.loads(line[len("RESULT ") :])
    assert out["devices"] == 4 and out["x64"] is False
    return out


def _flat(arrays: list) -> np.ndarray:
    return np.concatenate([np.ravel(np.asarray(a, np.float32)) for a in arrays])


def test_one_step_loss_and_gradient_equal_the_single_device_ones(four_devices):
    # float32 (eps 1.2e-7): the sharded step sums 4 partial sums of 2 sequences (an all-reduce)
    # where one device sums 8; different reduction order, so a few ulps of the loss (|l| ~ 10) and
    # gradient entries (|g| <= ~3), not bit equality
    l1, l4 = four_devices["loss"]
    assert abs(l1) > 1.0 and l1 == pytest.approx(l4, rel=1e-6, abs=1e-6)
    g1, g4 = (_flat(g) for g in four_devices["grads"])
    assert g1.size > 100 and np.max(np.abs(g1)) > 0.1  # a real gradient, not zeros
    np.testing.assert_allclose(g4, g1, rtol=1e-6, atol=1e-6)


def test_five_train_steps_equal_the_single_device_run(four_devices):
    p1, p4, pa = (_flat(p) for p in four_devices["params"])
    losses1, losses4, lossesa = four_devices["losses"]
    assert len(losses1) == 5 and losses1[-1] < losses1[0]  # it trained
    # Adam normalises each gradient entry; reduction-order differences of ~1e-7 in the gradient
    # move the parameters by far less than 1e-5 in 5 steps at lr 2e-2
    np.testing.assert_allclose(p4, p1, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(losses4, losses1, rtol=1e-5, atol=1e-5)
    # devices="all" is the same program as the explicit mesh (a cache hit): bit-identical
    assert four_devices["reused"] == [False, False, True]
    np.testing.assert_array_equal(pa, p4)
    assert lossesa == losses4


def test_devices_all_shards_the_batch_and_replicates_the_parameters(four_devices):
    assert four_devices["param_sharding"] == [4, True]  # train's params come back replicated
    a, o = four_devices["compiled_all"], four_devices["compiled_one"]
    assert a == {"reused": True, "data_devices": 4, "data_shard": [2, 10, 5],
                 "params_replicated": True, "params_devices": [4]}  # fmt: skip
    assert o == {"reused": True, "data_devices": 1, "data_shard": [8, 10, 5],
                 "params_replicated": True, "params_devices": [1]}  # fmt: skip


def test_a_batch_not_divisible_by_the_devices_raises_before_compiling(four_devices):
    errors = four_devices["errors"]
    assert set(errors) == {"data", "batch_size", "drawn"}
    for msg in errors.values():
        assert "batch size 6" in msg and "4 devices" in msg


def _mse(p, key, batch):
    X, y = batch
    r = X @ p["w"] + p["b"] - y
    return jnp.mean(r**2), {"bound": -jnp.mean(r**2)}


def test_devices_is_validated_and_one_is_the_default_program():
    with pytest.raises(ValueError, match="devices must be 'one' or 'all', got 'bogus'"):
        TrainConfig(devices="bogus")
    rng = np.random.default_rng(0)
    X = jnp.asarray(rng.standard_normal((24, 3)))
    y = X @ jnp.asarray([1.0, -2.0, 0.5]) + 0.1 * jnp.asarray(rng.standard_normal(24))
    p0 = {"w": jnp.zeros(3), "b": jnp.zeros(())}
    kw = dict(steps=20, learning_rate=5e-2, eval_every=100, patience=None, batch_size=8)
    key = jax.random.PRNGKey(3)
    runs = [
        train(_mse, p0, (X, y), key=key, config=TrainConfig(**kw)),
        train(_mse, p0, (X, y), key=key, config=TrainConfig(**kw, devices="one")),
        train(_mse, p0, (X, y), key=key, config=TrainConfig(**kw, devices="all")),  # one CPU here
        train(_mse, p0, (X, y), key=key, config=TrainConfig(**kw), mesh=data_mesh()),
    ]
    assert len(jax.devices()) == 1 and runs[0].log[-1]["loss"] < 0.5 * runs[0].log[0]["loss"]
    for r in runs[1:]:  # a one-device mesh is no mesh: bit-identical to the default
        assert [e["loss"] for e in r.log] == [e["loss"] for e in runs[0].log]
        for a, b in zip(jax.tree.leaves(r.params), jax.tree.leaves(runs[0].params)):
            np.testing.assert_array_equal(a, b)
    # the same program, not merely the same numbers (compiled from one line: same source metadata)
    c1, c2 = [compile_step(_mse, p0, (X, y), key=key, config=c)[0].as_text()
              for c in (TrainConfig(**kw), TrainConfig(**kw, devices="one"))]  # fmt: skip
    assert c1 == c2 and "HloModule" in c1


def test_minibatch_and_drawn_batches_equal_the_single_device_run(four_devices):
    for name, (w1, w4) in four_devices["paths"].items():
        assert np.max(np.abs(np.asarray(w1))) > 0.1, name  # it moved
        np.testing.assert_allclose(w4, w1, rtol=1e-5, atol=1e-5, err_msg=name)
