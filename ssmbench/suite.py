"""Suite files: parse, validate strictly, and expand grids into cells.

A suite is a TOML file with a ``[suite]`` table, one or more ``[[experiment]]`` tables, and optional
``[[check]]`` and ``[[plot]]`` tables (see ``docs/suites.md``). Every key is validated: an unknown key,
a missing key, a wrong type, an unimportable ``run`` or a parameter the experiment function does not
accept raises :class:`SuiteError`, whose message names the file, the table, the key and what is allowed.
"""

from __future__ import annotations

import hashlib
import importlib
import inspect
import itertools
import json
import re
import sys
import tomllib
import types
import typing
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from . import __version__

__all__ = [
    "SuiteError",
    "Suite",
    "Experiment",
    "Check",
    "Plot",
    "Cell",
    "load_suite",
    "parse_suite",
    "expand_cells",
    "apply_overrides",
]

CHECK_KINDS = ("threshold", "ratio", "slope", "ordering")
AGGREGATES = ("mean", "median", "min", "max")
OPS = ("<", "<=", ">", ">=")
RESERVED_ARGS = ("seed", "quick")


class SuiteError(Exception):
    """A suite file (or an override) is invalid. The message is meant for the user, as is."""


@dataclass(frozen=True)
class Experiment:
    name: str
    run: str
    fn: Callable[..., Any]
    params: dict[str, Any]
    quick_params: dict[str, Any]
    grid: dict[str, list[Any]]
    seeds: list[int]
    description: str = ""
    columns: list[str] = field(default_factory=list)

    def accepts_quick(self) -> bool:
        return "quick" in inspect.signature(self.fn).parameters or _has_var_kw(self.fn)


@dataclass(frozen=True)
class Check:
    index: int
    claim: str
    experiment: str
    metric: str
    kind: str
    aggregate: str = "mean"
    where: dict[str, Any] = field(default_factory=dict)
    op: str = ">="
    value: float | None = None
    a: dict[str, Any] = field(default_factory=dict)
    b: dict[str, Any] = field(default_factory=dict)
    k: float | None = None
    axis: str | None = None
    interval: tuple[float, float] | None = None
    logx: bool = True
    logy: bool = True
    selections: list[dict[str, Any]] = field(default_factory=list)
    order: str = "increasing"


@dataclass(frozen=True)
class Plot:
    experiment: str
    x: str
    y: str
    hue: str | None = None
    where: dict[str, Any] = field(default_factory=dict)
    logx: bool = False
    logy: bool = False
    title: str | None = None


@dataclass(frozen=True)
class Suite:
    path: str
    name: str
    description: str
    seeds: list[int]
    experiments: list[Experiment]
    checks: list[Check]
    plots: list[Plot]

    def experiment(self, name: str) -> Experiment:
        for e in self.experiments:
            if e.name == name:
                return e
        raise KeyError(name)


@dataclass(frozen=True)
class Cell:
    experiment: str
    run: str
    seed: int
    quick: bool
    params: dict[str, Any]  # fixed params, after quick overrides
    point: dict[str, Any]  # this cell's grid point
    cell_id: str

    @property
    def kwargs(self) -> dict[str, Any]:
        return {**self.params, **self.point}

    def label(self) -> str:
        pts = " ".join(f"{k}={_short(v)}" for k, v in self.point.items())
        return f"{self.experiment} seed={self.seed} {pts}".strip()


# ---------------------------------------------------------------------------------------------
# type checking of TOML values against the schema and against the experiment's annotations


def _typename(tp: Any) -> str:
    if tp is type(None):
        return "none"
    if isinstance(tp, type):
        return {"int": "integer", "float": "number", "str": "string", "bool": "boolean"}.get(
            tp.__name__, tp.__name__
        )
    return str(tp).replace("typing.", "")


def _value_desc(v: Any) -> str:
    kind = {
        bool: "boolean",
        int: "integer",
        float: "number",
        str: "string",
        list: "array",
        dict: "table",
    }.get(type(v), type(v).__name__)
    return f"{kind} {json.dumps(v, default=str)[:60]}"


