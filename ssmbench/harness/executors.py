"""Where a suite's cells run: in the driver's process (``local``), one cell per worker process
(``process``), or one cell per task on a dask cluster (``dask``, :mod:`.dask_executor`). The driver stays the only writer of ``records.jsonl``: an executor yields finished
records and :func:`ssmbench.harness.runner.run_suite` appends and fsyncs each as it arrives.

``process`` uses :class:`concurrent.futures.ProcessPoolExecutor` with the ``spawn`` start method
(never ``fork`` after JAX has started threads). At most ``workers`` cells are in flight, so every
submitted cell is running. Faults:

- a worker process that dies mid-cell (SIGKILL, a segfault, out of memory) breaks the pool, and
  which cell it ran is unknown when several were in flight: each of them is rerun alone in a
  fresh pool, uncharged. A cell whose worker dies while it runs alone is retried once (alone),
  then recorded ``status="error"`` with the reason; no cell is charged for another's crash;
- a cell running longer than ``cell_timeout`` seconds is recorded ``status="error"`` (timeout);
  its pool is killed and the other cells in flight restart without being charged an attempt.

A cell of an ``exclusive`` experiment (a timing cell) runs with nothing else in flight.

With ``pin=True`` worker *i* is bound to CPU *i* mod (the CPUs this process may use), as
``taskset -c i`` would: one XLA CPU client per core, which also keeps clear of the batched-LAPACK
deadlock of jaxlib 0.10.2's CPU runtime (``docs/suites.md``).
"""

from __future__ import annotations

import collections
import itertools
import multiprocessing as mp
import os
import queue as _queue
import sys
import time
from collections.abc import Callable, Iterator
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from typing import Any

from .cellrun import error_record, run_cell
from .spec import Cell, SuiteError

__all__ = ["EXECUTORS", "run_local", "run_process", "check_executor", "may_start", "Job"]

#: The executors ``ssmbench run --executor`` accepts (``dask``: :mod:`.dask_executor`).
EXECUTORS = ("local", "process", "dask")

#: The cell, its function, whether it takes ``quick``, whether it must run alone (``exclusive``).
Job = tuple[Cell, Callable[..., Any], bool, bool]


def may_start(job: Job, running: list[Job]) -> bool:
    """Whether ``job`` may start beside ``running``: an exclusive cell starts only when nothing
    runs, and nothing starts beside an exclusive cell."""
    return not running or not (job[3] or any(j[3] for j in running))


def check_executor(executor: str, workers: int | None, cell_timeout: float | None,
                   scheduler: str | None = None) -> None:  # fmt: skip
    """Refuse an unknown executor, a bad worker count or timeout, or options ``local`` ignores."""
    if executor not in EXECUTORS:
        raise SuiteError(f"executor must be one of {', '.join(EXECUTORS)}, got {executor!r}")
    if workers is not None and (isinstance(workers, bool) or not isinstance(workers, int)
                                or workers < 1):  # fmt: skip
        raise SuiteError(f"workers must be a positive integer, got {workers!r}")
    if cell_timeout is not None and not cell_timeout > 0:
        raise SuiteError(f"cell_timeout must be positive seconds, got {cell_timeout!r}")
    if executor == "local" and (workers not in (None, 1) or cell_timeout is not None):
        raise SuiteError(
            "--workers and --cell-timeout need --executor process or dask (the local executor "
            "runs cells one by one in this process and cannot stop a running cell)"
        )
    if scheduler is not None and executor != "dask":
        raise SuiteError("--scheduler needs --executor dask")
    if scheduler is not None and workers is not None:
        raise SuiteError("--workers sizes the LocalCluster that --executor dask starts; an "
                         "existing cluster (--scheduler) has its own workers")  # fmt: skip


def run_local(jobs: list[Job], on_start: Callable[[Cell], None] = lambda c: None
              ) -> Iterator[dict[str, Any]]:  # fmt: skip
    """Today's loop: each cell in this process, in order (``on_start(cell)`` before each)."""
    for cell, fn, accepts_quick, _ in jobs:
        on_start(cell)
        yield run_cell(fn, cell, accepts_quick)


_STARTED: Any = None  # in a worker: the queue on which it reports (cell_id, start time)


def _init_worker(paths: list[str], counter: Any, pin: bool, started: Any) -> None:
    """Worker start-up: the driver's import path, the start queue, and (``pin``) one CPU per
    worker."""
    global _STARTED
    _STARTED = started
    for p in paths:
        if p not in sys.path:
            sys.path.append(p)
    if pin and hasattr(os, "sched_setaffinity"):
        cpus = sorted(os.sched_getaffinity(0))
        with counter.get_lock():
            i = counter.value
            counter.value += 1
        os.sched_setaffinity(0, {cpus[i % len(cpus)]})


