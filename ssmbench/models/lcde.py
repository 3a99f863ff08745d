"""Linear neural controlled differential equation (the model of the rough-path theory).

Cirone, Orvieto, Walker, Salvi, Lyons, "Theoretical Foundations of Deep Selective State-Space
Models", NeurIPS 2024 (arXiv 2402.19047):

    dZ_t = Σ_i A_i Z_t dω_t^i + B dξ_t,        Y_t = C Z_t,

with gates built from the input path X: ``ξ = (t, X)`` always, and ``ω = (t, X)``
(``gates="tx"``, input-dependent, "selective") or ``ω = t`` (``gates="t"``, time-invariant,
S4-like). ``gate_scale`` multiplies the gate path ω (default 1; the authors' trained LNCDE
code multiplies its control by ``dt = 1/40``, which keeps products of dense
``exp(Σ A_i Δω^i)`` bounded over long token sequences). ``A_i`` is dense
(``structure="dense"``) or diagonal (``"diagonal"``, Mamba-like).
Random Gaussian initialisation: dense ``A_i ~ N(0, 1/N)`` entrywise; B, Z_0 ~ N(0, 1);
C ~ N(0, 1/N). Only a linear readout is meant to be trained (ridge on :meth:`features`).

The input is a path sampled at times ``ts`` (default ``linspace(0, 1, L)``) and interpolated
linearly. Solvers (``solver=``):
- ``"exact"``: exact per segment of the piecewise-linear control. Diagonal: closed form
  ``z ← e^{λ} z + (e^{λ} − 1)/λ · BΔξ`` with ``λ = Σ_i a_i Δω^i``, run through
  :func:`ssmbench.scan.linear_recurrence`. Dense: ``expm`` of the augmented matrix
  ``[[Σ_i A_i Δω^i, BΔξ], [0, 0]]`` per segment.
- ``"euler"``: Euler on increments, ``z ← z + Σ_i A_i z Δω^i + BΔξ`` (first order; cheap).
- ``"diffrax"``: ``diffrax.ControlTerm`` with a ``LinearInterpolation`` control, solved by
  Tsit5 on a uniform grid of ``substeps`` steps per segment.
"""

from __future__ import annotations

import math
from typing import Literal, final

import diffrax
import equinox as eqx
import jax
import jax.numpy as jnp
from jaxtyping import Array, Float, PRNGKeyArray

from .._validate import check_sizes
from ..discretize import zoh
from ..scan import Method, linear_recurrence
from ._base import AbstractSequenceLayer
from ._common import cast_floats, check_input

__all__ = ["LinearCDE"]


