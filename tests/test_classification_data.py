"""Sequence-classification data shipped inside packages (ssmbench.tasks.classification): sklearn's
digits as length-64 sequences with its fixed split, and the UCR/UEA sets bundled in sktime with
their published splits (skipped without the ``datasets`` extra); splits, padding,
standardization and the errors."""

from __future__ import annotations

import socket
import sys

import numpy as np
import pytest

import ssmbench.tasks.classification as cl
from ssmbench.tasks.classification import (
    PUBLISHED_SPLIT_SIZES,
    SEQUENCE_DATASETS,
    UCR_UEA_DATASETS,
    load_sequence_dataset,
    stratified_split,
)

#: float32 tolerance on the train part's per-channel mean (|mean| <= TOL) and sd (|sd - 1| <= TOL)
TOL = 1e-5

#: the archive's well-known sizes (Dau et al. 2019; Bagnall et al. 2018) and shapes:
#: (train, test, channels, classes, longest length)
ARCHIVE = {
    "JapaneseVowels": (270, 370, 12, 9, 29),
    "BasicMotions": (40, 40, 6, 4, 100),
    "ArrowHead": (36, 175, 1, 3, 251),
    "GunPoint": (50, 150, 1, 2, 150),
    "ItalyPowerDemand": (67, 1029, 1, 2, 24),
    "OSULeaf": (200, 242, 1, 6, 427),
}


def _splits(d):
    return [
        (d.x_train, d.y_train, d.lengths_train),
        (d.x_val, d.y_val, d.lengths_val),
        (d.x_test, d.y_test, d.lengths_test),
    ]


def _check_common(d):
    """dtypes, shapes, label range, lengths and zero padding, every class in every split, and
    the train part's standardization."""
    for x, y, lens in _splits(d):
        assert x.dtype == np.float32 and y.dtype == np.int32 and lens.dtype == np.int32
        assert x.shape == (y.shape[0], d.seq_len, d.n_channels) and lens.shape == y.shape
        assert np.array_equal(np.unique(y), np.arange(d.n_classes, dtype=np.int32))
        assert np.all(lens >= 1) and np.all(lens <= d.seq_len)
        pad = np.arange(d.seq_len)[None, :] >= lens[:, None]
        assert np.all(x[pad] == 0.0)
        assert np.all(np.isfinite(x))
    valid = np.arange(d.seq_len)[None, :] < d.lengths_train[:, None]
    steps = d.x_train[valid].astype(np.float64)  # (valid steps, channels)
    np.testing.assert_allclose(steps.mean(axis=0), 0.0, atol=TOL)
    np.testing.assert_allclose(steps.std(axis=0), 1.0, atol=TOL)
    assert len(d.labels) == d.n_classes


def _original(d, x, lens):
    """Undo the standardization (float64; padding stays zero)."""
    valid = (np.arange(d.seq_len)[None, :] < lens[:, None])[:, :, None]
    return np.where(valid, x.astype(np.float64) * d.channel_std + d.channel_mean, 0.0)


def _matched(a, b, atol):
    """For each row of ``a``, whether some row of ``b`` equals it within ``atol`` (max-norm)."""
    a2, b2 = a.reshape(a.shape[0], -1), b.reshape(b.shape[0], -1)
    return np.array([np.any(np.max(np.abs(b2 - row), axis=1) <= atol) for row in a2])


def _rows(x):
    return {row.tobytes() for row in x.reshape(x.shape[0], -1)}


def _data_lines(path) -> int:
    """Cases in a .ts file, counted without sktime: non-empty lines after @data."""
    lines = path.read_text().splitlines()
    start = next(i for i, ln in enumerate(lines) if ln.strip().lower() == "@data") + 1
    return sum(1 for ln in lines[start:] if ln.strip() and not ln.startswith("#"))


# ---------------------------------------------------------------------------------------------
# digits (scikit-learn, always available)


@pytest.fixture(scope="module")
def digits():
    return {s: load_sequence_dataset("digits", seed=s) for s in (0, 1)}


def test_names_and_sizes_table():
    assert SEQUENCE_DATASETS == (
        "digits", "JapaneseVowels", "BasicMotions", "ArrowHead", "GunPoint", "ItalyPowerDemand",
        "OSULeaf",
    )  # fmt: skip
    assert set(PUBLISHED_SPLIT_SIZES) == set(SEQUENCE_DATASETS)
    for name, (n_tr, n_te, *_) in ARCHIVE.items():
        assert PUBLISHED_SPLIT_SIZES[name] == (n_tr, n_te)


