"""MkDocs hook: content that pages take from the package instead of typing it.

A page writes a marker (an HTML comment, so it is invisible if the hook does not run) and the hook
replaces it with Markdown before the page is converted:

``<!-- recnotes:model-index -->``
    a table of every registered model (``recnotes.registry.specs()``): the model, linked to its
    note; its stage; the paper, linked; its status. ``stage=ranking`` keeps one stage.
``<!-- recnotes:results -->``
    a table of results files (``recnotes.results``). Filters ``model=``, ``dataset=`` and
    ``protocol=`` select files, ``metrics=hr@10,ndcg@10`` picks the columns, and ``group=dataset``
    writes one sub-heading and table per dataset.

Headers are in the page's language (the ``docs/<lang>/`` folder it comes from). A marker that is
unknown or malformed fails the build with the page's path, like a missing snippet does.
"""

from __future__ import annotations

import posixpath
import re
from collections.abc import Iterable, Mapping
from pathlib import Path

from mkdocs.exceptions import PluginError

LANGS = ("en", "zh")

#: A marker is a line of its own (indentation allowed, e.g. inside an admonition); the same text
#: inside a fenced code block or in the middle of a sentence is left alone.
MARKER = re.compile(
    r"^(?P<indent>[ \t]*)<!--\s*recnotes:(?P<name>[\w-]+)(?P<args>(?:\s+(?!-->)\S+)*)\s*-->[ \t]*$"
)
_FENCE = re.compile(r"^[ \t]*(`{3,}|~{3,})")

_TEXT = {
    "en": {
        "model": "Model",
        "stage": "Stage",
        "paper": "Paper",
        "status": "Status",
        "empty_all": "No models are registered yet.",
        "empty_stage": "No models in this stage yet.",
        "stages": {
            "recall": "Recall",
            "prerank": "Pre-ranking",
            "ranking": "Ranking",
            "rerank": "Re-ranking",
            "multitask": "Multi-task",
            "meta": "Meta-learning",
            "generative": "Generative",
        },
        "statuses": {"implemented": "implemented", "reproduced": "reproduced"},
    },
    "zh": {
        "model": "模型",
        "stage": "阶段",
        "paper": "论文",
        "status": "状态",
        "empty_all": "暂无已注册的模型。",
        "empty_stage": "这一阶段暂无模型。",
        "stages": {
            "recall": "召回",
            "prerank": "粗排",
            "ranking": "精排",
            "rerank": "重排",
            "multitask": "多任务",
            "meta": "元学习",
            "generative": "生成式推荐",
        },
        "statuses": {"implemented": "已实现", "reproduced": "已复现"},
    },
}

_RESULT_FILTERS = ("model", "dataset", "protocol")


class MarkerError(ValueError):
    """A ``<!-- recnotes:... -->`` marker that cannot be rendered."""


def parse_args(text: str) -> dict[str, str]:
    """``" stage=ranking metrics=a,b"`` -> ``{"stage": "ranking", "metrics": "a,b"}``."""
    out: dict[str, str] = {}
    for item in text.split():
        key, _, value = item.partition("=")
        if not value:
            raise MarkerError(f"argument {item!r} needs a value (key=value)")
        if key in out:
            raise MarkerError(f"argument {key!r} given twice")
        out[key] = value
    return out


def _cell(text: str) -> str:
    """Text that is safe inside a Markdown table cell."""
    return text.replace("|", r"\|").replace("\n", " ")


def _link(text: str, url: str) -> str:
    text = _cell(text).replace("[", r"\[").replace("]", r"\]")
    return f"[{text}]({url})" if url else text


def render_model_index(
    specs: Iterable, lang: str = "en", page_path: str = "index.md", stage: str | None = None
) -> str:
    """The model table in Markdown.

    Args:
        specs: ``ModelSpec`` objects, in the order to show them.
        lang: ``"en"`` or ``"zh"``.
        page_path: the page's path inside ``docs/<lang>/``; note links are made relative to it.
        stage: the stage the table is restricted to (only changes the empty-table sentence).
    """
    t = _TEXT[lang]
    specs = list(specs)
    if not specs:
        return f"*{t['empty_stage'] if stage else t['empty_all']}*\n"
    page_dir = posixpath.dirname(page_path)
    lines = [
        f"| {t['model']} | {t['stage']} | {t['paper']} | {t['status']} |",
        "|---|---|---|---|",
    ]
    for spec in specs:
        note = posixpath.relpath(spec.note, page_dir or ".") if spec.note else ""
        model = _link(spec.display_name, note)
        paper = _link(spec.paper.cite(), spec.paper.url)
        stage_name = t["stages"].get(spec.stage, spec.stage)
        status = t["statuses"].get(spec.status, spec.status)
        lines.append(f"| {model} | {stage_name} | {paper} | {status} |")
    return "\n".join(lines) + "\n"


