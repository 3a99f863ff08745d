"""Feature learning and width scaling in selective SSMs: SP vs heuristic muP vs muP-SSM.

Claim under test (Vankadara, Xu, Haas, Cevher, "On Feature Learning in Structured State Space
Models", NeurIPS 2024): under standard parameterisation (SP) the latent states and outputs of a
Mamba-style selective SSM blow up with width; heuristic muP (the SSM projections treated as hidden
weights) does not fix the updates; a corrected scaling, "muP-SSM", keeps the latent states x, the
outputs y and their one-step updates Δx, Δy at Θ(1) in the channel width N_u and the state size
N_x, for ZOH and Euler discretisation, and transfers the optimal learning rate across widths.

The paper's exact exponents were not available here. The muP-SSM table below is OUR derivation
(forward and backward signal propagation through the selective scan), written out, with its
iterations, in ``docs/claims/feature-learning.md``. The experiment judges it.

What this module provides
- the three parameterisations as data: per tensor an init-std exponent and a learning-rate exponent
  (Adam and SGD) in N_u and N_x (:data:`PARAMETERISATIONS`, :func:`init_std`, :func:`lr_multiplier`);
- a thin 3-layer Mamba-style network (:class:`SSMNet`, :class:`SSMLayer`) whose forward pass exposes
  the latent states x (the scan's h, shape (L, N_u, N_x)) and the SSM outputs y;
- a synthetic next-token task (a random sparse Markov chain, :func:`markov_batches`);
- the coordinate check (:func:`coordinate_check`): RMS of x, y, Δx, Δy per layer at init and after
  1, 2, 3 optimiser steps, Adam and SGD, with log-log slopes against width (:func:`fit_slope`);
- the learning-rate transfer sweep (:func:`lr_transfer`);
- the suite experiment :func:`feature_learning` and a figure helper :func:`plot_run`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import optax
from jaxtyping import Array, Float, Int

from ssmbench.scan import linear_recurrence

__all__ = [
    "TENSORS",
    "Scaling",
    "PARAMETERISATIONS",
    "BASE_N_U",
    "BASE_N_X",
    "init_std",
    "lr_multiplier",
    "SSMLayer",
    "SSMNet",
    "init_net",
    "lr_tree",
    "markov_chain",
    "markov_batches",
    "fit_slope",
    "coordinate_check",
    "lr_transfer",
    "feature_learning",
    "plot_run",
]

# ---------------------------------------------------------------------------------------------
# Parameterisations as data

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

BASE_N_U = 64  #: base width: all three parameterisations coincide at (BASE_N_U, BASE_N_X)
BASE_N_X = 16


@dataclass(frozen=True)
class Scaling:
    """Width exponents of one tensor.

    ``init``: (a_u, a_x) so that init std = std0 * (N_u/64)^a_u * (N_x/16)^a_x, where std0 is the
    SP std at the base width (None = deterministic init, no std). ``adam`` / ``sgd``: (b_u, b_x) so
    that the tensor's learning rate = eta * (N_u/64)^b_u * (N_x/16)^b_x for that optimiser.
    """

    init: tuple[float, float] | None
    adam: tuple[float, float]
    sgd: tuple[float, float]


_Z = (0.0, 0.0)

# Standard parameterisation: PyTorch-style fan-in init (Gaussian, std 1/sqrt(fan_in)) for every
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

PARAMETERISATIONS: dict[str, dict[str, Scaling]] = {
    "sp": _SP,
    "mup": _MUP,
    "mup_ssm": _MUP_SSM,
    "mup_ssm_v1": _MUP_SSM_V1,
}
Parameterisation = Literal["sp", "mup", "mup_ssm", "mup_ssm_v1"]


def _check_param(parameterisation: str) -> dict[str, Scaling]:
    if parameterisation not in PARAMETERISATIONS:
        raise ValueError(
            f"parameterisation must be one of {sorted(PARAMETERISATIONS)}, got {parameterisation!r}"
        )
    return PARAMETERISATIONS[parameterisation]


def _sp_std0(tensor: str, vocab: int, kernel: int) -> float:
    """SP init std at the base width (fan-in rule); the other parameterisations start from it."""
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
    parameterisation: str, tensor: str, n_u: int, n_x: int, *, vocab: int = 32, kernel: int = 4
) -> float | None:
    """Init std of ``tensor`` at widths (n_u, n_x) under ``parameterisation`` (None: deterministic)."""
    s = _check_param(parameterisation)[tensor].init
    if s is None:
        return None
    a_u, a_x = s
    return _sp_std0(tensor, vocab, kernel) * (n_u / BASE_N_U) ** a_u * (n_x / BASE_N_X) ** a_x


def lr_multiplier(
    parameterisation: str, tensor: str, optimizer: Literal["adam", "sgd"], n_u: int, n_x: int
) -> float:
    """Per-tensor learning-rate multiplier (relative to the base LR) at widths (n_u, n_x)."""
    if optimizer not in ("adam", "sgd"):
        raise ValueError(f"optimizer must be 'adam' or 'sgd', got {optimizer!r}")
    b_u, b_x = getattr(_check_param(parameterisation)[tensor], optimizer)
    return (n_u / BASE_N_U) ** b_u * (n_x / BASE_N_X) ** b_x


# ---------------------------------------------------------------------------------------------
# The network


def _rmsnorm(z: Float[Array, "L d"]) -> Float[Array, "L d"]:
    return z * jax.lax.rsqrt(jnp.mean(z * z, axis=-1, keepdims=True) + 1e-6)


class SSMLayer(eqx.Module):
    """Mamba-style block: pre-RMSNorm, in_proj to (u, gate), depthwise causal conv + SiLU,
    selective scan with input-dependent Δ, B, C, skip D, SiLU gate, out_proj, residual."""

    in_proj: Float[Array, "2d d"]
    conv: Float[Array, "d k"]
    W_B: Float[Array, "n d"]
    W_C: Float[Array, "n d"]
    W_delta: Float[Array, "d d"]
    b_delta: Float[Array, " d"]
    A_log: Float[Array, "d n"]
    D: Float[Array, " d"]
    out_proj: Float[Array, "d d"]

    def __call__(
        self, z: Float[Array, "L d"], euler: bool | Array = False
    ) -> tuple[
        Float[Array, "L d"], Float[Array, "L d n"], Float[Array, "L d"], Float[Array, "L d"]
    ]:
        """Returns (new residual stream, latent states x = h of shape (L, d, n), SSM output
        y = C·h + D u, and its state part y_ssm = C·h).

        ``euler`` (may be traced, so one compiled program serves both): False = exact ZOH,
        A_bar = exp(ΔA), B_bar = (exp(ΔA) - 1)/A * B; True = forward Euler, A_bar = 1 + ΔA,
        B_bar = Δ B.
        """
        u, gate = self.inputs(z)
        B = u @ self.W_B.T  # (L, n)
        C = u @ self.W_C.T  # (L, n)
        delta = jax.nn.softplus(u @ self.W_delta.T + self.b_delta)  # (L, d)
        A = -jnp.exp(self.A_log)  # (d, n)
        dA = delta[:, :, None] * A[None]  # (L, d, n)
        a_bar = jnp.where(euler, 1.0 + dA, jnp.exp(dA))
        b_coef = jnp.where(euler, delta[:, :, None], jnp.expm1(dA) / A[None])
        b_bar = b_coef * B[:, None, :] * u[:, :, None]  # (L, d, n)
        # sequential: compiles in a fraction of the associative scan's time, and the coordinate
        # check compiles one program per width, so compile time dominates on CPU
        h = linear_recurrence(a_bar, b_bar, method="sequential")
        y_ssm = jnp.einsum("ldn,ln->ld", h, C)
        y = y_ssm + self.D * u
        out = (y * jax.nn.silu(gate)) @ self.out_proj.T
        return z + out, h, y, y_ssm

    def inputs(self, z: Float[Array, "L d"]) -> tuple[Float[Array, "L d"], Float[Array, "L d"]]:
        """(u, gate): the scan's input u = SiLU(causal depthwise conv(in_proj(RMSNorm(z)))) and
        the gate's pre-activation."""
        d = z.shape[-1]
        ug = _rmsnorm(z) @ self.in_proj.T
        u_pre, gate = ug[:, :d], ug[:, d:]
        k = self.conv.shape[1]
        padded = jnp.pad(u_pre, ((k - 1, 0), (0, 0)))
        windows = jnp.stack([padded[j : j + u_pre.shape[0]] for j in range(k)], axis=-1)
        return jax.nn.silu(jnp.sum(windows * self.conv, axis=-1)), gate