def conforms(value: Any, tp: Any) -> bool:
    """Whether a TOML value conforms to a (simple) Python annotation.

    Unknown or unsupported annotations accept anything: the runner only rejects what it can judge.
    """
    if tp is inspect.Parameter.empty or tp is Any:
        return True
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if tp is bool:
        return isinstance(value, bool)
    if tp is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if tp is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if tp is str:
        return isinstance(value, str)
    if tp is type(None) or tp is None:
        return value is None
    if origin is Literal:
        return any(value == a and type(value) is type(a) for a in args)
    if origin in (typing.Union, types.UnionType):
        return any(conforms(value, a) for a in args)
    if origin in (list, tuple, typing.Sequence) or tp in (list, tuple):
        if not isinstance(value, list):
            return False
        if not args:
            return True
        if origin is tuple and args and args[-1] is not Ellipsis:
            return len(value) == len(args) and all(conforms(v, a) for v, a in zip(value, args))
        return all(conforms(v, args[0]) for v in value)
    if origin is dict or tp is dict:
        return isinstance(value, dict)
    return True


def _has_var_kw(fn: Callable[..., Any]) -> bool:
    return any(
        p.kind is inspect.Parameter.VAR_KEYWORD for p in inspect.signature(fn).parameters.values()
    )


# ---------------------------------------------------------------------------------------------
# table validation helpers


class _Ctx:
    def __init__(self, path: str, table: str):
        self.path = path
        self.table = table

    def err(self, key: str | None, msg: str) -> SuiteError:
        where = f"{self.path}: {self.table}"
        if key is not None:
            where += f": key '{key}'"
        return SuiteError(f"{where}: {msg}")

    def keys(self, tbl: dict[str, Any], required: tuple[str, ...], optional: tuple[str, ...]):
        allowed = required + optional
        for k in tbl:
            if k not in allowed:
                raise self.err(k, f"unknown key; allowed keys are {', '.join(allowed)}")
        for k in required:
            if k not in tbl:
                raise self.err(k, f"missing required key; required keys are {', '.join(required)}")

    def typed(self, tbl: dict[str, Any], key: str, tp: Any, default: Any = None) -> Any:
        if key not in tbl:
            return default
        v = tbl[key]
        if not conforms(v, tp):
            raise self.err(key, f"expected {_typename(tp)}, got {_value_desc(v)}")
        return v

    def choice(self, tbl: dict[str, Any], key: str, choices: tuple[str, ...], default: Any = None):
        if key not in tbl:
            return default
        v = tbl[key]
        if v not in choices:
            raise self.err(
                key, f"expected one of {', '.join(map(repr, choices))}, got {_value_desc(v)}"
            )
        return v


def _resolve_run(ctx: _Ctx, run: str) -> Callable[..., Any]:
    m = re.fullmatch(r"([A-Za-z_][\w]*(?:\.[A-Za-z_][\w]*)*):([A-Za-z_]\w*)", run)
    if not m:
        raise ctx.err("run", f"expected 'package.module:function', got {run!r}")
    mod_name, fn_name = m.groups()
    try:
        mod = importlib.import_module(mod_name)
    except Exception as e:  # noqa: BLE001 - any import failure is the user's to see, briefly
        raise ctx.err(
            "run", f"cannot import module {mod_name!r}: {type(e).__name__}: {e}"
        ) from None
    fn = getattr(mod, fn_name, None)
    if fn is None or not callable(fn):
        raise ctx.err("run", f"module {mod_name!r} has no function {fn_name!r}")
    params = inspect.signature(fn).parameters
    if "seed" not in params and not _has_var_kw(fn):
        raise ctx.err("run", f"{run} must accept a keyword argument 'seed'")
    return fn


def _check_fn_kwargs(ctx: _Ctx, fn: Callable[..., Any], run: str, section: str, kw: dict[str, Any]):
    sig = inspect.signature(fn)
    try:
        hints = typing.get_type_hints(fn)
    except Exception:  # noqa: BLE001 - unresolved annotations: fall back to no type checks
        hints = {}
    var_kw = _has_var_kw(fn)
    accepted = [
        n
        for n, p in sig.parameters.items()
        if n not in RESERVED_ARGS
        and p.kind in (inspect.Parameter.KEYWORD_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)
    ]
    for k, v in kw.items():
        if k in RESERVED_ARGS:
            raise ctx.err(f"{section}.{k}", f"'{k}' is set by the runner and cannot be a parameter")
        if k not in sig.parameters:
            if var_kw:
                continue
            raise ctx.err(
                f"{section}.{k}",
                f"{run} has no parameter '{k}'; it accepts {', '.join(accepted) or 'none'}",
            )
        tp = hints.get(k, sig.parameters[k].annotation)
        values = v if section == "grid" else [v]
        for val in values:
            if not conforms(val, tp):
                raise ctx.err(
                    f"{section}.{k}",
                    f"{run} expects {_typename(tp)} for '{k}', got {_value_desc(val)}",
                )


