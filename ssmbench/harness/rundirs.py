"""Where runs live by default: ``results/<suite>/<UTC time>-<commit>/``."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from .provenance import git_info

__all__ = ["default_out", "latest_run"]


def default_out(suite_name: str) -> Path:
    """The default run directory: ``results/<suite>/<UTC time>-<commit>/``."""
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%SZ")
    commit = (git_info().get("git_commit") or "unknown")[:7]
    return Path("results") / suite_name / f"{stamp}-{commit}"


def latest_run(suite_name: str) -> Path | None:
    """The newest run directory of a suite under ``results/``, if any."""
    base = Path("results") / suite_name
    runs = (
        sorted(p for p in base.glob("*") if (p / "records.jsonl").exists()) if base.is_dir() else []
    )
    return runs[-1] if runs else None
