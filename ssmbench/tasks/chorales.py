"""Bach chorales as an 88-key binary piano roll, from ``music21``'s bundled corpus (optional).

The data of the trainers' piano-roll task (``experiments.trainers.chorales_experiment``, issue 9
task 4). ``music21`` is an optional dependency (``pip install "music21>=9,<11"``, the suggested
``music`` extra); everything that needs it raises an ``ImportError`` naming it.

Preprocessing (:func:`piano_roll`), per chorale:

- all parts are merged (``stream.flatten().notes``: notes and chords of every voice);
- a frame is an eighth note (``frame_ql = 0.5`` quarter lengths); the roll has
  ``ceil(highestTime / frame_ql)`` frames (rests and trailing rests are empty frames);
- a note (or each pitch of a chord) with offset ``o`` and duration ``d`` (quarter lengths) is on
  in frames ``[round(o / frame_ql), round((o + d) / frame_ql))``, rounding half up, and in at least
  its onset frame: a sixteenth note still sounds for one frame. Tied notes simply extend the
  span (a binary roll has no onset channel). Zero-length grace notes are skipped;
- key ``k = midi - 21`` for MIDI pitches 21 (A0) .. 108 (C8); pitches outside are dropped
  (counted; none occur in the chorales).

Data set (:func:`load_chorales`): the chorales of ``music21.corpus.chorales.Iterator()``
(Riemenschneider numbering, 371 entries in music21 10), in that order; a piece that fails to parse
or has no notes is dropped and counted. ``max_pieces`` takes the first ``max_pieces`` entries of
the iterator (for quick runs). The processed rolls are cached as ``.npz`` under
:func:`cache_dir` (``$SSMBENCH_CACHE_DIR``, else ``$XDG_CACHE_HOME/ssmbench``, else
``~/.cache/ssmbench``), keyed by the music21 version and the preprocessing settings; a cache of
all pieces also serves any ``max_pieces``.

Splits (:func:`split_pieces`): by *piece* (no chunk of a test piece is ever trained on), a
permutation by ``numpy.random.default_rng(split_seed)``; fractions 0.6 / 0.2 / 0.2 (train /
validation / test), the proportions of the JSB split of Boulanger-Lewandowski et al. (2012).

Fixed shape (:func:`chunk`): each piece is cut into non-overlapping windows of ``T`` frames from
its start; the remainder (``< T`` frames) is dropped and counted, so every batch is ``(B, T, 88)``
and no padding or mask enters the bounds.

These numbers are **not comparable** to the published JSB chorale table (which uses the JSB
pickle of Boulanger-Lewandowski et al.: 382 chorales, quarter-note frames, whole sequences): the
pieces, the quantisation, the windows and the split all differ.
"""

from __future__ import annotations

import hashlib
import math
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from jaxtyping import Float, UInt8

__all__ = [
    "LOW_MIDI",
    "HIGH_MIDI",
    "N_KEYS",
    "FRAME_QL",
    "SPLIT_FRACTIONS",
    "require_music21",
    "piano_roll",
    "ChoraleCorpus",
    "cache_dir",
    "load_chorales",
    "split_pieces",
    "chunk",
    "PianoRollTask",
    "chorale_task",
]

LOW_MIDI, HIGH_MIDI = 21, 108  # A0 .. C8, the 88 piano keys
N_KEYS = HIGH_MIDI - LOW_MIDI + 1
FRAME_QL = 0.5  # an eighth note, in quarter lengths
SPLIT_FRACTIONS = (0.6, 0.2, 0.2)  # train / validation / test, by piece
_CACHE_VERSION = 1  # bump when the preprocessing changes


def require_music21():
    """Import and return ``music21``, or raise an ``ImportError`` that names the optional extra."""
    try:
        import music21
    except ImportError as e:  # pragma: no cover - exercised only without music21
        raise ImportError(
            "the Bach-chorale piano-roll task needs the optional dependency music21: "
            'pip install "music21>=9,<11" (the `music` extra)'
        ) from e
    return music21


def _frame(t_ql: float, frame_ql: float) -> int:
    """Round a time in quarter lengths to the nearest frame index, halves up."""
    return int(math.floor(t_ql / frame_ql + 0.5))


