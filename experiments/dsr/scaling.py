"""Check 5 of ``suites/dsr.toml``: convSSM's training cost per step against its sizes.

One cell sweeps one ``axis`` over its list of values (``seq_lens``, ``latent_dims`` or
``hrf_lens``), the other sizes held at their defaults:

- ``seq_len``: the loss outputs per window (the window holds ``seq_len + hrf_len`` samples:
  the HRF's history plus the outputs);
- ``latent_dim``: M (the readout ``B`` is trained, 3 observed series force the first 3 latents);
- ``hrf_len``: K, the taps of the HRF (a normalized double gamma's first K samples at TR = 0.2,
  renormalized; only its length matters here).

Each point trains a fresh :class:`~ssmbench.dsr.ConvSSM` by GTF (α = 0.15, batch ``batch_size``
windows of a random 3-column series) through :func:`ssmbench.train.train` for ``repeats + 1``
steps: ``compile_s`` is the compile of the step, ``time_per_step`` the median of the timed
steps after the first (each ended by ``block_until_ready``). Rows carry the three sizes as
columns ``L`` (loss outputs per window), ``M`` and ``K``.
The cost model: the scan over ``seq_len + K`` steps costs ``O((seq_len + K) · M · H)`` (M · H
for the hidden layer); the HRF convolution ``O(W log W · N)`` by FFT (``conv = "fft"``, the
default, as in training) or ``O(seq_len · K · N)`` by the direct sum (``conv = "direct"``). So
time is about linear in ``seq_len`` and M, and in K only through the scan's K-sample history
(FFT) or also through the sum (direct); fixed per-step overheads flatten every slope.
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp

from ssmbench.dsr import ConvSSM, fit_gtf, spm_hrf
from ssmbench.train import TrainConfig

__all__ = ["scaling_experiment", "AXES"]

AXES = ("seq_len", "latent_dim", "hrf_len")


def scaling_experiment(
    *,
    seed: int,
    quick: bool = False,
    axis: str = "seq_len",
    seq_lens: list[int] = [100, 200, 400, 800, 1600],  # noqa: B006 - suite-file default
    latent_dims: list[int] = [16, 32, 64, 128, 256],  # noqa: B006
    hrf_lens: list[int] = [21, 41, 81, 161, 321],  # noqa: B006
    seq_len: int = 200,
    latent_dim: int = 3,
    hidden_dim: int = 50,
    hrf_len: int = 161,
    batch_size: int = 16,
    repeats: int = 7,
    unroll: int = 10,
    conv: str = "fft",
) -> list[dict[str, Any]]:
    """Time per training step at every value of ``axis`` (module docstring); float32."""
    if axis not in AXES:
        raise ValueError(f"axis must be one of {AXES}, got {axis!r}")
    values = {"seq_len": seq_lens, "latent_dim": latent_dims, "hrf_len": hrf_lens}[axis]
    if not values or any(isinstance(v, bool) or not isinstance(v, int) or v < 1 for v in values):
        raise ValueError(f"the {axis} values must be positive integers, got {values!r}")
    base = {"seq_len": seq_len, "latent_dim": latent_dim, "hrf_len": hrf_len}
    full_hrf = spm_hrf(0.2, length_s=64.0, dtype=jnp.float32)
    rows: list[dict[str, Any]] = []
    for i, v in enumerate(values):
        sizes = {**base, axis: v}
        K, L, M = sizes["hrf_len"], sizes["seq_len"], sizes["latent_dim"]
        if K > full_hrf.shape[0]:
            raise ValueError(f"hrf_len must be <= {full_hrf.shape[0]}, got {K}")
        hrf = full_hrf[:K] / jnp.sum(full_hrf[:K])
        window = L + K
        key = jax.random.fold_in(jax.random.PRNGKey(seed), i)
        k_x, k_m, k_t = jax.random.split(key, 3)
        x = jax.random.normal(k_x, (window + 4 * batch_size, 3), jnp.float32)
        model = ConvSSM(3, M, hidden_dim, key=k_m, fixed_readout=False, dtype=jnp.float32)
        config = TrainConfig(steps=repeats + 1, batch_size=batch_size, patience=None,
                             eval_every=repeats + 1)  # fmt: skip
        res = fit_gtf(model, x, x, hrf, alpha=0.15, window=window, key=k_t, config=config,
                      unroll=unroll, conv=conv)  # fmt: skip
        for name, val in (("time_per_step", res.median_step_s), ("compile_s", res.compile_s)):
            rows.append({"metric": name, "value": float(val), "L": L, "M": M, "K": K})
    return rows
