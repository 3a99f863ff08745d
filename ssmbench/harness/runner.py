"""Run a suite cell by cell, recording each finished cell at once so that nothing is lost.

- Each finished cell is one JSON line appended to ``records.jsonl``, flushed and fsynced: a crash
  or SIGKILL loses at most the cell in flight, and ``resume`` skips the cells already recorded.
- A cell that raises is recorded with ``status="error"`` and its message; a cell with a NaN or
  infinite metric with ``status="diverged"``. Neither stops the suite.
- The table, summary and plots are rewritten (atomically) at the end of every invocation.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import sys
import time
import traceback
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

import pandas as pd

from .cells import expand_cells
from .checks import Verdict, evaluate
from .provenance import capture_env, utc_now
from .records import atomic_write, read_records, records_to_table
from .spec import Cell, Suite, SuiteError
from .summary import META_COLUMNS, write_plots, write_summary

__all__ = [
    "RunResult",
    "run_suite",
    "run_cell",
    "normalize_metrics",
    "finalize",
    "RESERVED_COLUMNS",
]

#: Columns the runner writes itself; an experiment's extra result columns may not use them.
RESERVED_COLUMNS = frozenset(META_COLUMNS)


@dataclass
class RunResult:
    """What :func:`run_suite` returns: the run directory, its table, the verdicts and cell counts."""

    out_dir: Path
    table: pd.DataFrame
    verdicts: list[Verdict]
    counts: dict[str, int]
    ran: int
    skipped: int

    @property
    def clean(self) -> bool:
        """True when every cell finished with status ok."""
        return all(k == "ok" for k in self.counts)


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
    wall = time.perf_counter() - t0
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
    }


class _Progress:
    """Per-cell progress lines on a stream, with an estimate of the time left."""

    def __init__(self, total: int, stream: TextIO | None):
        self.total, self.stream, self.done, self.t0 = total, stream, 0, time.perf_counter()

    def start(self, cell: Cell) -> None:
        """Announce that ``cell`` starts."""
        if self.stream:
            self.stream.write(f"[{self.done + 1}/{self.total}] {cell.label()} ...\n")
            self.stream.flush()

    def finish(self, rec: dict[str, Any]) -> None:
        """Report a finished cell's status and wall time, and the estimated time left."""
        self.done += 1
        if not self.stream:
            return
        el = time.perf_counter() - self.t0
        eta = el / self.done * (self.total - self.done)
        msg = f"    {rec['status']} in {rec['wall_s']:.1f}s"
        if rec["error"]:
            msg += f" ({rec['error'][:120]})"
        msg += f" | {self.done}/{self.total} done, elapsed {_hms(el)}, ETA {_hms(eta)}\n"
        self.stream.write(msg)
        self.stream.flush()


def _hms(s: float) -> str:
    """Seconds as ``h:mm:ss``."""
    s = int(round(s))
    return f"{s // 3600}:{s % 3600 // 60:02d}:{s % 60:02d}"


def _provenance(env: dict[str, Any], suite: Suite) -> dict[str, Any]:
    """The provenance columns every record carries."""
    return {
        "suite": suite.name,
        "git_commit": env.get("git_commit"),
        "git_dirty": env.get("git_dirty"),
        "jax": env.get("jax"),
        "jaxlib": env.get("jaxlib"),
        "device": env.get("device"),
    }


def finalize(
    out_dir: Path, suite: Suite, cells: list[Cell], env: dict[str, Any], *, note: str = ""
) -> tuple:
    """Rebuild table.csv, summary.md and plots from records.jsonl (``note``: a line under the
    summary's header, e.g. where re-judged checks came from)."""
    wanted = {c.cell_id for c in cells}
    records = [r for r in read_records(out_dir / "records.jsonl") if r["cell_id"] in wanted]
    table = records_to_table(records)
    atomic_write(out_dir / "table.csv", table.to_csv(index=False))
    ran_exps = [e.name for e in suite.experiments if any(c.experiment == e.name for c in cells)]
    verdicts = [evaluate(c, table) for c in suite.checks if c.experiment in ran_exps]
    write_summary(
        out_dir / "summary.md",
        suite_name=suite.name,
        description=suite.description,
        env=env,
        table=table,
        verdicts=verdicts,
        expected_cells=len(cells),
        experiments=ran_exps,
        note=note,
    )
    plots = [p for p in suite.plots if p.experiment in ran_exps]
    try:
        write_plots(out_dir, plots, table)
    except ImportError:
        if plots:
            sys.stderr.write("note: matplotlib is not installed (extra 'plot'); no PNG plots\n")
    return table, verdicts


