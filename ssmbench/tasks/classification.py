"""Real sequence-classification data shipped inside installed packages (nothing is downloaded).

:func:`load_sequence_dataset` returns a :class:`SeqClassData` for one of
:data:`SEQUENCE_DATASETS`:

- ``"digits"``: scikit-learn's 8x8 handwritten digits (``sklearn.datasets.load_digits``, 1797
  images, 10 classes, bundled in scikit-learn, a core dependency) read pixel by pixel in row-major
  order as a univariate sequence of length 64: a small stand-in for sequential MNIST. It has no
  published split, so the test set is a fixed stratified 30 % hold-out
  (:data:`DIGITS_TEST_FRACTION`) drawn by :func:`stratified_split` with the split seed
  :data:`DIGITS_SPLIT_SEED`, independent of the run seed: 1258 train / 539 test, the same test set
  for every run.
- the UCR/UEA archive sets bundled in the sktime wheel
  (``sktime/datasets/data/<Name>/<Name>_TRAIN.ts`` and ``_TEST.ts``), read from those files with
  sktime's own parser (``sktime.datasets.load_from_tsfile``, which only opens the local file),
  with their published train/test splits (:data:`PUBLISHED_SPLIT_SIZES`, train/test):

  ================  =====  ====  ======  ========  =======
  name              train  test  length  channels  classes
  ================  =====  ====  ======  ========  =======
  JapaneseVowels    270    370   7..29   12        9
  BasicMotions      40     40    100     6         4
  ArrowHead         36     175   251     1         3
  GunPoint          50     150   150     1         2
  ItalyPowerDemand  67     1029  24      1         2
  OSULeaf           200    242   427     1         6
  ================  =====  ====  ======  ========  =======

  sktime is an optional dependency: ``pip install "ssmbench[datasets]"`` (``sktime>=1.2,<2``);
  without it these sets raise an ``ImportError`` naming the extra ("digits" needs only
  scikit-learn).

Rules, the same for every set:

- **validation**: carved from the (published or fixed) training set by :func:`stratified_split`
  with ``val_fraction`` and the run's ``seed``: different seeds give different train/validation
  partitions; the test set never changes. Each class contributes ``max(1, round(val_fraction *
  n_c))`` of its ``n_c`` training examples (halves rounded up), so every class is in every split;
  a class with fewer than 2 training examples is a ``ValueError`` (no bundled set has one).
- **labels**: class ids ``0..K-1`` in sorted order of the original labels (numerically when every
  label is an integer, else as strings); ``SeqClassData.labels`` holds the original labels. sktime's
  parser lower-cases string labels (BasicMotions: badminton, running, standing, walking).
- **padding**: ``x`` is ``(N, L, C)`` float32 with ``L = seq_len`` the longest sequence of the
  whole set (train and test together); a shorter sequence (only JapaneseVowels has variable
  lengths) is right-padded with zeros and ``lengths_*`` (int32) holds its true length.
- **standardization**: per channel, with the mean and standard deviation (``ddof=0``, float64) of
  the valid (unpadded) time steps of the post-carve training part only; the same affine map is
  applied to the valid steps of every split and the padding stays exactly zero. A constant channel
  keeps its scale (standard deviation taken as 1). The statistics
  (``SeqClassData.channel_mean``, ``channel_std``) depend on the seed's carve, so the test set
  holds the same samples for every seed but its standardized values differ by that affine map.

References: H. A. Dau et al., "The UCR time series archive", IEEE/CAA J. Autom. Sinica 6(6), 2019;
A. Bagnall et al., "The UEA multivariate time series classification archive, 2018",
arXiv:1811.00075.
"""

from __future__ import annotations

import functools
import importlib.resources
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from jaxtyping import Float, Int

__all__ = [
    "SEQUENCE_DATASETS",
    "UCR_UEA_DATASETS",
    "PUBLISHED_SPLIT_SIZES",
    "DIGITS_TEST_FRACTION",
    "DIGITS_SPLIT_SEED",
    "UCR_SPLIT_NOTE",
    "DIGITS_SPLIT_NOTE",
    "SeqClassData",
    "load_sequence_dataset",
    "stratified_split",
    "bundled_ts_file",
    "require_sktime",
]

