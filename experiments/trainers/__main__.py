"""``python -m experiments.trainers plot|table RUN_DIR [OUT_DIR]``: the plots or the comparison
tables of a trainers run directory."""

import sys

from .report import comparison_table, plot_curves


def main(argv: list[str]) -> int:
    """Print the paths of the plots, or the tables; the exit status."""
    if len(argv) >= 2 and argv[0] == "plot":
        for path in plot_curves(argv[1], argv[2] if len(argv) > 2 else None):
            print(path)
    elif len(argv) >= 2 and argv[0] == "table":
        print(comparison_table(argv[1]))
    else:
        print("usage: python -m experiments.trainers plot|table RUN_DIR [OUT_DIR]", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
