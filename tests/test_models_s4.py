"""Oracle tests for S4 (DPLR HiPPO-LegS): NPLR identity, Cauchy kernel vs dense powering."""

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy.linalg import expm

from ssmbench.models.s4 import S4, hippo_legs, hippo_legs_nplr

KEY = jax.random.PRNGKey(0)


def test_hippo_legs_nplr_reconstructs_A():
    N = 8
    A, B = hippo_legs(N)
    assert A[3, 1] == -np.sqrt(7) * np.sqrt(3) and A[2, 2] == -3 and A[1, 3] == 0
    Lam, P, Bt, V = hippo_legs_nplr(N)
    Vf = np.concatenate([V, V.conj()], 1)
    Lf, Pf, Bf = (np.concatenate([x, x.conj()]) for x in (Lam, P, Bt))
    np.testing.assert_allclose(Vf @ Vf.conj().T, np.eye(N), atol=1e-12)  # unitary
    np.testing.assert_allclose(
        Vf @ (np.diag(Lf) - np.outer(Pf, Pf.conj())) @ Vf.conj().T, A, atol=1e-10
    )
    np.testing.assert_allclose(Vf @ Bf, B, atol=1e-10)
    np.testing.assert_allclose(Lam.real, -0.5)


@pytest.mark.parametrize("disc", ["bilinear", "zoh"])
def test_s4_kernel_equals_dense_powering_in_hippo_basis(disc):
    """float64: the kernel equals C Ā^l B̄ built from the real HiPPO-LegS matrix, to 1e-8."""
    N, H, L = 8, 2, 64
    m = S4(H, N, discretization=disc, dt_min=0.01, dt_max=0.1, key=KEY)
    K = np.asarray(eqx.filter_jit(lambda m: m.kernel(L))(m))
    A, B = hippo_legs(N)
    _, _, _, V = hippo_legs_nplr(N)
    Vf = np.concatenate([V, V.conj()], 1)
    C = np.asarray(m.C[..., 0]) + 1j * np.asarray(m.C[..., 1])
    Cf = np.concatenate([C, C.conj()], 1) @ Vf.conj().T  # C in the original basis
    assert np.abs(Cf.imag).max() < 1e-12  # conjugate-closed => a real readout
    for h in range(H):
        dt = float(np.exp(m.log_dt[h]))
        if disc == "bilinear":
            M = np.eye(N) - dt / 2 * A
            Ab, Bb = np.linalg.solve(M, np.eye(N) + dt / 2 * A), np.linalg.solve(M, dt * B)
        else:
            Ab = expm(dt * A)
            Bb = np.linalg.solve(A, (Ab - np.eye(N)) @ B)
        x, ref = Bb, []
        for _ in range(L):
            ref.append((Cf[h] @ x).real)
            x = Ab @ x
        ref = np.array(ref)
        scale = np.abs(ref).max()
        np.testing.assert_allclose(K[:, h], ref, atol=1e-8 * max(scale, 1.0))


@pytest.mark.parametrize("disc", ["bilinear", "zoh"])
def test_s4_conv_equals_recurrent_and_step(disc):
    N, H, L = 6, 2, 40
    u = jax.random.normal(jax.random.PRNGKey(1), (L, H))
    conv = S4(H, N, discretization=disc, mode="conv", key=KEY)
    rec = S4(H, N, discretization=disc, mode="recurrent", key=KEY)

    @eqx.filter_jit
    def run(conv, rec, u):
        _, ys = jax.lax.scan(lambda s, x: rec.step(s, x), rec.init_state(), u)
        return conv(u), rec(u), ys

    yc, yr, ys = run(conv, rec, u)
    # float64: FFT convolution vs dense recurrence differ by rounding only.
    np.testing.assert_allclose(np.asarray(yc), np.asarray(yr), atol=1e-10)
    np.testing.assert_allclose(np.asarray(ys), np.asarray(yr), atol=1e-10)
    assert yc.shape == (L, H)


def test_s4_bilinear_woodbury_matches_dense_solve_values_and_gradients():
    """discrete() (Woodbury, no LAPACK) equals discrete_reference() (dense solve), values and
    gradients with respect to every parameter; float64, so 1e-10 relative to the entries."""
    m = S4(3, 16, discretization="bilinear", key=KEY)
    fast, ref = m.discrete(), m.discrete_reference()
    for a, b in zip(fast, ref):
        np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-10, atol=1e-12)

    w = jax.random.normal(jax.random.PRNGKey(5), (3, 16, 16))

    def loss(m, which):
        Ab, Bb, _ = m.discrete() if which == "fast" else m.discrete_reference()
        return jnp.sum(w * jnp.abs(Ab) ** 2) + jnp.sum(jnp.real(Bb) * w[:, 0])

    g_fast = eqx.filter_grad(lambda m: loss(m, "fast"))(m)
    g_ref = eqx.filter_grad(lambda m: loss(m, "ref"))(m)
    for a, b in zip(jax.tree.leaves(g_fast), jax.tree.leaves(g_ref)):
        scale = max(float(np.abs(np.asarray(b)).max()), 1.0)
        np.testing.assert_allclose(np.asarray(a), np.asarray(b), atol=1e-10 * scale)


_HANG_PROBE = """
import equinox as eqx, jax, jax.numpy as jnp
from ssmbench.models import Deep
from ssmbench.tasks.delay import delay_task
net = Deep("s4", 1, 32, 1, depth=2, key=jax.random.PRNGKey(0))
x, _ = delay_task(jax.random.PRNGKey(1), 8, 64, 16)
g = eqx.filter_jit(eqx.filter_grad(lambda n, x: jnp.mean(jax.vmap(n)(x) ** 2)))
for i in range(3):
    jax.block_until_ready(g(net, x + i))
print("ok")
"""


@pytest.mark.slow
def test_deep_s4_gradient_does_not_hang():
    """Regression for the jaxlib 0.10.2 CPU deadlock of two batched LU factorisations sharing a
    2-thread pool (docs/suites.md, "Known problem"): before S4 used Woodbury, this probe hung in
    4 of 4 unpinned tries on a 2-vCPU VM. Run unpinned, in a subprocess, under a timeout."""
    import os
    import subprocess
    import sys

    env = {k: v for k, v in os.environ.items() if k != "XLA_FLAGS"}
    out = subprocess.run(
        [sys.executable, "-c", _HANG_PROBE], capture_output=True, text=True, timeout=240, env=env
    )
    assert out.returncode == 0 and out.stdout.strip().endswith("ok"), out.stderr[-2000:]