def test_digits_shapes_classes_and_standardization(digits):
    d = digits[0]
    assert (d.name, d.seq_len, d.n_channels, d.n_classes) == ("digits", 64, 1, 10)
    assert d.labels == tuple(str(k) for k in range(10))
    assert "split seed" in d.split_note and "validation carved from train" in d.split_note
    n_tr, n_te = PUBLISHED_SPLIT_SIZES["digits"]
    assert (d.x_train.shape[0] + d.x_val.shape[0], d.x_test.shape[0]) == (n_tr, n_te) == (1258, 539)
    assert n_tr + n_te == 1797
    assert d.x_train.shape[1:] == (64, 1) and np.all(d.lengths_test == 64)
    _check_common(d)
    # one affine map for all splits: 17 evenly spaced levels (pixel values 0..16)
    levels = np.unique(np.concatenate([x.ravel() for x, _, _ in _splits(d)]).astype(np.float64))
    assert levels.size == 17
    np.testing.assert_allclose(np.diff(levels), np.diff(levels)[0], rtol=1e-5)


def test_digits_test_fixed_and_train_val_vary_with_seed(digits):
    a, b = digits[0], digits[1]
    # the same test samples in the same order; the standardization (post-carve train
    # statistics) differs by seed, so compare the original pixel values 0..16
    pix_a, pix_b = (np.rint(_original(d, d.x_test, d.lengths_test)) for d in (a, b))
    np.testing.assert_allclose(_original(a, a.x_test, a.lengths_test), pix_a, atol=1e-4)
    assert np.array_equal(pix_a, pix_b) and np.array_equal(a.y_test, b.y_test)
    assert not np.array_equal(a.channel_mean, b.channel_mean)
    val_a, val_b = (_rows(np.rint(_original(d, d.x_val, d.lengths_val))) for d in (a, b))
    assert val_a != val_b and len(val_a & val_b) < len(val_a) // 2
    # the same training pool, partitioned differently (and standardized by different stats)
    a2 = load_sequence_dataset("digits", seed=0)
    assert np.array_equal(a.x_val, a2.x_val) and np.array_equal(a.y_train, a2.y_train)


def test_digits_no_sample_in_two_splits(digits):
    # the 1797 digit images are pairwise distinct, so exact row equality identifies a sample
    from sklearn.datasets import load_digits

    assert len(_rows(load_digits().data)) == 1797
    for d in digits.values():
        tr, va, te = (_rows(x) for x, _, _ in _splits(d))
        assert len(tr) == d.x_train.shape[0] and len(va) == d.x_val.shape[0]
        assert len(te) == d.x_test.shape[0]
        assert not (tr & va) and not (tr & te) and not (va & te)
        assert len(tr | va | te) == 1797


def test_digits_need_no_sktime(monkeypatch):
    monkeypatch.setitem(sys.modules, "sktime", None)  # `import sktime` raises ImportError
    d = load_sequence_dataset("digits", seed=3, val_fraction=0.5)
    assert d.x_val.shape[0] == pytest.approx(d.x_train.shape[0], abs=10)


# ---------------------------------------------------------------------------------------------
# UCR/UEA sets bundled in sktime (the `datasets` extra)


@pytest.fixture(scope="module")
def ucr():
    pytest.importorskip("sktime")
    return {n: load_sequence_dataset(n, seed=0) for n in UCR_UEA_DATASETS}


@pytest.mark.parametrize("name", UCR_UEA_DATASETS)
def test_ucr_uea_published_split_and_shapes(ucr, name):
    d = ucr[name]
    n_tr, n_te, channels, classes, longest = ARCHIVE[name]
    files = [_data_lines(cl.bundled_ts_file(name, s)) for s in ("TRAIN", "TEST")]
    assert files == [n_tr, n_te] == list(PUBLISHED_SPLIT_SIZES[name])
    assert d.x_train.shape[0] + d.x_val.shape[0] == n_tr
    assert d.x_test.shape[0] == n_te
    assert (d.n_channels, d.n_classes, d.seq_len) == (channels, classes, longest)
    assert d.split_note == "published UCR/UEA train/test split; validation carved from train"
    _check_common(d)
    # the validation carve: round(0.2 n_c), at least 1, per class
    counts = np.bincount(np.concatenate([d.y_train, d.y_val]), minlength=classes)
    expect = np.maximum(1, np.floor(0.2 * counts + 0.5)).astype(np.int64)
    assert np.array_equal(np.bincount(d.y_val, minlength=classes), expect)


