"""Validation helpers for suite files: TOML values against annotations, table keys, run paths.

A ``run = "package.module:function"`` path is imported with the current directory and the suite
file's project root (its nearest ancestor holding ``pyproject.toml``) on ``sys.path``, so the
checkout-only packages ``theory`` and ``experiments`` resolve from a checkout. Paths that named a
function before it moved (committed run directories keep their suite copies) resolve through
:data:`MOVED`.
"""

from __future__ import annotations

import importlib
import inspect
import json
import re
import sys
import types
import typing
from collections.abc import Callable
from pathlib import Path
from typing import Any, Literal

from .spec import RESERVED_ARGS, SuiteError, has_var_kw

# ---------------------------------------------------------------------------------------------
# type checking of TOML values against the schema and against the experiment's annotations


def typename(tp: Any) -> str:
    """The user-facing name of a type annotation (integer, number, string, ...)."""
    if tp is type(None):
        return "none"
    if isinstance(tp, type):
        return {"int": "integer", "float": "number", "str": "string", "bool": "boolean"}.get(
            tp.__name__, tp.__name__
        )
    return str(tp).replace("typing.", "")


def value_desc(v: Any) -> str:
    """A TOML value described by its kind and (shortened) content, for error messages."""
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


# ---------------------------------------------------------------------------------------------
# table validation helpers


class Ctx:
    """Where in a suite file a value is read (file and table), to build error messages."""

    def __init__(self, path: str, table: str):
        self.path = path
        self.table = table

    def err(self, key: str | None, msg: str) -> SuiteError:
        """A :class:`SuiteError` naming the file, the table and the key."""
        where = f"{self.path}: {self.table}"
        if key is not None:
            where += f": key '{key}'"
        return SuiteError(f"{where}: {msg}")

    def keys(self, tbl: dict[str, Any], required: tuple[str, ...], optional: tuple[str, ...]):
        """Refuse unknown keys and missing required keys of a table."""
        allowed = required + optional
        for k in tbl:
            if k not in allowed:
                raise self.err(k, f"unknown key; allowed keys are {', '.join(allowed)}")
        for k in required:
            if k not in tbl:
                raise self.err(k, f"missing required key; required keys are {', '.join(required)}")

    def typed(self, tbl: dict[str, Any], key: str, tp: Any, default: Any = None) -> Any:
        """The value of ``key`` (or ``default``), checked against the type ``tp``."""
        if key not in tbl:
            return default
        v = tbl[key]
        if not conforms(v, tp):
            raise self.err(key, f"expected {typename(tp)}, got {value_desc(v)}")
        return v

    def choice(self, tbl: dict[str, Any], key: str, choices: tuple[str, ...], default: Any = None):
        """The value of ``key`` (or ``default``), checked to be one of ``choices``."""
        if key not in tbl:
            return default
        v = tbl[key]
        if v not in choices:
            raise self.err(
                key, f"expected one of {', '.join(map(repr, choices))}, got {value_desc(v)}"
            )
        return v


#: Run paths of experiments that moved, old -> new. Committed run directories keep the suite
#: file they ran with; their cell identities hash the path as written, so the old path stays in
#: the cell and only the import goes to the new place.
MOVED: dict[str, str] = {
    "ssmbench.smoke:fit_impulse_response": "experiments.smoke:fit_impulse_response",
    "ssmbench.smoke:scan_throughput": "experiments.smoke:scan_throughput",
    "ssmbench.tasks.delay:delay_learning": "experiments.zoo:delay_learning",
    "ssmbench.throughput:throughput": "experiments.throughput:throughput",
    "ssmbench.prob.experiments:bound_statistics": "experiments.bounds:bound_statistics",
    **{
        f"ssmbench.trainers:{name}_experiment": f"experiments.trainers:{name}_experiment"
        for name in ("lgssm", "speed", "sv", "lv", "chorales")
    },
    "theory.complex_param:complex_vs_real": "theory.complex_vs_real:complex_vs_real",
    "theory.complex_param:selectivity_ablation_table": (
        "theory.selectivity:selectivity_ablation_table"
    ),
}


def project_root(path: str | Path) -> Path | None:
    """The nearest ancestor directory of ``path`` that holds a ``pyproject.toml``, if any."""
    for d in Path(path).resolve().parents:
        if (d / "pyproject.toml").is_file():
            return d
    return None


def import_paths(suite_path: str | Path) -> None:
    """Put the current directory and the suite's project root on ``sys.path`` (appended, so an
    installed package of the same name wins), so that ``run`` paths into the checkout-only
    packages ``theory`` and ``experiments`` import from a checkout."""
    for d in (Path.cwd(), project_root(suite_path)):
        if d is not None and str(d) not in sys.path:
            sys.path.append(str(d))


def resolve_run(ctx: Ctx, run: str) -> Callable[..., Any]:
    """Import the function a ``run = "package.module:function"`` path names (see :data:`MOVED`)."""
    m = re.fullmatch(r"([A-Za-z_][\w]*(?:\.[A-Za-z_][\w]*)*):([A-Za-z_]\w*)", run)
    if not m:
        raise ctx.err("run", f"expected 'package.module:function', got {run!r}")
    mod_name, fn_name = m.groups()
    if run in MOVED:
        mod_name, fn_name = MOVED[run].split(":")
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
    if "seed" not in params and not has_var_kw(fn):
        raise ctx.err("run", f"{run} must accept a keyword argument 'seed'")
    return fn


def check_fn_kwargs(ctx: Ctx, fn: Callable[..., Any], run: str, section: str, kw: dict[str, Any]):
    """Check parameters against the experiment function's signature and annotations."""
    sig = inspect.signature(fn)
    try:
        hints = typing.get_type_hints(fn)
    except Exception:  # noqa: BLE001 - unresolved annotations: fall back to no type checks
        hints = {}
    var_kw = has_var_kw(fn)
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
                    f"{run} expects {typename(tp)} for '{k}', got {value_desc(val)}",
                )


def check_required(ctx: Ctx, fn: Callable[..., Any], run: str, given: set[str]):
    """Check that every required parameter of the experiment function is set."""
    for n, p in inspect.signature(fn).parameters.items():
        if n in RESERVED_ARGS or p.kind in (p.VAR_KEYWORD, p.VAR_POSITIONAL):
            continue
        if p.default is inspect.Parameter.empty and n not in given:
            raise ctx.err("params", f"{run} requires parameter '{n}', set it in params or grid")
