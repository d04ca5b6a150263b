"""The README is a guide whose every relative link resolves (a file or folder of the repository, and a heading
where it names an anchor); the documentation site's strict build runs in CI (.ci/run), not here."""

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CODE = re.compile(r"```.*?```", re.S)


def _slugs(markdown: str) -> set[str]:
    """GitHub's heading anchors: lower case, punctuation dropped, spaces to hyphens."""
    return {re.sub(r"[^\w\- ]", "", h.strip().lower()).replace(" ", "-")
            for h in re.findall(r"^#+\s+(.*)$", CODE.sub("", markdown), re.M)}


def _broken(markdown_file: Path) -> list[str]:
    bad = []
    for link in re.findall(r"\]\(([^()\s]+)\)", CODE.sub("", markdown_file.read_text())):
        if "://" in link or link.startswith("mailto:"):
            continue
        path, _, anchor = link.partition("#")
        target = markdown_file.parent / path if path else markdown_file
        if not target.exists():
            bad.append(f"{link}: no such file")
        elif anchor and target.suffix == ".md" and anchor not in _slugs(target.read_text()):
            bad.append(f"{link}: no heading #{anchor}")
    return bad


def test_every_relative_link_of_the_readme_resolves():
    assert _broken(ROOT / "README.md") == []


def test_the_link_check_catches_a_missing_file_and_a_missing_heading(tmp_path):
    (tmp_path / "here.md").write_text("# A heading\n")
    page = tmp_path / "README.md"
    page.write_text("[ok](here.md#a-heading) [gone](nowhere.md) [anchor](here.md#other) [web](https://x.org/y)\n")
    assert _broken(page) == ["nowhere.md: no such file", "here.md#other: no heading #other"]


def test_the_readme_is_a_guide_not_the_results():
    lines = (ROOT / "README.md").read_text().splitlines()
    assert len(lines) <= 300, f"README.md has {len(lines)} lines; results and narratives belong in docs/"
