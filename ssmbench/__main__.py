"""``python -m ssmbench``: the command line (:mod:`ssmbench.harness.cli`)."""

import sys

from .harness.cli import main

sys.exit(main())
