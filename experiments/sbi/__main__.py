"""``python -m experiments.sbi plot RUN_DIR [OUT_DIR]``: the posterior-marginal plots of a run."""

import sys

from .report import plot_marginals


def main(argv: list[str]) -> int:
    """Print the paths of the plots written; the exit status."""
    if len(argv) >= 2 and argv[0] == "plot":
        for path in plot_marginals(argv[1], argv[2] if len(argv) > 2 else None):
            print(path)
        return 0
    print("usage: python -m experiments.sbi plot RUN_DIR [OUT_DIR]", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