class SSMNet(eqx.Module):
    """Embedding -> n_layers SSMLayer -> RMSNorm -> readout (next-token logits).

    ``layers`` is ONE :class:`SSMLayer` whose arrays carry a leading layer axis; the forward pass
    scans over it (one compiled layer body instead of n_layers: compile time matters here)."""

    embedding: Float[Array, "V d"]
    layers: SSMLayer
    readout: Float[Array, "V d"]

    def __call__(
        self, tokens: Int[Array, " L"], euler: bool | Array = False
    ) -> tuple[Float[Array, "L V"], Float[Array, "layers L d n"], Float[Array, "layers L d"]]:
        """Returns (logits, per-layer latent states x, per-layer SSM outputs y = C·h + D u).
        ``euler``: discretisation switch, see :meth:`SSMLayer.__call__`."""
        if tokens.ndim != 1:
            raise ValueError(f"tokens must have shape (L,), got {tokens.shape}")

        logits, xs, ys, _ = self.states(tokens, euler)
        return logits, xs, ys

    def states(self, tokens: Int[Array, " L"], euler: bool | Array = False):
        """Like ``__call__`` but also returns the per-layer state part y_ssm = C·h of y."""

        def body(z, layer):
            z, h, y, y_ssm = layer(z, euler)
            return z, (h, y, y_ssm)

        z, (xs, ys, yss) = jax.lax.scan(body, self.embedding[tokens], self.layers)
        return _rmsnorm(z) @ self.readout.T, xs, ys, yss

    def layer_inputs(
        self, tokens: Int[Array, " L"], euler: bool | Array = False
    ) -> Float[Array, "layers L d"]:
        """The scan input u of every layer (see :meth:`SSMLayer.inputs`)."""

        def body(z, layer):
            u, _ = layer.inputs(z)
            z, *_ = layer(z, euler)
            return z, u

        _, us = jax.lax.scan(body, self.embedding[tokens], self.layers)
        return us


def init_net(
    parameterisation: str,
    n_u: int,
    n_x: int,
    *,
    key: Array,
    vocab: int = 32,
    n_layers: int = 3,
    kernel: int = 4,
    dtype=jnp.float32,
) -> SSMNet:
    """Initialise an :class:`SSMNet` with the init stds of ``parameterisation`` at (n_u, n_x).

    Deterministic parts, the same for every parameterisation: A = -linspace(1, 8, n_x) per channel
    (an N_x-independent spectrum, so Euler stays stable: Δ|A| <= 0.8 at init), Δ bias =
    softplus^{-1}(dt) with dt log-uniform in [1e-3, 1e-1] (Mamba), D = 1.
    """
    if n_u < 1 or n_x < 1:
        raise ValueError(f"widths must be positive, got n_u={n_u}, n_x={n_x}")

    def normal(k, tensor, shape):
        std = init_std(parameterisation, tensor, n_u, n_x, vocab=vocab, kernel=kernel)
        return (std * jax.random.normal(k, shape)).astype(dtype)

    keys = jax.random.split(key, n_layers + 2)
    layers = []
    for i in range(n_layers):
        ks = jax.random.split(keys[i], 7)
        dt = jnp.exp(
            jax.random.uniform(ks[5], (n_u,), minval=math.log(1e-3), maxval=math.log(1e-1))
        )
        layers.append(
            SSMLayer(
                in_proj=normal(ks[0], "in_proj", (2 * n_u, n_u)),
                conv=normal(ks[1], "conv", (n_u, kernel)),
                W_B=normal(ks[2], "W_B", (n_x, n_u)),
                W_C=normal(ks[3], "W_C", (n_x, n_u)),
                W_delta=normal(ks[4], "W_delta", (n_u, n_u)),
                b_delta=(dt + jnp.log(-jnp.expm1(-dt))).astype(dtype),  # softplus^{-1}(dt)
                A_log=jnp.broadcast_to(jnp.log(jnp.linspace(1.0, 8.0, n_x)), (n_u, n_x)).astype(
                    dtype
                ),
                D=jnp.ones((n_u,), dtype),
                out_proj=normal(ks[6], "out_proj", (n_u, n_u)),
            )
        )
    return SSMNet(
        embedding=normal(keys[-2], "embedding", (vocab, n_u)),
        layers=jax.tree_util.tree_map(lambda *a: jnp.stack(a), *layers),
        readout=normal(keys[-1], "readout", (vocab, n_u)),
    )


