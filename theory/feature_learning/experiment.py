"""The suite experiment ``feature-learning`` (``suites/theory.toml``): one cell per
parameterization and seed."""

from __future__ import annotations

import math
from typing import Literal

import jax
import numpy as np

from ssmbench.tasks.markov import markov_batches, markov_chain

from .coordinates import QUANTITIES, coordinate_check
from .training import LOSS_CAP, fit_slope, lr_transfer


def _sweeps(nu_widths, nx_values, nx_sweep, nx_sweep_nu, nu_max_at_large_nx):
    """(sweep name, axis, [(n_u, n_x), ...]) for the N_u sweeps and the N_x sweep. N_u sweeps at
    N_x > 16 stop at ``nu_max_at_large_nx`` (cost)."""
    out = [
        (
            f"n_u@n_x={n_x}",
            "n_u",
            [(w, n_x) for w in nu_widths if n_x <= 16 or w <= nu_max_at_large_nx],
        )
        for n_x in nx_values
    ]
    if nx_sweep:
        out.append((f"n_x@n_u={nx_sweep_nu}", "n_x", [(nx_sweep_nu, n) for n in nx_sweep]))
    return out


_HUGE = 1e30  # a non-finite RMS (float overflow) is recorded as this, with finite = 0


def feature_learning(
    *,
    seed: int,
    quick: bool = False,
    parameterisation: Literal["sp", "mup", "mup_ssm", "mup_ssm_v2"] = "mup_ssm",
    parts: list[str] = ["coord", "transfer"],  # noqa: B006 (never mutated; the runner passes lists)
    transfer_for: list[str] = ["sp", "mup_ssm"],  # noqa: B006
    nu_widths: list[int] = [64, 128, 256, 512],  # noqa: B006 (never mutated; the runner passes lists)
    nx_values: list[int] = [16],  # noqa: B006 (never mutated; the runner passes lists)
    nu_max_at_large_nx: int = 1024,
    nx_sweep: list[int] = [16, 32, 64, 128],  # noqa: B006 (never mutated; the runner passes lists)
    nx_sweep_nu: int = 128,
    optimizers: list[str] = ["adam", "sgd"],  # noqa: B006 (never mutated; the runner passes lists)
    discretisations: list[str] = ["zoh", "euler"],  # noqa: B006 (never mutated; the runner passes lists)
    sgd_discretisations: list[str] = ["zoh", "euler"],  # noqa: B006
    eta_adam: float = 1e-2,
    eta_sgd: float = 0.5,
    coord_steps: int = 3,
    batch: int = 4,
    length: int = 16,
    vocab: int = 32,
    transfer_widths: list[int] = [64, 128, 256, 512],  # noqa: B006 (never mutated; the runner passes lists)
    transfer_nx: int = 8,
    transfer_etas: list[float] = [1e-4, 3e-4, 1e-3, 3e-3, 1e-2, 3e-2, 1e-1],  # noqa: B006 (never mutated; the runner passes lists)
    transfer_steps: int = 200,
    transfer_seeds: list[int] | None = None,
    n_inits: int = 1,
    top_widths: int = 2,
    record_inits: bool = False,
) -> list[dict]:
    """Coordinate check (part "coord") and learning-rate transfer (part "transfer", only for the
    parameterisations in ``transfer_for``) for one parameterisation and one seed. Every row has a
    ``part`` column.

    coord: per (optimizer, discretisation, sweep, width): rows ``rms_<q>`` (q in x, y, dx, dy, and
    the diagnostics y_ssm, dy_ssm) with columns layer, step, n_u, n_x; x and dx are the RMS over
    (batch, time, channel) of the L2 norm over the N_x state coordinates. Per (optimizer,
    discretisation, sweep): rows ``slope`` (log-log slope of RMS vs the sweep's width, per
    quantity, layer, step), ``max_abs_slope`` (max |slope| over x, y, dx, dy, layers and steps),
    ``max_slope`` / ``min_slope`` (signed extremes) and ``init_xy_slope`` (max over layers of the
    step-0 slopes of x and y).
    ``n_inits``: independent initializations per width (init 0 is the seed's key, so 1 reproduces
    the single-init measurement). ``rms_<q>`` is then the geometric mean over inits, ``slope`` the
    mean of the per-init slopes, and ``slope_se`` its standard error. ``top_slope`` is the local
    slope over the ``top_widths`` largest widths of the sweep (least squares, default the two largest),
    ``top_slope_se`` its standard error across inits (n_inits > 1), and ``max_abs_top_slope`` its
    max |.| over the four quantities, layers and steps. ``record_inits`` adds one ``rms_<q>_init``
    row per init (column ``init``), for analyses over sub-ranges of widths.
    transfer (only for seeds in ``transfer_seeds``, if given: it costs most of a cell): Adam,
    ZOH: rows ``loss`` (final eval loss, NaN-free: diverged = 10 with
    diverged = 1) per (n_u, eta), ``best_eta`` per n_u, and ``opt_shift`` = log-grid steps between
    the optimal LR at the smallest and the largest width (signed, positive = larger LR).
    """
    if n_inits < 1:
        raise ValueError(f"n_inits must be >= 1, got {n_inits}")
    if top_widths < 2:
        raise ValueError(f"top_widths must be >= 2 (a slope needs two widths), got {top_widths}")
    if quick:
        # compile time dominates on CPU (one program per width): 3 widths, no N_x sweep, and no
        # LR transfer (its checks are INCONCLUSIVE under --quick)
        nu_widths, nx_values, nx_sweep, parts = nu_widths[:3], nx_values[:1], [], ["coord"]
    rng = np.random.default_rng(seed)
    trans = markov_chain(vocab, rng)
    key = jax.random.PRNGKey(seed)
    rows: list[dict] = []
    bad = set(parts) - {"coord", "transfer"}
    if bad:
        raise ValueError(f"parts must be a subset of ['coord', 'transfer'], got {sorted(bad)}")
    if "coord" in parts:
        base = dict(part="coord")  # the runner adds the grid's parameterisation column
        data = markov_batches(trans, coord_steps, batch, length, rng)
        probe = markov_batches(trans, 1, 4, length, rng)[0]
        sweeps = _sweeps(nu_widths, nx_values, nx_sweep, nx_sweep_nu, nu_max_at_large_nx)
        for sweep, axis, shapes in sweeps:
            for optimizer in optimizers:
                eta = eta_adam if optimizer == "adam" else eta_sgd
                discs = sgd_discretisations if optimizer == "sgd" else discretisations
                for disc in discs:
                    cols = dict(base, optimizer=optimizer, discretisation=disc, sweep=sweep)
                    # table[(quantity, layer, step)][width] = [RMS of init 0, 1, ...]
                    table: dict[tuple, dict[int, list[float]]] = {}
                    for n_u, n_x in shapes:
                        w = n_u if axis == "n_u" else n_x
                        per_init: dict[tuple, list[float]] = {}
                        for i in range(n_inits):
                            # same key for every width: the init differs only through the widths
                            # (init 0 uses the seed's key itself, as with n_inits = 1)
                            k_i = key if i == 0 else jax.random.fold_in(key, i)
                            res = coordinate_check(
                                parameterisation, n_u, n_x, key=k_i, data=data, probe=probe,
                                optimizer=optimizer, discretization=disc, eta=eta,
                                steps=coord_steps, vocab=vocab,
                            )  # fmt: skip
                            for r in res:
                                v = r["value"] if np.isfinite(r["value"]) else _HUGE
                                kq = (r["quantity"], r["layer"], r["step"])
                                per_init.setdefault(kq, []).append(v)
                        for (quantity, layer, step), vs in per_init.items():
                            finite = all(v < _HUGE for v in vs)
                            # geometric mean over inits: its log-log slope is the mean of the
                            # per-init slopes
                            gm = float(np.exp(np.mean(np.log(vs)))) if min(vs) > 0 else 0.0
                            rows.append(
                                dict(
                                    cols,
                                    metric=f"rms_{quantity}",
                                    value=gm if finite else _HUGE,
                                    finite=int(finite),
                                    layer=layer,
                                    step=step,
                                    n_u=n_u,
                                    n_x=n_x,
                                )  # fmt: skip
                            )
                            table.setdefault((quantity, layer, step), {})[w] = vs
                            if record_inits:
                                for i, v in enumerate(vs):
                                    rows.append(
                                        dict(
                                            cols,
                                            metric=f"rms_{quantity}_init",
                                            value=v,
                                            finite=int(v < _HUGE),
                                            init=i,
                                            layer=layer,
                                            step=step,
                                            n_u=n_u,
                                            n_x=n_x,
                                        )  # fmt: skip
                                    )
                    slopes, top = {}, {}
                    for (q, layer, step), vals in sorted(table.items()):
                        ws = sorted(vals)
                        per = [fit_slope(ws, [vals[w][i] for w in ws]) for i in range(n_inits)]
                        sl = float(np.mean(per))
                        slopes[(q, layer, step)] = sl
                        qcols = dict(cols, quantity=q, layer=layer, step=step, axis=axis)
                        rows.append(dict(qcols, metric="slope", value=sl))
                        if n_inits > 1:
                            se = float(np.std(per, ddof=1) / math.sqrt(n_inits))
                            rows.append(dict(qcols, metric="slope_se", value=se))
                        # the local slope over the largest widths (a finite-width correction
                        # fades there; an exponent error does not)
                        wt = ws[-top_widths:]
                        per_top = [fit_slope(wt, [vals[w][i] for w in wt]) for i in range(n_inits)]
                        top[(q, layer, step)] = float(np.mean(per_top))
                        rows.append(dict(qcols, metric="top_slope", value=top[(q, layer, step)]))
                        if n_inits > 1:
                            se = float(np.std(per_top, ddof=1) / math.sqrt(n_inits))
                            rows.append(dict(qcols, metric="top_slope_se", value=se))
                    main = [v for (q, _, _), v in slopes.items() if q in QUANTITIES]
                    init_xy = [
                        v for (q, _, step), v in slopes.items() if q in ("x", "y") and step == 0
                    ]
                    main_top = [v for (q, _, _), v in top.items() if q in QUANTITIES]
                    for metric, value in (
                        ("max_abs_slope", max(abs(v) for v in main)),
                        ("max_abs_top_slope", max(abs(v) for v in main_top)),
                        ("max_slope", max(main)),
                        ("min_slope", min(main)),
                        ("init_xy_slope", max(init_xy)),
                    ):
                        rows.append(dict(cols, metric=metric, value=float(value), axis=axis))
    run_transfer = transfer_seeds is None or seed in transfer_seeds
    if "transfer" in parts and parameterisation in transfer_for and run_transfer:
        base = dict(part="transfer")
        data = markov_batches(trans, transfer_steps, 2 * batch, length, rng)
        eval_seqs = markov_batches(trans, 1, 64, length, rng)[0]
        best = {}
        for n_u in transfer_widths:
            losses = lr_transfer(
                parameterisation, n_u, transfer_nx, key=key, data=data, eval_seqs=eval_seqs,
                etas=transfer_etas, vocab=vocab,
            )  # fmt: skip
            for eta, loss in zip(transfer_etas, losses):
                ok = bool(np.isfinite(loss))
                rows.append(
                    dict(
                        base,
                        metric="loss",
                        value=float(loss) if ok else LOSS_CAP,
                        diverged=int(not ok),
                        n_u=n_u,
                        eta=eta,
                    )  # fmt: skip
                )
            filled = np.where(np.isfinite(losses), losses, np.inf)
            best[n_u] = int(np.argmin(filled))
            rows.append(
                dict(base, metric="best_eta", value=float(transfer_etas[best[n_u]]), n_u=n_u)
            )
        lo, hi = min(transfer_widths), max(transfer_widths)
        shift = best[hi] - best[lo]
        rows.append(dict(base, metric="opt_shift", value=float(shift)))
        rows.append(dict(base, metric="abs_opt_shift", value=float(abs(shift))))
    return rows
