"""Tests of the Bach-chorale piano-roll task (ssmbench.tasks.chorales): the roll of a small stream
built in code against a roll written out by hand (pitches -> keys, durations -> eighth-note frames,
chords, rests, ties, a sixteenth, an out-of-range pitch), the seeded split, the windows, the npz
cache round trip and the missing-music21 error."""

from __future__ import annotations

import sys

import numpy as np
import pytest

from ssmbench.tasks import chorales as ch


def _fake_corpus(lengths=(40, 33, 20, 17, 50, 9, 24, 31, 12, 45), seed=0) -> ch.ChoraleCorpus:
    rng = np.random.default_rng(seed)
    rolls = [(rng.random((n, ch.N_KEYS)) < 0.05).astype(np.uint8) for n in lengths]
    return ch.ChoraleCorpus(
        rolls=rolls, names=[f"bach/fake{i}" for i in range(len(rolls))],
        positions=np.arange(len(rolls)) + (np.arange(len(rolls)) >= 3),  # position 3 failed
        n_attempted=len(rolls) + 1, failed=[("bach/bad", "3: ParseError: nope")],
        dropped_pitches=np.zeros(len(rolls), np.int64), music21_version="0.test",
        frame_ql=0.5, parse_s=1.0,
    )  # fmt: skip


# -------------------------------------------------------------------------------------------------
# piano roll (needs music21)
# -------------------------------------------------------------------------------------------------
def test_piano_roll_of_a_small_score():
    m21 = pytest.importorskip("music21")
    from music21 import chord, note, stream, tie

    upper = stream.Part()
    upper.append(note.Note("C4", quarterLength=1.0))  # MIDI 60, frames 0-1
    upper.append(note.Rest(quarterLength=0.5))  # frame 2 empty in this voice
    upper.append(note.Note("D4", quarterLength=0.5))  # 62, frame 3
    a = note.Note("E4", quarterLength=0.5)  # 64, tied over frames 4-5
    a.tie = tie.Tie("start")
    b = note.Note("E4", quarterLength=0.5)
    b.tie = tie.Tie("stop")
    upper.append([a, b])
    upper.append(note.Note("F4", quarterLength=0.25))  # 65 at ql 3.0: frame 6
    upper.append(note.Note("G4", quarterLength=0.25))  # 67 at ql 3.25: round(6.5)=7 -> frame 7
    upper.append(note.Note("A0", quarterLength=0.5))  # 21 (key 0) at ql 3.5: round(7)=7 -> 7
    upper.append(note.Rest(quarterLength=1.0))  # trailing rest: frames 8, 9
    lower = stream.Part()
    lower.append(chord.Chord(["C3", "G3", "C8"], quarterLength=2.0))  # 48, 55, 108: frames 0-3
    lower.append(note.Note(110, quarterLength=1.0))  # D8 (MIDI 110): off the keyboard, dropped
    score = stream.Score([upper, lower])
    assert float(score.highestTime) == 5.0

    roll, dropped = ch.piano_roll(score)
    expected = np.zeros((10, 88), np.uint8)
    for midi, frames in [(60, [0, 1]), (62, [3]), (64, [4, 5]), (65, [6]), (67, [7]), (21, [7]),
                         (48, [0, 1, 2, 3]), (55, [0, 1, 2, 3]), (108, [0, 1, 2, 3])]:  # fmt: skip
        expected[frames, midi - 21] = 1
    assert roll.dtype == np.uint8
    np.testing.assert_array_equal(roll, expected)
    assert dropped == 1
    assert m21.__version__  # the version keys the cache

    # quarter-note frames halve the resolution: C4 is frame 0 only, the sixteenths share frame 3
    roll_q, _ = ch.piano_roll(score, frame_ql=1.0)
    assert roll_q.shape == (5, 88)
    assert roll_q[:, 60 - 21].tolist() == [1, 0, 0, 0, 0]
    with pytest.raises(ValueError, match="frame_ql"):
        ch.piano_roll(score, frame_ql=0.0)