def render_results(
    args: Mapping[str, str], lang: str = "en", root: str | Path | None = None
) -> str:
    """The Markdown for a ``results`` marker (see the module docstring for the arguments)."""
    from recnotes import results as R

    unknown = set(args) - {*_RESULT_FILTERS, "metrics", "group"}
    if unknown:
        raise MarkerError(
            f"results marker: unknown argument(s) {sorted(unknown)}; "
            f"use {', '.join(_RESULT_FILTERS)}, metrics or group"
        )
    group = args.get("group")
    if group not in (None, "dataset"):
        raise MarkerError(f"results marker: group must be 'dataset', got {group!r}")
    where = {k: v for k, v in args.items() if k in _RESULT_FILTERS}
    metrics = [m for m in args["metrics"].split(",") if m] if "metrics" in args else None
    found = R.load_results(R.RESULTS_DIR if root is None else root, **where)
    if group is None or not found:
        return R.render_table(found, metrics, lang)
    blocks = []
    for dataset in sorted({r.dataset for r in found}):
        anchor = "results-" + re.sub(r"[^a-z0-9]+", "-", dataset.lower()).strip("-")
        rows = [r for r in found if r.dataset == dataset]
        parts = [f"### {dataset} {{ #{anchor} }}\n"]
        # one table per protocol: numbers measured under different protocols never share columns
        for protocol in sorted({r.protocol for r in rows}):
            same = [r for r in rows if r.protocol == protocol]
            label = _PROTOCOL_LABEL[lang]
            parts.append(f"{label} `{protocol}`\n\n" + R.render_table(same, metrics, lang))
        blocks.append("\n".join(parts))
    return "\n".join(blocks)


_PROTOCOL_LABEL = {"en": "Protocol", "zh": "评测协议"}


def page_language(src_uri: str, default: str = "en") -> str:
    """The language of a page from its path under docs/ (``"zh/recall/index.md"`` -> ``"zh"``)."""
    head = src_uri.split("/", 1)[0]
    return head if head in LANGS else default


def _page_path(src_uri: str) -> str:
    """The page's path inside its language folder (``"zh/recall/index.md"`` -> ``"recall/index.md"``)."""
    head, _, rest = src_uri.partition("/")
    return rest if head in LANGS and rest else src_uri


def replace_markers(markdown: str, src_uri: str, results_root: str | Path | None = None) -> str:
    """Replace every ``<!-- recnotes:... -->`` marker of one page's Markdown."""
    if "recnotes:" not in markdown:
        return markdown
    lang = page_language(src_uri)
    page_path = _page_path(src_uri)

    def render(match: re.Match) -> str:
        name = match.group("name")
        text = _render(match, name)
        indent = match.group("indent")
        body = "\n".join(indent + ln if ln else ln for ln in text.rstrip("\n").split("\n"))
        return f"\n{body}\n"  # blank lines around it, so a table is never glued to a paragraph

    def _render(match: re.Match, name: str) -> str:
        try:
            args = parse_args(match.group("args"))
            if name == "model-index":
                from recnotes import registry

                extra = set(args) - {"stage"}
                if extra:
                    raise MarkerError(f"model-index marker: unknown argument(s) {sorted(extra)}")
                stage = args.get("stage")
                if stage is not None and stage not in registry.STAGES:
                    raise MarkerError(
                        f"model-index marker: stage must be one of {registry.STAGES}, got {stage!r}"
                    )
                return render_model_index(registry.specs(stage), lang, page_path, stage)
            if name == "results":
                return render_results(args, lang, results_root)
            raise MarkerError(f"unknown marker 'recnotes:{name}' (known: model-index, results)")
        except (MarkerError, ValueError) as err:
            raise PluginError(f"{src_uri}: {match.group(0)}: {err}") from err

    out, fence = [], ""
    for line in markdown.split("\n"):
        opening = _FENCE.match(line)
        if fence:
            if opening and opening.group(1)[0] == fence[0] and len(opening.group(1)) >= len(fence):
                fence = ""
        elif opening:
            fence = opening.group(1)
        elif (match := MARKER.match(line)) is not None:
            line = render(match)
        out.append(line)
    return "\n".join(out)


def on_page_markdown(markdown, page, config, files):
    if not page.file.src_uri.endswith(".md"):
        return markdown  # notebooks are rendered by mkdocs-jupyter from their JSON
    return replace_markers(markdown, page.file.src_uri)
