"""Chimera-style 2D state-space model over (time, variates).

Behrouz, Santacatterina, Zabih, "Chimera: Effectively Modeling Multivariate Time Series with
2-Dimensional State Space Models", NeurIPS 2024 (arXiv 2406.04320). The recursion below is
reconstructed from secondary sources (see docs/models.md): per mode (diagonal, so modes
decouple) and per cell (v, t),

    h1[v,t] = a1 h1[v,t−1] + a2 h2[v,t−1] + b1 x[v,t]      (time direction)
    h2[v,t] = a3 h1[v−1,t] + a4 h2[v−1,t] + b2 x[v,t]      (variate direction)
    y[v,t]  = Re Σ_modes (c1 h1 + c2 h2)

This is a Roesser 2D system. With input-independent coefficients its 2D impulse response has
the closed form (generating function ``1/Δ(x, y)``, ``Δ = (1 − a1 y)(1 − a4 x) − a2 a3 x y``)

    G[i, j] = Σ_{k=0}^{min(i,j)} (a2 a3)^k C(i,k) C(j,k) a4^(i−k) a1^(j−k)
    h1 = b1 G[i,j] − b1 a4 G[i−1,j] + a2 b2 G[i,j−1]
    h2 = b2 G[i,j] − b2 a1 G[i,j−1] + a3 b1 G[i−1,j]

(i: variate lag, j: time lag), and the layer is a causal 2D convolution (FFT, padded to 2V×2T).

Discretisation of the continuous parameters with separate steps Δ1 (time) and Δ2 (variate):
``a1 = exp(Δ1 A1)``, ``a2 = Δ1 A2``, ``b1 = Δ1 B1``; ``a4 = exp(Δ2 A4)``, ``a3 = Δ2 A3``,
``b2 = Δ2 B2`` (ZOH on the diagonal transitions, Euler on the couplings and inputs; our
choice, unconfirmed against the authors' code). Several heads with different Δ1 ranges
(small: long-term progression; large: seasonal patterns) are summed. ``selective=True``
makes Δ1 and Δ2 input-dependent (``softplus(w x[v,t] + bias)`` per head); then only the
recursion applies (cost linear in V·T).
"""

from __future__ import annotations

import math
from typing import final

import equinox as eqx
import jax
import jax.numpy as jnp
from jaxtyping import Array, Complex, Float, Inexact, PRNGKeyArray

from .._validate import check_sizes
from ..scan import Method, linear_recurrence
from ._base import AbstractSequenceLayer
from ._common import (
    cast_floats,
    check_input,
    complex_dtype,
    mul,
    result_dtype,
    to_complex,
)

__all__ = ["SSM2D", "ar_companion_modes", "conv2d_causal", "roesser_kernel", "roesser_scan"]


#: A coefficient of the 2D recursion: per mode (n,), or per cell and mode (V, T, n).
Coeff = Inexact[Array, " n"] | Inexact[Array, "V T n"]


