"""The site builds with ``mkdocs build --strict``, in both languages, and loads nothing off-host.

The full build runs once per test session (a module-scoped fixture) and every test reads its
output. Two tiny builds prove that a snippet include of a missing file or section fails the build.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import textwrap
from dataclasses import dataclass
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote, urlsplit

import pytest

REPO = Path(__file__).resolve().parents[2]
ENV = {**os.environ, "NO_MKDOCS_2_WARNING": "1"}
LANG_PREFIXES = ("", "zh/")


def mkdocs(*args: str) -> subprocess.CompletedProcess:
    """Run mkdocs from the repository root (snippet paths are relative to it)."""
    return subprocess.run(
        [sys.executable, "-m", "mkdocs", *args],
        cwd=REPO,
        env=ENV,
        capture_output=True,
        text=True,
        timeout=900,
    )


@dataclass
class Build:
    proc: subprocess.CompletedProcess
    site: Path

    @property
    def log(self) -> str:
        return self.proc.stdout + self.proc.stderr

    def page(self, relpath: str) -> str:
        return (self.site / relpath).read_text(encoding="utf-8")


@pytest.fixture(scope="module")
def build(tmp_path_factory) -> Build:
    site = tmp_path_factory.mktemp("site")
    return Build(mkdocs("build", "--strict", "--site-dir", str(site)), site)


def test_strict_build_passes_without_warnings(build: Build):
    assert build.proc.returncode == 0, build.log[-6000:]
    warnings = [line for line in build.log.splitlines() if re.match(r"\s*(WARNING|ERROR)\b", line)]
    assert not warnings, "\n".join(warnings)


@pytest.mark.parametrize("prefix", LANG_PREFIXES)
@pytest.mark.parametrize(
    "page",
    [
        "index.html",
        "getting-started/index.html",
        "notation/index.html",
        "recall/index.html",
        "ranking/index.html",
        "results/index.html",
        "api/index.html",
        "api/metrics/index.html",
        "api/registry/index.html",
        "notebooks/hello/index.html",
    ],
)
def test_key_pages_exist(build: Build, prefix: str, page: str):
    assert (build.site / prefix / page).is_file(), f"missing {prefix}{page}"


def test_language_versions_are_in_their_language(build: Build):
    en, zh = build.page("index.html"), build.page("zh/index.html")
    assert '<html lang="en"' in en and "What recnotes is" in en
    assert '<html lang="zh"' in zh and "recnotes 是什么" in zh
    # the language selector links the same page in the other language ...
    assert re.search(r'<a href="[./]*zh/" hreflang="zh"', en)
    assert re.search(r'<a href="[./]*" hreflang="en"', zh)
    notebook = build.page("notebooks/hello/index.html")
    assert '<a href="../../zh/notebooks/hello/" hreflang="zh"' in notebook
    # ... and the head has no <link rel="alternate" hreflang>, whose sitemap.xml Material would
    # fetch next to every page (docs/hooks/i18n_alternates.py)
    assert not re.search(r'<link rel="alternate"[^>]*hreflang', en + zh)


def test_home_page_shows_the_pipeline_diagram(build: Build):
    for prefix in LANG_PREFIXES:
        srcs = [
            src
            for tag, attrs in _tags(build.page(prefix + "index.html"))
            if tag == "img"
            for key, src in attrs
            if key == "src"
        ]
        diagram = [s for s in srcs if s.endswith("assets/pipeline.svg")]
        assert diagram, f"{prefix}index.html has no pipeline diagram: {srcs}"
        assert (build.site / prefix / diagram[0]).resolve().is_file()


def test_api_page_is_generated_from_docstrings(build: Build):
    for prefix in LANG_PREFIXES:
        html = build.page(prefix + "api/registry/index.html")
        assert 'id="recnotes.registry.register"' in html
        assert "doc-function" in html


@pytest.mark.parametrize("prefix", LANG_PREFIXES)
def test_notebook_is_rendered_in_both_languages(build: Build, prefix: str):
    html = build.page(prefix + "notebooks/hello/index.html")
    assert "jp-Notebook" in html and "jp-RenderedMarkdown" in html
    assert "tensor([0, 1, 4, 9])" in html  # the stored output
    assert "$x^2$" in html  # left for MathJax, which typesets .jp-RenderedMarkdown
    assert '"cell_type"' not in html  # not the raw JSON


def _modules() -> list[str]:
    """Every public module of the package, from the files (no import)."""
    names = []
    for path in sorted((REPO / "recnotes").rglob("*.py")):
        parts = list(path.relative_to(REPO).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        if any(p.startswith("_") for p in parts[1:]):
            continue  # __main__ (the command line, documented on getting-started) and private ones
        names.append(".".join(parts))
    return names


def test_every_module_is_on_an_api_page():
    documented: set[str] = set()
    with_submodules: set[str] = set()
    for page in (REPO / "docs" / "en" / "api").glob("*.md"):
        text = page.read_text(encoding="utf-8")
        for m in re.finditer(r"^:::[ \t]+(\S+)((?:\n[ \t]+\S.*)*)", text, re.MULTILINE):
            documented.add(m.group(1))
            if re.search(r"show_submodules:\s*true", m.group(2)):
                with_submodules.add(m.group(1))
    missing = [
        name
        for name in _modules()
        if name not in documented and not any(name.startswith(p + ".") for p in with_submodules)
    ]
    assert "recnotes.registry" in documented
    assert not missing, (
        f"modules with no API page (add a ::: directive under docs/*/api/): {missing}"
    )


# --- nothing is fetched from another host -------------------------------------------------------

# <link rel=...> values that make the browser fetch the target
_FETCHING_RELS = {
    "stylesheet",
    "preload",
    "modulepreload",
    "prefetch",
    "preconnect",
    "dns-prefetch",
    "icon",
    "shortcut",
    "apple-touch-icon",
    "manifest",
    "mask-icon",
}
_SRC_TAGS = {"script", "img", "iframe", "source", "audio", "video", "track", "embed", "input"}
_CSS_URL = re.compile(r"""url\(\s*(['"]?)([^'")]+)\1\s*\)|@import\s+(['"])([^'"]+)\3""")


class _TagCollector(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, list[tuple[str, str]]]] = []
        self.styles: list[str] = []
        self._in_style = False

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, [(k, v or "") for k, v in attrs]))
        self._in_style = tag == "style"

    def handle_endtag(self, tag):
        if tag == "style":
            self._in_style = False

    def handle_data(self, data):
        if self._in_style:
            self.styles.append(data)


