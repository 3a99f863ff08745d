"""The smoke suite end to end (quick), and the determinism of a real training experiment."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from experiments.smoke import fit_impulse_response, impulse_target
from ssmbench.harness.cli import main

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


def test_smoke_suite_quick(tmp_path, capsys):
    out = tmp_path / "smoke"
    code = main(
        ["run", str(REPO / "suites" / "smoke.toml"), "--quick", "--out", str(out), "--no-progress"]
    )
    assert code == 0
    summary = (out / "summary.md").read_text()
    n_verdicts = sum(summary.count(f"**{s}**") for s in ("CONFIRMED", "REFUTED", "INCONCLUSIVE"))
    assert n_verdicts == 5
    t = pd.read_csv(out / "table.csv")
    assert (t["status"] == "ok").all()
    assert len(list(out.glob("*.png"))) == 2