def _check_required(ctx: _Ctx, fn: Callable[..., Any], run: str, given: set[str]):
    for n, p in inspect.signature(fn).parameters.items():
        if n in RESERVED_ARGS or p.kind in (p.VAR_KEYWORD, p.VAR_POSITIONAL):
            continue
        if p.default is inspect.Parameter.empty and n not in given:
            raise ctx.err("params", f"{run} requires parameter '{n}', set it in params or grid")


def _parse_experiment(path: str, i: int, tbl: Any, suite_seeds: list[int]) -> Experiment:
    ctx = _Ctx(path, f"experiment[{i}]")
    if not isinstance(tbl, dict):
        raise ctx.err(None, f"expected a table, got {_value_desc(tbl)}")
    ctx.keys(
        tbl,
        ("name", "run"),
        ("description", "params", "quick_params", "grid", "seeds", "columns"),
    )
    name = ctx.typed(tbl, "name", str)
    if not re.fullmatch(r"[A-Za-z0-9][\w.-]*", name):
        raise ctx.err("name", f"expected letters, digits, '-', '_' or '.', got {name!r}")
    ctx = _Ctx(path, f"experiment[{i}] ({name})")
    run = ctx.typed(tbl, "run", str)
    description = ctx.typed(tbl, "description", str, "")
    params = dict(ctx.typed(tbl, "params", dict, {}))
    quick_params = dict(ctx.typed(tbl, "quick_params", dict, {}))
    grid = dict(ctx.typed(tbl, "grid", dict, {}))
    seeds = ctx.typed(tbl, "seeds", list[int], suite_seeds)
    columns = ctx.typed(tbl, "columns", list[str], [])
    if not seeds:
        raise ctx.err("seeds", "expected a non-empty array of integers")
    for k, v in grid.items():
        if not isinstance(v, list) or not v:
            raise ctx.err(
                f"grid.{k}", f"expected a non-empty array of values, got {_value_desc(v)}"
            )
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
    fn = _resolve_run(ctx, run)
    _check_fn_kwargs(ctx, fn, run, "params", params)
    _check_fn_kwargs(
        ctx, fn, run, "quick_params", {k: v for k, v in quick_params.items() if k not in grid}
    )
    for k, v in quick_params.items():
        if k in grid:  # a grid axis may be replaced by a list, or pinned to one value
            axis = v if isinstance(v, list) else [v]
            if not axis:
                raise ctx.err(f"quick_params.{k}", "expected a non-empty array of values")
            _check_fn_kwargs(ctx, fn, run, "grid", {k: axis})
    _check_fn_kwargs(ctx, fn, run, "grid", grid)
    _check_required(ctx, fn, run, set(params) | set(grid))
    return Experiment(name, run, fn, params, quick_params, grid, list(seeds), description, columns)


def _selection_keys(ctx: _Ctx, key: str, sel: dict[str, Any], exp: Experiment):
    allowed = {"seed", *exp.params, *exp.grid, *exp.columns}
    for k, v in sel.items():
        if k not in allowed:
            raise ctx.err(
                f"{key}.{k}",
                f"'{k}' is not a column of experiment '{exp.name}'; allowed: "
                f"{', '.join(sorted(allowed))} (declare extra result columns in the experiment's "
                f"'columns')",
            )
        if k in exp.grid:
            wanted = v if isinstance(v, list) else [v]
            for w in wanted:
                if not any(w == g for g in exp.grid[k]):
                    raise ctx.err(
                        f"{key}.{k}",
                        f"{_value_desc(w)} is not on the grid axis '{k}' of experiment "
                        f"'{exp.name}' ({', '.join(map(str, exp.grid[k]))})",
                    )


