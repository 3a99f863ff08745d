"""Test configuration.

Tests run on the CPU by default (``JAX_PLATFORMS=cpu``) and with float64 enabled, so that
oracle tests can use tight tolerances. Tests of float32 behaviour cast their inputs
explicitly; library code must follow the dtype of its inputs.
"""

import os

os.environ.setdefault("JAX_PLATFORMS", "cpu")

import jax  # noqa: E402

jax.config.update("jax_enable_x64", True)
