"""Tests of ssmbench.timing: the interleaved median-of-repeats timer (with a fake clock), compile
time kept apart, and the log-log exponent fit."""

from __future__ import annotations

import statistics
import time

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from ssmbench import timing
from ssmbench.timing import Compiled, fit_loglog, time_compiled, time_fn

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
