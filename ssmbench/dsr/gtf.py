"""Generalized teacher forcing (GTF) with a deconvolved forcing signal, and its training.

- :func:`force`: ``z ← (1 − α) z + α d`` on the first ``N`` latent coordinates (the identity-
  observation teacher forcing of the authors' code: the deconvolved signal ``d`` lives in the
  space of ``B z`` with ``B = [I_N 0]``, so it forces ``z_1..z_N`` directly and the other
  ``M − N`` latents run free), coordinate by coordinate wherever ``d`` is defined; a NaN in
  ``d`` (the undefined edges of the deconvolution) leaves that coordinate unforced:
  ``z = F(z)``. ``α = 0`` is the ablation (no forcing after the window's first state).
- :func:`gtf_rollout`: over a window ``d_0..d_{W−1}``: ``z_0 = (d_0, 0)``, then for
  ``t = 1..W−1`` the prediction ``ẑ_t = F(z_{t−1})`` and the forced state
  ``z_t = force(ẑ_t, d_t)``; returns the predictions ``ẑ_1..ẑ_{W−1}`` (a ``lax.scan``).
  :func:`gtf_rollout_reference` is the same by a Python loop.
- :func:`gtf_loss`: ``mean((hrf ∗ B ẑ)_t − x_t)²`` over ``t = K..W−1``, the times whose whole
  HRF history ``ẑ_{t−K+1..t}`` lies in the window (the authors' loss; ``W > K``), the
  convolution by FFT (default) or the direct sum. With a
  one-tap HRF ``[1]`` and ``d = x`` it is the "standard" model: GTF on the raw signal, the
  readout the identity.
- :func:`make_windows`: every window of ``W`` samples whose first forcing value is defined.
- :func:`fit_gtf`: trains a :class:`~ssmbench.dsr.plrnn.ConvSSM` through
  :func:`ssmbench.train.train` (random minibatches of windows drawn inside the step; Gaussian
  noise of sd ``train_noise`` added to ``x`` and ``d`` of each batch, as the authors do).
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Float

from ..train import TrainConfig, TrainResult, train
from ._checks import check_alpha, check_hrf, check_series
from .hrf import hrf_convolve_direct, hrf_convolve_fft
from .plrnn import ConvSSM

__all__ = ["force", "gtf_rollout", "gtf_rollout_reference", "gtf_loss", "make_windows",
           "fit_gtf"]  # fmt: skip


def force(
    z: Float[Array, " M"], d: Float[Array, " N"], alpha: float | Float[Array, ""]
) -> Float[Array, " M"]:
    """``(1 − α) z + α d`` on the first ``N`` coordinates where ``d`` is not NaN; else ``z``."""
    n = d.shape[0]
    defined = ~jnp.isnan(d)
    d_safe = jnp.where(defined, d, 0.0)
    head = z[:n]
    forced = jnp.where(defined, (1.0 - alpha) * head + alpha * d_safe, head)
    return jnp.concatenate([forced, z[n:]])


def gtf_rollout(
    model: ConvSSM, d: Float[Array, "W N"], alpha: float | Float[Array, ""], *, unroll: int = 1
) -> Float[Array, "W1 M"]:
    """The GTF predictions ``ẑ_1..ẑ_{W−1}`` over one window (module docstring); ``unroll``:
    of the ``lax.scan`` (fewer loop iterations for XLA's CPU backend; the same values)."""

    def body(z, d_t):
        pred = model.latent.step(z)
        return force(pred, d_t, alpha), pred

    return jax.lax.scan(body, model.init_state(d[0]), d[1:], unroll=unroll)[1]


def gtf_rollout_reference(model: ConvSSM, d: Any, alpha: float) -> np.ndarray:
    """:func:`gtf_rollout` by a Python loop over time and coordinates (float64 numpy)."""
    d = np.asarray(d, np.float64)
    W, N = d.shape
    z = np.asarray(model.init_state(jnp.asarray(d[0])), np.float64)
    preds = []
    for t in range(1, W):
        pred = np.asarray(model.latent.step(jnp.asarray(z)), np.float64)
        preds.append(pred)
        z = pred.copy()
        for i in range(N):
            if not np.isnan(d[t, i]):
                z[i] = (1 - alpha) * pred[i] + alpha * d[t, i]
    return np.stack(preds)


def gtf_loss(
    model: ConvSSM,
    x: Float[Array, "W N"],
    d: Float[Array, "W N"],
    hrf: Float[Array, " K"],
    alpha: float | Float[Array, ""],
    *,
    unroll: int = 1,
    conv: str = "fft",
) -> Float[Array, ""]:
    """The MSE of ``hrf ∗ (B ẑ)`` against ``x`` on one window (module docstring); ``conv``:
    ``"fft"`` (the default: fastest and steady on CPU, ``O(W log W)`` whatever ``K``) or
    ``"direct"`` (the sum over taps, ``O(W K)``)."""
    if conv not in ("fft", "direct"):
        raise ValueError(f"conv must be 'fft' or 'direct', got {conv!r}")
    K = hrf.shape[0]
    W = x.shape[0]
    if W <= K:
        raise ValueError(f"the window ({W} samples) must be longer than the HRF ({K} taps)")
    pred = gtf_rollout(model, d, alpha, unroll=unroll)
    convolve = hrf_convolve_fft if conv == "fft" else hrf_convolve_direct
    xhat = convolve(model.readout(pred), hrf)
    return jnp.mean((xhat - x[K:]) ** 2)


def make_windows(
    x: Float[Array, "T N"], d: Float[Array, "T N"], window: int, *, stride: int = 1
) -> dict[str, Float[Array, "n W N"]]:
    """Every window of ``window`` samples (starts ``stride`` apart) whose first forcing value
    ``d_start`` is defined: ``{"x": (n, W, N), "d": (n, W, N)}``."""
    T, N = check_series(x, "x", min_length=window)
    if tuple(d.shape) != (T, N):
        raise ValueError(f"d must have the shape of x {(T, N)}, got {tuple(d.shape)}")
    if not bool(jnp.all(jnp.isfinite(x))):
        raise ValueError("x must be finite (no NaN or inf); only d may hold NaN (its edges)")
    starts = np.arange(0, T - window + 1, stride)
    ok = np.asarray(jnp.all(~jnp.isnan(d[starts]), axis=1))
    starts = starts[ok]
    if starts.size == 0:
        raise ValueError(f"no window of {window} samples starts at a defined value of d")
    idx = starts[:, None] + np.arange(window)[None, :]
    return {"x": x[idx], "d": d[idx]}


def fit_gtf(
    model: ConvSSM,
    x: Float[Array, "T N"],
    d: Float[Array, "T N"],
    hrf: Float[Array, " K"],
    *,
    alpha: float,
    window: int,
    key: jax.Array,
    config: TrainConfig,
    train_noise: float = 0.0,
    unroll: int = 1,
    conv: str = "fft",
    cache: bool = False,
) -> TrainResult:
    """Train ``model`` by GTF on the series ``x`` with forcing signal ``d`` (module docstring)
    through :func:`ssmbench.train.train`; ``config.batch_size`` windows per step; ``unroll``: of
    the rollout's scan; ``conv``: of :func:`gtf_loss`. ``cache``: keep the compiled step in :func:`ssmbench.train.train`'s
    in-process cache, keyed by everything the loss closes over (the HRF's values, ``alpha``,
    ``train_noise``, ``unroll``), so that later fits with the same settings and shapes (other
    seeds, other data) skip the compile."""
    alpha = check_alpha(alpha)
    K = check_hrf(hrf)
    if conv not in ("fft", "direct"):
        raise ValueError(f"conv must be 'fft' or 'direct', got {conv!r}")
    if window <= K:
        raise ValueError(f"window must be longer than the HRF ({K} taps), got {window}")
    if x.shape[1] != model.obs_dim:
        raise ValueError(f"x has {x.shape[1]} columns; the model observes {model.obs_dim}")
    data = make_windows(x, d, window)
    hrf = hrf.astype(x.dtype)

    def loss_fn(params, k, batch):
        xb, db = batch["x"], batch["d"]
        if train_noise > 0:
            kx, kd = jax.random.split(k)
            xb = xb + train_noise * jax.random.normal(kx, xb.shape, xb.dtype)
            db = db + train_noise * jax.random.normal(kd, db.shape, db.dtype)
        losses = jax.vmap(
            lambda a, b: gtf_loss(params, a, b, hrf, alpha, unroll=unroll, conv=conv)
        )(xb, db)
        loss = jnp.mean(losses)
        return loss, {"mse": loss}

    cache_key = None
    if cache:
        h_key = tuple(float(v) for v in np.asarray(hrf))
        cache_key = ("ssmbench.dsr.fit_gtf", h_key, str(hrf.dtype), alpha, float(train_noise),
                     int(unroll), conv)  # fmt: skip
    return train(loss_fn, model, data, key=key, config=config, cache_key=cache_key)
