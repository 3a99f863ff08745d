"""Run-directory integrity: the lock, resume guards, interrupts, compare, types, modes, provenance.

Each test reproduces an item of the run-integrity issue first (what went wrong), then shows it
fixed. Subprocess tests run the real command line (``python -m ssmbench``).
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import stat
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

from ssmbench.harness.cli import build_parser, main
from ssmbench.harness.progress import Progress
from ssmbench.harness.records import read_records
from ssmbench.harness.spec import Cell

TESTS = Path(__file__).parent
REPO = TESTS.parent
ENV = {**os.environ, "PYTHONPATH": os.pathsep.join([str(TESTS), str(REPO)]), "JAX_PLATFORMS": "cpu"}


def _slow_suite(
    tmp_path: Path, name: str = "slow", n: int = 8, delay: float = 0.3, gate: Path | None = None
) -> Path:
    """A suite of ``n`` sleeping cells; with ``gate``, cells after the first wait for that file."""
    f = tmp_path / f"{name}.toml"
    ks = ", ".join(map(str, range(n)))
    g = f', gate = "{gate}"' if gate else ""
    f.write_text(
        f'[suite]\nname = "{name}"\nseeds = [0]\n[[experiment]]\nname = "s"\n'
        f'run = "suite_fixtures:sleepy"\nparams = {{ delay = {delay}{g} }}\n'
        f"grid = {{ k = [{ks}] }}\n"
    )
    return f


def _cmd(*args: str) -> list[str]:
    return [sys.executable, "-m", "ssmbench", *args]


def _start(f: Path, out: Path, *, stderr=subprocess.DEVNULL, text: bool = False):
    """Start ``ssmbench run f --out out`` in a subprocess."""
    return subprocess.Popen(
        _cmd("run", str(f), "--out", str(out), "--no-progress"),
        env=ENV,
        stdout=subprocess.PIPE if text else subprocess.DEVNULL,
        stderr=stderr,
        text=text,
    )


def _wait_records(path: Path, n: int, timeout: float = 120.0) -> None:
    deadline = time.time() + timeout
    while time.time() < deadline and len(read_records(path)) < n:
        time.sleep(0.05)


def test_second_writer_is_refused_and_nothing_is_duplicated(tmp_path):
    # the first run's cells after the first wait for a gate file, so it provably still holds the
    # lock while the second run and the report start up (a fixed sleep raced on a loaded CI host)
    gate = tmp_path / "gate"
    f, out = _slow_suite(tmp_path, delay=0.1, gate=gate), tmp_path / "run"
    first = _start(f, out, stderr=subprocess.PIPE)
    _wait_records(out / "records.jsonl", 1)
    second = subprocess.run(
        _cmd("run", str(f), "--resume", str(out), "--no-progress"),
        env=ENV,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert second.returncode == 2
    assert "in use by another ssmbench process" in second.stderr
    assert f"pid {first.pid}" in second.stderr
    rep = subprocess.run(_cmd("report", str(out)), env=ENV, capture_output=True, text=True)
    assert rep.returncode == 2 and "in use" in rep.stderr  # report also waits its turn
    assert len(read_records(out / "records.jsonl")) < 8  # the first run was still going
    gate.touch()
    assert first.wait(timeout=120) == 0
    ids = [r["cell_id"] for r in read_records(out / "records.jsonl")]
    assert len(ids) == len(set(ids)) == 8
    assert not (out / ".lock.json").exists()


def test_sigkill_leaves_a_stale_lock_that_resume_takes_over(tmp_path):
    f, out = _slow_suite(tmp_path), tmp_path / "run"
    proc = _start(f, out)
    _wait_records(out / "records.jsonl", 2)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert json.loads((out / ".lock.json").read_text())["pid"] == proc.pid  # left behind
    res = subprocess.run(
        _cmd("run", str(f), "--resume", str(out), "--no-progress"),
        env=ENV,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert res.returncode == 0, res.stderr
    assert f"taking over a stale lock on {out} (host" in res.stderr
    assert f"pid {proc.pid}" in res.stderr
    ids = [r["cell_id"] for r in read_records(out / "records.jsonl")]
    assert len(ids) == len(set(ids)) == 8


@pytest.mark.parametrize("sig,code", [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_interrupt_writes_a_partial_summary_and_exits_cleanly(tmp_path, sig, code):
    f, out = _slow_suite(tmp_path, delay=0.5), tmp_path / "run"
    proc = _start(f, out, stderr=subprocess.PIPE, text=True)
    _wait_records(out / "records.jsonl", 2)
    proc.send_signal(sig)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == code, err
    assert "Traceback" not in err
    n = len(read_records(out / "records.jsonl"))
    assert 2 <= n < 8
    assert f"interrupted: {n} of 8 cells recorded; continue with `ssmbench run" in err
    assert f"--resume {out}`" in err
    summary = (out / "summary.md").read_text()
    assert f"**PARTIAL**: interrupted by {signal.Signals(sig).name} with {n} of 8" in summary
    assert pd.read_csv(out / "table.csv")["cell_id"].nunique() == n
    assert main(["run", str(f), "--resume", str(out), "--no-progress"]) == 0
    assert len(read_records(out / "records.jsonl")) == 8


def test_resume_refuses_another_suite_unless_forced(tmp_path, capsys):
    a, out = _slow_suite(tmp_path, "a", n=2, delay=0.0), tmp_path / "run"
    b = _slow_suite(tmp_path, "b", n=3, delay=0.0)
    assert main(["run", str(a), "--out", str(out), "--no-progress"]) == 0
    assert main(["run", str(b), "--resume", str(out), "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert "differs from" in err and str(b) in err and "--force" in err
    assert len(read_records(out / "records.jsonl")) == 2  # nothing appended
    assert main(["run", str(b), "--resume", str(out), "--no-progress", "--force"]) == 0


def test_resume_across_commits_needs_a_flag_and_the_summary_lists_the_commits(tmp_path, capsys):
    f, out = _slow_suite(tmp_path, n=4, delay=0.0), tmp_path / "run"
    assert main(["run", str(f), "--out", str(out), "--no-progress", "--seeds", "0"]) == 0
    # pretend the run started at another commit, and that one cell came from it
    env = json.loads((out / "env.json").read_text())
    env["git_commit"] = "f" * 40
    (out / "env.json").write_text(json.dumps(env))
    lines = (out / "records.jsonl").read_text().splitlines()
    rec = json.loads(lines[0])
    rec["provenance"]["git_commit"] = "f" * 40
    (out / "records.jsonl").write_text("\n".join([json.dumps(rec), *lines[1:]]) + "\n")
    args = ["run", str(f), "--resume", str(out), "--no-progress", "--seeds", "0"]
    assert main(args) == 2
    assert "--allow-mixed-commits" in capsys.readouterr().err
    assert main([*args, "--allow-mixed-commits"]) == 0
    summary = (out / "summary.md").read_text()
    assert "rows from several commits" in summary and "`ffffffffffff` (1 cells)" in summary
    capsys.readouterr()
    assert main(["report", str(out)]) == 0
    assert (out / "summary.md").read_text().splitlines()[:8] == summary.splitlines()[:8]


def test_compare_fails_on_missing_cells_other_suites_and_uses_time_rtol(tmp_path, capsys):
    f = _slow_suite(tmp_path, n=3, delay=0.0)
    a, b = tmp_path / "a", tmp_path / "b"
    assert main(["run", str(f), "--out", str(a), "--no-progress"]) == 0
    assert main(["run", str(f), "--out", str(b), "--no-progress", "--only", "s"]) == 0
    assert main(["compare", str(a), str(b), "--fail-on-change"]) == 0
    # drop a cell from B: missing, and a failure under --fail-on-change
    lines = (b / "records.jsonl").read_text().splitlines()
    (b / "records.jsonl").write_text("\n".join(lines[:-1]) + "\n")
    capsys.readouterr()
    assert main(["compare", str(a), str(b)]) == 0
    assert main(["compare", str(a), str(b), "--fail-on-change"]) == 1
    assert "missing in B: s" in capsys.readouterr().out
    # another suite: refused unless --force
    g = _slow_suite(tmp_path, "other", n=3, delay=0.0)
    c = tmp_path / "c"
    assert main(["run", str(g), "--out", str(c), "--no-progress"]) == 0
    assert main(["compare", str(a), str(c)]) == 2
    assert "different suites" in capsys.readouterr().err
    assert main(["compare", str(a), str(c), "--force"]) == 0
    # a timing metric changed by 30% is within the default --time-rtol (0.5), an exact one is not
    recs = [json.loads(x) for x in (a / "records.jsonl").read_text().splitlines()]
    for r in recs:
        r["rows"] = [{"metric": "time_s", "value": 1.0}, {"metric": "loss", "value": 1.0}]
    (a / "records.jsonl").write_text("".join(json.dumps(r) + "\n" for r in recs))
    for r in recs:
        r["rows"] = [{"metric": "time_s", "value": 1.3}, {"metric": "loss", "value": 1.0}]
    d = tmp_path / "d"
    shutil.copytree(a, d)
    (d / "records.jsonl").write_text("".join(json.dumps(r) + "\n" for r in recs))
    assert main(["compare", str(a), str(d), "--fail-on-change"]) == 0
    assert main(["compare", str(a), str(d), "--fail-on-change", "--time-rtol", "0.1"]) == 1


def test_run_directory_files_are_0644_and_integers_stay_integers(tmp_path):
    f, out = _slow_suite(tmp_path, n=2, delay=0.0), tmp_path / "run"
    assert main(["run", str(f), "--out", str(out), "--no-progress"]) == 0
    for p in out.iterdir():
        if p.is_file() and p.name != ".lock":
            assert stat.S_IMODE(p.stat().st_mode) == 0o644, p.name
    raw = pd.read_csv(out / "table.csv", dtype=str)
    assert sorted(set(raw["k"])) == ["0", "1"]  # written k = 0, not 0.0
    t = pd.read_csv(out / "table.csv")
    assert t["k"].dtype.kind == "i" and sorted(t["k"].unique()) == [0, 1]


def test_cli_lists_and_a_bad_selection_creates_no_directory(tmp_path, capsys):
    p = build_parser()
    a = p.parse_args(["run", "--only", "a,b", "--only", "c", "x.toml", "--seeds", "0,2"])
    assert a.suite == "x.toml" and a.only == ["a", "b", "c"] and a.seeds == [0, 2]
    a = p.parse_args(["run", "--only", "impulse-fit", "suites/smoke.toml"])
    assert a.suite == "suites/smoke.toml" and a.only == ["impulse-fit"]
    f = _slow_suite(tmp_path, n=2, delay=0.0)
    for bad in (["--only", "nope"], ["--seeds", "7"]):
        out = tmp_path / f"never{bad[0]}"
        assert main(["run", str(f), "--out", str(out), *bad]) == 2
        assert not out.exists()


def test_eta_is_estimated_per_experiment():
    cells = [Cell("fast", "r", 0, False, {}, {"k": i}, f"f{i}") for i in range(3)]
    cells += [Cell("slow", "r", 0, False, {}, {"k": i}, f"s{i}") for i in range(2)]
    bar = Progress(cells, None)
    bar.finish(cells[0], {"wall_s": 1.0, "status": "ok", "error": None})
    bar.finish(cells[3], {"wall_s": 100.0, "status": "ok", "error": None})
    # 2 fast cells left at 1 s, 1 slow cell left at 100 s (a plain average would say 151.5)
    assert bar.eta() == pytest.approx(102.0)


def test_a_wheel_inside_another_repository_records_no_commit(tmp_path):
    repo = tmp_path / "other"
    (repo / "site").mkdir(parents=True)
    subprocess.run(["git", "init", "-q", str(repo)], check=True)
    (repo / "README").write_text("x")
    git = ["git", "-C", str(repo), "-c", "user.email=a@b", "-c", "user.name=n"]
    subprocess.run([*git, "add", "README"], check=True)
    subprocess.run([*git, "commit", "-qm", "init"], check=True)
    shutil.copytree(REPO / "ssmbench", repo / "site" / "ssmbench")  # untracked, like a wheel
    code = "from ssmbench.harness.provenance import git_info; print(git_info()['git_commit'])"
    env = {**ENV, "PYTHONPATH": str(repo / "site")}
    out = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, cwd=repo
    )
    assert out.stdout.strip() == "None", out.stderr