def _run_in_worker(
    serial: int, cell: Cell, fn: Callable[..., Any], accepts_quick: bool
) -> dict[str, Any]:
    """The worker's side: report the start, run one cell (never raises for the experiment's own
    errors)."""
    if _STARTED is not None:
        _STARTED.put((serial, time.time()))

    return run_cell(fn, cell, accepts_quick)


def _kill(pool: ProcessPoolExecutor) -> None:
    """Kill a pool's worker processes and shut it down without waiting for them."""
    for p in list(getattr(pool, "_processes", {}).values()):  # no public kill before 3.14
        if p.is_alive():
            p.kill()
    pool.shutdown(wait=False, cancel_futures=True)


def _drain(q: Any, started: dict[str, float]) -> None:
    """Move every (cell_id, start time) the workers have reported into ``started``."""
    while True:
        try:
            cid, t = q.get_nowait()
        except _queue.Empty:
            return
        started[cid] = t


def run_process(
    jobs: list[Job],
    on_start: Callable[[Cell], None] = lambda c: None,
    *,
    workers: int,
    cell_timeout: float | None = None,
    pin: bool = False,
) -> Iterator[dict[str, Any]]:
    """Run each cell in a spawned worker process; yield records as cells finish (any order).
    ``on_start(cell)`` is called as each cell is handed to a worker."""
    ctx = mp.get_context("spawn")
    counter = ctx.Value("i", 0)
    started_q = ctx.Queue()
    started: dict[int, float] = {}  # submission -> when its worker began it (time.time())
    serials = itertools.count()
    queue = collections.deque(jobs)
    attempts: collections.Counter[str] = collections.Counter()  # deaths while running alone
    isolate: collections.deque[Job] = collections.deque()  # cells to rerun one at a time
    inflight: dict[Any, tuple[Job, int]] = {}  # future -> (job, submission number)
    pool: ProcessPoolExecutor | None = None

    def new_pool() -> ProcessPoolExecutor:
        return ProcessPoolExecutor(
            max_workers=workers, mp_context=ctx, initializer=_init_worker,
            initargs=(list(sys.path), counter, pin, started_q),
        )  # fmt: skip

    try:
        while queue or isolate or inflight:
            if pool is None:
                pool = new_pool()
            # after a crash with several cells in flight, each of them runs alone
            source, limit = (isolate, 1) if isolate else (queue, workers)
            running = [j for j, _ in inflight.values()]
            while source and len(inflight) < limit and may_start(source[0], running):
                job = source.popleft()
                on_start(job[0])
                n = next(serials)
                inflight[pool.submit(_run_in_worker, n, *job[:3])] = (job, n)
                running.append(job)
            timeout = None
            if cell_timeout is not None:  # the clock runs from the cell's start in its worker
                _drain(started_q, started)
                ends = [started[n] + cell_timeout for _, n in inflight.values() if n in started]
                timeout = max(0.0, min(ends) - time.time()) if ends else 0.5
                if len(ends) < len(inflight):
                    timeout = min(timeout, 0.5)  # poll until every cell has started
            done, _ = wait(list(inflight), timeout=timeout, return_when=FIRST_COMPLETED)
            crashed: list[Job] = []
            for fut in done:
                job, n = inflight.pop(fut)
                try:
                    yield fut.result()
                except BrokenProcessPool:
                    crashed.append(job)
                except Exception as e:  # noqa: BLE001 - e.g. a result that cannot be pickled
                    yield error_record(job[0], f"{type(e).__name__} in the worker: {e}",
                                       time.time() - started.get(n, time.time()))  # fmt: skip
            if crashed:
                # the pool is broken: every other cell in flight fails with it
                for fut, (job, _) in list(inflight.items()):
                    crashed.append(job)
                    del inflight[fut]
                _kill(pool)
                pool = None
                if len(crashed) > 1:  # which worker died is unknown: rerun each alone, uncharged
                    isolate.extend(crashed)
                else:  # it ran alone, so it is the one whose worker died
                    (job,) = crashed
                    attempts[job[0].cell_id] += 1
                    if attempts[job[0].cell_id] >= 2:
                        yield error_record(
                            job[0], "the worker process died (killed, crashed or out of memory) "
                            "twice running this cell alone", None,
                        )  # fmt: skip
                    else:
                        isolate.appendleft(job)
            elif not done and cell_timeout is not None:
                _drain(started_q, started)
                now = time.time()
                late = [
                    f for f, (_, n) in inflight.items() if now - started.get(n, now) >= cell_timeout
                ]
                if not late:
                    continue
                for fut in late:
                    job, n = inflight.pop(fut)
                    yield error_record(job[0], f"timeout: the cell ran over --cell-timeout "
                                       f"{cell_timeout:g} s and was killed", now - started[n])  # fmt: skip
                for job, _ in inflight.values():  # restart the others, not charged an attempt
                    queue.appendleft(job)
                inflight.clear()
                _kill(pool)
                pool = None
    finally:
        if pool is not None:
            _kill(pool)
