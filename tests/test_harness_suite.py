"""Bad suite files: each exits with status 2 and one clear message naming file, table and key."""

from __future__ import annotations

import copy
import json
import textwrap

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ssmbench.harness import SuiteError, load_suite, parse_suite
from ssmbench.harness.cli import main

GOOD = {
    "suite": {"name": "t", "description": "d", "seeds": [0, 1]},
    "experiment": [
        {
            "name": "pl",
            "run": "suite_fixtures:power_law",
            "params": {"exponent": 1.0},
            "quick_params": {"exponent": 0.5},
            "grid": {"width": [4, 8, 16]},
        },
        {"name": "fl", "run": "suite_fixtures:flaky", "grid": {"mode": ["ok", "nan"]}},
    ],
    "check": [
        {
            "claim": "c",
            "experiment": "pl",
            "metric": "y",
            "kind": "threshold",
            "where": {"width": 4},
            "op": ">=",
            "value": 1.0,
        },
        {
            "claim": "s",
            "experiment": "pl",
            "metric": "y",
            "kind": "slope",
            "axis": "width",
            "interval": [0.9, 1.1],
        },
    ],
    "plot": [{"experiment": "pl", "x": "width", "y": "y"}],
}


def _v(v) -> str:
    if isinstance(v, dict):
        return "{ " + ", ".join(f"{k} = {_v(x)}" for k, x in v.items()) + " }"
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (list, tuple)):
        return "[" + ", ".join(_v(x) for x in v) + "]"
    return json.dumps(v)


def dumps(doc: dict) -> str:
    """Minimal TOML writer for suite-shaped documents (tests only)."""
    out = []
    for name, tbl in doc.items():
        if isinstance(tbl, list):
            for t in tbl:
                out.append(f"[[{name}]]")
                out += (
                    [f"{k} = {_v(x)}" for k, x in t.items()]
                    if isinstance(t, dict)
                    else [f"bad = {_v(t)}"]
                )
                out.append("")
        elif isinstance(tbl, dict):
            out.append(f"[{name}]")
            out += [f"{k} = {_v(x)}" for k, x in tbl.items()]
            out.append("")
        else:
            out.insert(0, f"{name} = {_v(tbl)}")
    return "\n".join(out)


def run_bad(tmp_path, capsys, text: str) -> str:
    f = tmp_path / "bad_suite.toml"
    f.write_text(text)
    code = main(["run", str(f), "--out", str(tmp_path / "out")])
    err = capsys.readouterr().err
    assert code == 2, err
    assert "Traceback" not in err
    assert str(f) in err, err
    assert err.count("\n") == 1, f"expected one message line, got: {err!r}"
    assert not (tmp_path / "out" / "records.jsonl").exists()
    return err


def test_good_suite_parses():
    s = parse_suite(copy.deepcopy(GOOD), "good.toml")
    assert [e.name for e in s.experiments] == ["pl", "fl"]
    assert s.experiments[0].grid == {"width": [4, 8, 16]}
    assert len(s.checks) == 2 and len(s.plots) == 1


def _mut(fn):
    doc = copy.deepcopy(GOOD)
    fn(doc)
    return dumps(doc)


