"""Rough-path expressivity of selective vs time-invariant SSMs.

Claim (Cirone, Orvieto, Walker, Salvi, Lyons, "Theoretical Foundations of Deep Selective
State-Space Models", NeurIPS 2024, arXiv 2402.19047): a linear controlled differential equation

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

This module holds the pieces of the check: the two path generators, signature targets of any word
via signax, the R² metric, a ridge readout on random features and an end-to-end optax loop, and
the experiment function ``rough_paths`` referenced by ``suites/theory.toml``.
"""

from __future__ import annotations

import functools
import itertools
import logging
import math
import time
from collections.abc import Sequence
from typing import Literal

import diffrax
import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import optax
import signax
from jaxtyping import Array, Float, PRNGKeyArray

log = logging.getLogger(__name__)

__all__ = [
    "random_walk_paths",
    "brownian_paths",
    "parse_words",
    "signature_targets",
    "r2_score",
    "ridge_fit_predict",
    "train_e2e",
]


# ----------------------------------------------------------------------------------------------
# Paths
# ----------------------------------------------------------------------------------------------


def _check_sizes(n: int, length: int, dim: int) -> None:
    for name, v, lo in (("n", n, 1), ("length", length, 2), ("dim", dim, 1)):
        if not isinstance(v, int | np.integer) or v < lo:
            raise ValueError(f"{name} must be an integer >= {lo}, got {v!r}")


def random_walk_paths(
    key: PRNGKeyArray,
    n: int,
    length: int,
    dim: int,
    *,
    normalise: bool = True,
    dtype: jnp.dtype = jnp.float32,
) -> Float[Array, "n length dim"]:
    """The authors' toy paths: random walks with integer-rounded N(0, 1) increments.

    Each channel's increments are independent standard normals rounded to the nearest integer,
    cumulatively summed over ``length`` samples (so the first sample is the first increment, as in
    the authors' ``generate_toy_dataset.py``). With ``normalise`` the whole batch is divided by its
    global max |x|, so every value lies in [-1, 1]. Time is implicit: sample k sits at
    t = k / (length - 1) on [0, 1].
    """
    _check_sizes(n, length, dim)
    inc = jnp.round(jax.random.normal(key, (n, length, dim), dtype=dtype))
    x = jnp.cumsum(inc, axis=1)
    if normalise:
        x = x / jnp.maximum(jnp.max(jnp.abs(x)), jnp.asarray(1.0, dtype))
    return x


def brownian_paths(
    key: PRNGKeyArray,
    n: int,
    length: int,
    dim: int,
    *,
    t1: float = 1.0,
    tol: float = 1e-3,
    dtype: jnp.dtype = jnp.float32,
) -> Float[Array, "n length dim"]:
    """Brownian paths from diffrax's ``VirtualBrownianTree``, sampled on a uniform grid of [0, t1].

    Each path starts at 0 and has ``length`` samples at t_k = k t1 / (length - 1). ``tol`` is the
    tree's time resolution; it is clipped below the grid spacing so that the grid is resolved.
    """
    _check_sizes(n, length, dim)
    ts = jnp.linspace(0.0, t1, length, dtype=dtype)
    tol = min(tol, 0.25 * t1 / (length - 1))

    def one(k: PRNGKeyArray) -> Array:
        bm = diffrax.VirtualBrownianTree(
            0.0, t1, tol=tol, shape=jax.ShapeDtypeStruct((dim,), dtype), key=k
        )
        return jax.vmap(lambda t: bm.evaluate(0.0, t))(ts)

    return jax.vmap(one)(jax.random.split(key, n))


# ----------------------------------------------------------------------------------------------
# Signature targets
# ----------------------------------------------------------------------------------------------

Word = tuple[int, ...]


def parse_words(spec: str | Sequence[str], dim: int) -> list[Word]:
    """Parse signature words into 0-based letter tuples.

    ``spec`` is one item or a list of items; an item is either a word of 1-based letters, e.g.
    ``"12"`` (the Lévy-area term S^{12}) or ``"123"`` (the volume term S^{123}), or
    ``"level:k"``, meaning all ``dim**k`` words of length k in lexicographic order.
    Letters must be in 1..dim (so at most 9 channels in word notation).
    """
    items = [spec] if isinstance(spec, str) else list(spec)
    if not items:
        raise ValueError("spec must name at least one word")
    words: list[Word] = []
    for item in items:
        if item.startswith("level:"):
            k = int(item.split(":", 1)[1])
            if k < 1:
                raise ValueError(f"level must be >= 1, got {item!r}")
            words.extend(itertools.product(range(dim), repeat=k))
            continue
        if not item or not item.isdigit():
            raise ValueError(f"a word is a string of letters 1..{dim}, got {item!r}")
        w = tuple(int(c) - 1 for c in item)
        if min(w) < 0 or max(w) >= dim:
            raise ValueError(f"word {item!r} has letters outside 1..{dim}")
        words.append(w)
    return words


