"""Parsing and validating one ``[[check]]`` table of a suite file (and the selections it reads).

Split from :mod:`ssmbench.harness.suite`: the check tables have the most keys of a suite file
(see ``docs/suites.md``, "[[check]]"), and each one is validated against the experiment it reads.
"""

from __future__ import annotations

from typing import Any

from .spec import AGGREGATES, CHECK_KINDS, OPS, Check, Experiment
from .validate import Ctx, value_desc

__all__ = ["parse_check", "selection_keys"]


def selection_keys(
    ctx: Ctx, key: str, sel: dict[str, Any], exp: Experiment, *, values: bool = True
):
    """Check that a selection names columns (and grid values) the experiment has."""
    allowed = {"seed", *exp.params, *exp.grid, *exp.columns}
    for k, v in sel.items():
        if k not in allowed:
            raise ctx.err(
                f"{key}.{k}",
                f"'{k}' is not a column of experiment '{exp.name}'; allowed: "
                f"{', '.join(sorted(allowed))} (declare extra result columns in the experiment's "
                f"'columns')",
            )
        if values and k in exp.grid:
            wanted = v if isinstance(v, list) else [v]
            for w in wanted:
                if not any(w == g for g in exp.grid[k]):
                    raise ctx.err(
                        f"{key}.{k}",
                        f"{value_desc(w)} is not on the grid axis '{k}' of experiment "
                        f"'{exp.name}' ({', '.join(map(str, exp.grid[k]))})",
                    )


def _interval(ctx: Ctx, tbl: dict[str, Any]) -> tuple[float, float]:
    """The ``interval = [low, high]`` key of a check."""
    iv = ctx.typed(tbl, "interval", tuple[float, float])
    if iv[0] > iv[1]:
        raise ctx.err("interval", f"expected [low, high] with low <= high, got {iv}")
    return float(iv[0]), float(iv[1])


def _opt_float(ctx: Ctx, tbl: dict[str, Any], key: str) -> float | None:
    """An optional number."""
    v = ctx.typed(tbl, key, float)
    return None if v is None else float(v)


