"""The protocol every sequence layer of the zoo follows."""

# No ``from __future__ import annotations`` here: equinox must see ``AbstractVar`` unstringified.
import abc

import equinox as eqx
from jaxtyping import Array, Float

__all__ = ["AbstractSequenceLayer"]


class AbstractSequenceLayer(eqx.Module):
    """A sequence-to-sequence layer of the zoo: (L, d_model) -> (L, d_model), causal in time.

    The protocol, which :class:`ssmbench.models.Block` and :func:`ssmbench.models.build` rely on:

    - construction: ``Layer(d_model, d_state, *, key, **kwargs)``: the width ``d_model``, the
      state size ``d_state`` (named after the model's own parameter where it has one, e.g.
      ``hidden`` for :class:`~ssmbench.models.LinearCDE`), a PRNG key, and the layer's options
      as keyword arguments;
    - ``d_model``: the width of the input and output channels;
    - ``__call__(x)``: one *unbatched* sequence ``x`` of shape (L, d_model) to an output of the
      same shape and dtype; output ``t`` depends on ``x[:t + 1]`` only. Batches are mapped
      outside, with ``jax.vmap(layer)(xs)``.

    Following equinox's abstract/final pattern, this class holds no fields and no
    ``__init__``; every concrete layer is final (never subclassed) and defines its fields and
    ``__init__`` in one class.
    """

    d_model: eqx.AbstractVar[int]

    @abc.abstractmethod
    def __call__(self, x: Float[Array, "L d"]) -> Float[Array, "L d"]:
        """Apply the layer to one sequence (L, d_model); the output has the dtype of ``x``."""