def signature_targets(
    paths: Float[Array, "n length dim"], spec: str | Sequence[str]
) -> Float[Array, "n n_words"]:
    """Signature terms S^I(X)_[0,T] of the piecewise-linear interpolation of each path.

    Computed with ``signax.signature`` truncated at the longest word; column j is the word j of
    ``parse_words(spec, dim)``. The dtype follows the paths.
    """
    if paths.ndim != 3:
        raise ValueError(f"paths must have shape (n, length, dim), got {paths.shape}")
    words = parse_words(spec, paths.shape[-1])
    depth = max(len(w) for w in words)
    sig = signax.signature(paths, depth, flatten=False)  # [(n, d), (n, d, d), ...]
    cols = [sig[len(w) - 1][(slice(None), *w)] for w in words]
    return jnp.stack(cols, axis=-1)


# ----------------------------------------------------------------------------------------------
# Metric and readouts
# ----------------------------------------------------------------------------------------------


def r2_score(y_true: Float[Array, " n"], y_pred: Float[Array, " n"]) -> float:
    """Coefficient of determination 1 − Σ(y − ŷ)² / Σ(y − ȳ)² on held-out data (can be < 0)."""
    yt = np.asarray(y_true, dtype=np.float64)
    yp = np.asarray(y_pred, dtype=np.float64)
    if yt.shape != yp.shape or yt.ndim != 1:
        raise ValueError(f"y_true and y_pred must be equal 1-D shapes, got {yt.shape}, {yp.shape}")
    ss_tot = float(np.sum((yt - yt.mean()) ** 2))
    if ss_tot == 0.0:
        raise ValueError("y_true is constant: R² is undefined")
    return 1.0 - float(np.sum((yt - yp) ** 2)) / ss_tot


DEFAULT_LAMBDAS = tuple(10.0**k for k in range(-10, 3))


def ridge_fit_predict(
    f_train: Float[Array, "n_train f"],
    y_train: Float[Array, " n_train"],
    f_test: Float[Array, "n_test f"],
    *,
    lambdas: Sequence[float] = DEFAULT_LAMBDAS,
    val_frac: float = 0.2,
) -> tuple[np.ndarray, float]:
    """Ridge regression readout with the penalty chosen on a validation split of the training set.

    Features are standardised with training statistics and an intercept is fitted. Penalties are
    relative to the mean eigenvalue of the Gram matrix (λ·tr(ZᵀZ)/f), so the grid is scale free.
    The last ``val_frac`` of the training rows is held out to choose λ; the final fit uses all
    training rows. Solved in float64 (a scoped ``jax.enable_x64``) by Cholesky on the Gram
    matrix, one solve per λ; this avoids LAPACK SVDs, which are slow on an oversubscribed CPU.
    Returns (test predictions as float64 numpy, chosen λ).
    """
    ftr = np.asarray(f_train, dtype=np.float64)
    fte = np.asarray(f_test, dtype=np.float64)
    ytr = np.asarray(y_train, dtype=np.float64)
    if ftr.ndim != 2 or fte.ndim != 2 or ftr.shape[1] != fte.shape[1]:
        raise ValueError(f"features must be (n, f) with equal f, got {ftr.shape}, {fte.shape}")
    if ytr.shape != (ftr.shape[0],):
        raise ValueError(f"y_train must have shape ({ftr.shape[0]},), got {ytr.shape}")
    if not (np.all(np.isfinite(ftr)) and np.all(np.isfinite(fte))):
        raise FloatingPointError("non-finite features")
    # Pad the feature count to a multiple of 128 with zero columns (their weights are exactly 0:
    # standardisation leaves them 0 and the penalty makes the Gram matrix definite), so all
    # widths up to 128 share one compiled solve.
    pad = (-ftr.shape[1]) % 128
    if pad:
        ftr = np.pad(ftr, ((0, 0), (0, pad)))
        fte = np.pad(fte, ((0, 0), (0, pad)))
    n_val = max(1, int(round(val_frac * ftr.shape[0])))
    n_fit = ftr.shape[0] - n_val
    with jax.enable_x64(True):
        lams = jnp.asarray(lambdas, dtype=jnp.float64)
        pv = _ridge_solve(
            jnp.asarray(ftr[:n_fit]), jnp.asarray(ytr[:n_fit]), lams, jnp.asarray(ftr[n_fit:])
        )
        errs = np.mean((np.asarray(pv) - ytr[None, n_fit:]) ** 2, axis=1)
        errs = np.where(np.isfinite(errs), errs, np.inf)
        best = float(lambdas[int(np.argmin(errs))])
        pred = _ridge_solve(
            jnp.asarray(ftr), jnp.asarray(ytr), jnp.asarray([best]), jnp.asarray(fte)
        )
        return np.asarray(pred[0]), best


