"""Checks 1-4 of ``suites/dsr.toml``: DSR of Lorenz-63 from its HRF-convolved, noisy observation.

One cell = one seed, one noise level, one method. The data (key ``seed``): a standardized
Lorenz-63 trajectory (diffrax, Δt = ``dt`` time units per sample) convolved with SPM's HRF at
TR = ``tr`` (161 taps at 0.2 s), ``T`` observations, plus Gaussian noise of sd ``noise`` times
each clean column's sd. Methods, with the same model (clipped shallow PLRNN, ``latent_dim``
latents, ``hidden_dim`` hidden units), the same windows, steps, batch and optimizer:

- ``convssm``: GTF (``alpha``) with the Wiener-deconvolved signal as forcing, loss through the
  HRF (the paper's method);
- ``alpha0``: the same with ``α = 0`` (only the window's first state comes from the
  deconvolved signal);
- ``standard``: the same PLRNN with an identity readout and no HRF, trained by GTF (``alpha``)
  on the raw BOLD signal as if it were the state.

After training, the model runs free for ``free_run_steps`` steps from the first defined
deconvolved sample (``standard``: the first observation). The generated states through the
readout, ``B z`` (the first 3 latents; for ``standard`` the modelled "BOLD state"), are compared
with a fresh true Lorenz trajectory of the same length (another initial condition, key
``seed``), standardized with the data's mean and sd. Rows (one cell's method is its
``method`` parameter, a grid column):

- ``d_stsp`` (binning, 30 bins per dimension), ``d_h`` (σ = 20), ``lambda_max`` (the learned
  map's largest exponent by QR over ``lyap_steps`` steps from the end of the free run, per time
  unit: divided by ``dt``), ``deconv_corr`` (mean over coordinates of the correlation of the
  deconvolved signal with the true latent on its defined interior: a property of the data, the
  same for every method), ``wall_s`` (the whole cell), ``train_s``, ``compile_s``,
  ``time_per_step`` (median training step), ``final_loss`` (mean of the last 50 steps),
  ``diverged`` (1 when the free run left the finite numbers: then ``d_stsp``, ``d_h`` and
  ``lambda_max`` are NaN, and the harness records the cell as diverged), ``train_diverged``
  (1 when the training loop's NaN guard stopped the run).
"""

from __future__ import annotations

import math
import time
from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

from ssmbench.dsr import (
    ConvSSM,
    fit_gtf,
    lorenz_bold,
    lyapunov_max_map,
    power_spectrum_distance,
    simulate_lorenz,
    spm_hrf,
    state_space_divergence,
    wiener_deconvolve,
)
from ssmbench.train import TrainConfig

__all__ = ["reconstruction_experiment", "evaluate_model", "METHODS", "deconv_correlation"]

METHODS = ("convssm", "alpha0", "standard")


def deconv_correlation(d: Any, z: Any) -> float:
    """Mean over columns of the Pearson correlation of ``d`` with ``z`` on the rows where ``d``
    is defined (not NaN)."""
    d, z = np.asarray(d, np.float64), np.asarray(z, np.float64)
    ok = ~np.any(np.isnan(d), axis=1)
    return float(np.mean([np.corrcoef(d[ok, i], z[ok, i])[0, 1] for i in range(d.shape[1])]))


@eqx.filter_jit
def _free_run(model: ConvSSM, z0: Any, n: int):
    """``B z`` and ``z`` of the free run (compiled once per model structure and length)."""
    z = model.latent.generate(z0, n)
    return model.readout(z), z


@eqx.filter_jit
def _lambda_max(model: ConvSSM, z0: Any, n: int):
    """The learned map's largest Lyapunov exponent per step from ``z0``."""
    return lyapunov_max_map(model.latent.step, z0, n)


def evaluate_model(
    model: ConvSSM, d0: Any, ref: np.ndarray, *, dt: float, lyap_steps: int
) -> dict[str, float]:
    """Free-run ``model`` from ``init_state(d0)`` for ``len(ref)`` steps and compare ``B z`` with
    the true trajectory ``ref``: ``d_stsp``, ``d_h``, ``lambda_max`` (per time unit) and
    ``diverged`` (1.0 when the free run is not finite; the three metrics are then NaN)."""
    obs, gen = _free_run(model, model.init_state(jnp.asarray(d0)), int(ref.shape[0]))
    gen_obs = np.asarray(obs, np.float64)
    if not np.all(np.isfinite(gen_obs)):
        return {"d_stsp": math.nan, "d_h": math.nan, "lambda_max": math.nan, "diverged": 1.0}
    lam = float(_lambda_max(model, gen[-1], lyap_steps)) / dt
    return {
        "d_stsp": state_space_divergence(ref, gen_obs),
        "d_h": power_spectrum_distance(ref, gen_obs),
        "lambda_max": lam,
        "diverged": 0.0,
    }