def lr_tree(
    net: SSMNet, parameterisation: str, optimizer: Literal["adam", "sgd"], n_u: int, n_x: int
) -> SSMNet:
    """A pytree shaped like ``net`` whose leaves are the per-tensor LR multipliers (scalars)."""

    def mult(t):
        return jnp.asarray(lr_multiplier(parameterisation, t, optimizer, n_u, n_x), jnp.float32)

    layers = SSMLayer(**{t: mult(t) for t in TENSORS[1:-1]})
    return SSMNet(embedding=mult("embedding"), layers=layers, readout=mult("readout"))


# ---------------------------------------------------------------------------------------------
# The task: next token of a random sparse Markov chain


def markov_chain(vocab: int, rng: np.random.Generator, alpha: float = 0.1) -> np.ndarray:
    """A random transition matrix with Dirichlet(alpha) rows (small alpha: near-deterministic)."""
    return rng.dirichlet(np.full(vocab, alpha), size=vocab)


def markov_batches(
    trans: np.ndarray, n_batches: int, batch: int, length: int, rng: np.random.Generator
) -> np.ndarray:
    """Token sequences of shape (n_batches, batch, length + 1) sampled from the chain."""
    vocab = trans.shape[0]
    cum = np.cumsum(trans, axis=1)
    out = np.empty((n_batches * batch, length + 1), dtype=np.int32)
    out[:, 0] = rng.integers(0, vocab, size=n_batches * batch)
    for t in range(length):
        r = rng.random(n_batches * batch)[:, None]
        out[:, t + 1] = np.minimum((r > cum[out[:, t]]).sum(axis=1), vocab - 1)
    return out.reshape(n_batches, batch, length + 1)


def _loss(net: SSMNet, seqs: Int[Array, "B L1"], euler) -> Float[Array, ""]:
    logits = jax.vmap(lambda s: net(s[:-1], euler)[0])(seqs)
    return jnp.mean(optax.softmax_cross_entropy_with_integer_labels(logits, seqs[:, 1:]))


# eps far below the smallest gradient entries at the largest width, so Adam stays scale-free (a
# width-independent eps that is not negligible would itself break the width scaling).
_ADAM = optax.adam(1.0, eps=1e-15)


def _opt_init(net: SSMNet):
    return _ADAM.init(eqx.filter(net, eqx.is_array))


def _check_opt(optimizer: str) -> None:
    if optimizer not in ("adam", "sgd"):
        raise ValueError(f"optimizer must be 'adam' or 'sgd', got {optimizer!r}")


@eqx.filter_jit
def _probe_and_step(net, opt_state, seqs, probe, lrs, eta, use_adam, euler):
    """States of ``net`` on ``probe``, then one step of Adam (use_adam True) or plain SGD on
    ``seqs`` with per-tensor LRs eta * lrs.

    ``use_adam`` and ``euler`` are traced, so one compiled program per width serves all four
    (optimiser, discretisation) pairs (the Adam moments are updated in both cases; SGD ignores
    them)."""
    _, xs, ys, yss = jax.vmap(net.states, in_axes=(0, None))(probe, euler)
    states = tuple(jnp.moveaxis(a, 1, 0) for a in (xs, ys, yss))  # layer axis first
    loss, grads = eqx.filter_value_and_grad(_loss)(net, seqs, euler)
    adam_updates, opt_state = _ADAM.update(grads, opt_state, net)
    updates = jax.tree_util.tree_map(
        lambda a, g, m: jnp.where(use_adam, a, -g) * (eta * m), adam_updates, grads, lrs
    )
    return eqx.apply_updates(net, updates), opt_state, loss, states


@jax.jit
def _rms_all(states, states0):
    """Per-layer RMS of x, y, Δx, Δy, y_ssm, Δy_ssm (arrays with a leading layer axis)."""

    def rms(a):
        return jnp.sqrt(jnp.mean(jnp.square(a), axis=tuple(range(1, a.ndim))))

    (x, y, ys), (x0, y0, ys0) = states, states0
    return jnp.stack([rms(x), rms(y), rms(x - x0), rms(y - y0), rms(ys), rms(ys - ys0)])


# ---------------------------------------------------------------------------------------------
# Slopes


def fit_slope(widths: Sequence[float], values: Sequence[float]) -> float:
    """Least-squares slope of log(values) against log(widths). NaN if any value is not > 0 or
    not finite (a diverged or vanished measurement cannot be fitted)."""
    w = np.asarray(widths, dtype=float)
    v = np.asarray(values, dtype=float)
    if w.shape != v.shape or w.ndim != 1 or w.size < 2:
        raise ValueError(f"need two 1-D sequences of equal length >= 2, got {w.shape}, {v.shape}")
    if not (np.all(np.isfinite(v)) and np.all(v > 0) and np.all(w > 0)):
        return float("nan")
    return float(np.polyfit(np.log(w), np.log(v), 1)[0])


# ---------------------------------------------------------------------------------------------
# Coordinate check


QUANTITIES = ("x", "y", "dx", "dy")  #: the four quantities of the claim
DIAGNOSTICS = ("y_ssm", "dy_ssm")  #: y's state part C·h (y = C·h + D u), not part of the claim