BAD_CASES = {
    # name: (suite text, substrings that the message must contain)
    "malformed_toml": (
        '[suite]\nname = "t"\nseeds = [0,\n[[experiment]]\n',
        ["malformed TOML", "line"],
    ),
    "missing_suite_table": (_mut(lambda d: d.pop("suite")), ["top level", "'suite'", "missing"]),
    "unknown_top_key": (_mut(lambda d: d.__setitem__("extra", {"a": 1})), ["'extra'", "allowed"]),
    "unknown_suite_key": (
        _mut(lambda d: d["suite"].__setitem__("difficulty", 3)),
        ["[suite]", "'difficulty'", "unknown key", "allowed keys are name, seeds, description"],
    ),
    "seeds_wrong_type": (
        _mut(lambda d: d["suite"].__setitem__("seeds", "0,1")),
        ["[suite]", "'seeds'", "expected"],
    ),
    "empty_seeds": (_mut(lambda d: d["suite"].__setitem__("seeds", [])), ["'seeds'", "non-empty"]),
    "duplicate_seeds": (_mut(lambda d: d["suite"].__setitem__("seeds", [1, 1])), ["distinct"]),
    "unknown_experiment_key": (
        _mut(lambda d: d["experiment"][1].__setitem__("difficulty", "hard")),
        ["experiment[1]", "'difficulty'", "allowed keys"],
    ),
    "missing_run": (
        _mut(lambda d: d["experiment"][0].pop("run")),
        ["experiment[0]", "'run'", "missing required key"],
    ),
    "run_bad_format": (
        _mut(lambda d: d["experiment"][0].__setitem__("run", "suite_fixtures.power_law")),
        ["experiment[0] (pl)", "'run'", "package.module:function"],
    ),
    "run_unimportable_module": (
        _mut(lambda d: d["experiment"][0].__setitem__("run", "no_such_module_xyz:f")),
        ["experiment[0] (pl)", "'run'", "cannot import module 'no_such_module_xyz'"],
    ),
    "run_missing_function": (
        _mut(lambda d: d["experiment"][0].__setitem__("run", "suite_fixtures:nope")),
        ["'run'", "has no function 'nope'"],
    ),
    "param_not_accepted": (
        _mut(lambda d: d["experiment"][0]["params"].__setitem__("difficulty", 2)),
        ["experiment[0] (pl)", "params.difficulty", "has no parameter 'difficulty'", "accepts"],
    ),
    "param_wrong_type": (
        _mut(lambda d: d["experiment"][0]["params"].__setitem__("exponent", "1.0")),
        ["params.exponent", "expects number", "got string"],
    ),
    "grid_value_wrong_type": (
        _mut(lambda d: d["experiment"][0]["grid"].__setitem__("width", [4, "8"])),
        ["grid.width", "expects integer", "got string"],
    ),
    "grid_not_list": (
        _mut(lambda d: d["experiment"][0]["grid"].__setitem__("width", 4)),
        ["grid.width", "non-empty array"],
    ),
    "literal_not_allowed": (
        _mut(lambda d: d["experiment"][1]["grid"].__setitem__("mode", ["ok", "explode"])),
        ["grid.mode", "Literal", "explode"],
    ),
    "missing_required_param": (
        _mut(lambda d: d["experiment"].append({"name": "nw", "run": "suite_fixtures:needs_width"})),
        ["experiment[2] (nw)", "requires parameter 'width'"],
    ),
    "quick_params_override_nothing": (
        _mut(lambda d: d["experiment"][0]["quick_params"].__setitem__("noise", 0.1)),
        ["quick_params.noise", "overrides nothing"],
    ),
    "param_and_grid_both": (
        _mut(lambda d: d["experiment"][0]["params"].__setitem__("width", 3)),
        ["grid.width", "also set in params"],
    ),
    "reserved_seed_param": (
        _mut(lambda d: d["experiment"][0]["params"].__setitem__("seed", 3)),
        ["params.seed", "set by the runner"],
    ),
    "duplicate_experiment": (
        _mut(lambda d: d["experiment"].append(copy.deepcopy(d["experiment"][0]))),
        ["experiment[2]", "duplicate experiment name 'pl'"],
    ),
    "check_unknown_kind": (
        _mut(lambda d: d["check"][0].__setitem__("kind", "vibes")),
        ["check[0]", "'kind'", "threshold", "vibes"],
    ),
    "check_missing_value": (
        _mut(lambda d: d["check"][0].pop("value")),
        ["check[0]", "'value'", "missing required key"],
    ),
    "check_key_of_other_kind": (
        _mut(lambda d: d["check"][0].__setitem__("k", 2.0)),
        ["check[0]", "'k'", "unknown key"],
    ),
    "check_unknown_experiment": (
        _mut(lambda d: d["check"][0].__setitem__("experiment", "zz")),
        ["check[0]", "'experiment'", "no experiment named 'zz'"],
    ),
    "check_where_unknown_column": (
        _mut(lambda d: d["check"][0]["where"].__setitem__("widht", 4)),
        ["check[0]", "where.widht", "not a column", "width"],
    ),
    "check_where_off_grid": (
        _mut(lambda d: d["check"][0]["where"].__setitem__("width", 5)),
        ["check[0]", "where.width", "not on the grid axis"],
    ),
    "check_bad_op": (
        _mut(lambda d: d["check"][0].__setitem__("op", "=>")),
        ["check[0]", "'op'", "'>='"],
    ),
    "slope_axis_not_grid": (
        _mut(lambda d: d["check"][1].__setitem__("axis", "exponent")),
        ["check[1]", "'axis'", "grid axis"],
    ),
    "slope_interval_reversed": (
        _mut(lambda d: d["check"][1].__setitem__("interval", [2.0, 1.0])),
        ["check[1]", "'interval'", "low <= high"],
    ),
    "confidence_out_of_range": (
        _mut(lambda d: d["check"][0].__setitem__("confidence", 1.5)),
        ["check[0]", "'confidence'", "[0.5, 1)"],
    ),
    "undeclared_metric": (
        _mut(
            lambda d: (
                d["experiment"][0].__setitem__("metrics", ["y", "const"]),
                d["check"][0].__setitem__("metric", "yy"),
            )
        ),  # fmt: skip
        ["check[0]", "'metric'", "reports no metric 'yy'", "y, const"],
    ),
    "threshold_op_and_interval": (
        _mut(lambda d: d["check"][0].__setitem__("interval", [0.0, 1.0])),
        ["check[0]", "either 'op' and 'value', or 'interval'"],
    ),
    "saturation_metric_without_ceiling": (
        _mut(lambda d: d["check"][0].__setitem__("saturation_metric", "const")),
        ["check[0]", "'saturation_metric'", "ceiling"],
    ),
    "require_without_each": (
        _mut(lambda d: d["check"][0].__setitem__("require", "any")),
        ["check[0]", "'require'", "'each'"],
    ),
    "margin_on_threshold": (
        _mut(lambda d: d["check"][0].__setitem__("margin", 0.1)),
        ["check[0]", "'margin'", "unknown key"],
    ),
    "beats_logx_needs_exact_linear_axis": (
        _mut(lambda d: d["check"][1].__setitem__("beats_logx", True)),
        ["check[1]", "'beats_logx'", "logx = false and exact = true"],
    ),
    "plot_unknown_key": (
        _mut(lambda d: d["plot"][0].__setitem__("colour", "red")),
        ["plot[0]", "'colour'", "unknown key"],
    ),
}


