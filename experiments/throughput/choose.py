"""The measured choice behind ``method="auto"``: which scan method a throughput run favours.

``python -m experiments.throughput choose RUN_DIR OUT.json`` writes the backend's entry into
``OUT.json`` (never into the installed package). To change what ``auto`` picks, copy the entry
into ``ssmbench/scan/scan_choice.json`` and commit it with the run directory it came from.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

__all__ = ["choose_auto", "write_choice"]

_SCAN_PRIMITIVES = ("selective_scan", "linear_recurrence")
_EXPLICIT = ("sequential", "associative", "chunked")


def choose_auto(table: Any, *, min_L: int = 1024) -> dict[str, Any]:
    """The scan method ``auto`` should pick, from a throughput run's long table.

    Over every measured (experiment, width, state size, L >= ``min_L``, pass) of the bare scan
    workloads (``selective_scan``, ``linear_recurrence``), each explicit method's time is divided
    by the best explicit time of that group; the method with the smallest geometric-mean ratio
    wins. Returns ``{"method", "score" (geometric-mean ratio per method), "worst" (largest ratio
    of the winner), "groups"}``.
    """
    df = table[
        (table["metric"] == "time_s")
        & (table["status"] == "ok")
        & table["model"].isin(_SCAN_PRIMITIVES)
        & table["method"].isin(_EXPLICIT)
        & (table["L"] >= min_L)
    ]
    if df.empty:
        raise ValueError("no time_s rows of the scan workloads at L >= min_L in this table")
    keys = [k for k in ("experiment", "d_model", "n", "L", "pass") if k in df.columns]
    ratios: dict[str, list[float]] = {m: [] for m in _EXPLICIT}
    groups = 0
    for _, g in df.groupby(keys):
        t = g.groupby("method")["value"].median()
        if len(t) < 2:
            continue
        groups += 1
        for m, v in t.items():
            ratios[m].append(float(v / t.min()))
    full = [m for m in _EXPLICIT if len(ratios[m]) == groups and groups]
    if not full:
        raise ValueError("no explicit method was measured in every comparison group")
    score = {m: float(np.exp(np.mean(np.log(ratios[m])))) for m in full}
    best = min(score, key=score.__getitem__)
    return {"method": best, "score": score, "worst": max(ratios[best]), "groups": groups}


def write_choice(run_dir: str | Path, out: str | Path) -> dict[str, Any]:
    """Write (or update) the backend's entry of the choice file ``out`` from a run directory.

    ``out`` is a path outside the package; see the module docstring for how a choice is adopted.
    """
    run = Path(run_dir)
    env = json.loads((run / "env.json").read_text())
    backend = str(env.get("backend") or str(env.get("device", "cpu")).split(":")[0]).lower()
    choice = choose_auto(pd.read_csv(run / "table.csv"))
    path = Path(out)
    data = json.loads(path.read_text()) if path.exists() else {"backends": {}}
    data["backends"][backend] = {
        "method": choice["method"],
        "measured": True,
        "source": str(run),
        "git_commit": env.get("git_commit"),
        "device": env.get("device"),
        "cpu": env.get("cpu"),
        "date": env.get("date"),
        "geomean_time_vs_best": {k: round(v, 3) for k, v in choice["score"].items()},
        "worst_time_vs_best": round(choice["worst"], 3),
        "comparisons": choice["groups"],
    }
    path.write_text(json.dumps(data, indent=2) + "\n")
    return data["backends"][backend]
