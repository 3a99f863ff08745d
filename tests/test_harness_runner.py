"""The runner end to end: records, statuses, provenance, resume after SIGKILL, determinism, CLI."""

from __future__ import annotations

import io
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

from ssmbench.harness.cli import main
from ssmbench.harness.records import read_records

TESTS = Path(__file__).parent
REPO = TESTS.parent

SUITE = """
[suite]
name = "mini"
description = "runner test"
seeds = [0, 1]

[[experiment]]
name = "pl"
run = "suite_fixtures:power_law"
params = { exponent = 1.0 }
quick_params = { exponent = 0.5 }
grid = { width = [4, 8, 16] }

[[experiment]]
name = "fl"
run = "suite_fixtures:flaky"
grid = { mode = ["ok", "nan", "inf", "raise"] }
seeds = [0]

[[experiment]]
name = "layers"
run = "suite_fixtures:per_layer"
columns = ["layer"]
seeds = [0]

[[check]]
claim = "y grows linearly with width"
experiment = "pl"
metric = "y"
kind = "slope"
axis = "width"
interval = [0.95, 1.05]

[[check]]
claim = "flaky ok cell is positive"
experiment = "fl"
metric = "v"
kind = "threshold"
where = { mode = "ok" }
op = ">"
value = 0.0
exact = true

[[check]]
claim = "reads a diverged cell"
experiment = "fl"
metric = "v"
kind = "threshold"
where = { mode = "nan" }
op = ">"
value = 0.0

[[check]]
claim = "last layer is largest"
experiment = "layers"
metric = "rms"
kind = "threshold"
where = { layer = 2 }
op = ">="
value = 3.0
exact = true

[[plot]]
experiment = "pl"
x = "width"
y = "y"
logx = true
logy = true
"""


@pytest.fixture
def suite_file(tmp_path):
    f = tmp_path / "mini.toml"
    f.write_text(SUITE)
    return f


def test_run_records_statuses_and_outputs(suite_file, tmp_path, capsys):
    out = tmp_path / "run"
    code = main(["run", str(suite_file), "--out", str(out), "--no-progress"])
    assert code == 1  # some cells errored / diverged, the suite still completed
    for name in ("records.jsonl", "env.json", "table.csv", "summary.md", "suite.toml", "run.json"):
        assert (out / name).exists(), name
    assert list(out.glob("plot0-pl-y-vs-width.png"))
    recs = read_records(out / "records.jsonl")
    assert len(recs) == 6 + 4 + 1
    status = {r["point"].get("mode"): r["status"] for r in recs if r["experiment"] == "fl"}
    assert status == {"ok": "ok", "nan": "diverged", "inf": "diverged", "raise": "error"}
    err = next(r for r in recs if r["status"] == "error")
    assert "RuntimeError: boom at x=1.0" in err["error"] and "Traceback" in err["traceback"]

    t = pd.read_csv(out / "table.csv")
    for col in (
        "suite",
        "experiment",
        "cell_id",
        "seed",
        "width",
        "metric",
        "value",
        "status",
        "git_commit",
        "jax",
        "jaxlib",
        "device",
        "date",
    ):
        assert col in t.columns, col
    assert set(t["suite"]) == {"mini"}
    assert len(t[(t.experiment == "pl") & (t.metric == "y")]) == 6
    assert set(t[t.experiment == "layers"]["layer"].dropna().astype(int)) == {0, 1, 2}
    env = json.loads((out / "env.json").read_text())
    for k in (
        "python",
        "jax",
        "jaxlib",
        "equinox",
        "device",
        "device_count",
        "cpu",
        "git_commit",
        "git_dirty",
        "date",
    ):
        assert k in env, k

    summary = (out / "summary.md").read_text()
    assert "**CONFIRMED**: y grows linearly with width" in summary
    assert "**CONFIRMED**: flaky ok cell is positive" in summary
    assert "**INCONCLUSIVE**: reads a diverged cell" in summary
    assert "**CONFIRMED**: last layer is largest" in summary
    assert "boom" in summary  # unclean cells are listed with their message


