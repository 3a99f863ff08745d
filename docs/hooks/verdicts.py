"""mkdocs hook: each claim page shows the verdicts and plots of its committed run.

``CLAIM_RUNS`` below is the one place that maps a claim page to its committed run
directories. For every mapped directory the hook inserts, at the marker
``<!-- verdicts: results/<dir> -->`` in the page (or, when the page has no marker for it, at the
end of the page under a heading of its own):

- the run's header lines (commit, versions, device, date, cells) from ``summary.md``;
- its verdict lines, parsed from the ``## Verdicts`` section of ``summary.md`` (the lines the
  runner wrote), as a table: verdict, claim and scope, measured evidence;
- its PNG plots, copied into the built site under the same path (``results/<dir>/*.png``).

It also copies any image a page links into the repository's ``results/`` (e.g.
``../../results/sbi/x.png``, which is right on GitHub), and rewrites that link to the copy.

The build fails (``PluginError``) when a mapped page or run directory is missing, when a run
directory has no ``summary.md`` or no verdict lines, or when a marker names a directory the
mapping does not give for that page.
"""

from __future__ import annotations

import html
import posixpath
import re
from dataclasses import dataclass
from pathlib import Path

from mkdocs.exceptions import PluginError
from mkdocs.structure.files import File, Files

#: claim page (relative to docs/) -> its committed run directories (relative to the repo root)
CLAIM_RUNS: dict[str, list[str]] = {
    "claims/complex-vs-real.md": ["results/theory-complex-vs-real"],
    "claims/dsr.md": ["results/dsr"],
    "claims/chimera.md": ["results/chimera"],
    "claims/feature-learning.md": ["results/theory-feature-learning/v6-mamba"],
    "claims/rough-paths.md": [
        "results/theory-rough-paths",
        "results/rough-paths-closure/closure",
        "results/rough-paths-closure/mamba-e2e",
    ],
    "claims/sbi.md": ["results/sbi"],
    "claims/xfads.md": ["results/xfads"],
}

STATUSES = ("CONFIRMED", "REFUTED", "INCONCLUSIVE")
MARKER = re.compile(r"<!--\s*verdicts:\s*(?P<dir>[^\s>]+?)/?\s*-->")
VERDICT_LINE = re.compile(
    r"^- \*\*(?P<status>CONFIRMED|REFUTED|INCONCLUSIVE)\*\*"
    r"(?: \[scope: (?P<scope>[^\]]*)\])?: (?P<claim>.*?) — (?P<evidence>.*)$"
)
# a Markdown link or image target: ](target) or ](target "title")
LINK = re.compile(r"(?P<head>!?\[[^\]]*\]\()(?P<target>[^)\s]+)(?P<tail>(?:\s+\"[^\"]*\")?\))")
IMAGE_SUFFIXES = (".png", ".svg", ".jpg", ".jpeg", ".gif")


@dataclass(frozen=True)
class VerdictLine:
    """One verdict line of a summary.md, split into its parts."""

    status: str
    scope: str
    claim: str
    evidence: str
    text: str  # the line as summary.md has it, without the leading "- "


@dataclass(frozen=True)
class RunSummary:
    """What a claim page shows of one committed run."""

    run_dir: str  # relative to the repository root, e.g. "results/sbi"
    title: str
    header: list[str]  # the bullet lines under the title (commit, cells, ...)
    tally: str  # "9 CONFIRMED, 0 REFUTED, 7 INCONCLUSIVE"
    verdicts: list[VerdictLine]
    plots: list[str]  # file names of the run's top-level PNG plots, sorted


def repo_root(config) -> Path:
    """The repository root: the folder of mkdocs.yml."""
    return Path(config.config_file_path).resolve().parent


def parse_summary(text: str) -> tuple[str, list[str], str, list[VerdictLine]]:
    """Title, header bullets, tally and verdict lines of a summary.md written by the runner."""
    lines = text.splitlines()
    title = lines[0].removeprefix("# ").strip() if lines else ""
    header: list[str] = []
    verdicts: list[VerdictLine] = []
    tally = ""
    section = "head"
    for line in lines[1:]:
        if line.startswith("## "):
            section = "verdicts" if line.strip() == "## Verdicts" else "other"
            continue
        if section == "head" and line.startswith("- "):
            header.append(line[2:])
        elif section == "verdicts":
            m = VERDICT_LINE.match(line)
            if m:
                verdicts.append(
                    VerdictLine(
                        status=m["status"],
                        scope=m["scope"] or "",
                        claim=m["claim"],
                        evidence=m["evidence"],
                        text=line[2:],
                    )
                )
            elif line.strip() and not tally and any(s in line for s in STATUSES):
                tally = line.strip()
    return title, header, tally, verdicts


def load_run(root: Path, run_dir: str) -> RunSummary:
    """Read a committed run directory; raise PluginError when it cannot give a verdict table."""
    path = root / run_dir
    if not path.is_dir():
        raise PluginError(f"verdicts hook: run directory {run_dir}/ does not exist")
    summary = path / "summary.md"
    if not summary.is_file():
        raise PluginError(f"verdicts hook: {run_dir}/summary.md does not exist")
    title, header, tally, verdicts = parse_summary(summary.read_text(encoding="utf-8"))
    if not verdicts:
        raise PluginError(f"verdicts hook: {run_dir}/summary.md has no verdict lines")
    plots = sorted(p.name for p in path.glob("*.png"))
    return RunSummary(run_dir, title, header, tally, verdicts, plots)


