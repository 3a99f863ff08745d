"""Sequence-model zoo: Equinox modules with unbatched ``__call__`` on (L, d_in) -> (L, d_out)."""

from .diagonal import LRU, S4D, DiagonalSISO
from .lcde import LinearCDE
from .mamba import Mamba
from .s4 import S4
from .ssm2d import SSM2D

__all__ = ["LRU", "S4", "S4D", "SSM2D", "DiagonalSISO", "LinearCDE", "Mamba"]
