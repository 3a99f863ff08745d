"""griffe extension for the API pages: Sphinx roles in docstrings become Markdown code spans.

The library's docstrings write references as Sphinx roles (``:func:`run_suite```,
``:class:`~ssmbench.harness.lock.RunLock```), which Markdown would show literally. This turns
each into a code span (`` `run_suite` ``, `` `RunLock` `` for a ``~`` target), leaving the
source untouched. Loaded by mkdocstrings (``extensions:`` in mkdocs.yml).
"""

from __future__ import annotations

import re
from typing import Any

import griffe

ROLE = re.compile(r":(?:py:)?(?:func|class|mod|meth|attr|data|obj|exc|const):`(?P<body>[^`]+)`")


def _code(m: re.Match) -> str:
    """One role as a code span: the title of ``title <target>``, the last part after ``~``."""
    body = m["body"].strip()
    titled = re.fullmatch(r"(?P<title>.+?)\s*<[^>]+>", body)
    if titled:
        body = titled["title"]
    elif body.startswith("~"):
        body = body[1:].rsplit(".", 1)[-1]
    return f"`{body}`"


def strip_roles(text: str) -> str:
    """Every Sphinx role of ``text`` as a code span."""
    return ROLE.sub(_code, text)


class SphinxRolesToCode(griffe.Extension):
    """Rewrite Sphinx roles in every docstring into Markdown code spans."""

    def on_instance(self, *, obj: griffe.Object, **kwargs: Any) -> None:
        """Called for every object griffe loads."""
        if obj.docstring is not None:
            obj.docstring.value = strip_roles(obj.docstring.value)