def parse_check(path: str, i: int, tbl: Any, exps: dict[str, Experiment]) -> Check:
    """Validate one ``[[check]]`` table against the experiments it reads."""
    ctx = Ctx(path, f"check[{i}]")
    if not isinstance(tbl, dict):
        raise ctx.err(None, f"expected a table, got {value_desc(tbl)}")
    common_req = ("claim", "experiment", "metric", "kind")
    kind = ctx.choice(tbl, "kind", CHECK_KINDS)
    if kind is None:
        raise ctx.err("kind", f"missing required key; expected one of {', '.join(CHECK_KINDS)}")
    per_kind: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
        "threshold": ((), ("where", "op", "value", "interval", "outside", "each", "require")),
        "ratio": (("a", "b", "k"), ("op", "margin")),
        "slope": (("axis", "interval"), ("where", "logx", "logy", "beats_logx")),
        "ordering": (("selections", "order"), ("margin",)),
    }
    req, opt = per_kind[kind]
    common_opt = ("aggregate", "name", "confidence", "exact", "scope", "ceiling", "floor",
                  "diverged_cells")  # fmt: skip
    ctx.keys(tbl, common_req + req, common_opt + ("se_metric", "saturation_metric") + opt)
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
        confidence=float(ctx.typed(tbl, "confidence", float, 0.95)),
        exact=ctx.typed(tbl, "exact", bool, False),
        scope=ctx.typed(tbl, "scope", str, ""),
        ceiling=_opt_float(ctx, tbl, "ceiling"),
        floor=_opt_float(ctx, tbl, "floor"),
        se_metric=ctx.typed(tbl, "se_metric", str),
        saturation_metric=ctx.typed(tbl, "saturation_metric", str),
        margin=float(ctx.typed(tbl, "margin", float, 0.0)),
        diverged_cells=ctx.choice(
            tbl, "diverged_cells", ("inconclusive", "judge-rows"), "inconclusive"
        ),  # fmt: skip
    )
    if not 0.5 <= c["confidence"] < 1.0:
        raise ctx.err("confidence", f"expected a number in [0.5, 1), got {c['confidence']}")
    if c["saturation_metric"] and c["ceiling"] is None and c["floor"] is None:
        raise ctx.err("saturation_metric", "needs a 'ceiling' or 'floor' to test it against")
    for key in ("metric", "se_metric", "saturation_metric"):
        if exp.metrics and c[key] is not None and c[key] not in exp.metrics:
            raise ctx.err(
                key,
                f"experiment '{exp_name}' reports no metric {c[key]!r}; its declared metrics: "
                f"{', '.join(exp.metrics)}",
            )
    if kind == "threshold":
        c["where"] = ctx.typed(tbl, "where", dict, {})
        c["each"] = ctx.typed(tbl, "each", list[str], [])
        if ("interval" in tbl) == ("op" in tbl or "value" in tbl):
            raise ctx.err(
                "op", "expected either 'op' and 'value', or 'interval' = [low, high] (not both)"
            )
        c["require"] = ctx.choice(tbl, "require", ("all", "any"), "all")
        c["outside"] = ctx.typed(tbl, "outside", bool, False)
        if "require" in tbl and not c["each"]:
            raise ctx.err("require", "applies to the entries of 'each'; set 'each' too")
        if "outside" in tbl and "interval" not in tbl:
            raise ctx.err("outside", "applies to 'interval'; set 'interval' too")
        if "interval" in tbl:
            c["interval"] = _interval(ctx, tbl)
        else:
            c["op"] = ctx.choice(tbl, "op", OPS)
            if c["op"] is None or "value" not in tbl:
                raise ctx.err("op" if c["op"] is None else "value", "missing required key")
            c["value"] = float(ctx.typed(tbl, "value", float))
        selection_keys(ctx, "where", c["where"], exp)
        for k in c["each"]:
            selection_keys(ctx, "each", {k: None}, exp, values=False)
    elif kind == "ratio":
        c["a"] = ctx.typed(tbl, "a", dict)
        c["b"] = ctx.typed(tbl, "b", dict)
        c["k"] = float(ctx.typed(tbl, "k", float))
        c["op"] = ctx.choice(tbl, "op", OPS, ">=")
        selection_keys(ctx, "a", c["a"], exp)
        selection_keys(ctx, "b", c["b"], exp)
    elif kind == "slope":
        c["where"] = ctx.typed(tbl, "where", dict, {})
        c["axis"] = ctx.typed(tbl, "axis", str)
        if c["axis"] not in exp.grid and c["axis"] not in exp.columns:
            raise ctx.err(
                "axis",
                f"expected a grid axis (or declared column) of experiment '{exp_name}': "
                f"{', '.join([*exp.grid, *exp.columns]) or 'none'}",
            )
        c["interval"] = _interval(ctx, tbl)
        c["logx"] = ctx.typed(tbl, "logx", bool, True)
        c["logy"] = ctx.typed(tbl, "logy", bool, True)
        c["beats_logx"] = ctx.typed(tbl, "beats_logx", bool, False)
        if c["beats_logx"] and (c["logx"] or not c["exact"]):
            raise ctx.err(
                "beats_logx",
                "compares fits of an exact metric on a linear axis: set "
                "logx = false and exact = true",
            )
        selection_keys(ctx, "where", c["where"], exp)
    else:
        sels = ctx.typed(tbl, "selections", list[dict])
        if len(sels) < 2:
            raise ctx.err("selections", "expected at least two selections to order")
        for j, s in enumerate(sels):
            selection_keys(ctx, f"selections[{j}]", s, exp)
        c["selections"] = sels
        c["order"] = ctx.choice(tbl, "order", ("increasing", "decreasing"))
    return Check(**c)