@jax.jit
def _ridge_solve(f: Array, y: Array, lams: Array, g: Array) -> Array:
    """Predictions on ``g`` of ridge fits on (f, y), one row per penalty in ``lams``."""
    mu, sd = f.mean(0), f.std(0)
    active = sd > 0
    sd = jnp.where(active, sd, 1.0)
    z = (f - mu) / sd
    ym = y.mean()
    # constant (e.g. zero-padded) columns: z = 0 there, so a unit diagonal keeps the system
    # definite and their weights exactly 0; the penalty scale counts active columns only.
    gram = z.T @ z + jnp.diag(jnp.where(active, 0.0, 1.0))
    rhs = z.T @ (y - ym)
    scale = jnp.trace(gram * active[:, None]) / jnp.maximum(jnp.sum(active), 1)
    eye = jnp.diag(active.astype(gram.dtype))

    def one(lam):
        w = jax.scipy.linalg.solve(gram + lam * scale * eye, rhs, assume_a="pos")
        return ((g - mu) / sd) @ w + ym

    return jax.vmap(one)(lams)


# ----------------------------------------------------------------------------------------------
# End-to-end training
# ----------------------------------------------------------------------------------------------


def train_e2e(
    model: eqx.Module,
    x_train: Float[Array, "n length dim"],
    y_train: Float[Array, " n"],
    *,
    key: PRNGKeyArray,
    steps: int = 1000,
    lr: float = 1e-3,
    batch: int = 64,
    weight_decay: float = 0.0,
) -> tuple[eqx.Module, float]:
    """Train ``model`` (an unbatched map path -> scalar) by Adam(W) on the mean squared error.

    Targets are standardised with training statistics inside the loss and the returned model
    includes the de-standardisation, so ``model(x)`` predicts y directly. Uses a cosine learning
    rate decay and clips gradients at global norm 1. Returns (trained model, final train loss);
    a non-finite loss propagates to the result (the caller marks the cell diverged).
    """
    if x_train.ndim != 3 or y_train.shape != (x_train.shape[0],):
        raise ValueError(
            f"x_train must be (n, length, dim) and y_train (n,), got {x_train.shape}, {y_train.shape}"
        )
    mu = jnp.mean(y_train)
    sd = jnp.std(y_train) + jnp.finfo(y_train.dtype).tiny
    yz = (y_train - mu) / sd
    opt, run = _trainer(steps, float(lr), int(batch), float(weight_decay))
    params, static = eqx.partition(model, eqx.is_inexact_array)
    state = opt.init(params)
    keys = jax.random.split(key, steps)
    (params, state), losses = run(params, state, static, keys, x_train, yz)
    losses = np.asarray(losses)
    trained = eqx.combine(params, static)
    final = float(np.mean(losses[-min(20, losses.size) :]))
    return _Destandardised(trained, mu, sd), final


@functools.cache
def _trainer(steps: int, lr: float, batch: int, weight_decay: float):
    """The optimiser and a jitted ``run`` over all steps (one scan), cached per hyper-parameters so
    that repeated trainings (seeds, words) reuse one compilation per model structure. Data are
    arguments, not closed-over constants."""
    opt = optax.chain(
        optax.clip_by_global_norm(1.0),
        optax.adamw(optax.cosine_decay_schedule(lr, steps), weight_decay=weight_decay),
    )

    def loss_fn(p, static, xb, yb):
        m = eqx.combine(p, static)
        return jnp.mean((jax.vmap(m)(xb) - yb) ** 2)

    @eqx.filter_jit
    def run(params, state, static, keys, x, yz):
        n = x.shape[0]

        def step(carry, k):
            p, s = carry
            idx = jax.random.randint(k, (min(batch, n),), 0, n)
            loss, g = jax.value_and_grad(loss_fn)(p, static, x[idx], yz[idx])
            upd, s = opt.update(g, s, p)
            return (eqx.apply_updates(p, upd), s), loss

        return jax.lax.scan(step, (params, state), keys)

    return opt, run


