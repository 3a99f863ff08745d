"""The dask executor (issue #26): a LocalCluster gives the local executor's records, a worker
killed mid-cell is retried once on a live worker, a cell over --cell-timeout is recorded as an
error, a SIGKILLed driver resumes with every cell once, and exclusive cells run alone (under
both pooled executors)."""

from __future__ import annotations

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
from ssmbench.harness.suite import apply_overrides, load_suite

pytest.importorskip("distributed")  # the `cluster` extra, which the test extra installs

TESTS = Path(__file__).parent
ENV = {**os.environ, "PYTHONPATH": os.pathsep.join([str(TESTS), str(TESTS.parent)]),
       "JAX_PLATFORMS": "cpu"}  # fmt: skip
DETERMINISTIC = (
    '[[experiment]]\nname = "jt"\nrun = "suite_fixtures:jax_tiny"\ngrid = { n = [8, 16] }\n'
    '[[experiment]]\nname = "pl"\nrun = "suite_fixtures:power_law"\n'
    "params = { noise = 0.1 }\ngrid = { width = [4, 8] }\n"
)


def _suite(tmp_path: Path, body: str, name: str = "dx") -> Path:
    f = tmp_path / f"{name}.toml"
    f.write_text(f'[suite]\nname = "{name}"\nseeds = [0, 1]\n' + body)
    return f


def _values(out: Path) -> dict[tuple[str, str], object]:
    recs = read_records(out / "records.jsonl")
    return {(r["cell_id"], m["metric"]): m["value"] for r in recs for m in r["rows"]}


def test_dask_executor_gives_the_local_records(tmp_path):
    suite = load_suite(_suite(tmp_path, DETERMINISTIC))
    a = run_suite(suite, tmp_path / "a", progress=None)
    b = run_suite(suite, tmp_path / "b", progress=None, executor="dask", workers=2)
    assert a.clean and b.clean and a.ran == b.ran == 8
    va, vb = _values(tmp_path / "a"), _values(tmp_path / "b")
    assert len(va) == 16 and va == vb  # bit-identical (JSON round trip of the same floats)
    recs = read_records(tmp_path / "b" / "records.jsonl")
    pids = {r["worker"]["pid"] for r in recs}
    assert os.getpid() not in pids and 1 <= len(pids) <= 2
    assert all(r["provenance"]["host"] and r["provenance"]["device"].startswith("cpu")
               for r in recs)  # fmt: skip


def test_dask_retries_a_killed_worker_once_then_records_it(tmp_path):
    marker = tmp_path / "markers"
    marker.mkdir()
    body = (
        '[[experiment]]\nname = "once"\nrun = "suite_fixtures:die_once"\n'
        f'params = {{ marker = "{marker}" }}\ngrid = {{ k = [0, 1] }}\n'
        '[[experiment]]\nname = "always"\nrun = "suite_fixtures:die_always"\nseeds = [0]\n'
    )
    res = run_suite(load_suite(_suite(tmp_path, body)), tmp_path / "r", progress=None,
                    executor="dask", workers=2)  # fmt: skip
    recs = {r["cell_id"]: r for r in read_records(tmp_path / "r" / "records.jsonl")}
    assert len(recs) == 5  # every cell recorded exactly once
    assert all(r["status"] == "ok" for r in recs.values() if r["experiment"] == "once")
    assert len(list(marker.iterdir())) == 4  # each died once, then ran on a live worker
    (always,) = [r for r in recs.values() if r["experiment"] == "always"]
    assert always["status"] == "error" and "died" in always["error"] and "twice" in always["error"]
    assert (tmp_path / "r" / "summary.md").exists() and res.counts == {"ok": 4, "error": 1}


def test_dask_records_a_cell_over_the_timeout_and_finishes_the_others(tmp_path):
    body = (
        '[[experiment]]\nname = "s"\nrun = "suite_fixtures:sleepy"\nseeds = [0]\n'
        "grid = { k = [0, 1], delay = [0.1, 60.0] }\n"
    )
    t0 = time.monotonic()
    res = run_suite(load_suite(_suite(tmp_path, body)), tmp_path / "r", progress=None,
                    executor="dask", workers=2, cell_timeout=4.0)  # fmt: skip
    assert time.monotonic() - t0 < 60  # two 60-s cells cut at 4 s each
    recs = read_records(tmp_path / "r" / "records.jsonl")
    assert len(recs) == 4 and len({r["cell_id"] for r in recs}) == 4
    slow = [r for r in recs if r["point"].get("delay") == 60.0]
    assert len(slow) == 2 and all("timeout" in r["error"] for r in slow)
    assert res.counts == {"ok": 2, "error": 2}, [(r["point"], r["error"]) for r in recs]


def test_dask_ends_the_worker_of_a_late_cell_so_the_next_cell_runs(tmp_path):
    """One worker: the 60-s cell times out at 4 s and its worker process is ended, so the cell
    after it runs on the fresh worker at once (were the worker left running, it would wait for
    the 60-s sleep)."""
    body = (
        '[[experiment]]\nname = "s"\nrun = "suite_fixtures:sleepy"\nseeds = [0]\n'
        "grid = { delay = [60.0, 0.1] }\n"
    )
    t0 = time.monotonic()
    res = run_suite(load_suite(_suite(tmp_path, body)), tmp_path / "r", progress=None,
                    executor="dask", workers=1, cell_timeout=4.0)  # fmt: skip
    assert time.monotonic() - t0 < 45
    recs = {r["point"]["delay"]: r for r in read_records(tmp_path / "r" / "records.jsonl")}
    assert "timeout" in recs[60.0]["error"] and recs[0.1]["status"] == "ok"
    assert res.counts == {"ok": 1, "error": 1}


