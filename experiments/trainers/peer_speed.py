"""PVMC (``ssmbench.prob.pvmc``, JAX) against the authors' PyTorch ``ParallelSmoother``: wall time
of the log-likelihood estimate and of its gradient, and a correctness check of both.

Problem (identical on both sides): the LGSSM of :func:`ssmbench.tasks.ssm_data.lgssm_params`
(d_x = d_y = 5, parameter seed 0), one sequence of ``T`` points from ``lgssm_task(T, seed=0)``,
float32; the proposal is the exact RTS marginals p(x_t | y), computed here in float64 numpy and
sampled independently for all t (the same means and Cholesky factors on both sides). The peer
estimates the same p(y_{0:T-1}) with ``time_extent = T - 1``, batch 1, ``dSMC_ELBO`` (its
likelihood-only reduction); gradients are taken wrt every model parameter (prior, transition and
emission means/matrices and Cholesky factors) on both sides, the proposal held fixed.

The peer is NOT part of this repository: it is loaded at run time from ``--peer-path``, a work
tree of the authors' public repository John-JoB/parallel-variational-sequential-monte-carlo at
commit 0d97549a8f00ea320e2ee9169f710e8da8cc1f6a (a clone, or ``git archive HEAD | tar -x -C
/tmp/peer`` of a mirror). Its deps go in a venv of their own; pydpf 1.1.3 is the last release
whose observation wrapper has the ``score`` method that ``ParallelSmoother`` calls (1.2 renamed
it ``fitness``), and pydpf declares Python >= 3.12 but imports on 3.11; ``--no-deps`` keeps pip
from replacing the CPU torch by the CUDA build that pydpf's torchvision/torchaudio pins pull::

    python3.11 -m venv /tmp/peer-venv
    /tmp/peer-venv/bin/pip install TORCH_CPU_WHEEL einops opt_einsum numpy pandas polars joblib
    /tmp/peer-venv/bin/pip install --no-deps --ignore-requires-python pydpf==1.1.3

Run (from the repository root, with this project's venv; the peer half runs in a subprocess
under ``--peer-python``, one process at a time; rows are JSON lines, also appended to ``--out``)::

    .venv/bin/python experiments/trainers/peer_speed.py --check --peer-path /tmp/peer \\
        --peer-python /tmp/peer-venv/bin/python
    .venv/bin/python experiments/trainers/peer_speed.py --peer-path /tmp/peer \\
        --peer-python /tmp/peer-venv/bin/python --out results/peer_speed.jsonl

Timing: JAX ``jit``, the first call (compile) reported apart as ``compile_s``; torch with
``torch.set_num_threads(2)`` and ``--warmup`` untimed calls (``warmup_s``); then the median of ``--repeats``
calls with a fresh key/seed each (JAX ends each in ``block_until_ready``). Ours runs with each
``--methods`` entry (``auto``: the one :func:`ssmbench.prob.pvmc_path` picks on this backend).
Time nothing else on the machine meanwhile. Imports here are stdlib + numpy only; JAX (ours)
and torch (peer) are imported inside their halves, so one file serves both interpreters.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import math
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
GRID = "128:32,128:64,500:32,500:64,2048:32,2048:64"


def _ssm_data():
    """``ssmbench/tasks/ssm_data.py`` (numpy only) loaded by path: the peer's venv lacks JAX."""
    spec = importlib.util.spec_from_file_location("_ssm_data", ROOT / "ssmbench/tasks/ssm_data.py")
    mod = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = mod  # dataclasses resolve the module's annotations through it
    spec.loader.exec_module(mod)
    return mod


def kalman(p: dict, y: np.ndarray):
    """Kalman filter in float64: (log p(y), filtered means/covs, predicted means/covs)."""
    A, Q, C, R = p["A"], p["Q"], p["C"], p["R"]
    m, P, ll = p["m0"], p["P0"], 0.0
    out = ([], [], [], [])
    for t in range(y.shape[0]):
        if t:
            m, P = A @ m, A @ P @ A.T + Q
        out[2].append(m)
        out[3].append(P)
        S = C @ P @ C.T + R
        L = np.linalg.cholesky(S)
        r = y[t] - C @ m
        z = np.linalg.solve(L, r)
        ll += -0.5 * z @ z - np.log(np.diag(L)).sum() - 0.5 * len(r) * math.log(2 * math.pi)
        K = np.linalg.solve(S, C @ P).T
        m, P = m + K @ r, P - K @ S @ K.T
        out[0].append(m)
        out[1].append(0.5 * (P + P.T))
    return ll, *(np.array(o) for o in out)