def roesser_kernel(
    a1: Inexact[Array, " n"],
    a2: Inexact[Array, " n"],
    a3: Inexact[Array, " n"],
    a4: Inexact[Array, " n"],
    b1: Inexact[Array, " n"],
    b2: Inexact[Array, " n"],
    c1: Inexact[Array, " n"],
    c2: Inexact[Array, " n"],
    V: int,
    T: int,
) -> Float[Array, "V T"]:
    """Closed-form 2D impulse response ``K[i, j]`` (variate lag i < V, time lag j < T).

    All coefficients have shape (n,) (modes, real or complex); the output is ``Re`` of the
    sum over modes.
    """
    i = jnp.arange(V)[:, None, None]
    j = jnp.arange(T)[None, :, None]
    kmax = min(V, T)
    k = jnp.arange(kmax)
    dtype = complex_dtype(result_dtype(a1, a2, a3, a4, b1, b2, c1, c2))
    rdt = jnp.finfo(dtype).dtype

    def lbinom(nn, kk):
        return (
            jax.scipy.special.gammaln(nn + 1.0)
            - jax.scipy.special.gammaln(kk + 1.0)
            - jax.scipy.special.gammaln(nn - kk + 1.0)
        )

    def safe_log(a):
        a = a.astype(dtype)
        zero = a == 0
        return jnp.log(jnp.where(zero, 1, a)), zero

    (la1, z1), (la4, z4), (lc, zc) = safe_log(a1), safe_log(a4), safe_log(a2 * a3)

    def G_mode(la1, la4, lc, z1, z4, zc):
        # (V, T, K) terms in log space, masked where k > min(i, j); a^0 = 1 also for a = 0
        kk = k[None, None, :].astype(rdt)
        ii, jj = i[..., :1].astype(rdt), j[..., :1].astype(rdt)
        valid = (kk <= ii) & (kk <= jj)
        ii_, jj_ = jnp.maximum(ii, kk), jnp.maximum(jj, kk)
        logt = mul(kk, lc) + lbinom(ii_, kk).astype(dtype) + lbinom(jj_, kk).astype(dtype)
        logt = logt + mul(ii_ - kk, la4) + mul(jj_ - kk, la1)
        # exact zeros: a positive power of a zero coefficient
        zero = (zc & (kk > 0)) | (z4 & (ii - kk > 0)) | (z1 & (jj - kk > 0))
        keep = valid & ~zero
        logt = jnp.where(keep, logt, 0)  # finite everywhere (also for gradients)
        return jnp.sum(jnp.where(keep, jnp.exp(logt), 0), -1)

    G = jax.vmap(G_mode, out_axes=-1)(la1, la4, lc, z1, z4, zc)  # (V, T, n)
    Gi = jnp.pad(G, ((1, 0), (0, 0), (0, 0)))[:-1]  # G[i-1, j]
    Gj = jnp.pad(G, ((0, 0), (1, 0), (0, 0)))[:, :-1]  # G[i, j-1]
    # the coefficients (n,) against G (V, T, n): leading axes and casts spelled out
    a1, a2, a3, a4, b1, b2, c1, c2 = (
        jnp.asarray(p)[None, None, :] for p in (a1, a2, a3, a4, b1, b2, c1, c2)
    )
    h1 = mul(b1, G) - mul(mul(b1, a4), Gi) + mul(mul(a2, b2), Gj)
    h2 = mul(b2, G) - mul(mul(b2, a1), Gj) + mul(mul(a3, b1), Gi)
    return jnp.sum(mul(c1, h1) + mul(c2, h2), -1).real.astype(rdt)


def roesser_scan(
    a1: Coeff,
    a2: Coeff,
    a3: Coeff,
    a4: Coeff,
    b1: Coeff,
    b2: Coeff,
    c1: Coeff,
    c2: Coeff,
    x: Float[Array, "V T"],
    *,
    method: Method = "auto",
) -> Float[Array, "V T"]:
    """The 2D recursion, sequential in time and a linear recurrence along variates.

    Coefficients have shape (n,) or, for input-dependent (selective) parameters, (V, T, n).
    ``x`` is (V, T); returns ``y`` (V, T) = ``Re Σ_modes (c1 h1 + c2 h2)`` in ``x``'s dtype.
    """
    V, T = x.shape
    dtype = result_dtype(a1, a2, a3, a4, b1, b2, c1, c2, x)
    n = jnp.shape(a1)[-1]
    coeffs = [jnp.asarray(p, dtype) for p in (a1, a2, a3, a4, b1, b2, c1, c2)]
    varying = [p.ndim == 3 for p in coeffs]  # static: which coefficients depend on (v, t)
    # time-varying coefficients are scanned over (T, V, n); the others enter as placeholders
    xs = tuple(
        jnp.moveaxis(p, 1, 0) if vy else jnp.zeros((T, 0), dtype) for p, vy in zip(coeffs, varying)
    )

    def step(carry, inp):
        h1, h2 = carry  # (V, n)
        xt, raw = inp
        A1, A2, A3, A4, B1, B2, C1, C2 = (
            r if vy else jnp.broadcast_to(p, (V, n)) for r, p, vy in zip(raw, coeffs, varying)
        )
        h1 = A1 * h1 + A2 * h2 + B1 * xt[:, None]
        drive = B2 * xt[:, None] + A3 * jnp.pad(h1, ((1, 0), (0, 0)))[:-1]
        a4s = jnp.concatenate([jnp.zeros((1, n), dtype), A4[1:]], 0)  # h2[-1] = 0
        h2 = linear_recurrence(a4s, drive, method=method)
        return (h1, h2), jnp.sum(C1 * h1 + C2 * h2, -1).real

    zeros = jnp.zeros((V, n), dtype)
    _, y = jax.lax.scan(step, (zeros, zeros), (x.T.astype(dtype), xs))
    return y.T.astype(x.dtype)


