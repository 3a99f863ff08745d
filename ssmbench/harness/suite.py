"""Suite files: parse, validate strictly, and expand grids into cells.

A suite is a TOML file with a ``[suite]`` table, one or more ``[[experiment]]`` tables, and optional
``[[check]]`` and ``[[plot]]`` tables (see ``docs/suites.md``). Every key is validated: an unknown key,
a missing key, a wrong type, an unimportable ``run`` or a parameter the experiment function does not
accept raises :class:`SuiteError`, whose message names the file, the table, the key and what is allowed.
"""

from __future__ import annotations

import dataclasses
import inspect
import re
import tomllib
from pathlib import Path
from typing import Any

from .check_spec import parse_check, selection_keys
from .spec import (
    Experiment,
    Plot,
    Suite,
    SuiteError,
    has_var_kw,
)
from .validate import (
    Ctx,
    check_fn_kwargs,
    check_required,
    conforms,
    import_paths,
    resolve_run,
    value_desc,
)

__all__ = ["load_suite", "parse_suite", "apply_overrides", "conforms"]


def _parse_experiment(path: str, i: int, tbl: Any, suite_seeds: list[int]) -> Experiment:
    """Validate one ``[[experiment]]`` table and resolve its ``run`` function."""
    ctx = Ctx(path, f"experiment[{i}]")
    if not isinstance(tbl, dict):
        raise ctx.err(None, f"expected a table, got {value_desc(tbl)}")
    ctx.keys(
        tbl,
        ("name", "run"),
        (
            "description", "params", "quick_params", "grid", "seeds", "columns", "metrics",
            "timings", "exclusive", "quick",
        ),
    )  # fmt: skip
    name = ctx.typed(tbl, "name", str)
    if not re.fullmatch(r"[A-Za-z0-9][\w.-]*", name):
        raise ctx.err("name", f"expected letters, digits, '-', '_' or '.', got {name!r}")
    ctx = Ctx(path, f"experiment[{i}] ({name})")
    run = ctx.typed(tbl, "run", str)
    description = ctx.typed(tbl, "description", str, "")
    params = dict(ctx.typed(tbl, "params", dict, {}))
    quick_params = dict(ctx.typed(tbl, "quick_params", dict, {}))
    grid = dict(ctx.typed(tbl, "grid", dict, {}))
    seeds = ctx.typed(tbl, "seeds", list[int], suite_seeds)
    columns = ctx.typed(tbl, "columns", list[str], [])
    metrics = ctx.typed(tbl, "metrics", list[str], [])
    exclusive = ctx.typed(tbl, "exclusive", bool, False)  # run each cell with nothing beside it
    in_quick = ctx.typed(tbl, "quick", bool, True)  # false: no cells under --quick
    ctx.typed(tbl, "timings", list[str], [])  # read by `ssmbench compare` (its --time-rtol)
    if not seeds:
        raise ctx.err("seeds", "expected a non-empty array of integers")
    for k, v in grid.items():
        if not isinstance(v, list) or not v:
            raise ctx.err(f"grid.{k}", f"expected a non-empty array of values, got {value_desc(v)}")
        if k in params:
            raise ctx.err(
                f"grid.{k}", "is also set in params; a key is either fixed or a grid axis"
            )
    for k in quick_params:
        if k not in params and k not in grid:
            raise ctx.err(
                f"quick_params.{k}",
                f"overrides nothing; quick_params may only override keys of params or grid "
                f"({', '.join([*params, *grid]) or 'none'})",
            )
    fn = resolve_run(ctx, run)
    check_fn_kwargs(ctx, fn, run, "params", params)
    check_fn_kwargs(
        ctx, fn, run, "quick_params", {k: v for k, v in quick_params.items() if k not in grid}
    )
    for k, v in quick_params.items():
        if k in grid:  # a grid axis may be replaced by a list, or pinned to one value
            axis = v if isinstance(v, list) else [v]
            if not axis:
                raise ctx.err(f"quick_params.{k}", "expected a non-empty array of values")
            check_fn_kwargs(ctx, fn, run, "grid", {k: axis})
    check_fn_kwargs(ctx, fn, run, "grid", grid)
    check_required(ctx, fn, run, set(params) | set(grid))
    return Experiment(
        name, run, fn, params, quick_params, grid, list(seeds), description, columns, metrics,
        exclusive, in_quick,
    )  # fmt: skip