def rts_marginals(p: dict, y: np.ndarray):
    """The exact smoothing marginals: means (T, dx) and Cholesky factors (T, dx, dx), float64."""
    _, mf, Pf, mp, Pp = kalman(p, y)
    ms, Ps = mf.copy(), Pf.copy()
    for t in range(y.shape[0] - 2, -1, -1):
        G = np.linalg.solve(Pp[t + 1], p["A"] @ Pf[t]).T
        ms[t] = mf[t] + G @ (ms[t + 1] - mp[t + 1])
        Ps[t] = Pf[t] + G @ (Ps[t + 1] - Pp[t + 1]) @ G.T
    return ms, np.linalg.cholesky(0.5 * (Ps + Ps.transpose(0, 2, 1)))


def exact_grad_A(p: dict, y: np.ndarray, h: float = 1e-6) -> np.ndarray:
    """d log p(y) / dA by central differences of the float64 Kalman filter."""
    g = np.zeros_like(p["A"])
    for idx in np.ndindex(g.shape):
        lo, hi = dict(p, A=p["A"].copy()), dict(p, A=p["A"].copy())
        lo["A"][idx] -= h
        hi["A"][idx] += h
        g[idx] = (kalman(hi, y)[0] - kalman(lo, y)[0]) / (2 * h)
    return g


def problem(T: int):
    """Parameters (float64 numpy), one sequence y (T, 5) and the RTS proposal (means, chols)."""
    task = _ssm_data().lgssm_task(T, seed=0, n_train=1, n_val=1, n_test=1)
    p = {k: np.asarray(v, np.float64) for k, v in task.params.items()}
    y = np.asarray(task.y_train[0], np.float64)
    return p, y, *rts_marginals(p, y)


def _row(side, impl, T, N, name, times, extra):
    """One timing row: median and min of ``times`` (s), with ``extra`` fields."""
    return {"side": side, "impl": impl, "T": T, "N": N, "pass": name, **extra,
            "median_s": statistics.median(times), "min_s": min(times), "repeats": len(times)}  # fmt: skip


# ---------------------------------------------------------------------------- ours (JAX)
def _ours_setup(T, N, method):
    import jax
    import jax.numpy as jnp

    from ssmbench.prob import LGSSM, GaussianMarginals, pvmc

    p, y, means, chols = problem(T)
    f32 = lambda a: jnp.asarray(a, jnp.float32)  # noqa: E731
    ch = {k: np.linalg.cholesky(p[k]) for k in ("P0", "Q", "R")}
    zx, zy = np.zeros(p["A"].shape[0]), np.zeros(p["C"].shape[0])
    m = LGSSM(*map(f32, (p["m0"], ch["P0"], p["A"], zx, ch["Q"], p["C"], zy, ch["R"])))
    q = GaussianMarginals(f32(means), f32(chols))

    def bound(model, k):
        return pvmc(k, model, q, f32(y), N, method=method, smoothing=False)[0]

    return jax, m, bound, (p, y)


def ours_time(T, N, path, repeats):
    """Rows for ``value`` and ``value+grad`` of jitted ``pvmc`` on ``path`` (a ``method``)."""
    from ssmbench.prob import pvmc_path

    jax, m, bound, _ = _ours_setup(T, N, path)
    fns = {"value": jax.jit(bound), "value+grad": jax.jit(jax.value_and_grad(bound))}
    extra = {"method": path, "auto": path == pvmc_path(), "backend": jax.default_backend(),
             "version": f"jax {jax.__version__}"}  # fmt: skip
    rows = []
    for name, f in fns.items():
        t0 = time.perf_counter()
        jax.block_until_ready(f(m, jax.random.PRNGKey(0)))
        first = time.perf_counter() - t0
        times = []
        for i in range(repeats):
            t0 = time.perf_counter()
            jax.block_until_ready(f(m, jax.random.PRNGKey(i + 1)))
            times.append(time.perf_counter() - t0)
        rows.append(_row("ours", "ssmbench.pvmc", T, N, name, times, {**extra, "compile_s": first}))
    return rows


def ours_check(T, N, keys, method):
    """Log Z-hat and d/dA over ``keys`` keys vs the exact (Kalman) values, for ``method``."""
    from ssmbench.prob import kalman_filter

    jax, m, bound, (p, y) = _ours_setup(T, N, method)
    f = jax.jit(jax.value_and_grad(bound))
    lls, gs = zip(*[f(m, jax.random.PRNGKey(k)) for k in range(keys)], strict=True)
    auto = jax.grad(lambda mm: kalman_filter(mm, jax.numpy.asarray(y, "float32")).log_likelihood)
    extra = {"grad_A_autodiff_f32": np.asarray(auto(m).A).round(5).tolist()}
    return _check_row("ours", f"ssmbench.pvmc[{method}]", T, N, p, y, lls,
                      [g.A for g in gs], extra)  # fmt: skip