def conv2d_causal(x: Float[Array, "V T"], K: Float[Array, "V T"]) -> Float[Array, "V T"]:
    """``y[v,t] = Σ_{i<=v, j<=t} K[i,j] x[v−i, t−j]`` by 2D FFT, padded to (2V, 2T)."""
    V, T = x.shape
    s = (2 * V, 2 * T)
    y = jnp.fft.irfft2(jnp.fft.rfft2(x, s=s) * jnp.fft.rfft2(K, s=s), s=s)
    return y[:V, :T].astype(x.dtype)


@final
class SSM2D(AbstractSequenceLayer):
    """Chimera-style 2D SSM layer, (T, V) -> (T, V): time × variates (V = d_model).

    Args:
        d_model: number of variates V.
        d_state: modes n per head (complex diagonal, conjugate-free; output ``Re``).
        heads: number of heads; head k draws Δ1 from ``dt_ranges[k]`` (default: a small-step
            head (1e-3, 1e-2) for long-term progression and a large-step head (0.1, 1) for
            seasonal patterns).
        selective: input-dependent Δ1, Δ2 (recursion only).
        mode: ``"recurrent"`` (the Roesser scan; the default) or ``"conv"`` (closed-form 2D
            kernel; not allowed with ``selective``). The default is measured: on CPU the
            recurrence was 17-21x faster than the kernel at V = 16, n = 8, L = 256..4096
            (``results/throughput-cpu``); the kernel's FFT work grows with V x L x modes.
    """

    A_log: Float[Array, "k 2 n"]
    A_imag: Float[Array, "k 2 n"]
    A_cross: Float[Array, "k 2 n 2"]
    Bs: Float[Array, "k 2 n 2"]
    Cs: Float[Array, "k 2 n 2"]
    log_dt: Float[Array, "k 2"]
    w_dt: Float[Array, "k 2"] | None
    D: Float[Array, " v"]
    d_model: int = eqx.field(static=True)
    d_state: int = eqx.field(static=True)
    heads: int = eqx.field(static=True)
    selective: bool = eqx.field(static=True)
    mode: str = eqx.field(static=True)
    method: str = eqx.field(static=True)

    def __init__(
        self,
        d_model: int,
        d_state: int = 8,
        heads: int = 2,
        *,
        dt_ranges: tuple[tuple[float, float], ...] | None = None,
        dt2_range: tuple[float, float] = (0.01, 0.5),
        selective: bool = False,
        mode: str = "recurrent",
        method: Method = "auto",
        key: PRNGKeyArray,
    ):
        check_sizes(d_model=d_model, d_state=d_state, heads=heads)
        if mode not in ("conv", "recurrent"):
            raise ValueError(f"mode must be 'conv' or 'recurrent', got {mode!r}")
        if selective and mode == "conv":
            mode = "recurrent"
        self.d_model, self.d_state, self.heads = d_model, d_state, heads
        self.selective, self.mode, self.method = selective, mode, method
        if dt_ranges is None:
            dt_ranges = ((1e-3, 1e-2), (0.1, 1.0))[:heads] + ((1e-3, 1e-1),) * max(0, heads - 2)
        if len(dt_ranges) != heads:
            raise ValueError(f"dt_ranges needs {heads} (lo, hi) pairs, got {len(dt_ranges)}")
        ks = jax.random.split(key, 6)
        n = d_state
        # S4D-Lin-like diagonal transitions for both directions
        self.A_log = jnp.log(jnp.full((heads, 2, n), 0.5))
        self.A_imag = jnp.broadcast_to(jnp.pi * jnp.arange(n, dtype=float), (heads, 2, n)) + 0.0
        self.A_cross = 0.5 * jax.random.normal(ks[0], (heads, 2, n, 2)) / math.sqrt(n)
        self.Bs = jax.random.normal(ks[1], (heads, 2, n, 2)) * math.sqrt(0.5)
        self.Cs = jax.random.normal(ks[2], (heads, 2, n, 2)) * math.sqrt(0.5 / n)
        lo = jnp.log(jnp.array([[r[0], dt2_range[0]] for r in dt_ranges]))
        hi = jnp.log(jnp.array([[r[1], dt2_range[1]] for r in dt_ranges]))
        self.log_dt = jax.random.uniform(ks[3], (heads, 2), minval=lo, maxval=hi)
        self.w_dt = 0.1 * jax.random.normal(ks[4], (heads, 2)) if selective else None
        self.D = jnp.ones((d_model,))

    def _coeffs(self, x_vt, dtype):
        """Discrete (a1, a2, a3, a4, b1, b2, c1, c2) per head: (k, n) or (k, V, T, n)."""
        cx = lambda p: to_complex(p[..., 0], p[..., 1])  # noqa: E731
        A = to_complex(-jnp.exp(self.A_log), self.A_imag)  # (k, 2, n): [time, variate]
        Ac, Bs, Cs = cx(self.A_cross), cx(self.Bs), cx(self.Cs)
        if self.selective:
            x4 = x_vt[None, None]  # (1, 1, V, T)
            pre = self.log_dt[:, :, None, None] + 0 * x4  # bias in softplus-inverse space
            dt = jax.nn.softplus(
                self.w_dt[:, :, None, None] * x4 + jnp.log(jnp.expm1(jnp.exp(pre)))
            )  # (k, 2, V, T)
            dt = dt[..., None]  # (k, 2, V, T, 1)
            A, Ac, Bs = (p[:, :, None, None, :] for p in (A, Ac, Bs))
            Cs = Cs[:, :, None, None, :]
        else:
            dt = jnp.exp(self.log_dt)[..., None]  # (k, 2, 1)
        d1, d2 = dt[:, 0], dt[:, 1]
        a1, a4 = jnp.exp(mul(d1, A[:, 0])), jnp.exp(mul(d2, A[:, 1]))
        a2, a3 = mul(d1, Ac[:, 0]), mul(d2, Ac[:, 1])
        b1, b2 = mul(d1, Bs[:, 0]), mul(d2, Bs[:, 1])
        c1, c2 = jnp.broadcast_to(Cs[:, 0], a1.shape), jnp.broadcast_to(Cs[:, 1], a1.shape)
        cdt = complex_dtype(dtype)
        return tuple(p.astype(cdt) for p in (a1, a2, a3, a4, b1, b2, c1, c2))

    def kernel(self, V: int, T: int, dtype=None) -> Float[Array, "V T"]:
        """Closed-form 2D kernel (sum over heads), (V, T); input-independent parameters only."""
        if self.selective:
            raise ValueError("the closed-form kernel needs selective=False")
        dtype = dtype or self.log_dt.dtype
        cs = self._coeffs(None, dtype)
        return sum(roesser_kernel(*(p[k] for p in cs), V, T) for k in range(self.heads))

    def __call__(self, x: Float[Array, "T V"]) -> Float[Array, "T V"]:
        """Apply to one multivariate series (T, V); output dtype follows ``x``."""
        check_input("x", x, self.d_model)
        m = cast_floats(self, x.dtype)
        xv = x.T  # (V, T)
        V, T = xv.shape
        if self.mode == "conv":
            y = conv2d_causal(xv, m.kernel(V, T, x.dtype))
        else:
            cs = m._coeffs(xv, x.dtype)
            y = sum(
                roesser_scan(*(p[k] for p in cs), xv, method=self.method) for k in range(self.heads)
            )
        return (y.T + x * m.D[None, :]).astype(x.dtype)


def ar_companion_modes(
    phi: Inexact[Array, " p"],
) -> tuple[Complex[Array, " p"], Complex[Array, " p"], Complex[Array, " p"]]:
    """Modes (a1, b1, c1) of the diagonalised AR(p) companion matrix.

    ``s_t = Comp s_{t−1} + e1 ε_t``, ``y_t = e1ᵀ s_t`` gives ``y_t = Σ_k φ_k y_{t−k} + ε_t``.
    With ``Comp = W diag(r) W⁻¹``: ``a1 = r``, ``b1 = W⁻¹ e1``, ``c1 = e1ᵀ W``.
    """
    p = phi.shape[0]
    cdt = complex_dtype(phi.dtype)
    comp = jnp.zeros((p, p), cdt).at[0].set(phi.astype(cdt))
    comp = comp.at[jnp.arange(1, p), jnp.arange(p - 1)].set(1.0)
    r, W = jnp.linalg.eig(comp)
    b1 = jnp.linalg.solve(W, jnp.zeros(p, W.dtype).at[0].set(1.0))
    return r, b1, W[0]
