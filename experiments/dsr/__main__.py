"""``python -m experiments.dsr plot RUN_DIR``: the attractor and spectrum plots of a run."""

import sys

from .report import plot_run


def main(argv: list[str]) -> int:
    """Print the paths written and the retrained-vs-recorded D_stsp; the exit status."""
    if len(argv) == 2 and argv[0] == "plot":
        paths, check = plot_run(argv[1])
        for path in paths:
            print(path)
        for method, (ours, recorded) in check.items():
            print(f"{method}: D_stsp retrained {ours!r}, recorded {recorded!r}")
        return 0
    print("usage: python -m experiments.dsr plot RUN_DIR", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
