"""The coordinate check (RMS of x, y, Δx, Δy per layer against width) and the B-path split of
ΔB into its weight-moved and input-moved parts (the v5 test, suite experiment ``b-path``)."""

from __future__ import annotations

import math
from typing import Literal

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array

from ssmbench.tasks.markov import markov_batches, markov_chain

from .training import _probe_and_step, _rms_all, _setup_training, fit_slope

QUANTITIES = ("x", "y", "dx", "dy")  #: the four quantities of the claim
DIAGNOSTICS = ("y_ssm", "dy_ssm")  #: y's state part C·h (y = C·h + D u), not part of the claim


def coordinate_check(
    parameterization: str,
    n_u: int,
    n_x: int,
    *,
    key: Array,
    data: np.ndarray,
    probe: np.ndarray,
    optimizer: Literal["adam", "sgd"],
    discretization: Literal["zoh", "euler"],
    eta: float,
    steps: int = 3,
    vocab: int = 32,
) -> list[dict]:
    """RMS of x, y (steps 0..steps) and Δx, Δy (steps 1..steps) per layer on a fixed probe batch.

    ``data``: (steps, batch, L+1) training batches, ``probe``: (batch, L+1) probe sequences.
    Returns rows {quantity, layer, step, value}; quantities :data:`QUANTITIES` + :data:`DIAGNOSTICS`.
    Δ is measured against the init on the same probe. A non-finite RMS (overflow) is returned as
    is; callers decide how to record it.
    """
    net, opt_state, probe_in, args = _setup_training(
        parameterization, n_u, n_x, key, probe, optimizer, discretization, eta, vocab
    )
    rows = []
    states0 = None
    for step in range(steps + 1):
        # the last call's update is discarded: it only measures the states after `steps` steps
        batch = jnp.asarray(data[min(step, steps - 1)])
        new_net, opt_state, _, states = _probe_and_step(net, opt_state, batch, probe_in, *args)
        if step == 0:
            states0 = states
        vals = np.asarray(_rms_all(states, states0))  # (6, layers)
        for q, quantity in enumerate(QUANTITIES + DIAGNOSTICS):
            if step == 0 and quantity.startswith("d"):
                continue
            for layer in range(vals.shape[1]):
                rows.append(
                    dict(quantity=quantity, layer=layer, step=step, value=float(vals[q, layer]))
                )
        net = new_net
    return rows


@eqx.filter_jit
def _b_terms(net, net0, probe, euler):
    """Per-layer RMS (over probe sequences, time and the N_x state coordinates) of
    ΔB = B_k - B_0 and of its two parts, ΔB = ΔW_B u_k + W_B0 Δu (exact)."""
    u = jax.vmap(net.layer_inputs, in_axes=(0, None))(probe, euler)  # (batch, layers, L, d)
    u0 = jax.vmap(net0.layer_inputs, in_axes=(0, None))(probe, euler)
    wb, wb0 = net.layers.W_B, net0.layers.W_B  # (layers, n, d)
    total = jnp.einsum("blsd,lnd->blsn", u, wb) - jnp.einsum("blsd,lnd->blsn", u0, wb0)
    by_weight = jnp.einsum("blsd,lnd->blsn", u, wb - wb0)
    by_input = jnp.einsum("blsd,lnd->blsn", u - u0, wb0)

    def rms(a):
        """RMS per layer (over probe sequences, time and state coordinates)."""
        return jnp.sqrt(jnp.mean(jnp.square(a), axis=(0, 2, 3)))

    return jnp.stack([rms(total), rms(by_weight), rms(by_input), rms(u - u0)])


B_TERMS = ("dB", "dW_B_u", "W_B_du", "du")  #: the rows of :func:`b_decomposition`


def b_decomposition(
    parameterization: str,
    n_u: int,
    n_x: int,
    *,
    key: Array,
    data: np.ndarray,
    probe: np.ndarray,
    optimizer: Literal["adam", "sgd"],
    discretization: Literal["zoh", "euler"],
    eta: float,
    steps: int = 3,
    vocab: int = 32,
) -> list[dict]:
    """Per layer and step 1..steps: RMS of ΔB and of its parts ΔW_B·u_k ("dW_B_u": the weight
    moved) and W_B0·Δu ("W_B_du": the input moved), and of Δu, on a fixed probe batch. Same
    training as :func:`coordinate_check` (same init, data and updates)."""
    net, opt_state, probe_in, args = _setup_training(
        parameterization, n_u, n_x, key, probe, optimizer, discretization, eta, vocab
    )
    net0, euler = net, args[-1]
    rows = []
    for step in range(1, steps + 1):
        net, opt_state, _, _ = _probe_and_step(
            net, opt_state, jnp.asarray(data[step - 1]), probe_in, *args
        )
        vals = np.asarray(_b_terms(net, net0, probe_in, euler))
        for q, term in enumerate(B_TERMS):
            for layer in range(vals.shape[1]):
                rows.append(
                    dict(quantity=term, layer=layer, step=step, value=float(vals[q, layer]))
                )
    return rows


