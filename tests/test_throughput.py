"""Tests of the throughput harness's logic (never of how fast anything is).

- timing: compile happens once and outside the timed calls; warm-up calls are not timed; the
  reported number is the median of the timed calls; candidates are timed interleaved; fast
  programs get more calls; memory figures come from XLA's buffer assignment.
- throughput: every (method, length, pass) is measured; derived rows (speed-ups, exponent,
  backward/forward) are computed correctly; the memory guard skips without running.
- selective_scan_plain / selective_scan_remat: same values and gradients as the library's
  sequential scan (whose backward is a hand-written VJP); the plain scan's reverse mode holds
  the (L, d, n) states, the library's and the remat variant's do not.
- the suite file parses, and its checks refer to metrics the experiment produces.
"""

from __future__ import annotations

import statistics
import time
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from ssmbench import timing
from ssmbench.scan import selective_scan
from ssmbench.throughput import (
    SCAN_METHODS,
    WORKLOADS,
    selective_scan_plain,
    selective_scan_remat,
    summarise,
    throughput,
)
from ssmbench.timing import Compiled, fit_loglog, time_compiled, time_fn

ROOT = Path(__file__).resolve().parents[1]


# ------------------------------------------------------------------------------------ timing


class FakeClock:
    """A clock that only advances when a fake program runs (by that program's next duration)."""

    def __init__(self):
        self.now = 0.0

    def __call__(self):
        return self.now


def fake_program(name, durations, clock, log):
    it = iter(durations)

    def call(*args):
        log.append(name)
        clock.now += next(it)
        return jnp.zeros(())

    return Compiled(call=call, compile_s=123.0, xla_bytes=10, xla_temp_bytes=4)


def test_time_compiled_medians_interleaving_and_warmup(monkeypatch):
    clock, log = FakeClock(), []
    monkeypatch.setattr(timing, "_clock", clock)
    # first call of each is the (untimed) warm-up: a huge duration that must not be counted
    da = [100.0, 5.0, 1.0, 3.0, 2.0, 4.0]
    db = [200.0, 10.0, 30.0, 20.0, 50.0, 40.0]
    progs = {
        "a": (fake_program("a", da, clock, log), ()),
        "b": (fake_program("b", db, clock, log), ()),
    }
    out = time_compiled(progs, repeats=5, warmup=1)
    assert out["a"].times_s == tuple(da[1:])
    assert out["a"].median_s == statistics.median(da[1:]) == 3.0
    assert out["b"].median_s == 30.0 and out["b"].min_s == 10.0
    assert out["a"].compile_s == 123.0 and out["a"].xla_bytes == 10
    # warm-ups first, then rounds that alternate between the candidates
    assert log == ["a", "b"] + ["a", "b"] * 5


def test_time_compiled_gives_fast_programs_more_calls(monkeypatch):
    clock, log = FakeClock(), []
    monkeypatch.setattr(timing, "_clock", clock)
    fast = fake_program("fast", [0.01] * 200, clock, log)
    slow = fake_program("slow", [1.0] * 200, clock, log)
    out = time_compiled({"fast": (fast, ()), "slow": (slow, ())}, repeats=5, min_time_s=0.2)
    assert len(out["fast"].times_s) == 20  # ceil(0.2 / 0.01)
    assert len(out["slow"].times_s) == 5  # never fewer than `repeats`
    capped = time_compiled({"fast": (fast, ())}, repeats=5, min_time_s=10.0, max_repeats=50)
    assert len(capped["fast"].times_s) == 50


def test_time_fn_compiles_once_outside_the_timed_calls():
    traces, calls = [], []

    def f(x):
        traces.append(1)
        time.sleep(0.5)  # Python runs only while tracing, i.e. inside the compile step
        jax.debug.callback(lambda: calls.append(1))
        return jnp.sin(x) * 2

    t = time_fn(f, jnp.ones(8), repeats=5, warmup=2)
    assert len(traces) == 1
    assert len(calls) == 2 + 5  # warm-up + timed calls, all of the one compiled program
    assert len(t.times_s) == 5 and t.median_s == statistics.median(t.times_s)
    assert t.compile_s >= 0.5
    assert max(t.times_s) < 0.5  # the trace-time sleep is in compile_s, not in the timed calls
    assert t.xla_bytes is not None and t.xla_bytes >= 2 * 8 * 8  # an f64 input and output


def test_fit_loglog_recovers_exponent():
    L = np.array([256, 1024, 4096, 16384])
    assert fit_loglog(L, 3e-6 * L**1.5) == pytest.approx(1.5)
    with pytest.raises(ValueError):
        fit_loglog([1024], [1.0])


def test_repeats_must_be_positive():
    with pytest.raises(ValueError, match="repeats"):
        time_compiled({}, repeats=0)