def test_quick_only_and_set(suite_file, tmp_path):
    out = tmp_path / "q"
    code = main(
        [
            "run",
            str(suite_file),
            "--out",
            str(out),
            "--quick",
            "--only",
            "pl",
            "--set",
            "width=[2, 4]",
            "--no-progress",
        ]
    )
    assert code == 0
    recs = read_records(out / "records.jsonl")
    assert {r["experiment"] for r in recs} == {"pl"}
    assert sorted({r["point"]["width"] for r in recs}) == [2, 4]
    assert all(r["params"]["exponent"] == 0.5 and r["quick"] for r in recs)
    assert all(v["metric"] != "const" or v["value"] == 1.0 for r in recs for v in r["rows"])
    # the same run dir cannot be reused without --resume
    assert main(["run", str(suite_file), "--out", str(out), "--quick", "--only", "pl"]) == 2
    # resume with different flags is refused
    assert main(["run", str(suite_file), "--resume", str(out), "--only", "pl"]) == 2
    # resume with the same flags: nothing to do
    assert (
        main(
            [
                "run",
                str(suite_file),
                "--resume",
                str(out),
                "--quick",
                "--only",
                "pl",
                "--set",
                "width=[2, 4]",
                "--no-progress",
            ]
        )
        == 0
    )
    assert len(read_records(out / "records.jsonl")) == len(recs)


def test_deterministic_numbers(tmp_path):
    f = tmp_path / "det.toml"
    f.write_text(
        '[suite]\nname = "det"\nseeds = [0, 1]\n[[experiment]]\nname = "j"\n'
        'run = "suite_fixtures:jax_tiny"\ngrid = { n = [8, 16] }\n'
    )
    for d in ("a", "b"):
        assert main(["run", str(f), "--out", str(tmp_path / d), "--no-progress"]) == 0
    ta = pd.read_csv(tmp_path / "a" / "table.csv").sort_values(["cell_id", "metric"])
    tb = pd.read_csv(tmp_path / "b" / "table.csv").sort_values(["cell_id", "metric"])
    assert list(ta["cell_id"]) == list(tb["cell_id"])
    assert (ta["value"].to_numpy() == tb["value"].to_numpy()).all()


