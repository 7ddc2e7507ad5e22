"""Every Chinese page mirrors its English page.

English is the source; ``docs/zh/<path>`` translates ``docs/en/<path>``. The prose differs, the
structure must not: the same files, the same headings in the same order with the same explicit
anchors (and every heading has one), the same snippet includes, the same display equations and
equation labels, the same images, the same link targets, the same ``<!-- recnotes:... -->``
markers and the same API directives. Each failure names the file and the difference.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import pytest

DOCS = Path(__file__).resolve().parents[2] / "docs"
EN, ZH = DOCS / "en", DOCS / "zh"

_FENCE = re.compile(r"^[ \t]*(`{3,}|~{3,})")
_HEADING = re.compile(r"^(#{1,6})[ \t]+(.*?)[ \t]*#*[ \t]*$")
_ANCHOR = re.compile(r"\{[^{}]*?#([\w:.-]+)[^{}]*\}\s*$")
_SNIPPET_INLINE = re.compile(r"""^[ \t]*-{1,}8<-{1,}[ \t]+(["'])(.+?)\1""")
_SNIPPET_BLOCK = re.compile(r"^[ \t]*-{1,}8<-{1,}[ \t]*$")
_MARKER = re.compile(r"<!--\s*recnotes:.*?-->", re.DOTALL)
_DIRECTIVE = re.compile(r"^:::[ \t]+(\S+)")
_CODE_SPAN = re.compile(r"(`+)(?!`).+?(?<!`)\1(?!`)")
_INLINE_MATH = re.compile(r"(?<![\\$])\$(?!\$)[^$\n]+?\$")
_IMAGE = re.compile(r"!\[[^\]]*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
_IMG_TAG = re.compile(r"<img\b[^>]*?\bsrc=[\"']([^\"']+)[\"']", re.IGNORECASE)
_LINK = re.compile(r"(?<!!)\[(?:[^\[\]]|\[[^\]]*\])*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
_REF_LINK = re.compile(r"(?<!!)\[(?:[^\[\]]|\[[^\]]*\])+\]\[([^\]]+)\]")
_REF_DEF = re.compile(r"^[ ]{0,3}\[([^\]]+)\]:[ \t]*<?(\S+?)>?(?:[ \t]+.*)?$")
_HREF = re.compile(r"<a\b[^>]*?\bhref=[\"']([^\"']+)[\"']", re.IGNORECASE)
_BEGIN = re.compile(r"\\begin\{([a-zA-Z*]+)\}")
_LABEL = re.compile(r"\\label\{([^}]+)\}")


@dataclass
class PageStructure:
    """What must be the same in both languages, extracted from one page's Markdown."""

    #: (level, anchor, text) of every heading, in order
    headings: list[tuple[int, str | None, str]] = field(default_factory=list)
    snippets: list[str] = field(default_factory=list)
    display_math: int = 0
    environments: list[str] = field(default_factory=list)
    labels: list[str] = field(default_factory=list)
    images: list[str] = field(default_factory=list)
    links: Counter = field(default_factory=Counter)
    markers: list[str] = field(default_factory=list)
    directives: list[str] = field(default_factory=list)


def extract(markdown: str) -> PageStructure:
    """Parse the parts of a page that translation must keep."""
    page = PageStructure()
    fence = ""
    in_snippet_block = False
    prose: list[str] = []  # lines outside code fences, for links, images and math
    for line in markdown.splitlines():
        # snippet includes may sit inside a fence (```python\n--8<-- "x.py"\n```)
        if in_snippet_block:
            if _SNIPPET_BLOCK.match(line):
                in_snippet_block = False
            elif line.strip():
                page.snippets.append(line.strip())
            continue
        if m := _SNIPPET_INLINE.match(line):
            page.snippets.append(m.group(2))
            continue
        if _SNIPPET_BLOCK.match(line):
            in_snippet_block = True
            continue
        opening = _FENCE.match(line)
        if fence:
            if opening and opening.group(1)[0] == fence[0] and len(opening.group(1)) >= len(fence):
                fence = ""
            continue
        if opening:
            fence = opening.group(1)
            continue
        prose.append(line)
        if m := _HEADING.match(line):
            anchor = _ANCHOR.search(m.group(2))
            text = _ANCHOR.sub("", m.group(2)).strip()
            page.headings.append((len(m.group(1)), anchor.group(1) if anchor else None, text))
        if m := _DIRECTIVE.match(line):
            page.directives.append(m.group(1))
        if m := _REF_DEF.match(line):
            page.links[m.group(2)] += 1

    text = "\n".join(prose)
    page.markers = [" ".join(m.split()) for m in _MARKER.findall(text)]
    text = _MARKER.sub("", text)
    text = _CODE_SPAN.sub("", text)
    page.display_math = text.count("$$") // 2 + len(re.findall(r"^[ \t]*\\\[", text, re.MULTILINE))
    page.environments = _BEGIN.findall(text)
    page.labels = _LABEL.findall(text)
    text = _INLINE_MATH.sub("", text)  # math may hold brackets that look like links
    page.images = _IMAGE.findall(text) + _IMG_TAG.findall(text)
    without_images = _IMAGE.sub("", text)
    for target in _LINK.findall(without_images) + _HREF.findall(without_images):
        page.links[target] += 1
    for ref in _REF_LINK.findall(without_images):
        page.links[f"[{ref}]"] += 1
    return page


def compare(en_markdown: str, zh_markdown: str) -> list[str]:
    """The structural differences between an English page and its Chinese translation."""
    en, zh = extract(en_markdown), extract(zh_markdown)
    problems: list[str] = []
    for lang, page in (("en", en), ("zh", zh)):
        for level, anchor, text in page.headings:
            if anchor is None:
                problems.append(
                    f"{lang}: heading {'#' * level} {text!r} has no explicit {{ #anchor }}"
                )
    en_anchors = [(level, anchor) for level, anchor, _ in en.headings]
    zh_anchors = [(level, anchor) for level, anchor, _ in zh.headings]
    if en_anchors != zh_anchors:
        problems.append(f"headings differ (level, anchor): en {en_anchors} vs zh {zh_anchors}")
    if en.snippets != zh.snippets:
        problems.append(f"snippet includes differ: en {en.snippets} vs zh {zh.snippets}")
    if en.display_math != zh.display_math:
        problems.append(
            f"number of display equations differs: en {en.display_math} vs zh {zh.display_math}"
        )
    if en.environments != zh.environments:
        problems.append(f"math environments differ: en {en.environments} vs zh {zh.environments}")
    if en.labels != zh.labels:
        problems.append(f"equation labels differ: en {en.labels} vs zh {zh.labels}")
    if en.images != zh.images:
        problems.append(f"images differ: en {en.images} vs zh {zh.images}")
    if set(en.links) != set(zh.links):
        only_en = sorted(set(en.links) - set(zh.links))
        only_zh = sorted(set(zh.links) - set(en.links))
        problems.append(f"link targets differ: only in en {only_en}, only in zh {only_zh}")
    if en.markers != zh.markers:
        problems.append(f"generation markers differ: en {en.markers} vs zh {zh.markers}")
    if en.directives != zh.directives:
        problems.append(f"API directives (:::) differ: en {en.directives} vs zh {zh.directives}")
    return problems


def _pages(root: Path) -> set[str]:
    return {p.relative_to(root).as_posix() for p in root.rglob("*.md")}


PAIRS = sorted(_pages(EN) & _pages(ZH))


def test_every_page_exists_in_both_languages():
    only_en = sorted(_pages(EN) - _pages(ZH))
    only_zh = sorted(_pages(ZH) - _pages(EN))
    assert not only_en and not only_zh, (
        f"pages without a translation: docs/en only {only_en}; docs/zh only {only_zh}"
    )


def test_there_are_pages_to_compare():
    assert "index.md" in PAIRS and len(PAIRS) >= 10


@pytest.mark.parametrize("relpath", PAIRS)
def test_zh_page_mirrors_en_page(relpath: str):
    en = (EN / relpath).read_text(encoding="utf-8")
    zh = (ZH / relpath).read_text(encoding="utf-8")
    problems = compare(en, zh)
    assert not problems, f"docs/zh/{relpath} vs docs/en/{relpath}:\n  " + "\n  ".join(problems)


# --- the checker itself -------------------------------------------------------------------------

_EN_SAMPLE = """# Title { #title }

Intro with a [link](other.md#part) and ![a figure](../assets/pipeline.svg).

## Math { #math }

$$
y = \\sigma(z) \\label{eq:sigmoid}
$$

```python
--8<-- "recnotes/registry.py:section"
```

```python
# a comment, not a heading
x = [1][0]
```

<!-- recnotes:model-index stage=ranking -->

::: recnotes.registry
"""


def _zh_sample(**changes: str) -> str:
    text = (
        _EN_SAMPLE.replace("Intro with a [link]", "引言，[链接]")
        .replace("and ![a figure]", "以及 ![一张图]")
        .replace("# Title { #title }", "# 标题 { #title }")
        .replace("## Math { #math }", "## 数学 { #math }")
    )
    for old, new in changes.items():
        assert old in text, old
        text = text.replace(old, new)
    return text


def test_checker_accepts_a_faithful_translation():
    assert compare(_EN_SAMPLE, _zh_sample()) == []


def test_checker_extracts_what_it_compares():
    page = extract(_EN_SAMPLE)
    assert [a for _, a, _ in page.headings] == ["title", "math"]  # the code comment is no heading
    assert page.snippets == ["recnotes/registry.py:section"]
    assert page.display_math == 1 and page.labels == ["eq:sigmoid"]
    assert page.images == ["../assets/pipeline.svg"]
    assert set(page.links) == {"other.md#part"}
    assert page.markers == ["<!-- recnotes:model-index stage=ranking -->"]
    assert page.directives == ["recnotes.registry"]


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        ({"## 数学 { #math }": "## 数学 { #maths }"}, "headings differ"),
        ({"## 数学 { #math }": "## 数学"}, "has no explicit"),
        ({"## 数学 { #math }": "### 数学 { #math }"}, "headings differ"),
        ({"registry.py:section": "registry.py:other"}, "snippet includes differ"),
        ({"$$\ny = ": "\ny = "}, "display equations differs"),
        ({"eq:sigmoid": "eq:logistic"}, "equation labels differ"),
        ({"../assets/pipeline.svg": "../assets/other.svg"}, "images differ"),
        ({"(other.md#part)": "(other.md)"}, "link targets differ"),
        ({"stage=ranking": "stage=recall"}, "generation markers differ"),
        ({"::: recnotes.registry": "::: recnotes.results"}, "API directives"),
    ],
)
def test_checker_catches_a_planted_difference(change: dict[str, str], expected: str):
    problems = compare(_EN_SAMPLE, _zh_sample(**change))
    assert any(expected in p for p in problems), problems
