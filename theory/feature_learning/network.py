"""A 3-layer network of Mamba layers (expand 2, low-rank Δ, S4D-real A) whose forward pass
exposes the latent states x (the scan's h, shape (L, 2 N_u, N_x)) and the SSM outputs y."""

from __future__ import annotations

import math
from typing import Literal

import equinox as eqx
import jax
import jax.numpy as jnp
from jaxtyping import Array, Float, Int

from ssmbench.scan import linear_recurrence

from .parameterizations import EXPAND, TENSORS, dt_rank, init_std, lr_multiplier


def _rmsnorm(z: Float[Array, "L d"]) -> Float[Array, "L d"]:
    """RMSNorm without a gain: ``z`` over the RMS of its last axis (eps 1e-6)."""
    return z * jax.lax.rsqrt(jnp.mean(z * z, axis=-1, keepdims=True) + 1e-6)


class SSMLayer(eqx.Module):
    """Mamba's block (expand 2): pre-RMSNorm, in_proj to (u, gate), depthwise causal conv + SiLU,
    selective scan with input-dependent B, C and a low-rank Δ (x_proj -> dt_proj), S4D-real A,
    skip D, SiLU gate, out_proj, residual. E = d_inner = 2 d, R = dt_rank(E)."""

    in_proj: Float[Array, "2E d"]
    conv: Float[Array, "E k"]
    W_B: Float[Array, "n E"]
    W_C: Float[Array, "n E"]
    W_dt_down: Float[Array, "R E"]
    W_dt_up: Float[Array, "E R"]
    b_delta: Float[Array, " E"]
    A_log: Float[Array, "E n"]
    D: Float[Array, " E"]
    out_proj: Float[Array, "d E"]

    def __call__(
        self, z: Float[Array, "L d"], euler: bool | Array = False
    ) -> tuple[
        Float[Array, "L d"], Float[Array, "L E n"], Float[Array, "L E"], Float[Array, "L E"]
    ]:
        """Returns (new residual stream, latent states x = h of shape (L, E, n), SSM output
        y = C·h + D u, and its state part y_ssm = C·h).

        ``euler`` (may be traced, so one compiled program serves both): A_bar = exp(ΔA) in both;
        False = exact ZOH, B_bar = (exp(ΔA) - 1)/A * B; True = Euler on B, B_bar = Δ B (what
        Mamba's selective-scan kernel computes). Forward Euler on A, 1 + ΔA, is unstable for
        (n+1)Δ > 2, i.e. for N_x > 20 at Mamba's largest initial Δ = 0.1, whatever the widths.
        """
        u, gate = self.inputs(z)
        B = u @ self.W_B.T  # (L, n)
        C = u @ self.W_C.T  # (L, n)
        dt_low = u @ self.W_dt_down.T  # (L, R)
        delta = jax.nn.softplus(dt_low @ self.W_dt_up.T + self.b_delta[None, :])  # (L, E)
        A = -jnp.exp(self.A_log)  # (E, n)
        dA = delta[:, :, None] * A[None]  # (L, E, n)
        a_bar = jnp.exp(dA)
        b_coef = jnp.where(euler, delta[:, :, None], jnp.expm1(dA) / A[None])
        b_bar = b_coef * B[:, None, :] * u[:, :, None]  # (L, E, n)
        # sequential: compiles in a fraction of the associative scan's time, and the coordinate
        # check compiles one program per width, so compile time dominates on CPU
        h = linear_recurrence(a_bar, b_bar, method="sequential")
        y_ssm = jnp.einsum("ldn,ln->ld", h, C)
        y = y_ssm + self.D[None, :] * u
        out = (y * jax.nn.silu(gate)) @ self.out_proj.T
        return z + out, h, y, y_ssm

    def inputs(self, z: Float[Array, "L d"]) -> tuple[Float[Array, "L E"], Float[Array, "L E"]]:
        """(u, gate): the scan's input u = SiLU(causal depthwise conv(in_proj(RMSNorm(z)))) and
        the gate's pre-activation."""
        e = self.in_proj.shape[0] // 2
        ug = _rmsnorm(z) @ self.in_proj.T
        u_pre, gate = ug[:, :e], ug[:, e:]
        k = self.conv.shape[1]
        padded = jnp.pad(u_pre, ((k - 1, 0), (0, 0)))
        windows = jnp.stack([padded[j : j + u_pre.shape[0]] for j in range(k)], axis=-1)
        return jax.nn.silu(jnp.sum(windows * self.conv[None], axis=-1)), gate


