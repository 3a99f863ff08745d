"""Provenance of a run: versions, device, CPU, the git commit of ssmbench, the date."""

from __future__ import annotations

import datetime as _dt
import os
import platform
import socket
import subprocess
import sys
from importlib import metadata
from pathlib import Path
from typing import Any

import jax

from .._version import __version__

__all__ = ["PROVENANCE_COLUMNS", "capture_env", "git_info", "utc_now", "worker_info"]

PROVENANCE_COLUMNS = [
    "suite", "git_commit", "git_dirty", "jax", "jaxlib", "device", "host", "date"
]  # fmt: skip


def utc_now() -> str:
    """The current UTC time, ISO 8601 to the second."""
    return _dt.datetime.now(_dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _version(pkg: str) -> str | None:
    """The installed version of ``pkg``, or None."""
    try:
        return metadata.version(pkg)
    except metadata.PackageNotFoundError:
        return None


def git_info(start: str | Path | None = None) -> dict[str, Any]:
    """Commit and dirty flag of the repository holding ``start`` (default: this package).

    For the package itself the repository must track the package's own files: a wheel installed
    into a virtual environment that sits inside some other repository reports no commit
    (``None``), not that repository's.
    """
    own = start is None
    where = Path(start).resolve() if start else Path(__file__).resolve().parents[1]  # ssmbench/
    if where.is_file():
        where = where.parent
    try:
        if own:
            subprocess.run(
                ["git", "-C", str(where), "ls-files", "--error-unmatch", "_version.py"],
                capture_output=True,
                check=True,
                timeout=10,
                cwd=str(where),
            )
    except (OSError, subprocess.SubprocessError):
        return {"git_commit": None, "git_dirty": None}
    try:
        commit = subprocess.run(
            ["git", "-C", str(where), "rev-parse", "HEAD"],
            capture_output=True,
            text=True,
            check=True,
            timeout=10,
        ).stdout.strip()
        dirty = bool(
            subprocess.run(
                ["git", "-C", str(where), "status", "--porcelain", "--untracked-files=no"],
                capture_output=True,
                text=True,
                check=True,
                timeout=10,
            ).stdout.strip()
        )
        return {"git_commit": commit, "git_dirty": dirty}
    except (OSError, subprocess.SubprocessError):
        return {"git_commit": "unknown", "git_dirty": None}


def _cpu_model() -> str:
    """The CPU's model name (from /proc/cpuinfo where it exists)."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def worker_info() -> dict[str, Any]:
    """Where a cell ran: host name, process id and JAX device of this process."""
    d0 = jax.devices()[0]
    return {
        "host": socket.gethostname(),
        "pid": os.getpid(),
        "device": f"{d0.platform}:{getattr(d0, 'device_kind', d0.platform)}",
    }


def capture_env(suite_path: str | Path | None = None) -> dict[str, Any]:
    """Provenance of this process: versions, device, CPU, ssmbench's own git commit (None for an
    installed wheel), the suite file's repository commit (``suite_git_commit``), the date."""

    devices = jax.devices()
    env = {
        "date": utc_now(),
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "ssmbench": __version__,
        "jax": jax.__version__,
        "jaxlib": _version("jaxlib"),
        **{p: _version(p) for p in ("equinox", "optax", "diffrax", "signax", "numpy", "pandas")},
        "backend": jax.default_backend(),
        "device": worker_info()["device"],
        "host": socket.gethostname(),
        "device_count": len(devices),
        "cpu": _cpu_model(),
        "cpu_count": os.cpu_count(),
        "x64": bool(jax.config.read("jax_enable_x64")),
        **git_info(),
    }
    if suite_path is not None and Path(suite_path).is_file():
        g = git_info(suite_path)
        env["suite_git_commit"], env["suite_git_dirty"] = g["git_commit"], g["git_dirty"]
    return env
