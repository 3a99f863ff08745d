"""The suite experiment ``rough-paths`` (``suites/theory.toml``): one cell per model family."""

from __future__ import annotations

import logging
import math
import time
from typing import Literal

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array

from ssmbench.models._common import cast_floats
from ssmbench.tasks.signatures import brownian_paths, random_walk_paths, signature_targets

from .models import FAMILIES, Family, Regressor, Stack, check_family, family_class
from .readouts import r2_score, ridge_fit_predict, train_e2e

log = logging.getLogger(__name__)


@eqx.filter_jit
def _vmapped(model: eqx.Module, xb: Array) -> Array:
    """``model`` on every row of ``xb`` (jitted)."""
    return jax.vmap(model)(xb)


def _batched(model: eqx.Module, x: Array, chunk: int = 500) -> np.ndarray:
    """``vmap(model)`` over the rows of ``x`` in equal chunks (bounded memory, one compile)."""
    n = x.shape[0]
    chunk = min(chunk, n)
    pad = (-n) % chunk
    xp = jnp.concatenate([x, jnp.broadcast_to(x[:1], (pad, *x.shape[1:]))]) if pad else x
    out = [np.asarray(_vmapped(model, xp[i : i + chunk])) for i in range(0, n + pad, chunk)]
    return np.concatenate(out)[:n]


def _word_dim(word: str) -> int:
    """The path dimension for ``word``: its largest letter, at least 2."""
    return max(2, max(int(c) for c in word))


def rough_paths(
    *,
    seed: int,
    quick: bool = False,
    family: Family | str = "lcde-dense",
    ridge_families: list[str] = list(FAMILIES),  # noqa: B006 (read-only default)
    e2e_families: list[str] = ["s4d", "mamba"],  # noqa: B006
    family_depths: dict[str, list[int]] = {},  # noqa: B006
    family_widths: dict[str, list[int]] = {},  # noqa: B006
    widths: list[int] = [16, 32, 64, 128],  # noqa: B006
    depths: list[int] = [1, 2],  # noqa: B006
    e2e_widths: list[int] = [32],  # noqa: B006
    words: list[str] = ["12", "123"],  # noqa: B006
    paths: Literal["random-walk", "brownian"] = "random-walk",
    n_train: int = 2000,
    n_test: int = 1000,
    length: int = 100,
    mix: int = 16,
    steps: int = 1000,
    lr: float = 3e-3,
    batch: int = 64,
    warmup_steps: int = 0,
) -> list[dict]:
    """Test R² of one model family on signature targets, by width, depth, word and training mode.

    For each word (e.g. "12" = S^{12} on 2-D paths, "123" = S^{123} on 3-D paths; the path
    dimension is the largest letter, at least 2) draw ``n_train + n_test`` paths, compute the
    target with signax and fit:

    - ``ridge`` (if ``family`` is in ``ridge_families``): a random ``Stack`` of the family
      (width, depth) as a feature map, ridge readout;
    - ``e2e`` (if in ``e2e_families``): the same architecture with a linear head, all parameters
      trained by Adam (widths ``e2e_widths``, ``steps`` steps).

    ``family_depths`` overrides ``depths`` for some families (e.g. ``{"lcde-dense": [1]}``: a
    dense CDE fed by a wide mix costs O(mix · N²) per step); ``family_widths`` overrides
    ``widths`` (random-feature mode) the same way. ``warmup_steps`` > 0 adds a linear warmup to
    the end-to-end cosine schedule (see :func:`train_e2e`).

    ``family`` (and the entries of the family lists) may be a dotted path
    ``"package.module:Layer"`` to your own :class:`~ssmbench.models.AbstractSequenceLayer`; it is
    stacked like ``s4d``/``mamba`` and its rows carry class ``"user"``.

    Rows: metric ``r2`` (held-out R²), ``nmse`` (1 − R², normalised test MSE) and ``fit_s``, with
    columns family, class (time-invariant / selective-diagonal / selective-dense / user), mode, width,
    depth, word, largest (width is the largest of the mode's widths) and model (a plot label).
    ``quick`` is applied by the suite's ``quick_params``; here it only shortens training further
    if the suite does not.
    """
    check_family(family)
    for name, fams in (("ridge_families", ridge_families), ("e2e_families", e2e_families)):
        for f in fams:
            check_family(f, f"{name} entries")
    for name, table in (("family_depths", family_depths), ("family_widths", family_widths)):
        for f in table:
            check_family(f, f"{name} keys")
    modes = [m for m, fams in (("ridge", ridge_families), ("e2e", e2e_families)) if family in fams]
    depths = family_depths.get(family, depths)
    widths = family_widths.get(family, widths)
    key = jax.random.PRNGKey(seed)
    k_data, k_model, k_train = jax.random.split(key, 3)
    rows: list[dict] = []
    for wi, word in enumerate(words):
        d = _word_dim(word)
        kd = jax.random.fold_in(k_data, d)
        n = n_train + n_test
        if paths == "random-walk":
            x = random_walk_paths(kd, n, length, d)
        else:
            x = brownian_paths(kd, n, length, d)
        y = np.asarray(signature_targets(x, word))[:, 0]
        ytr, yte = y[:n_train], y[n_train:]
        for mode in modes:
            ws = widths if mode == "ridge" else e2e_widths
            for depth in depths:
                for width in ws:
                    t0 = time.perf_counter()
                    km = jax.random.fold_in(jax.random.fold_in(k_model, depth), width)
                    ks, kh = jax.random.split(km)
                    # in the paths' dtype (float32; a no-op unless x64 is on, as in the tests)
                    stack = cast_floats(Stack(family, d, width, depth, mix=mix, key=ks), x.dtype)
                    if mode == "ridge":
                        feats = _batched(stack, x)
                        if not np.all(np.isfinite(feats)):
                            r2 = math.nan
                        else:
                            pred, _ = ridge_fit_predict(feats[:n_train], ytr, feats[n_train:])
                            r2 = r2_score(yte, pred)
                    else:
                        model = cast_floats(Regressor(stack, width, key=kh), x.dtype)
                        kt = jax.random.fold_in(
                            jax.random.fold_in(k_train, wi), depth * 1000 + width
                        )
                        trained, loss = train_e2e(
                            model,
                            x[:n_train],
                            jnp.asarray(ytr, x.dtype),
                            key=kt,
                            steps=steps,
                            lr=lr,
                            batch=batch,
                            warmup_steps=warmup_steps,
                        )
                        pred = _batched(trained, x[n_train:])
                        r2 = r2_score(yte, pred) if np.all(np.isfinite(pred)) else math.nan
                    cols = {
                        "class": family_class(family),
                        "mode": mode,
                        "width": width,
                        "depth": depth,
                        "word": word,
                        "largest": width == max(ws),
                        "model": f"{family} {mode} depth {depth}",
                    }
                    log.info(
                        "%s %s word=%s depth=%d width=%d: R2=%.4f (%.1fs)",
                        family,
                        mode,
                        word,
                        depth,
                        width,
                        r2,
                        time.perf_counter() - t0,
                    )
                    rows.append({"metric": "r2", "value": r2, **cols})
                    rows.append({"metric": "nmse", "value": 1.0 - r2, **cols})
                    rows.append({"metric": "fit_s", "value": time.perf_counter() - t0, **cols})
    return rows
