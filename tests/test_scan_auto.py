"""What ``method="auto"`` picks (ssmbench.scan.auto): a lookup in the committed table."""

import json
from importlib import resources

import jax
import pytest

import ssmbench.scan
from ssmbench.scan import auto, resolve_method


def _committed():
    text = resources.files("ssmbench.scan").joinpath("scan_choice.json").read_text()
    return {b: e["method"] for b, e in json.loads(text)["backends"].items()}


def test_auto_method_reads_the_committed_table():
    table = _committed()
    assert auto.auto_table() == table
    for backend, method in table.items():
        assert auto.auto_method(backend) == method
    assert auto.auto_method("no-such-backend") == auto.FALLBACK_METHOD == "sequential"


def test_resolve_method_uses_the_current_backend():
    assert resolve_method("auto") == auto.auto_method(jax.default_backend())
    for m in ("sequential", "associative", "chunked"):
        assert resolve_method(m) == m
    with pytest.raises(ValueError, match="method"):
        resolve_method("fast")


def test_auto_method_constant_is_lazy_and_read_only():
    # AUTO_METHOD is computed on access (module __getattr__), a fresh dict each time
    assert "AUTO_METHOD" not in vars(auto) and "AUTO_METHOD" not in vars(ssmbench.scan)
    assert ssmbench.scan.AUTO_METHOD == auto.AUTO_METHOD == _committed()
    ssmbench.scan.AUTO_METHOD["cpu"] = "changed"
    assert auto.auto_table() == _committed()
    with pytest.raises(AttributeError):
        auto.NO_SUCH_NAME  # noqa: B018
