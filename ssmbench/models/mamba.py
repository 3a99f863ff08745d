"""Mamba block (S6 selective SSM), with switches for the theory checks.

Gu & Dao, "Mamba: Linear-Time Sequence Modeling with Selective State Spaces", 2023
(arXiv 2312.00752), following the reference implementation ``mamba_simple.Mamba`` and
``selective_scan_ref``:

    (x, z) = in_proj(u)                     # (L, 2 d_inner)
    x = silu(causal_depthwise_conv(x))
    (δ_r, B, C) = x_proj(x)                 # δ_r: (L, dt_rank), B, C: (L, n)
    δ = softplus(dt_proj.weight δ_r + dt_proj.bias)
    h_t = exp(δ_t A) h_{t-1} + δ_t B_t x_t,  y_t = <h_t, C_t>  (2 Re for complex A)
    out = out_proj((y + D x) * silu(z))

Switches: ``selective_delta``, ``selective_B``, ``selective_C`` (False makes that parameter
input-independent: δ = softplus(dt_proj.bias), a learned ``B`` / ``C`` of shape (d_inner, n)),
and ``complex_A`` (A = −exp(A_log) + i A_imag with A_imag = π n, B and C complex).
"""

from __future__ import annotations

import math
from typing import final

import equinox as eqx
import jax
import jax.numpy as jnp
from jaxtyping import Array, Float, Inexact, PRNGKeyArray

from .._validate import check_sizes
from ..scan import Method, selective_scan
from ._base import AbstractSequenceLayer
from ._common import cast_floats, check_input, complex_dtype, mul, to_complex

__all__ = ["Mamba"]


def _linear(key, d_in, d_out, bias):
    """An ``eqx.nn.Linear(d_in, d_out)``, with or without bias."""
    return eqx.nn.Linear(d_in, d_out, use_bias=bias, key=key)


