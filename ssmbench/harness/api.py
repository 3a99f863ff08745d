"""The Python API of runs: :func:`run_suite` (a suite as a path, TOML text, a dict or a
:class:`~ssmbench.harness.spec.Suite`), :func:`load_run` and :func:`compare`.

Each returns plain objects: a :class:`~ssmbench.harness.runner.RunResult` (the run directory,
the long table as a pandas DataFrame, the verdicts as :class:`~ssmbench.harness.verdict.Verdict`
objects with ``claim``, ``verdict``, ``estimate``, ``interval`` and ``scope``), or a
:class:`~ssmbench.harness.compare.Comparison`.
"""

from __future__ import annotations

import json
import shutil
import sys
import tempfile
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any, TextIO

from .cells import expand_cells
from .checks import evaluate
from .compare import Comparison, compare_runs, load_table
from .rundirs import default_out, latest_run
from .runner import RunResult
from .runner import run_suite as _run
from .spec import Suite, SuiteError
from .suite import apply_overrides, load_suite

__all__ = ["run_suite", "load_run", "compare"]

SuiteLike = Suite | str | Path | Mapping[str, Any]


def _is_toml_text(s: str) -> bool:
    """A string holding a suite's TOML rather than a path to one."""
    return "\n" in s or s.lstrip().startswith("[")


def _suite_text(suite: str | Mapping[str, Any]) -> str:
    """TOML text of a suite given as text or as a dict (checked to parse)."""
    if isinstance(suite, Mapping):
        import tomli_w

        try:
            return tomli_w.dumps(dict(suite))
        except TypeError as e:
            hint = " (TOML has no null: leave the key out)" if "NoneType" in str(e) else ""
            raise SuiteError(f"suite dict: cannot be written as TOML: {e}{hint}") from None
    try:
        tomllib.loads(suite)
    except tomllib.TOMLDecodeError as e:
        raise SuiteError(f"suite text: not valid TOML: {e}") from None
    return suite


def run_suite(
    suite: SuiteLike,
    out: str | Path | None = None,
    *,
    quick: bool = False,
    only: list[str] | None = None,
    seeds: list[int] | None = None,
    resume: bool | str | Path | None = None,
    executor: str | None = None,
    workers: int | None = None,
    cell_timeout: float | None = None,
    scheduler: str | None = None,
    overrides: list[str] | None = None,
    progress: TextIO | None = sys.stderr,
    **kwargs: Any,
) -> RunResult:
    """Run a suite and return its :class:`~ssmbench.harness.runner.RunResult`.

    ``suite``: a path to a suite file, the TOML text of one, a dict of the same tables, or a
    parsed :class:`Suite`. Text and dicts are written to a temporary file for the run, and the
    run directory keeps them as ``suite.toml``, so ``ssmbench report`` and ``--resume`` work on
    them as on any run. ``out``: the run directory (default
    ``results/<suite>/<UTC time>-<commit>/``). ``resume``: True to continue ``out`` (or, without
    ``out``, the suite's latest run under ``results/``), or the directory to continue.
    ``executor`` (``"local"`` default, ``"process"`` or ``"dask"``), ``workers``,
    ``cell_timeout`` and ``scheduler`` (a dask scheduler's address) as for ``ssmbench run``; ``overrides``: ``--set`` strings (``"width=[64, 128]"``); other keyword
    arguments (``force``, ``allow_mixed_commits``, ``pin``) go to
    :func:`ssmbench.harness.runner.run_suite`.
    """
    tmp = None
    try:
        if isinstance(suite, Suite):
            parsed = suite
        elif isinstance(suite, Path) or (isinstance(suite, str) and not _is_toml_text(suite)):
            if not Path(suite).is_file():
                raise SuiteError(f"no suite file at {suite}")
            parsed = load_suite(suite)
        elif isinstance(suite, (str, Mapping)):
            tmp = Path(tempfile.mkdtemp(prefix="ssmbench-suite-"))
            (tmp / "suite.toml").write_text(_suite_text(suite), encoding="utf-8")
            label = "<suite dict>" if isinstance(suite, Mapping) else "<suite text>"
            try:
                parsed = load_suite(tmp / "suite.toml")
            except SuiteError as e:  # name what the user gave, not the temporary file
                raise SuiteError(str(e).replace(str(tmp / "suite.toml"), label)) from None
        else:
            raise SuiteError(
                f"suite must be a path, TOML text, a dict or a Suite, got {type(suite).__name__}"
            )
        if overrides:
            parsed = apply_overrides(parsed, overrides)
        if resume not in (None, False):
            if resume is True:
                out = out if out is not None else latest_run(parsed.name)
                if out is None:
                    raise SuiteError(f"resume: no earlier run of suite '{parsed.name}'")
            else:
                out = resume
        elif out is None:
            out = default_out(parsed.name)
        return _run(
            parsed, out, quick=quick, only=only, seeds=seeds, overrides=overrides,
            resume=resume not in (None, False), progress=progress,
            executor=executor or "local", workers=workers, cell_timeout=cell_timeout,
            scheduler=scheduler, **kwargs,
        )  # fmt: skip
    finally:
        if tmp is not None:
            shutil.rmtree(tmp, ignore_errors=True)


def load_run(run_dir: str | Path) -> RunResult:
    """A finished (or interrupted) run directory as a :class:`RunResult`, without running or
    writing anything: its table from ``records.jsonl``, its verdicts re-evaluated from its own
    ``suite.toml`` copy and invocation (``run.json``), as ``ssmbench report`` does. Loading the
    suite imports the experiments it names, so run it where they are importable (the repository
    root for ``experiments.*``)."""
    d = Path(run_dir)
    table, recs = load_table(d)
    if not (d / "suite.toml").exists():
        raise SuiteError(f"{d}: no suite.toml copy, cannot judge the run's checks")
    inv = json.loads((d / "run.json").read_text()) if (d / "run.json").exists() else {}
    suite = load_suite(d / "suite.toml")
    if inv.get("set"):
        suite = apply_overrides(suite, inv["set"])
    cells = expand_cells(suite, quick=bool(inv.get("quick")), only=inv.get("only") or None,
                         seeds=inv.get("seeds") or None)  # fmt: skip
    wanted = {c.cell_id for c in cells}
    table = table[table["cell_id"].isin(wanted)].reset_index(drop=True)
    ran = [e.name for e in suite.experiments if any(c.experiment == e.name for c in cells)]
    verdicts = [evaluate(c, table) for c in suite.checks if c.experiment in ran]
    counts = (
        table.drop_duplicates("cell_id")["status"].value_counts().to_dict() if len(table) else {}
    )
    n = len({r["cell_id"] for r in recs} & wanted)
    return RunResult(d, table, verdicts, counts, ran=0, skipped=n)


def compare(
    run_a: str | Path,
    run_b: str | Path,
    *,
    rtol: float = 1e-6,
    time_rtol: float = 0.5,
    force: bool = False,
) -> Comparison:
    """Two runs metric by metric, as ``ssmbench compare``: a :class:`Comparison` whose
    ``table`` has A, B, ``ratio B/A`` and ``flag`` ("CHANGED", "missing in A/B" or "")."""
    return compare_runs(run_a, run_b, rtol=rtol, time_rtol=time_rtol, force=force)
