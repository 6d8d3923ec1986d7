"""The README is the front door: short, with the two commands a newcomer types, and every link in
it and in docs/ leads somewhere (a moved section or screenshot shows up here, not to a reader)."""

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
README = ROOT / "README.md"
PAGES = [README, *sorted((ROOT / "docs").glob("*.md"))]

INSTALL_AND_LAUNCH = "pip install -e . && catdog-desktop"
TEST_COMMAND = 'pip install -e ".[test]" && python -m pytest'

FENCE = re.compile(r"^```.*?^```", re.MULTILINE | re.DOTALL)
CODE_SPAN = re.compile(r"`[^`\n]*`")
LINK = re.compile(r"!?\[[^\]]*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
HEADING = re.compile(r"^#{1,6}\s+(.*?)\s*#*\s*$", re.MULTILINE)


def prose(path):
    """The page's text without code blocks and code spans (a `[x](y)` in code is not a link)."""
    return CODE_SPAN.sub("", FENCE.sub("", path.read_text(encoding="utf-8")))


def anchors(path):
    """The anchors GitHub makes from the page's headings: lower case, punctuation dropped,
    spaces to hyphens."""
    text = FENCE.sub("", path.read_text(encoding="utf-8"))
    return {re.sub(r"[^\w\- ]", "", h.replace("`", "").lower()).replace(" ", "-")
            for h in HEADING.findall(text)}


def links(path):
    return [t for t in LINK.findall(prose(path)) if not re.match(r"[a-z]+:", t)]


def test_readme_is_short():
    lines = README.read_text(encoding="utf-8").count("\n")
    assert lines <= 250, f"README.md has {lines} lines; move detail into docs/"


@pytest.mark.parametrize("command", [INSTALL_AND_LAUNCH, TEST_COMMAND])
def test_readme_gives_the_commands_verbatim(command):
    assert command in README.read_text(encoding="utf-8")


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.relative_to(ROOT).as_posix())
def test_every_link_and_image_resolves(page):
    broken = []
    for target in links(page):
        file_part, _, anchor = target.partition("#")
        dest = (page.parent / file_part).resolve() if file_part else page
        if not dest.exists():
            broken.append(f"{target}: no such file")
        elif anchor and dest.suffix == ".md" and anchor not in anchors(dest):
            broken.append(f"{target}: no heading makes #{anchor}")
    assert not broken, f"{page.name}: " + "; ".join(broken)


def test_every_docs_page_is_reachable_from_the_readme():
    linked = {(README.parent / t.partition("#")[0]).resolve() for t in links(README)}
    index = ROOT / "docs" / "index.md"
    linked |= {(index.parent / t.partition("#")[0]).resolve() for t in links(index)}
    orphans = [p.name for p in PAGES[1:] if p.resolve() not in linked]
    assert index.resolve() in linked and not orphans, orphans
