"""The one training loop of ssmbench, in two forms.

- :func:`train`: a host loop over one compiled step, with a NaN guard, early stopping on a
  validation score, per-step timing and a log (:mod:`ssmbench.train.loop`);
- :func:`fit`: a jitted ``lax.scan`` over steps for small fits, vmappable over initialisations
  and learning rates (:mod:`ssmbench.train.fit`).

Both update the parameters through :func:`ssmbench.train.step.apply_step`. :func:`train` runs
data-parallel over a device mesh with ``mesh=`` or ``TrainConfig(devices="all")``
(:mod:`ssmbench.train.sharding`).
:func:`time_to_target` turns evaluation curves of several methods into the time each needs to
reach a common target.
"""

from .curves import time_to_target
from .fit import FitResult, fit
from .loop import ProgressBar, TrainResult, compile_step, train
from .step import TrainConfig, apply_step, learning_rate_at, make_optimizer

__all__ = [
    "TrainConfig",
    "TrainResult",
    "FitResult",
    "train",
    "fit",
    "compile_step",
    "apply_step",
    "make_optimizer",
    "learning_rate_at",
    "time_to_target",
    "ProgressBar",
]