def _setup_training(parameterisation, n_u, n_x, key, probe, optimizer, discretisation, eta, vocab):
    """Shared by the coordinate check and the B-path split: the initial net, the optimiser state,
    the probe inputs and the trailing arguments of :func:`_probe_and_step` (lrs, eta, use_adam,
    euler)."""
    _check_opt(optimizer)
    if discretisation not in ("zoh", "euler"):
        raise ValueError(f"discretisation must be 'zoh' or 'euler', got {discretisation!r}")
    net = init_net(parameterisation, n_u, n_x, key=key, vocab=vocab)
    lrs = lr_tree(net, parameterisation, optimizer, n_u, n_x)
    use_adam, euler = jnp.asarray(optimizer == "adam"), jnp.asarray(discretisation == "euler")
    args = (lrs, jnp.asarray(eta, jnp.float32), use_adam, euler)
    return net, _opt_init(net), jnp.asarray(probe[:, :-1]), args


def coordinate_check(
    parameterisation: str,
    n_u: int,
    n_x: int,
    *,
    key: Array,
    data: np.ndarray,
    probe: np.ndarray,
    optimizer: Literal["adam", "sgd"],
    discretisation: Literal["zoh", "euler"],
    eta: float,
    steps: int = 3,
    vocab: int = 32,
) -> list[dict]:
    """RMS of x, y (steps 0..steps) and Δx, Δy (steps 1..steps) per layer on a fixed probe batch.

    ``data``: (steps, batch, L+1) training batches, ``probe``: (batch, L+1) probe sequences.
    Returns rows {quantity, layer, step, value}; quantities :data:`QUANTITIES` + :data:`DIAGNOSTICS`.
    Δ is measured against the init on the same probe. A non-finite RMS (overflow) is returned as
    is; callers decide how to record it.
    """
    net, opt_state, probe_in, args = _setup_training(
        parameterisation, n_u, n_x, key, probe, optimizer, discretisation, eta, vocab
    )
    rows = []
    states0 = None
    for step in range(steps + 1):
        # the last call's update is discarded: it only measures the states after `steps` steps
        batch = jnp.asarray(data[min(step, steps - 1)])
        new_net, opt_state, _, states = _probe_and_step(net, opt_state, batch, probe_in, *args)
        if step == 0:
            states0 = states
        vals = np.asarray(_rms_all(states, states0))  # (6, layers)
        for q, quantity in enumerate(QUANTITIES + DIAGNOSTICS):
            if step == 0 and quantity.startswith("d"):
                continue
            for layer in range(vals.shape[1]):
                rows.append(
                    dict(quantity=quantity, layer=layer, step=step, value=float(vals[q, layer]))
                )
        net = new_net
    return rows


# ---------------------------------------------------------------------------------------------
# The B path: how much of ΔB comes through the moving input u (the v5 test)


@eqx.filter_jit
def _b_terms(net, net0, probe, euler):
    """Per-layer RMS (over probe sequences, time and the N_x state coordinates) of
    ΔB = B_k - B_0 and of its two parts, ΔB = ΔW_B u_k + W_B0 Δu (exact)."""
    u = jax.vmap(net.layer_inputs, in_axes=(0, None))(probe, euler)  # (batch, layers, L, d)
    u0 = jax.vmap(net0.layer_inputs, in_axes=(0, None))(probe, euler)
    wb, wb0 = net.layers.W_B, net0.layers.W_B  # (layers, n, d)
    total = jnp.einsum("blsd,lnd->blsn", u, wb) - jnp.einsum("blsd,lnd->blsn", u0, wb0)
    by_weight = jnp.einsum("blsd,lnd->blsn", u, wb - wb0)
    by_input = jnp.einsum("blsd,lnd->blsn", u - u0, wb0)

    def rms(a):
        return jnp.sqrt(jnp.mean(jnp.square(a), axis=(0, 2, 3)))

    return jnp.stack([rms(total), rms(by_weight), rms(by_input), rms(u - u0)])


B_TERMS = ("dB", "dW_B_u", "W_B_du", "du")  #: the rows of :func:`b_decomposition`


def b_decomposition(
    parameterisation: str,
    n_u: int,
    n_x: int,
    *,
    key: Array,
    data: np.ndarray,
    probe: np.ndarray,
    optimizer: Literal["adam", "sgd"],
    discretisation: Literal["zoh", "euler"],
    eta: float,
    steps: int = 3,
    vocab: int = 32,
) -> list[dict]:
    """Per layer and step 1..steps: RMS of ΔB and of its parts ΔW_B·u_k ("dW_B_u": the weight
    moved) and W_B0·Δu ("W_B_du": the input moved), and of Δu, on a fixed probe batch. Same
    training as :func:`coordinate_check` (same init, data and updates)."""
    net, opt_state, probe_in, args = _setup_training(
        parameterisation, n_u, n_x, key, probe, optimizer, discretisation, eta, vocab
    )
    net0, euler = net, args[-1]
    rows = []
    for step in range(1, steps + 1):
        net, opt_state, _, _ = _probe_and_step(
            net, opt_state, jnp.asarray(data[step - 1]), probe_in, *args
        )
        vals = np.asarray(_b_terms(net, net0, probe_in, euler))
        for q, term in enumerate(B_TERMS):
            for layer in range(vals.shape[1]):
                rows.append(
                    dict(quantity=term, layer=layer, step=step, value=float(vals[q, layer]))
                )
    return rows


