"""Declared plots: a categorical x axis is drawn, and a failing plot never loses the run."""

from pathlib import Path

import pandas as pd
import pytest

from ssmbench.harness.spec import Plot
from ssmbench.harness.summary import write_plots

pytest.importorskip("matplotlib")


def _table():
    rows = []
    for setting in ("seasonal", "plain"):
        for method in ("a", "b"):
            for seed in (0, 1):
                rows.append({"experiment": "e", "metric": "mse", "status": "ok", "seed": seed,
                             "setting": setting, "method": method, "L": 2 ** (seed + 4),
                             "value": 1.0 + seed + (method == "b")})  # fmt: skip
    return pd.DataFrame(rows)


def test_a_categorical_x_is_drawn(tmp_path: Path):
    paths = write_plots(tmp_path, [Plot("e", "setting", "mse", hue="method", logy=True)], _table())
    assert len(paths) == 1 and paths[0].exists() and paths[0].stat().st_size > 1000


def test_a_failing_plot_is_a_note_and_the_others_are_drawn(tmp_path: Path, capsys):
    missing_x = Plot("e", "nope", "mse")  # no such column: drawing it raises
    good = Plot("e", "L", "mse", hue="method", logx=True)
    paths = write_plots(tmp_path, [missing_x, good], _table())
    assert len(paths) == 1 and "plot1-" in paths[0].name
    assert "plot 0 (e: mse vs nope) failed" in capsys.readouterr().err
