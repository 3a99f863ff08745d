"""``python -m experiments.zoo_bench report RUN_DIR``: the leaderboard and aggregate score."""

from __future__ import annotations

import argparse

from .report import write_report


def main(argv: list[str] | None = None) -> int:
    """Parse the command line and write the report."""
    p = argparse.ArgumentParser(prog="python -m experiments.zoo_bench")
    sub = p.add_subparsers(dest="cmd", required=True)
    r = sub.add_parser("report", help="write leaderboard.md/.csv/.png into a zoo run directory")
    r.add_argument("run_dir")
    r.add_argument("--n-boot", type=int, default=1000, help="bootstrap draws (default 1000)")
    args = p.parse_args(argv)
    print(write_report(args.run_dir, n_boot=args.n_boot).read_text())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