@final
class LinearCDE(AbstractSequenceLayer):
    """Linear CDE layer, (L, d_in) -> (L, d_out); hidden states (L, N) via :meth:`states`.

    Args:
        d_in: channels of the input path X.
        hidden: state size N.
        d_out: readout size (default ``d_in``).
        structure: ``"dense"`` or ``"diagonal"`` A_i.
        gates: ``"tx"`` (ω = ξ = (t, X)) or ``"t"`` (ω = t, ξ = (t, X)).
        solver: ``"exact"``, ``"euler"`` or ``"diffrax"``.
        a_std: std of the A_i entries; default ``1/sqrt(N)`` (dense) or 1 (diagonal).
        substeps: Tsit5 steps per segment for ``solver="diffrax"``.
        gate_scale: factor on the gate path ω (the control of the ``A_i``), default 1.
    """

    A: Float[Array, "w N N"] | Float[Array, "w N"]
    B: Float[Array, "N x"]
    C: Float[Array, "o N"]
    z0: Float[Array, " N"]
    d_in: int = eqx.field(static=True)
    hidden: int = eqx.field(static=True)
    structure: str = eqx.field(static=True)
    gates: str = eqx.field(static=True)
    solver: str = eqx.field(static=True)
    substeps: int = eqx.field(static=True)
    method: str = eqx.field(static=True)
    gate_scale: float = eqx.field(static=True)

    def __init__(
        self,
        d_in: int,
        hidden: int = 64,
        d_out: int | None = None,
        *,
        structure: Literal["dense", "diagonal"] = "dense",
        gates: Literal["tx", "t"] = "tx",
        solver: Literal["exact", "euler", "diffrax"] = "exact",
        a_std: float | None = None,
        substeps: int = 4,
        method: Method = "auto",
        gate_scale: float = 1.0,
        key: PRNGKeyArray,
    ):
        check_sizes(d_in=d_in, hidden=hidden, d_out=d_out)
        if not (math.isfinite(gate_scale) and gate_scale > 0):
            raise ValueError(f"gate_scale must be a positive finite number, got {gate_scale!r}")
        if structure not in ("dense", "diagonal"):
            raise ValueError(f"structure must be 'dense' or 'diagonal', got {structure!r}")
        if gates not in ("tx", "t"):
            raise ValueError(f"gates must be 'tx' or 't', got {gates!r}")
        if solver not in ("exact", "euler", "diffrax"):
            raise ValueError(f"solver must be 'exact', 'euler' or 'diffrax', got {solver!r}")
        self.d_in, self.hidden = d_in, hidden
        self.structure, self.gates, self.solver = structure, gates, solver
        self.substeps, self.method, self.gate_scale = substeps, method, float(gate_scale)
        d_out = d_in if d_out is None else d_out
        w = 1 + d_in if gates == "tx" else 1
        if a_std is None:
            a_std = 1 / math.sqrt(hidden) if structure == "dense" else 1.0
        kA, kB, kC, kz = jax.random.split(key, 4)
        shape = (w, hidden, hidden) if structure == "dense" else (w, hidden)
        self.A = a_std * jax.random.normal(kA, shape)
        self.B = jax.random.normal(kB, (hidden, 1 + d_in))
        self.C = jax.random.normal(kC, (d_out, hidden)) / math.sqrt(hidden)
        self.z0 = jax.random.normal(kz, (hidden,))

    @property
    def d_model(self) -> int:
        """The width of the input path, ``d_in`` (the sequence-layer protocol's ``d_model``)."""
        return self.d_in

    def with_solver(self, solver: str, substeps: int | None = None) -> LinearCDE:
        """A copy with the same parameters and another solver (and substeps for diffrax)."""
        if solver not in ("exact", "euler", "diffrax"):
            raise ValueError(f"solver must be 'exact', 'euler' or 'diffrax', got {solver!r}")
        new = jax.tree_util.tree_map(lambda x: x, self)
        object.__setattr__(new, "solver", solver)
        if substeps is not None:
            object.__setattr__(new, "substeps", substeps)
        return new

    # ------------------------------------------------------------------------------------
    def _paths(self, X, ts):
        """``(ts, ω, ξ)``: the sample times and the gate and input paths, checked."""
        L = X.shape[0]
        if X.ndim != 2 or X.shape[1] != self.d_in:
            raise ValueError(f"X must have shape (L, {self.d_in}), got {X.shape}")
        if ts is None:
            ts = jnp.linspace(0.0, 1.0, L, dtype=X.dtype)
        ts = jnp.asarray(ts, X.dtype)
        if ts.shape != (L,):
            raise ValueError(f"ts must have shape ({L},), got {ts.shape}")
        xi = jnp.concatenate([ts[:, None], X], 1)
        omega = (xi if self.gates == "tx" else ts[:, None]) * self.gate_scale
        return ts, omega, xi

    def states(
        self, X: Float[Array, "L d_in"], ts: Float[Array, " L"] | None = None
    ) -> Float[Array, "L N"]:
        """Hidden states Z at the sample times (Z at ``ts[0]`` is ``z0``), shape (L, N)."""
        check_input("X", X, self.d_in)
        m = cast_floats(self, X.dtype)
        ts, omega, xi = m._paths(X, ts)
        d_om, d_xi = jnp.diff(omega, axis=0), jnp.diff(xi, axis=0)  # (L-1, w), (L-1, 1+d)
        bdx = d_xi @ m.B.T  # (L-1, N)
        if self.solver == "diffrax":
            return m._solve_diffrax(ts, omega, xi)
        if self.structure == "diagonal":
            lam = d_om @ m.A  # (L-1, N): Σ_i a_i Δω^i
            if self.solver == "exact":
                abar, bbar = zoh(lam, bdx, 1.0)
            else:
                abar, bbar = 1 + lam, bdx
            z = linear_recurrence(abar, bbar, m.z0, method=self.method)
        else:
            N = self.hidden

            def step(z, inc):
                dw, b = inc
                M = jnp.einsum("i,ijk->jk", dw, m.A)
                if self.solver == "euler":
                    z = z + M @ z + b
                else:
                    aug = jnp.zeros((N + 1, N + 1), M.dtype).at[:N, :N].set(M).at[:N, N].set(b)
                    E = jax.scipy.linalg.expm(aug)
                    z = E[:N, :N] @ z + E[:N, N]
                return z, z

            _, z = jax.lax.scan(step, m.z0, (d_om, bdx))
        return jnp.concatenate([m.z0[None], z], 0)

    def _solve_diffrax(self, ts, omega, xi):
        """Hidden states at ``ts`` by diffrax (Tsit5 on the knots of the control, see above)."""
        path = diffrax.LinearInterpolation(ts=ts, ys=jnp.concatenate([omega, xi], 1))
        w = omega.shape[1]
        A, B = self.A, self.B

        def vf(t, z, args):
            if self.structure == "dense":
                cols = jnp.einsum("ijk,k->ji", A, z)  # (N, w)
            else:
                cols = (A * z[None, :]).T
            return jnp.concatenate([cols, B], 1)  # (N, w + 1 + d)

        del w
        # ControlTerm (not .to_ode()): each RK stage uses the control increment over the step,
        # which is exact per segment; to_ode() would read the derivative at the knots from the
        # wrong side and lose an order.
        term = diffrax.ControlTerm(vf, path)
        # Step exactly on the knots of the piecewise-linear control, `substeps` per segment.
        fr = jnp.linspace(0.0, 1.0, self.substeps + 1, dtype=ts.dtype)[:-1]
        grid = (ts[:-1, None] + fr[None, :] * jnp.diff(ts)[:, None]).reshape(-1)
        grid = jnp.concatenate([grid, ts[-1:]])
        sol = diffrax.diffeqsolve(
            term,
            diffrax.Tsit5(),
            t0=ts[0],
            t1=ts[-1],
            dt0=None,
            y0=self.z0,
            saveat=diffrax.SaveAt(ts=ts),
            stepsize_controller=diffrax.StepTo(ts=grid),
            max_steps=grid.shape[0] + 1,
        )
        return sol.ys

    def features(
        self, X: Float[Array, "L d_in"], ts: Float[Array, " L"] | None = None
    ) -> Float[Array, " N"]:
        """The hidden state at the final time, (N,): features for a linear (ridge) readout."""
        return self.states(X, ts)[-1]

    def __call__(
        self, X: Float[Array, "L d_in"], ts: Float[Array, " L"] | None = None
    ) -> Float[Array, "L d_out"]:
        """Readout ``C Z_t`` at every sample time, (L, d_out); dtype follows ``X``."""
        return self.states(X, ts) @ self.C.astype(X.dtype).T