def _parse_plot(path: str, i: int, tbl: Any, exps: dict[str, Experiment]) -> Plot:
    """Validate one ``[[plot]]`` table against the experiment it draws."""
    ctx = Ctx(path, f"plot[{i}]")
    if not isinstance(tbl, dict):
        raise ctx.err(None, f"expected a table, got {value_desc(tbl)}")
    ctx.keys(tbl, ("experiment", "x", "y"), ("hue", "where", "logx", "logy", "title"))
    exp_name = ctx.typed(tbl, "experiment", str)
    if exp_name not in exps:
        raise ctx.err("experiment", f"no experiment named {exp_name!r}; have {', '.join(exps)}")
    exp = exps[exp_name]
    cols = {"seed", *exp.params, *exp.grid, *exp.columns}
    x = ctx.typed(tbl, "x", str)
    if x not in cols:
        raise ctx.err("x", f"expected a column of '{exp_name}': {', '.join(sorted(cols))}")
    hue = ctx.typed(tbl, "hue", str)
    if hue is not None and hue not in cols:
        raise ctx.err("hue", f"expected a column of '{exp_name}': {', '.join(sorted(cols))}")
    where = ctx.typed(tbl, "where", dict, {})
    selection_keys(ctx, "where", where, exp)
    return Plot(
        experiment=exp_name,
        x=x,
        y=ctx.typed(tbl, "y", str),
        hue=hue,
        where=where,
        logx=ctx.typed(tbl, "logx", bool, False),
        logy=ctx.typed(tbl, "logy", bool, False),
        title=ctx.typed(tbl, "title", str),
    )


def parse_suite(doc: dict[str, Any], path: str = "<suite>") -> Suite:
    """Validate a parsed TOML document and build a :class:`Suite`."""
    top = Ctx(path, "top level")
    top.keys(doc, ("suite", "experiment"), ("check", "plot"))
    ctx = Ctx(path, "[suite]")
    s = doc["suite"]
    if not isinstance(s, dict):
        raise top.err("suite", "expected a [suite] table")
    ctx.keys(s, ("name", "seeds"), ("description",))
    name = ctx.typed(s, "name", str)
    if not re.fullmatch(r"[A-Za-z0-9][\w.-]*", name):
        raise ctx.err("name", f"expected letters, digits, '-', '_' or '.', got {name!r}")
    seeds = ctx.typed(s, "seeds", list[int])
    if not seeds:
        raise ctx.err("seeds", "expected a non-empty array of integers")
    if len(set(seeds)) != len(seeds):
        raise ctx.err("seeds", f"seeds must be distinct, got {seeds}")
    description = ctx.typed(s, "description", str, "")
    raw_exps = doc["experiment"]
    if not isinstance(raw_exps, list) or not raw_exps:
        raise top.err("experiment", "expected one or more [[experiment]] tables")
    exps: dict[str, Experiment] = {}
    for i, t in enumerate(raw_exps):
        e = _parse_experiment(path, i, t, seeds)
        if e.name in exps:
            raise Ctx(path, f"experiment[{i}]").err("name", f"duplicate experiment name {e.name!r}")
        exps[e.name] = e
    raw_checks = doc.get("check", [])
    raw_plots = doc.get("plot", [])
    if not isinstance(raw_checks, list):
        raise top.err("check", "expected [[check]] tables")
    if not isinstance(raw_plots, list):
        raise top.err("plot", "expected [[plot]] tables")
    checks = [parse_check(path, i, t, exps) for i, t in enumerate(raw_checks)]
    plots = [_parse_plot(path, i, t, exps) for i, t in enumerate(raw_plots)]
    return Suite(path, name, description, list(seeds), list(exps.values()), checks, plots)


