"""mkdocs hook: the Getting started page takes its commands and its run-directory table from the
README, so the two never drift apart.

Markers (in any page):

- ``<!-- readme: commands -->``: the README's first fenced code block (the two front-door
  commands), verbatim;
- ``<!-- readme: section "Heading" -->``: the body of the README section ``## Heading``, with its
  links to ``docs/...`` made relative to the page.

A marker whose block or section the README lacks fails the build.
"""

from __future__ import annotations

import posixpath
import re
from pathlib import Path

from mkdocs.exceptions import PluginError

COMMANDS = re.compile(r"<!--\s*readme:\s*commands\s*-->")
SECTION = re.compile(r'<!--\s*readme:\s*section\s+"(?P<heading>[^"]+)"\s*-->')
FENCE = re.compile(r"^```[^\n]*\n.*?^```$", re.MULTILINE | re.DOTALL)
DOCS_LINK = re.compile(r"\]\(docs/(?P<target>[^)\s]*)\)")


def _readme(config) -> str:
    """The README's text."""
    return (Path(config.config_file_path).resolve().parent / "README.md").read_text("utf-8")


def first_code_block(readme: str) -> str:
    """The README's first fenced code block, fences included."""
    m = FENCE.search(readme)
    if m is None:
        raise PluginError("readme hook: README.md has no fenced code block")
    return m.group(0)


def section(readme: str, heading: str) -> str:
    """The body of the README's ``## heading`` section, up to the next ``## `` heading."""
    lines = readme.splitlines()
    try:
        start = lines.index(f"## {heading}") + 1
    except ValueError:
        raise PluginError(f'readme hook: README.md has no section "## {heading}"') from None
    end = next((i for i in range(start, len(lines)) if lines[i].startswith("## ")), len(lines))
    return "\n".join(lines[start:end]).strip("\n")


def on_page_markdown(markdown: str, page, config, files) -> str:
    """Replace the README markers of a page."""
    if "readme:" not in markdown:
        return markdown
    readme = _readme(config)
    page_dir = posixpath.dirname(page.file.src_uri) or "."

    def relink(text: str) -> str:
        return DOCS_LINK.sub(
            lambda m: f"]({posixpath.relpath(m['target'] or '.', page_dir)})", text
        )

    markdown = COMMANDS.sub(lambda _m: first_code_block(readme), markdown)
    return SECTION.sub(lambda m: relink(section(readme, m["heading"])), markdown)
