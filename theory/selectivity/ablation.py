"""The selectivity ablation: a small Mamba LM on the induction head, real vs complex A."""

from __future__ import annotations

from typing import Literal

import equinox as eqx
import jax
import jax.numpy as jnp
import optax

from ssmbench.models.mamba import Mamba
from ssmbench.tasks.induction import induction_head_batch
from ssmbench.train import fit


class _MambaLM(eqx.Module):
    """Embedding -> n_layers x (LayerNorm -> Mamba -> residual) -> LayerNorm -> linear head."""

    embed: eqx.nn.Embedding
    norms: list
    blocks: list
    norm_f: eqx.nn.LayerNorm
    head: eqx.nn.Linear

    def __init__(self, vocab, d_model, d_state, n_layers, *, selective, complex_a, key):
        """``selective``: a string naming the selective projections ("B", "C", "BC" or "");
        ``complex_a``: complex diagonal A (else real)."""
        ks = jax.random.split(key, n_layers + 2)
        self.embed = eqx.nn.Embedding(vocab, d_model, key=ks[0])
        self.norms = [eqx.nn.LayerNorm(d_model) for _ in range(n_layers)]
        self.blocks = [
            Mamba(
                d_model,
                d_state,
                selective_B="B" in selective,
                selective_C="C" in selective,
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
    selective: Literal["none", "B", "C", "B+C"] = "B+C",
    length: int = 64,
    vocab: int = 16,
    d_model: int = 32,
    d_state: int = 16,
    n_layers: int = 2,
    batch: int = 64,
    steps: int = 3000,
    lr: float = 3e-3,
    eval_size: int = 2048,
) -> dict[str, float]:
    """Train a small Mamba (δ always selective; B and/or C selective or not; real or complex A)
    on the induction-head task; report held-out ``accuracy`` and ``loss`` at the last position.

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
        selective=selective.replace("none", ""),
        complex_a=field == "complex",
        key=k_model,
    )
    opt = optax.adamw(optax.warmup_cosine_decay_schedule(0.0, lr, steps // 10, steps), 0.01)

    def loss_fn(m, tokens, labels):
        """Cross-entropy at the last position, with the accuracy as auxiliary output."""
        logits = jax.vmap(m)(tokens)
        loss = optax.softmax_cross_entropy_with_integer_labels(logits, labels).mean()
        return loss, jnp.mean(jnp.argmax(logits, -1) == labels)

    def step_loss(m, key):
        """The loss on a fresh induction-head batch drawn from the step's key."""
        return loss_fn(m, *induction_head_batch(key, batch, length, vocab))

    keys = jax.random.split(k_data, steps)
    trained = fit(step_loss, model, opt, xs=keys, has_aux=True).params
    tokens, labels = induction_head_batch(k_eval, eval_size, length, vocab)
    loss, acc = eqx.filter_jit(loss_fn)(trained, tokens, labels)
    return {"accuracy": float(acc), "loss": float(loss)}


def selectivity_ablation_table(
    *,
    seed: int,
    quick: bool = False,
    fields: list[Literal["real", "complex"]] = ["real", "complex"],  # noqa: B006 - never mutated
    selectives: list[Literal["none", "B", "C", "B+C"]] = ["none", "B", "C", "B+C"],  # noqa: B006
    length: int = 64,
    vocab: int = 16,
    d_model: int = 32,
    d_state: int = 16,
    n_layers: int = 2,
    batch: int = 64,
    steps: int = 3000,
    lr: float = 3e-3,
    eval_size: int = 2048,
) -> list[dict]:
    """The selectivity ablation (claim 4) as one suite cell: every (field, selective) pair.

    Rows: ``accuracy`` and ``loss`` per ``field`` and ``selective``; ``gap`` = complex accuracy
    minus real accuracy per ``selective``; and ``gap_change`` = gap(B+C) - gap(none) (only if
    both are in the grid). The paper predicts ``gap_change <= 0``: making B and C selective
    shrinks the advantage of complex A, or reverses it.
    """
    rows: list[dict] = []
    acc: dict[tuple[str, str], float] = {}
    for sel in selectives:
        for field in fields:
            out = selectivity_ablation(
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
            acc[(field, sel)] = out["accuracy"]
            for metric, value in out.items():
                rows.append({"metric": metric, "value": value, "field": field, "selective": sel})
    gaps = {
        sel: acc[("complex", sel)] - acc[("real", sel)]
        for sel in selectives
        if ("complex", sel) in acc and ("real", sel) in acc
    }
    for sel, g in gaps.items():
        rows.append({"metric": "gap", "value": g, "field": "complex-real", "selective": sel})
    if "none" in gaps and "B+C" in gaps:
        rows.append(
            {
                "metric": "gap_change",
                "value": gaps["B+C"] - gaps["none"],
                "field": "complex-real",
                "selective": "B+C vs none",
            }
        )
    return rows
