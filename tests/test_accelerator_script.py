"""``scripts/accelerator-check.sh``: refuses a CPU-only JAX unless told, and names the reason."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

SCRIPT = Path(__file__).parents[1] / "scripts" / "accelerator-check.sh"


@pytest.mark.skipif(sys.platform == "win32", reason="bash script")
def test_accelerator_check_refuses_a_cpu_backend(tmp_path):
    env = {**os.environ, "JAX_PLATFORMS": "cpu", "PYTHON": sys.executable,
           "OUT_ROOT": str(tmp_path)}  # fmt: skip
    env.pop("ALLOW_CPU", None)
    res = subprocess.run(["bash", str(SCRIPT)], env=env, capture_output=True, text=True,
                         timeout=120)  # fmt: skip
    assert res.returncode == 3, res.stderr
    assert "JAX sees no accelerator (backend cpu)" in res.stderr
    assert not any(tmp_path.iterdir())  # nothing was run or written


def test_accelerator_check_never_replaces_a_committed_results_folder():
    # a stand-in "python" that says the backend is cpu and runs nothing: with ALLOW_CPU and
    # OUT_ROOT=results the first part would write into results/throughput-cpu, a committed run
    root = Path(__file__).parents[1]
    committed = root / "results" / "throughput-cpu" / "summary.md"
    assert committed.exists()
    before = committed.read_bytes()
    with tempfile.TemporaryDirectory() as d:
        fake = Path(d) / "python"
        fake.write_text('#!/usr/bin/env bash\n[ "$1" = -c ] && { echo cpu; exit 0; }\nexit 9\n')
        fake.chmod(0o755)
        env = {**os.environ, "PYTHON": str(fake), "OUT_ROOT": "results", "ALLOW_CPU": "1"}
        res = subprocess.run(["bash", str(SCRIPT)], env=env, capture_output=True, text=True,
                             timeout=60, cwd=root)  # fmt: skip
    assert "results/throughput-cpu holds committed files; refusing to overwrite it" in res.stderr
    assert committed.read_bytes() == before
