"""The three parameterizations as data: per tensor, an init-std exponent and a learning-rate
exponent (Adam and SGD) in the channel width N_u and the state size N_x."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

#: Tensors of the network, in the paper's naming where it has one (W_B, W_C, W_Δ, A).
TENSORS = (
    "embedding",  # V x N_u, one-hot input weights
    "in_proj",  # 2 N_u x N_u (SSM branch and gate branch)
    "conv",  # N_u x K depthwise causal conv (vector-like: fan-in K, not a width)
    "W_B",  # N_x x N_u, B_t = W_B u_t (selection)
    "W_C",  # N_x x N_u, C_t = W_C u_t (selection)
    "W_delta",  # N_u x N_u, Δ_t = softplus(W_Δ u_t + b_Δ) (Mamba's x_proj->dt_proj, full rank here)
    "b_delta",  # N_u, Δ bias (vector-like)
    "A_log",  # N_u x N_x, A = -exp(A_log) (vector-like: one entry per state coordinate)
    "D",  # N_u skip
    "out_proj",  # N_u x N_u
    "readout",  # V x N_u
)

BASE_N_U = 64  #: base width: all three parameterizations coincide at (BASE_N_U, BASE_N_X)
BASE_N_X = 16


@dataclass(frozen=True)
class Scaling:
    """Width exponents of one tensor.

    ``init``: (a_u, a_x) so that init std = std0 * (N_u/64)^a_u * (N_x/16)^a_x, where std0 is the
    SP std at the base width (None = deterministic init, no std). ``adam`` / ``sgd``: (b_u, b_x) so
    that the tensor's learning rate = eta * (N_u/64)^b_u * (N_x/16)^b_x for that optimizer.
    """

    init: tuple[float, float] | None
    adam: tuple[float, float]
    sgd: tuple[float, float]


_Z = (0.0, 0.0)

# Standard parameterization: PyTorch-style fan-in init (Gaussian, std 1/sqrt(fan_in)) for every
# matrix, N(0, 1) embedding, one global learning rate. (Mamba's reference code uses the same
# fan-in scale for in_proj/x_proj/out_proj; the readout is untied here.)
_SP = {
    "embedding": Scaling(_Z, _Z, _Z),
    "in_proj": Scaling((-0.5, 0.0), _Z, _Z),
    "conv": Scaling(_Z, _Z, _Z),
    "W_B": Scaling((-0.5, 0.0), _Z, _Z),
    "W_C": Scaling((-0.5, 0.0), _Z, _Z),
    "W_delta": Scaling((-0.5, 0.0), _Z, _Z),
    "b_delta": Scaling(None, _Z, _Z),
    "A_log": Scaling(None, _Z, _Z),
    "D": Scaling(None, _Z, _Z),
    "out_proj": Scaling((-0.5, 0.0), _Z, _Z),
    "readout": Scaling((-0.5, 0.0), _Z, _Z),
}

# Heuristic muP (Yang & Hu, TP5 Table 3) with the SSM projections W_B, W_C, W_Δ treated as hidden
# weights (fan-in N_u) and A, D, b_Δ, conv as vector-like (bias-like) parameters.
#   input (embedding):  init Θ(1),         Adam LR Θ(1),    SGD LR N_u
#   hidden:             init N_u^-1/2,     Adam LR 1/N_u,   SGD LR Θ(1)
#   vector-like:        init Θ(1),         Adam LR Θ(1),    SGD LR N_u
#   output (readout):   init 1/N_u,        Adam LR 1/N_u,   SGD LR 1/N_u
_HIDDEN = Scaling((-0.5, 0.0), (-1.0, 0.0), _Z)
_VECTOR_DET = Scaling(None, _Z, (1.0, 0.0))
_MUP = {
    "embedding": Scaling(_Z, _Z, (1.0, 0.0)),
    "in_proj": _HIDDEN,
    "conv": Scaling(_Z, _Z, (1.0, 0.0)),
    "W_B": _HIDDEN,
    "W_C": _HIDDEN,
    "W_delta": _HIDDEN,
    "b_delta": _VECTOR_DET,
    "A_log": _VECTOR_DET,
    "D": _VECTOR_DET,
    "out_proj": _HIDDEN,
    "readout": Scaling((-1.0, 0.0), (-1.0, 0.0), (-1.0, 0.0)),
}

# muP-SSM, derivation v1 (docs/claims/feature-learning.md, section "Derivation"):
# - W_B, W_C map the infinite N_u to the (finite or slower-growing) N_x: they are OUTPUT-like in
#   N_u. Their output B, C is shared by all N_u channels, so the update of u that backpropagates
#   through them is aligned with their rows and W Δu sums coherently over N_u: init 1/N_u.
# - C reads the N_x-dimensional state coherently after training: an extra 1/N_x on init and LR.
# - SGD gradient sizes: dL/dB ~ |C| ~ 1/N_x, dL/dC ~ Θ(1) (sum over N_u channels), dL/dA ~ 1/(N_u N_x).
# - W_Δ stays a hidden weight; A, D, b_Δ stay vector-like, A's SGD LR carries the extra N_x of 1/|C|.
# Measured (docs, iteration 1): x vanishes like N_u^-1/2 at init, as this init implies, and Δx
# vanishes too at the widths reachable here: REFUTED by the coordinate check. Kept for the record.
_MUP_SSM_V1 = {
    **_MUP,
    "W_B": Scaling((-1.0, 0.0), (-1.0, 0.0), (-1.0, 1.0)),
    "W_C": Scaling((-1.0, -1.0), (-1.0, -1.0), (-1.0, -1.0)),
    "A_log": Scaling(None, _Z, (1.0, 1.0)),
}

# muP-SSM, derivation v2 (the one under test): x = Θ(1) at init forces B = Θ(1), so W_B keeps the
# fan-in init N_u^-1/2 (the output-like correction of v1 is dropped: its trigger, the part of the
# gradient reaching u through B, carries a factor Δ ~ 1e-2 and is subleading at every width we can
# reach). C reads the N_x-dimensional state: C = Θ(1/N_x) (init and updates), which keeps
# C·h = Θ(1/sqrt N_x) at init (y = D u + C·h stays Θ(1)) and C·Δh, ΔC·h = Θ(1) once ΔB aligns with C.
# SGD: dL/dB ~ |C| ~ 1/N_x -> LR_B ~ N_x/N_u; dL/dC ~ Θ(1) -> LR_C ~ 1/(N_u N_x);
# dL/dA ~ 1/(N_u N_x) -> LR_A ~ N_u N_x.
_MUP_SSM = {
    **_MUP,
    "W_B": Scaling((-0.5, 0.0), (-1.0, 0.0), (-1.0, 1.0)),
    "W_C": Scaling((-0.5, -1.0), (-1.0, -1.0), (-1.0, -1.0)),
    "A_log": Scaling(None, _Z, (1.0, 1.0)),
}

PARAMETERIZATIONS: dict[str, dict[str, Scaling]] = {
    "sp": _SP,
    "mup": _MUP,
    "mup_ssm": _MUP_SSM,
    "mup_ssm_v1": _MUP_SSM_V1,
}
Parameterization = Literal["sp", "mup", "mup_ssm", "mup_ssm_v1"]


def _check_param(parameterization: str) -> dict[str, Scaling]:
    """The table of ``parameterization``; ValueError for an unknown name."""
    if parameterization not in PARAMETERIZATIONS:
        raise ValueError(
            f"parameterization must be one of {sorted(PARAMETERIZATIONS)}, got {parameterization!r}"
        )
    return PARAMETERIZATIONS[parameterization]


def _sp_std0(tensor: str, vocab: int, kernel: int) -> float:
    """SP init std at the base width (fan-in rule); the other parameterizations start from it."""
    fan_in = {
        "embedding": 1,
        "in_proj": BASE_N_U,
        "conv": kernel,
        "W_B": BASE_N_U,
        "W_C": BASE_N_U,
        "W_delta": BASE_N_U,
        "out_proj": BASE_N_U,
        "readout": BASE_N_U,
    }[tensor]
    return 1.0 / math.sqrt(fan_in)


def init_std(
    parameterization: str, tensor: str, n_u: int, n_x: int, *, vocab: int = 32, kernel: int = 4
) -> float | None:
    """Init std of ``tensor`` at widths (n_u, n_x) under ``parameterization`` (None: deterministic)."""
    s = _check_param(parameterization)[tensor].init
    if s is None:
        return None
    a_u, a_x = s
    return _sp_std0(tensor, vocab, kernel) * (n_u / BASE_N_U) ** a_u * (n_x / BASE_N_X) ** a_x


def lr_multiplier(
    parameterization: str, tensor: str, optimizer: Literal["adam", "sgd"], n_u: int, n_x: int
) -> float:
    """Per-tensor learning-rate multiplier (relative to the base LR) at widths (n_u, n_x)."""
    if optimizer not in ("adam", "sgd"):
        raise ValueError(f"optimizer must be 'adam' or 'sgd', got {optimizer!r}")
    b_u, b_x = getattr(_check_param(parameterization)[tensor], optimizer)
    return (n_u / BASE_N_U) ** b_u * (n_x / BASE_N_X) ** b_x
