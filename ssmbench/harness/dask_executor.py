"""The ``dask`` executor: each cell a task on a ``dask.distributed`` cluster.

``run_dask`` connects to the scheduler at ``scheduler`` (an address such as
``tcp://10.0.0.5:8786``, e.g. a dask-jobqueue ``SLURMCluster``'s) or, without one, starts a
``LocalCluster`` of ``workers`` single-threaded worker processes (started by ``spawn``, the
distributed default, never ``fork``). The driver stays the only writer of ``records.jsonl``:
tasks return records and :func:`ssmbench.harness.runner.run_suite` appends and fsyncs each.

- **In flight**: the driver hands each cell to an idle worker (``workers=[address]``), one
  cell per worker at a time, so a worker's death is charged only to the cell it ran;
  ``cell_timeout`` is counted from the cell's start on its worker (reported on a dask
  ``Queue`` once the worker has imported the cell's function). Give each worker
  of an existing cluster one thread (``--nthreads 1``): cells are not thread-safe together, and
  XLA already uses the worker's cores.
- **A worker killed mid-cell** (SIGKILL, a crash, the OOM killer): the cell fails with
  ``KilledWorker`` (the ``LocalCluster`` sets ``distributed.scheduler.allowed-failures = 0``;
  an existing scheduler retries by its own setting first) and the driver reruns it once on
  another worker; a second death is recorded ``status="error"`` with the reason.
- **Timeout**: a cell over ``cell_timeout`` seconds is recorded ``status="error"`` (timeout),
  cancelled, and its worker process ended (its nanny starts a fresh one; no cell goes to that
  worker meanwhile).
- **Exclusive cells** (``exclusive = true`` in the suite) run with nothing else in flight.
- **Imports**: the cell's function is loaded on the worker from its ``run`` path, after the
  driver's ``sys.path`` (the suite's directory among it) is appended to the worker's.
"""

from __future__ import annotations

import collections
import os
import sys
import time
from collections.abc import Callable, Iterator
from typing import Any

from .._validate import load_dotted
from .cellrun import error_record, run_cell
from .executors import Job, may_start
from .spec import Cell, SuiteError

__all__ = ["run_dask", "cell_task", "exit_worker"]

#: Seconds a worker ended for a timeout is kept idle while the scheduler still lists it.
_GONE_S = 120.0


def cell_task(paths: list[str], cell: Cell, accepts_quick: bool, started: str = "",
              serial: int = 0) -> dict[str, Any]:  # fmt: skip
    """The worker's side: the driver's import path, the cell's function by its ``run`` path,
    the start reported on the queue named ``started`` (the timeout's clock), one cell (never
    raises for the experiment's own errors)."""
    for p in paths:
        if p not in sys.path:
            sys.path.append(p)
    try:
        fn = load_dotted(cell.run, "experiment")
    except ValueError as e:
        return error_record(cell, f"on the dask worker: {e}", None)
    if started:
        _import_distributed().Queue(started).put((serial, time.time()))
    return run_cell(fn, cell, accepts_quick)


def _import_distributed() -> Any:
    """dask.distributed, or a SuiteError saying how to install it."""
    try:
        import distributed
    except ImportError as e:
        raise SuiteError(
            "--executor dask needs dask.distributed: pip install 'ssmbench[cluster]'"
        ) from e
    return distributed


def run_dask(
    jobs: list[Job],
    on_start: Callable[[Cell], None] = lambda c: None,
    *,
    scheduler: str | None = None,
    workers: int = 2,
    cell_timeout: float | None = None,
) -> Iterator[dict[str, Any]]:
    """Run each cell as a task on a dask cluster; yield records as cells finish (any order)."""
    distributed = _import_distributed()
    import dask

    # a worker's death fails its cell at once (KilledWorker); the driver retries it once itself
    with dask.config.set({"distributed.scheduler.allowed-failures": 0}):
        cluster = None
        if scheduler is None:
            cluster = distributed.LocalCluster(
                n_workers=workers, threads_per_worker=1, processes=True,
                dashboard_address=None,
            )  # fmt: skip
        try:
            client = distributed.Client(cluster if cluster is not None else scheduler)
        except OSError as e:
            if cluster is not None:
                cluster.close()
            raise SuiteError(f"cannot reach the dask scheduler {scheduler!r}: {e}") from e
        try:
            client.wait_for_workers(1, timeout=120)
            yield from _drive(client, distributed, jobs, on_start, cell_timeout)
        finally:
            client.close()
            if cluster is not None:
                cluster.close()