def _check_row(side, impl, T, N, p, y, lls, gAs, extra):
    """The summary of one implementation's estimates against the exact values."""
    lls, gAs = np.asarray(lls, np.float64), np.asarray(gAs, np.float64)
    exact, gex = kalman(p, y)[0], exact_grad_A(p, y)
    se = lls.std(ddof=1) / math.sqrt(len(lls))
    gm, gse = gAs.mean(0), gAs.std(0, ddof=1) / math.sqrt(len(gAs))
    return {"check": True, "side": side, "impl": impl, "T": T, "N": N, "keys": len(lls),
            "ll_exact": exact, "ll_mean": lls.mean(), "ll_se": se, "ll_z": (lls.mean() - exact) / se,
            "grad_A_rel_err": float(np.linalg.norm(gm - gex) / np.linalg.norm(gex)),
            "grad_A_max_abs_err": float(np.abs(gm - gex).max()),
            "grad_A_max_z": float(np.max(np.abs(gm - gex) / np.maximum(gse, 1e-12))),
            "grad_A_exact_fd64": gex.round(5).tolist(), "grad_A_mean": gm.round(5).tolist(),
            "grad_A_se": gse.round(5).tolist(), **extra}  # fmt: skip


# ---------------------------------------------------------------------------- peer (torch)
def _peer_setup(T, peer_path):
    import torch

    torch.set_num_threads(2)
    sys.path.insert(0, str(Path(peer_path).resolve()))
    import pydpf
    from parallel_smoother_new import ParallelSmoother
    from smoother_outputs import dSMC_ELBO

    p, y, means, chols = problem(T)
    t32 = lambda a: torch.tensor(np.asarray(a), dtype=torch.float32)  # noqa: E731
    par = lambda a: torch.nn.Parameter(t32(a))  # noqa: E731
    ch = {k: np.linalg.cholesky(p[k]) for k in ("P0", "Q", "R")}
    dx, dy = p["A"].shape[0], p["C"].shape[0]
    A, g = par(p["A"]), torch.Generator()  # g: pydpf wants one (the models are not sampled)
    prior = pydpf.MultivariateGaussian(par(p["m0"]), par(ch["P0"]), generator=g)
    dyn = pydpf.LinearGaussian(weight=A, bias=par(np.zeros(dx)), cholesky_covariance=par(ch["Q"]),
                               generator=g)  # fmt: skip
    obs = pydpf.LinearGaussian(weight=par(p["C"]), bias=par(np.zeros(dy)),
                               cholesky_covariance=par(ch["R"]), generator=g)  # fmt: skip
    ssm = pydpf.FilteringModel(prior_model=prior, dynamic_model=dyn, observation_model=obs)

    class RTSProposal(torch.nn.Module):
        """Independent draws from fixed per-t Gaussians: (state[t,b,n,d], log q[t,b,n])."""

        def __init__(self):
            super().__init__()
            self.gen = torch.Generator()
            self.means, self.chols = t32(means), t32(chols)
            self.c = t32(-np.log(np.diagonal(chols, 0, 1, 2)).sum(-1) - 0.5 * dx * math.log(2 * math.pi))  # fmt: skip

        def forward(self, n_particles, observation, **_):
            T_, B = observation.shape[:2]
            eps = torch.randn((T_, B, n_particles, dx), generator=self.gen)
            x = self.means[:, None, None] + torch.einsum("tij,tbnj->tbni", self.chols, eps)
            return x, self.c[:, None, None] - 0.5 * (eps**2).sum(-1)

    prop = RTSProposal()
    smoother, agg, y_t = ParallelSmoother(prop, ssm), dSMC_ELBO(), t32(y)[:, None, :]
    params = list(ssm.parameters())

    def value(N, seed):
        with torch.no_grad():
            prop.gen.manual_seed(seed)
            ssm.update()  # pydpf caches functions of the parameters (its training loop does this)
            return smoother(N, T - 1, agg, y_t).sum()

    def value_grad(N, seed):
        prop.gen.manual_seed(seed)
        ssm.update()
        ll = smoother(N, T - 1, agg, y_t).sum()
        return ll, torch.autograd.grad(ll, params)

    return torch, ParallelSmoother, value, value_grad, [q is A for q in params].index(True), (p, y)


