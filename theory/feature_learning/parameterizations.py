"""The parameterizations as data: per tensor, an init-std exponent and a learning-rate exponent
(Adam and SGD) in the channel width N_u and the state size N_x, for ZOH and (where they differ)
for Euler discretization."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

#: Mamba's expansion factor: the SSM runs on d_inner = EXPAND * N_u channels.
EXPAND = 2


def dt_rank(d_inner: int) -> int:
    """Mamba's rank of the Δ projection, ceil(d_inner / 16)."""
    return math.ceil(d_inner / 16)


#: Tensors of the network (E = d_inner = 2 N_u, R = dt_rank(E), N = N_x), in the paper's naming
#: where it has one (W_B, W_C, W_Δ, A). W_B, W_C and W_dt_down are the three row blocks of
#: Mamba's x_proj; W_dt_up is its dt_proj weight.
TENSORS = (
    "embedding",  # V x N_u, one-hot input weights
    "in_proj",  # 2E x N_u (SSM branch and gate branch)
    "conv",  # E x K depthwise causal conv (vector-like: fan-in K, not a width)
    "W_B",  # N x E, B_t = W_B u_t (selection)
    "W_C",  # N x E, C_t = W_C u_t (selection)
    "W_dt_down",  # R x E, the low-rank half of W_Δ (x_proj's Δ rows)
    "W_dt_up",  # E x R, dt_proj: Δ_t = softplus(W_dt_up W_dt_down u_t + b_Δ)
    "b_delta",  # E, Δ bias (vector-like)
    "A_log",  # E x N, A = -exp(A_log), S4D-real init A_n = -(n+1)
    "D",  # E skip
    "out_proj",  # N_u x E
    "readout",  # V x N_u
)

BASE_N_U = 64  #: base width: all parameterizations coincide at (BASE_N_U, BASE_N_X)
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
_MATRICES = ("in_proj", "W_B", "W_C", "W_dt_down", "W_dt_up", "out_proj")

# Standard parameterization: fan-in init (Gaussian, std 1/sqrt(fan_in)) for every matrix (every
# fan-in is proportional to N_u: N_u, E = 2 N_u or R = E/16), N(0, 1) embedding, one global LR.
_SP = {
    "embedding": Scaling(_Z, _Z, _Z),
    **{t: Scaling((-0.5, 0.0), _Z, _Z) for t in _MATRICES},
    "conv": Scaling(_Z, _Z, _Z),
    "b_delta": Scaling(None, _Z, _Z),
    "A_log": Scaling(None, _Z, _Z),
    "D": Scaling(None, _Z, _Z),
    "readout": Scaling((-0.5, 0.0), _Z, _Z),
}

# Heuristic muP (Yang & Hu, TP5 Table 3), every matrix whose two sides grow with N_u a hidden
# weight (W_B, W_C: fan-in E; both halves of the low-rank W_Δ, since R = E/16 grows with N_u),
# A, D, b_Δ and conv vector-like.
#   input (embedding):  init Θ(1),         Adam LR Θ(1),    SGD LR N_u
#   hidden:             init N_u^-1/2,     Adam LR 1/N_u,   SGD LR Θ(1)
#   vector-like:        init Θ(1),         Adam LR Θ(1),    SGD LR N_u
#   output (readout):   init 1/N_u,        Adam LR 1/N_u,   SGD LR 1/N_u
_HIDDEN = Scaling((-0.5, 0.0), (-1.0, 0.0), _Z)
_VECTOR_DET = Scaling(None, _Z, (1.0, 0.0))
_MUP = {
    "embedding": Scaling(_Z, _Z, (1.0, 0.0)),
    **{t: _HIDDEN for t in _MATRICES},
    "conv": Scaling(_Z, _Z, (1.0, 0.0)),
    "b_delta": _VECTOR_DET,
    "A_log": _VECTOR_DET,
    "D": _VECTOR_DET,
    "readout": Scaling((-1.0, 0.0), (-1.0, 0.0), (-1.0, 0.0)),
}

# muP-SSM, our derivation v6, for Mamba's layer with S4D-real A (docs/claims/feature-learning.md,
# "Derivation"). State norms are L2 over the N_x state coordinates. With A_n = -(n+1) the mode n
# of a ZOH state is x_n ~ B_n u / (n+1) once (n+1)Δ >> 1, so sum_n x_n^2 converges: N_x is not a
# width of the ZOH state and no tensor needs an N_x factor (Adam's coherent sums sum_n 1/(n+1)
# leave a log N_x that no power law removes). The selection maps u (E-dim) to the N_x-dim B, C,
# whose per-coordinate gradients are Θ(1), so under SGD W_B and W_C take the output-like LR 1/E.
_MUP_SSM = {
    **_MUP,
    "W_B": Scaling((-0.5, 0.0), (-1.0, 0.0), (-1.0, 0.0)),
    "W_C": Scaling((-0.5, 0.0), (-1.0, 0.0), (-1.0, 0.0)),
}

