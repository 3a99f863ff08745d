"""Bring your own probabilistic model: a factory named by a dotted path ``"package.module:name"``.

The trainer experiments that accept a ``model`` path (``experiments.trainers:sv_experiment``)
build their starting model as ``name(key=..., state_dim=..., obs_dim=..., dtype=...)``; the
result must be an :class:`~ssmbench.prob.AbstractSSM` (usually an
:class:`~ssmbench.prob.AbstractMarkovSSM`: ``initial_dist``, ``transition_dist``,
``emission_log_prob``, ``emission_sample``, ``state_dim``, ``obs_dim``). Every bound and trainer
(VAE, IWAE, FIVO, PVMC) and the particle-filter evaluator then run on it unchanged.
"""

from __future__ import annotations

from collections.abc import Callable

import jax

from .._validate import load_dotted
from ._base import AbstractSSM

__all__ = ["build_ssm", "load_ssm"]


def load_ssm(path: str) -> Callable[..., AbstractSSM]:
    """The model factory (or AbstractSSM subclass) a dotted path ``"package.module:name"`` names.

    Raises ValueError naming the path when it is malformed, cannot be imported, or names nothing
    callable; TypeError when it names a class that is not an AbstractSSM.
    """
    ctor = load_dotted(path, "model")
    if isinstance(ctor, type) and not issubclass(ctor, AbstractSSM):
        raise TypeError(f"model {path!r}: {ctor.__name__} must subclass ssmbench.prob.AbstractSSM")
    return ctor


def build_ssm(path: str, *, key: jax.Array, state_dim: int, obs_dim: int, dtype) -> AbstractSSM:
    """Call the factory ``path`` names with the task's sizes; check what it returns."""
    model = load_ssm(path)(key=key, state_dim=state_dim, obs_dim=obs_dim, dtype=dtype)
    if not isinstance(model, AbstractSSM):
        raise TypeError(
            f"model {path!r} returned a {type(model).__name__}, not an ssmbench.prob.AbstractSSM"
        )
    if (model.state_dim, model.obs_dim) != (state_dim, obs_dim):
        raise ValueError(
            f"model {path!r} has (state_dim, obs_dim) = {(model.state_dim, model.obs_dim)}; "
            f"the task needs {(state_dim, obs_dim)}"
        )
    return model
