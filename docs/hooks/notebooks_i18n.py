"""MkDocs hook: notebooks survive the i18n plugin, and their pages load nothing from a CDN.

1. mkdocs-static-i18n rebuilds every file as a plain ``File`` in its ``on_files``, which drops
   mkdocs-jupyter's wrapper: a notebook would come out as raw JSON and be missing under ``/zh/``
   (upstream: ultrabug/mkdocs-static-i18n#198). We make ``File.is_documentation_page`` true for the
   files that mkdocs-jupyter includes, read from its own ``include``/``ignore`` options so the two
   lists cannot drift. With ``fallback_to_default: true`` a notebook stored once under
   ``docs/en/notebooks/`` is then rendered under ``/notebooks/`` and ``/zh/notebooks/``.
2. nbconvert's template puts a MathJax 2 loader (``<script src="">`` or a CDN URL) and a mermaid
   ``import()`` from cdnjs into every notebook page. The site already serves MathJax 3 and mermaid
   itself (``docs/assets/vendor/``), so those blocks are removed from the rendered notebook HTML.
"""

from __future__ import annotations

import re
from pathlib import PurePath

from mkdocs.structure.files import File

_ORIGINAL_IS_DOC = File.is_documentation_page
_patterns: dict[str, list[str]] = {"include": [], "ignore": []}


def _is_notebook(path: str | None) -> bool:
    """True when mkdocs-jupyter renders this source file (same matching rule as the plugin)."""
    if not path or not _patterns["include"]:
        return False
    src = PurePath(path)
    if any(src.match(p) for p in _patterns["ignore"]):
        return False
    return any(src.match(p) for p in _patterns["include"])


def _is_documentation_page(self: File) -> bool:
    return _ORIGINAL_IS_DOC(self) or _is_notebook(getattr(self, "abs_src_path", None))


def on_config(config):
    plugin = config.plugins.get("mkdocs-jupyter")
    if plugin is None:
        _patterns["include"] = []
        return config
    _patterns["include"] = list(plugin.config["include"])
    _patterns["ignore"] = list(plugin.config["ignore"])
    File.is_documentation_page = _is_documentation_page
    return config


# nbconvert's MathJax 2 block: the loader <script src=...> plus its text/x-mathjax-config script
_MATHJAX2 = re.compile(
    r"<!-- Load mathjax -->.*?<!-- End of mathjax configuration -->", flags=re.DOTALL
)
# nbconvert's mermaid block: an inline module script that import()s mermaid from cdnjs
_MERMAID_MODULE = re.compile(
    r'<script type="module">\s*document\.addEventListener\("DOMContentLoaded", async \(\) => \{\s*'
    r"const diagrams = document\.querySelectorAll\(\"\.jp-Mermaid > pre\.mermaid\"\);.*?</script>",
    flags=re.DOTALL,
)


def strip_cdn_scripts(html: str) -> str:
    """Remove nbconvert's MathJax 2 loader and its cdnjs mermaid import from a notebook's HTML.

    Material renders ``pre.mermaid`` blocks (notebook outputs included) with the vendored mermaid,
    and ``docs/assets/javascripts/mathjax.js`` typesets ``.jp-RenderedMarkdown`` cells.
    """
    html = _MATHJAX2.sub("", html)
    return _MERMAID_MODULE.sub("", html)


def on_page_content(html, page, config, files):
    if _is_notebook(page.file.abs_src_path):
        return strip_cdn_scripts(html)
    return html
