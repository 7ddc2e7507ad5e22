"""Griffe extension: read a Google-style ``Example:`` section as an examples section.

The package's docstrings write ``Example:`` above their doctests (Google style; Sphinx's Napoleon
accepts both spellings). Griffe's Google parser only treats the plural ``Examples:`` as examples and
turns the singular into an admonition, whose ``>>>`` lines are then read as Markdown: ``x["item_ids"]``
becomes a broken link and ``x[:, 0]`` a cross-reference, which fail the strict build. Renaming the
section header before parsing renders those lines as Python code, as they are meant.

Loaded by mkdocstrings (``extensions:`` in ``mkdocs.yml``), not by MkDocs' ``hooks:``.
"""

from __future__ import annotations

import re
from typing import Any

from griffe import Extension, Object

_SINGULAR = re.compile(r"^(?P<indent>[ \t]*)Example:[ \t]*$", flags=re.MULTILINE)


def pluralise_example_headers(text: str) -> str:
    """``Example:`` on a line of its own becomes ``Examples:``; nothing else changes."""
    return _SINGULAR.sub(r"\g<indent>Examples:", text)


class ExampleSections(Extension):
    """Rename ``Example:`` section headers to ``Examples:`` in every docstring."""

    def on_instance(self, *, obj: Object, **kwargs: Any) -> None:
        if obj.docstring is not None:
            obj.docstring.value = pluralise_example_headers(obj.docstring.value)