# Euler (Mamba's kernel: A_bar = exp(ΔA), B_bar = Δ B): a fast mode keeps x_n ~ Δ B_n u, so the
# state has N_x Θ(Δ) coordinates. B and C then scale like an N_x-dim readout pair: per-coordinate
# B, C ~ N_x^-1/2 (init), Adam LRs ~ N_x^-1/2; the SGD LRs carry no N_x (their gradients shrink
# with B and C).
_MUP_SSM_EULER = {
    "W_B": Scaling((-0.5, -0.5), (-1.0, -0.5), (-1.0, 0.0)),
    "W_C": Scaling((-0.5, -0.5), (-1.0, -0.5), (-1.0, 0.0)),
}

# muP-SSM, derivation v2 (the one tested on the earlier network, with an N_x-independent A): W_B
# fan-in, C = Θ(1/N_x) (init and LRs), SGD LRs B N_x/N_u, C 1/(N_u N_x), A N_u N_x. Kept so the
# earlier exponents can be run on this network; v1 is in the doc's history only.
_MUP_SSM_V2 = {
    **_MUP,
    "W_B": Scaling((-0.5, 0.0), (-1.0, 0.0), (-1.0, 1.0)),
    "W_C": Scaling((-0.5, -1.0), (-1.0, -1.0), (-1.0, -1.0)),
    "A_log": Scaling(None, _Z, (1.0, 1.0)),
}

#: The ZOH (and default) table of every parameterization.
PARAMETERIZATIONS: dict[str, dict[str, Scaling]] = {
    "sp": _SP,
    "mup": _MUP,
    "mup_ssm": _MUP_SSM,
    "mup_ssm_v2": _MUP_SSM_V2,
}
#: Per parameterization, the tensors whose exponents differ under Euler discretization.
EULER_OVERRIDES: dict[str, dict[str, Scaling]] = {"mup_ssm": _MUP_SSM_EULER}
Parameterization = Literal["sp", "mup", "mup_ssm", "mup_ssm_v2"]


def table(parameterization: str, discretization: str = "zoh") -> dict[str, Scaling]:
    """The per-tensor exponents of ``parameterization`` under ``discretization``; ValueError for
    an unknown name."""
    if parameterization not in PARAMETERIZATIONS:
        raise ValueError(
            f"parameterization must be one of {sorted(PARAMETERIZATIONS)}, got {parameterization!r}"
        )
    if discretization not in ("zoh", "euler"):
        raise ValueError(f"discretization must be 'zoh' or 'euler', got {discretization!r}")
    t = PARAMETERIZATIONS[parameterization]
    if discretization == "euler":
        t = {**t, **EULER_OVERRIDES.get(parameterization, {})}
    return t


def fan_in(tensor: str, n_u: int, kernel: int = 4) -> int:
    """Fan-in of ``tensor`` at channel width ``n_u`` (1 for the embedding: a one-hot input)."""
    e = EXPAND * n_u
    return {
        "embedding": 1,
        "in_proj": n_u,
        "conv": kernel,
        "W_B": e,
        "W_C": e,
        "W_dt_down": e,
        "W_dt_up": dt_rank(e),
        "out_proj": e,
        "readout": n_u,
    }[tensor]


def init_std(
    parameterization: str,
    tensor: str,
    n_u: int,
    n_x: int,
    *,
    vocab: int = 32,
    kernel: int = 4,
    discretization: str = "zoh",
) -> float | None:
    """Init std of ``tensor`` at widths (n_u, n_x) under ``parameterization`` (None: deterministic).
    The SP std at the base width, 1/sqrt(fan-in), times the parameterization's width factors."""
    s = table(parameterization, discretization)[tensor].init
    if s is None:
        return None
    a_u, a_x = s
    std0 = 1.0 / math.sqrt(fan_in(tensor, BASE_N_U, kernel))
    return std0 * (n_u / BASE_N_U) ** a_u * (n_x / BASE_N_X) ** a_x


def lr_multiplier(
    parameterization: str,
    tensor: str,
    optimizer: Literal["adam", "sgd"],
    n_u: int,
    n_x: int,
    discretization: str = "zoh",
) -> float:
    """Per-tensor learning-rate multiplier (relative to the base LR) at widths (n_u, n_x)."""
    if optimizer not in ("adam", "sgd"):
        raise ValueError(f"optimizer must be 'adam' or 'sgd', got {optimizer!r}")
    b_u, b_x = getattr(table(parameterization, discretization)[tensor], optimizer)
    return (n_u / BASE_N_U) ** b_u * (n_x / BASE_N_X) ** b_x
