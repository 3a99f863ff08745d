"""Tiny experiment functions used by the runner tests (no JAX, so they are fast)."""

from __future__ import annotations

import math
import os
import time
from pathlib import Path
from typing import Literal

import numpy as np


def power_law(
    *, seed: int, quick: bool = False, width: int = 8, exponent: float = 1.0, noise: float = 0.0
) -> dict[str, float]:
    """metric y = width**exponent (times seeded noise), plus a constant metric."""
    rng = np.random.default_rng(seed)
    y = width**exponent * (1.0 + noise * rng.standard_normal())
    return {"y": float(y), "const": 3.0 if not quick else 1.0}


def flaky(
    *, seed: int, mode: Literal["ok", "nan", "inf", "raise"] = "ok", x: float = 1.0
) -> dict[str, float]:
    """Returns finite numbers, NaN, inf, or raises, by mode."""
    if mode == "raise":
        raise RuntimeError(f"boom at x={x}")
    v = {"ok": x, "nan": math.nan, "inf": math.inf}[mode]
    return {"v": v, "other": 1.0}


def per_layer(*, seed: int, layers: int = 3) -> list[dict]:
    """Rows with an extra column (layer)."""
    return [{"metric": "rms", "value": float(i + 1 + seed), "layer": i} for i in range(layers)]


def sleepy(
    *, seed: int, k: int = 0, delay: float = 0.2, log: str = "", gate: str = ""
) -> dict[str, float]:
    """Sleeps, and appends a line to `log` each time it is called (to prove cells are not rerun).

    With `gate`, every cell but the first also waits (up to 120 s) until that file exists, so a
    test can hold the run open for as long as it needs instead of racing a sleep.
    """
    if log:
        with open(log, "a") as f:
            f.write(f"{k} {seed} {os.getpid()}\n")
    if gate and k > 0:
        deadline = time.time() + 120.0
        while not os.path.exists(gate) and time.time() < deadline:
            time.sleep(0.02)
    time.sleep(delay)
    return {"k": float(k), "seed": float(seed)}


def needs_width(*, seed: int, width: int) -> dict[str, float]:
    """A required parameter with no default."""
    return {"w": float(width)}


def jax_tiny(*, seed: int, n: int = 16) -> dict[str, float]:
    """A small seeded JAX computation (for determinism)."""
    import jax
    import jax.numpy as jnp

    x = jax.random.normal(jax.random.PRNGKey(seed), (n, n), jnp.float32)
    return {"norm": float(jnp.linalg.norm(x @ x.T)), "trace": float(jnp.trace(x))}


def touch(*, seed: int, path: str = "") -> dict[str, float]:
    Path(path).write_text("x")
    return {"ok": 1.0}


def clashing(*, seed: int, width: int = 2) -> list[dict]:
    """Rows whose extra columns collide with runner / parameter columns."""
    return [{"metric": "m", "value": 1.0, "wall_s": 3.0, "width": 5}]


def die_once(*, seed: int, k: int = 0, marker: str = "") -> dict[str, float]:
    """The first call per (seed, k) kills its own process (SIGKILL, as the OOM killer would);
    the retry, seeing the marker file it left, returns."""
    import signal

    m = Path(marker) / f"died-{seed}-{k}"
    if not m.exists():
        m.write_text("x")
        os.kill(os.getpid(), signal.SIGKILL)
    return {"k": float(k)}


def die_always(*, seed: int) -> dict[str, float]:
    """Kills its own process every time."""
    import signal

    os.kill(os.getpid(), signal.SIGKILL)
    return {"never": 0.0}


def span(*, seed: int, k: int = 0, delay: float = 0.5) -> dict[str, float]:
    """Sleeps ``delay`` s and returns when it ran (wall-clock epoch seconds), so a test can check
    which cells overlapped in time."""
    t0 = time.time()
    time.sleep(delay)
    return {"t0": t0, "t1": time.time()}
