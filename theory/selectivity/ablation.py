"""The selectivity ablation: a small Mamba LM on the induction head, real vs complex A.

Arms (the ``selective`` argument) name what depends on the input; A is never selective:

- ``"time-invariant"``: nothing, δ included (δ = softplus of a learned per-channel bias, B and C
  learned constants): the layer is a linear time-invariant diagonal SSM, S4D-like, the setting
  of the paper's theory;
- ``"none"``: δ only (B and C constant), Mamba's δ gate without selective B or C;
- ``"B"``, ``"C"``, ``"B+C"``: δ and the named projections (``"B+C"`` is Mamba).
"""

from __future__ import annotations

from typing import Literal

import equinox as eqx
import jax
import jax.numpy as jnp
import optax

from ssmbench.models.mamba import Mamba
from ssmbench.tasks.induction import induction_head_batch
from ssmbench.train import fit

Selective = Literal["time-invariant", "none", "B", "C", "B+C"]

#: (δ, B, C) selective, per arm.
ARMS: dict[str, tuple[bool, bool, bool]] = {
    "time-invariant": (False, False, False),
    "none": (True, False, False),
    "B": (True, True, False),
    "C": (True, False, True),
    "B+C": (True, True, True),
}

#: The gap contrasts: (selective arm, baseline arm, suffix of the ``gap_change`` metric). The
#: suffix keeps each contrast its own metric, so a check needs no ``where`` on ``selective``
#: (which would also restrict its ``saturation_metric`` rows).
CONTRASTS = (("B+C", "none", ""), ("B+C", "time-invariant", "_ti"))


class _MambaLM(eqx.Module):
    """Embedding -> n_layers x (LayerNorm -> Mamba -> residual) -> LayerNorm -> linear head."""

    embed: eqx.nn.Embedding
    norms: list
    blocks: list
    norm_f: eqx.nn.LayerNorm
    head: eqx.nn.Linear

    def __init__(self, vocab, d_model, d_state, n_layers, *, selective, complex_a, key):
        """``selective``: an arm of :data:`ARMS` ("time-invariant", "none", "B", "C" or "B+C");
        ``complex_a``: complex diagonal A (else real)."""
        if selective not in ARMS:
            raise ValueError(f"selective must be one of {sorted(ARMS)}; got {selective!r}")
        sel_delta, sel_b, sel_c = ARMS[selective]
        ks = jax.random.split(key, n_layers + 2)
        self.embed = eqx.nn.Embedding(vocab, d_model, key=ks[0])
        self.norms = [eqx.nn.LayerNorm(d_model) for _ in range(n_layers)]
        self.blocks = [
            Mamba(
                d_model,
                d_state,
                selective_delta=sel_delta,
                selective_B=sel_b,
                selective_C=sel_c,
                complex_A=complex_a,
                key=k,
            )
            for k in ks[1:-1]
        ]
        self.norm_f = eqx.nn.LayerNorm(d_model)
        self.head = eqx.nn.Linear(d_model, vocab, key=ks[-1])

    def __call__(self, tokens):
        """Next-token logits at the last position of ``tokens`` (length,)."""
        x = jax.vmap(self.embed)(tokens)
        for norm, block in zip(self.norms, self.blocks):
            x = x + block(jax.vmap(norm)(x))
        return self.head(self.norm_f(x[-1]))  # logits at the last position


