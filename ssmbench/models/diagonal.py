"""Diagonal state-space layers: S4D (real or complex), LRU, and a SISO diagonal SSM.

- :class:`S4D`: Gu, Gupta, Goel, Ré, "On the Parameterization and Initialization of Diagonal
  State Space Models", NeurIPS 2022 (arXiv 2206.11893). ``field="real" | "complex"`` is the one
  switch between a real diagonal SSM and a complex one (conjugate-pair halved, ``2 Re`` output).
- :class:`LRU`: Orvieto et al., "Resurrecting Recurrent Neural Networks for Long Sequences",
  ICML 2023 (arXiv 2303.06349): ring initialisation, exponential parameterisation, γ
  normalisation.
- :class:`DiagonalSISO`: the single-input single-output diagonal SSM of Ran-Milo et al.,
  "Provable Benefits of Complex Parameterizations for Structured State Space Models", NeurIPS
  2024 (arXiv 2410.14067), with its impulse response ``φ(k) = Σ_j c_j λ_j^k``.
"""

from __future__ import annotations

import math
from typing import Literal, final

import equinox as eqx
import jax
import jax.numpy as jnp
from jaxtyping import Array, Float, Inexact, PRNGKeyArray

from .._validate import check_sizes
from ..discretize import bilinear, zoh
from ..scan import Method, linear_recurrence
from ._base import AbstractSequenceLayer
from ._common import check_input, complex_dtype, fft_conv, log_uniform, mul, to_complex

__all__ = ["LRU", "S4D", "DiagonalSISO"]


