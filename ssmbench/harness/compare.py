"""Two runs metric by metric: :func:`compare_runs` (``ssmbench compare``, ``ssmbench.compare``).

Cells are matched on experiment, grid point and extra result columns; fixed parameters that
differ between the runs are reported, not used as keys. Metrics are averaged over seeds and
flagged ``CHANGED`` when ``|B/A - 1|`` exceeds the tolerance: ``time_rtol`` for timing metrics
(declared in the suite's ``timings``, or matching :data:`TIMING_PATTERN`), ``rtol`` otherwise.
"""

from __future__ import annotations

import math
import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from .records import read_records, records_to_table
from .spec import SuiteError
from .summary import META_COLUMNS

__all__ = ["Comparison", "compare_runs", "load_table", "TIMING_PATTERN"]

#: Metric names that are timings (compared with ``time_rtol``) unless a suite declares its own.
TIMING_PATTERN = re.compile(r"(_s$|_s_|time|seconds|per_s|speedup|vs_best|_over_fwd)")


@dataclass
class Comparison:
    """What :func:`compare_runs` returns: the joined table (experiment, keys, metric, A, B,
    ratio B/A, flag) and the notes on fixed parameters that differ."""

    table: pd.DataFrame
    notes: list[str] = field(default_factory=list)

    @property
    def changed(self) -> pd.DataFrame:
        """The rows flagged ``CHANGED``."""
        return self.table[self.table["flag"] == "CHANGED"]

    @property
    def missing(self) -> pd.DataFrame:
        """The rows present in one run only."""
        return self.table[self.table["flag"].astype(str).str.startswith("missing")]


def load_table(run_dir: Path) -> tuple[pd.DataFrame, list[dict]]:
    """The long table and the records of a run directory."""
    if not (run_dir / "records.jsonl").exists():
        raise SuiteError(f"{run_dir}: not a run directory (no records.jsonl)")
    recs = read_records(run_dir / "records.jsonl")
    return records_to_table(recs), recs


def _timings(run_dir: Path) -> set[str]:
    """Timing metrics a run's suite declares (experiments' ``timings`` keys)."""
    f = run_dir / "suite.toml"
    if not f.exists():
        return set()
    doc = tomllib.loads(f.read_text())
    return {m for e in doc.get("experiment", []) for m in e.get("timings", [])}


def compare_runs(
    run_a: str | Path,
    run_b: str | Path,
    *,
    rtol: float = 1e-6,
    time_rtol: float = 0.5,
    force: bool = False,
) -> Comparison:
    """Compare two run directories; runs of different suites are refused unless ``force``."""
    pa, pb = Path(run_a), Path(run_b)
    (a, ra), (b, rb) = load_table(pa), load_table(pb)
    sa, sb = {r.get("suite") for r in ra}, {r.get("suite") for r in rb}
    if sa != sb and not force:
        raise SuiteError(
            f"compare: the runs are of different suites (A: {', '.join(map(str, sa))}; B: "
            f"{', '.join(map(str, sb))}); pass --force to compare them anyway"
        )
    timings = _timings(pa) | _timings(pb)
    a, b = a[a["status"] == "ok"].copy(), b[b["status"] == "ok"].copy()
    point_keys = {k for r in ra + rb for k in r["point"]}
    param_keys = {k for r in ra + rb for k in r["params"]} - point_keys
    cols = {c for df in (a, b) for c in df.columns if c not in META_COLUMNS}
    keys = sorted(cols - param_keys)
    notes = []
    for k in sorted(param_keys):
        va = sorted(map(str, a[k].dropna().unique())) if k in a.columns else []
        vb = sorted(map(str, b[k].dropna().unique())) if k in b.columns else []
        if va != vb:
            notes.append(f"fixed parameter '{k}' differs: A {va} vs B {vb}")
    for df in (a, b):
        for k in keys:
            if k not in df.columns:
                df[k] = None
    group = ["experiment", *keys, "metric"]
    ga = a.groupby(group, dropna=False)["value"].mean().rename("A")
    gb = b.groupby(group, dropna=False)["value"].mean().rename("B")
    joined = ga.to_frame().join(gb, how="outer").reset_index()
    joined["ratio B/A"] = joined["B"] / joined["A"]

    def flag(r) -> str:
        if math.isnan(r["A"]):
            return "missing in A"
        if math.isnan(r["B"]):
            return "missing in B"
        timing = r["metric"] in timings or bool(TIMING_PATTERN.search(r["metric"]))
        tol = time_rtol if timing else rtol
        if r["A"] == 0:
            return "" if r["B"] == 0 else "CHANGED"
        return "CHANGED" if abs(r["ratio B/A"] - 1) > tol else ""

    joined["flag"] = joined.apply(flag, axis=1) if len(joined) else []
    shown = [c for c in joined.columns if joined[c].notna().any() or c in ("A", "B")]
    return Comparison(joined[shown], notes)