def test_kill_and_resume(tmp_path):
    """SIGKILL a run mid-way, resume it: every cell exactly once, finished cells not rerun."""
    log = tmp_path / "calls.log"
    f = tmp_path / "slow.toml"
    f.write_text(
        '[suite]\nname = "slow"\nseeds = [0]\n[[experiment]]\nname = "s"\n'
        f'run = "suite_fixtures:sleepy"\nparams = {{ delay = 0.25, log = "{log}" }}\n'
        "grid = { k = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9] }\n"
    )
    out = tmp_path / "run"
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(TESTS), str(REPO)]),
        "JAX_PLATFORMS": "cpu",
    }
    cmd = [sys.executable, "-m", "ssmbench", "run", str(f), "--out", str(out), "--no-progress"]
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.time() + 120
    while time.time() < deadline:
        if len(read_records(out / "records.jsonl")) >= 3:
            break
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    before = read_records(out / "records.jsonl")
    assert 3 <= len(before) < 10, len(before)
    done_before = {r["cell_id"]: r["started"] for r in before}

    res = subprocess.run(
        cmd[:5] + ["--resume", str(out), "--no-progress"],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert res.returncode == 0, res.stderr
    after = read_records(out / "records.jsonl")
    ids = [r["cell_id"] for r in after]
    assert len(ids) == 10 and len(set(ids)) == 10
    for r in after:  # finished cells kept their original record
        if r["cell_id"] in done_before:
            assert r["started"] == done_before[r["cell_id"]]
    calls = [int(line.split()[0]) for line in log.read_text().splitlines()]
    finished_ks = {r["point"]["k"] for r in before}
    for k in finished_ks:
        assert calls.count(k) == 1, f"cell k={k} was rerun"
    assert sorted(set(calls)) == list(range(10))
    t = pd.read_csv(out / "table.csv")
    assert t["cell_id"].nunique() == 10


def test_torn_last_line_is_ignored(suite_file, tmp_path):
    out = tmp_path / "torn"
    assert main(["run", str(suite_file), "--out", str(out), "--only", "pl", "--no-progress"]) == 0
    recs = read_records(out / "records.jsonl")
    # simulate a crash mid-write: drop the last record and leave half a line
    lines = (out / "records.jsonl").read_text().splitlines()
    (out / "records.jsonl").write_text("\n".join(lines[:-1]) + "\n" + lines[-1][:30])
    assert (
        main(["run", str(suite_file), "--resume", str(out), "--only", "pl", "--no-progress"]) == 0
    )
    again = read_records(out / "records.jsonl")
    assert sorted(r["cell_id"] for r in again) == sorted(r["cell_id"] for r in recs)


def test_report_compare_list(suite_file, tmp_path, capsys, monkeypatch):
    a, b = tmp_path / "a", tmp_path / "b"
    main(["run", str(suite_file), "--out", str(a), "--only", "pl", "--no-progress"])
    main(
        [
            "run",
            str(suite_file),
            "--out",
            str(b),
            "--only",
            "pl",
            "--set",
            "exponent=1.5",
            "--no-progress",
        ]
    )
    capsys.readouterr()
    assert main(["report", str(a)]) == 0
    out = capsys.readouterr().out
    assert "# mini" in out and "plot:" in out
    assert main(["compare", str(a), str(b), "--rtol", "0.05"]) == 0
    out = capsys.readouterr().out
    assert "CHANGED" in out and "ratio B/A" in out
    assert main(["compare", str(a), str(a), "--fail-on-change"]) == 0
    assert "0 metric(s) changed" in capsys.readouterr().out
    assert main(["report", str(tmp_path / "nope")]) == 2
    monkeypatch.chdir(tmp_path)
    (tmp_path / "suites").mkdir()
    (tmp_path / "suites" / "mini.toml").write_text(SUITE)
    (tmp_path / "suites" / "broken.toml").write_text("[suite\n")
    capsys.readouterr()
    assert main(["list"]) == 0
    out = capsys.readouterr().out
    assert "experiment pl: suite_fixtures:power_law (6 cells)" in out
    assert "claim (slope, pl): y grows linearly with width" in out
    assert "broken.toml: INVALID" in out


def test_repo_suites_are_valid():
    """Every committed suite file validates (imports its experiments, checks its params)."""
    from ssmbench.harness.suite import load_suite

    files = sorted((REPO / "suites").glob("*.toml"))
    assert files
    for f in files:
        load_suite(f)


def test_colliding_result_columns_are_an_error(tmp_path):
    f = tmp_path / "c.toml"
    f.write_text(
        '[suite]\nname = "c"\nseeds = [0]\n[[experiment]]\nname = "c"\n'
        'run = "suite_fixtures:clashing"\nparams = { width = 2 }\n'
    )
    assert main(["run", str(f), "--out", str(tmp_path / "o"), "--no-progress"]) == 1
    (rec,) = read_records(tmp_path / "o" / "records.jsonl")
    assert rec["status"] == "error" and "['wall_s', 'width']" in rec["error"]


def test_report_rebuilds_an_interrupted_run(suite_file, tmp_path, capsys):
    """A run killed before its finalize step has records but no table or summary; report rebuilds
    them, counting the recorded cells against the cells the invocation was meant to have."""
    out = tmp_path / "run"
    assert main(["run", str(suite_file), "--out", str(out), "--no-progress"]) in (0, 1)
    recs = read_records(out / "records.jsonl")
    full = (out / "table.csv").read_text()
    (out / "table.csv").unlink()
    (out / "summary.md").unlink()
    lines = (out / "records.jsonl").read_text().splitlines()
    (out / "records.jsonl").write_text("\n".join(lines[:-1]) + "\n")  # lose the last cell
    capsys.readouterr()
    assert main(["report", str(out)]) == 0
    text = capsys.readouterr().out
    assert f"cells: {len(recs) - 1} of {len(recs)} recorded" in text
    assert (out / "summary.md").read_text() in text
    table = pd.read_csv(out / "table.csv")
    assert table["cell_id"].nunique() == len(recs) - 1
    assert set(table["cell_id"]) < set(pd.read_csv(io.StringIO(full))["cell_id"])


def test_seeds_option_selects_seeds_and_is_part_of_the_invocation(suite_file, tmp_path, capsys):
    out = tmp_path / "s1"
    argv = ["run", str(suite_file), "--out", str(out), "--only", "pl", "--no-progress"]
    assert main([*argv, "--seeds", "1"]) == 0
    recs = read_records(out / "records.jsonl")
    assert len(recs) == 3 and {r["seed"] for r in recs} == {1}  # 3 widths, seed 1 only
    assert json.loads((out / "run.json").read_text())["seeds"] == [1]
    resume = ["run", str(suite_file), "--resume", str(out), "--only", "pl", "--no-progress"]
    assert main(resume) == 2  # the run was started with --seeds 1
    assert "--seeds" in capsys.readouterr().err
    assert main([*resume, "--seeds", "1"]) == 0
    assert len(read_records(out / "records.jsonl")) == 3
    # report rebuilds the summary against the seed-1 cells only
    capsys.readouterr()
    assert main(["report", str(out)]) == 0
    assert "cells: 3 of 3 recorded" in capsys.readouterr().out
    bad = ["run", str(suite_file), "--out", str(tmp_path / "s2"), "--only", "fl", "--seeds", "1"]
    assert main(bad) == 2  # experiment fl has seed 0 only
    assert "--seeds [1]" in capsys.readouterr().err


def test_summary_splits_row_shapes_and_leaves_long_curves_to_the_table():
    from ssmbench.harness.summary import summary_blocks

    rows = [dict(experiment="e", cell_id="c", seed=0, metric="final", value=1.0, method=m,
                 step=None) for m in ("a", "b")]  # fmt: skip
    rows += [dict(experiment="e", cell_id="c", seed=0, metric="curve", value=float(s), method=m,
                  step=s) for m in ("a", "b") for s in range(30)]  # fmt: skip
    table = pd.DataFrame(rows)
    blocks = summary_blocks(table, "e", max_rows=40)
    assert len(blocks) == 2
    # the final metrics: one row per method, no step column spreading them out
    assert blocks[0].count("\n") == 3 and "final" in blocks[0] and "step" not in blocks[0]
    assert blocks[1].startswith("(60 rows of `curve` by method, step")
    # short enough: pivoted in full
    assert summary_blocks(table, "e", max_rows=100)[1].count("\n") == 61
    assert summary_blocks(table, "nope") == ["(no finished cells)"]


def test_report_rebuilds_a_committed_run_whose_run_paths_moved(tmp_path, capsys):
    """results/bounds ran ``ssmbench.prob.experiments:bound_statistics``, which moved to
    ``experiments.bounds``: report resolves it through MOVED, finds every recorded cell (cell
    identities hash the path as written) and reproduces the committed verdict lines (re-judged
    with the checks of ``suites/bounds.toml``)."""
    import shutil

    src = Path(__file__).resolve().parents[1] / "results" / "bounds"
    assert "ssmbench.prob.experiments:" in (src / "suite.toml").read_text()
    run = tmp_path / "bounds"
    shutil.copytree(src, run)
    checks = Path(__file__).resolve().parents[1] / "suites" / "bounds.toml"
    assert main(["report", str(run), "--checks", str(checks)]) == 0
    capsys.readouterr()
    new = (run / "summary.md").read_text().splitlines()
    old = (src / "summary.md").read_text().splitlines()
    assert "- cells: 48 of 48 recorded; 48 ok" in new

    def verdict_lines(lines):
        return [x for x in lines if x.startswith(("- **CONF", "- **REF", "- **INC"))]

    verdicts = verdict_lines(old)
    assert verdicts and verdicts == verdict_lines(new)
    assert any(x.startswith("- **rows from several commits**") for x in new)  # resumed run


STRICT_SUITE = """
[suite]
name = "strict"
seeds = [0, 1, 2]

[[experiment]]
name = "pl"
run = "suite_fixtures:power_law"
params = { exponent = 1.0 }
grid = { width = [4, 8, 16] }

[[check]]
claim = "y is positive"
experiment = "pl"
metric = "y"
kind = "threshold"
aggregate = "min"
op = ">"
value = 0.0
"""


def test_strict_exit(tmp_path, capsys):
    """--strict exits 3 when every cell is clean but a check is not CONFIRMED; without it, 0."""
    good = tmp_path / "good.toml"
    good.write_text(STRICT_SUITE)
    bad = tmp_path / "bad.toml"
    bad.write_text(STRICT_SUITE.replace('op = ">"', 'op = "<"'))
    assert main(["run", str(good), "--out", str(tmp_path / "g"), "--no-progress", "--strict"]) == 0
    assert main(["run", str(bad), "--out", str(tmp_path / "b"), "--no-progress"]) == 0
    assert main(["report", str(tmp_path / "b")]) == 0
    assert main(["report", str(tmp_path / "b"), "--strict"]) == 3
    assert "--strict: REFUTED: y is positive" in capsys.readouterr().err
    assert main(["run", str(bad), "--out", str(tmp_path / "b2"), "--no-progress", "--strict"]) == 3
    # re-judging a run under another suite file's checks
    assert main(["report", str(tmp_path / "b"), "--checks", str(good), "--strict"]) == 0
    assert "Checks re-judged from" in (tmp_path / "b" / "summary.md").read_text()