def _read_toml(p: Path) -> dict[str, Any]:
    """A suite file's TOML document, or :class:`SuiteError` naming the file."""
    try:
        text = p.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise SuiteError(f"{p}: no such suite file") from None
    except (OSError, UnicodeDecodeError) as e:
        raise SuiteError(f"{p}: cannot read suite file: {e}") from None
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise SuiteError(f"{p}: malformed TOML: {e}") from None


def load_suite(path: str | Path, *, checks_from: str | Path | None = None) -> Suite:
    """Read and validate a suite file. Raises :class:`SuiteError` with a user-facing message.

    ``checks_from`` takes the ``[[check]]`` tables from another suite file instead (re-judging a
    committed run under newer checks); its checks on experiments the suite lacks are dropped.
    """
    p = Path(path)
    doc = _read_toml(p)
    # `run = "theory.x:f"` imports from the directory the user runs in and the suite's checkout
    import_paths(p)
    suite = parse_suite(doc, str(p))
    if checks_from is None:
        return suite
    q = Path(checks_from)
    raw = _read_toml(q).get("check", [])
    if not isinstance(raw, list):
        raise Ctx(str(q), "top level").err("check", "expected [[check]] tables")
    exps = {e.name: e for e in suite.experiments}
    checks = [
        parse_check(str(q), i, t, exps)
        for i, t in enumerate(raw)
        if not isinstance(t, dict) or t.get("experiment") in exps
    ]
    return dataclasses.replace(suite, checks=checks)


# ---------------------------------------------------------------------------------------------
# overrides and cells


def _parse_override_value(text: str) -> Any:
    """An override's value as TOML (a bare word is a string)."""
    try:
        return tomllib.loads(f"v = {text}")["v"]
    except tomllib.TOMLDecodeError:
        return text  # a bare word: a string


def apply_overrides(suite: Suite, overrides: list[str]) -> Suite:
    """Apply ``--set [experiment.]key=value`` overrides (values in TOML syntax; bare words are strings).

    A key that is a grid axis replaces that axis (a list value gives the new axis, a scalar a single
    point). An override that no experiment accepts is an error.
    """
    exps = list(suite.experiments)
    for ov in overrides:
        if "=" not in ov:
            raise SuiteError(f"--set {ov!r}: expected key=value or experiment.key=value")
        key, text = ov.split("=", 1)
        key = key.strip()
        value = _parse_override_value(text.strip())
        target, _, k = key.rpartition(".")
        hit = False
        for j, e in enumerate(exps):
            if target and e.name != target:
                continue
            sig = inspect.signature(e.fn).parameters
            if k not in sig and not has_var_kw(e.fn):
                continue
            ctx = Ctx(suite.path, f"--set {key} (experiment {e.name})")
            params, grid = dict(e.params), dict(e.grid)
            if k in grid:
                grid[k] = value if isinstance(value, list) else [value]
                check_fn_kwargs(ctx, e.fn, e.run, "grid", {k: grid[k]})
            else:
                params[k] = value
                check_fn_kwargs(ctx, e.fn, e.run, "params", {k: value})
            quick = {q: v for q, v in e.quick_params.items() if q != k}
            exps[j] = dataclasses.replace(e, params=params, quick_params=quick, grid=grid)
            hit = True
        if not hit:
            names = ", ".join(e.name for e in exps)
            raise SuiteError(
                f"--set {key}: no experiment{' named ' + repr(target) if target else ''} accepts "
                f"'{k}' (experiments: {names})"
            )
    return Suite(
        suite.path, suite.name, suite.description, suite.seeds, exps, suite.checks, suite.plots
    )
