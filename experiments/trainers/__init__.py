"""VAE vs IWAE vs SMC (FIVO) vs PVMC, trained side by side (experiments of ``suites/trainers.toml``).

Every method trains the *same* generative model from the *same* initialisation with the same
optimiser, batch, particle count ``N``, step budget and early-stopping rule, through the one loop
of :mod:`ssmbench.train` and the one driver of :mod:`experiments.trainers.driver`; only the bound
and the proposal family differ, all proposals having the same hidden width (the methods:
:mod:`ssmbench.prob.methods`). Losses are ``-mean_b log Z-hat(y_b) / T`` (nats per time step).
Wall times are training time only (compile and evaluations excluded, ``block_until_ready`` every
step).

Experiments (keyword-only, all randomness from ``seed``):

- :func:`lgssm_experiment`: LGSSM with unknown parameters (d_x = d_y = 5); exact held-out
  log p(y) per step under the learned vs the true parameters, smoothed-mean error against RTS,
  time per step and time to target.
- :func:`sv_experiment`: stochastic volatility, held-out bound by a common bootstrap SMC with
  N = 1024 particles under each learned model.
- :func:`lv_experiment`: Lotka-Volterra with Poisson counts and a learned MLP drift,
  semi-supervised (-bound + lambda * state MSE on the labelled half of the training sequences).
- :func:`chorales_experiment`: a Bernoulli-emission SRNN (or DMM) on music21's Bach chorales as an
  88-key binary piano roll in eighth-note frames (:mod:`ssmbench.tasks.chorales`); held-out NLL
  per frame by a common bootstrap SMC with N = 1024. Needs the optional ``music21``.
- :func:`speed_experiment`: FIVO vs PVMC on the LGSSM at a given (T, N): time per step of each
  (and of both PVMC paths), and time to target within a fixed step budget; ratios FIVO / PVMC.

Reports: ``python -m experiments.trainers plot|table RUN_DIR [OUT_DIR]``.
"""

from .chorales import chorales_experiment, init_piano_roll_model
from .report import comparison_table, plot_curves
from .speed import speed_experiment
from .tasks import init_lgssm, lgssm_experiment, lv_experiment, sv_experiment, true_lgssm

__all__ = [
    "lgssm_experiment",
    "sv_experiment",
    "lv_experiment",
    "chorales_experiment",
    "speed_experiment",
    "init_lgssm",
    "true_lgssm",
    "init_piano_roll_model",
    "plot_curves",
    "comparison_table",
]
