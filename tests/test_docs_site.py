"""The documentation site (issue #25): ``mkdocs build --strict`` passes; each claim page carries
the verdict lines of its committed run, generated from ``results/<run>/summary.md``, and its
plots; the API pages render signatures; Getting started has the README's commands.

Needs the ``docs`` extra (mkdocs, mkdocs-material, mkdocstrings-python); skipped without it.
One strict build (about 10 s) into a temporary folder serves every test.
"""

from __future__ import annotations

import html
import importlib.util
import re
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path

import pytest

for _mod in ("mkdocs", "material", "mkdocstrings", "mkdocstrings_handlers.python"):
    pytest.importorskip(_mod, reason="the docs extra is not installed: pip install -e '.[docs]'")

ROOT = Path(__file__).resolve().parents[1]
STATUSES = ("CONFIRMED", "REFUTED", "INCONCLUSIVE")


def _load_hook():
    spec = importlib.util.spec_from_file_location("_verdicts_hook", ROOT / "docs/hooks/verdicts.py")
    mod = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = mod  # dataclasses look their module up
    spec.loader.exec_module(mod)
    return mod


HOOK = _load_hook()


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("site")
    proc = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--quiet", "-f", "mkdocs.yml"]
        + ["-d", str(out)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        env={**__import__("os").environ, "NO_MKDOCS_2_WARNING": "1"},
    )
    assert proc.returncode == 0, f"mkdocs build --strict failed:\n{proc.stdout}\n{proc.stderr}"
    return out