def peer_time(T, N, repeats, warmup, peer_path):
    """Rows for ``value`` (no_grad) and ``value+grad`` of the authors' ParallelSmoother."""
    torch, _, value, value_grad, _, _ = _peer_setup(T, peer_path)
    extra = {"method": "ParallelSmoother", "auto": False, "backend": "cpu",
             "version": f"torch {torch.__version__}", "threads": torch.get_num_threads()}  # fmt: skip
    rows = []
    for name, f in {"value": value, "value+grad": value_grad}.items():
        t0 = time.perf_counter()
        for i in range(warmup):
            f(N, 10_000 + i)
        first = time.perf_counter() - t0
        times = []
        for i in range(repeats):
            t0 = time.perf_counter()
            f(N, i + 1)
            times.append(time.perf_counter() - t0)
        rows.append(
            _row("peer", "ParallelSmoother", T, N, name, times, {**extra, "warmup_s": first})
        )
    return rows


def peer_check(T, N, keys, peer_path):
    """As :func:`ours_check`, for the peer as published and with its logmatmulexp replaced by
    plain autograd (same forward, no custom backward) to isolate the backward's effect."""
    torch, PS, _, value_grad, iA, (p, y) = _peer_setup(T, peer_path)

    def run():
        out = [value_grad(N, k) for k in range(keys)]
        return [float(ll.detach()) for ll, _ in out], [g[iA].numpy() for _, g in out]

    rows = [_check_row("peer", "ParallelSmoother", T, N, p, y, *run(), {})]

    def logmatmulexp_autograd(left, right):  # ours: max-shifted exp-matmul-log, autograd backward
        a, b = left.amax(-1, keepdim=True).detach(), right.amax(-2, keepdim=True).detach()
        return torch.log(torch.exp(left - a) @ torch.exp(right - b)) + a + b - math.log(left.size(-1))  # fmt: skip

    original = PS.logmatmulexp
    PS.logmatmulexp = type("logmatmulexp_autograd", (), {"apply": staticmethod(logmatmulexp_autograd)})  # fmt: skip
    try:
        rows.append(_check_row("peer", "ParallelSmoother[autograd logmatmulexp]", T, N, p, y, *run(), {}))  # fmt: skip
    finally:
        PS.logmatmulexp = original
    return rows


# ---------------------------------------------------------------------------- driver
def _emit(rows, out):
    """Print rows as JSON lines and append them to ``out`` (if given)."""
    for r in rows:
        line = json.dumps(r, default=float)
        print(line, flush=True)
        if out:
            with open(out, "a") as fh:
                fh.write(line + "\n")


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--side", choices=("ours", "peer", "both"), default="both")
    ap.add_argument("--peer-path", default="/tmp/peer", help="a checkout of the authors' repo")
    ap.add_argument("--peer-python", default="/tmp/peer-venv/bin/python")
    ap.add_argument("--sizes", default=GRID, help="T:N,... (default: the full grid)")
    ap.add_argument("--methods", default="sequential,associative", help="ours' paths, or auto")
    ap.add_argument("--repeats", type=int, default=7)
    ap.add_argument("--warmup", type=int, default=2, help="torch's untimed calls")
    ap.add_argument("--check", action="store_true", help="correctness check instead of timing")
    ap.add_argument("--check-size", default="20:64")
    ap.add_argument("--keys", type=int, default=10)
    ap.add_argument("--out", default=None, help="append the JSON rows to this file")
    a = ap.parse_args(argv)
    sizes = [tuple(map(int, s.split(":"))) for s in a.sizes.split(",")]
    T0, N0 = map(int, a.check_size.split(":"))
    if a.side in ("ours", "both"):
        from ssmbench.prob import pvmc_path

        paths = dict.fromkeys(pvmc_path() if m == "auto" else m for m in a.methods.split(","))
        for path in paths:
            if a.check:
                _emit([ours_check(T0, N0, a.keys, path)], a.out)
        for T, N in [] if a.check else sizes:
            for path in paths:
                _emit(ours_time(T, N, path, a.repeats), a.out)
    if a.side == "peer":
        if a.check:
            _emit(peer_check(T0, N0, a.keys, a.peer_path), a.out)
        for T, N in [] if a.check else sizes:
            _emit(peer_time(T, N, a.repeats, a.warmup, a.peer_path), a.out)
    if a.side == "both":  # the peer in its own interpreter, after ours has finished
        cmd = [
            a.peer_python,
            str(Path(__file__).resolve()),
            "--side",
            "peer",
            "--peer-path",
            a.peer_path,
            "--sizes",
            a.sizes,
            "--repeats",
            str(a.repeats),
            "--warmup",
            str(a.warmup),
            "--check-size",
            a.check_size,
            "--keys",
            str(a.keys),
        ]
        cmd += (["--check"] if a.check else []) + (["--out", a.out] if a.out else [])
        subprocess.run(cmd, check=True)


if __name__ == "__main__":
    main()