@pytest.mark.parametrize("case", sorted(BAD_CASES))
def test_bad_suite(case, tmp_path, capsys):
    text, needles = BAD_CASES[case]
    err = run_bad(tmp_path, capsys, text)
    for n in needles:
        assert n in err, f"{case}: {n!r} not in {err!r}"


def test_quick_params_may_replace_a_grid_axis():
    doc = copy.deepcopy(GOOD)
    doc["experiment"][0]["quick_params"] = {"width": [4, 8]}
    parse_suite(doc, "q.toml")
    doc["experiment"][0]["quick_params"] = {"width": ["4"]}
    with pytest.raises(SuiteError, match="quick_params|grid.width"):
        parse_suite(doc, "q.toml")


def test_an_experiment_may_stay_out_of_quick_runs():
    from ssmbench.harness.cells import expand_cells

    doc = copy.deepcopy(GOOD)
    doc["experiment"][1]["quick"] = False
    suite = parse_suite(doc, "q.toml")
    names = lambda quick: {c.experiment for c in expand_cells(suite, quick=quick)}  # noqa: E731
    assert names(False) == {"pl", "fl"} and names(True) == {"pl"}
    doc["experiment"][1]["quick"] = "no"
    with pytest.raises(SuiteError, match=r"experiment\[1\] \(fl\).*quick"):
        parse_suite(doc, "q.toml")


