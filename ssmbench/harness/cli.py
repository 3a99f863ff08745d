"""Command line: ``ssmbench run | report | compare | list``.

Exit status: 0 when everything ran cleanly, 1 when some cell errored or diverged (the run still
completes and records them), 2 for invalid input (a bad suite file, a bad option), and with
``--strict`` (run, report) 3 when every cell is clean but some check is REFUTED or INCONCLUSIVE;
130 (SIGINT) or 143 (SIGTERM) for an interrupted run, whose records and partial summary are
kept. ``compare --fail-on-change`` exits 1 when a metric changed or a cell or metric is missing.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tomllib
from pathlib import Path

from .._version import __version__
from ..models import LAYERS
from .cells import expand_cells
from .compare import compare_runs
from .executors import EXECUTORS
from .lock import RunLock
from .provenance import git_info
from .rundirs import default_out as _default_out
from .rundirs import latest_run as _latest_run
from .runner import RunInterrupted, finalize, run_suite
from .spec import SuiteError
from .suite import apply_overrides, load_suite
from .summary import markdown_table

__all__ = ["main"]


def cmd_run(args: argparse.Namespace) -> int:
    """``ssmbench run``: run a suite (or resume a run) and print its summary."""
    suite = load_suite(args.suite)
    if args.set:
        suite = apply_overrides(suite, args.set)
    resume = args.resume is not None
    if resume:
        out = Path(args.resume) if args.resume != "" else (Path(args.out) if args.out else None)
        if out is None:
            out = _latest_run(suite.name)
            if out is None:
                raise SuiteError(f"--resume: no earlier run of suite '{suite.name}' under results/")
    else:
        out = Path(args.out) if args.out else _default_out(suite.name)
    try:
        res = run_suite(
            suite,
            out,
            quick=args.quick,
            only=args.only,
            overrides=args.set,
            resume=resume,
            progress=None if args.no_progress else sys.stderr,
            seeds=args.seeds,
            force=args.force,
            allow_mixed_commits=args.allow_mixed_commits,
            executor=args.executor,
            workers=args.workers,
            cell_timeout=args.cell_timeout,
            pin=args.pin_workers,
            scheduler=args.scheduler,
        )
    except RunInterrupted as e:
        sys.stderr.write(f"\n{e}\n")
        return e.exit_code
    print((res.out_dir / "summary.md").read_text())
    print(f"run directory: {res.out_dir}")
    counts = ", ".join(f"{v} {k}" for k, v in sorted(res.counts.items()))
    print(f"cells: {counts} (ran {res.ran}, resumed past {res.skipped})")
    return _exit(1 if not res.clean else 0, res.verdicts, args.strict)


def _exit(code: int, verdicts: list, strict: bool) -> int:
    """The exit status: ``code``, or 3 under ``--strict`` when a check is not CONFIRMED."""
    open_ = [v for v in verdicts if v.status != "CONFIRMED"]
    if code == 0 and strict and open_:
        for v in open_:
            sys.stderr.write(f"ssmbench: --strict: {v.status}: {v.check.claim}\n")
        return 3
    return code


def cmd_report(args: argparse.Namespace) -> int:
    """Rebuild table.csv, summary.md and the plots of a run from its records.jsonl.

    Works on a finished, an interrupted or a resumed run: the suite is reloaded from the run's
    own ``suite.toml`` copy with the invocation in ``run.json`` (``--quick/--only/--set/--seeds``),
    so the summary counts the recorded cells against the cells the run was meant to have and
    evaluates the checks on what is there.
    """
    run_dir = Path(args.run_dir)
    if not (run_dir / "records.jsonl").exists():
        raise SuiteError(f"{run_dir}: not a run directory (no records.jsonl)")
    suite_file = run_dir / "suite.toml"
    if not suite_file.exists():
        raise SuiteError(f"{run_dir}: no suite.toml copy, cannot rebuild the summary")
    inv = json.loads((run_dir / "run.json").read_text()) if (run_dir / "run.json").exists() else {}
    suite = load_suite(suite_file, checks_from=args.checks)
    if inv.get("set"):
        suite = apply_overrides(suite, inv["set"])
    cells = expand_cells(
        suite,
        quick=bool(inv.get("quick")),
        only=inv.get("only") or None,
        seeds=inv.get("seeds") or None,
    )
    env = json.loads((run_dir / "env.json").read_text()) if (run_dir / "env.json").exists() else {}
    note = ""
    if args.checks:
        commit = (git_info().get("git_commit") or "unknown")[:12]
        note = (
            f"Checks re-judged from `{args.checks}` at commit `{commit}` (ssmbench "
            f"{__version__}); the cells are the run's own, from its `suite.toml` copy."
        )
    with RunLock(run_dir, "report"):
        _, verdicts = finalize(run_dir, suite, cells, env, note=note)
    print((run_dir / "summary.md").read_text())
    for p in sorted(run_dir.glob("plot*.png")):
        print(f"plot: {p}")
    return _exit(0, verdicts, args.strict)


def cmd_compare(args: argparse.Namespace) -> int:
    """``ssmbench compare``: two runs metric by metric, with changes and gaps flagged (see
    :func:`ssmbench.harness.compare.compare_runs`). With ``--fail-on-change`` a change beyond
    tolerance, or a cell or metric present in one run only, exits 1.
    """
    cmp = compare_runs(args.run_a, args.run_b, rtol=args.rtol, time_rtol=args.time_rtol,
                       force=args.force)  # fmt: skip
    for note in cmp.notes:
        print(f"note: {note}")
    joined = cmp.table
    if args.changed_only:
        joined = joined[joined["flag"] != ""]
    print(
        f"A = {args.run_a}\nB = {args.run_b}\ntolerance: |B/A - 1| > {args.rtol} "
        f"(timings: > {args.time_rtol})\n"
    )
    print(markdown_table(joined) if len(joined) else "(nothing to compare)")
    n, missing = len(cmp.changed), cmp.missing
    print(f"\n{n} metric(s) changed beyond tolerance; {len(missing)} missing on one side")
    for side in ("A", "B"):
        miss = missing[missing["flag"] == f"missing in {side}"]
        if len(miss):
            exps = ", ".join(
                f"{e} ({k} rows)" for e, k in miss["experiment"].value_counts().items()
            )
            print(f"missing in {side}: {exps}")
    return 1 if ((n or len(missing)) and args.fail_on_change) else 0


def cmd_list(args: argparse.Namespace) -> int:
    """``ssmbench list``: the suites with their experiments and claims, and the zoo's layers."""
    sdir = Path(args.suites_dir)
    files = sorted(sdir.glob("*.toml")) if sdir.is_dir() else []
    if not files:
        print(f"no suites under {sdir}/")
    for f in files:
        try:
            s = load_suite(f)
        except SuiteError as e:
            print(f"{f}: INVALID: {e}")
            continue
        print(f"{f}  [{s.name}] {s.description}")
        for e in s.experiments:
            ncells = len(e.seeds)
            for v in e.grid.values():
                ncells *= len(v)
            print(f"  experiment {e.name}: {e.run} ({ncells} cells)")
        for c in s.checks:
            print(f"  claim ({c.kind}, {c.experiment}): {c.claim}")
    print("models: " + ", ".join(LAYERS))
    return 0