def b_path(
    *,
    seed: int,
    quick: bool = False,
    parameterisation: str = "mup_ssm",
    nu_widths: list[int] = [64, 256, 1024, 2048, 4096],  # noqa: B006 (never mutated)
    n_x: int = 16,
    optimizer: str = "adam",
    discretisation: str = "zoh",
    eta: float = 1e-2,
    steps: int = 3,
    batch: int = 4,
    length: int = 16,
    vocab: int = 32,
    n_inits: int = 4,
    hi_widths: int = 3,
) -> list[dict]:
    """Suite experiment for the v5 test: RMS of ΔB's two parts against N_u (rows ``rms_<term>``,
    geometric mean over inits, per layer, step, n_u), their slopes over the ``hi_widths`` largest
    widths (``hi_slope``, mean over inits, with ``hi_slope_se``) and over the rest plus the first
    of those (``lo_slope``), the per-layer means over steps (``hi_slope_mean``, and its absolute
    value), and ``input_over_weight`` = RMS(W_B0 Δu) / RMS(ΔW_B u) per layer, step, n_u. Data, probe
    and init keys are drawn as in :func:`feature_learning`, so the training matches its runs."""
    if quick:
        nu_widths, n_inits = nu_widths[:3], min(n_inits, 2)
    if not 2 <= hi_widths <= len(nu_widths) - 1:
        raise ValueError(f"hi_widths must be in [2, {len(nu_widths) - 1}], got {hi_widths}")
    rng = np.random.default_rng(seed)
    trans = markov_chain(vocab, rng)
    key = jax.random.PRNGKey(seed)
    data = markov_batches(trans, steps, batch, length, rng)
    probe = markov_batches(trans, 1, 4, length, rng)[0]
    vals: dict[tuple, dict[int, list[float]]] = {}
    for n_u in nu_widths:
        for i in range(n_inits):
            k_i = key if i == 0 else jax.random.fold_in(key, i)
            for r in b_decomposition(
                parameterisation, n_u, n_x, key=k_i, data=data, probe=probe, optimizer=optimizer,
                discretisation=discretisation, eta=eta, steps=steps, vocab=vocab,
            ):  # fmt: skip
                vals.setdefault((r["quantity"], r["layer"], r["step"]), {}).setdefault(
                    n_u, []
                ).append(r["value"])
    rows = []
    ws = sorted(nu_widths)
    hi, lo = ws[-hi_widths:], ws[: len(ws) - hi_widths + 1]
    means: dict[tuple, list[float]] = {}
    for (term, layer, step), by_w in sorted(vals.items()):
        cols = dict(quantity=term, layer=layer, step=step)
        for w in ws:
            gm = float(np.exp(np.mean(np.log(by_w[w]))))
            rows.append(dict(cols, metric=f"rms_{term}", value=gm, n_u=w))
        for name, rng_w in (("lo", lo), ("hi", hi)):
            per = [fit_slope(rng_w, [by_w[w][i] for w in rng_w]) for i in range(n_inits)]
            rows.append(dict(cols, metric=f"{name}_slope", value=float(np.mean(per))))
            if n_inits > 1:
                se = float(np.std(per, ddof=1) / math.sqrt(n_inits))
                rows.append(dict(cols, metric=f"{name}_slope_se", value=se))
            if name == "hi":
                means.setdefault((term, layer), []).append(float(np.mean(per)))
    for (term, layer), v in sorted(means.items()):
        m = float(np.mean(v))
        cols = dict(quantity=term, layer=layer)
        rows.append(dict(cols, metric="hi_slope_mean", value=m))
        rows.append(dict(cols, metric="abs_hi_slope_mean", value=abs(m)))
    # which part of ΔB dominates: RMS of the input-moved part over the weight-moved part
    for (term, layer, step), by_w in sorted(vals.items()):
        if term != "W_B_du":
            continue
        other = vals[("dW_B_u", layer, step)]
        for w in ws:
            r = float(np.exp(np.mean(np.log(by_w[w])) - np.mean(np.log(other[w]))))
            rows.append(dict(layer=layer, step=step, n_u=w, metric="input_over_weight",
                             value=r))  # fmt: skip
    return rows


# ---------------------------------------------------------------------------------------------
# Learning-rate transfer

_CAP = 10.0  # losses above this (and NaN) count as diverged; log(32) = 3.47 is the uniform loss


@eqx.filter_jit
def _train_final_loss(net, lrs, eta, data, eval_seqs, use_adam, euler):
    """Train ``net`` for len(data) steps (scanned) at base LR ``eta``; return the final eval loss.
    ``eta`` is traced: one compiled program per width serves the whole LR grid."""

    def step(carry, seqs):
        net_, opt_state = carry
        loss, grads = eqx.filter_value_and_grad(_loss)(net_, seqs, euler)
        adam_updates, opt_state = _ADAM.update(grads, opt_state, net_)
        updates = jax.tree_util.tree_map(
            lambda a, g, m: jnp.where(use_adam, a, -g) * (eta * m), adam_updates, grads, lrs
        )
        return (eqx.apply_updates(net_, updates), opt_state), loss

    (final, _), _ = jax.lax.scan(step, (net, _opt_init(net)), data)
    return _loss(final, eval_seqs, euler)


def lr_transfer(
    parameterisation: str,
    n_u: int,
    n_x: int,
    *,
    key: Array,
    data: np.ndarray,
    eval_seqs: np.ndarray,
    etas: Sequence[float],
    optimizer: Literal["adam", "sgd"] = "adam",
    discretisation: Literal["zoh", "euler"] = "zoh",
    vocab: int = 32,
) -> np.ndarray:
    """Final eval loss after training on ``data`` (steps, batch, L+1) for each base LR in ``etas``.
    Diverged runs (NaN, or loss above 10) are returned as NaN."""
    _check_opt(optimizer)
    net = init_net(parameterisation, n_u, n_x, key=key, vocab=vocab)
    lrs = lr_tree(net, parameterisation, optimizer, n_u, n_x)
    args = (
        jnp.asarray(data),
        jnp.asarray(eval_seqs),
        jnp.asarray(optimizer == "adam"),
        jnp.asarray(discretisation == "euler"),
    )
    losses = np.array([float(_train_final_loss(net, lrs, jnp.float32(eta), *args)) for eta in etas])
    return np.where(np.isfinite(losses) & (losses <= _CAP), losses, np.nan)


# ---------------------------------------------------------------------------------------------
# The suite experiment


def _sweeps(nu_widths, nx_values, nx_sweep, nx_sweep_nu, nu_max_at_large_nx):
    """(sweep name, axis, [(n_u, n_x), ...]) for the N_u sweeps and the N_x sweep. N_u sweeps at
    N_x > 16 stop at ``nu_max_at_large_nx`` (cost)."""
    out = [
        (
            f"n_u@n_x={n_x}",
            "n_u",
            [(w, n_x) for w in nu_widths if n_x <= 16 or w <= nu_max_at_large_nx],
        )
        for n_x in nx_values
    ]
    if nx_sweep:
        out.append((f"n_x@n_u={nx_sweep_nu}", "n_x", [(nx_sweep_nu, n) for n in nx_sweep]))
    return out


_HUGE = 1e30  # a non-finite RMS (float overflow) is recorded as this, with finite = 0


