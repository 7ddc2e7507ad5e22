"""MkDocs hook: drop the ``<link rel="alternate" hreflang>`` tags from the page head.

mkdocs-static-i18n points Material's language selector at the *same page* in the other language
(``/zh/recall/`` from ``/recall/``), which is what a reader wants. Material's JavaScript also reads
the ``<link rel="alternate">`` tags in the head and fetches ``sitemap.xml`` next to each of them, to
map pages between languages itself; with per-page links that is ``/zh/recall/sitemap.xml`` and
friends, a 404 on every page load. The selector's own links (``<a hreflang>`` in the header) are
untouched, and the language alternates stay in the root ``sitemap.xml`` that i18n writes.
"""

from __future__ import annotations

import re

_HEAD_ALTERNATE = re.compile(r'[ \t]*<link rel="alternate" href="[^"]*" hreflang="[^"]*">\n?')


def drop_head_alternates(html: str) -> str:
    """Remove the hreflang alternates from the ``<head>`` only."""
    head_end = html.find("</head>")
    if head_end < 0:
        return html
    return _HEAD_ALTERNATE.sub("", html[:head_end]) + html[head_end:]


def on_post_page(output, page, config):
    return drop_head_alternates(output)