def _parse_check(path: str, i: int, tbl: Any, exps: dict[str, Experiment]) -> Check:
    ctx = _Ctx(path, f"check[{i}]")
    if not isinstance(tbl, dict):
        raise ctx.err(None, f"expected a table, got {_value_desc(tbl)}")
    common_req = ("claim", "experiment", "metric", "kind")
    kind = ctx.choice(tbl, "kind", CHECK_KINDS)
    if kind is None:
        raise ctx.err("kind", f"missing required key; expected one of {', '.join(CHECK_KINDS)}")
    per_kind: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
        "threshold": (("op", "value"), ("where",)),
        "ratio": (("a", "b", "k"), ("op",)),
        "slope": (("axis", "interval"), ("where", "logx", "logy")),
        "ordering": (("selections", "order"), ()),
    }
    req, opt = per_kind[kind]
    ctx.keys(tbl, common_req + req, ("aggregate", "name") + opt)
    exp_name = ctx.typed(tbl, "experiment", str)
    if exp_name not in exps:
        raise ctx.err("experiment", f"no experiment named {exp_name!r}; have {', '.join(exps)}")
    exp = exps[exp_name]
    c: dict[str, Any] = dict(
        index=i,
        claim=ctx.typed(tbl, "claim", str),
        experiment=exp_name,
        metric=ctx.typed(tbl, "metric", str),
        kind=kind,
        aggregate=ctx.choice(tbl, "aggregate", AGGREGATES, "mean"),
    )
    if kind == "threshold":
        c["where"] = ctx.typed(tbl, "where", dict, {})
        c["op"] = ctx.choice(tbl, "op", OPS)
        c["value"] = float(ctx.typed(tbl, "value", float))
        _selection_keys(ctx, "where", c["where"], exp)
    elif kind == "ratio":
        c["a"] = ctx.typed(tbl, "a", dict)
        c["b"] = ctx.typed(tbl, "b", dict)
        c["k"] = float(ctx.typed(tbl, "k", float))
        c["op"] = ctx.choice(tbl, "op", OPS, ">=")
        _selection_keys(ctx, "a", c["a"], exp)
        _selection_keys(ctx, "b", c["b"], exp)
    elif kind == "slope":
        c["where"] = ctx.typed(tbl, "where", dict, {})
        c["axis"] = ctx.typed(tbl, "axis", str)
        if c["axis"] not in exp.grid and c["axis"] not in exp.columns:
            raise ctx.err(
                "axis",
                f"expected a grid axis (or declared column) of experiment '{exp_name}': "
                f"{', '.join([*exp.grid, *exp.columns]) or 'none'}",
            )
        iv = ctx.typed(tbl, "interval", tuple[float, float])
        if iv[0] > iv[1]:
            raise ctx.err("interval", f"expected [low, high] with low <= high, got {iv}")
        c["interval"] = (float(iv[0]), float(iv[1]))
        c["logx"] = ctx.typed(tbl, "logx", bool, True)
        c["logy"] = ctx.typed(tbl, "logy", bool, True)
        _selection_keys(ctx, "where", c["where"], exp)
    else:
        sels = ctx.typed(tbl, "selections", list[dict])
        if len(sels) < 2:
            raise ctx.err("selections", "expected at least two selections to order")
        for j, s in enumerate(sels):
            _selection_keys(ctx, f"selections[{j}]", s, exp)
        c["selections"] = sels
        c["order"] = ctx.choice(tbl, "order", ("increasing", "decreasing"))
    return Check(**c)


def _parse_plot(path: str, i: int, tbl: Any, exps: dict[str, Experiment]) -> Plot:
    ctx = _Ctx(path, f"plot[{i}]")
    if not isinstance(tbl, dict):
        raise ctx.err(None, f"expected a table, got {_value_desc(tbl)}")
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
    _selection_keys(ctx, "where", where, exp)
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
    top = _Ctx(path, "top level")
    top.keys(doc, ("suite", "experiment"), ("check", "plot"))
    ctx = _Ctx(path, "[suite]")
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
            raise _Ctx(path, f"experiment[{i}]").err(
                "name", f"duplicate experiment name {e.name!r}"
            )
        exps[e.name] = e
    raw_checks = doc.get("check", [])
    raw_plots = doc.get("plot", [])
    if not isinstance(raw_checks, list):
        raise top.err("check", "expected [[check]] tables")
    if not isinstance(raw_plots, list):
        raise top.err("plot", "expected [[plot]] tables")
    checks = [_parse_check(path, i, t, exps) for i, t in enumerate(raw_checks)]
    plots = [_parse_plot(path, i, t, exps) for i, t in enumerate(raw_plots)]
    return Suite(path, name, description, list(seeds), list(exps.values()), checks, plots)