def feature_learning(
    *,
    seed: int,
    quick: bool = False,
    parameterisation: Literal["sp", "mup", "mup_ssm", "mup_ssm_v1"] = "mup_ssm",
    parts: list[str] = ["coord", "transfer"],  # noqa: B006 (never mutated; the runner passes lists)
    transfer_for: list[str] = ["sp", "mup_ssm"],  # noqa: B006
    nu_widths: list[int] = [64, 128, 256, 512, 1024],  # noqa: B006 (never mutated; the runner passes lists)
    nx_values: list[int] = [16, 64],  # noqa: B006 (never mutated; the runner passes lists)
    nu_max_at_large_nx: int = 1024,
    nx_sweep: list[int] = [4, 16, 64, 128],  # noqa: B006 (never mutated; the runner passes lists)
    nx_sweep_nu: int = 128,
    optimizers: list[str] = ["adam", "sgd"],  # noqa: B006 (never mutated; the runner passes lists)
    discretisations: list[str] = ["zoh", "euler"],  # noqa: B006 (never mutated; the runner passes lists)
    sgd_discretisations: list[str] = ["zoh", "euler"],  # noqa: B006
    eta_adam: float = 1e-2,
    eta_sgd: float = 0.5,
    coord_steps: int = 3,
    batch: int = 4,
    length: int = 16,
    vocab: int = 32,
    transfer_widths: list[int] = [64, 128, 256, 512],  # noqa: B006 (never mutated; the runner passes lists)
    transfer_nx: int = 8,
    transfer_etas: list[float] = [1e-4, 3e-4, 1e-3, 3e-3, 1e-2, 3e-2, 1e-1],  # noqa: B006 (never mutated; the runner passes lists)
    transfer_steps: int = 200,
    n_inits: int = 1,
    top_widths: int = 2,
    record_inits: bool = False,
) -> list[dict]:
    """Coordinate check (part "coord") and learning-rate transfer (part "transfer", only for the
    parameterisations in ``transfer_for``) for one parameterisation and one seed. Every row has a
    ``part`` column.

    coord: per (optimiser, discretisation, sweep, width): rows ``rms_<q>`` (q in x, y, dx, dy, and
    the diagnostics y_ssm, dy_ssm) with columns layer, step, n_u, n_x. Per (optimiser,
    discretisation, sweep): rows ``slope`` (log-log slope of RMS vs the sweep's width, per
    quantity, layer, step), ``max_abs_slope`` (max |slope| over x, y, dx, dy, layers and steps),
    ``max_slope`` / ``min_slope`` (signed extremes) and ``init_xy_slope`` (max over layers of the
    step-0 slopes of x and y).
    ``n_inits``: independent initialisations per width (init 0 is the seed's key, so 1 reproduces
    the single-init measurement). ``rms_<q>`` is then the geometric mean over inits, ``slope`` the
    mean of the per-init slopes, and ``slope_se`` its standard error. ``top_slope`` is the local
    slope over the ``top_widths`` largest widths of the sweep (least squares, default the two largest),
    ``top_slope_se`` its standard error across inits (n_inits > 1), and ``max_abs_top_slope`` its
    max |.| over the four quantities, layers and steps. ``record_inits`` adds one ``rms_<q>_init``
    row per init (column ``init``), for analyses over sub-ranges of widths.
    transfer: Adam, ZOH: rows ``loss`` (final eval loss, NaN-free: diverged = 10 with
    diverged = 1) per (n_u, eta), ``best_eta`` per n_u, and ``opt_shift`` = log-grid steps between
    the optimal LR at the smallest and the largest width (signed, positive = larger LR).
    """
    if n_inits < 1:
        raise ValueError(f"n_inits must be >= 1, got {n_inits}")
    if top_widths < 2:
        raise ValueError(f"top_widths must be >= 2 (a slope needs two widths), got {top_widths}")
    if quick:
        # compile time dominates on CPU (one program per width): 3 widths, no N_x sweep, and no
        # LR transfer (its checks are INCONCLUSIVE under --quick)
        nu_widths, nx_values, nx_sweep, parts = nu_widths[:3], nx_values[:1], [], ["coord"]
    rng = np.random.default_rng(seed)
    trans = markov_chain(vocab, rng)
    key = jax.random.PRNGKey(seed)
    rows: list[dict] = []
    bad = set(parts) - {"coord", "transfer"}
    if bad:
        raise ValueError(f"parts must be a subset of ['coord', 'transfer'], got {sorted(bad)}")
    if "coord" in parts:
        base = dict(part="coord")  # the runner adds the grid's parameterisation column
        data = markov_batches(trans, coord_steps, batch, length, rng)
        probe = markov_batches(trans, 1, 4, length, rng)[0]
        sweeps = _sweeps(nu_widths, nx_values, nx_sweep, nx_sweep_nu, nu_max_at_large_nx)
        for sweep, axis, shapes in sweeps:
            for optimizer in optimizers:
                eta = eta_adam if optimizer == "adam" else eta_sgd
                discs = sgd_discretisations if optimizer == "sgd" else discretisations
                for disc in discs:
                    cols = dict(base, optimizer=optimizer, discretisation=disc, sweep=sweep)
                    # table[(quantity, layer, step)][width] = [RMS of init 0, 1, ...]
                    table: dict[tuple, dict[int, list[float]]] = {}
                    for n_u, n_x in shapes:
                        w = n_u if axis == "n_u" else n_x
                        per_init: dict[tuple, list[float]] = {}
                        for i in range(n_inits):
                            # same key for every width: the init differs only through the widths
                            # (init 0 uses the seed's key itself, as with n_inits = 1)
                            k_i = key if i == 0 else jax.random.fold_in(key, i)
                            res = coordinate_check(
                                parameterisation, n_u, n_x, key=k_i, data=data, probe=probe,
                                optimizer=optimizer, discretisation=disc, eta=eta,
                                steps=coord_steps, vocab=vocab,
                            )  # fmt: skip
                            for r in res:
                                v = r["value"] if np.isfinite(r["value"]) else _HUGE
                                kq = (r["quantity"], r["layer"], r["step"])
                                per_init.setdefault(kq, []).append(v)
                        for (quantity, layer, step), vs in per_init.items():
                            finite = all(v < _HUGE for v in vs)
                            # geometric mean over inits: its log-log slope is the mean of the
                            # per-init slopes
                            gm = float(np.exp(np.mean(np.log(vs)))) if min(vs) > 0 else 0.0
                            rows.append(
                                dict(
                                    cols,
                                    metric=f"rms_{quantity}",
                                    value=gm if finite else _HUGE,
                                    finite=int(finite),
                                    layer=layer,
                                    step=step,
                                    n_u=n_u,
                                    n_x=n_x,
                                )  # fmt: skip
                            )
                            table.setdefault((quantity, layer, step), {})[w] = vs
                            if record_inits:
                                for i, v in enumerate(vs):
                                    rows.append(
                                        dict(
                                            cols,
                                            metric=f"rms_{quantity}_init",
                                            value=v,
                                            finite=int(v < _HUGE),
                                            init=i,
                                            layer=layer,
                                            step=step,
                                            n_u=n_u,
                                            n_x=n_x,
                                        )  # fmt: skip
                                    )
                    slopes, top = {}, {}
                    for (q, layer, step), vals in sorted(table.items()):
                        ws = sorted(vals)
                        per = [fit_slope(ws, [vals[w][i] for w in ws]) for i in range(n_inits)]
                        sl = float(np.mean(per))
                        slopes[(q, layer, step)] = sl
                        qcols = dict(cols, quantity=q, layer=layer, step=step, axis=axis)
                        rows.append(dict(qcols, metric="slope", value=sl))
                        if n_inits > 1:
                            se = float(np.std(per, ddof=1) / math.sqrt(n_inits))
                            rows.append(dict(qcols, metric="slope_se", value=se))
                        # the local slope over the largest widths (a finite-width correction
                        # fades there; an exponent error does not)
                        wt = ws[-top_widths:]
                        per_top = [fit_slope(wt, [vals[w][i] for w in wt]) for i in range(n_inits)]
                        top[(q, layer, step)] = float(np.mean(per_top))
                        rows.append(dict(qcols, metric="top_slope", value=top[(q, layer, step)]))
                        if n_inits > 1:
                            se = float(np.std(per_top, ddof=1) / math.sqrt(n_inits))
                            rows.append(dict(qcols, metric="top_slope_se", value=se))
                    main = [v for (q, _, _), v in slopes.items() if q in QUANTITIES]
                    init_xy = [
                        v for (q, _, step), v in slopes.items() if q in ("x", "y") and step == 0
                    ]
                    main_top = [v for (q, _, _), v in top.items() if q in QUANTITIES]
                    for metric, value in (
                        ("max_abs_slope", max(abs(v) for v in main)),
                        ("max_abs_top_slope", max(abs(v) for v in main_top)),
                        ("max_slope", max(main)),
                        ("min_slope", min(main)),
                        ("init_xy_slope", max(init_xy)),
                    ):
                        rows.append(dict(cols, metric=metric, value=float(value), axis=axis))
    if "transfer" in parts and parameterisation in transfer_for:
        base = dict(part="transfer")
        data = markov_batches(trans, transfer_steps, 2 * batch, length, rng)
        eval_seqs = markov_batches(trans, 1, 64, length, rng)[0]
        best = {}
        for n_u in transfer_widths:
            losses = lr_transfer(
                parameterisation, n_u, transfer_nx, key=key, data=data, eval_seqs=eval_seqs,
                etas=transfer_etas, vocab=vocab,
            )  # fmt: skip
            for eta, loss in zip(transfer_etas, losses):
                ok = bool(np.isfinite(loss))
                rows.append(
                    dict(
                        base,
                        metric="loss",
                        value=float(loss) if ok else _CAP,
                        diverged=int(not ok),
                        n_u=n_u,
                        eta=eta,
                    )  # fmt: skip
                )
            filled = np.where(np.isfinite(losses), losses, np.inf)
            best[n_u] = int(np.argmin(filled))
            rows.append(
                dict(base, metric="best_eta", value=float(transfer_etas[best[n_u]]), n_u=n_u)
            )
        lo, hi = min(transfer_widths), max(transfer_widths)
        shift = best[hi] - best[lo]
        rows.append(dict(base, metric="opt_shift", value=float(shift)))
        rows.append(dict(base, metric="abs_opt_shift", value=float(abs(shift))))
    return rows


