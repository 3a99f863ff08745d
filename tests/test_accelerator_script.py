"""``scripts/accelerator-check.sh``: refuses a CPU-only JAX unless told, and names the reason."""

from __future__ import annotations

import os
import subprocess
import sys
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
