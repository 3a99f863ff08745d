"""Regression benchmarks: forward and forward+backward time, compile time and tokens/s.

Every program is compiled (and called once, to warm up) in ``setup``, outside the timed region;
each timed call ends in ``jax.block_until_ready``. Parametrised by model, sequence length L and
scan method (``auto`` and the explicit ones; combinations a model lacks are skipped). Widths are
small (d_model = 64) so that ``asv run --quick`` stays short; the throughput suite
(``suites/throughput.toml``) is the place for the full grid. Nothing here is CPU-specific.
"""

from __future__ import annotations

import jax

from experiments.throughput import WORKLOADS, forward_backward
from ssmbench import timing

MODELS = ["selective_scan", "s4d", "lru", "mamba"]
LENGTHS = [1024, 4096]
METHODS = ["auto", "sequential", "associative", "conv", "recurrent"]
D_MODEL = 64
STATE = {"selective_scan": 16, "s4d": 64, "lru": 64, "mamba": 16}


def _compiled(model, L, method, backward):
    """Build, compile and warm up one workload; raises NotImplementedError (asv: skip) if the
    model has no such method."""
    spec = WORKLOADS[model]
    if method not in spec.methods:
        raise NotImplementedError(f"{model} has no method {method!r}")
    w = spec.build(jax.random.PRNGKey(0), L=L, d=D_MODEL, n=STATE[model], batch=1, method=method)
    prog = timing.compile_fn(forward_backward(w) if backward else w.fn, *w.args)
    jax.block_until_ready(prog.call(*w.args))
    return prog, w.args


class TimeForward:
    """Forward pass, every method."""

    params = (MODELS, LENGTHS, METHODS)
    param_names = ["model", "L", "method"]
    timeout = 600

    def setup(self, model, L, method):
        self.prog, self.args = _compiled(model, L, method, backward=False)

    def time_forward(self, model, L, method):
        jax.block_until_ready(self.prog.call(*self.args))


class TimeForwardBackward:
    """Gradient of a scalar loss through the model, with ``method="auto"``."""

    params = (MODELS, LENGTHS)
    param_names = ["model", "L"]
    timeout = 600

    def setup(self, model, L):
        self.prog, self.args = _compiled(model, L, "auto", backward=True)

    def time_forward_backward(self, model, L):
        jax.block_until_ready(self.prog.call(*self.args))


class TrackAuto:
    """Compile time, tokens/s and XLA buffer bytes of the forward pass with ``method="auto"``."""

    params = (MODELS, LENGTHS)
    param_names = ["model", "L"]
    timeout = 600

    def setup(self, model, L):
        self.prog, self.args = _compiled(model, L, "auto", backward=False)

    def track_compile_s(self, model, L):
        return self.prog.compile_s

    track_compile_s.unit = "s"

    def track_tokens_per_s(self, model, L):
        t = timing.time_compiled({"auto": (self.prog, self.args)}, repeats=5)["auto"]
        return L / t.median_s

    track_tokens_per_s.unit = "tokens/s"

    def track_xla_bytes(self, model, L):
        return float(self.prog.xla_bytes or 0)

    track_xla_bytes.unit = "bytes"
