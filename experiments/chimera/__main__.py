"""``python -m experiments.chimera plot RUN_DIR``: the ablation-ratio and forecast plots."""

import sys

from .report import plot_run


def main(argv: list[str]) -> int:
    """Print the paths of the files written; the exit status."""
    if len(argv) == 2 and argv[0] == "plot":
        for path in plot_run(argv[1]):
            print(path)
        return 0
    print("usage: python -m experiments.chimera plot RUN_DIR", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