#: The names :func:`load_sequence_dataset` accepts (case-sensitive).
SEQUENCE_DATASETS: tuple[str, ...] = (
    "digits",
    "JapaneseVowels",
    "BasicMotions",
    "ArrowHead",
    "GunPoint",
    "ItalyPowerDemand",
    "OSULeaf",
)
#: The UCR/UEA sets, read from the ``.ts`` files bundled in the sktime wheel.
UCR_UEA_DATASETS: tuple[str, ...] = SEQUENCE_DATASETS[1:]
#: (train, test) sizes: the published UCR/UEA splits, and the fixed split of "digits".
PUBLISHED_SPLIT_SIZES: dict[str, tuple[int, int]] = {
    "digits": (1258, 539),
    "JapaneseVowels": (270, 370),
    "BasicMotions": (40, 40),
    "ArrowHead": (36, 175),
    "GunPoint": (50, 150),
    "ItalyPowerDemand": (67, 1029),
    "OSULeaf": (200, 242),
}
#: The fraction of each digit class held out as the fixed "digits" test set.
DIGITS_TEST_FRACTION = 0.3
#: The seed of the fixed "digits" train/test split (independent of the run seed).
DIGITS_SPLIT_SEED = 0
UCR_SPLIT_NOTE = "published UCR/UEA train/test split; validation carved from train"
DIGITS_SPLIT_NOTE = (
    "no published split: fixed stratified 70/30 train/test split of sklearn's load_digits "
    f"(split seed {DIGITS_SPLIT_SEED}, independent of the run seed); validation carved from train"
)
_EXTRA_HINT = 'pip install "ssmbench[datasets]" (sktime>=1.2,<2)'


@dataclass(frozen=True, eq=False)
class SeqClassData:
    """A sequence-classification data set split into train / validation / test.

    ``x_*`` are float32 ``(N, seq_len, n_channels)`` (standardized, zero beyond each length),
    ``y_*`` int32 class ids ``0..n_classes-1``, ``lengths_*`` int32 true lengths. ``labels[k]`` is
    the original label of class id ``k``; ``split_note`` says where the split comes from.
    ``channel_mean`` and ``channel_std`` (float64) are the standardization statistics of the
    post-carve train part: ``x * channel_std + channel_mean`` recovers the original values at
    the valid steps. They depend on ``seed``, so the standardized test set (the same samples for
    every seed) differs across seeds by that affine map only.
    """

    name: str
    x_train: Float[np.ndarray, "n_train seq_len n_channels"]
    y_train: Int[np.ndarray, " n_train"]
    lengths_train: Int[np.ndarray, " n_train"]
    x_val: Float[np.ndarray, "n_val seq_len n_channels"]
    y_val: Int[np.ndarray, " n_val"]
    lengths_val: Int[np.ndarray, " n_val"]
    x_test: Float[np.ndarray, "n_test seq_len n_channels"]
    y_test: Int[np.ndarray, " n_test"]
    lengths_test: Int[np.ndarray, " n_test"]
    n_classes: int
    n_channels: int
    seq_len: int
    labels: tuple[str, ...]
    split_note: str
    channel_mean: Float[np.ndarray, " n_channels"]
    channel_std: Float[np.ndarray, " n_channels"]


@dataclass(frozen=True, eq=False)
class _Raw:
    """A set before the validation carve and standardization (arrays read-only, cached)."""

    x_train: np.ndarray  # (N, L, C) float64, zero-padded
    y_train: np.ndarray  # int32 class ids
    len_train: np.ndarray  # int32
    x_test: np.ndarray
    y_test: np.ndarray
    len_test: np.ndarray
    labels: tuple[str, ...]
    split_note: str


def require_sktime():
    """Import and return ``sktime``, or raise an ``ImportError`` naming the ``datasets`` extra."""
    try:
        import sktime
    except ImportError as e:
        raise ImportError(
            f"the UCR/UEA sequence-classification sets {UCR_UEA_DATASETS} are read from the files "
            f"bundled in sktime, an optional dependency: {_EXTRA_HINT}"
        ) from e
    return sktime


def bundled_ts_file(name: str, split: str) -> Path:
    """The path of the ``.ts`` file of UCR/UEA set ``name`` and ``split`` ("TRAIN" or "TEST")
    bundled in the installed sktime wheel (needs sktime; nothing is downloaded)."""
    if name not in UCR_UEA_DATASETS:
        raise ValueError(f"unknown UCR/UEA set {name!r}; known: {UCR_UEA_DATASETS}")
    if split not in ("TRAIN", "TEST"):
        raise ValueError(f"split must be 'TRAIN' or 'TEST', got {split!r}")
    require_sktime()
    path = Path(str(importlib.resources.files("sktime.datasets") / "data" / name))
    path = path / f"{name}_{split}.ts"
    if not path.is_file():
        raise FileNotFoundError(
            f"{path} is not in the installed sktime: this sktime does not bundle {name}; "
            f"{_EXTRA_HINT}"
        )
    return path


