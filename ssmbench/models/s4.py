"""S4: structured state space with a diagonal-plus-low-rank (DPLR) HiPPO-LegS matrix.

Gu, Goel, Ré, "Efficiently Modeling Long Sequences with Structured State Spaces", ICLR 2022
(arXiv 2111.00396), and "The Annotated S4".

- HiPPO-LegS: ``A_nk = −sqrt(2n+1) sqrt(2k+1)`` (n > k), ``−(n+1)`` (n = k), 0 (n < k);
  ``B_n = sqrt(2n+1)``. With ``P_n = sqrt(n + 1/2)``, ``A + P Pᵀ = −I/2 + S`` with S skew, so
  ``A = V (Λ − P̃ P̃*) V*`` (normal plus low rank) with ``Λ = −1/2 + iω``, ``P̃ = V* P``.
- Parameters (per channel h: step Δ_h, B̃_h, C_h; shared Λ, P̃) are kept for N/2 modes of
  each conjugate pair; kernels and steps use the full N-dimensional conjugate-closed system,
  whose outputs are real.
- Bilinear kernel from the truncated generating function at the L-th roots of unity ``z``:
  ``K̂(z) = C̃ (I − Ā z)⁻¹ B̄ = 2 [s00 − (1+z) s01 s10 / (1 + (1+z) s11)]`` with Cauchy sums
  ``s_ab = Σ_i a_i b_i / ((2/Δ)(1 − z) − λ_i (1 + z))`` (Woodbury for the rank-1 term; this
  form has no pole at z = −1), then an inverse FFT. ``C̃ = C (I − Ā^L)`` is computed from the
  trained C (so that one parameter set serves every length and the recurrent step), rather
  than trained directly as in the reference code.
- ZOH: ``Ā = expm(ΔA)`` (dense), ``B̄ = A⁻¹(Ā − I)B``; the kernel is computed by powering
  (O(L N²)); no Cauchy form is used for ZOH.
"""

from __future__ import annotations

import math
from typing import Literal, final

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Complex, Float, PRNGKeyArray

from .._validate import check_sizes
from ._base import AbstractSequenceLayer
from ._common import (
    cast_floats,
    check_input,
    complex_dtype,
    fft_conv,
    log_uniform,
    mul,
    to_complex,
)

__all__ = ["S4", "hippo_legs", "hippo_legs_nplr"]


def hippo_legs(N: int) -> tuple[np.ndarray, np.ndarray]:
    """The HiPPO-LegS matrix A (N, N) and vector B (N,), as float64 numpy arrays."""
    q = np.sqrt(2 * np.arange(N) + 1.0)
    A = -np.tril(np.outer(q, q), -1) - np.diag(np.arange(N) + 1.0)
    return A, q.copy()