def test_missing_file(tmp_path, capsys):
    code = main(["run", str(tmp_path / "nope.toml")])
    err = capsys.readouterr().err
    assert code == 2 and "no such suite file" in err and "Traceback" not in err


def test_bad_override(tmp_path, capsys):
    f = tmp_path / "s.toml"
    f.write_text(dumps(GOOD))
    assert main(["run", str(f), "--set", "nosuch=1", "--out", str(tmp_path / "o")]) == 2
    assert "no experiment accepts 'nosuch'" in capsys.readouterr().err
    assert main(["run", str(f), "--set", "pl.exponent=oops", "--out", str(tmp_path / "o")]) == 2
    assert "expects number" in capsys.readouterr().err


def test_only_unknown(tmp_path, capsys):
    f = tmp_path / "s.toml"
    f.write_text(dumps(GOOD))
    assert main(["run", str(f), "--only", "zz", "--out", str(tmp_path / "o")]) == 2
    assert "--only 'zz'" in capsys.readouterr().err


# ---- hypothesis: random mutations of the good suite are all rejected cleanly ----------------

_TABLES = [
    ("suite",),
    ("experiment", 0),
    ("experiment", 1),
    ("experiment", 0, "params"),
    ("check", 0),
    ("check", 1),
    ("plot", 0),
]


def _get(doc, path):
    for p in path:
        doc = doc[p]
    return doc


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    where=st.sampled_from(_TABLES),
    key=st.from_regex(r"[a-z][a-z_]{2,10}", fullmatch=True),
    value=st.one_of(st.integers(-5, 5), st.text("abc", max_size=3), st.booleans()),
)
def test_unknown_key_mutation(where, key, value, tmp_path_factory):
    doc = copy.deepcopy(GOOD)
    tbl = _get(doc, where)
    if key in tbl:
        return
    tbl[key] = value
    with pytest.raises(SuiteError) as e:
        parse_suite(doc, "mut.toml")
    msg = str(e.value)
    assert "mut.toml" in msg, msg
    assert f"'{key}'" in msg or f".{key}'" in msg, msg


@settings(max_examples=40, deadline=None)
@given(
    where=st.sampled_from(
        [
            (("suite",), "name"),
            (("suite",), "seeds"),
            (("experiment", 0), "run"),
            (("experiment", 0), "grid"),
            (("experiment", 0, "params"), "exponent"),
            (("check", 0), "value"),
            (("check", 0), "metric"),
            (("check", 1), "interval"),
            (("plot", 0), "x"),
        ]
    ),
    value=st.one_of(
        st.dictionaries(st.sampled_from("xyz"), st.integers(), min_size=1, max_size=2),
        st.lists(st.text("ab", min_size=1, max_size=2), min_size=1, max_size=2),
        st.text("q", min_size=1, max_size=2),
        st.booleans(),
    ),
)
def test_wrong_type_mutation(where, value):
    path, key = where
    doc = copy.deepcopy(GOOD)
    tbl = _get(doc, path)
    old = tbl[key]
    if type(value) is type(old):
        return
    tbl[key] = value
    with pytest.raises(SuiteError) as e:
        parse_suite(doc, "mut.toml")
    assert "mut.toml" in str(e.value)


def test_load_suite_roundtrip(tmp_path):
    f = tmp_path / "s.toml"
    f.write_text(textwrap.dedent(dumps(GOOD)))
    s = load_suite(f)
    assert s.name == "t" and s.seeds == [0, 1]
