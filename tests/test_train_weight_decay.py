"""TrainConfig.weight_decay: the train loop's AdamW equals optax's, step by step (the oracle: a
plain optax loop), and bad settings are refused by name."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from ssmbench.train import TrainConfig, train


def test_weight_decay_matches_a_plain_optax_adamw_loop():
    target = jnp.array([1.0, -2.0, 0.5])
    data = jnp.ones((4, 3))

    def loss(p, batch):
        return jnp.mean((batch @ p["w"] - batch @ target) ** 2) + jnp.sum(p["w"] ** 2) * 0.0

    p0 = {"w": jnp.array([0.3, 0.1, -0.2])}
    cfg = TrainConfig(steps=5, learning_rate=0.1, optimizer="adamw", weight_decay=0.5,
                      grad_clip=None, patience=None)  # fmt: skip
    res = train(lambda p, _k, b: (loss(p, b), {}), p0, data, key=jax.random.PRNGKey(0),
                config=cfg)  # fmt: skip
    opt = optax.adamw(0.1, weight_decay=0.5)
    p, state = p0, opt.init(p0)
    with jax.numpy_dtype_promotion("standard"):  # optax mixes its int32 count with floats
        for _ in range(5):
            g = jax.grad(loss)(p, data)
            upd, state = opt.update(g, state, p)
            p = optax.apply_updates(p, upd)
    np.testing.assert_allclose(res.final_params["w"], p["w"], rtol=1e-12, atol=1e-12)
    plain = train(lambda q, _k, b: (loss(q, b), {}), p0, data, key=jax.random.PRNGKey(0),
                  config=TrainConfig(steps=5, learning_rate=0.1, optimizer="adamw",
                                     weight_decay=0.0, grad_clip=None, patience=None))  # fmt: skip
    assert float(jnp.max(jnp.abs(plain.final_params["w"] - p["w"]))) > 1e-6  # decay acted


@pytest.mark.parametrize(
    "kw", [{"weight_decay": 0.1}, {"optimizer": "adamw", "weight_decay": -1.0}]
)
def test_bad_weight_decay_is_refused_by_name(kw):
    with pytest.raises(ValueError, match="weight_decay"):
        TrainConfig(**kw)