class _Destandardised(eqx.Module):
    inner: eqx.Module
    mu: Array
    sd: Array

    def __call__(self, x: Array) -> Array:
        return self.inner(x) * self.sd + self.mu


# ----------------------------------------------------------------------------------------------
# Model families and stacks
# ----------------------------------------------------------------------------------------------

FAMILIES = ("s4d", "lcde-t", "mamba", "lcde-diag", "lcde-dense")
FAMILY_CLASS = {
    "s4d": "time-invariant",
    "lcde-t": "time-invariant",
    "mamba": "selective-diagonal",
    "lcde-diag": "selective-diagonal",
    "lcde-dense": "selective-dense",
}
Family = Literal["s4d", "lcde-t", "mamba", "lcde-diag", "lcde-dense"]


def _with_time(u: Float[Array, "L c"]) -> Float[Array, "L c1"]:
    ts = jnp.linspace(0.0, 1.0, u.shape[0], dtype=u.dtype)
    return jnp.concatenate([ts[:, None], u], axis=-1)


class _Mix(eqx.Module):
    """Between two layers: a linear map and a ReLU, as in the authors' deep SSM baselines."""

    lin: eqx.nn.Linear

    def __call__(self, h: Float[Array, "L n"]) -> Float[Array, "L m"]:
        return jax.nn.relu(jax.vmap(self.lin)(h))


class _CDEMix(eqx.Module):
    """Between two LinearCDE layers: z_t = ReLU(LayerNorm(W h_t)) / sqrt(m).

    A linear CDE's state grows like exp(|A|·(total variation of ω)), so the next layer's control
    must stay of the input's size: a per-time-step LayerNorm (causal) and the 1/sqrt(m) scale
    keep each time slice of z at unit norm, as the [-1, 1] normalisation does for x.
    """

    lin: eqx.nn.Linear
    norm: eqx.nn.LayerNorm

    def __call__(self, h: Float[Array, "L n"]) -> Float[Array, "L m"]:
        z = jax.vmap(lambda v: self.norm(self.lin(v)))(h)
        return jax.nn.relu(z) / math.sqrt(z.shape[-1])


class Stack(eqx.Module):
    """``depth`` sequence layers of one family; ``features(x)`` is the last layer's state at T.

    - ``s4d`` / ``mamba``: a linear encoder d -> width, then ``depth`` zoo layers (L, width) ->
      (L, width) with linear + ReLU mixing between them (the authors' "linear mixing layer +
      ReLU"); features are the last layer's outputs at the final time (width of them). At depth 1
      there is no nonlinearity between the recurrence and the readout, as in the paper.
    - ``lcde-*``: linear neural CDEs with ω = ξ = (t, u) (``lcde-t``: ω = t); layer 1 is driven
      by u = (x, z) with z = ReLU(LayerNorm(W h^{k-1})) / sqrt(mix) (see ``_CDEMix``);
      features are the last layer's hidden state at T (width of them).
    """

    family: str = eqx.field(static=True)
    encoder: eqx.nn.Linear | None
    layers: list
    mixes: list

    def __init__(
        self, family: str, d: int, width: int, depth: int, *, mix: int = 16, key: PRNGKeyArray
    ):
        if family not in FAMILIES:
            raise ValueError(f"family must be one of {FAMILIES}, got {family!r}")
        if depth < 1 or width < 1:
            raise ValueError(f"depth and width must be >= 1, got {depth}, {width}")
        self.family = family
        keys = jax.random.split(key, 2 * depth + 1)
        if family in ("s4d", "mamba"):
            self.encoder = eqx.nn.Linear(d, width, key=keys[0])
            self.layers = [_ssm_layer(family, width, key=k) for k in keys[1 : depth + 1]]
            self.mixes = [eqx.nn.Linear(width, width, key=k) for k in keys[depth + 1 : 2 * depth]]
            self.mixes = [_Mix(m) for m in self.mixes]
        else:
            self.encoder = None
            ins = [d] + [d + mix] * (depth - 1)
            self.layers = [
                _lcde_layer(family, c, width, key=k) for c, k in zip(ins, keys[1 : depth + 1])
            ]
            self.mixes = [
                _CDEMix(eqx.nn.Linear(width, mix, key=k), eqx.nn.LayerNorm(mix))
                for k in keys[depth + 1 : 2 * depth]
            ]

    def __call__(self, x: Float[Array, "L d"]) -> Float[Array, " width"]:
        return self.features(x)

    def features(self, x: Float[Array, "L d"]) -> Float[Array, " width"]:
        """The last layer's output (SSMs) or hidden state (LCDEs) at the final time."""
        if self.encoder is not None:
            h = jax.vmap(self.encoder)(x)
            for i, layer in enumerate(self.layers):
                if i > 0:
                    h = self.mixes[i - 1](h)
                h = layer(h)
            return h[-1]
        h = self.layers[0].states(x)
        for mix, layer in zip(self.mixes, self.layers[1:]):
            h = layer.states(jnp.concatenate([x, mix(h)], axis=-1))
        return h[-1]


