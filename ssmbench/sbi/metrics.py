"""Distances between a posterior sample and a reference posterior sample (T-SNL's code has none).

- :func:`mmd2`: the unbiased squared maximum mean discrepancy with the RBF kernel
  ``k(a, b) = exp(-|a - b|^2 / (2 h^2))``, ``h`` the median distance over the distinct pairs of
  the pooled samples (the median heuristic; :func:`median_bandwidth`). Unbiased: the within-sample
  sums leave out i = j, so its expectation is 0 for equal laws and it can be negative.
  :func:`mmd2_reference` is the same by explicit Python double loops.
- :func:`c2st`: classifier two-sample test accuracy, cross-validated (0.5 = indistinguishable,
  1 = separable), as in the sbi package: standardised features, an MLP with two hidden layers
  of ``10 p`` units (or a logistic regression), stratified 5-fold cross-validation.
- :func:`mean_err_sd` (``|mean - ref mean| / ref sd``) and :func:`sd_ratio` (``sd / ref sd``), per
  parameter, with ``ddof = 1``.

Samples are ``(n, p)`` arrays (one draw per row).
"""

from __future__ import annotations

import math
from typing import Literal

import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Float
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedKFold, cross_val_score
from sklearn.neural_network import MLPClassifier
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

__all__ = [
    "median_bandwidth",
    "mmd2",
    "mmd2_reference",
    "c2st",
    "mean_err_sd",
    "sd_ratio",
]


def _check_pair(x: object, y: object, min_rows: int = 2, names: tuple[str, str] = ("x", "y")):
    """Raise a ValueError unless ``x`` (n, p) and ``y`` (m, p) are 2-D arrays with enough rows."""
    for name, v in zip(names, (x, y), strict=True):
        shape = tuple(getattr(v, "shape", ()))
        if len(shape) != 2 or shape[0] < min_rows or shape[1] < 1:
            raise ValueError(
                f"{name} must be an array of shape (n, p) with n >= {min_rows}, got {shape}"
            )
    if x.shape[1] != y.shape[1]:  # type: ignore[attr-defined]
        raise ValueError(
            f"{names[0]} and {names[1]} must have the same number of columns, "
            f"got {x.shape} and {y.shape}"  # type: ignore[attr-defined]
        )


def _sqdist(a: Float[Array, "n p"], b: Float[Array, "m p"]) -> Float[Array, "n m"]:
    """Squared Euclidean distances ``|a_i - b_j|^2`` (clipped at 0 against rounding)."""
    aa, bb = jnp.sum(a**2, axis=1), jnp.sum(b**2, axis=1)
    return jnp.maximum(aa[:, None] + bb[None, :] - 2.0 * (a @ b.T), 0.0)


def median_bandwidth(x: Float[Array, "n p"], y: Float[Array, "m p"]) -> Float[Array, ""]:
    """The median distance over the distinct pairs i < j of the pooled sample ``[x; y]``."""
    _check_pair(x, y, min_rows=1)
    z = jnp.concatenate([jnp.asarray(x), jnp.asarray(y)])
    iu, ju = np.triu_indices(z.shape[0], 1)
    return jnp.median(jnp.sqrt(_sqdist(z, z))[iu, ju])


def mmd2(
    x: Float[Array, "n p"], y: Float[Array, "m p"], bandwidth: float | None = None
) -> Float[Array, ""]:
    """Unbiased MMD^2 of ``x`` and ``y`` with the RBF kernel (median bandwidth unless given)."""
    _check_pair(x, y)
    if bandwidth is not None and not bandwidth > 0:
        raise ValueError(f"bandwidth must be positive, got {bandwidth!r}")
    x, y = jnp.asarray(x), jnp.asarray(y)
    h = median_bandwidth(x, y) if bandwidth is None else jnp.asarray(bandwidth, x.dtype)

    def offdiag_mean(a):
        k = jnp.exp(-_sqdist(a, a) / (2.0 * h**2))
        n = a.shape[0]
        return (jnp.sum(k) - jnp.trace(k)) / (n * (n - 1))

    kxy = jnp.exp(-_sqdist(x, y) / (2.0 * h**2))
    return offdiag_mean(x) + offdiag_mean(y) - 2.0 * jnp.mean(kxy)


