"""Selectivity ablation: does making B and C input-dependent close the real/complex gap?

Paper: Ran-Milo, Lumbroso, Cohen-Karlik, Giryes, Globerson, Cohen, "Provable Benefits of Complex
Parameterizations for Structured State Space Models", NeurIPS 2024, arXiv 2410.14067, claim 4
(the other claims are :mod:`theory.complex_vs_real`). Claim page:
``docs/claims/complex-vs-real.md``; suite experiment ``selectivity-ablation`` in
``suites/theory.toml`` (``run = "theory.selectivity:selectivity_ablation_table"``).

Claim: the benefit of a complex diagonal A over a real one shrinks, or reverses, once the input
and output projections B and C are selective (input-dependent), as in Mamba. The check trains a
small Mamba language model (:class:`_MambaLM`: 2 layers, d_model 32, d_state 16) on an induction
head (:func:`ssmbench.tasks.induction.induction_head_batch`) with real or complex A, in the arms
of :data:`ARMS`: "time-invariant" (nothing selective, δ included: an S4D-like LTI layer),
"none" (δ only), "B", "C" and "B+C" (δ and those), through ``ssmbench.train.fit``, and compares
the held-out accuracy gap complex - real of B+C with that of "none" and of "time-invariant".
"""

from .ablation import ARMS, CONTRASTS, _MambaLM, selectivity_ablation, selectivity_ablation_table

__all__ = ["ARMS", "CONTRASTS", "_MambaLM", "selectivity_ablation", "selectivity_ablation_table"]
