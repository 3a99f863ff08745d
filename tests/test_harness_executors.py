"""The process executor (issue #26, part): spawned worker processes give the local executor's
records, a worker killed mid-cell is retried once, a cell over --cell-timeout is recorded as an
error, the driver stays the only writer, and a SIGKILLed run resumes with every cell once."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from ssmbench.harness.records import read_records
from ssmbench.harness.runner import run_suite
from ssmbench.harness.spec import SuiteError
from ssmbench.harness.suite import load_suite

TESTS = Path(__file__).parent
ENV = {**os.environ, "PYTHONPATH": os.pathsep.join([str(TESTS), str(TESTS.parent)]),
       "JAX_PLATFORMS": "cpu"}  # fmt: skip


def _suite(tmp_path: Path, body: str, name: str = "ex") -> Path:
    f = tmp_path / f"{name}.toml"
    f.write_text(f'[suite]\nname = "{name}"\nseeds = [0, 1]\n' + body)
    return f


DETERMINISTIC = (
    '[[experiment]]\nname = "jt"\nrun = "suite_fixtures:jax_tiny"\ngrid = { n = [8, 16] }\n'
    '[[experiment]]\nname = "pl"\nrun = "suite_fixtures:power_law"\n'
    "params = { noise = 0.1 }\ngrid = { width = [4, 8] }\n"
)


def _values(out: Path) -> dict[tuple[str, str], object]:
    recs = read_records(out / "records.jsonl")
    return {(r["cell_id"], m["metric"]): m["value"] for r in recs for m in r["rows"]}


def test_process_executor_gives_the_local_records(tmp_path):
    suite = load_suite(_suite(tmp_path, DETERMINISTIC))
    a = run_suite(suite, tmp_path / "a", progress=None)
    b = run_suite(suite, tmp_path / "b", progress=None, executor="process", workers=2)
    assert a.clean and b.clean and a.ran == b.ran == 8
    va, vb = _values(tmp_path / "a"), _values(tmp_path / "b")
    assert len(va) == 16 and va == vb  # bit-identical (JSON round trip of the same floats)
    recs = read_records(tmp_path / "b" / "records.jsonl")
    pids = {r["worker"]["pid"] for r in recs}
    assert os.getpid() not in pids and 1 <= len(pids) <= 2
    assert all(r["provenance"]["host"] and r["provenance"]["device"].startswith("cpu")
               for r in recs)  # fmt: skip
    assert {r["cell_id"] for r in recs} == set(b.table["cell_id"])


def test_a_killed_worker_is_retried_once_then_recorded(tmp_path):
    marker = tmp_path / "markers"
    marker.mkdir()
    body = (
        '[[experiment]]\nname = "once"\nrun = "suite_fixtures:die_once"\n'
        f'params = {{ marker = "{marker}" }}\ngrid = {{ k = [0, 1] }}\n'
        '[[experiment]]\nname = "always"\nrun = "suite_fixtures:die_always"\nseeds = [0]\n'
    )
    res = run_suite(load_suite(_suite(tmp_path, body)), tmp_path / "r", progress=None,
                    executor="process", workers=2)  # fmt: skip
    recs = {r["cell_id"]: r for r in read_records(tmp_path / "r" / "records.jsonl")}
    assert len(recs) == 5  # every cell recorded exactly once
    once = [r for r in recs.values() if r["experiment"] == "once"]
    assert all(r["status"] == "ok" for r in once)
    assert len(list(marker.iterdir())) == 4  # each died once, then ran
    (always,) = [r for r in recs.values() if r["experiment"] == "always"]
    assert always["status"] == "error" and "died" in always["error"] and "twice" in always["error"]
    assert "alone" in always["error"]
    assert (tmp_path / "r" / "summary.md").exists() and res.counts == {"ok": 4, "error": 1}


def test_a_cell_over_the_timeout_is_recorded_and_the_others_finish(tmp_path):
    body = (
        '[[experiment]]\nname = "s"\nrun = "suite_fixtures:sleepy"\nseeds = [0]\n'
        "grid = { k = [0, 1], delay = [0.1, 60.0] }\n"
    )
    t0 = time.monotonic()
    res = run_suite(load_suite(_suite(tmp_path, body)), tmp_path / "r", progress=None,
                    executor="process", workers=2, cell_timeout=4.0)  # fmt: skip
    assert time.monotonic() - t0 < 60  # two 60-s cells cut at 4 s each
    recs = read_records(tmp_path / "r" / "records.jsonl")
    assert len(recs) == 4 and len({r["cell_id"] for r in recs}) == 4
    slow = [r for r in recs if r["params"].get("delay", r["point"].get("delay")) == 60.0]
    fast = [r for r in recs if r not in slow]
    assert len(slow) == 2 and all("timeout" in r["error"] for r in slow)
    assert all(r["status"] == "ok" for r in fast) and res.counts == {"ok": 2, "error": 2}


@pytest.mark.parametrize(
    "kw, msg",
    [
        ({"executor": "ray"}, "executor must be one of"),
        ({"executor": "local", "workers": 2}, "need --executor process or dask"),
        ({"executor": "process", "workers": 0}, "positive integer"),
        ({"executor": "process", "cell_timeout": -1.0}, "positive seconds"),
    ],
)
def test_bad_executor_options_are_refused_before_any_cell(tmp_path, kw, msg):
    suite = load_suite(_suite(tmp_path, DETERMINISTIC))
    with pytest.raises(SuiteError, match=msg):
        run_suite(suite, tmp_path / "r", progress=None, **kw)
    assert not (tmp_path / "r" / "records.jsonl").exists()


def test_resume_after_sigkill_of_the_whole_process_executor_run(tmp_path):
    """SIGKILL the driver and its workers together mid-run (a node lost); --resume with the same
    executor then records every cell exactly once."""
    body = (
        '[[experiment]]\nname = "s"\nrun = "suite_fixtures:sleepy"\nseeds = [0]\n'
        "params = { delay = 1.0 }\ngrid = { k = [0, 1, 2, 3, 4, 5, 6, 7] }\n"
    )
    f, out = _suite(tmp_path, body), tmp_path / "r"
    cmd = [sys.executable, "-m", "ssmbench", "run", str(f), "--out", str(out), "--no-progress",
           "--executor", "process", "--workers", "2"]  # fmt: skip
    p = subprocess.Popen(cmd, env=ENV, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                         start_new_session=True)  # fmt: skip
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and len(read_records(out / "records.jsonl")) < 2:
        time.sleep(0.05)
    os.killpg(p.pid, signal.SIGKILL)
    p.wait()
    first = len(read_records(out / "records.jsonl"))
    assert 2 <= first < 8
    done = subprocess.run([*cmd[:5], "--resume", str(out), *cmd[7:]], env=ENV,
                          capture_output=True, text=True, timeout=180)  # fmt: skip
    assert done.returncode == 0, done.stderr
    ids = [r["cell_id"] for r in read_records(out / "records.jsonl")]
    assert len(ids) == 8 and len(set(ids)) == 8
    assert json.loads((out / "run.json").read_text())["suite"] == str(f)
