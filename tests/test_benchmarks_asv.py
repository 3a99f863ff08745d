"""The asv benchmarks must not rot: a broken benchmark file fails CI here.

- ``asv check`` discovers and validates every benchmark (signatures, params) in the current
  environment (skipped only when asv, the ``bench`` extra, is not installed);
- each benchmark class is also set up and called directly at a tiny size, so that an error in
  building, compiling or running a workload is caught without a long asv run;
- every parameter combination either names a method the model has, or is skipped by asv
  (setup raises NotImplementedError).
"""

from __future__ import annotations

import importlib.util
import json
import math
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
BENCH = ROOT / "benchmarks"


def _load_bench(name: str = "bench_throughput"):
    sys.path.insert(0, str(BENCH))
    try:
        # the asv package, not this repo's tests
        b = importlib.import_module(f"benchmarks.{name}")
    finally:
        sys.path.remove(str(BENCH))
    return b


def test_asv_conf_is_valid_json_in_numpy_layout():
    text = (BENCH / "asv.conf.json").read_text()
    conf = json.loads(re.sub(r"^\s*//.*$", "", text, flags=re.M))  # asv allows // comments
    assert conf["repo"] == ".." and conf["benchmark_dir"] == "benchmarks"
    assert conf["branches"] == ["main"]
    assert (BENCH / "benchmarks" / "__init__.py").is_file()


def test_every_param_combination_is_runnable_or_skipped():
    from experiments.throughput import WORKLOADS

    b = _load_bench()
    for model in b.MODELS:
        for method in b.METHODS:
            if method not in WORKLOADS[model].methods:
                with pytest.raises(NotImplementedError):
                    b.TimeForward().setup(model, 1024, method)
    # every model is benchmarked with at least two methods (auto and one explicit)
    for model in b.MODELS:
        assert sum(m in WORKLOADS[model].methods for m in b.METHODS) >= 2


def test_benchmarks_run_at_a_tiny_size():
    b = _load_bench()
    fwd = b.TimeForward()
    fwd.setup("selective_scan", 32, "sequential")
    fwd.time_forward("selective_scan", 32, "sequential")
    fb = b.TimeForwardBackward()
    fb.setup("s4d", 32)
    fb.time_forward_backward("s4d", 32)
    tr = b.TrackAuto()
    tr.setup("s4d", 32)
    assert tr.track_compile_s("s4d", 32) > 0 and b.TrackAuto.track_compile_s.unit == "s"
    tps = tr.track_tokens_per_s("s4d", 32)
    assert math.isfinite(tps) and tps > 0 and b.TrackAuto.track_tokens_per_s.unit == "tokens/s"
    assert tr.track_xla_bytes("s4d", 32) > 0


def test_xfads_benchmark_runs_at_a_tiny_size():
    b = _load_bench("bench_xfads")
    for impl in b.IMPLS:
        bench = b.TimeXfadsFilter()
        bench.setup(impl, 8)
        bench.time_filter(impl, 8)


@pytest.mark.skipif(
    importlib.util.find_spec("asv") is None or shutil.which("git") is None,
    reason="asv (extra 'bench') is not installed",
)
def test_asv_check_finds_no_problems():
    proc = subprocess.run(
        [sys.executable, "-m", "asv", "check", "--python=same"],
        cwd=BENCH,
        capture_output=True,
        text=True,
        timeout=300,
    )
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out
    assert "No problems found" in out, out