class _Article(HTMLParser):
    """Rows of the generated verdict tables and the images of a page's article."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.rows: list[list[str]] = []  # [status, claim cell, evidence cell]
        self.images: list[str] = []
        self.text: list[str] = []
        self._row: list[str] | None = None
        self._cell: list[str] | None = None
        self._in_article = 0

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "article":
            self._in_article += 1
        if tag == "tr" and "data-verdict" in a:
            self._row = []
        elif tag == "td" and self._row is not None:
            self._cell = []
        elif tag == "br" and self._cell is not None:
            self._cell.append("\n")
        elif tag == "code" and self._cell is not None:
            self._cell.append("`")
        elif tag == "img" and self._in_article:
            self.images.append(a.get("src", ""))

    def handle_endtag(self, tag):
        if tag == "article":
            self._in_article -= 1
        elif tag == "code" and self._cell is not None:
            self._cell.append("`")
        elif tag == "td" and self._cell is not None and self._row is not None:
            self._row.append("".join(self._cell))
            self._cell = None
        elif tag == "tr" and self._row is not None:
            self.rows.append(self._row)
            self._row = None

    def handle_data(self, data):
        if self._cell is not None:
            self._cell.append(data)
        if self._in_article:
            self.text.append(data)


def _page(site: Path, src_uri: str) -> tuple[_Article, Path]:
    """Parse the built page of a docs-relative source file (use_directory_urls)."""
    stem = src_uri.removesuffix(".md")
    path = site / ("index.html" if stem == "index" else f"{stem}/index.html")
    parser = _Article()
    parser.feed(path.read_text(encoding="utf-8"))
    return parser, path


def _summary_lines(run_dir: str) -> list[str]:
    """The verdict lines of a committed summary.md, as written (without the leading '- ')."""
    text = (ROOT / run_dir / "summary.md").read_text(encoding="utf-8")
    verdicts = text.split("\n## Verdicts\n", 1)[1].split("\n## ", 1)[0]
    return [
        line[2:]
        for line in verdicts.splitlines()
        if any(line.startswith(f"- **{s}**") for s in STATUSES)
    ]


def _as_line(row: list[str]) -> str:
    """Rebuild a summary.md verdict line from a row of the generated HTML table."""
    status, claim_cell, evidence = row
    claim, _, scope = claim_cell.partition("\nscope: ")
    scope_text = f" [scope: {scope}]" if scope else ""
    return f"{status}{scope_text}: {claim} — {evidence}".replace(status, f"**{status}**", 1)


def test_claim_pages_show_the_verdicts_of_their_committed_runs(site):
    assert HOOK.CLAIM_RUNS, "no claim page is mapped to a run"
    for src_uri, run_dirs in HOOK.CLAIM_RUNS.items():
        page, path = _page(site, src_uri)
        built = [_as_line(r) for r in page.rows]
        expected = [line for d in run_dirs for line in _summary_lines(d)]
        assert expected, f"{run_dirs} have no verdict lines"
        # every verdict line of every mapped run, in order, and nothing else
        assert built == expected, f"{path}: the verdict table differs from {run_dirs}"


def test_a_verdict_line_of_the_sbi_run_is_on_its_page(site):
    line = _summary_lines("results/sbi")[0]
    page, _ = _page(site, "claims/sbi.md")
    assert line in [_as_line(r) for r in page.rows]
    assert line.startswith("**CONFIRMED**: oracle:")  # the committed run's first check


def test_claim_page_plots_are_in_the_site(site):
    for src_uri, run_dirs in HOOK.CLAIM_RUNS.items():
        page, path = _page(site, src_uri)
        shown = set()
        for src in page.images:
            assert "://" not in src, f"{path}: remote image {src}"
            target = (path.parent / src.split("#")[0]).resolve()
            assert target.is_file(), f"{path}: image {src} is not in the built site"
            shown.add(target.relative_to(site.resolve()).as_posix())
        for d in run_dirs:
            for png in sorted((ROOT / d).glob("*.png")):
                rel = f"{d}/{png.name}"
                assert rel in shown, f"{path}: plot {rel} of the committed run is not shown"
                assert (site / rel).read_bytes() == png.read_bytes()


def test_api_pages_render_signatures(site):
    text = html.unescape(re.sub(r"<[^>]+>", "", (site / "api/harness/index.html").read_text()))
    assert re.search(r"run_suite\(\s*suite", text), "run_suite's signature is not on the page"
    top = html.unescape(re.sub(r"<[^>]+>", "", (site / "api/index.html").read_text()))
    assert "run_suite(" in top
    assert ":func:`" not in top  # Sphinx roles are shown as code, not verbatim


def test_getting_started_has_the_readme_commands(site):
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    commands = re.search(r"```bash\n(.*?)```", readme, re.DOTALL)[1].strip().splitlines()
    page, _ = _page(site, "index.md")
    text = "".join(page.text)
    for command in commands:
        assert command in text


def test_a_missing_run_directory_fails_the_build(tmp_path, monkeypatch):
    from mkdocs.exceptions import PluginError

    class Config:
        config_file_path = str(ROOT / "mkdocs.yml")
        docs_dir = str(ROOT / "docs")

    monkeypatch.setattr(HOOK, "CLAIM_RUNS", {"claims/xfads.md": ["results/no-such-run"]})
    with pytest.raises(PluginError, match="results/no-such-run/ does not exist"):
        HOOK.on_config(Config())
    monkeypatch.setattr(HOOK, "CLAIM_RUNS", {"claims/no-such-claim.md": ["results/xfads"]})
    with pytest.raises(PluginError, match="no-such-claim.md does not exist"):
        HOOK.on_config(Config())


def test_a_results_image_link_is_copied_and_rewritten(tmp_path):
    # a page links a plot as GitHub shows it (relative to docs/claims/); the site gets a copy
    from types import SimpleNamespace

    from mkdocs.config import load_config
    from mkdocs.structure.files import Files

    config = load_config(str(ROOT / "mkdocs.yml"), site_dir=str(tmp_path))
    config.plugins._current_plugin = None  # set by mkdocs while it runs an event
    page = SimpleNamespace(file=SimpleNamespace(src_uri="claims/sbi.md"))
    files = Files([])
    name = "plot0-lgssm-mmd2_budget-vs-budget.png"
    out = HOOK._rewrite_results_links(f"![a plot](../../results/sbi/{name})", page, config, files)
    assert out == f"![a plot](../results/sbi/{name})"
    assert files.get_file_from_path(f"results/sbi/{name}") is not None
    # links that do not point into results/ are left alone
    same = "![x](../other.png) [y](../suites.md) ![z](https://example.org/z.png)"
    assert HOOK._rewrite_results_links(same, page, config, files) == same