@pytest.mark.parametrize("executor", ["process", "dask"])
def test_exclusive_cells_run_with_nothing_beside_them(tmp_path, executor):
    """Cells of an `exclusive = true` experiment (timing cells) never overlap another cell in
    time, while ordinary cells do run two at a time."""
    body = (
        '[[experiment]]\nname = "a"\nrun = "suite_fixtures:span"\nseeds = [0]\n'
        "grid = { k = [0, 1, 2, 3] }\n"
        '[[experiment]]\nname = "x"\nrun = "suite_fixtures:span"\nseeds = [0]\n'
        "exclusive = true\ngrid = { k = [0, 1] }\n"
        '[[experiment]]\nname = "b"\nrun = "suite_fixtures:span"\nseeds = [0]\n'
        "grid = { k = [0, 1] }\n"
    )
    res = run_suite(load_suite(_suite(tmp_path, body)), tmp_path / "r", progress=None,
                    executor=executor, workers=2)  # fmt: skip
    assert res.clean
    spans = {}
    for r in read_records(tmp_path / "r" / "records.jsonl"):
        v = {m["metric"]: m["value"] for m in r["rows"]}
        spans[r["cell_id"]] = (r["experiment"], v["t0"], v["t1"])

    def overlap(p, q):
        return p[1] < q[2] and q[1] < p[2]

    pairs = [(p, q) for i, p in enumerate(spans.values()) for q in list(spans.values())[i + 1 :]]
    assert not [(p, q) for p, q in pairs if "x" in (p[0], q[0]) and overlap(p, q)]
    assert any(overlap(p, q) for p, q in pairs if p[0] == q[0] == "a")  # the others ran 2 by 2


@pytest.mark.parametrize(
    "kw, msg",
    [
        ({"executor": "local", "scheduler": "tcp://127.0.0.1:1"}, "needs --executor dask"),
        ({"executor": "dask", "scheduler": "tcp://x:1", "workers": 2}, "has its own workers"),
        ({"executor": "dask", "workers": 0}, "positive integer"),
    ],
)
def test_bad_dask_options_are_refused_before_any_cell(tmp_path, kw, msg):
    suite = load_suite(_suite(tmp_path, DETERMINISTIC))
    with pytest.raises(SuiteError, match=msg):
        run_suite(suite, tmp_path / "r", progress=None, **kw)
    assert not (tmp_path / "r" / "records.jsonl").exists()


def test_an_exclusive_key_of_the_wrong_type_names_the_file_and_key(tmp_path):
    body = '[[experiment]]\nname = "a"\nrun = "suite_fixtures:span"\nexclusive = "yes"\n'
    with pytest.raises(SuiteError, match=r"exclusive.*bool|exclusive.*boolean"):
        load_suite(_suite(tmp_path, body))


def test_an_override_keeps_exclusive_and_the_declared_metrics(tmp_path):
    body = (
        '[[experiment]]\nname = "a"\nrun = "suite_fixtures:span"\nexclusive = true\n'
        'metrics = ["t0", "t1"]\nparams = { delay = 0.1 }\n'
    )
    (e,) = apply_overrides(load_suite(_suite(tmp_path, body)), ["delay=0.2"]).experiments
    assert e.exclusive and e.metrics == ["t0", "t1"] and e.params == {"delay": 0.2}


def test_resume_after_sigkill_of_the_driver_under_dask(tmp_path):
    """SIGKILL the driver (and its LocalCluster) mid-run; --resume with the dask executor then
    records every cell exactly once."""
    body = (
        '[[experiment]]\nname = "s"\nrun = "suite_fixtures:sleepy"\nseeds = [0]\n'
        "params = { delay = 1.0 }\ngrid = { k = [0, 1, 2, 3, 4, 5, 6, 7] }\n"
    )
    f, out = _suite(tmp_path, body), tmp_path / "r"
    cmd = [sys.executable, "-m", "ssmbench", "run", str(f), "--out", str(out), "--no-progress",
           "--executor", "dask", "--workers", "2"]  # fmt: skip
    p = subprocess.Popen(cmd, env=ENV, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                         start_new_session=True)  # fmt: skip
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline and len(read_records(out / "records.jsonl")) < 2:
        time.sleep(0.05)
    os.killpg(p.pid, signal.SIGKILL)
    p.wait()
    first = len(read_records(out / "records.jsonl"))
    assert 2 <= first < 8
    done = subprocess.run([*cmd[:5], "--resume", str(out), *cmd[7:]], env=ENV,
                          capture_output=True, text=True, timeout=240)  # fmt: skip
    assert done.returncode == 0, done.stderr
    ids = [r["cell_id"] for r in read_records(out / "records.jsonl")]
    assert len(ids) == 8 and len(set(ids)) == 8
