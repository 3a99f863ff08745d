"""A thin 3-layer Mamba-style network whose forward pass exposes the latent states x (the scan's
h, shape (L, N_u, N_x)) and the SSM outputs y."""

from __future__ import annotations

import math
from typing import Literal

import equinox as eqx
import jax
import jax.numpy as jnp
from jaxtyping import Array, Float, Int

from ssmbench.scan import linear_recurrence

from .parameterizations import TENSORS, init_std, lr_multiplier


def _rmsnorm(z: Float[Array, "L d"]) -> Float[Array, "L d"]:
    """RMSNorm without a gain: ``z`` over the RMS of its last axis (eps 1e-6)."""
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
        delta = jax.nn.softplus(u @ self.W_delta.T + self.b_delta[None, :])  # (L, d)
        A = -jnp.exp(self.A_log)  # (d, n)
        dA = delta[:, :, None] * A[None]  # (L, d, n)
        a_bar = jnp.where(euler, 1.0 + dA, jnp.exp(dA))
        b_coef = jnp.where(euler, delta[:, :, None], jnp.expm1(dA) / A[None])
        b_bar = b_coef * B[:, None, :] * u[:, :, None]  # (L, d, n)
        # sequential: compiles in a fraction of the associative scan's time, and the coordinate
        # check compiles one program per width, so compile time dominates on CPU
        h = linear_recurrence(a_bar, b_bar, method="sequential")
        y_ssm = jnp.einsum("ldn,ln->ld", h, C)
        y = y_ssm + self.D[None, :] * u
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
    ) -> tuple[Float[Array, "L V"], Float[Array, "layers L d n"], Float[Array, "layers L d"]]:
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
    ) -> Float[Array, "layers L d"]:
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
) -> SSMNet:
    """Initialize an :class:`SSMNet` with the init stds of ``parameterization`` at (n_u, n_x).

    Deterministic parts, the same for every parameterization: A = -linspace(1, 8, n_x) per channel
    (an N_x-independent spectrum, so Euler stays stable: Δ|A| <= 0.8 at init), Δ bias =
    softplus^{-1}(dt) with dt log-uniform in [1e-3, 1e-1] (Mamba), D = 1.
    """
    if n_u < 1 or n_x < 1:
        raise ValueError(f"widths must be positive, got n_u={n_u}, n_x={n_x}")

    def normal(k, tensor, shape):
        """Gaussian init of ``tensor`` with its std under the parameterization."""
        std = init_std(parameterization, tensor, n_u, n_x, vocab=vocab, kernel=kernel)
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
    net: SSMNet, parameterization: str, optimizer: Literal["adam", "sgd"], n_u: int, n_x: int
) -> SSMNet:
    """A pytree shaped like ``net`` whose leaves are the per-tensor LR multipliers (scalars)."""

    def mult(t):
        """The LR multiplier of tensor ``t`` as a float32 scalar."""
        return jnp.asarray(lr_multiplier(parameterization, t, optimizer, n_u, n_x), jnp.float32)

    layers = SSMLayer(**{t: mult(t) for t in TENSORS[1:-1]})
    return SSMNet(embedding=mult("embedding"), layers=layers, readout=mult("readout"))
