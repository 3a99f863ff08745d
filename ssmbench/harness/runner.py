"""Run a suite cell by cell, recording each finished cell at once so that nothing is lost.

- Each finished cell is one JSON line appended to ``records.jsonl``, flushed and fsynced: a crash
  or SIGKILL loses at most the cell in flight, and ``resume`` skips the cells already recorded.
- A cell that raises is recorded with ``status="error"`` and its message; a cell with a NaN or
  infinite metric with ``status="diverged"``. Neither stops the suite.
- The table, summary and plots are rewritten (atomically) at the end of every invocation.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import signal
import sys
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

import pandas as pd

from .cellrun import RESERVED_COLUMNS, error_record, normalize_metrics, run_cell
from .cells import expand_cells
from .checks import Verdict, evaluate
from .dask_executor import run_dask
from .executors import check_executor, run_local, run_process
from .lock import RunLock
from .progress import Progress
from .provenance import capture_env
from .records import atomic_write, read_records, records_to_table
from .spec import Cell, Suite, SuiteError
from .summary import write_plots, write_summary

__all__ = [
    "RunResult",
    "run_suite",
    "run_cell",
    "normalize_metrics",
    "finalize",
    "RESERVED_COLUMNS",
    "RunInterrupted",
    "error_record",
]


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


class RunInterrupted(BaseException):
    """A run stopped by SIGINT or SIGTERM, after its records and a partial summary were written.

    ``exit_code`` is 130 (SIGINT) or 143 (SIGTERM); the message says how to resume.
    """

    def __init__(self, message: str, exit_code: int):
        super().__init__(message)
        self.exit_code = exit_code


class _Signal(BaseException):
    """Raised by the signal handler inside the run loop (not an ``Exception``: cells cannot
    swallow it)."""

    def __init__(self, signum: int):
        super().__init__(signum)
        self.signum = signum


def _suite_digest(path: str | Path) -> str | None:
    """SHA-256 of a suite file's bytes (None when there is no file)."""
    p = Path(path)
    return hashlib.sha256(p.read_bytes()).hexdigest() if p.is_file() else None


def _resume_guards(out: Path, suite: Suite, invocation: dict, env: dict, *, force: bool,
                   allow_mixed_commits: bool) -> None:  # fmt: skip
    """Refuse to resume a directory of another suite, invocation or (by default) commit."""
    if not out.is_dir():
        raise SuiteError(f"--resume: no run directory at {out}")
    prev = out / "run.json"
    was = json.loads(prev.read_text()) if prev.exists() else {}
    # runs written before --seeds existed have no "seeds" key: they ran every seed
    if was and {k: was.get(k, [] if k == "seeds" else None) for k in invocation} != invocation:
        raise SuiteError(
            f"--resume {out}: the run was started with {json.dumps(was)}; resume it with the "
            f"same --quick/--only/--set/--seeds (got {json.dumps(invocation)})"
        )
    old, new = _suite_digest(out / "suite.toml"), _suite_digest(suite.path)
    if old and new and old != new and not force:
        raise SuiteError(
            f"--resume {out}: the run's suite ({out / 'suite.toml'}, sha256 {old[:12]}) differs "
            f"from {suite.path} (sha256 {new[:12]}); resume with the run's own suite.toml, or "
            f"pass --force to append cells of another suite"
        )
    if (out / "env.json").exists():
        first = json.loads((out / "env.json").read_text())
        commits = {first.get("git_commit")} | {
            e.get("git_commit") for e in first.get("resumed", [])
        }  # fmt: skip
        if env.get("git_commit") not in commits and not allow_mixed_commits:
            raise SuiteError(
                f"--resume {out}: the run has rows from commit(s) "
                f"{', '.join(sorted(str(c)[:12] for c in commits))}, this is "
                f"{str(env.get('git_commit'))[:12]}; pass --allow-mixed-commits to continue "
                f"(the summary then lists every commit with its cells)"
            )


