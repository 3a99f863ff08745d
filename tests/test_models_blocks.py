"""The layer registry and the deep residual stacks (ssmbench.models.blocks)."""

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from ssmbench.models import LAYERS, AbstractSequenceLayer, Block, Deep, build

KEY = jax.random.PRNGKey(0)
NAMES = {"s4", "s4d", "s4d-real", "lru", "mamba", "ssm2d", "lcde"}


def test_registry_covers_all():
    assert set(LAYERS) == NAMES
    with pytest.raises(ValueError, match="unknown layer"):
        build("transformer", 4, key=KEY)


def test_block_holds_a_sequence_layer():
    blk = Block("lru", 4, key=KEY, d_state=4)
    assert isinstance(blk.layer, AbstractSequenceLayer) and blk.layer.d_model == 4
    x = jax.random.normal(KEY, (6, 4))
    assert blk(x).shape == (6, 4)
    with pytest.raises(ValueError, match="mlp"):
        Block("lru", 4, mlp="nope", key=KEY)


@pytest.mark.parametrize("head", ["seq2seq", "seq2vec", "next-step"])
def test_deep_heads(head):
    net = Deep(
        "s4d", 3, 8, 2, depth=2, head=head, dropout=0.1, layer_kwargs=dict(d_state=4), key=KEY
    )
    x = jax.random.normal(KEY, (10, 3), jnp.float32)

    @eqx.filter_jit
    def run(net, x):
        g = eqx.filter_grad(lambda n: jnp.sum(n(x) ** 2))(net)
        return net(x), net(x, key=jax.random.PRNGKey(5)), g

    y, y_drop, g = run(net, x)
    assert y.shape == ((2,) if head == "seq2vec" else (10, 2)) and y.dtype == jnp.float32
    assert not np.allclose(np.asarray(y), np.asarray(y_drop))  # dropout active with a key
    assert bool(jnp.isfinite(g.encoder.weight).all())
    with pytest.raises(ValueError, match="x must have shape"):
        net(jnp.ones((10, 4)))
