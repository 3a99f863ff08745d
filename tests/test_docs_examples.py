"""Every ```python block of the user docs that claims to be tested runs, in a fresh directory."""

from __future__ import annotations

import re
import sys
from pathlib import Path

import pytest

DOCS = Path(__file__).parent.parent / "docs"
PAGES = ["suites.md", "byo-model.md"]  # pages whose python blocks are complete, runnable examples


def _blocks(page: str) -> list[str]:
    return re.findall(r"```python\n(.*?)```", (DOCS / page).read_text(), flags=re.S)


@pytest.mark.parametrize(
    "page, i", [(p, i) for p in PAGES for i in range(len(_blocks(p)))] or [("none", -1)]
)
def test_docs_example_runs(tmp_path, monkeypatch, page, i):
    assert i >= 0, "no python example found in the tested pages"
    monkeypatch.chdir(tmp_path)
    monkeypatch.syspath_prepend(str(tmp_path))
    code = _blocks(page)[i]
    try:
        exec(compile(code, f"{page}[block {i}]", "exec"), {"__name__": "__docs__"})
    finally:
        for m in ("toy_exp", "my_layers"):
            sys.modules.pop(m, None)