def _inline(text: str) -> str:
    """Escape text for HTML and turn `code` spans into <code>."""
    parts = text.split("`")
    out = []
    for i, part in enumerate(parts):
        esc = html.escape(part, quote=False)
        out.append(f"<code>{esc}</code>" if i % 2 and i < len(parts) - 1 else esc)
    if len(parts) % 2 == 0:  # an unpaired backtick: keep it as text
        out[-1] = "`" + out[-1]
    return "".join(out)


def verdict_table(verdicts: list[VerdictLine]) -> str:
    """The verdict lines as one HTML table (a raw HTML block: no blank line inside)."""
    rows = [
        '<table data-ssmbench="verdicts">',  # no class: material styles class-less tables
        "<thead><tr><th>verdict</th><th>claim</th><th>measured</th></tr></thead>",
        "<tbody>",
    ]
    for v in verdicts:
        scope = f"<br><em>scope: {_inline(v.scope)}</em>" if v.scope else ""
        rows.append(
            f'<tr class="ssmbench-verdict" data-verdict="{v.status}">'
            f"<td><strong>{v.status}</strong></td>"
            f"<td>{_inline(v.claim)}{scope}</td>"
            f"<td>{_inline(v.evidence)}</td></tr>"
        )
    rows += ["</tbody>", "</table>"]
    return "\n".join(rows)


def site_path(page_src_uri: str, target_src_uri: str) -> str:
    """The relative link from a page (docs-relative source path) to a docs-relative file."""
    return posixpath.relpath(target_src_uri, posixpath.dirname(page_src_uri) or ".")


def render_run(run: RunSummary, page_src_uri: str, *, heading: str | None = None) -> str:
    """The Markdown inserted for one run: header, verdict table, plots."""
    out = []
    if heading:
        out += [heading, ""]
    out += [
        f"**Committed run `{run.run_dir}/`** ({run.title}), generated from its `summary.md` "
        "when the site is built:",
        "",
        *[f"- {h}" for h in run.header],
        "",
    ]
    if run.tally:
        out += [f"Verdicts: {run.tally}.", ""]
    out += [verdict_table(run.verdicts), ""]
    if run.plots:
        out += [f"Plots of `{run.run_dir}/`:", ""]
        for name in run.plots:
            src = site_path(page_src_uri, f"{run.run_dir}/{name}")
            out += [f"![{run.run_dir}/{name}]({src})", "", f"*{name}*", ""]
    return "\n".join(out)


def _add_file(files: Files, config, src_uri: str, abs_path: Path) -> None:
    """Register a repository file (outside docs/) to be copied into the site at src_uri."""
    if files.get_file_from_path(src_uri) is None:
        files.append(File.generated(config, src_uri, abs_src_path=str(abs_path)))


def on_config(config):
    """Check the mapping before anything is built: every page and run directory must exist."""
    root = repo_root(config)
    docs = Path(config.docs_dir)
    for page, run_dirs in CLAIM_RUNS.items():
        if not (docs / page).is_file():
            raise PluginError(f"verdicts hook: mapped claim page docs/{page} does not exist")
        for run_dir in run_dirs:
            load_run(root, run_dir)
    return config


def _rewrite_results_links(markdown: str, page, config, files: Files) -> str:
    """Copy images that a page links into the repository's results/ and point the link there."""
    root = repo_root(config)
    docs = Path(config.docs_dir).resolve()
    page_dir = (docs / page.file.src_uri).parent

    def fix(m: re.Match) -> str:
        target = m["target"]
        if "://" in target or target.startswith(("#", "/", "mailto:")):
            return m.group(0)
        path_part = target.split("#", 1)[0]
        if not path_part.lower().endswith(IMAGE_SUFFIXES):
            return m.group(0)
        abs_path = (page_dir / path_part).resolve()
        try:
            rel = abs_path.relative_to(root)
        except ValueError:
            return m.group(0)
        if rel.parts[:1] != ("results",) or abs_path.is_relative_to(docs):
            return m.group(0)
        if not abs_path.is_file():
            raise PluginError(f"verdicts hook: docs/{page.file.src_uri} links {target}, missing")
        src_uri = rel.as_posix()
        _add_file(files, config, src_uri, abs_path)
        return f"{m['head']}{site_path(page.file.src_uri, src_uri)}{m['tail']}"

    return LINK.sub(fix, markdown)


def on_page_markdown(markdown: str, page, config, files: Files) -> str:
    """Insert the verdict tables and plots of the page's committed runs."""
    markdown = _rewrite_results_links(markdown, page, config, files)
    src_uri = page.file.src_uri
    run_dirs = CLAIM_RUNS.get(src_uri, [])
    root = repo_root(config)
    for m in MARKER.finditer(markdown):
        if m["dir"] not in run_dirs:
            raise PluginError(
                f"verdicts hook: docs/{src_uri} has a marker for {m['dir']}, which CLAIM_RUNS "
                f"in docs/hooks/verdicts.py does not map to this page (mapped: {run_dirs})"
            )
    for run_dir in run_dirs:
        run = load_run(root, run_dir)
        for name in run.plots:
            _add_file(files, config, f"{run_dir}/{name}", root / run_dir / name)
        marker = re.compile(rf"<!--\s*verdicts:\s*{re.escape(run_dir)}/?\s*-->")
        if marker.search(markdown):
            block = render_run(run, src_uri)
            markdown = marker.sub(lambda _m, b=block: b, markdown)
        else:
            heading = f"## Committed run: `{run_dir}/`"
            markdown = markdown.rstrip("\n") + "\n\n" + render_run(run, src_uri, heading=heading)
    return markdown
