"""Tests of the throughput harness's logic (never of how fast anything is).

- throughput: every (method, length, pass) is measured; derived rows (speed-ups, exponent,
  backward/forward) are computed correctly; the memory guard skips without running.
- the suite file parses, and its checks refer to metrics the experiment produces.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from experiments.throughput import (
    SCAN_METHODS,
    WORKLOADS,
    summarize,
    throughput,
)

ROOT = Path(__file__).resolve().parents[1]


# -------------------------------------------------------------------------------- summarize


def _rows(times):
    return [
        {"metric": metric, "value": t * f, "L": L, "method": m, "pass": p}
        for (p, m, L), t in times.items()
        for metric, f in (("time_s", 1.0), ("time_min_s", 2.0 if m == "auto" else 1.0))
    ]


def test_summarize_speedups_best_and_exponent():
    times = {}
    for L in (256, 1024, 4096):
        times[("fwd", "auto", L)] = 1e-6 * L
        times[("fwd", "sequential", L)] = 0.9e-6 * L  # a bit faster than auto
        times[("fwd", "associative", L)] = 5e-6 * L
        times[("fwd", "remat", L)] = 0.5e-6 * L  # a variant: never "best"
        times[("fwdbwd", "auto", L)] = 3e-6 * L**1.5
    out = summarize(_rows(times), fit_from=1024)
    get = {(r["metric"], r["pass"], r["method"], r.get("L")): r["value"] for r in out}
    assert get[("speedup_auto", "fwd", "associative", 4096)] == pytest.approx(5.0)
    assert get[("speedup_auto", "fwd", "remat", 4096)] == pytest.approx(0.5)
    assert get[("auto_vs_best", "fwd", "sequential", 1024)] == pytest.approx(0.9)
    assert get[("auto_vs_best_min", "fwd", "sequential", 1024)] == pytest.approx(0.45)
    assert "remat" not in SCAN_METHODS
    assert get[("bwd_over_fwd", "fwdbwd", "auto", 4096)] == pytest.approx(3 * 4096**0.5)
    assert get[("exponent", "fwd", "associative", None)] == pytest.approx(1.0)
    assert get[("exponent", "fwdbwd", "auto", None)] == pytest.approx(1.5)
    # auto_vs_best is only for passes where auto ran; no fwdbwd bwd_over_fwd without fwd
    assert not any(r["metric"] == "bwd_over_fwd" and r["method"] != "auto" for r in out)


# ------------------------------------------------------------------------------- throughput


def test_throughput_measures_every_method_length_and_pass():
    rows = throughput(
        seed=0,
        model="linear_recurrence",
        d_model=4,
        n=2,
        lengths=[16, 32],
        methods=["associative"],
        fwdbwd_methods=["sequential"],  # not among `methods`: fwdbwd runs auto only
        repeats=2,
        min_time_s=0.0,
        fit_from=16,
    )
    got = {(r["metric"], r["method"], r["pass"], r.get("L")) for r in rows}
    for L in (16, 32):
        for m in ("auto", "associative"):
            for metric in ("time_s", "compile_s", "tokens_per_s", "xla_bytes"):
                assert (metric, m, "fwd", L) in got
        assert ("time_s", "auto", "fwdbwd", L) in got
        assert ("bwd_over_fwd", "auto", "fwdbwd", L) in got
        assert ("auto_vs_best", "associative", "fwd", L) in got
        assert ("speedup_auto", "associative", "fwd", L) in got
        assert ("time_s", "sequential", "fwd", L) not in got
        assert ("time_s", "associative", "fwdbwd", L) not in got
    assert ("exponent", "auto", "fwd", None) in got
    tps = {
        (r["method"], r["pass"], r["L"]): r["value"] for r in rows if r["metric"] == "tokens_per_s"
    }
    ts = {(r["method"], r["pass"], r["L"]): r["value"] for r in rows if r["metric"] == "time_s"}
    for k, v in ts.items():
        assert tps[k] == pytest.approx(k[2] / v)
    assert all(np.isfinite(r["value"]) for r in rows)


def test_throughput_memory_guard_compiles_but_does_not_run():
    rows = throughput(
        seed=0, model="linear_recurrence", d_model=4, n=2, lengths=[16], passes=["fwd"],
        repeats=1, max_bytes=0.0,
    )  # fmt: skip
    metrics = {r["metric"] for r in rows}
    assert "xla_bytes" in metrics and "compile_s" in metrics
    assert "time_s" not in metrics


def test_throughput_rejects_unknown_model_and_method():
    with pytest.raises(ValueError, match="unknown model"):
        throughput(seed=0, model="nope")
    with pytest.raises(ValueError, match="unknown method"):
        throughput(seed=0, model="selective_scan", methods=["conv"])


def test_every_workload_lists_auto_first():
    for name, spec in WORKLOADS.items():
        assert spec.methods[0] == "auto", name
        assert len(set(spec.methods)) == len(spec.methods), name


# ------------------------------------------------------------------------------------ suite


def test_suite_file_parses_and_checks_use_produced_metrics():
    from ssmbench.harness import load_suite

    suite = load_suite(ROOT / "suites" / "throughput.toml")
    produced = {
        "time_s",
        "time_min_s",
        "compile_s",
        "tokens_per_s",
        "xla_bytes",
        "xla_temp_bytes",
        "speedup_auto",
        "auto_vs_best",
        "auto_vs_best_min",
        "bwd_over_fwd",
        "exponent",
    }
    assert suite.checks
    for c in suite.checks:
        assert c.metric in produced, c.claim
    for e in suite.experiments:
        model = e.params.get("model") or e.grid.get("model")
        for m in model if isinstance(model, list) else [model]:
            assert m in WORKLOADS, e.name


# ------------------------------------------------------------------------------- auto choice


def _table(times):
    import pandas as pd

    rows = []
    for (model, L, p, m), t in times.items():
        rows.append(
            {"experiment": model, "model": model, "d_model": 64, "n": 16, "L": L, "pass": p,
             "method": m, "metric": "time_s", "value": t, "status": "ok"}
        )  # fmt: skip
    return pd.DataFrame(rows)


def test_choose_auto_picks_geometric_mean_winner_at_long_lengths():
    from experiments.throughput import choose_auto

    times = {}
    for L in (256, 1024, 4096):
        for p in ("fwd", "fwdbwd"):
            short = L < 1024  # at short L associative wins, but only L >= 1024 counts
            times[("selective_scan", L, p, "sequential")] = 1.0 if not short else 3.0
            times[("selective_scan", L, p, "associative")] = 4.0 if not short else 1.0
            times[("selective_scan", L, p, "chunked")] = 2.0
            times[("selective_scan", L, p, "auto")] = 0.1  # never a candidate
    times[("s4d", 4096, "fwd", "conv")] = 0.01  # not a scan workload: ignored
    out = choose_auto(_table(times))
    assert out["method"] == "sequential"
    assert out["groups"] == 4
    assert out["score"]["associative"] == pytest.approx(4.0)
    assert out["worst"] == pytest.approx(1.0)


def test_write_choice_records_evidence(tmp_path):
    import json

    from experiments.throughput import write_choice

    times = {
        ("linear_recurrence", 1024, "fwd", m): t
        for m, t in [("sequential", 1.0), ("associative", 2.0)]
    }
    run = tmp_path / "run"
    run.mkdir()
    _table(times).to_csv(run / "table.csv", index=False)
    (run / "env.json").write_text(
        json.dumps({"backend": "cpu", "git_commit": "abc", "device": "cpu:cpu"})
    )
    out = tmp_path / "choice.json"
    out.write_text(json.dumps({"backends": {"gpu": {"method": "associative", "measured": False}}}))
    entry = write_choice(str(run), str(out))
    data = json.loads(out.read_text())
    assert entry["method"] == "sequential" and entry["measured"] and entry["git_commit"] == "abc"
    assert data["backends"]["gpu"]["measured"] is False  # other backends are kept
    assert data["backends"]["cpu"]["geomean_time_vs_best"] == {
        "sequential": 1.0,
        "associative": 2.0,
    }


def test_committed_scan_choice_is_well_formed():
    import json

    path = ROOT / "ssmbench" / "scan" / "scan_choice.json"
    data = json.loads(path.read_text())
    for backend in ("cpu", "gpu", "tpu"):
        entry = data["backends"][backend]
        assert entry["method"] in ("sequential", "associative", "chunked")
        assert isinstance(entry["measured"], bool)
    assert data["backends"]["cpu"]["measured"] is True