def run_suite(
    suite: Suite,
    out_dir: str | Path,
    *,
    quick: bool = False,
    only: list[str] | None = None,
    overrides: list[str] | None = None,
    resume: bool = False,
    progress: TextIO | None = sys.stderr,
    seeds: list[int] | None = None,
) -> RunResult:
    """Run every cell of ``suite`` into ``out_dir``; with ``resume`` skip cells already recorded."""
    out = Path(out_dir)
    records_path = out / "records.jsonl"
    invocation = {"quick": quick, "only": only or [], "set": overrides or [], "seeds": seeds or []}
    if resume:
        if not out.is_dir():
            raise SuiteError(f"--resume: no run directory at {out}")
        prev = out / "run.json"
        if prev.exists():
            was = json.loads(prev.read_text())
            # runs written before --seeds existed have no "seeds" key: they ran every seed
            if {k: was.get(k, [] if k == "seeds" else None) for k in invocation} != invocation:
                raise SuiteError(
                    f"--resume {out}: the run was started with {json.dumps(was)}; "
                    f"resume it with the same --quick/--only/--set/--seeds (got {json.dumps(invocation)})"
                )
    elif records_path.exists() and records_path.stat().st_size > 0:
        raise SuiteError(f"{out} already holds a run; use --resume {out} or another --out")
    out.mkdir(parents=True, exist_ok=True)
    cells = expand_cells(suite, quick=quick, only=only, seeds=seeds)
    env = capture_env()
    if not (out / "env.json").exists():
        atomic_write(out / "env.json", json.dumps(env, indent=2) + "\n")
    else:
        old = json.loads((out / "env.json").read_text())
        old.setdefault("resumed", []).append(env)
        atomic_write(out / "env.json", json.dumps(old, indent=2) + "\n")
    if not (out / "suite.toml").exists() and Path(suite.path).is_file():
        shutil.copyfile(suite.path, out / "suite.toml")
    atomic_write(out / "run.json", json.dumps({**invocation, "suite": suite.path}, indent=2) + "\n")

    done = {r["cell_id"] for r in read_records(records_path)}
    todo = [c for c in cells if c.cell_id not in done]
    skipped = len(cells) - len(todo)
    if progress and skipped:
        progress.write(f"resuming: {skipped} of {len(cells)} cells already recorded\n")
    prov = _provenance(env, suite)
    bar = _Progress(len(todo), progress)
    exps = {e.name: e for e in suite.experiments}
    # Make sure a torn last line (from a crash mid-write) does not swallow the next record.
    if records_path.exists() and records_path.stat().st_size > 0:
        with open(records_path, "rb") as f:
            f.seek(-1, os.SEEK_END)
            torn = f.read(1) != b"\n"
        if torn:
            with open(records_path, "a", encoding="utf-8") as f:
                f.write("\n")
    with open(records_path, "a", encoding="utf-8") as f:
        for cell in todo:
            bar.start(cell)
            e = exps[cell.experiment]
            rec = run_cell(e.fn, cell, e.accepts_quick())
            rec["suite"] = suite.name
            rec["provenance"] = {**prov, "date": rec["finished"]}
            f.write(json.dumps(rec, default=str) + "\n")
            f.flush()
            os.fsync(f.fileno())
            bar.finish(rec)
    table, verdicts = finalize(out, suite, cells, env)
    counts = (
        table.drop_duplicates("cell_id")["status"].value_counts().to_dict() if len(table) else {}
    )
    return RunResult(out, table, verdicts, counts, ran=len(todo), skipped=skipped)
