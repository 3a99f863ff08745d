"""Test configuration.

Tests run on the CPU by default (``JAX_PLATFORMS=cpu``) and with float64 enabled, so that
oracle tests can use tight tolerances. Tests of float32 behaviour cast their inputs
explicitly; library code must follow the dtype of its inputs.

As in equinox's and diffrax's test suites, implicit dtype promotion between different dtypes
(``jax_numpy_dtype_promotion="strict"``) and implicit rank promotion in broadcasting
(``jax_numpy_rank_promotion="raise"``) are errors, so that the library spells out every cast and
every broadcast.
"""

import os

os.environ.setdefault("JAX_PLATFORMS", "cpu")

import jax  # noqa: E402

jax.config.update("jax_enable_x64", True)
jax.config.update("jax_numpy_dtype_promotion", "strict")
jax.config.update("jax_numpy_rank_promotion", "raise")

import pytest  # noqa: E402

from ssmbench.prob import LGSSM  # noqa: E402


@pytest.fixture(autouse=True, scope="module")
def _release_compiled_programs():
    """Drop JAX's compiled programs after each test module. A worker process runs hundreds of
    modules; with every program kept, late tests crashed twice inside XLA's compiler (segfault in
    test_xfads, the last module, at ~95% of the run) once this stop's tests were added. A likely
    cause is the per-process limit on memory mappings (vm.max_map_count), since each compiled
    CPU program maps its own code."""
    yield
    jax.clear_caches()


@pytest.fixture
def gaussian_hmm():
    """A factory of FIVO's 1-D Gaussian HMM with w_z = 0.9, v_z = 1, w_x = 1 and observation
    variance ``v_x`` (default 0.5): ``gaussian_hmm(v_x=0.2)``."""

    def make(v_x: float = 0.5) -> LGSSM:
        return LGSSM.gaussian_hmm_1d(w_z=0.9, v_z=1.0, w_x=1.0, v_x=v_x)

    return make