def hippo_legs_nplr(N: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """NPLR form of HiPPO-LegS for the N/2 modes with positive frequency.

    Returns ``(Lambda, P, B, V)`` (complex, N/2 each; V is (N, N/2)) with
    ``A = V_full (diag(Λ_full) − P_full P_full*) V_full*`` where ``X_full = [X, conj X]``.
    """
    if N % 2:
        raise ValueError(f"S4 needs an even state size, got {N}")
    A, B = hippo_legs(N)
    P = np.sqrt(np.arange(N) + 0.5)
    S = A + np.outer(P, P)
    Sk = S + 0.5 * np.eye(N)  # skew-symmetric
    w, V = np.linalg.eigh(-1j * Sk)  # Sk v = i w v
    idx = np.argsort(-w)[: N // 2]  # positive frequencies
    w, V = w[idx], V[:, idx]
    Lam = -0.5 + 1j * w
    return Lam, V.conj().T @ P, V.conj().T @ B, V


def _full(x):
    """``[x, conj(x)]`` along the last axis: the conjugate-closed full system."""
    return jnp.concatenate([x, jnp.conj(x)], -1)


@final
class S4(AbstractSequenceLayer):
    """S4 layer (DPLR HiPPO-LegS), (L, d_model) -> (L, d_model).

    Args:
        d_model: channels H (each its own SISO SSM with its own Δ, B, C).
        d_state: N (even); N/2 complex modes are stored.
        discretization: ``"bilinear"`` (Cauchy/Woodbury kernel) or ``"zoh"`` (dense).
        mode: ``"conv"`` (kernel + FFT convolution, padded to 2L) or ``"recurrent"``.
        dt_min, dt_max: ``log Δ ~ U[log dt_min, log dt_max]``.
    """

    log_dt: Float[Array, " h"]
    log_A_real: Float[Array, " m"]
    A_imag: Float[Array, " m"]
    P: Float[Array, "m 2"]
    B: Float[Array, "h m 2"]
    C: Float[Array, "h m 2"]
    D: Float[Array, " h"]
    d_model: int = eqx.field(static=True)
    d_state: int = eqx.field(static=True)
    discretization: str = eqx.field(static=True)
    mode: str = eqx.field(static=True)

    def __init__(
        self,
        d_model: int,
        d_state: int = 64,
        *,
        discretization: Literal["bilinear", "zoh"] = "bilinear",
        mode: Literal["conv", "recurrent"] = "conv",
        dt_min: float = 1e-3,
        dt_max: float = 1e-1,
        key: PRNGKeyArray,
    ):
        check_sizes(d_model=d_model, d_state=d_state)
        if discretization not in ("bilinear", "zoh"):
            raise ValueError(f"discretization must be 'bilinear' or 'zoh', got {discretization!r}")
        if mode not in ("conv", "recurrent"):
            raise ValueError(f"mode must be 'conv' or 'recurrent', got {mode!r}")
        self.d_model, self.d_state = d_model, d_state
        self.discretization, self.mode = discretization, mode
        Lam, P, B, _ = hippo_legs_nplr(d_state)
        m = d_state // 2
        k_dt, k_c = jax.random.split(key)
        self.log_dt = jnp.log(log_uniform(k_dt, (d_model,), dt_min, dt_max))
        dtype = self.log_dt.dtype
        self.log_A_real = jnp.log(jnp.asarray(-Lam.real, dtype))
        self.A_imag = jnp.asarray(Lam.imag, dtype)
        self.P = jnp.asarray(np.stack([P.real, P.imag], -1), dtype)
        self.B = jnp.broadcast_to(
            jnp.asarray(np.stack([B.real, B.imag], -1), dtype), (d_model, m, 2)
        )
        self.B = self.B + 0.0
        # C ~ CN(0, 1) per mode (variance 1/2 per real component), as in the Annotated S4.
        self.C = jax.random.normal(k_c, (d_model, m, 2), dtype) * math.sqrt(0.5)
        self.D = jnp.ones((d_model,), dtype)

    # ------------------------------------------------------------------------------------
    def _full_params(self):
        """Full conjugate-closed (Λ, P, B, C) in the working dtype: (N,), (N,), (h,N), (h,N)."""
        cx = lambda v: to_complex(v[..., 0], v[..., 1])  # noqa: E731
        Lam = _full(to_complex(-jnp.exp(self.log_A_real), self.A_imag))
        return Lam, _full(cx(self.P)), _full(cx(self.B)), _full(cx(self.C))

    def dense(self) -> tuple[Complex[Array, "N N"], Complex[Array, "h N"], Complex[Array, "h N"]]:
        """The continuous-time system in the modal basis: ``A = diag(Λ) − P P*`` (N, N), B, C."""
        Lam, P, B, C = self._full_params()
        return jnp.diag(Lam) - jnp.outer(P, jnp.conj(P)), B, C

    def discrete(
        self,
    ) -> tuple[Complex[Array, "h N N"], Complex[Array, "h N"], Complex[Array, "h N"]]:
        """Dense discretised ``(Ā, B̄, C)`` per channel: (h, N, N), (h, N), (h, N).

        Bilinear: ``M = I − (Δ/2)A = diag(1 − (Δ/2)Λ) + (Δ/2) P P*`` is diagonal plus rank 1, so
        ``M⁻¹`` is applied by Woodbury's identity (elementwise work and one rank-1 correction per
        channel), with no LAPACK call. :meth:`discrete_reference` is the same map by dense
        ``jnp.linalg.solve``, the oracle it is tested against. (A batched LU here also hit a
        deadlock in jaxlib 0.10.2's CPU runtime: docs/suites.md, "Known problem".)
        """
        if self.discretization != "bilinear":
            return self.discrete_reference()
        Lam, P, _, _ = self._full_params()
        A, B, C = self.dense()
        eye = jnp.eye(A.shape[0], dtype=A.dtype)
        dt = jnp.exp(self.log_dt)

        def one(dt, b):
            d = 1 - mul(dt / 2, Lam)  # diag of M
            u = mul(dt / 2, P)  # M = diag(d) + u P*

            def solve(R):  # (diag(d) + u P*)⁻¹ R, R of shape (N, k)
                Rd, ud = R / d[:, None], u / d
                return Rd - jnp.outer(ud, jnp.conj(P) @ Rd) / (1 + jnp.conj(P) @ ud)

            Ab = solve(eye + mul(dt / 2, A))
            return Ab, solve(mul(dt, b)[:, None])[:, 0]

        Ab, Bb = jax.vmap(one)(dt, B)
        return Ab, Bb, C

    def discrete_reference(
        self,
    ) -> tuple[Complex[Array, "h N N"], Complex[Array, "h N"], Complex[Array, "h N"]]:
        """The slow, obviously correct :meth:`discrete`: dense ``jnp.linalg.solve`` (bilinear) or
        ``expm`` (ZOH) on the dense ``A`` of :meth:`dense`, per channel."""
        A, B, C = self.dense()
        N = A.shape[0]
        eye = jnp.eye(N, dtype=A.dtype)
        dt = jnp.exp(self.log_dt)

        def one(dt, b):
            if self.discretization == "bilinear":
                M = eye - mul(dt / 2, A)
                return jnp.linalg.solve(M, eye + mul(dt / 2, A)), jnp.linalg.solve(M, mul(dt, b))
            Ab = jax.scipy.linalg.expm(mul(dt, A))
            return Ab, jnp.linalg.solve(A, (Ab - eye) @ b)

        Ab, Bb = jax.vmap(one)(dt, B)
        return Ab, Bb, C

    def kernel(self, L: int) -> Float[Array, "L h"]:
        """Convolution kernel ``K_l = C Ā^l B̄`` (l < L), shape (L, h), in the params' dtype."""
        if self.discretization == "zoh":
            Ab, Bb, C = self.discrete()

            def one(Ab, Bb, C):
                def step(x, _):
                    return Ab @ x, (C @ x).real

                return jax.lax.scan(step, Bb, None, length=L)[1]

            return jax.vmap(one)(Ab, Bb, C).T
        Lam, P, B, C = self._full_params()
        Ab, _, _ = self.discrete()
        eye = jnp.eye(Lam.shape[0], dtype=Lam.dtype)
        # C̃ = C (I − Ā^L) per channel
        AL = jax.vmap(lambda M: jnp.linalg.matrix_power(M, L))(Ab)
        Ct = jnp.einsum("hn,hnk->hk", C, eye[None] - AL)
        dt = jnp.exp(self.log_dt)
        freqs = jnp.arange(L // 2 + 1, dtype=self.log_dt.dtype)
        z = jnp.exp(-2j * jnp.pi * freqs.astype(complex_dtype(freqs.dtype)) / L)  # (F,)

        def one(dt, Ct, b):
            den = mul(2 / dt, (1 - z)[:, None]) - Lam[None, :] * (1 + z)[:, None]  # (F, N)
            r = 1 / den
            Pc = jnp.conj(P)
            s00 = r @ (Ct * b)
            s01 = r @ (Ct * P)
            s10 = r @ (Pc * b)
            s11 = r @ (Pc * P)
            Khat = 2 * (s00 - (1 + z) * s01 * s10 / (1 + (1 + z) * s11))
            return jnp.fft.irfft(Khat, n=L)

        return jax.vmap(one)(dt, Ct, B).T

    def __call__(self, x: Float[Array, "L h"]) -> Float[Array, "L h"]:
        """Apply the layer to one sequence (L, d_model); output dtype follows ``x``."""
        check_input("x", x, self.d_model)
        m = cast_floats(self, x.dtype)
        if self.mode == "conv":
            y = fft_conv(x, m.kernel(x.shape[0]).astype(x.dtype))
        else:
            Ab, Bb, C = m.discrete()

            def step(s, u):
                s = jnp.einsum("hnk,hk->hn", Ab, s) + mul(Bb, u[:, None])
                return s, jnp.einsum("hn,hn->h", C, s).real

            _, y = jax.lax.scan(step, m.init_state(x.dtype), x)
            y = y.astype(x.dtype)
        return y + x * m.D[None, :]

    def init_state(self, dtype=None) -> Complex[Array, "h N"]:
        """Zero recurrent state (h, N) in the full modal basis."""
        return jnp.zeros((self.d_model, self.d_state), complex_dtype(dtype or self.log_dt.dtype))

    def step(
        self, state: Complex[Array, "h N"], x_t: Float[Array, " h"]
    ) -> tuple[Complex[Array, "h N"], Float[Array, " h"]]:
        """One recurrent step: ``state = Ā state + B̄ x_t``, ``y_t = Re(C state) + D x_t``.

        (Forms the dense Ā each call; jit a scan over ``step`` to amortise.)
        """
        m = cast_floats(self, x_t.dtype)
        Ab, Bb, C = m.discrete()
        state = jnp.einsum("hnk,hk->hn", Ab, state) + mul(Bb, x_t[:, None])
        y = jnp.einsum("hn,hn->h", C, state).real.astype(x_t.dtype)
        return state, y + m.D * x_t