def test_missing_music21_names_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "music21", None)  # makes `import music21` raise ImportError
    with pytest.raises(ImportError, match=r"music21>=9,<11.*music"):
        ch.require_music21()
    with pytest.raises(ImportError, match="music21"):
        ch.load_chorales(2)


# -------------------------------------------------------------------------------------------------
# splits, windows, cache (no music21 needed)
# -------------------------------------------------------------------------------------------------
def test_split_is_a_seeded_partition():
    tr, va, te = ch.split_pieces(10, seed=3)
    assert (len(tr), len(va), len(te)) == (6, 2, 2)  # the 0.6 / 0.2 / 0.2 fractions
    np.testing.assert_array_equal(np.sort(np.concatenate([tr, va, te])), np.arange(10))
    again = ch.split_pieces(10, seed=3)
    for x, y in zip((tr, va, te), again):
        np.testing.assert_array_equal(x, y)
    other = ch.split_pieces(10, seed=4)
    assert any(not np.array_equal(x, y) for x, y in zip((tr, va, te), other))
    # 371 chorales -> 223 / 74 / 74
    assert tuple(map(len, ch.split_pieces(371, seed=0))) == (223, 74, 74)
    assert tuple(map(len, ch.split_pieces(3, seed=0))) == (1, 1, 1)
    with pytest.raises(ValueError, match="at least 3"):
        ch.split_pieces(2)


def test_chunk_windows_and_dropped_frames():
    rolls = [np.arange(n * 88).reshape(n, 88) % 2 for n in (10, 3, 8)]
    y, dropped = ch.chunk(rolls, 4)
    assert y.shape == (2 + 0 + 2, 4, 88) and dropped == 2 + 3 + 0
    np.testing.assert_array_equal(y[1], rolls[0][4:8])
    np.testing.assert_array_equal(y[3], rolls[2][4:8])
    assert ch.chunk(rolls, 20)[0].shape == (0, 20, 88)


def test_task_from_a_corpus_and_cache_round_trip(tmp_path):
    c = _fake_corpus()
    task = ch.chorale_task(8, split_seed=1, corpus=c)
    s = task.stats
    assert (s["train_pieces"], s["val_pieces"], s["test_pieces"]) == (6, 2, 2)
    tr, va, te = ch.split_pieces(len(c.rolls), seed=1)
    want = ch.chunk([c.rolls[i] for i in te], 8)[0]
    np.testing.assert_array_equal(task.y_test, want.astype(np.float32))
    assert task.y_train.dtype == np.float32 and task.y_train.shape[1:] == (8, 88)
    assert s["pieces_failed"] == 1 and s["frames"] == sum(r.shape[0] for r in c.rolls)
    assert s["train_windows"] == len(task.y_train)
    assert s["train_frames"] == s["train_windows"] * 8 + s["train_dropped_frames"]
    with pytest.raises(ValueError, match="no window"):
        ch.chorale_task(1000, corpus=c)
    assert s["frame_ql"] == c.frame_ql
    with pytest.raises(ValueError, match="parsed with frame_ql"):
        ch.chorale_task(8, corpus=c, frame_ql=c.frame_ql * 2)

    path = tmp_path / "c.npz"
    ch._save(path, c)
    back = ch._load(path)
    assert back.names == c.names and back.failed == c.failed and back.n_attempted == 11
    for r0, r1 in zip(c.rolls, back.rolls):
        np.testing.assert_array_equal(r0, r1)
    # the first 4 iterator entries: positions 0, 1, 2 (3 failed)
    sub = ch._subset(back, 4)
    assert sub.names == c.names[:3] and sub.failed == c.failed and sub.n_attempted == 4
    assert ch._subset(back, 3).failed == []


def test_cache_dir_follows_the_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("SSMBENCH_CACHE_DIR", str(tmp_path / "a"))
    assert ch.cache_dir() == tmp_path / "a"
    monkeypatch.delenv("SSMBENCH_CACHE_DIR")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "x"))
    assert ch.cache_dir() == tmp_path / "x" / "ssmbench"