def load_suite(path: str | Path) -> Suite:
    """Read and validate a suite file. Raises :class:`SuiteError` with a user-facing message."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise SuiteError(f"{p}: no such suite file") from None
    except (OSError, UnicodeDecodeError) as e:
        raise SuiteError(f"{p}: cannot read suite file: {e}") from None
    try:
        doc = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise SuiteError(f"{p}: malformed TOML: {e}") from None
    # Make `run = "theory.x:f"` importable from the directory the user runs in (like `python -m`).
    if "" not in sys.path and str(Path.cwd()) not in sys.path:
        sys.path.insert(0, str(Path.cwd()))
    return parse_suite(doc, str(p))


# ---------------------------------------------------------------------------------------------
# overrides and cells


def _parse_override_value(text: str) -> Any:
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
            if k not in sig and not _has_var_kw(e.fn):
                continue
            ctx = _Ctx(suite.path, f"--set {key} (experiment {e.name})")
            params, grid = dict(e.params), dict(e.grid)
            if k in grid:
                grid[k] = value if isinstance(value, list) else [value]
                _check_fn_kwargs(ctx, e.fn, e.run, "grid", {k: grid[k]})
            else:
                params[k] = value
                _check_fn_kwargs(ctx, e.fn, e.run, "params", {k: value})
            quick = {q: v for q, v in e.quick_params.items() if q != k}
            exps[j] = Experiment(
                e.name, e.run, e.fn, params, quick, grid, e.seeds, e.description, e.columns
            )
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


def cell_id(run: str, experiment: str, kwargs: dict[str, Any], seed: int, quick: bool) -> str:
    """Identity of a cell: a hash of its resolved parameters, seed, quick flag and code version."""
    blob = json.dumps(
        {
            "experiment": experiment,
            "run": run,
            "kwargs": kwargs,
            "seed": seed,
            "quick": quick,
            "version": __version__,
        },
        sort_keys=True,
        default=str,
    )
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def expand_cells(
    suite: Suite,
    *,
    quick: bool = False,
    only: list[str] | None = None,
    seeds: list[int] | None = None,
) -> list[Cell]:
    """Expand every experiment's grid × seeds into cells, in a deterministic order. ``seeds``
    keeps only those seeds of each experiment (an experiment without any of them has no cells)."""
    if seeds:
        known = {s for e in suite.experiments for s in e.seeds if not only or e.name in only}
        if not set(seeds) & known:
            raise SuiteError(
                f"{suite.path}: --seeds {seeds}: no selected experiment has these seeds; "
                f"have {sorted(known)}"
            )
    if only:
        names = {e.name for e in suite.experiments}
        for o in only:
            if o not in names:
                raise SuiteError(
                    f"{suite.path}: --only {o!r}: no such experiment; have {', '.join(sorted(names))}"
                )
    cells: list[Cell] = []
    for e in suite.experiments:
        if only and e.name not in only:
            continue
        params = dict(e.params)
        grid = dict(e.grid)
        if quick:
            for k, v in e.quick_params.items():
                if k in grid:
                    grid[k] = v if isinstance(v, list) else [v]
                else:
                    params[k] = v
        keys = list(grid)
        for values in itertools.product(*(grid[k] for k in keys)):
            point = dict(zip(keys, values))
            for seed in e.seeds:
                if seeds and seed not in seeds:
                    continue
                kw = {**params, **point}
                cells.append(
                    Cell(
                        e.name,
                        e.run,
                        seed,
                        quick,
                        params,
                        point,
                        cell_id(e.run, e.name, kw, seed, quick),
                    )
                )
    return cells


def _short(v: Any) -> str:
    s = json.dumps(v, default=str) if not isinstance(v, str) else v
    return s if len(s) <= 24 else s[:21] + "..."
