"""The front door holds: a short README for the installer, and no dead link in the docs.

HACS renders the whole README on the store page, so it stays short (the reference lives in
docs/); every relative link and image in README.md, CONTRIBUTING.md and docs/*.md must point at
a file that exists and, with an #anchor, at a heading of that file; quality_scale.yaml's docs
rules must name the page that does the job.
"""

from __future__ import annotations

from pathlib import Path
import re

import pytest
import yaml

ROOT = Path(__file__).parent.parent
README = ROOT / "README.md"
PAGES = sorted([README, ROOT / "CONTRIBUTING.md", *(ROOT / "docs").glob("*.md")])
QUALITY_SCALE = ROOT / "custom_components" / "marstek_strategy" / "quality_scale.yaml"
README_MAX_LINES = 250

_FENCE = re.compile(r"^(```|~~~)")
_LINK = re.compile(r"!?\[(?:[^\]\[]|\[[^\]]*\])*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
_HEADING = re.compile(r"^(#{1,6})\s+(.*?)\s*#*\s*$")
_CODE_SPAN = re.compile(r"`[^`]*`")
_PAGE_REF = re.compile(r"((?:README|CONTRIBUTING)\.md|docs/[\w.-]+\.md)(#[\w-]+)?")


def prose_lines(text: str) -> list[str]:
    """Return the lines outside fenced code blocks (a link in a code block is not a link)."""
    lines: list[str] = []
    fenced = False
    for line in text.splitlines():
        if _FENCE.match(line.strip()):
            fenced = not fenced
            continue
        if not fenced:
            lines.append(line)
    return lines


def slug(heading: str) -> str:
    """Return GitHub's anchor for a heading: lower case, punctuation dropped, spaces to '-'."""
    text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", heading)  # a link keeps its text
    text = text.strip().lower()
    text = re.sub(r"[^\w\- ]", "", text)
    return text.replace(" ", "-")


def anchors(path: Path) -> set[str]:
    """Return the anchors of a Markdown file's headings (repeats get -1, -2, ... as on GitHub)."""
    seen: dict[str, int] = {}
    found: set[str] = set()
    for line in prose_lines(path.read_text(encoding="utf-8")):
        if match := _HEADING.match(line):
            base = slug(match.group(2))
            count = seen.get(base, 0)
            seen[base] = count + 1
            found.add(base if count == 0 else f"{base}-{count}")
    return found


def headings(path: Path) -> list[str]:
    """Return the text of a Markdown file's headings."""
    return [
        match.group(2)
        for line in prose_lines(path.read_text(encoding="utf-8"))
        if (match := _HEADING.match(line))
    ]


def links(path: Path) -> list[str]:
    """Return the targets of the links and images of a Markdown file, outside code."""
    targets: list[str] = []
    for line in prose_lines(path.read_text(encoding="utf-8")):
        targets.extend(_LINK.findall(_CODE_SPAN.sub("", line)))
    return targets


def broken(source: Path, target: str) -> str | None:
    """Return why a relative link does not resolve, or None (external links are not checked)."""
    if re.match(r"^[a-z][a-z0-9+.-]*:", target, re.IGNORECASE):  # https:, mailto:, ...
        return None
    path_part, _, anchor = target.partition("#")
    resolved = (source.parent / path_part).resolve() if path_part else source
    if not resolved.exists():
        return f"{target}: no such file"
    if anchor and resolved.suffix == ".md" and anchor not in anchors(resolved):
        return f"{target}: no heading #{anchor}"
    return None


def test_the_readme_is_short() -> None:
    """HACS renders all of it: at most 250 lines, the reference is in docs/."""
    lines = README.read_text(encoding="utf-8").splitlines()
    assert len(lines) <= README_MAX_LINES, f"README.md has {len(lines)} lines"


def test_the_readme_ends_with_the_two_developer_commands() -> None:
    """The last section is for developers: the two commands and a pointer to CONTRIBUTING.md."""
    text = README.read_text(encoding="utf-8")
    last = text[text.rindex("\n## ") :]
    assert "scripts/develop" in last
    assert "scripts/test" in last
    assert "(CONTRIBUTING.md)" in last
    assert "scripts/develop" not in text[: text.rindex("\n## ")]  # nowhere before it


@pytest.mark.parametrize("page", PAGES, ids=lambda page: str(page.relative_to(ROOT)))
def test_every_relative_link_and_image_resolves(page: Path) -> None:
    problems = [problem for target in links(page) if (problem := broken(page, target))]
    assert not problems


@pytest.mark.parametrize("page", PAGES, ids=lambda page: str(page.relative_to(ROOT)))
def test_no_tracker_numbers_in_headings(page: Path) -> None:
    """A reader of the docs does not know the tracker: headings say what, not which issue."""
    assert not [h for h in headings(page) if re.search(r"\bissue\s*\d+|#\d+", h, re.I)]


def test_the_quality_scale_docs_rules_name_pages_that_exist() -> None:
    """Each docs-* rule that is done names the page (and section) that does the job."""
    rules = yaml.safe_load(QUALITY_SCALE.read_text(encoding="utf-8"))["rules"]
    for name, rule in rules.items():
        if not name.startswith("docs-") or rule == "exempt" or rule.get("status") == "exempt":
            continue
        assert isinstance(rule, dict), f"{name}: no comment naming its page"
        refs = _PAGE_REF.findall(rule.get("comment", ""))
        assert refs, f"{name}: the comment names no page"
        for page, anchor in refs:
            assert (problem := broken(ROOT / "README.md", page + anchor)) is None, (name, problem)


def test_the_link_checker_finds_a_dead_link_and_a_dead_anchor(tmp_path: Path) -> None:
    """The checks above can fail: a missing file and a missing heading are both caught."""
    assert broken(README, "docs/no-such-page.md") is not None
    assert broken(README, "docs/safety.md#no-such-heading") is not None
    assert broken(README, "docs/images/no-such-image.png") is not None
    assert broken(README, "https://example.com/anything") is None
    assert slug("Where we lose, and against whom") == "where-we-lose-and-against-whom"
    assert slug("Inputs and read-back: what is guaranteed") == (
        "inputs-and-read-back-what-is-guaranteed"
    )
    page = tmp_path / "page.md"
    page.write_text("# A\n\n```\n[x](nowhere.md)\n```\n\n![i](img.png) `[y](nowhere.md)`\n")
    assert links(page) == ["img.png"]
