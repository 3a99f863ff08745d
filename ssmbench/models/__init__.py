"""Sequence-model zoo: Equinox modules with unbatched ``__call__`` on (L, d_in) -> (L, d_out).

Every layer of the zoo is a final subclass of :class:`AbstractSequenceLayer` (its docstring
states the protocol). See docs/models.md for each model's reference and options.
"""

from ._base import AbstractSequenceLayer
from .blocks import LAYERS, Block, Deep, build, load_layer
from .chimera import AbstractVariateLayer, ChimeraForecaster, ChimeraLayer, ChimeraStack
from .diagonal import LRU, S4D, DiagonalSISO
from .lcde import LinearCDE
from .mamba import Mamba
from .s4 import S4
from .ssm2d import SSM2D

__all__ = [
    "LAYERS",
    "AbstractSequenceLayer",
    "AbstractVariateLayer",
    "ChimeraForecaster",
    "ChimeraLayer",
    "ChimeraStack",
    "LRU",
    "S4",
    "S4D",
    "SSM2D",
    "Block",
    "Deep",
    "DiagonalSISO",
    "LinearCDE",
    "Mamba",
    "build",
    "load_layer",
]
