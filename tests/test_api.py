"""The Python API (issue #25, part 2): ``ssmbench.run_suite`` from a path, TOML text, a dict or a
Suite; the result's table, verdict objects and run directory; ``load_run`` and ``compare``."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

import ssmbench
from ssmbench.harness.cli import main

TESTS = Path(__file__).parent

SUITE = {
    "suite": {"name": "api", "seeds": [0, 1, 2]},
    "experiment": [
        {
            "name": "pl",
            "run": "suite_fixtures:power_law",
            "params": {"noise": 0.05},
            "grid": {"width": [4, 8, 16]},
        }
    ],
    "check": [
        {
            "claim": "y grows like width (log-log slope 1)",
            "experiment": "pl",
            "metric": "y",
            "kind": "slope",
            "axis": "width",
            "logx": True,
            "logy": True,
            "interval": [0.9, 1.1],
            "scope": "a toy",
        }
    ],
}


def _toml() -> str:
    import tomli_w

    return tomli_w.dumps(SUITE)


@pytest.mark.parametrize("form", ["dict", "text", "path", "suite"])
def test_run_suite_takes_every_form_and_returns_objects(tmp_path, form):
    f = tmp_path / "api.toml"
    f.write_text(_toml())
    given = {"dict": SUITE, "text": _toml(), "path": str(f), "suite": ssmbench.load_suite(f)}[form]
    res = ssmbench.run_suite(given, tmp_path / "run", progress=None)
    assert res.out_dir == tmp_path / "run" and res.clean and res.ran == 9
    assert isinstance(res.table, pd.DataFrame)
    assert set(res.table["metric"]) == {"y", "const"} and len(res.table) == 18
    (v,) = res.verdicts
    assert v.claim == SUITE["check"][0]["claim"] and v.scope == "a toy"
    assert v.verdict == v.status == "CONFIRMED"
    lo, hi = v.interval
    assert lo <= v.estimate <= hi and abs(v.estimate - 1.0) < 0.05
    # text and dicts are kept as the run's suite.toml, so `report` works on them
    assert (tmp_path / "run" / "suite.toml").exists()
    assert main(["report", str(tmp_path / "run")]) == 0


def test_load_run_and_compare_return_the_same_objects(tmp_path):
    a = ssmbench.run_suite(SUITE, tmp_path / "a", progress=None)
    other = {**SUITE, "experiment": [{**SUITE["experiment"][0], "params": {"noise": 0.2}}]}
    ssmbench.run_suite(other, tmp_path / "b", progress=None)
    loaded = ssmbench.load_run(tmp_path / "a")
    pd.testing.assert_frame_equal(
        loaded.table.sort_values(["cell_id", "metric"]).reset_index(drop=True),
        a.table.sort_values(["cell_id", "metric"]).reset_index(drop=True),
    )
    assert [v.line() for v in loaded.verdicts] == [v.line() for v in a.verdicts]
    assert loaded.skipped == 9 and loaded.ran == 0
    cmp = ssmbench.compare(tmp_path / "a", tmp_path / "b")
    changed = set(cmp.changed["metric"])
    assert changed == {"y"} and len(cmp.changed) == 3 and len(cmp.missing) == 0
    assert any("noise" in n for n in cmp.notes)
    same = ssmbench.compare(tmp_path / "a", tmp_path / "a")
    assert len(same.changed) == 0 and (same.table["ratio B/A"] == 1.0).all()


def test_resume_from_the_api(tmp_path):
    out = tmp_path / "r"
    first = ssmbench.run_suite(SUITE, out, progress=None, seeds=[0])
    assert first.ran == 3
    again = ssmbench.run_suite(SUITE, out, progress=None, seeds=[0], resume=True)
    assert again.ran == 0 and again.skipped == 3


@pytest.mark.parametrize(
    "given, msg",
    [
        ("no/such/file.toml", "no suite file at"),
        ("[suite]\nname = \n", "not valid TOML"),
        ({"suite": {"name": "x", "seeds": [0]}}, r"<suite dict>: top level: key 'experiment'"),
        (42, "suite must be a path"),
        ({"suite": {"name": "x", "seeds": [0], "description": None}}, "TOML has no null"),
    ],
)
def test_bad_suites_are_refused_clearly(tmp_path, given, msg):
    with pytest.raises(ssmbench.SuiteError, match=msg):
        ssmbench.run_suite(given, tmp_path / "r", progress=None)
    assert not (tmp_path / "r").exists()


def test_a_verdict_without_an_interval_says_so():
    from ssmbench.harness.spec import Check
    from ssmbench.harness.verdict import Verdict

    c = Check(index=0, claim="c", experiment="e", metric="m", kind="ordering")
    v = Verdict(c, "INCONCLUSIVE", "no cells")
    assert v.estimate is None and v.interval is None and v.scope is None
    assert v.line() == "**INCONCLUSIVE**: c — no cells"