def test_japanese_vowels_is_variable_length_and_zero_padded(ucr):
    d = ucr["JapaneseVowels"]
    lens = np.concatenate([d.lengths_train, d.lengths_val, d.lengths_test])
    assert (lens.min(), lens.max()) == (7, 29)
    short = int(np.argmin(d.lengths_test))
    assert np.all(d.x_test[short, d.lengths_test[short] :] == 0.0)
    assert np.any(d.x_test[short, : d.lengths_test[short]] != 0.0)


def test_ucr_uea_test_fixed_and_train_val_vary_with_seed(ucr):
    a = ucr["OSULeaf"]
    b = load_sequence_dataset("OSULeaf", seed=1)
    assert np.array_equal(a.y_test, b.y_test)
    np.testing.assert_allclose(
        _original(a, a.x_test, a.lengths_test), _original(b, b.x_test, b.lengths_test), atol=1e-4
    )
    same = _matched(
        _original(a, a.x_val, a.lengths_val), _original(b, b.x_val, b.lengths_val), atol=1e-4
    )
    assert not same.all()  # a different validation set
    # train and val partition the published training set under either seed (no overlap)
    for d in (a, b):
        tr, va = _rows(d.x_train), _rows(d.x_val)
        assert not (tr & va) and len(tr) + len(va) == 200


def test_ucr_uea_labels_are_sorted_originals(ucr):
    assert ucr["BasicMotions"].labels == ("badminton", "running", "standing", "walking")
    assert ucr["ArrowHead"].labels == ("0", "1", "2")
    assert ucr["JapaneseVowels"].labels == tuple(str(k) for k in range(1, 10))


def test_ucr_uea_loading_uses_no_network(monkeypatch):
    pytest.importorskip("sktime")

    def refuse(*args, **kwargs):
        raise AssertionError("a data set loader tried the network")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.setattr(socket, "getaddrinfo", refuse)
    cl._ucr_uea.cache_clear()
    d = load_sequence_dataset("GunPoint", seed=0)
    assert d.x_test.shape == (150, 150, 1)


def test_missing_sktime_names_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "sktime", None)
    with pytest.raises(ImportError, match=r'pip install "ssmbench\[datasets\]"'):
        load_sequence_dataset("GunPoint", seed=0)
    with pytest.raises(ImportError, match="datasets"):
        cl.require_sktime()


# ---------------------------------------------------------------------------------------------
# bad input


@pytest.mark.parametrize("name", ["gunpoint", "MNIST", ""])
def test_unknown_name_lists_the_known_ones(name):
    with pytest.raises(ValueError, match="GunPoint.*ItalyPowerDemand"):
        load_sequence_dataset(name, seed=0)


@pytest.mark.parametrize("frac", [0.0, -0.1, 0.51, 1.0, float("nan"), True, "0.2"])
def test_val_fraction_out_of_range(frac):
    with pytest.raises(ValueError, match="val_fraction"):
        load_sequence_dataset("digits", seed=0, val_fraction=frac)


@pytest.mark.parametrize("seed", [-1, 1.5, None, True])
def test_bad_seed(seed):
    with pytest.raises(ValueError, match="seed"):
        load_sequence_dataset("digits", seed=seed)


def test_stratified_split_needs_two_examples_per_class():
    with pytest.raises(ValueError, match="class 1 has 1 example"):
        stratified_split(np.array([0, 0, 0, 1], dtype=np.int32), 0.2, seed=0)
    y = np.repeat(np.arange(3, dtype=np.int32), [2, 5, 9])
    keep, hold = stratified_split(y, 0.5, seed=4)
    assert np.array_equal(np.sort(np.concatenate([keep, hold])), np.arange(y.size))
    assert np.array_equal(np.bincount(y[hold]), [1, 3, 5])  # halves rounded up, keep >= 1
    k2, h2 = stratified_split(y, 0.5, seed=4)
    assert np.array_equal(keep, k2) and np.array_equal(hold, h2)