def piano_roll(stream: Any, *, frame_ql: float = FRAME_QL) -> tuple[UInt8[np.ndarray, "F 88"], int]:
    """The 88-key binary piano roll of a ``music21`` stream (all parts merged) with frames of
    ``frame_ql`` quarter lengths, and the number of pitches outside MIDI 21..108 that were dropped.
    See the module docstring for the quantisation rule."""
    if frame_ql <= 0:
        raise ValueError(f"frame_ql must be > 0, got {frame_ql}")
    flat = stream.flatten()
    spans = []
    for el in flat.notes:
        dur = float(el.quarterLength)
        if dur <= 0:  # grace notes
            continue
        off = float(el.offset)
        start = _frame(off, frame_ql)
        end = max(_frame(off + dur, frame_ql), start + 1)
        for p in el.pitches:
            spans.append((p.midi, start, end))
    n_frames = int(math.ceil(float(flat.highestTime) / frame_ql - 1e-9))
    n_frames = max([n_frames] + [e for _, _, e in spans])
    roll = np.zeros((n_frames, N_KEYS), np.uint8)
    dropped = 0
    for midi, start, end in spans:
        if not LOW_MIDI <= midi <= HIGH_MIDI:
            dropped += 1
            continue
        roll[start:end, midi - LOW_MIDI] = 1
    return roll, dropped


@dataclass(frozen=True)
class ChoraleCorpus:
    """The parsed chorales: one roll ``(frames_i, 88)`` per kept piece, its corpus name and its
    position in the chorale iterator; the pieces that failed (name, reason)."""

    rolls: list[np.ndarray]
    names: list[str]
    positions: np.ndarray
    n_attempted: int
    failed: list[tuple[str, str]]
    dropped_pitches: np.ndarray  # per kept piece: pitches outside MIDI 21..108
    music21_version: str
    frame_ql: float
    parse_s: float  # time to parse and convert (0 when read from the cache)
    cache_path: str | None = None

    @property
    def n_frames(self) -> int:
        """Number of frames over all pieces."""
        return int(sum(r.shape[0] for r in self.rolls))


def cache_dir() -> Path:
    """Where processed data sets are cached: ``$SSMBENCH_CACHE_DIR``, else
    ``$XDG_CACHE_HOME/ssmbench``, else ``~/.cache/ssmbench``."""
    if os.environ.get("SSMBENCH_CACHE_DIR"):
        return Path(os.environ["SSMBENCH_CACHE_DIR"])
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "ssmbench"


def _cache_file(directory: Path, version: str, frame_ql: float, max_pieces: int | None) -> Path:
    """The cache file of one preprocessing (music21 version, frame length, number of pieces)."""
    settings = (
        f"v{_CACHE_VERSION}|music21={version}|frame_ql={frame_ql}|midi={LOW_MIDI}-{HIGH_MIDI}"
    )
    h = hashlib.sha1(settings.encode()).hexdigest()[:10]
    n = "all" if max_pieces is None else str(max_pieces)
    return directory / f"chorales-{h}-{n}.npz"