def _drive(client, distributed, jobs, on_start, cell_timeout) -> Iterator[dict[str, Any]]:
    """Hand each cell to an idle worker, yield finished records, retry a cell whose worker died
    once, enforce the timeout."""
    paths = list(sys.path)
    started_q = (
        None
        if cell_timeout is None
        else distributed.Queue(f"ssmbench-started-{os.getpid()}-{time.time_ns()}")
    )
    started: dict[int, float] = {}  # submission -> when its worker began the cell
    queue = collections.deque(jobs)
    inflight: dict[Any, tuple[Job, float, str]] = {}  # future -> (job, submitted, worker)
    deaths: collections.Counter[str] = collections.Counter()
    last_worker: dict[str, str] = {}  # cell_id -> the worker it died on
    stopped: dict[str, float] = {}  # workers ended for a timeout, until the scheduler drops them
    serial = 0
    while queue or inflight:
        addrs = list(client.scheduler_info(n_workers=-1)["workers"])
        now = time.time()
        stopped = {a: t for a, t in stopped.items() if a in addrs and now - t < _GONE_S}
        busy = {w for _, _, w in inflight.values()} | set(stopped)
        idle = [a for a in addrs if a not in busy]
        running = [j for j, _, _ in inflight.values()]
        while queue and idle and may_start(queue[0], running):
            job = queue.popleft()
            cid = job[0].cell_id
            if cid not in last_worker:
                on_start(job[0])
            # a retry goes to another worker where there is one
            w = next((a for a in idle if a != last_worker.get(cid)), idle[0])
            idle.remove(w)
            serial += 1
            fut = client.submit(cell_task, paths, job[0], job[2],
                                started_q.name if started_q is not None else "", serial,
                                pure=False, key=f"cell-{cid}-{serial}", workers=[w],
                                allow_other_workers=True)  # fmt: skip
            inflight[fut] = (job, serial, w)
            running.append(job)
        waits = [1.0] if queue else []  # poll for restarted workers while cells wait
        if cell_timeout is not None and inflight:
            started.update(started_q.get(batch=True))
            ends = [started[n] + cell_timeout for _, n, _ in inflight.values() if n in started]
            waits.append(min(ends) - time.time() if ends else 0.5)
            if len(ends) < len(inflight):
                waits.append(0.5)  # poll until every cell has started
        timeout = max(0.0, min(waits)) if waits else None
        finished = set()
        if inflight:
            try:
                finished = distributed.wait(list(inflight), timeout=timeout,
                                            return_when="FIRST_COMPLETED").done  # fmt: skip
            except TimeoutError:
                pass
        else:
            time.sleep(timeout or 0.1)
        for fut in finished:
            job, n, w = inflight.pop(fut)
            t0 = started.get(n, time.time())
            exc = fut.exception() if fut.status != "finished" else None
            if isinstance(exc, distributed.KilledWorker) and deaths[job[0].cell_id] == 0:
                deaths[job[0].cell_id] += 1
                last_worker[job[0].cell_id] = w
                queue.appendleft(job)  # retried once, on another worker
            else:
                yield _result(fut, job, t0, exc, distributed)
            fut.release()  # else a worker's later death makes the scheduler recompute the cell
        if cell_timeout is not None:
            started.update(started_q.get(batch=True))
            now = time.time()
            late = [f for f, (_, n, _) in inflight.items()
                    if n in started and now - started[n] >= cell_timeout]  # fmt: skip
            for fut in late:
                job, n, w = inflight.pop(fut)
                t0 = started[n]
                _stop(client, fut, w)
                stopped[w] = now
                yield error_record(job[0], f"timeout: the cell ran over --cell-timeout "
                                   f"{cell_timeout:g} s and was cancelled", now - t0)  # fmt: skip


def _result(fut, job: Job, t0: float, exc: BaseException | None, distributed) -> dict[str, Any]:
    """A finished future's record, or the error record of a task that failed."""
    if exc is None:
        return fut.result()
    if isinstance(exc, distributed.KilledWorker):
        msg = ("the worker process died (killed, crashed or out of memory) twice running this "
               "cell (retried once on another worker)")  # fmt: skip
    else:
        msg = f"{type(exc).__name__} on the dask worker: {exc}"
    return error_record(job[0], msg, time.time() - t0)


def _stop(client, fut, worker: str) -> None:
    """Cancel a late cell and end its worker's process at once (``os._exit`` on the worker's
    event loop, which runs beside the busy task thread); its nanny starts a fresh one."""
    client.cancel(fut, force=True)
    fut.release()
    try:
        client.run(exit_worker, workers=[worker], wait=False)
    except Exception:  # noqa: BLE001 - the worker is already gone
        pass


async def exit_worker() -> None:
    """End this worker's process now (run on its event loop by :func:`_stop`; ``client.run``
    takes only a coroutine function without waiting)."""
    os._exit(1)