@final
class S4D(AbstractSequenceLayer):
    """S4D layer: ``d_model`` independent SISO diagonal SSMs, (L, d_model) -> (L, d_model).

    Per channel h: ``x'(t) = A x(t) + B u(t)``, ``y = C x + D u`` with diagonal A, discretised
    with step ``Δ_h = exp(log_dt_h)`` by ZOH or bilinear. The convolution kernel (ZOH) is
    ``K_l = Σ_n C_n B_n (exp(ΔA_n) − 1)/A_n · exp(ΔA_n l)``, with ``2 Re`` for the complex field.

    Args:
        d_model: number of channels h.
        d_state: state size N. ``field="complex"`` keeps N//2 complex modes (conjugate pairs
            halved, output ``2 Re``), i.e. N real dimensions; ``field="real"`` keeps N real modes.
        field: ``"complex"`` or ``"real"``: the single switch between the two parameterisations.
        init: ``"lin"`` (A_n = −1/2 + iπn), ``"inv"`` (A_n = −1/2 + i(N/π)(N/(2n+1) − 1)) or
            ``"real"`` (A_n = −(n+1)). Default: ``"lin"`` for complex, ``"real"`` for real.
            ``field="real"`` accepts only ``"real"``.
        discretization: ``"zoh"`` or ``"bilinear"``.
        mode: ``"conv"`` (FFT convolution, padded to 2L) or ``"recurrent"`` (linear recurrence).
        dt_min, dt_max: ``log Δ ~ U[log dt_min, log dt_max]``.
        method: scan method for the recurrent mode.
    """

    log_dt: Float[Array, " h"]
    log_A_real: Float[Array, "h m"]
    A_imag: Float[Array, "h m"] | None
    B: Float[Array, "h m 2"] | Float[Array, "h m"]
    C: Float[Array, "h m 2"] | Float[Array, "h m"]
    D: Float[Array, " h"]
    d_model: int = eqx.field(static=True)
    d_state: int = eqx.field(static=True)
    field: str = eqx.field(static=True)
    init: str = eqx.field(static=True)
    discretization: str = eqx.field(static=True)
    mode: str = eqx.field(static=True)
    method: str = eqx.field(static=True)

    def __init__(
        self,
        d_model: int,
        d_state: int = 64,
        *,
        field: Literal["real", "complex"] = "complex",
        init: Literal["lin", "inv", "real"] | None = None,
        discretization: Literal["zoh", "bilinear"] = "zoh",
        mode: Literal["conv", "recurrent"] = "conv",
        dt_min: float = 1e-3,
        dt_max: float = 1e-1,
        method: Method = "auto",
        key: PRNGKeyArray,
    ):
        check_sizes(d_model=d_model, d_state=d_state)
        if field not in ("real", "complex"):
            raise ValueError(f"field must be 'real' or 'complex', got {field!r}")
        init = init or ("lin" if field == "complex" else "real")
        if init not in ("lin", "inv", "real"):
            raise ValueError(f"init must be 'lin', 'inv' or 'real', got {init!r}")
        if field == "real" and init != "real":
            raise ValueError(
                f"field='real' needs init='real' (got {init!r}: its real part is flat)"
            )
        if discretization not in ("zoh", "bilinear"):
            raise ValueError(f"discretization must be 'zoh' or 'bilinear', got {discretization!r}")
        if mode not in ("conv", "recurrent"):
            raise ValueError(f"mode must be 'conv' or 'recurrent', got {mode!r}")
        if field == "complex" and d_state % 2:
            raise ValueError(f"field='complex' needs an even d_state, got {d_state}")
        self.d_model, self.d_state = d_model, d_state
        self.field, self.init, self.discretization, self.mode = field, init, discretization, mode
        self.method = method
        m = d_state // 2 if field == "complex" else d_state
        k_dt, k_c = jax.random.split(key)
        self.log_dt = jnp.log(log_uniform(k_dt, (d_model,), dt_min, dt_max))
        n = jnp.arange(m, dtype=float)
        if init == "lin":
            re, im = jnp.full(m, 0.5), jnp.pi * n
        elif init == "inv":
            N = d_state
            re, im = jnp.full(m, 0.5), (N / jnp.pi) * (N / (2 * n + 1) - 1)
        else:
            re, im = (n + 1.0), jnp.zeros(m)
        self.log_A_real = jnp.broadcast_to(jnp.log(re), (d_model, m)) + 0.0
        if field == "complex":
            self.A_imag = jnp.broadcast_to(im, (d_model, m)) + 0.0
            self.B = jnp.stack([jnp.ones((d_model, m)), jnp.zeros((d_model, m))], -1)
            # C ~ CN(0, 1): variance 1/2 per real component.
            self.C = jax.random.normal(k_c, (d_model, m, 2)) * math.sqrt(0.5)
        else:
            self.A_imag = None
            self.B = jnp.ones((d_model, m))
            self.C = jax.random.normal(k_c, (d_model, m))
        self.D = jnp.ones((d_model,))

    # -- parameters in the working dtype -------------------------------------------------------
    def _params(self, dtype):
        """The discretized ``(Ā, B̄, C)`` in the working dtype ``dtype``."""
        cdt = complex_dtype(dtype)
        A = -jnp.exp(self.log_A_real.astype(dtype))
        if self.field == "complex":
            A = to_complex(A, self.A_imag.astype(dtype))
            B = to_complex(self.B[..., 0], self.B[..., 1]).astype(cdt)
            C = to_complex(self.C[..., 0], self.C[..., 1]).astype(cdt)
        else:
            B, C = self.B.astype(dtype), self.C.astype(dtype)
        dt = jnp.exp(self.log_dt.astype(dtype))[:, None]
        disc = zoh if self.discretization == "zoh" else bilinear
        Abar, Bbar = disc(A, B, dt)
        return Abar, Bbar, C

    def _out(self, y):
        """The output map: ``2 Re`` for the complex field, identity for the real one."""
        return 2 * y.real if self.field == "complex" else y

    def discrete(
        self, dtype=None
    ) -> tuple[Inexact[Array, "h m"], Inexact[Array, "h m"], Inexact[Array, "h m"]]:
        """The discretised ``(Ā, B̄, C)``, each (h, m); complex for ``field="complex"``."""
        return self._params(dtype or self.log_dt.dtype)

    def kernel(self, L: int, dtype=None) -> Float[Array, "L h"]:
        """The length-L convolution kernel ``K_l = out(Σ_n C_n B̄_n Ā_n^l)``, shape (L, h)."""
        dtype = dtype or self.log_dt.dtype
        Abar, Bbar, C = self._params(dtype)
        # Ā^l through exp(l log Ā) in complex arithmetic (handles negative real Ā, bilinear).
        logA = jnp.log(Abar.astype(complex_dtype(dtype)))
        V = jnp.exp(mul(logA[..., None], jnp.arange(L, dtype=dtype)[None, None, :]))  # (h, m, L)
        K = jnp.einsum("hm,hml->lh", (C * Bbar).astype(V.dtype), V)
        if self.field == "complex":
            return (2 * K.real).astype(dtype)
        return K.real.astype(dtype)

    def __call__(self, x: Float[Array, "L h"]) -> Float[Array, "L h"]:
        """Apply the layer to one sequence (L, d_model); output dtype follows ``x``."""
        check_input("x", x, self.d_model)
        if self.mode == "conv":
            y = fft_conv(x, self.kernel(x.shape[0], x.dtype))
        else:
            Abar, Bbar, C = self._params(x.dtype)
            h = linear_recurrence(Abar[None], mul(Bbar[None], x[:, :, None]), method=self.method)
            y = self._out(jnp.einsum("lhm,hm->lh", h, C)).astype(x.dtype)
        return y + x * self.D.astype(x.dtype)[None, :]

    def init_state(self, dtype=None) -> Inexact[Array, "h m"]:
        """Zero recurrent state (h, m)."""
        dtype = dtype or self.log_dt.dtype
        m = self.log_A_real.shape[1]
        return jnp.zeros(
            (self.d_model, m), complex_dtype(dtype) if self.field == "complex" else dtype
        )

    def step(
        self, state: Inexact[Array, "h m"], x_t: Float[Array, " h"]
    ) -> tuple[Inexact[Array, "h m"], Float[Array, " h"]]:
        """One recurrent step: ``state = Ā state + B̄ x_t``, ``y_t = out(C state) + D x_t``."""
        Abar, Bbar, C = self._params(x_t.dtype)
        state = Abar * state + mul(Bbar, x_t[:, None])
        y = self._out(jnp.sum(C * state, -1)).astype(x_t.dtype) + self.D.astype(x_t.dtype) * x_t
        return state, y