# ---------------------------------------------------------------------------------------------
# Slopes over sub-ranges of widths (the v4 analysis; needs record_inits rows)


def range_slopes(df, lo: tuple[int, int], hi: tuple[int, int]):
    """Slopes of RMS against N_u over two sub-ranges of widths, from the per-init rows
    (``rms_<q>_init``, written with ``record_inits``) of N_u sweeps in a run's table.

    ``lo`` and ``hi`` are inclusive (min, max) width ranges. Returns two DataFrames:

    - ``entries``: per (optimizer, discretisation, sweep, quantity, layer, step): ``s_lo``, ``s_hi``
      (mean over inits of the per-init least-squares slope) and their standard errors across inits
      ``se_lo``, ``se_hi``;
    - ``means``: per (optimizer, discretisation, sweep, quantity): the same averaged over layers
      and steps (steps >= 1 for the updates dx, dy), the standard error taken across inits of the
      per-init averages, and ``max_abs_hi`` = max over entries of |s_hi|.
    """
    import pandas as pd

    d = df[
        df["metric"].astype(str).str.endswith("_init")
        & df["sweep"].astype(str).str.startswith("n_u")
    ]
    if not len(d):
        raise ValueError("no per-init rows (rms_<q>_init): run with record_inits = true")
    d = d.assign(quantity=d["metric"].str[len("rms_") : -len("_init")])
    d = d[d["quantity"].isin(QUANTITIES) & ~((d["quantity"].isin(("dx", "dy"))) & (d["step"] == 0))]
    keys = ["optimizer", "discretisation", "sweep", "quantity", "layer", "step"]
    per_init = []
    for k, g in d.groupby([*keys, "init"]):
        row = dict(zip([*keys, "init"], k))
        for name, (a, b) in (("lo", lo), ("hi", hi)):
            sel = g[(g["n_u"] >= a) & (g["n_u"] <= b)].sort_values("n_u")
            if sel["n_u"].nunique() < 2:
                raise ValueError(f"range {name} = {(a, b)} holds fewer than two widths")
            row[f"s_{name}"] = fit_slope(sel["n_u"].to_numpy(), sel["value"].to_numpy())
        per_init.append(row)
    pi = pd.DataFrame(per_init)

    def se(x):
        return float(x.std(ddof=1) / np.sqrt(len(x))) if len(x) > 1 else float("nan")

    entries = (
        pi.groupby(keys)
        .agg(s_lo=("s_lo", "mean"), se_lo=("s_lo", se), s_hi=("s_hi", "mean"), se_hi=("s_hi", se))
        .reset_index()
    )
    qkeys = ["optimizer", "discretisation", "sweep", "quantity"]
    avg = pi.groupby([*qkeys, "init"])[["s_lo", "s_hi"]].mean().reset_index()
    means = avg.groupby(qkeys).agg(
        s_lo=("s_lo", "mean"), se_lo=("s_lo", se), s_hi=("s_hi", "mean"), se_hi=("s_hi", se)
    )
    means["max_abs_hi"] = entries.groupby(qkeys)["s_hi"].apply(lambda s: float(s.abs().max()))
    return entries, means.reset_index()