def _save(path: Path, c: ChoraleCorpus) -> None:
    """Write a corpus to the cache (atomically)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    lengths = np.array([r.shape[0] for r in c.rolls], np.int64)
    rolls = np.concatenate(c.rolls) if c.rolls else np.zeros((0, N_KEYS), np.uint8)
    tmp = path.with_name(path.name + f".{os.getpid()}.tmp.npz")
    np.savez_compressed(
        tmp, rolls=rolls, lengths=lengths, names=np.array(c.names, dtype=str),
        positions=c.positions, n_attempted=c.n_attempted,
        failed=np.array([f"{n}\t{r}" for n, r in c.failed], dtype=str),
        dropped_pitches=c.dropped_pitches, music21_version=c.music21_version,
        frame_ql=c.frame_ql, parse_s=c.parse_s,
    )  # fmt: skip
    os.replace(tmp, path)  # atomic: concurrent runs never see a half-written cache


def _load(path: Path) -> ChoraleCorpus:
    """Read a corpus from the cache."""
    with np.load(path) as z:
        lengths = z["lengths"]
        rolls = np.split(z["rolls"], np.cumsum(lengths)[:-1]) if len(lengths) else []
        failed = [tuple(s.split("\t", 1)) for s in z["failed"].tolist()]
        return ChoraleCorpus(
            rolls=list(rolls), names=z["names"].tolist(), positions=z["positions"],
            n_attempted=int(z["n_attempted"]), failed=failed,  # type: ignore[arg-type]
            dropped_pitches=z["dropped_pitches"], music21_version=str(z["music21_version"]),
            frame_ql=float(z["frame_ql"]), parse_s=0.0, cache_path=str(path),
        )  # fmt: skip


def _subset(c: ChoraleCorpus, max_pieces: int) -> ChoraleCorpus:
    """The corpus of the first ``max_pieces`` iterator entries, from a cache of all of them."""
    keep = [i for i, p in enumerate(c.positions) if p < max_pieces]
    return ChoraleCorpus(
        rolls=[c.rolls[i] for i in keep], names=[c.names[i] for i in keep],
        positions=c.positions[keep], n_attempted=min(max_pieces, c.n_attempted),
        failed=[f for f in c.failed if _pos(f) < max_pieces],
        dropped_pitches=c.dropped_pitches[keep], music21_version=c.music21_version,
        frame_ql=c.frame_ql, parse_s=0.0, cache_path=c.cache_path,
    )  # fmt: skip


def _pos(failed: tuple[str, str]) -> int:
    """A failure's iterator position, stored as the reason's prefix ``"<pos>: ..."``."""
    return int(failed[1].split(":", 1)[0])


def load_chorales(
    max_pieces: int | None = None,
    *,
    frame_ql: float = FRAME_QL,
    use_cache: bool = True,
    directory: str | os.PathLike | None = None,
) -> ChoraleCorpus:
    """Parse the chorales of ``music21.corpus.chorales.Iterator()`` (the first ``max_pieces``
    entries, or all) into binary piano rolls, through the ``.npz`` cache (see the module
    docstring). Pieces that fail to parse, or have no notes, are dropped and listed in
    ``failed`` as ``(name, "<position>: <reason>")``."""
    m21 = require_music21()
    if max_pieces is not None and max_pieces < 1:
        raise ValueError(f"max_pieces must be >= 1 or None, got {max_pieces}")
    version = str(m21.__version__)
    d = Path(directory) if directory is not None else cache_dir()
    if use_cache:
        full = _cache_file(d, version, frame_ql, None)
        if full.exists():
            c = _load(full)
            return c if max_pieces is None else _subset(c, max_pieces)
        own = _cache_file(d, version, frame_ql, max_pieces)
        if own.exists():
            return _load(own)
    names = list(m21.corpus.chorales.Iterator(returnType="filename"))
    if max_pieces is not None:
        names = names[:max_pieces]
    t0 = time.perf_counter()
    rolls, kept, positions, failed, dropped = [], [], [], [], []
    for pos, name in enumerate(names):
        try:
            roll, drop = piano_roll(m21.corpus.parse(name), frame_ql=frame_ql)
        except Exception as e:  # noqa: BLE001 - any parse failure drops the piece (counted)
            failed.append((name, f"{pos}: {type(e).__name__}: {e}"[:200]))
            continue
        if not roll.any():
            failed.append((name, f"{pos}: no notes"))
            continue
        rolls.append(roll)
        kept.append(name)
        positions.append(pos)
        dropped.append(drop)
    c = ChoraleCorpus(rolls, kept, np.array(positions, np.int64), len(names), failed,
                      np.array(dropped, np.int64),
                      version, frame_ql, time.perf_counter() - t0)  # fmt: skip
    if use_cache:
        path = _cache_file(d, version, frame_ql, max_pieces)
        try:
            _save(path, c)
            c = ChoraleCorpus(**{**c.__dict__, "cache_path": str(path)})
        except OSError:  # a read-only cache dir only costs the re-parse next time
            pass
    return c


def split_pieces(
    n: int, *, seed: int = 0, fractions: tuple[float, float, float] = SPLIT_FRACTIONS
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Indices of the train / validation / test pieces: a permutation of ``range(n)`` by
    ``numpy.random.default_rng(seed)``; ``round(f * n)`` validation and test pieces (at least one
    each), the rest for training (at least one)."""
    if n < 3:
        raise ValueError(f"need at least 3 pieces for three splits, got {n}")
    if len(fractions) != 3 or min(fractions) < 0 or not math.isclose(sum(fractions), 1.0):
        raise ValueError(f"fractions must be 3 non-negative numbers summing to 1, got {fractions}")
    perm = np.random.default_rng(seed).permutation(n)
    n_val = max(1, int(round(fractions[1] * n)))
    n_test = max(1, int(round(fractions[2] * n)))
    n_train = n - n_val - n_test
    if n_train < 1:
        n_train, n_val = 1, n - 1 - n_test
    return perm[:n_train], perm[n_train : n_train + n_val], perm[n_train + n_val :]


