"""Feature learning and width scaling in selective SSMs: SP vs heuristic muP vs muP-SSM.

Paper: Vankadara, Xu, Haas, Cevher, "On Feature Learning in Structured State Space Models",
NeurIPS 2024 (openreview aQv5AbN1wF). Claim page: ``docs/claims/feature-learning.md``; suite
experiments ``feature-learning`` in ``suites/theory.toml``
(``run = "theory.feature_learning:feature_learning"``) and ``b-path`` in
``suites/feature-learning-bpath.toml`` (``run = "theory.feature_learning:b_path"``).

Claims: under standard parameterization (SP) the latent states and outputs of a Mamba-style
selective SSM blow up with width; heuristic muP (the SSM projections treated as hidden weights)
does not fix the updates; a corrected scaling, "muP-SSM", keeps the latent states x, the outputs y
and their one-step updates Δx, Δy at Θ(1) in the channel width N_u and the state size N_x, for
ZOH and Euler discretization, and transfers the optimal learning rate across widths.

The paper's Table 1 (its exponents) was not available here. The muP-SSM table is OUR derivation
(forward and backward signal propagation through Mamba's selective scan with S4D-real A), written
out, with a short history of earlier derivations, in ``docs/claims/feature-learning.md``. The
experiment judges it.

Modules:
- :mod:`.parameterizations`: the parameterizations as data, per tensor an init-std exponent
  and a learning-rate exponent (Adam and SGD) in N_u and N_x, with Euler overrides
  (:data:`PARAMETERIZATIONS`, :data:`EULER_OVERRIDES`, :func:`init_std`, :func:`lr_multiplier`);
- :mod:`.network`: a 3-layer network of Mamba layers (:class:`SSMNet`, :class:`SSMLayer`; expand
  2, low-rank Δ projection, S4D-real A) whose forward pass exposes the latent states x (the
  scan's h, shape (L, 2 N_u, N_x)) and the SSM outputs y;
- :mod:`.training`: one probed optimizer step and the scanned fit, through ``ssmbench.train``,
  with per-tensor learning rates (:func:`per_tensor_optimizer`); the learning-rate transfer sweep
  (:func:`lr_transfer`); log-log slopes (:func:`fit_slope`);
- :mod:`.coordinates`: the coordinate check (:func:`coordinate_check`): RMS of x, y, Δx, Δy per
  layer at init and after 1, 2, 3 optimizer steps, and the B-path split (:func:`b_path`);
- :mod:`.experiment`: the suite experiment :func:`feature_learning`;
- :mod:`.analysis`: sub-range slopes (:func:`range_slopes`) and figures (:func:`plot_run`), also
  from the command line: ``python -m theory.feature_learning plot|ranges ...``.

The task, next-token prediction on a random sparse Markov chain, is
:mod:`ssmbench.tasks.markov`. The suite-facing keywords and result columns ``parameterisation``
and ``discretisation`` keep the spelling the suites and the committed results use.
"""

from .analysis import plot_run, range_slopes
from .coordinates import (
    B_TERMS,
    DIAGNOSTICS,
    QUANTITIES,
    b_decomposition,
    b_path,
    coordinate_check,
)
from .experiment import feature_learning
from .network import SSMLayer, SSMNet, init_net, lr_tree
from .parameterizations import (
    BASE_N_U,
    BASE_N_X,
    EULER_OVERRIDES,
    EXPAND,
    PARAMETERIZATIONS,
    TENSORS,
    Parameterization,
    Scaling,
    dt_rank,
    init_std,
    lr_multiplier,
)
from .training import fit_slope, lr_transfer, per_tensor_optimizer

__all__ = [
    "TENSORS",
    "Scaling",
    "PARAMETERIZATIONS",
    "EULER_OVERRIDES",
    "EXPAND",
    "dt_rank",
    "Parameterization",
    "BASE_N_U",
    "BASE_N_X",
    "init_std",
    "lr_multiplier",
    "SSMLayer",
    "SSMNet",
    "init_net",
    "lr_tree",
    "per_tensor_optimizer",
    "fit_slope",
    "QUANTITIES",
    "DIAGNOSTICS",
    "B_TERMS",
    "coordinate_check",
    "b_decomposition",
    "b_path",
    "lr_transfer",
    "feature_learning",
    "range_slopes",
    "plot_run",
]