def train_cell(
    *,
    seed: int,
    method: str,
    noise: float,
    T: int,
    tr: float,
    dt: float,
    latent_dim: int,
    hidden_dim: int,
    alpha: float,
    window: int,
    batch_size: int,
    steps: int,
    learning_rate: float,
    final_lr_fraction: float,
    train_noise: float,
    unroll: int,
    conv: str,
    free_run_steps: int,
) -> dict[str, Any]:
    """Data, deconvolution and training of one cell (float64 data, float32 model); returns
    ``model``, ``result`` (the training result), ``d0`` (the first defined forcing sample),
    ``ref`` (a fresh true trajectory of ``free_run_steps``, in the data's units) and ``corr``
    (the deconvolution's correlation with the latent). Deterministic given the arguments."""
    with jax.enable_x64(True):
        k_data, k_ref, k_model, k_train = jax.random.split(jax.random.PRNGKey(seed), 4)
        hrf = spm_hrf(tr, dtype=jnp.float64)
        data = lorenz_bold(k_data, T, hrf, noise=noise, dt=dt)
        d = wiener_deconvolve(data.x, hrf)
        corr = deconv_correlation(d, data.z)
        if method == "standard":
            h_fit, d_fit, a_fit = jnp.ones((1,), jnp.float64), data.x, alpha
        else:
            h_fit, d_fit, a_fit = hrf, d, (0.0 if method == "alpha0" else alpha)
        f32 = jnp.float32
        model = ConvSSM(data.x.shape[1], latent_dim, hidden_dim, key=k_model, dtype=f32)
        config = TrainConfig(
            steps=steps, learning_rate=learning_rate, batch_size=batch_size, patience=None,
            eval_every=max(steps, 1), schedule="warmup_cosine", warmup_steps=min(50, steps),
            final_lr_fraction=final_lr_fraction,
        )  # fmt: skip
        res = fit_gtf(model, data.x.astype(f32), d_fit.astype(f32), h_fit.astype(f32),
                      alpha=a_fit, window=window, key=k_train, config=config,
                      train_noise=train_noise, unroll=unroll, conv=conv, cache=True)  # fmt: skip
        first = int(np.argmax(~np.any(np.isnan(np.asarray(d_fit)), axis=1)))
        true = simulate_lorenz(k_ref, free_run_steps, dt=dt)
        ref = (true - data.mean[None, :]) / data.sd[None, :]
    return {"model": res.params, "result": res, "d0": d_fit[first].astype(f32),
            "ref": np.asarray(ref), "corr": corr}  # fmt: skip


def reconstruction_experiment(
    *,
    seed: int,
    quick: bool = False,
    method: str = "convssm",
    noise: float = 0.01,
    T: int = 1000,
    tr: float = 0.2,
    dt: float = 0.01,
    latent_dim: int = 3,
    hidden_dim: int = 50,
    alpha: float = 0.15,
    window: int = 200,
    batch_size: int = 16,
    steps: int = 3000,
    learning_rate: float = 1e-3,
    final_lr_fraction: float = 0.01,
    train_noise: float = 0.05,
    unroll: int = 10,
    conv: str = "fft",
    free_run_steps: int = 100_000,
    lyap_steps: int = 10_000,
) -> list[dict[str, Any]]:
    """One method on one noisy Lorenz-BOLD series (module docstring). Data and metrics in
    float64; the model trains in float32."""
    if method not in METHODS:
        raise ValueError(f"method must be one of {METHODS}, got {method!r}")
    t_cell = time.perf_counter()
    cell = train_cell(
        seed=seed, method=method, noise=noise, T=T, tr=tr, dt=dt, latent_dim=latent_dim,
        hidden_dim=hidden_dim, alpha=alpha, window=window, batch_size=batch_size, steps=steps,
        learning_rate=learning_rate, final_lr_fraction=final_lr_fraction,
        train_noise=train_noise, unroll=unroll, conv=conv, free_run_steps=free_run_steps,
    )  # fmt: skip
    res, corr = cell["result"], cell["corr"]
    with jax.enable_x64(True):
        metrics = evaluate_model(cell["model"], cell["d0"], cell["ref"], dt=dt,
                                 lyap_steps=lyap_steps)  # fmt: skip
    wall = time.perf_counter() - t_cell
    values = {
        **metrics,
        "deconv_corr": corr,
        "wall_s": wall,
        "train_s": res.train_wall_s,
        "compile_s": res.compile_s,
        "time_per_step": res.median_step_s,
        "final_loss": float(np.mean([r["loss"] for r in res.log[-50:]])) if res.log else math.nan,
        "train_diverged": float(res.diverged),
    }
    return [{"metric": k, "value": float(v)} for k, v in values.items()]