@final
class LRU(AbstractSequenceLayer):
    """Linear Recurrent Unit, (L, d_model) -> (L, d_model).

    ``λ = exp(−exp(ν_log) + i exp(θ_log))``, ``x_k = λ ⊙ x_{k−1} + γ ⊙ (B u_k)``,
    ``y_k = Re(C x_k) + D ⊙ u_k`` with ``γ = exp(γ_log)`` initialised to ``sqrt(1 − |λ|²)``.
    ``|λ|`` is initialised uniformly on the ring ``[r_min, r_max]`` and the phase uniformly on
    ``[0, max_phase]``. ``B ~ CN(0, 1/H)``-style (std ``1/sqrt(2H)`` per real part),
    ``C`` std ``1/sqrt(N)`` per real part, ``D ~ N(0, 1)``, as in the authors' code.
    """

    nu_log: Float[Array, " n"]
    theta_log: Float[Array, " n"]
    gamma_log: Float[Array, " n"]
    B: Float[Array, "n h 2"]
    C: Float[Array, "h n 2"]
    D: Float[Array, " h"]
    d_model: int = eqx.field(static=True)
    d_state: int = eqx.field(static=True)
    method: str = eqx.field(static=True)

    def __init__(
        self,
        d_model: int,
        d_state: int = 64,
        *,
        r_min: float = 0.0,
        r_max: float = 1.0,
        max_phase: float = 2 * math.pi,
        method: Method = "auto",
        key: PRNGKeyArray,
    ):
        check_sizes(d_model=d_model, d_state=d_state)
        if not 0 <= r_min < r_max <= 1:
            raise ValueError(f"need 0 <= r_min < r_max <= 1, got r_min={r_min}, r_max={r_max}")
        self.d_model, self.d_state, self.method = d_model, d_state, method
        k1, k2, k3, k4, k5 = jax.random.split(key, 5)
        u1 = jax.random.uniform(k1, (d_state,))
        u2 = jax.random.uniform(k2, (d_state,))
        self.nu_log = jnp.log(-0.5 * jnp.log(u1 * (r_max**2 - r_min**2) + r_min**2))
        self.theta_log = jnp.log(max_phase * u2)
        mod = jnp.exp(-jnp.exp(self.nu_log))
        self.gamma_log = jnp.log(jnp.sqrt(1 - mod**2))
        self.B = jax.random.normal(k3, (d_state, d_model, 2)) / math.sqrt(2 * d_model)
        self.C = jax.random.normal(k4, (d_model, d_state, 2)) / math.sqrt(d_state)
        self.D = jax.random.normal(k5, (d_model,))

    def eigenvalues(self, dtype=None) -> Inexact[Array, " n"]:
        """The diagonal ``λ`` (complex)."""
        dtype = dtype or self.nu_log.dtype
        nu, th = self.nu_log.astype(dtype), self.theta_log.astype(dtype)
        return jnp.exp(to_complex(-jnp.exp(nu), jnp.exp(th)))

    def _params(self, dtype):
        """``(λ, γ ⊙ B, C)`` (complex) in the working dtype ``dtype``."""
        cdt = complex_dtype(dtype)
        lam = self.eigenvalues(dtype)
        B = to_complex(self.B[..., 0], self.B[..., 1]).astype(cdt)
        B = mul(B, jnp.exp(self.gamma_log.astype(dtype))[:, None])
        C = to_complex(self.C[..., 0], self.C[..., 1]).astype(cdt)
        return lam, B, C

    def __call__(self, x: Float[Array, "L h"]) -> Float[Array, "L h"]:
        """Apply the LRU to one sequence (L, d_model); output dtype follows ``x``."""
        check_input("x", x, self.d_model)
        lam, B, C = self._params(x.dtype)
        h = linear_recurrence(lam[None], x.astype(B.dtype) @ B.T, method=self.method)  # (L, n)
        return (h @ C.T).real.astype(x.dtype) + x * self.D.astype(x.dtype)[None, :]

    def init_state(self, dtype=None) -> Inexact[Array, " n"]:
        """Zero recurrent state (n,)."""
        return jnp.zeros((self.d_state,), complex_dtype(dtype or self.nu_log.dtype))

    def step(
        self, state: Inexact[Array, " n"], x_t: Float[Array, " h"]
    ) -> tuple[Inexact[Array, " n"], Float[Array, " h"]]:
        """One recurrent step."""
        lam, B, C = self._params(x_t.dtype)
        state = lam * state + B @ x_t.astype(B.dtype)
        return state, (C @ state).real.astype(x_t.dtype) + self.D.astype(x_t.dtype) * x_t


