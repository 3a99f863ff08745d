"""The smoke suite end to end (quick), and the determinism of a real training experiment."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from experiments.smoke import fit_impulse_response, impulse_target

REPO = Path(__file__).parent.parent


def test_impulse_targets_unit_norm():
    import numpy as np

    for kind in ("delay", "oscillation"):
        y = impulse_target(kind, 16)
        assert np.isclose(np.linalg.norm(y), 1.0)
    assert impulse_target("delay", 16).argmax() == 7


def test_training_is_deterministic_and_learns():
    a = fit_impulse_response(seed=3, quick=True, target="delay", field="complex", n=16, t=16)
    b = fit_impulse_response(seed=3, quick=True, target="delay", field="complex", n=16, t=16)
    assert a == b
    assert a["error"] < 0.5 * a["initial_error"]


def test_smoke_suite_verdicts(tmp_path, capsys):
    """The README's main job, at its full (default) budget: every cell ok and every check that
    is not a timing check CONFIRMED. The full budget costs about as much as --quick here (JAX
    start-up and compilation dominate), and at --quick's 300 steps one of the five seeds (seed 4)
    leaves the complex n = 16 delay fit at error 0.17, so 'training works' is REFUTED there.
    Under the tests' float64 (conftest) the n = 4 delay errors spread more over seeds (0.11 ±
    0.11) and 'more state helps' is INCONCLUSIVE, so the suite runs in a fresh process at the
    product's float32, as the README runs it."""
    import os
    import re
    import subprocess
    import sys

    from ssmbench.harness.suite import load_suite

    out = tmp_path / "smoke"
    suite_file = REPO / "suites" / "smoke.toml"
    # a fresh process, as the README runs it: the tests' float64 and strict-promotion settings
    # (conftest) are not the product's defaults, and the verdicts are about the product
    env = {k: v for k, v in os.environ.items() if not k.startswith("JAX_ENABLE")}
    cmd = [sys.executable, "-m", "ssmbench", "run", str(suite_file), "--out", str(out)]
    proc = subprocess.run(
        [*cmd, "--no-progress", "--strict"], cwd=REPO, env=env, capture_output=True, text=True
    )
    # --strict exits 3 when the informational timing check is not CONFIRMED; 0 or 3 is clean
    assert proc.returncode in (0, 3), proc.stderr[-3000:]
    summary = (out / "summary.md").read_text()
    found = re.findall(r"^- \*\*(\w+)\*\*(?: \[scope: [^\]]*\])?: (.+?) — ", summary, re.M)
    verdicts = {claim: status for status, claim in found}
    suite = load_suite(suite_file)
    assert len(verdicts) == len(suite.checks) == 5
    strict = [c.claim for c in suite.checks if c.experiment != "scan-throughput"]
    assert len(strict) == 4
    assert {c: verdicts[c] for c in strict} == {c: "CONFIRMED" for c in strict}
    t = pd.read_csv(out / "table.csv")
    assert (t["status"] == "ok").all()
    assert len(list(out.glob("*.png"))) == 2