def selectivity_ablation(
    *,
    seed: int,
    quick: bool = False,
    field: Literal["real", "complex"] = "real",
    selective: Selective = "B+C",
    length: int = 128,
    vocab: int = 64,
    d_model: int = 32,
    d_state: int = 16,
    n_layers: int = 2,
    batch: int = 32,
    steps: int = 600,
    lr: float = 3e-3,
    eval_size: int = 2048,
) -> dict[str, float]:
    """Train a small Mamba (A real or complex; the arm ``selective`` of :data:`ARMS` says which
    of δ, B, C depend on the input) on the induction-head task.

    Reports, at the last position: held-out ``accuracy`` and ``loss`` on ``eval_size`` fresh
    sequences, and ``accuracy_auc``, the mean over training steps of the accuracy on each
    step's batch before its update (every batch is fresh, so these are held-out too): the area
    under the learning curve, which still separates arms that all end at accuracy 1.

    The paper's prediction (claim 4): with both B and C selective the real/complex gap shrinks
    or reverses. ``quick`` trains for at most 200 steps.
    """
    if quick:
        steps = min(steps, 200)
    k_model, k_data, k_eval = jax.random.split(jax.random.PRNGKey(seed), 3)
    model = _MambaLM(
        vocab,
        d_model,
        d_state,
        n_layers,
        selective=selective,
        complex_a=field == "complex",
        key=k_model,
    )
    opt = optax.adamw(optax.warmup_cosine_decay_schedule(0.0, lr, steps // 10, steps), 0.01)

    def loss_fn(m, tokens, labels):
        """Cross-entropy at the last position, with the accuracy as auxiliary output."""
        logits = jax.vmap(m)(tokens)
        loss = optax.softmax_cross_entropy_with_integer_labels(logits, labels).mean()
        return loss, jnp.mean(jnp.argmax(logits, -1).astype(labels.dtype) == labels)

    def step_loss(m, key):
        """The loss on a fresh induction-head batch drawn from the step's key."""
        return loss_fn(m, *induction_head_batch(key, batch, length, vocab))

    keys = jax.random.split(k_data, steps)
    result = fit(step_loss, model, opt, xs=keys, has_aux=True)
    tokens, labels = induction_head_batch(k_eval, eval_size, length, vocab)
    loss, acc = eqx.filter_jit(loss_fn)(result.params, tokens, labels)
    return {
        "accuracy": float(acc),
        "loss": float(loss),
        "accuracy_auc": float(jnp.mean(result.aux)),
    }


def selectivity_ablation_table(
    *,
    seed: int,
    quick: bool = False,
    fields: list[Literal["real", "complex"]] = ["real", "complex"],  # noqa: B006 - never mutated
    selectives: list[Selective] = ["time-invariant", "none", "B", "C", "B+C"],  # noqa: B006
    length: int = 128,
    vocab: int = 64,
    d_model: int = 32,
    d_state: int = 16,
    n_layers: int = 2,
    batch: int = 32,
    steps: int = 600,
    lr: float = 3e-3,
    eval_size: int = 2048,
) -> list[dict]:
    """The selectivity ablation (claim 4) as one suite cell: every (field, selective) pair.

    Rows: ``accuracy``, ``loss`` and ``accuracy_auc`` per ``field`` and ``selective`` (arms as
    in :data:`ARMS`); ``gap`` and ``gap_auc`` = complex minus real (accuracy, accuracy_auc) per
    ``selective``; ``gap_change`` / ``gap_change_auc`` = gap(B+C) - gap(none) (``selective`` =
    ``"B+C vs none"``) and ``gap_change_ti`` / ``gap_change_auc_ti`` = gap(B+C) -
    gap(time-invariant) (``"B+C vs time-invariant"``), each only if both arms are in the grid.
    The paper predicts ``gap_change <= 0`` and ``gap_change_ti <= 0``: making B and C (and δ)
    selective shrinks the advantage of complex A, or reverses it.
    """
    rows: list[dict] = []
    out: dict[tuple[str, str], dict[str, float]] = {}
    for sel in selectives:
        for field in fields:
            out[(field, sel)] = res = selectivity_ablation(
                seed=seed,
                quick=quick,
                field=field,
                selective=sel,
                length=length,
                vocab=vocab,
                d_model=d_model,
                d_state=d_state,
                n_layers=n_layers,
                batch=batch,
                steps=steps,
                lr=lr,
                eval_size=eval_size,
            )
            for metric, value in res.items():
                rows.append({"metric": metric, "value": value, "field": field, "selective": sel})
    for metric, suffix in (("accuracy", ""), ("accuracy_auc", "_auc")):
        gaps = {
            sel: out[("complex", sel)][metric] - out[("real", sel)][metric]
            for sel in selectives
            if ("complex", sel) in out and ("real", sel) in out
        }
        for sel, g in gaps.items():
            rows.append(
                {"metric": "gap" + suffix, "value": g, "field": "complex-real", "selective": sel}
            )
        for sel, base, tag in CONTRASTS:
            if sel in gaps and base in gaps:
                rows.append(
                    {
                        "metric": "gap_change" + suffix + tag,
                        "value": gaps[sel] - gaps[base],
                        "field": "complex-real",
                        "selective": f"{sel} vs {base}",
                    }
                )
    return rows