@final
class Mamba(AbstractSequenceLayer):
    """The full Mamba block, (L, d_model) -> (L, d_model), unbatched.

    Args:
        d_model: model width.
        d_state: SSM state size n (default 16).
        d_conv: causal depthwise convolution width (default 4).
        expand: d_inner = expand * d_model (default 2).
        dt_rank: rank of the δ projection; default ``ceil(d_model / 16)``.
        dt_min, dt_max, dt_floor: ``dt ~ logU[dt_min, dt_max]`` clamped to ``>= dt_floor``;
            ``dt_proj.bias = softplus⁻¹(dt)``.
        selective_delta, selective_B, selective_C: which of δ, B, C depend on the input.
        complex_A: complex diagonal A (and complex B, C); the scan output is ``2 Re <h, C>``.
        method: selective-scan method.

    Fields (plain, for re-initialisation per parameterisation): ``in_proj``, ``conv``,
    ``x_proj`` (None when nothing is selective), ``dt_proj``, ``A_log``, ``A_imag`` (complex
    only), ``B`` / ``C`` (only when not selective), ``D``, ``out_proj``.
    """

    in_proj: eqx.nn.Linear
    conv: eqx.nn.Conv1d
    x_proj: eqx.nn.Linear | None
    dt_proj: eqx.nn.Linear
    A_log: Float[Array, "d_inner n"]
    A_imag: Float[Array, "d_inner n"] | None
    B: Float[Array, "d_inner n"] | Float[Array, "d_inner n 2"] | None
    C: Float[Array, "d_inner n"] | Float[Array, "d_inner n 2"] | None
    D: Float[Array, " d_inner"]
    out_proj: eqx.nn.Linear
    d_model: int = eqx.field(static=True)
    d_inner: int = eqx.field(static=True)
    d_state: int = eqx.field(static=True)
    d_conv: int = eqx.field(static=True)
    dt_rank: int = eqx.field(static=True)
    selective_delta: bool = eqx.field(static=True)
    selective_B: bool = eqx.field(static=True)
    selective_C: bool = eqx.field(static=True)
    complex_A: bool = eqx.field(static=True)
    method: str = eqx.field(static=True)

    def __init__(
        self,
        d_model: int,
        d_state: int = 16,
        d_conv: int = 4,
        expand: int = 2,
        dt_rank: int | None = None,
        *,
        dt_min: float = 1e-3,
        dt_max: float = 1e-1,
        dt_floor: float = 1e-4,
        selective_delta: bool = True,
        selective_B: bool = True,
        selective_C: bool = True,
        complex_A: bool = False,
        method: Method = "auto",
        key: PRNGKeyArray,
    ):
        check_sizes(d_model=d_model, d_state=d_state, d_conv=d_conv, expand=expand, dt_rank=dt_rank)
        self.d_model, self.d_state, self.d_conv = d_model, d_state, d_conv
        self.d_inner = di = expand * d_model
        self.dt_rank = dt_rank or math.ceil(d_model / 16)
        self.selective_delta, self.selective_B, self.selective_C = (
            selective_delta,
            selective_B,
            selective_C,
        )
        self.complex_A, self.method = complex_A, method
        ks = jax.random.split(key, 8)
        self.in_proj = _linear(ks[0], d_model, 2 * di, False)
        self.conv = eqx.nn.Conv1d(
            di, di, d_conv, padding=((d_conv - 1, 0),), groups=di, use_bias=True, key=ks[1]
        )
        nbc = 2 * d_state if complex_A else d_state
        n_x = self.dt_rank * selective_delta + nbc * selective_B + nbc * selective_C
        self.x_proj = _linear(ks[2], di, n_x, False) if n_x else None
        dt_proj = _linear(ks[3], self.dt_rank, di, True)
        lim = self.dt_rank**-0.5
        w = jax.random.uniform(ks[4], (di, self.dt_rank), minval=-lim, maxval=lim)
        dt = jnp.exp(
            jax.random.uniform(ks[5], (di,), minval=math.log(dt_min), maxval=math.log(dt_max))
        )
        dt = jnp.maximum(dt, dt_floor)
        inv_dt = dt + jnp.log(-jnp.expm1(-dt))  # softplus^{-1}
        self.dt_proj = eqx.tree_at(lambda m: (m.weight, m.bias), dt_proj, (w, inv_dt))
        self.A_log = jnp.log(jnp.broadcast_to(jnp.arange(1, d_state + 1.0), (di, d_state)))
        self.A_imag = (
            jnp.broadcast_to(jnp.pi * jnp.arange(d_state, dtype=self.A_log.dtype), (di, d_state))
            + 0.0
            if complex_A
            else None
        )
        shape = (di, d_state, 2) if complex_A else (di, d_state)
        # Input-independent B, C: S4D convention, B = 1, C ~ N(0, 1) (per real component 1/2
        # variance when complex).
        if selective_B:
            self.B = None
        else:
            self.B = jnp.ones(shape) if not complex_A else jnp.ones(shape).at[..., 1].set(0.0)
        if selective_C:
            self.C = None
        else:
            scale = math.sqrt(0.5) if complex_A else 1.0
            self.C = scale * jax.random.normal(ks[6], shape)
        self.D = jnp.ones((di,))
        self.out_proj = _linear(ks[7], di, d_model, False)

    # -------------------------------------------------------------------------------------
    def _A(self, dtype):
        """The diagonal A = −exp(A_log) (+ i A_imag) in the working dtype ``dtype``."""
        A = -jnp.exp(self.A_log.astype(dtype))
        if self.complex_A:
            A = to_complex(A, self.A_imag.astype(dtype))
        return A

    def _to_complex(self, v):
        """Real/imaginary pairs (..., 2) to complex (...) when ``complex_A``; else ``v``."""
        return to_complex(v[..., 0], v[..., 1]) if self.complex_A else v

    def _ssm_params(self, xc):
        """δ (pre-softplus), B, C from the conv output xc (L, d_inner)."""
        L = xc.shape[0]
        n, r = self.d_state, self.dt_rank
        nbc = 2 * n if self.complex_A else n
        proj = jax.vmap(self.x_proj)(xc) if self.x_proj is not None else jnp.zeros((L, 0), xc.dtype)
        i = 0
        if self.selective_delta:
            delta = jax.vmap(lambda v: self.dt_proj.weight @ v)(proj[:, :r])
            i = r
        else:
            delta = jnp.zeros((L, self.d_inner), xc.dtype)

        def seg(j):
            v = proj[:, j : j + nbc]
            return self._to_complex(v.reshape(L, n, 2)) if self.complex_A else v

        if self.selective_B:
            B = seg(i)
            i += nbc
        else:
            B = self._to_complex(self.B)
        C = seg(i) if self.selective_C else self._to_complex(self.C)
        return delta, B, C

    def __call__(
        self, x: Float[Array, "L d_model"], *, return_aux: bool = False
    ) -> Float[Array, "L d_model"] | tuple[Float[Array, "L d_model"], dict[str, Array]]:
        """Apply the block to one sequence.

        With ``return_aux=True`` also returns a dict with ``u`` (scan input after conv and
        silu, (L, d_inner)), ``delta`` (after softplus, (L, d_inner)), ``B``, ``C``, ``y_ssm``
        (the scan output ``<h_t, C_t>`` before the D skip and gate, (L, d_inner)) and
        ``state`` (the last SSM state h_{L-1}, (d_inner, n)).
        """
        check_input("x", x, self.d_model)
        m = cast_floats(self, x.dtype)
        xz = jax.vmap(m.in_proj)(x)
        xs, z = xz[:, : self.d_inner], xz[:, self.d_inner :]
        xc = jax.nn.silu(_causal_depthwise_conv(m.conv, xs))
        delta, B, C = m._ssm_params(xc)
        A = m._A(x.dtype)
        delta = jax.nn.softplus(delta + m.dt_proj.bias[None, :])
        y_ssm, state = selective_scan(
            xc,
            delta,
            A,
            B,
            C,
            delta_softplus=False,
            method=self.method,
            selective_B=self.selective_B,
            selective_C=self.selective_C,
            return_state=True,
        )
        y = (y_ssm + xc * m.D[None, :]) * jax.nn.silu(z)
        out = jax.vmap(m.out_proj)(y)
        if return_aux:
            aux = {"u": xc, "delta": delta, "B": B, "C": C, "y_ssm": y_ssm, "state": state}
            return out, aux
        return out

    def init_state(
        self, dtype=None
    ) -> tuple[Float[Array, "k d_inner"], Inexact[Array, "d_inner n"]]:
        """Zero recurrent state: (last d_conv−1 conv inputs, SSM state)."""
        dtype = dtype or self.A_log.dtype
        sdt = complex_dtype(dtype) if self.complex_A else dtype
        return (
            jnp.zeros((self.d_conv - 1, self.d_inner), dtype),
            jnp.zeros((self.d_inner, self.d_state), sdt),
        )

    def step(
        self,
        state: tuple[Float[Array, "k d_inner"], Inexact[Array, "d_inner n"]],
        x_t: Float[Array, " d_model"],
    ) -> tuple[
        tuple[Float[Array, "k d_inner"], Inexact[Array, "d_inner n"]], Float[Array, " d_model"]
    ]:
        """One recurrent step; ``state`` as returned by :meth:`init_state`. Returns (state, y_t)."""
        m = cast_floats(self, x_t.dtype)
        conv_buf, h = state
        xz = m.in_proj(x_t)
        xs, z = xz[: self.d_inner], xz[self.d_inner :]
        window = jnp.concatenate([conv_buf, xs[None]], 0)  # (d_conv, d_inner), oldest first
        w = m.conv.weight[:, 0, :]  # (d_inner, d_conv)
        xc = jax.nn.silu(jnp.sum(window.T * w, -1) + m.conv.bias[:, 0])
        delta, B, C = m._ssm_params(xc[None])
        delta = jax.nn.softplus(delta[0] + m.dt_proj.bias)
        B = B[0] if self.selective_B else B
        C = C[0] if self.selective_C else C
        A = m._A(x_t.dtype)
        Bm = B[None, :] if self.selective_B else B
        Cm = C[None, :] if self.selective_C else C
        h = mul(jnp.exp(mul(delta[:, None], A)), h) + mul((delta * xc)[:, None], Bm)
        y = jnp.sum(h * Cm, -1)
        y = 2 * y.real if self.complex_A else y
        y = (y.astype(x_t.dtype) + xc * m.D) * jax.nn.silu(z)
        return (window[1:], h), m.out_proj(y)


def _causal_depthwise_conv(conv: eqx.nn.Conv1d, x: Float[Array, "L d"]) -> Float[Array, "L d"]:
    """``conv`` (depthwise, left padding ``k - 1``) applied to x (L, d), as a sum of ``k``
    shifted copies. Same result as ``conv(x.T).T``, but XLA's CPU backend runs a grouped
    convolution with one group per channel about 40x slower than this (measured at L = 64,
    d = 64, batch 64)."""
    w = conv.weight[:, 0, :]  # (d, k): tap j multiplies x[t - (k - 1) + j]
    k, L = w.shape[1], x.shape[0]
    xp = jnp.pad(x, ((k - 1, 0), (0, 0)))
    y = sum(xp[j : j + L] * w[None, :, j] for j in range(k))
    return y + conv.bias[None, :, 0]
