"""``python -m experiments.zoo_bench report RUN_DIR [RUN_DIR ...] [--out DIR] [--supersede]``:
the leaderboard and aggregate score of one run, or of the parts of a run split with ``--only``."""

from __future__ import annotations

import argparse

from .report import write_report


def main(argv: list[str] | None = None) -> int:
    """Parse the command line and write the report."""
    p = argparse.ArgumentParser(prog="python -m experiments.zoo_bench")
    sub = p.add_subparsers(dest="cmd", required=True)
    r = sub.add_parser("report", help="write leaderboard.md/.csv/.png for zoo run directories")
    r.add_argument("run_dirs", nargs="+", help="a run directory, or the parts of a split run")
    r.add_argument("--out", default=None, help="where to write (default: the first RUN_DIR)")
    r.add_argument("--n-boot", type=int, default=1000, help="bootstrap draws (default 1000)")
    r.add_argument(
        "--supersede",
        action="store_true",
        help="a cell in several parts: use the last part's record (listed in the report)",
    )
    args = p.parse_args(argv)
    md = write_report(args.run_dirs, out=args.out, n_boot=args.n_boot, supersede=args.supersede)
    print(md.read_text())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