def _names(text: str) -> list[str]:
    """A comma-separated list of names (``--only a,b``)."""
    names = [t.strip() for t in text.split(",") if t.strip()]
    if not names:
        raise argparse.ArgumentTypeError(f"expected NAME[,NAME...], got {text!r}")
    return names


def _ints(text: str) -> list[int]:
    """A comma-separated list of integers (``--seeds 0,2``)."""
    try:
        return [int(t) for t in _names(text)]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected integers S[,S...], got {text!r}") from None


_STRICT = "exit 3 if any check is REFUTED or INCONCLUSIVE (and every cell is clean)"


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the ``ssmbench`` command."""
    p = argparse.ArgumentParser(prog="ssmbench", description=__doc__.splitlines()[0])
    p.add_argument("--version", action="version", version=f"ssmbench {__version__}")
    sub = p.add_subparsers(dest="cmd", required=True)
    r = sub.add_parser("run", help="run a suite file")
    r.add_argument("suite", help="path to a suite TOML file")
    r.add_argument("--out", help="run directory (default results/<suite>/<UTC time>-<commit>/)")
    r.add_argument(
        "--resume",
        nargs="?",
        const="",
        default=None,
        metavar="DIR",
        help="continue a run, skipping recorded cells (DIR, else --out, else the latest run)",
    )
    r.add_argument("--quick", action="store_true", help="let experiments shrink their sizes")
    r.add_argument(
        "--only",
        type=_names,
        action="extend",
        metavar="NAME[,NAME...]",
        help="run only these experiments (comma-separated; repeatable)",
    )
    r.add_argument(
        "--seeds",
        type=_ints,
        action="extend",
        metavar="S[,S...]",
        help="run only these of the suite's seeds (comma-separated; repeatable)",
    )
    r.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="[EXP.]KEY=VALUE",
        help="override a parameter (TOML value; bare words are strings)",
    )
    r.add_argument("--no-progress", action="store_true", help="no per-cell progress on stderr")
    r.add_argument("--strict", action="store_true", help=_STRICT)
    r.add_argument(
        "--force", action="store_true", help="--resume even if the suite file's content changed"
    )
    r.add_argument(
        "--allow-mixed-commits",
        action="store_true",
        help="--resume a run started at another commit (the summary lists every commit)",
    )
    r.add_argument(
        "--executor",
        choices=EXECUTORS,
        default="local",
        help="local: cells one by one in this process (default); process: one cell per spawned "
        "worker process, --workers at a time; dask: one task per cell on a dask.distributed "
        "cluster (--scheduler, else a LocalCluster of --workers processes; ssmbench[cluster])",
    )
    r.add_argument(
        "--workers",
        type=int,
        help="worker processes of --executor process or of dask's LocalCluster (default 2)",
    )
    r.add_argument(
        "--scheduler",
        metavar="ADDRESS",
        help="--executor dask: the address of an existing scheduler (e.g. tcp://host:8786)",
    )
    r.add_argument(
        "--cell-timeout",
        type=float,
        metavar="SECONDS",
        help="--executor process or dask: record a cell running longer than this as an error "
        "and go on",
    )
    r.add_argument(
        "--pin-workers",
        action="store_true",
        help="--executor process: bind worker i to CPU i (as taskset -c i)",
    )
    r.set_defaults(func=cmd_run)
    rep = sub.add_parser(
        "report",
        help="rebuild a run's table, summary and plots from its records (also an interrupted run)",
    )
    rep.add_argument("run_dir")
    rep.add_argument(
        "--checks",
        metavar="SUITE",
        help="judge with this suite file's [[check]] tables instead of the run's own copy",
    )
    rep.add_argument("--strict", action="store_true", help=_STRICT)
    rep.set_defaults(func=cmd_report)
    c = sub.add_parser("compare", help="compare two runs metric by metric")
    c.add_argument("run_a")
    c.add_argument("run_b")
    c.add_argument(
        "--rtol", type=float, default=1e-6, help="non-timing metrics: flag |B/A - 1| above this"
    )
    c.add_argument(
        "--time-rtol", type=float, default=0.5, help="timing metrics: flag |B/A - 1| above this"
    )
    c.add_argument("--force", action="store_true", help="compare runs of different suites")
    c.add_argument("--changed-only", action="store_true")
    c.add_argument(
        "--fail-on-change",
        action="store_true",
        help="exit 1 if a metric changed, or a cell or metric is missing on one side",
    )
    c.set_defaults(func=cmd_compare)
    ls = sub.add_parser("list", help="list suites, their experiments and claims, and models")
    ls.add_argument("--suites-dir", default="suites")
    ls.set_defaults(func=cmd_list)
    return p


def main(argv: list[str] | None = None) -> int:
    """Run the command line; returns the exit status (0 clean, 1 unclean cells, 2 invalid input)."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return args.func(args)
    except SuiteError as e:
        sys.stderr.write(f"ssmbench: error: {e}\n")
        return 2
    except (json.JSONDecodeError, tomllib.TOMLDecodeError, subprocess.SubprocessError) as e:
        sys.stderr.write(f"ssmbench: error: {e}\n")
        return 2


if __name__ == "__main__":
    sys.exit(main())