def chunk(rolls: list[np.ndarray], T: int) -> tuple[UInt8[np.ndarray, "n T 88"], int]:
    """Non-overlapping windows of ``T`` frames from the start of each roll, stacked
    ``(n_windows, T, 88)``, and the number of remainder frames dropped."""
    if T < 1:
        raise ValueError(f"T must be >= 1, got {T}")
    out, dropped = [], 0
    for r in rolls:
        k = r.shape[0] // T
        out.extend(r[i * T : (i + 1) * T] for i in range(k))
        dropped += r.shape[0] - k * T
    if not out:
        return np.zeros((0, T, N_KEYS), np.uint8), dropped
    return np.stack(out), dropped


@dataclass(frozen=True)
class PianoRollTask:
    """Fixed-shape binary observations ``y_*`` of shape ``(n, T, 88)`` (float32, 0/1) per split,
    and ``stats``: pieces, frames, windows and dropped frames per split, parse failures, timing."""

    name: str
    y_train: Float[np.ndarray, "n T 88"]
    y_val: Float[np.ndarray, "n T 88"]
    y_test: Float[np.ndarray, "n T 88"]
    stats: dict[str, Any] = field(default_factory=dict)

    @property
    def T(self) -> int:
        """Sequence length."""
        return int(self.y_train.shape[1])

    @property
    def obs_dim(self) -> int:
        """Observation dimension (88 keys)."""
        return int(self.y_train.shape[2])


def chorale_task(
    T: int = 64,
    *,
    split_seed: int = 0,
    max_pieces: int | None = None,
    corpus: ChoraleCorpus | None = None,
    frame_ql: float = FRAME_QL,
) -> PianoRollTask:
    """The piano-roll task: chorales split by piece (:func:`split_pieces` with ``split_seed``),
    each split cut into windows of ``T`` frames of ``frame_ql`` quarter lengths (default an
    eighth note; 1.0, a quarter note, is closer to the JSB data set's frames) (:func:`chunk`).
    Raises a ValueError if a split has no window of length ``T`` (pieces too short, or too few),
    or if a given ``corpus`` was parsed with another ``frame_ql``."""
    if corpus is not None and corpus.frame_ql != frame_ql:
        raise ValueError(f"corpus was parsed with frame_ql = {corpus.frame_ql}, not {frame_ql}")
    c = corpus if corpus is not None else load_chorales(max_pieces, frame_ql=frame_ql)
    splits = split_pieces(len(c.rolls), seed=split_seed)
    ys: list[np.ndarray] = []
    stats: dict[str, Any] = {
        "music21_version": c.music21_version,
        "frame_ql": c.frame_ql,
        "pieces_attempted": c.n_attempted,
        "pieces_failed": len(c.failed),
        "pieces": len(c.rolls),
        "frames": c.n_frames,
        "parse_s": c.parse_s,
        "dropped_pitches": int(np.sum(c.dropped_pitches)),
    }
    for split, idx in zip(("train", "val", "test"), splits):
        y, dropped = chunk([c.rolls[i] for i in idx], T)
        if len(y) == 0:
            raise ValueError(
                f"the {split} split ({len(idx)} pieces) has no window of T = {T} frames; "
                "lower T or raise max_pieces"
            )
        ys.append(y.astype(np.float32))
        stats[f"{split}_pieces"] = len(idx)
        stats[f"{split}_frames"] = int(sum(c.rolls[i].shape[0] for i in idx))
        stats[f"{split}_windows"] = len(y)
        stats[f"{split}_dropped_frames"] = dropped
    return PianoRollTask("chorales", ys[0], ys[1], ys[2], stats)