@contextlib.contextmanager
def _signals_raise():
    """Within the block, SIGINT and SIGTERM raise :class:`_Signal` (main thread only)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum, frame):
        raise _Signal(signum)

    old = {sig: signal.signal(sig, handler) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for sig, h in old.items():
            signal.signal(sig, h)


@contextlib.contextmanager
def _signals_deferred():
    """Within the block, SIGINT and SIGTERM wait (a record line is never torn by them)."""
    sigs = {signal.SIGINT, signal.SIGTERM}
    main = threading.current_thread() is threading.main_thread()
    if main:
        signal.pthread_sigmask(signal.SIG_BLOCK, sigs)
    try:
        yield
    finally:
        if main:
            signal.pthread_sigmask(signal.SIG_UNBLOCK, sigs)


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
    force: bool = False,
    allow_mixed_commits: bool = False,
    executor: str = "local",
    workers: int | None = None,
    cell_timeout: float | None = None,
    pin: bool = False,
    scheduler: str | None = None,
) -> RunResult:
    """Run every cell of ``suite`` into ``out_dir``; with ``resume`` skip cells already recorded.

    The run directory is locked for the whole run (:class:`~ssmbench.harness.lock.RunLock`). A
    resume must use the same suite file content (unless ``force``) and the same commit (unless
    ``allow_mixed_commits``). SIGINT/SIGTERM stop the run between records: the partial table and
    summary are written and :class:`RunInterrupted` is raised.

    ``executor``: ``"local"`` (each cell in this process, in order; the default) or
    ``"process"`` (``workers`` spawned worker processes, default 2, one cell each at a time; a
    cell whose worker dies is retried once; ``cell_timeout`` seconds per cell; ``pin`` binds
    worker i to CPU i) or ``"dask"`` (each cell a task on the dask cluster at ``scheduler``, or
    on a ``LocalCluster`` of ``workers`` processes; see :mod:`ssmbench.harness.dask_executor`).
    See :mod:`ssmbench.harness.executors`. Records are the same whatever the executor, apart from
    their order, ``wall_s`` and the worker's host, pid and device.
    """
    check_executor(executor, workers, cell_timeout, scheduler)
    out = Path(out_dir)
    records_path = out / "records.jsonl"
    invocation = {"quick": quick, "only": only or [], "set": overrides or [], "seeds": seeds or []}
    cells = expand_cells(suite, quick=quick, only=only, seeds=seeds)  # before any directory
    env = capture_env(suite_path=suite.path)
    if resume:
        _resume_guards(out, suite, invocation, env, force=force,
                       allow_mixed_commits=allow_mixed_commits)  # fmt: skip
    elif records_path.exists() and records_path.stat().st_size > 0:
        raise SuiteError(f"{out} already holds a run; use --resume {out} or another --out")
    with RunLock(out, "run"):
        if executor == "local":
            execute = run_local
        elif executor == "dask":

            def execute(jobs, on_start):
                return run_dask(jobs, on_start, scheduler=scheduler, workers=workers or 2,
                                cell_timeout=cell_timeout)  # fmt: skip

        else:

            def execute(jobs, on_start):
                return run_process(jobs, on_start, workers=workers or 2, cell_timeout=cell_timeout,
                                   pin=pin)  # fmt: skip

        return _run_locked(suite, out, cells, env, invocation, progress, execute)


def _run_locked(suite, out, cells, env, invocation, progress, execute) -> RunResult:
    """The body of :func:`run_suite`, with the run directory locked."""
    records_path = out / "records.jsonl"
    if not (out / "env.json").exists():
        atomic_write(out / "env.json", json.dumps(env, indent=2) + "\n")
    else:
        old = json.loads((out / "env.json").read_text())
        old.setdefault("resumed", []).append(env)
        atomic_write(out / "env.json", json.dumps(old, indent=2) + "\n")
    if not (out / "suite.toml").exists() and Path(suite.path).is_file():
        shutil.copyfile(suite.path, out / "suite.toml")
        os.chmod(out / "suite.toml", 0o644)
    run_info = {**invocation, "suite": suite.path, "suite_sha256": _suite_digest(suite.path)}
    atomic_write(out / "run.json", json.dumps(run_info, indent=2) + "\n")
    header_env = json.loads((out / "env.json").read_text())

    done = {r["cell_id"] for r in read_records(records_path)}
    todo = [c for c in cells if c.cell_id not in done]
    skipped = len(cells) - len(todo)
    if progress and skipped:
        progress.write(f"resuming: {skipped} of {len(cells)} cells already recorded\n")
    prov = _provenance(env, suite)
    bar = Progress(todo, progress)
    exps = {e.name: e for e in suite.experiments}
    # Make sure a torn last line (from a crash mid-write) does not swallow the next record.
    if records_path.exists() and records_path.stat().st_size > 0:
        with open(records_path, "rb") as f:
            f.seek(-1, os.SEEK_END)
            torn = f.read(1) != b"\n"
        if torn:
            with open(records_path, "a", encoding="utf-8") as f:
                f.write("\n")
    ran = 0
    try:
        with _signals_raise(), open(records_path, "a", encoding="utf-8") as f:
            os.chmod(records_path, 0o644)
            jobs = [(c, exps[c.experiment].fn, exps[c.experiment].accepts_quick(),
                     exps[c.experiment].exclusive) for c in todo]  # fmt: skip
            by_id = {c.cell_id: c for c in todo}
            for rec in execute(jobs, bar.start):
                cell = by_id[rec["cell_id"]]
                rec["suite"] = suite.name
                w = rec.get("worker") or {}
                rec["provenance"] = {**prov, "date": rec["finished"],
                                     **{k: w[k] for k in ("host", "device") if k in w}}  # fmt: skip
                with _signals_deferred():
                    f.write(json.dumps(rec, default=str) + "\n")
                    f.flush()
                    os.fsync(f.fileno())
                ran += 1
                bar.finish(cell, rec)
    except (_Signal, KeyboardInterrupt) as e:
        bar.close()
        signum = e.signum if isinstance(e, _Signal) else signal.SIGINT
        n = len({r["cell_id"] for r in read_records(records_path)} & {c.cell_id for c in cells})
        note = (
            f"**PARTIAL**: interrupted by {signal.Signals(signum).name} with {n} of "
            f"{len(cells)} cells recorded"
        )
        finalize(out, suite, cells, header_env, note=note)
        raise RunInterrupted(
            f"interrupted: {n} of {len(cells)} cells recorded; continue with "
            f"`ssmbench run {suite.path} --resume {out}`",
            128 + int(signum),
        ) from None
    bar.close()
    table, verdicts = finalize(out, suite, cells, header_env)
    counts = (
        table.drop_duplicates("cell_id")["status"].value_counts().to_dict() if len(table) else {}
    )
    return RunResult(out, table, verdicts, counts, ran=ran, skipped=skipped)