def mmd2_reference(
    x: Float[Array, "n p"], y: Float[Array, "m p"], bandwidth: float | None = None
) -> float:
    """:func:`mmd2` by explicit Python double loops over the pairs (numpy; the oracle)."""
    _check_pair(x, y)
    if bandwidth is not None and not bandwidth > 0:
        raise ValueError(f"bandwidth must be positive, got {bandwidth!r}")
    x, y = np.asarray(x, np.float64), np.asarray(y, np.float64)

    def dist(a, b):
        return math.sqrt(sum((ai - bi) ** 2 for ai, bi in zip(a, b, strict=True)))

    if bandwidth is None:
        z = list(x) + list(y)
        bandwidth = float(
            np.median([dist(z[i], z[j]) for i in range(len(z)) for j in range(i + 1, len(z))])
        )

    def k(a, b):
        return math.exp(-(dist(a, b) ** 2) / (2.0 * bandwidth**2))

    n, m = len(x), len(y)
    sxx = sum(k(x[i], x[j]) for i in range(n) for j in range(n) if i != j)
    syy = sum(k(y[i], y[j]) for i in range(m) for j in range(m) if i != j)
    sxy = sum(k(x[i], y[j]) for i in range(n) for j in range(m))
    return sxx / (n * (n - 1)) + syy / (m * (m - 1)) - 2.0 * sxy / (n * m)


def c2st(
    x: Float[Array, "n p"],
    y: Float[Array, "m p"],
    *,
    seed: int,
    classifier: Literal["mlp", "logistic"] = "mlp",
    folds: int = 5,
) -> float:
    """Mean cross-validated accuracy of a classifier telling ``x`` (label 0) from ``y`` (label 1).

    ``classifier="mlp"``: sbi's choice, an MLP (two hidden layers of ``10 p`` ReLU units, Adam, at
    most 1000 epochs); ``"logistic"`` is faster but sees only a shift of the mean. Features are
    standardised inside each fold; the folds are stratified and shuffled with ``seed``.
    """
    _check_pair(x, y)
    if classifier not in ("mlp", "logistic"):
        raise ValueError(f"classifier must be 'mlp' or 'logistic', got {classifier!r}")
    x, y = np.asarray(x, np.float64), np.asarray(y, np.float64)
    if (
        isinstance(folds, bool)
        or not isinstance(folds, int)
        or not 2 <= folds <= min(len(x), len(y))
    ):
        raise ValueError(f"folds must be an integer in [2, min(n, m)], got {folds!r}")
    p = x.shape[1]
    if classifier == "mlp":
        clf = MLPClassifier(
            hidden_layer_sizes=(10 * p, 10 * p), max_iter=1000, solver="adam", random_state=seed
        )
    else:
        clf = LogisticRegression(random_state=seed)
    data = np.concatenate([x, y])
    labels = np.concatenate([np.zeros(len(x)), np.ones(len(y))])
    cv = StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed)
    scores = cross_val_score(make_pipeline(StandardScaler(), clf), data, labels, cv=cv)
    return float(np.mean(scores))


def mean_err_sd(samples: Float[Array, "n p"], ref_samples: Float[Array, "m p"]) -> np.ndarray:
    """``|mean(samples) - mean(ref)| / sd(ref)`` per parameter, shape ``(p,)``."""
    _check_pair(samples, ref_samples, names=("samples", "ref_samples"))
    s, r = np.asarray(samples, np.float64), np.asarray(ref_samples, np.float64)
    return np.abs(s.mean(axis=0) - r.mean(axis=0)) / r.std(axis=0, ddof=1)


def sd_ratio(samples: Float[Array, "n p"], ref_samples: Float[Array, "m p"]) -> np.ndarray:
    """``sd(samples) / sd(ref)`` per parameter, shape ``(p,)`` (1 = the right spread)."""
    _check_pair(samples, ref_samples, names=("samples", "ref_samples"))
    s, r = np.asarray(samples, np.float64), np.asarray(ref_samples, np.float64)
    return s.std(axis=0, ddof=1) / r.std(axis=0, ddof=1)
