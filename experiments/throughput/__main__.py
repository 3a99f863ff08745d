"""``python -m experiments.throughput choose RUN_DIR OUT.json``: the measured ``auto`` choice."""

import sys

from .choose import write_choice

if len(sys.argv) != 4 or sys.argv[1] != "choose":
    sys.exit("usage: python -m experiments.throughput choose RUN_DIR OUT_JSON")
print(write_choice(sys.argv[2], sys.argv[3]))
