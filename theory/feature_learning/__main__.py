"""``python -m theory.feature_learning``: figures and sub-range slopes from a run directory.

python -m theory.feature_learning plot RUN_DIR [OUT_DIR] [--all-layers]
python -m theory.feature_learning ranges RUN_DIR LO_MIN LO_MAX HI_MIN HI_MAX
"""

from __future__ import annotations

import sys
from pathlib import Path

from .analysis import plot_run, range_slopes

_USAGE = """usage: python -m theory.feature_learning plot RUN_DIR [OUT_DIR] [--all-layers]
       python -m theory.feature_learning ranges RUN_DIR LO_MIN LO_MAX HI_MIN HI_MAX"""


def main(argv: list[str]) -> int:
    """Run the command in ``argv`` (without the program name); returns the exit status."""
    every = "--all-layers" in argv
    argv = [a for a in argv if a != "--all-layers"]
    if len(argv) >= 2 and argv[0] == "plot":
        for path in plot_run(argv[1], argv[2] if len(argv) > 2 else None, all_layers=every):
            print(path)
    elif len(argv) == 6 and argv[0] == "ranges":
        import pandas as pd

        lo_hi = [int(a) for a in argv[2:]]
        ent, mean = range_slopes(
            pd.read_csv(Path(argv[1]) / "table.csv"), tuple(lo_hi[:2]), tuple(lo_hi[2:])
        )
        with pd.option_context("display.width", 200, "display.max_rows", 1000):
            print(mean.round(3).to_string(index=False))
            print()
            print(ent.round(3).to_string(index=False))
    else:
        print(_USAGE)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