def stratified_split(
    y: Int[np.ndarray, " n"], fraction: float, *, seed: int
) -> tuple[Int[np.ndarray, " n_keep"], Int[np.ndarray, " n_hold"]]:
    """Indices ``(keep, hold)`` (sorted, int64) of a stratified hold-out of ``y``.

    Each class ``c`` with ``n_c`` examples gives ``max(1, floor(fraction * n_c + 1/2))`` randomly
    chosen examples (``numpy.random.default_rng(seed)``, classes in sorted order) to ``hold``, the
    rest to ``keep``; a class with fewer than 2 examples cannot be split and raises a ValueError.
    """
    y = np.asarray(y)
    rng = np.random.default_rng(seed)
    keep, hold = [], []
    for c in np.unique(y):
        idx = rng.permutation(np.flatnonzero(y == c))
        k = max(1, math.floor(fraction * idx.size + 0.5))
        if idx.size - k < 1:
            raise ValueError(
                f"class {c.item()!r} has {idx.size} example(s): a stratified split needs at "
                "least 2 per class (one on each side)"
            )
        hold.append(idx[:k])
        keep.append(idx[k:])
    return np.sort(np.concatenate(keep)), np.sort(np.concatenate(hold))


def _label_ids(*ys: np.ndarray) -> tuple[list[np.ndarray], tuple[str, ...]]:
    """Map original labels (any dtype) to ids 0..K-1 in sorted order (numeric when all are
    integers), for several arrays at once; also return the sorted original labels as strings."""
    strs = [np.asarray(y).astype(str) for y in ys]
    uniq = sorted(set(np.concatenate(strs).tolist()))
    try:
        uniq = sorted(uniq, key=int)
    except ValueError:
        pass
    index = {lab: k for k, lab in enumerate(uniq)}
    ids = [np.array([index[s] for s in y.tolist()], dtype=np.int32) for y in strs]
    return ids, tuple(uniq)


def _frozen(*arrays: np.ndarray) -> None:
    """Make cached arrays read-only, so a caller cannot corrupt the cache."""
    for a in arrays:
        a.setflags(write=False)


@functools.cache
def _digits() -> _Raw:
    """The fixed train/test split of sklearn's digits as length-64 univariate sequences."""
    from sklearn.datasets import load_digits

    bunch = load_digits()
    x = np.asarray(bunch.data, dtype=np.float64).reshape(-1, 64, 1)
    (y,), labels = _label_ids(np.asarray(bunch.target))
    tr, te = stratified_split(y, DIGITS_TEST_FRACTION, seed=DIGITS_SPLIT_SEED)
    lens = np.full(y.shape, 64, dtype=np.int32)
    raw = _Raw(x[tr], y[tr], lens[tr], x[te], y[te], lens[te], labels, DIGITS_SPLIT_NOTE)
    _frozen(raw.x_train, raw.y_train, raw.len_train, raw.x_test, raw.y_test, raw.len_test)
    return raw


def _nested_to_padded(frame, name: str, seq_len: int) -> tuple[np.ndarray, np.ndarray]:
    """sktime's nested DataFrame (cases x channels, a Series per cell) as a zero-padded float64
    ``(N, seq_len, C)`` array and the int32 length of each case."""
    n, c = frame.shape
    x = np.zeros((n, seq_len, c), dtype=np.float64)
    lens = np.zeros(n, dtype=np.int32)
    for i in range(n):
        cells = [np.asarray(frame.iat[i, j], dtype=np.float64) for j in range(c)]
        cell_lens = {v.size for v in cells}
        if len(cell_lens) != 1:
            raise ValueError(f"{name}: case {i} has channels of different lengths {cell_lens}")
        for j, v in enumerate(cells):
            if not np.all(np.isfinite(v)):
                raise ValueError(f"{name}: case {i}, channel {j} has missing or non-finite values")
            x[i, : v.size, j] = v
        lens[i] = cells[0].size
    return x, lens


