"""The harness: suite files, cells, the runner, records, summaries, verdicts and the CLI.

The top layer of ssmbench: it imports the library (for ``ssmbench list``) and, by the dotted
``run`` paths a suite names, the experiments; nothing below it imports the harness.
"""

from .cells import cell_id, expand_cells
from .checks import Verdict, evaluate
from .compare import Comparison, compare_runs
from .records import read_records, records_to_table
from .runner import RunResult, run_suite
from .spec import Cell, Check, Experiment, Plot, Suite, SuiteError
from .suite import apply_overrides, load_suite, parse_suite

__all__ = [
    "Cell",
    "Check",
    "Comparison",
    "Experiment",
    "Plot",
    "RunResult",
    "Suite",
    "SuiteError",
    "Verdict",
    "apply_overrides",
    "cell_id",
    "compare_runs",
    "evaluate",
    "expand_cells",
    "load_suite",
    "parse_suite",
    "read_records",
    "records_to_table",
    "run_suite",
]