def _tags(html: str):
    collector = _TagCollector()
    collector.feed(html)
    return collector.tags


def fetched_urls(html: str) -> list[str]:
    """Every URL a browser requests while loading this HTML (not the links a reader may follow)."""
    collector = _TagCollector()
    collector.feed(html)
    urls: list[str] = []
    for tag, attrs in collector.tags:
        a = dict(attrs)
        if tag == "link":
            rels = set(a.get("rel", "").lower().split())
            if rels & _FETCHING_RELS and a.get("href"):
                urls.append(a["href"])
        if tag in _SRC_TAGS and a.get("src"):
            urls.append(a["src"])
        if tag in {"img", "source"} and a.get("srcset"):
            urls += [part.strip().split()[0] for part in a["srcset"].split(",") if part.strip()]
        if tag == "object" and a.get("data"):
            urls.append(a["data"])
        if a.get("style"):
            urls += css_urls(a["style"])
    for css in collector.styles:
        urls += css_urls(css)
    return urls


def css_urls(css: str) -> list[str]:
    return [m.group(2) or m.group(4) for m in _CSS_URL.finditer(css)]


def is_off_host(url: str) -> bool:
    url = url.strip()
    if url.startswith("//"):
        return True
    parts = urlsplit(url)
    return parts.scheme in {"http", "https", "ws", "wss", "ftp"}


def test_off_host_detection():
    html = (
        '<link rel="stylesheet" href="https://fonts.googleapis.com/css?family=Roboto">'
        '<link rel="canonical" href="http://127.0.0.1:8000/">'
        '<script src="//cdn.example/x.js"></script><img src="assets/a.svg">'
        '<a href="https://arxiv.org/abs/1">paper</a>'
        "<style>@import 'https://cdn.example/y.css'; .x{background:url(data:image/png;base64,AA)}</style>"
    )
    off = [u for u in fetched_urls(html) if is_off_host(u)]
    assert off == [
        "https://fonts.googleapis.com/css?family=Roboto",
        "//cdn.example/x.js",
        "https://cdn.example/y.css",
    ]


