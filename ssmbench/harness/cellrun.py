"""One cell: run its experiment function and build its record (:func:`run_cell`), or the record
of a cell that produced nothing (:func:`error_record`). Used by every executor."""

from __future__ import annotations

import math
import time
import traceback
from typing import Any

from .provenance import utc_now, worker_info
from .spec import Cell
from .summary import META_COLUMNS

__all__ = ["run_cell", "error_record", "normalize_metrics", "RESERVED_COLUMNS"]

#: Columns the runner writes itself; an experiment's extra result columns may not use them.
RESERVED_COLUMNS = frozenset(META_COLUMNS)


def normalize_metrics(out: Any) -> list[dict[str, Any]]:
    """Turn an experiment's return value into rows ``{"metric", "value", **extra}``."""
    if isinstance(out, dict):
        rows = [{"metric": str(k), "value": v} for k, v in out.items()]
    elif isinstance(out, list) and all(isinstance(r, dict) for r in out):
        rows = []
        for r in out:
            if "metric" not in r or "value" not in r:
                raise TypeError(f"result rows need 'metric' and 'value' keys, got {sorted(r)}")
            rows.append(dict(r))
    else:
        raise TypeError(
            f"an experiment must return a dict of metrics or a list of rows, got {type(out).__name__}"
        )
    for r in rows:
        v = r["value"]
        try:
            r["value"] = float(v)
        except (TypeError, ValueError):
            raise TypeError(f"metric {r['metric']!r} has a non-numeric value {v!r}") from None
        for k, x in list(r.items()):
            if k not in ("metric", "value") and hasattr(x, "item"):
                r[k] = x.item()  # numpy / jax scalars in extra columns
    return rows


def _record(cell: Cell, status: str, error: str | None, tb: str | None, rows: list[dict],
            wall: float | None, started: str) -> dict[str, Any]:  # fmt: skip
    """A record as ``records.jsonl`` stores it (non-finite values as text)."""
    return {
        "cell_id": cell.cell_id,
        "experiment": cell.experiment,
        "run": cell.run,
        "seed": cell.seed,
        "quick": cell.quick,
        "params": cell.params,
        "point": cell.point,
        "status": status,
        "error": error,
        "traceback": tb,
        "rows": [
            {**r, "value": r["value"] if math.isfinite(r["value"]) else str(r["value"])}
            for r in rows
        ],
        "wall_s": wall,
        "started": started,
        "finished": utc_now(),
        "worker": worker_info(),
    }


def error_record(cell: Cell, error: str, wall: float | None) -> dict[str, Any]:
    """The record of a cell that produced nothing (its worker died, or it timed out)."""
    return _record(cell, "error", error, None, [], wall, utc_now())


def run_cell(fn: Any, cell: Cell, accepts_quick: bool) -> dict[str, Any]:
    """Run one cell and build its record (never raises for the experiment's own errors)."""
    kwargs = {**cell.kwargs, "seed": cell.seed}
    if accepts_quick:
        kwargs["quick"] = cell.quick
    started = utc_now()
    t0 = time.perf_counter()
    status, error, tb, rows = "ok", None, None, []
    try:
        rows = normalize_metrics(fn(**kwargs))
        clash = {k for r in rows for k in r if k not in ("metric", "value")} & (
            RESERVED_COLUMNS | set(kwargs)
        )
        if clash:
            raise ValueError(
                f"result rows use reserved or parameter column name(s) {sorted(clash)}; rename them"
            )
        bad = [r["metric"] for r in rows if not math.isfinite(r["value"])]
        if bad:
            status, error = "diverged", f"non-finite metric(s): {', '.join(bad[:5])}"
    except (KeyboardInterrupt, SystemExit):
        raise
    except Exception as e:  # noqa: BLE001 - a failing cell is recorded, the suite goes on
        status, error, tb = "error", f"{type(e).__name__}: {e}", traceback.format_exc()
        rows = []
    return _record(cell, status, error, tb, rows, time.perf_counter() - t0, started)
