"""MkDocs hooks of this site (listed under ``hooks:`` in mkdocs.yml).

- The benchmarks page takes in the Markdown files that the benchmark scripts write into
  ``docs/benchmarks/`` (``results.md`` first), with their image links pointed at that
  folder, or says how to make them when there are none. Those files are the scripts' to
  rewrite; mkdocs.yml excludes them as pages of their own, so the numbers appear once.
- Sphinx roles that slipped into docstrings (``:class:`X```) are shown as plain code.
"""

from __future__ import annotations

import pathlib
import re
from typing import Any

RESULTS_DIR = "benchmarks"
FIRST = "results.md"
PLACEHOLDER = "<!-- benchmark results -->"
# Titles for result files that start without a heading of their own.
TITLES = {"throttle": "Speed-limit accuracy", "tls": "FTPS throughput"}

_IMAGE_LINK = re.compile(r"(!\[[^\]]*\]\()(?!https?://|/)([^)\s]+)")
_ROLE = re.compile(r":(?:class|meth|func|attr|mod|data|exc|obj):(?=<code>)")


def _demote(text: str, levels: int) -> str:
    """Push every heading ``levels`` deeper (code fences left alone)."""
    out, in_fence = [], False
    for line in text.splitlines():
        if line.lstrip().startswith(("```", "~~~")):
            in_fence = not in_fence
        out.append("#" * levels + line if line.startswith("#") and not in_fence else line)
    return "\n".join(out)


def _section(path: pathlib.Path) -> str:
    text = path.read_text(encoding="utf-8").strip()
    if text.startswith("# "):
        title, _, body = text.partition("\n")
        title = title[2:].strip()
    else:
        title, body = TITLES.get(path.stem, path.stem.replace("_", " ").capitalize()), text
    if path.name == FIRST:  # its title is "Benchmarks": the page's own
        body = _demote(body, 1)
        section = body
    else:
        section = f"### {title}\n\n{_demote(body, 2)}"
    return _IMAGE_LINK.sub(lambda m: f"{m.group(1)}{RESULTS_DIR}/{m.group(2)}", section)


def benchmark_sections(docs_dir: pathlib.Path) -> list[str]:
    folder = docs_dir / RESULTS_DIR
    files = sorted(folder.glob("*.md"), key=lambda p: (p.name != FIRST, p.name))
    return [_section(path) for path in files]


def on_page_markdown(markdown: str, page: Any, config: Any, files: Any) -> str:
    if PLACEHOLDER not in markdown:
        return markdown
    sections = benchmark_sections(pathlib.Path(config["docs_dir"]))
    if not sections:
        sections = [
            '!!! note "No results in this build"\n'
            "    `docs/benchmarks/` holds no results yet: run the commands above to make "
            "them, then rebuild the site."
        ]
    return markdown.replace(PLACEHOLDER, "\n\n".join(sections))


def on_page_content(html: str, page: Any, config: Any, files: Any) -> str:
    return _ROLE.sub("", html)
