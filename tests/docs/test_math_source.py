"""The LaTeX in the pages' Markdown is whole: paired delimiters pair up, no control characters.

A page written through a string with Python escapes loses ``\\r``, ``\\t``, ``\\f``, ``\\b`` and
``\\v`` to control characters (``\\rVert`` became a line break and ``Vert``, and the equation broke
on the site). These checks catch that and its cousins, page by page, in both languages.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

DOCS = Path(__file__).resolve().parents[2] / "docs"
PAGES = sorted(p.relative_to(DOCS).as_posix() for lang in ("en", "zh") for p in (DOCS / lang).rglob("*.md"))
PAIRS = (("\\lVert", "\\rVert"), ("\\left", "\\right"), ("\\langle", "\\rangle"), ("\\lfloor", "\\rfloor"))
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x0c\x0d\x0e-\x1f]")


def problems(text: str) -> list[str]:
    """What is wrong with a page's LaTeX source (empty when nothing is)."""
    found = []
    for opening, closing in PAIRS:
        opened = len(re.findall(re.escape(opening) + r"(?![a-zA-Z])", text))
        closed = len(re.findall(re.escape(closing) + r"(?![a-zA-Z])", text))
        if opened != closed:
            found.append(f"{opening} x{opened} but {closing} x{closed}")
    begins = re.findall(r"\\begin\{([a-zA-Z*]+)\}", text)
    ends = re.findall(r"\\end\{([a-zA-Z*]+)\}", text)
    if sorted(begins) != sorted(ends):
        found.append(f"\\begin {sorted(begins)} vs \\end {sorted(ends)}")
    for number, line in enumerate(text.split("\n"), 1):  # not splitlines: it splits at \f too
        if _CONTROL.search(line):
            found.append(f"line {number}: a control character ({_CONTROL.search(line).group()!r})")
    return found


def test_there_are_pages():
    assert "en/index.md" in PAGES and "zh/index.md" in PAGES


@pytest.mark.parametrize("page", PAGES)
def test_page_latex_is_whole(page: str):
    text = (DOCS / page).read_text(encoding="utf-8")
    assert not problems(text), f"docs/{page}: " + "; ".join(problems(text))


def test_checker_catches_an_escape_casualty():
    broken = "$\\lVert \\mathbf{W} \nVert^2$ and \\left( x \\right) and \x0crac{1}{2}"
    found = problems(broken)
    assert any("lVert x1 but \\rVert x0" in f for f in found)
    assert any("control character" in f for f in found)
    assert problems("$\\lVert W \\rVert^2$, \\left( x \\right), \\begin{aligned} a \\end{aligned}") == []