class Regressor(eqx.Module):
    """A ``Stack`` with a trainable linear head on its final-time features (end-to-end mode)."""

    stack: Stack
    head: eqx.nn.Linear

    def __init__(self, stack: Stack, width: int, *, key: PRNGKeyArray):
        self.stack = stack
        self.head = eqx.nn.Linear(width, "scalar", key=key)

    def __call__(self, x: Float[Array, "L d"]) -> Float[Array, ""]:
        return self.head(self.stack.features(x))


def _ssm_layer(family: str, width: int, *, key: PRNGKeyArray) -> eqx.Module:
    """A zoo sequence layer (L, width) -> (L, width)."""
    if family == "s4d":
        from ssmbench.models.diagonal import S4D

        return S4D(width, 16, field="complex", key=key)
    if family == "mamba":
        from ssmbench.models.mamba import Mamba

        return Mamba(width, key=key)
    raise ValueError(f"not a sequence-layer family: {family!r}")


def _lcde_layer(family: str, c_in: int, width: int, *, key: PRNGKeyArray) -> eqx.Module:
    """A linear neural CDE layer (L, c_in) -> hidden path (L, width)."""
    from ssmbench.models.lcde import LinearCDE

    structure = "diagonal" if family == "lcde-diag" else "dense"
    gates = "t" if family == "lcde-t" else "tx"
    # Diagonal: the zoo's exact closed-form step (cheap). Dense: its Euler step; the exact dense
    # step is an expm per segment, far beyond this experiment's CPU budget (see the docs).
    solver = "exact" if structure == "diagonal" else "euler"
    return LinearCDE(c_in, width, structure=structure, gates=gates, solver=solver, key=key)


# ----------------------------------------------------------------------------------------------
# The experiment
# ----------------------------------------------------------------------------------------------


@eqx.filter_jit
def _vmapped(model: eqx.Module, xb: Array) -> Array:
    return jax.vmap(model)(xb)


def _batched(model: eqx.Module, x: Array, chunk: int = 500) -> np.ndarray:
    """``vmap(model)`` over the rows of ``x`` in equal chunks (bounded memory, one compile)."""
    n = x.shape[0]
    chunk = min(chunk, n)
    pad = (-n) % chunk
    xp = jnp.concatenate([x, jnp.broadcast_to(x[:1], (pad, *x.shape[1:]))]) if pad else x
    out = [np.asarray(_vmapped(model, xp[i : i + chunk])) for i in range(0, n + pad, chunk)]
    return np.concatenate(out)[:n]


def _word_dim(word: str) -> int:
    return max(2, max(int(c) for c in word))


