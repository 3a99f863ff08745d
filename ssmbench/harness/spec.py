"""The parsed form of a suite file: experiments, checks, plots, cells (plain data classes)."""

from __future__ import annotations

import inspect
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

__all__ = ["SuiteError", "Suite", "Experiment", "Check", "Plot", "Cell", "has_var_kw"]

CHECK_KINDS = ("threshold", "ratio", "slope", "ordering")
AGGREGATES = ("mean", "median", "min", "max")
OPS = ("<", "<=", ">", ">=")
RESERVED_ARGS = ("seed", "quick")


class SuiteError(Exception):
    """A suite file (or an override) is invalid. The message is meant for the user, as is."""


@dataclass(frozen=True)
class Experiment:
    """One ``[[experiment]]`` table: the function it runs, its fixed params, grid and seeds."""

    name: str
    run: str
    fn: Callable[..., Any]
    params: dict[str, Any]
    quick_params: dict[str, Any]
    grid: dict[str, list[Any]]
    seeds: list[int]
    description: str = ""
    columns: list[str] = field(default_factory=list)
    metrics: list[str] = field(default_factory=list)  # declared metrics; empty: not declared
    exclusive: bool = False  # each cell runs with no other cell in flight (timing cells)
    in_quick: bool = (
        True  # the suite key ``quick``; False: the experiment has no cells under --quick
    )

    def accepts_quick(self) -> bool:
        """Whether the experiment's function takes the ``quick`` flag."""
        return "quick" in inspect.signature(self.fn).parameters or has_var_kw(self.fn)


@dataclass(frozen=True)
class Check:
    """One ``[[check]]`` table: a claim, the metric and selection it reads, and its kind's settings."""

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
    # the statistics of the verdict (see docs/suites.md, "How a check decides")
    margin: float = 0.0  # ratio: a - k*b op margin; ordering: each step by more than margin
    confidence: float = 0.95  # one-sided confidence of each bound (two-sided 90% interval)
    exact: bool = False  # deterministic metric: compare numbers, no interval, 1 seed is enough
    scope: str = ""  # e.g. "our derivation", "reduced setting"; shown beside the verdict
    ceiling: float | None = None  # every value at or above it: saturated, INCONCLUSIVE
    floor: float | None = None  # every value at or below it: saturated, INCONCLUSIVE
    saturation_metric: str | None = None  # test ceiling/floor on this metric (default: metric)
    se_metric: str | None = None  # the cell's own standard error of `metric` (single-seed checks)
    each: list[str] = field(default_factory=list)  # threshold: judge every entry of these columns
    require: str = "all"  # with `each`: every entry must hold ("all") or some entry ("any")
    outside: bool = False  # threshold with `interval`: the claim is that x lies outside it
    diverged_cells: str = "inconclusive"  # or "judge-rows": a diverged cell's finite rows count
    beats_logx: bool = False  # exact slope on a linear axis: the fit linear in x must have a
    # smaller residual than the fit linear in log x (exponential, not polynomial, growth)


@dataclass(frozen=True)
class Plot:
    """One ``[[plot]]`` table: a metric against a column, optionally split by ``hue``."""

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
    """A validated suite file."""

    path: str
    name: str
    description: str
    seeds: list[int]
    experiments: list[Experiment]
    checks: list[Check]
    plots: list[Plot]

    def experiment(self, name: str) -> Experiment:
        """The experiment called ``name``."""
        for e in self.experiments:
            if e.name == name:
                return e
        raise KeyError(name)


@dataclass(frozen=True)
class Cell:
    """One point of an experiment's grid with one seed: the unit the runner runs and records."""

    experiment: str
    run: str
    seed: int
    quick: bool
    params: dict[str, Any]  # fixed params, after quick overrides
    point: dict[str, Any]  # this cell's grid point
    cell_id: str

    @property
    def kwargs(self) -> dict[str, Any]:
        """The keyword arguments of the experiment call (fixed params and this grid point)."""
        return {**self.params, **self.point}

    def label(self) -> str:
        """A short human-readable name of the cell (experiment, seed, grid point)."""
        pts = " ".join(f"{k}={_short(v)}" for k, v in self.point.items())
        return f"{self.experiment} seed={self.seed} {pts}".strip()


def has_var_kw(fn: Callable[..., Any]) -> bool:
    """Whether ``fn`` accepts arbitrary keyword arguments."""
    return any(
        p.kind is inspect.Parameter.VAR_KEYWORD for p in inspect.signature(fn).parameters.values()
    )


def _short(v: Any) -> str:
    """A value shortened to at most 24 characters for labels."""
    s = json.dumps(v, default=str) if not isinstance(v, str) else v
    return s if len(s) <= 24 else s[:21] + "..."