def b_path(
    *,
    seed: int,
    quick: bool = False,
    parameterisation: str = "mup_ssm",
    nu_widths: list[int] = [64, 256, 1024, 2048, 4096],  # noqa: B006 (never mutated)
    n_x: int = 16,
    optimizer: str = "adam",
    discretisation: str = "zoh",
    eta: float = 1e-2,
    steps: int = 3,
    batch: int = 4,
    length: int = 16,
    vocab: int = 32,
    n_inits: int = 4,
    hi_widths: int = 3,
) -> list[dict]:
    """Suite experiment for the v5 test: RMS of ΔB's two parts against N_u (rows ``rms_<term>``,
    geometric mean over inits, per layer, step, n_u), their slopes over the ``hi_widths`` largest
    widths (``hi_slope``, mean over inits, with ``hi_slope_se``) and over the rest plus the first
    of those (``lo_slope``), the per-layer means over steps (``hi_slope_mean``, and its absolute
    value), and ``input_over_weight`` = RMS(W_B0 Δu) / RMS(ΔW_B u) per layer, step, n_u. Data, probe
    and init keys are drawn as in :func:`feature_learning`, so the training matches its runs."""
    if quick:
        nu_widths, n_inits = nu_widths[:3], min(n_inits, 2)
    if not 2 <= hi_widths <= len(nu_widths) - 1:
        raise ValueError(f"hi_widths must be in [2, {len(nu_widths) - 1}], got {hi_widths}")
    rng = np.random.default_rng(seed)
    trans = markov_chain(vocab, rng)
    key = jax.random.PRNGKey(seed)
    data = markov_batches(trans, steps, batch, length, rng)
    probe = markov_batches(trans, 1, 4, length, rng)[0]
    vals: dict[tuple, dict[int, list[float]]] = {}
    for n_u in nu_widths:
        for i in range(n_inits):
            k_i = key if i == 0 else jax.random.fold_in(key, i)
            for r in b_decomposition(
                parameterisation, n_u, n_x, key=k_i, data=data, probe=probe, optimizer=optimizer,
                discretization=discretisation, eta=eta, steps=steps, vocab=vocab,
            ):  # fmt: skip
                vals.setdefault((r["quantity"], r["layer"], r["step"]), {}).setdefault(
                    n_u, []
                ).append(r["value"])
    rows = []
    ws = sorted(nu_widths)
    hi, lo = ws[-hi_widths:], ws[: len(ws) - hi_widths + 1]
    means: dict[tuple, list[float]] = {}
    for (term, layer, step), by_w in sorted(vals.items()):
        cols = dict(quantity=term, layer=layer, step=step)
        for w in ws:
            gm = float(np.exp(np.mean(np.log(by_w[w]))))
            rows.append(dict(cols, metric=f"rms_{term}", value=gm, n_u=w))
        for name, rng_w in (("lo", lo), ("hi", hi)):
            per = [fit_slope(rng_w, [by_w[w][i] for w in rng_w]) for i in range(n_inits)]
            rows.append(dict(cols, metric=f"{name}_slope", value=float(np.mean(per))))
            if n_inits > 1:
                se = float(np.std(per, ddof=1) / math.sqrt(n_inits))
                rows.append(dict(cols, metric=f"{name}_slope_se", value=se))
            if name == "hi":
                means.setdefault((term, layer), []).append(float(np.mean(per)))
    for (term, layer), v in sorted(means.items()):
        m = float(np.mean(v))
        cols = dict(quantity=term, layer=layer)
        rows.append(dict(cols, metric="hi_slope_mean", value=m))
        rows.append(dict(cols, metric="abs_hi_slope_mean", value=abs(m)))
    # which part of ΔB dominates: RMS of the input-moved part over the weight-moved part
    for (term, layer, step), by_w in sorted(vals.items()):
        if term != "W_B_du":
            continue
        other = vals[("dW_B_u", layer, step)]
        for w in ws:
            r = float(np.exp(np.mean(np.log(by_w[w])) - np.mean(np.log(other[w]))))
            rows.append(dict(layer=layer, step=step, n_u=w, metric="input_over_weight",
                             value=r))  # fmt: skip
    return rows