@final
class DiagonalSISO(eqx.Module):
    """SISO diagonal SSM in the parameterisation of Ran-Milo et al. (NeurIPS 2024).

    - ``field="real"``: ``λ_j = s_j exp(−exp(ν_j))`` with a fixed sign ``s_j ∈ {+1, −1}``
      (the paper's ``cos(angle)``, angle ∈ {0, π}); ``B, C`` real; ``φ(k) = Σ_j B_j C_j λ_j^k``.
    - ``field="complex"``: ``λ_j = exp(−exp(ν_j) + iθ_j)``; ``B, C`` complex;
      ``φ(k) = 2 Re Σ_j B_j C_j λ_j^k``.

    ``|λ|`` is initialised uniformly on the ring ``[r_min, r_max]``, θ uniformly on
    ``[0, 2π)`` and the signs uniformly (unconfirmed against the authors' code), B and C
    with std ``bc_std`` per real component (the paper uses 1e-3). ``n`` counts modes: n real
    numbers for real, n complex numbers for complex.
    """

    nu: Float[Array, " n"]
    theta: Float[Array, " n"] | None
    sign: Float[Array, " n"] | None
    B: Float[Array, " n"] | Float[Array, "n 2"]
    C: Float[Array, " n"] | Float[Array, "n 2"]
    field: str = eqx.field(static=True)
    n: int = eqx.field(static=True)

    def __init__(
        self,
        n: int,
        *,
        field: Literal["real", "complex"] = "complex",
        r_min: float = 0.5,
        r_max: float = 0.99,
        bc_std: float = 1e-3,
        key: PRNGKeyArray,
    ):
        check_sizes(n=n)
        if field not in ("real", "complex"):
            raise ValueError(f"field must be 'real' or 'complex', got {field!r}")
        self.field, self.n = field, n
        k1, k2, k3, k4 = jax.random.split(key, 4)
        u = jax.random.uniform(k1, (n,))
        r = jnp.sqrt(u * (r_max**2 - r_min**2) + r_min**2)
        self.nu = jnp.log(-jnp.log(r))
        shape = (n, 2) if field == "complex" else (n,)
        self.B = bc_std * jax.random.normal(k3, shape)
        self.C = bc_std * jax.random.normal(k4, shape)
        if field == "complex":
            self.theta = jax.random.uniform(k2, (n,), maxval=2 * jnp.pi)
            self.sign = None
        else:
            self.theta = None
            self.sign = jnp.where(jax.random.bernoulli(k2, 0.5, (n,)), 1.0, -1.0)

    def eigenvalues(self) -> Inexact[Array, " n"]:
        """``λ`` (real or complex)."""
        mod = jnp.exp(-jnp.exp(self.nu))
        if self.field == "complex":
            return mul(mod, jnp.exp(1j * self.theta.astype(complex_dtype(self.theta.dtype))))
        return jax.lax.stop_gradient(self.sign) * mod

    def coefficients(self) -> Inexact[Array, " n"]:
        """``c_j = B_j C_j`` (complex for the complex field)."""
        if self.field == "complex":
            return to_complex(self.B[:, 0], self.B[:, 1]) * to_complex(self.C[:, 0], self.C[:, 1])
        return self.B * self.C

    def impulse_response(self, t: int) -> Float[Array, " t"]:
        """``φ(k)`` for k = 0..t−1 (``2 Re`` of the sum for the complex field)."""
        k = jnp.arange(t, dtype=self.nu.dtype)
        logmod = -jnp.exp(self.nu)  # log |λ|
        c = self.coefficients()
        if self.field == "complex":
            V = jnp.exp(mul(to_complex(logmod, self.theta)[:, None], k[None, :]))
            return 2 * jnp.real(c @ V)
        s = jax.lax.stop_gradient(self.sign)
        # s^k without powers of negative numbers
        sk = jnp.where((jnp.arange(t) % 2 == 0)[None, :], 1.0, s[:, None])
        V = sk * jnp.exp(logmod[:, None] * k[None, :])
        return c @ V

    def __call__(self, x: Float[Array, "L 1"]) -> Float[Array, "L 1"]:
        """Causal convolution of a scalar sequence (L, 1) with the impulse response."""
        check_input("x", x, 1)
        return fft_conv(x, self.impulse_response(x.shape[0]).astype(x.dtype)[:, None])