# -------------------------------------------------------------------------------- summarise


def _rows(times):
    return [
        {"metric": metric, "value": t * f, "L": L, "method": m, "pass": p}
        for (p, m, L), t in times.items()
        for metric, f in (("time_s", 1.0), ("time_min_s", 2.0 if m == "auto" else 1.0))
    ]


def test_summarise_speedups_best_and_exponent():
    times = {}
    for L in (256, 1024, 4096):
        times[("fwd", "auto", L)] = 1e-6 * L
        times[("fwd", "sequential", L)] = 0.9e-6 * L  # a bit faster than auto
        times[("fwd", "associative", L)] = 5e-6 * L
        times[("fwd", "remat", L)] = 0.5e-6 * L  # a variant: never "best"
        times[("fwdbwd", "auto", L)] = 3e-6 * L**1.5
    out = summarise(_rows(times), fit_from=1024)
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


# ------------------------------------------------------------------------------------ remat


def _sel_inputs(L=50, d=3, n=4, dtype=jnp.float64):
    ks = jax.random.split(jax.random.PRNGKey(1), 6)
    u = jax.random.normal(ks[0], (L, d), dtype)
    delta = jax.random.normal(ks[1], (L, d), dtype)
    A = -jnp.exp(jax.random.normal(ks[2], (d, n), dtype))
    B = jax.random.normal(ks[3], (L, n), dtype)
    C = jax.random.normal(ks[4], (L, n), dtype)
    z = jax.random.normal(ks[5], (L, d), dtype)
    return u, delta, A, B, C, jnp.ones(d, dtype), z, 0.1 * jnp.ones(d, dtype)


@pytest.mark.parametrize("chunk", [7, 64])
def test_variants_match_library_values_and_gradients(chunk):
    args = _sel_inputs()  # L = 50: chunk 7 needs padding (8 chunks), 64 > L (one chunk)

    def loss(f):
        return lambda *a: jnp.sum(jnp.sin(f(*a)))

    lib = lambda *a: selective_scan(*a, method="sequential", chunk_size=chunk)  # noqa: E731
    plain = selective_scan_plain
    remat = lambda *a: selective_scan_remat(*a, chunk=chunk)  # noqa: E731
    g0 = jax.grad(loss(lib), argnums=tuple(range(8)))(*args)
    for f in (plain, remat):
        np.testing.assert_allclose(f(*args), lib(*args), rtol=1e-12, atol=1e-12)
        g = jax.grad(loss(f), argnums=tuple(range(8)))(*args)
        for a, b in zip(g, g0):  # float64: only summation order differs
            np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-10)


def test_remat_lowers_backward_memory():
    # Deterministic property of the compiled programs (XLA buffer assignment), not a timing.
    L, d, n = 256, 8, 16
    args = tuple(a.astype(jnp.float32) for a in _sel_inputs(L, d, n))

    def grad_of(f):
        return jax.grad(lambda *a: jnp.sum(f(*a) ** 2), argnums=(0, 1, 2, 3, 4))

    plain = timing.compile_fn(grad_of(selective_scan_plain), *args)
    remat = timing.compile_fn(grad_of(lambda *a: selective_scan_remat(*a, chunk=32)), *args)
    lib = timing.compile_fn(grad_of(lambda *a: selective_scan(*a, method="sequential")), *args)
    # plain reverse mode keeps the (L, d, n) states: at least L*d*n*4 bytes of temporaries
    assert plain.xla_temp_bytes >= L * d * n * 4
    assert remat.xla_temp_bytes < plain.xla_temp_bytes / 2
    assert lib.xla_temp_bytes < plain.xla_temp_bytes / 2


def test_remat_rejects_bad_shapes():
    u, delta, A, B, C, D, z, bias = _sel_inputs()
    with pytest.raises(ValueError, match="B, C"):
        selective_scan_remat(u, delta, A, A, C)
    with pytest.raises(ValueError, match="B, C"):
        selective_scan_plain(u, delta, A, A, C)
    with pytest.raises(ValueError, match="chunk"):
        selective_scan_remat(u, delta, A, B, C, chunk=0)


# ------------------------------------------------------------------------------------ suite


def test_suite_file_parses_and_checks_use_produced_metrics():
    from ssmbench.suite import load_suite

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
    from ssmbench.throughput import choose_auto

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

    from ssmbench.throughput import write_choice

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

    path = ROOT / "ssmbench" / "scan_choice.json"
    data = json.loads(path.read_text())
    for backend in ("cpu", "gpu", "tpu"):
        entry = data["backends"][backend]
        assert entry["method"] in ("sequential", "associative", "chunked")
        assert isinstance(entry["measured"], bool)
    assert data["backends"]["cpu"]["measured"] is True
