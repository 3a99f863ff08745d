"""Rough-path expressivity of selective vs time-invariant SSMs.

Paper: Cirone, Orvieto, Walker, Salvi, Lyons, "Theoretical Foundations of Deep Selective
State-Space Models", NeurIPS 2024, arXiv 2402.19047. Claim page: ``docs/claims/rough-paths.md``;
suite experiment ``rough-paths`` in ``suites/theory.toml``
(``run = "theory.rough_paths:rough_paths"``).

Claims: a linear controlled differential equation

    dZ_t = sum_i A_i Z_t dω^i_t + B dξ_t

has a hidden state that expands over the signature of its gate path ω, so a linear readout of Z_T
is a linear functional of the signature of ω.

- dense A_i with ω = (t, X): linear readouts are dense in (continuous) functionals of the whole
  path, so signature terms of any level (e.g. the Lévy-area term S^{12}, the volume term S^{123})
  are reachable with random Gaussian A_i and a trained linear readout;
- diagonal (commuting) A_i (Mamba-like): only functions of gate increments
  ψ(ω_T − ω_0) + ∫ φ(ω_T − ω_s)·dξ_s are reachable; stacking layers lifts the limit;
- ω = t (time-invariant, S4-like): the closure is ψ(t) + ∫ φ(t − s) dξ_s, a convolution, linear
  in the input, so a single layer with a linear readout cannot represent S^{12}.

The data (paths and their signature targets) come from :mod:`ssmbench.tasks.signatures`. This
package holds the rest of the check: the R² metric, a ridge readout on random features and
end-to-end training through ``ssmbench.train.fit`` (:mod:`.readouts`), the model families stacked
in depth (:mod:`.models`), and the experiment :func:`rough_paths` (:mod:`.experiment`).
"""

from .experiment import rough_paths
from .models import (
    FAMILIES,
    FAMILY_CLASS,
    USER_CLASS,
    Family,
    Regressor,
    Stack,
    check_family,
    family_class,
)
from .readouts import DEFAULT_LAMBDAS, r2_score, ridge_fit_predict, train_e2e

__all__ = [
    "FAMILIES",
    "FAMILY_CLASS",
    "USER_CLASS",
    "check_family",
    "family_class",
    "Family",
    "Stack",
    "Regressor",
    "DEFAULT_LAMBDAS",
    "r2_score",
    "ridge_fit_predict",
    "train_e2e",
    "rough_paths",
]
