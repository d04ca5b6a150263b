"""MkDocs hook: the repository files outside ``docs/`` that the pages include, show or link to.

The pages are written to read on GitHub as well, so they name repository files by their
path relative to the page (``../../figures/fig2.png`` from ``docs/results/``). MkDocs only
knows ``docs/``; this hook bridges the two, without copying anything into ``docs/``:

* **Includes.** A line ``--8<-- "PATH"`` includes a repository file where it stands
  (``"PATH:N"``: from line ``N`` on, to skip a generated table's title; ``"PATH:NAME"``:
  the lines between ``--8<-- [start:NAME]`` and ``--8<-- [end:NAME]``), the syntax of
  pymdownx.snippets. The included text is written for GitHub, so two of its habits are
  adapted to Python-Markdown: a list that follows a paragraph line gets the blank line
  Python-Markdown needs, and ``$$…$$`` inside a paragraph (display maths on GitHub) becomes
  ``$\\displaystyle …$``. Its relative links are re-based onto the page.
* **Figures.** Every ``.png`` and ``.json`` of ``figures/`` is added to the site under
  ``figures/``, read from where it is.
* **Links.** A link that leaves ``docs/`` is rewritten to that copy, or, for a file that a
  page includes, to that page; any other link that leaves ``docs/`` is a warning, so
  ``mkdocs build --strict`` fails on it rather than publishing a dead link. So is an
  include whose file or section does not exist.
"""

from __future__ import annotations

import logging
import posixpath
import re
from pathlib import Path

from mkdocs.structure.files import File

log = logging.getLogger("mkdocs.hooks.repo_files")

FIGURE_SUFFIXES = (".png", ".json")
_INCLUDE = re.compile(r'^--8<-- "([^"]+)"\s*$')
# An inline link or image: ](target) or ](target "title"); the target has no spaces or parentheses.
_LINK = re.compile(r"\]\(([^()\s]+)((?:\s+\"[^\"]*\")?)\)")
_FENCE = re.compile(r"^\s*(```|~~~)")
_LIST_ITEM = re.compile(r"^\s*(?:[*+-]|\d+\.)\s")
_DISPLAY = re.compile(r"\$\$(.+?)\$\$", re.S)

INCLUDED: dict[str, str] = {}  # repository file -> the page that includes it (the first, in path order)


def _repo(config) -> Path:
    return Path(config["config_file_path"]).resolve().parent


def _outside_fences(lines):
    """``(index, line)`` of the lines that are not inside a fenced code block."""
    fenced = False
    for i, line in enumerate(lines):
        if _FENCE.match(line):
            fenced = not fenced
            continue
        if not fenced:
            yield i, line


def on_files(files, config):
    root = _repo(config)
    INCLUDED.clear()
    for page in sorted(files.documentation_pages(), key=lambda f: f.src_uri):
        lines = Path(page.abs_src_path).read_text(encoding="utf-8").split("\n")
        for _, line in _outside_fences(lines):
            m = _INCLUDE.match(line)
            if m:
                INCLUDED.setdefault(m.group(1).split(":")[0], page.src_uri)
    for path in sorted((root / "figures").iterdir()):
        if path.is_file() and path.suffix in FIGURE_SUFFIXES:
            files.append(File.generated(config, f"figures/{path.name}", abs_src_path=str(path)))
    return files


def _section(lines: list[str], name: str) -> list[str] | None:
    starts = [i for i, line in enumerate(lines) if f"--8<-- [start:{name}]" in line]
    ends = [i for i, line in enumerate(lines) if f"--8<-- [end:{name}]" in line]
    if len(starts) != 1 or len(ends) != 1 or ends[0] < starts[0]:
        return None
    return lines[starts[0] + 1 : ends[0]]


def _for_python_markdown(lines: list[str]) -> list[str]:
    """GitHub-flavoured habits of an included file, in the form Python-Markdown reads."""
    out, in_list, fenced = [], False, False
    for line in lines:
        if _FENCE.match(line):
            fenced = not fenced
        elif not fenced:
            if _LIST_ITEM.match(line):
                if out and out[-1].strip() and not in_list:
                    out.append("")  # a list right after a paragraph line
                in_list = True
            elif line.strip() and not line[0].isspace():
                in_list = False
        out.append(line)
    text = "\n".join(out)
    # $$…$$ that does not stand as a block of its own: inline maths in display style
    blocks = re.split(r"(\n\s*\n)", text)
    for i, block in enumerate(blocks):
        if "$$" in block and not (block.strip().startswith("$$") and block.strip().endswith("$$")):
            blocks[i] = _DISPLAY.sub(lambda m: "$\\displaystyle " + m.group(1).strip() + "$", block)
    return "".join(blocks).split("\n")


def _include(spec: str, page_uri: str, root: Path, where: str) -> list[str]:
    path, _, selector = spec.partition(":")
    source = root / path
    if not source.is_file():
        log.warning("%s: included file %r does not exist", where, path)
        return []
    lines = source.read_text(encoding="utf-8").split("\n")
    if selector.isdigit():
        lines = lines[int(selector) - 1 :]
    elif selector:
        section = _section(lines, selector)
        if section is None:
            log.warning("%s: included file %r has no section %r", where, path, selector)
            return []
        lines = section
    page_dir = posixpath.join("docs", posixpath.dirname(page_uri))

    def rebase(m):  # a link relative to the included file, made relative to the page
        target = m.group(1)
        if "://" in target or target.startswith(("#", "mailto:", "/")):
            return m.group(0)
        in_repo = posixpath.normpath(posixpath.join(posixpath.dirname(path), target))
        return f"]({posixpath.relpath(in_repo, page_dir)}{m.group(2)})"

    lines = [_LINK.sub(rebase, line) for line in lines]
    return _for_python_markdown(lines)


def _rewrite(target: str, page_uri: str, root: Path, where: str) -> str:
    if "://" in target or target.startswith(("#", "mailto:", "/")):
        return target
    path, _, anchor = target.partition("#")
    page_dir = posixpath.dirname(page_uri)
    in_repo = posixpath.normpath(posixpath.join("docs", page_dir, path))
    if in_repo.startswith("docs/") or in_repo == "docs":
        return target  # inside the site: MkDocs validates it
    if in_repo.startswith("figures/") and posixpath.splitext(in_repo)[1] in FIGURE_SUFFIXES:
        site_uri = in_repo
    elif in_repo in INCLUDED:
        site_uri = INCLUDED[in_repo]
    else:
        log.warning("%s: link to %r leaves docs/ and is not published in the site", where, target)
        return target
    if not (root / in_repo).exists():
        log.warning("%s: link to %r: %s does not exist", where, target, in_repo)
    new = posixpath.relpath(site_uri, page_dir or ".")
    return new + ("#" + anchor if anchor else "")


def on_page_markdown(markdown, page, config, files):
    root = _repo(config)
    uri = page.file.src_uri
    lines = markdown.split("\n")
    expanded = []
    outside = dict(_outside_fences(lines))
    for i, line in enumerate(lines):
        m = _INCLUDE.match(line) if i in outside else None
        expanded.extend(_include(m.group(1), uri, root, uri) if m else [line])
    lines = expanded
    outside = dict(_outside_fences(lines))
    return "\n".join(
        _LINK.sub(lambda m: f"]({_rewrite(m.group(1), uri, root, uri)}{m.group(2)})", line) if i in outside else line
        for i, line in enumerate(lines)
    )
