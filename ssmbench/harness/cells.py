"""Cells: the points of a suite's grids times its seeds, each with a stable identity."""

from __future__ import annotations

import hashlib
import itertools
import json
from typing import Any

from .._version import __version__
from .spec import Cell, Suite, SuiteError

__all__ = ["cell_id", "expand_cells"]


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
        if (only and e.name not in only) or (quick and not e.in_quick):
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