class SSMNet(eqx.Module):
    """Embedding -> n_layers SSMLayer -> RMSNorm -> readout (next-token logits).

    ``layers`` is ONE :class:`SSMLayer` whose arrays carry a leading layer axis; the forward pass
    scans over it (one compiled layer body instead of n_layers: compile time matters here)."""

    embedding: Float[Array, "V d"]
    layers: SSMLayer
    readout: Float[Array, "V d"]

    def __call__(
        self, tokens: Int[Array, " L"], euler: bool | Array = False
    ) -> tuple[Float[Array, "L V"], Float[Array, "layers L E n"], Float[Array, "layers L E"]]:
        """Returns (logits, per-layer latent states x, per-layer SSM outputs y = C·h + D u).
        ``euler``: discretization switch, see :meth:`SSMLayer.__call__`."""
        if tokens.ndim != 1:
            raise ValueError(f"tokens must have shape (L,), got {tokens.shape}")

        logits, xs, ys, _ = self.states(tokens, euler)
        return logits, xs, ys

    def states(self, tokens: Int[Array, " L"], euler: bool | Array = False):
        """Like ``__call__`` but also returns the per-layer state part y_ssm = C·h of y."""

        def body(z, layer):
            """One layer: the new residual stream, and its states and outputs."""
            z, h, y, y_ssm = layer(z, euler)
            return z, (h, y, y_ssm)

        z, (xs, ys, yss) = jax.lax.scan(body, self.embedding[tokens], self.layers)
        return _rmsnorm(z) @ self.readout.T, xs, ys, yss

    def layer_inputs(
        self, tokens: Int[Array, " L"], euler: bool | Array = False
    ) -> Float[Array, "layers L E"]:
        """The scan input u of every layer (see :meth:`SSMLayer.inputs`)."""

        def body(z, layer):
            """One layer: the new residual stream, and the layer's scan input."""
            u, _ = layer.inputs(z)
            z, *_ = layer(z, euler)
            return z, u

        _, us = jax.lax.scan(body, self.embedding[tokens], self.layers)
        return us


def init_net(
    parameterization: str,
    n_u: int,
    n_x: int,
    *,
    key: Array,
    vocab: int = 32,
    n_layers: int = 3,
    kernel: int = 4,
    dtype=jnp.float32,
    discretization: str = "zoh",
) -> SSMNet:
    """Initialize an :class:`SSMNet` with the init stds of ``parameterization`` (under
    ``discretization``, whose exponents may differ) at (n_u, n_x).

    Deterministic parts, Mamba's and the same for every parameterization: S4D-real A,
    A_log[i, n] = log(n + 1) (so A's spectrum grows with N_x), Δ bias = softplus^{-1}(dt) with dt
    log-uniform in [1e-3, 1e-1], D = 1. The Gaussian matrices have std 1/sqrt(fan-in) at the base
    width (PyTorch's uniform init, which Mamba keeps, has 1/sqrt(3 fan-in): a constant factor).
    """
    if n_u < 1 or n_x < 1:
        raise ValueError(f"widths must be positive, got n_u={n_u}, n_x={n_x}")
    e = EXPAND * n_u
    r = dt_rank(e)

    def normal(k, tensor, shape):
        """Gaussian init of ``tensor`` with its std under the parameterization."""
        std = init_std(
            parameterization, tensor, n_u, n_x, vocab=vocab, kernel=kernel,
            discretization=discretization,
        )  # fmt: skip
        return (std * jax.random.normal(k, shape)).astype(dtype)

    keys = jax.random.split(key, n_layers + 2)
    a_log = jnp.broadcast_to(jnp.log(jnp.arange(1, n_x + 1, dtype=jnp.float32)), (e, n_x))
    layers = []
    for i in range(n_layers):
        ks = jax.random.split(keys[i], 8)
        dt = jnp.exp(jax.random.uniform(ks[6], (e,), minval=math.log(1e-3), maxval=math.log(1e-1)))
        layers.append(
            SSMLayer(
                in_proj=normal(ks[0], "in_proj", (2 * e, n_u)),
                conv=normal(ks[1], "conv", (e, kernel)),
                W_B=normal(ks[2], "W_B", (n_x, e)),
                W_C=normal(ks[3], "W_C", (n_x, e)),
                W_dt_down=normal(ks[4], "W_dt_down", (r, e)),
                W_dt_up=normal(ks[5], "W_dt_up", (e, r)),
                b_delta=(dt + jnp.log(-jnp.expm1(-dt))).astype(dtype),  # softplus^{-1}(dt)
                A_log=a_log.astype(dtype),
                D=jnp.ones((e,), dtype),
                out_proj=normal(ks[7], "out_proj", (n_u, e)),
            )
        )
    return SSMNet(
        embedding=normal(keys[-2], "embedding", (vocab, n_u)),
        layers=jax.tree_util.tree_map(lambda *a: jnp.stack(a), *layers),
        readout=normal(keys[-1], "readout", (vocab, n_u)),
    )


def lr_tree(
    net: SSMNet,
    parameterization: str,
    optimizer: Literal["adam", "sgd"],
    n_u: int,
    n_x: int,
    discretization: str = "zoh",
) -> SSMNet:
    """A pytree shaped like ``net`` whose leaves are the per-tensor LR multipliers (scalars)."""

    def mult(t):
        """The LR multiplier of tensor ``t`` as a float32 scalar."""
        m = lr_multiplier(parameterization, t, optimizer, n_u, n_x, discretization)
        return jnp.asarray(m, jnp.float32)

    layers = SSMLayer(**{t: mult(t) for t in TENSORS[1:-1]})
    return SSMNet(embedding=mult("embedding"), layers=layers, readout=mult("readout"))