def test_no_page_requests_anything_off_host(build: Build):
    offenders: list[str] = []
    missing: list[str] = []
    pages = sorted(build.site.rglob("*.html"))
    assert len(pages) > 20
    for page in pages:
        for url in fetched_urls(page.read_text(encoding="utf-8")):
            if is_off_host(url):
                offenders.append(f"{page.relative_to(build.site)}: {url}")
            elif not url.startswith(("data:", "#", "blob:")):
                path = unquote(urlsplit(url).path)
                # a root-relative URL ("/assets/..." on 404.html) starts at site_url's path, "/"
                base = build.site if path.startswith("/") else page.parent
                target = (base / path.lstrip("/")).resolve()
                if not target.exists():
                    missing.append(f"{page.relative_to(build.site)}: {url}")
    assert not offenders, "requests off 127.0.0.1:\n" + "\n".join(offenders)
    assert not missing, "local assets that do not exist:\n" + "\n".join(missing[:50])


def test_no_stylesheet_requests_anything_off_host(build: Build):
    offenders = []
    for css in build.site.rglob("*.css"):
        for url in css_urls(css.read_text(encoding="utf-8", errors="replace")):
            if is_off_host(url):
                offenders.append(f"{css.relative_to(build.site)}: {url}")
    assert not offenders, "\n".join(offenders)


def test_math_and_diagrams_are_served_by_the_site(build: Build):
    html = build.page("zh/index.html")
    scripts = [v for tag, attrs in _tags(html) if tag == "script" for k, v in attrs if k == "src"]
    assert any(s.endswith("assets/vendor/mathjax/tex-svg-full.js") for s in scripts), scripts
    assert any(s.endswith("assets/vendor/mermaid/mermaid.min.js") for s in scripts), scripts
    config = scripts.index(next(s for s in scripts if s.endswith("javascripts/mathjax.js")))
    mathjax = scripts.index(next(s for s in scripts if s.endswith("tex-svg-full.js")))
    assert config < mathjax, "the MathJax configuration must load before MathJax"
    # tex-svg draws glyphs as paths: the bundle must not point at font files
    bundle = (build.site / "assets/vendor/mathjax/tex-svg-full.js").read_text(encoding="utf-8")
    assert ".woff" not in bundle


# --- Chinese search -----------------------------------------------------------------------------


def test_chinese_search_index_is_segmented(build: Build):
    """Material builds one index for both languages; jieba splits the Chinese text into words
    (with zero-width spaces) and the separator splits on those, so a glossary term is a token."""
    index = json.loads((build.site / "search" / "search_index.json").read_text(encoding="utf-8"))
    separator = re.compile(index["config"]["separator"])
    zh_docs = [d for d in index["docs"] if d["location"].startswith("zh/")]
    assert zh_docs, "no Chinese pages in the search index"
    tokens: set[str] = set()
    for doc in zh_docs:
        tokens.update(separator.split(doc["title"]))
        tokens.update(separator.split(re.sub(r"<[^>]+>", " ", doc["text"])))
    for term in ("召回", "精排", "负采样", "冷启动", "元学习", "束搜索", "残差量化"):
        assert term in tokens, f"search cannot find {term!r}: it is not a token of the zh index"


# --- a missing snippet fails the build ----------------------------------------------------------


def _tiny_site(tmp_path: Path, include: str) -> subprocess.CompletedProcess:
    """Build a one-page site that inherits the real mkdocs.yml's Markdown extensions."""
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "index.md").write_text(
        f'# Snippet check {{ #snippet-check }}\n\n```python\n--8<-- "{include}"\n```\n',
        encoding="utf-8",
    )
    config = tmp_path / "mkdocs.yml"
    # INHERIT merges dictionaries and replaces lists: plugins, hooks and nav are ours, the
    # markdown_extensions (pymdownx.snippets with check_paths) come from the real config.
    config.write_text(
        textwrap.dedent(f"""\
            INHERIT: {REPO / "mkdocs.yml"}
            docs_dir: {docs}
            site_dir: {tmp_path / "site"}
            plugins: []
            hooks: []
            watch: []
            nav: [index.md]
            """),
        encoding="utf-8",
    )
    return mkdocs("build", "--strict", "--config-file", str(config))


def test_tiny_site_with_a_good_include_builds(tmp_path: Path):
    proc = _tiny_site(tmp_path, "recnotes/registry.py")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    html = (tmp_path / "site" / "index.html").read_text(encoding="utf-8")
    assert "def register(spec" in re.sub(r"<[^>]+>", "", html)  # the file, highlighted


@pytest.mark.parametrize(
    ("include", "message"),
    [
        ("recnotes/no_such_module.py", "could not be found"),
        ("recnotes/registry.py:no-such-section", "could not be located"),
    ],
)
def test_missing_snippet_fails_the_build(tmp_path: Path, include: str, message: str):
    proc = _tiny_site(tmp_path, include)
    assert proc.returncode != 0
    assert message in proc.stdout + proc.stderr
