"""The run-directory lock: one writer per run directory, for the whole run.

The lock is an OS file lock (``filelock``, ``flock`` on POSIX) on ``RUN_DIR/.lock``. The kernel
releases it when the holding process dies, however it dies, so a lock left by a killed run is
never stuck. Beside it, ``.lock.json`` names the holder (host, pid, start time). A second writer
reads that file and fails at once with a :class:`RunLocked` error naming the holder. A writer
that acquires the lock and finds a ``.lock.json`` whose holder is gone has taken over a stale
lock, and says so on stderr.
"""

from __future__ import annotations

import json
import os
import socket
import sys
from pathlib import Path
from typing import Any

from filelock import FileLock, Timeout

from .provenance import utc_now
from .spec import SuiteError

__all__ = ["RunLock", "RunLocked"]


class RunLocked(SuiteError):
    """Another process holds the run directory's lock (the message names it)."""


def _holder_text(info: dict[str, Any]) -> str:
    """The holder of a lock in words."""
    return (
        f"host {info.get('host', '?')}, pid {info.get('pid', '?')}, started "
        f"{info.get('started', '?')} ({info.get('command', '?')})"
    )


class RunLock:
    """Hold ``RUN_DIR/.lock`` for the duration of a ``with`` block (a context manager).

    ``command`` names what holds it (``run`` or ``report``), for the message a second writer sees.
    """

    def __init__(self, run_dir: str | Path, command: str = "run"):
        self.dir = Path(run_dir)
        self.command = command
        self._lock = FileLock(str(self.dir / ".lock"), timeout=0)
        self.took_over: dict[str, Any] | None = None

    @property
    def info_path(self) -> Path:
        """The file that names the holder."""
        return self.dir / ".lock.json"

    def __enter__(self) -> RunLock:
        """Take the lock, or raise :class:`RunLocked` naming the process that holds it."""
        self.dir.mkdir(parents=True, exist_ok=True)
        try:
            self._lock.acquire()
        except Timeout:
            try:
                info = json.loads(self.info_path.read_text())
            except (OSError, json.JSONDecodeError):
                info = {}
            raise RunLocked(
                f"{self.dir} is in use by another ssmbench process ({_holder_text(info)}); "
                f"wait for it, or use another --out"
            ) from None
        if self.info_path.exists():  # left by a holder that died without releasing
            try:
                self.took_over = json.loads(self.info_path.read_text())
            except (OSError, json.JSONDecodeError):
                self.took_over = {}
            sys.stderr.write(
                f"note: taking over a stale lock on {self.dir} ({_holder_text(self.took_over)})\n"
            )
        info = {
            "host": socket.gethostname(),
            "pid": os.getpid(),
            "started": utc_now(),
            "command": self.command,
        }
        self.info_path.write_text(json.dumps(info) + "\n")
        os.chmod(self.info_path, 0o644)
        return self

    def __exit__(self, *exc: object) -> None:
        """Remove the holder file and release the lock."""
        self.info_path.unlink(missing_ok=True)
        self._lock.release()