@functools.cache
def _ucr_uea(name: str) -> _Raw:
    """The published train/test split of a UCR/UEA set, from the files bundled in sktime."""
    require_sktime()
    from sktime.datasets import load_from_tsfile

    frames, ys = [], []
    for split in ("TRAIN", "TEST"):
        frame, y = load_from_tsfile(
            str(bundled_ts_file(name, split)), return_data_type="nested_univ", y_dtype="str"
        )
        frames.append(frame)
        ys.append(np.asarray(y))
    if frames[0].shape[1] != frames[1].shape[1]:
        raise ValueError(f"{name}: train and test have different channel counts")
    seq_len = max(int(f.map(len).to_numpy().max()) for f in frames)
    (x_tr, len_tr), (x_te, len_te) = (_nested_to_padded(f, name, seq_len) for f in frames)
    (y_tr, y_te), labels = _label_ids(*ys)
    missing = sorted(set(labels[k] for k in np.unique(y_te)) - set(labels[k] for k in y_tr))
    if missing:
        raise ValueError(f"{name}: test classes {missing} have no training example")
    raw = _Raw(x_tr, y_tr, len_tr, x_te, y_te, len_te, labels, UCR_SPLIT_NOTE)
    _frozen(x_tr, y_tr, len_tr, x_te, y_te, len_te)
    return raw


def _valid_mask(lengths: np.ndarray, seq_len: int) -> np.ndarray:
    """``(N, seq_len)`` boolean: True at the valid (unpadded) time steps."""
    return np.arange(seq_len)[None, :] < lengths[:, None]


def _apply_scale(x: np.ndarray, lengths: np.ndarray, mean, sd) -> np.ndarray:
    """``(x - mean) / sd`` at the valid steps, exactly zero at the padding, as float32."""
    mask = _valid_mask(lengths, x.shape[1])[:, :, None]
    return np.where(mask, (x - mean) / sd, 0.0).astype(np.float32)


def _check_seed_and_fraction(seed: object, val_fraction: object) -> None:
    """ValueErrors naming ``seed`` or ``val_fraction`` when they are out of range."""
    if isinstance(seed, bool) or not isinstance(seed, int | np.integer) or seed < 0:
        raise ValueError(f"seed must be a non-negative integer, got {seed!r}")
    ok = isinstance(val_fraction, float | int | np.floating | np.integer) and not isinstance(
        val_fraction, bool
    )
    if not ok or not 0.0 < float(val_fraction) <= 0.5:  # type: ignore[arg-type]
        raise ValueError(f"val_fraction must be a number in (0, 0.5], got {val_fraction!r}")


def load_sequence_dataset(name: str, *, seed: int, val_fraction: float = 0.2) -> SeqClassData:
    """Load sequence-classification set ``name`` (one of :data:`SEQUENCE_DATASETS`) with a
    validation set carved from its training set by ``seed``.

    The test set is the published UCR/UEA one (or the fixed "digits" hold-out) and never changes;
    the training set is split by :func:`stratified_split` (``val_fraction`` of each class,
    ``val_fraction`` in (0, 0.5]) into train and validation; every channel is standardized with
    statistics of the valid steps of that train part (see the module docstring). Raises a
    ValueError for an unknown name or bad arguments, and an ``ImportError`` naming
    ``pip install "ssmbench[datasets]"`` for a UCR/UEA set without sktime.
    """
    if name not in SEQUENCE_DATASETS:
        raise ValueError(
            f"unknown sequence data set {name!r}; known (case-sensitive): {SEQUENCE_DATASETS}"
        )
    _check_seed_and_fraction(seed, val_fraction)
    if name != "digits":
        require_sktime()  # before the cache, so a missing extra always says so
    raw = _digits() if name == "digits" else _ucr_uea(name)
    try:
        tr, va = stratified_split(raw.y_train, float(val_fraction), seed=int(seed))
    except ValueError as e:
        raise ValueError(f"{name}: cannot carve a stratified validation set: {e}") from None
    n, seq_len, n_channels = raw.x_train.shape
    x_tr, len_tr = raw.x_train[tr], raw.len_train[tr]
    valid = x_tr[_valid_mask(len_tr, seq_len)]  # (steps, C)
    mean = valid.mean(axis=0)
    sd = valid.std(axis=0)
    sd = np.where(sd > 0.0, sd, 1.0)
    return SeqClassData(
        name=name,
        x_train=_apply_scale(x_tr, len_tr, mean, sd),
        y_train=raw.y_train[tr].astype(np.int32),
        lengths_train=len_tr.astype(np.int32),
        x_val=_apply_scale(raw.x_train[va], raw.len_train[va], mean, sd),
        y_val=raw.y_train[va].astype(np.int32),
        lengths_val=raw.len_train[va].astype(np.int32),
        x_test=_apply_scale(raw.x_test, raw.len_test, mean, sd),
        y_test=raw.y_test.astype(np.int32),
        lengths_test=raw.len_test.astype(np.int32),
        n_classes=len(raw.labels),
        n_channels=int(n_channels),
        seq_len=int(seq_len),
        labels=raw.labels,
        split_note=raw.split_note,
        channel_mean=mean,
        channel_std=sd,
    )