# ---------------------------------------------------------------------------------------------
# Figures from a run directory


def plot_run(run_dir: str, out_dir: str | None = None, *, all_layers: bool = False) -> list[str]:
    """Draw the coordinate-check grids (log RMS vs log width, one panel per quantity and
    parameterisation, one line per step, mean over seeds; the last layer, or every layer with
    ``all_layers``) and the LR-transfer plot (loss vs LR per width, one panel per
    parameterisation) from ``run_dir``/table.csv."""
    import matplotlib

    matplotlib.use("Agg")
    from pathlib import Path

    import matplotlib.pyplot as plt
    import pandas as pd

    out = Path(out_dir or run_dir)
    df = pd.read_csv(Path(run_dir) / "table.csv")
    df = df[df["experiment"] == "feature-learning"]
    written = []
    coord = df[df["metric"].astype(str).str.startswith("rms_")]
    params = [p for p in PARAMETERISATIONS if p in set(coord["parameterisation"])]
    quantities = list(QUANTITIES + DIAGNOSTICS)
    for (opt, disc, sweep), g in coord.groupby(["optimizer", "discretisation", "sweep"]):
        axis = "n_u" if sweep.startswith("n_u") else "n_x"
        layers = sorted(g["layer"].dropna().unique())
        for layer in layers if all_layers else layers[-1:]:
            fig, axes = plt.subplots(
                len(params), len(quantities), figsize=(3.0 * len(quantities), 2.6 * len(params)),
                squeeze=False,
            )  # fmt: skip
            gl = g[g["layer"] == layer]
            for i, p in enumerate(params):
                for j, q in enumerate(quantities):
                    ax = axes[i, j]
                    sel = gl[(gl["parameterisation"] == p) & (gl["metric"] == f"rms_{q}")]
                    for step, gs in sel.groupby("step"):
                        s = gs.groupby(axis)["value"].mean().sort_index()
                        ax.plot(
                            s.index,
                            s.values,
                            marker="o",
                            color=f"C{int(step)}",
                            label=f"step {int(step)}",
                        )
                    ax.set_xscale("log", base=2)
                    ax.set_yscale("log")
                    ax.set_title(f"{p}: {q}", fontsize=9)
                    ax.grid(True, which="both", alpha=0.3)
                    if i == len(params) - 1:
                        ax.set_xlabel(axis)
            axes[0, 0].legend(fontsize=7)
            fig.suptitle(
                f"coordinate check: RMS vs {axis} ({opt}, {disc}, {sweep}, layer {int(layer)})"
            )
            fig.tight_layout()
            name = f"coord-{opt}-{disc}-{sweep.replace('@', '-at-').replace('=', '')}-layer{int(layer)}.png"
            fig.savefig(out / name, dpi=90)
            plt.close(fig)
            written.append(str(out / name))
    tr = df[df["metric"] == "loss"]
    if len(tr):
        tparams = [p for p in PARAMETERISATIONS if p in set(tr["parameterisation"])]
        fig, axes = plt.subplots(1, len(tparams), figsize=(4.5 * len(tparams), 3.6), squeeze=False)
        for ax, p in zip(axes[0], tparams):
            for n_u, g in tr[tr["parameterisation"] == p].groupby("n_u"):
                s = g.groupby("eta")["value"].mean().sort_index()
                ax.plot(s.index, s.values, marker="o", label=f"n_u={int(n_u)}")
            ax.set_xscale("log")
            ax.set_title(f"{p}: eval loss vs base LR (Adam)", fontsize=9)
            ax.set_xlabel("base learning rate")
            ax.set_ylabel("final eval loss (diverged = 10)")
            ax.set_ylim(top=min(float(tr["value"].max()) + 0.1, 4.0))
            ax.grid(True, which="both", alpha=0.3)
            ax.legend(fontsize=7)
        fig.tight_layout()
        fig.savefig(out / "lr-transfer.png", dpi=90)
        plt.close(fig)
        written.append(str(out / "lr-transfer.png"))
    return written


_USAGE = """usage: python -m theory.feature_learning plot RUN_DIR [OUT_DIR] [--all-layers]
       python -m theory.feature_learning ranges RUN_DIR LO_MIN LO_MAX HI_MIN HI_MAX"""

if __name__ == "__main__":
    import sys
    from pathlib import Path

    argv = sys.argv[1:]
    every = "--all-layers" in argv
    argv = [a for a in argv if a != "--all-layers"]
    if len(argv) >= 2 and argv[0] == "plot":
        for path in plot_run(argv[1], argv[2] if len(argv) > 2 else None, all_layers=every):
            print(path)
    elif len(argv) == 6 and argv[0] == "ranges":
        import pandas as pd

        lo_hi = [int(a) for a in argv[2:]]
        ent, mean = range_slopes(
            pd.read_csv(Path(argv[1]) / "table.csv"), tuple(lo_hi[:2]), tuple(lo_hi[2:])
        )
        with pd.option_context("display.width", 200, "display.max_rows", 1000):
            print(mean.round(3).to_string(index=False))
            print()
            print(ent.round(3).to_string(index=False))
    else:
        print(_USAGE)
        sys.exit(2)