def rough_paths(
    *,
    seed: int,
    quick: bool = False,
    family: Family = "lcde-dense",
    ridge_families: list[str] = list(FAMILIES),  # noqa: B006 (read-only default)
    e2e_families: list[str] = ["s4d", "mamba"],  # noqa: B006
    family_depths: dict[str, list[int]] = {},  # noqa: B006
    widths: list[int] = [16, 32, 64, 128],  # noqa: B006
    depths: list[int] = [1, 2],  # noqa: B006
    e2e_widths: list[int] = [32],  # noqa: B006
    words: list[str] = ["12", "123"],  # noqa: B006
    paths: Literal["random-walk", "brownian"] = "random-walk",
    n_train: int = 2000,
    n_test: int = 1000,
    length: int = 100,
    mix: int = 16,
    steps: int = 1000,
    lr: float = 3e-3,
    batch: int = 64,
) -> list[dict]:
    """Test R² of one model family on signature targets, by width, depth, word and training mode.

    For each word (e.g. "12" = S^{12} on 2-D paths, "123" = S^{123} on 3-D paths; the path
    dimension is the largest letter, at least 2) draw ``n_train + n_test`` paths, compute the
    target with signax and fit:

    - ``ridge`` (if ``family`` is in ``ridge_families``): a random ``Stack`` of the family
      (width, depth) as a feature map, ridge readout;
    - ``e2e`` (if in ``e2e_families``): the same architecture with a linear head, all parameters
      trained by Adam (widths ``e2e_widths``, ``steps`` steps).

    ``family_depths`` overrides ``depths`` for some families (e.g. ``{"lcde-dense": [1]}``: a
    dense CDE fed by a wide mix costs O(mix · N²) per step).

    Rows: metric ``r2`` (held-out R²), ``nmse`` (1 − R², normalised test MSE) and ``fit_s``, with
    columns family, class (time-invariant / selective-diagonal / selective-dense), mode, width,
    depth, word, largest (width is the largest of the mode's widths) and model (a plot label).
    ``quick`` is applied by the suite's ``quick_params``; here it only shortens training further
    if the suite does not.
    """
    if family not in FAMILIES:
        raise ValueError(f"family must be one of {FAMILIES}, got {family!r}")
    for name, fams in (("ridge_families", ridge_families), ("e2e_families", e2e_families)):
        for f in fams:
            if f not in FAMILIES:
                raise ValueError(f"{name} entries must be in {FAMILIES}, got {f!r}")
    modes = [m for m, fams in (("ridge", ridge_families), ("e2e", e2e_families)) if family in fams]
    depths = family_depths.get(family, depths)
    key = jax.random.PRNGKey(seed)
    k_data, k_model, k_train = jax.random.split(key, 3)
    rows: list[dict] = []
    for wi, word in enumerate(words):
        d = _word_dim(word)
        kd = jax.random.fold_in(k_data, d)
        n = n_train + n_test
        if paths == "random-walk":
            x = random_walk_paths(kd, n, length, d)
        else:
            x = brownian_paths(kd, n, length, d)
        y = np.asarray(signature_targets(x, word))[:, 0]
        ytr, yte = y[:n_train], y[n_train:]
        for mode in modes:
            ws = widths if mode == "ridge" else e2e_widths
            for depth in depths:
                for width in ws:
                    t0 = time.perf_counter()
                    km = jax.random.fold_in(jax.random.fold_in(k_model, depth), width)
                    ks, kh = jax.random.split(km)
                    stack = Stack(family, d, width, depth, mix=mix, key=ks)
                    if mode == "ridge":
                        feats = _batched(stack, x)
                        if not np.all(np.isfinite(feats)):
                            r2 = math.nan
                        else:
                            pred, _ = ridge_fit_predict(feats[:n_train], ytr, feats[n_train:])
                            r2 = r2_score(yte, pred)
                    else:
                        model = Regressor(stack, width, key=kh)
                        kt = jax.random.fold_in(
                            jax.random.fold_in(k_train, wi), depth * 1000 + width
                        )
                        trained, loss = train_e2e(
                            model,
                            x[:n_train],
                            jnp.asarray(ytr, x.dtype),
                            key=kt,
                            steps=steps,
                            lr=lr,
                            batch=batch,
                        )
                        pred = _batched(trained, x[n_train:])
                        r2 = r2_score(yte, pred) if np.all(np.isfinite(pred)) else math.nan
                    cols = {
                        "class": FAMILY_CLASS[family],
                        "mode": mode,
                        "width": width,
                        "depth": depth,
                        "word": word,
                        "largest": width == max(ws),
                        "model": f"{family} {mode} depth {depth}",
                    }
                    log.info(
                        "%s %s word=%s depth=%d width=%d: R2=%.4f (%.1fs)",
                        family,
                        mode,
                        word,
                        depth,
                        width,
                        r2,
                        time.perf_counter() - t0,
                    )
                    rows.append({"metric": "r2", "value": r2, **cols})
                    rows.append({"metric": "nmse", "value": 1.0 - r2, **cols})
                    rows.append({"metric": "fit_s", "value": time.perf_counter() - t0, **cols})
    return rows
