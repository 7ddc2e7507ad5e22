"""MkDocs hook: content that pages take from the package instead of typing it.

A page writes a marker (an HTML comment, so it is invisible if the hook does not run) and the hook
replaces it with Markdown before the page is converted:

``<!-- recnotes:model-index -->``
    a table of every registered model (``recnotes.registry.specs()``): the model, linked to its
    note; its stage; the paper, linked; its status. ``stage=ranking`` keeps one stage.
``<!-- recnotes:results -->``
    a table of results files (``recnotes.results``). Filters ``model=``, ``dataset=`` and
    ``protocol=`` select files, ``file=`` keeps one file by name (``file=nfm-square`` for
    ``results/<dataset>/nfm-square.json``), ``metrics=hr@10,ndcg@10`` picks the columns, and
    ``group=dataset`` writes one sub-heading and table per dataset. A table whose ``metrics=`` leave
    out ``rmse`` also leaves out the runs trained with the squared loss (``config.loss ==
    "square"``), unless ``file=`` names one: they answer another objective, and their AUC would sit
    among the LogLoss runs' as if comparable.

``<!-- recnotes:leaderboard dataset=frappe -->``
    every CTR model's results on one dataset and protocol (``protocol=`` overrides the dataset's
    default): AUC ± std and LogLoss beside the reference numbers, parameters and training seconds per
    epoch, sorted by AUC, then a dot plot of ours vs the reference AUC (an inline SVG drawn with
    matplotlib at build time, deterministic). Results trained with another loss are left out.
``<!-- recnotes:speed -->``
    the side-by-side speed table of ``results/benchmarks/peer-speed.json`` (written by
    ``benchmarks/peer_speed.py``), or a "not measured yet" line while that file does not exist.
``<!-- recnotes:index-bench -->``
    the retrieval-index benchmark of ``results/benchmarks/index.json`` (written by
    ``benchmarks/bench_index.py``): per catalogue, each index kind's setting, build time, memory,
    search time and recall@k against the exact search; or "not measured yet".
``<!-- recnotes:rerank-bench -->``
    the re-ranking speed benchmark of ``results/benchmarks/rerank.json`` (written by
    ``benchmarks/bench_rerank.py``): each timed method, its picks and seconds, with the load
    average the machine had; or "not measured yet".

``<!-- recnotes:sequential-bench -->``
    the training throughput of the sequential retrievers from ``results/benchmarks/sequential.json``
    (written by ``benchmarks/bench_sequential.py``): per model, milliseconds per training step
    (wall clock and CPU), steps/s and sequences/s, and the encoder's forward alone, with the batch
    shape and the load average; or "not measured yet".

``<!-- recnotes:generative-costs -->``
    what next-item classification and generative retrieval cost at Beauty scale, from
    ``results/benchmarks/generative-costs.json`` (written by ``benchmarks/generative_costs.py``):
    per model, the parameters of the item vocabulary and the rest (with fp32 MiB), training FLOPs
    per row and per target, inference FLOPs and median latency per request; or "not measured yet".

``<!-- recnotes:pipeline-metrics -->``
    the funnel's stage metrics from ``results/<dataset>/pipeline.json`` (written by
    ``experiments/pipeline_ml1m.py``; ``dataset=ml-1m`` is the default): one row per stage and
    metric, then the command, commit, device and date; or "not measured yet".
``<!-- recnotes:pipeline-bench -->``
    the serving latency of ``results/benchmarks/pipeline.json`` (written by
    ``benchmarks/bench_pipeline.py``): p50, p95 and mean of ``recommend_for_user`` and the seconds
    for every user in batch, with the load average; or "not measured yet".

Headers are in the page's language (the ``docs/<lang>/`` folder it comes from). A marker that is
unknown or malformed fails the build with the page's path, like a missing snippet does.
"""

from __future__ import annotations

import posixpath
import re
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

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

    unknown = set(args) - {*_RESULT_FILTERS, "file", "metrics", "group"}
    if unknown:
        raise MarkerError(
            f"results marker: unknown argument(s) {sorted(unknown)}; "
            f"use {', '.join(_RESULT_FILTERS)}, file, metrics or group"
        )
    group = args.get("group")
    if group not in (None, "dataset"):
        raise MarkerError(f"results marker: group must be 'dataset', got {group!r}")
    where = {k: v for k, v in args.items() if k in _RESULT_FILTERS}
    metrics = [m for m in args["metrics"].split(",") if m] if "metrics" in args else None
    found = R.load_results(R.RESULTS_DIR if root is None else root, **where)
    if "file" in args:  # one variant of a model: the results file's name without .json
        found = [r for r in found if getattr(r, "file_stem", "") == args["file"]]
    elif metrics is not None and "rmse" not in metrics:  # an AUC table: no square-loss runs
        found = [r for r in found if (r.config or {}).get("loss", "bce") != "square"]
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


# --- leaderboard and speed ----------------------------------------------------------------------

#: The protocol a leaderboard shows by default, per results dataset.
LEADERBOARD_PROTOCOLS = {"frappe": "frappe-nfm-x1-rebuilt", "ml-1m": "ctr-random-80-10-10"}

_BOARD = {
    "en": {
        "model": "Model", "auc": "AUC (ours)", "logloss": "LogLoss (ours)",
        "ref_auc": "AUC (reference)", "ref_logloss": "LogLoss (reference)", "params": "Parameters",
        "epoch": "s / epoch", "seeds": "Seeds", "source": "Reference", "none": "No results yet.",
        "missing": "Not run yet on this dataset:", "ours_label": "recnotes (mean ± std over seeds)",
        "ref_label": "reference", "xlabel": "test AUC", "protocol": "Protocol",
        "speed_none": "Not measured yet.",
        "speed": ("Library", "Model", "Samples / s", "Peak memory (MB)", "Test AUC", "Epochs",
                  "Batch size", "Embedding dim"),
        "speed_meta": "Measured by `{command}` at commit `{commit}` on {device}, {date}.",
    },
    "zh": {
        "model": "模型", "auc": "AUC（本项目）", "logloss": "LogLoss（本项目）",
        "ref_auc": "AUC（参考）", "ref_logloss": "LogLoss（参考）", "params": "参数量",
        "epoch": "秒 / epoch", "seeds": "种子数", "source": "参考来源", "none": "暂无结果。",
        "missing": "尚未在此数据集上运行：", "ours_label": "recnotes（多个种子的均值 ± 标准差）",
        "ref_label": "参考值", "xlabel": "测试集 AUC", "protocol": "评测协议",
        "speed_none": "尚未测量。",
        "speed": ("库", "模型", "样本数 / 秒", "峰值内存（MB）", "测试集 AUC", "轮数",
                  "批大小", "嵌入维度"),
        "speed_meta": "由 `{command}` 测得，提交 `{commit}`，设备 {device}，日期 {date}。",
    },
}


def _num(value: Any, spec: str) -> str:
    return format(value, spec) if isinstance(value, (int, float)) else "–"


def leaderboard_rows(results: Iterable, dataset: str, protocol: str) -> list:
    """The results a leaderboard shows: this dataset and protocol, trained with the BCE loss, with AUC.

    A run trained by another library (``config.library``, e.g. the FuxiCTR cross-checks of
    ``experiments/fuxictr_frappe.py``) is not a recnotes row; the model's note shows it.
    """
    return sorted(
        (
            r for r in results
            if r.dataset == dataset and r.protocol == protocol and "auc" in r.metrics
            and r.config.get("loss", "bce") == "bce" and "library" not in r.config
        ),
        key=lambda r: (-r.metrics["auc"], r.model),
    )


def leaderboard_svg(rows: list, lang: str = "en", salt: str = "recnotes") -> str:
    """A dot plot of our AUC (with the std over seeds) and the reference AUC per model, as inline SVG.

    The SVG is deterministic (fixed ``svg.hashsalt``, no date) and keeps its text as text
    (``svg.fonttype = none``) so the browser draws Chinese labels with its own fonts.
    """
    import io

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    t = _BOARD[lang]
    labels = [_row_label(r, rows) for r in rows][::-1]
    ours = [r.metrics["auc"] for r in rows][::-1]
    std = [r.metrics.get("auc_std", 0.0) for r in rows][::-1]
    ref = [r.paper.get("auc") for r in rows][::-1]
    import warnings

    rc = {"svg.hashsalt": salt, "svg.fonttype": "none", "font.size": 9,
          "font.family": ["DejaVu Sans", "Noto Sans CJK SC", "Noto Serif CJK SC"]}
    with plt.rc_context(rc), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # missing CJK glyph metrics: the browser draws the text
        fig, ax = plt.subplots(figsize=(6.4, 0.45 * len(rows) + 1.2))
        y = list(range(len(rows)))
        ax.errorbar(ours, y, xerr=std, fmt="o", color="#3f51b5", capsize=3, label=t["ours_label"])
        ry = [yi for yi, v in zip(y, ref) if v is not None]
        if ry:
            ax.plot([v for v in ref if v is not None], ry, "D", mfc="none", color="#e65100",
                    label=t["ref_label"])
        ax.set_yticks(y)
        ax.set_yticklabels(labels)
        ax.set_xlabel(t["xlabel"])
        ax.grid(axis="x", alpha=0.3)
        ax.legend(loc="lower right", fontsize=8)
        fig.tight_layout()
        buf = io.StringIO()
        fig.savefig(buf, format="svg", metadata={"Date": None, "Creator": None})
        plt.close(fig)
    svg = buf.getvalue()
    svg = svg[svg.index("<svg"):]  # drop the XML declaration and DOCTYPE: inline HTML
    # matplotlib names every group ("figure_1", "axes_1", ...): two plots on a page would repeat
    # those ids. Keep only the ids something points at; those are hashed with the salt.
    refs = set(re.findall(r'(?:url\(#|href="#)([^")]+)', svg))
    svg = re.sub(r' id="([^"]+)"', lambda m: m.group(0) if m.group(1) in refs else "", svg)
    return "\n".join(line for line in svg.splitlines() if line.strip())


def _row_label(r, rows: list) -> str:
    same = sum(1 for o in rows if o.model == r.model)
    stem = getattr(r, "file_stem", "")
    return f"{r.model} ({stem})" if same > 1 and stem else r.model


def render_leaderboard(
    args: Mapping[str, str], lang: str = "en", root: str | Path | None = None
) -> str:
    """The Markdown (table, then inline SVG plot) of a ``leaderboard`` marker."""
    from recnotes import registry
    from recnotes import results as R

    unknown = set(args) - {"dataset", "protocol"}
    if unknown:
        raise MarkerError(f"leaderboard marker: unknown argument(s) {sorted(unknown)}")
    if "dataset" not in args:
        raise MarkerError("leaderboard marker needs dataset=... (e.g. dataset=frappe)")
    dataset = args["dataset"]
    protocol = args.get("protocol") or LEADERBOARD_PROTOCOLS.get(dataset)
    if protocol is None:
        raise MarkerError(
            f"leaderboard marker: no default protocol for dataset {dataset!r}; "
            f"give protocol=... (defaults: {LEADERBOARD_PROTOCOLS})"
        )
    t = _BOARD[lang]
    rows = leaderboard_rows(R.load_results(R.RESULTS_DIR if root is None else root), dataset, protocol)
    done = {r.model for r in rows}
    todo = [s.name for s in registry.specs("ranking") if s.family == "ranking" and s.name not in done]
    parts = [f"{t['protocol']} `{protocol}`\n"]
    if not rows:
        parts.append(f"*{t['none']}*\n")
    else:
        head = [t["model"], t["auc"], t["logloss"], t["ref_auc"], t["ref_logloss"], t["params"],
                t["epoch"], t["seeds"], t["source"]]
        lines = ["| " + " | ".join(head) + " |", "|---|" + "---:|" * 7 + "---|"]
        for r in rows:
            m = r.metrics
            spread = len(r.seeds) != 1  # one seed's std is always 0: leave it out
            auc = f"{m['auc']:.4f}" + (f" ± {m['auc_std']:.4f}" if "auc_std" in m and spread else "")
            logloss = _num(m.get("logloss"), ".4f")
            if "logloss_std" in m and spread:
                logloss += f" ± {m['logloss_std']:.4f}"
            params = _num(r.config.get("num_params"), ",d")
            epoch = _num(r.config.get("epoch_time_s"), ".2f")
            cells = [_cell(_row_label(r, rows)), auc, logloss, _num(r.paper.get("auc"), ".4f"),
                     _num(r.paper.get("logloss"), ".4f"), params, epoch, str(len(r.seeds) or "–"),
                     _cell(r.source or "–")]
            lines.append("| " + " | ".join(cells) + " |")
        parts.append("\n".join(lines) + "\n")
        salt = f"recnotes-leaderboard-{dataset}-{lang}"
        if protocol != LEADERBOARD_PROTOCOLS.get(dataset):  # two plots on a page need distinct ids
            salt += f"-{protocol}"
        parts.append('<div class="recnotes-leaderboard-plot" markdown="0">\n'
                     + leaderboard_svg(rows, lang, salt) + "\n</div>\n")
    if todo:
        parts.append(f"{t['missing']} " + ", ".join(f"`{n}`" for n in todo) + "\n")
    return "\n".join(parts)


def _bench_file(name: str, root: str | Path | None) -> Path:
    """``<results>/benchmarks/<name>``: where a benchmark script writes its JSON."""
    from recnotes import results as R

    return Path(R.RESULTS_DIR if root is None else root) / "benchmarks" / name


def _bench_meta(data: Mapping[str, Any], lang: str) -> str:
    """The "measured by <command> at commit <commit> on <device>, <date>" line of a benchmark."""
    keys = ("command", "commit", "device", "date")
    return _BOARD[lang]["speed_meta"].format(**{k: _cell(str(data.get(k, "–"))) for k in keys})


def render_speed(lang: str = "en", root: str | Path | None = None) -> str:
    """The Markdown of a ``speed`` marker, from ``<results>/benchmarks/peer-speed.json``."""
    import json

    t = _BOARD[lang]
    path = _bench_file("peer-speed.json", root)
    if not path.exists():
        return f"*{t['speed_none']}*\n"
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        rows = data["rows"]
    except (ValueError, KeyError, TypeError) as err:
        raise MarkerError(f"{path}: cannot read the speed table ({err!r})") from err
    keys = ("library", "model", "samples_per_s", "peak_mem_mb", "test_auc", "epochs", "batch_size",
            "embed_dim")
    fmt = {"samples_per_s": ",.0f", "peak_mem_mb": ",.0f", "test_auc": ".4f"}
    lines = ["| " + " | ".join(t["speed"]) + " |", "|---|---|" + "---:|" * 6]
    for row in rows:
        missing = [k for k in ("library", "model") if k not in row]
        if missing:
            raise MarkerError(f"{path}: a row lacks {missing}")
        cells = [_cell(str(row[k])) if k in ("library", "model") else _num(row.get(k), fmt.get(k, "g"))
                 for k in keys]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n\n" + _bench_meta(data, lang) + "\n"


_INDEX_BENCH = {
    "en": {
        "head": ("Kind", "Setting", "Build (s)", "Index (MiB)", "ms / query", "recall@{k}",
                 "Meets target"),
        "catalogue": {"mixture": "Gaussian-mixture catalogue", "gaussian": "Isotropic Gaussian catalogue"},
        "sizes": "{items:,} items x {dim} dims, {queries:,} queries, top-{k}, {threads} thread(s)",
        "yes": "yes", "no": "no", "exact": "reference",
    },
    "zh": {
        "head": ("类型", "参数", "构建（秒）", "索引（MiB）", "毫秒 / 查询", "recall@{k}", "达到目标"),
        "catalogue": {"mixture": "高斯混合物品库", "gaussian": "各向同性高斯物品库"},
        "sizes": "{items:,} 个物品 × {dim} 维，{queries:,} 个查询，top-{k}，{threads} 个线程",
        "yes": "是", "no": "否", "exact": "基准",
    },
}


def render_index_bench(lang: str = "en", root: str | Path | None = None) -> str:
    """The Markdown of an ``index-bench`` marker, from ``<results>/benchmarks/index.json``."""
    import json

    t, speed = _INDEX_BENCH[lang], _BOARD[lang]
    path = _bench_file("index.json", root)
    if not path.exists():
        return f"*{speed['speed_none']}*\n"
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        settings, parts = data["settings"], []
        for cat in data["catalogues"]:
            sizes = t["sizes"].format(items=cat["items"], dim=cat["dim"], queries=cat["queries"],
                                      k=settings["k"], threads=settings["threads"])
            name = t["catalogue"].get(cat["name"], cat["name"])
            lines = [f"**{name}** ({sizes})" if lang == "en" else f"**{name}**（{sizes}）", "",
                     "| " + " | ".join(h.format(k=settings["k"]) for h in t["head"]) + " |",
                     "|---|---|" + "---:|" * 4 + "---|"]
            for row in cat["rows"]:
                setting = ", ".join(f"{k}={v}" for k, v in row["setting"].items()) or "–"
                met = t["exact"] if row["kind"] == "exact" else t["yes" if row["meets_target"] else "no"]
                lines.append("| " + " | ".join([
                    f"`{row['kind']}`", _cell(setting), _num(row["build_s"], ".1f"),
                    _num(row["index_mb"], ",.0f"), _num(row["ms_per_query"], ".2f"),
                    _num(row["recall"], ".4f"), met]) + " |")
            parts.append("\n".join(lines) + "\n")
    except (ValueError, KeyError, TypeError) as err:
        raise MarkerError(f"{path}: cannot read the index benchmark ({err!r})") from err
    return "\n".join(parts) + "\n" + _bench_meta(data, lang) + "\n"


_RERANK_BENCH = {
    "en": {
        "head": ("Method", "Candidates", "Picks asked", "Picks made", "Seconds"),
        "rows": {
            "dpp_full_kernel": "DPP, Algorithm 1, explicit full-rank kernel (`dpp_greedy_map`)",
            "dpp_window": "DPP, Algorithm 2, window {window} (`dpp_rerank`)",
            "dpp_full_rerank": "DPP, Algorithm 1 on the {dim}-dim vectors (`dpp_rerank`)",
            "mmr": "MMR, lambda {lambda} (`mmr_rerank`)",
        },
        "load": "Load average before the run: {load}.",
    },
    "zh": {
        "head": ("方法", "候选数", "要求选出", "实际选出", "秒"),
        "rows": {
            "dpp_full_kernel": "DPP，算法 1，显式满秩核矩阵（`dpp_greedy_map`）",
            "dpp_window": "DPP，算法 2，窗口 {window}（`dpp_rerank`）",
            "dpp_full_rerank": "DPP，算法 1，直接用 {dim} 维向量（`dpp_rerank`）",
            "mmr": "MMR，lambda {lambda}（`mmr_rerank`）",
        },
        "load": "运行前的负载均值：{load}。",
    },
}


def render_rerank_bench(lang: str = "en", root: str | Path | None = None) -> str:
    """The Markdown of a ``rerank-bench`` marker, from ``<results>/benchmarks/rerank.json``."""
    import json

    t, speed = _RERANK_BENCH[lang], _BOARD[lang]
    path = _bench_file("rerank.json", root)
    if not path.exists():
        return f"*{speed['speed_none']}*\n"
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        st, figures = data["settings"], data["figures"]
        lines = ["| " + " | ".join(t["head"]) + " |", "|---|" + "---:|" * 4]
        for key, label in t["rows"].items():
            if key not in figures:
                continue
            row = figures[key]
            name = label.format(window=st["window"], dim=st["dim"], **{"lambda": st["lambda"]})
            lines.append("| " + " | ".join([name, f"{st['items']:,}", f"{st['picks']:,}",
                                             f"{row['picks']:,}", _num(row["seconds"], ".2f")]) + " |")
        load = ", ".join(f"{x:.1f}" for x in data["load_average"]["before"])
    except (ValueError, KeyError, TypeError) as err:
        raise MarkerError(f"{path}: cannot read the re-ranking benchmark ({err!r})") from err
    meta = _bench_meta(data, lang) + " " + t["load"].format(load=load)
    return "\n".join(lines) + "\n\n" + meta + "\n"


_SEQ_BENCH = {
    "en": {
        "head": ("Model", "Parameters", "Train step, wall (ms)", "Train step, CPU (ms)",
                 "Steps / s", "Sequences / s", "Sequences / CPU s", "Encoder forward, wall (ms)",
                 "Encoder forward, CPU (ms)"),
        "sizes": "Batch {batch_size} x L = {max_len}, {num_items:,} items, full-length rows with a "
                 "target at every position; median of {steps} steps after {warmup} warm-up steps; "
                 "one torch thread. Steps / s and sequences / s are per wall-clock second; CPU "
                 "columns count the process's own CPU time.",
        "load": "Load average before the run: {load}.",
    },
    "zh": {
        "head": ("模型", "参数量", "训练一步，墙钟（毫秒）", "训练一步，CPU（毫秒）", "步 / 秒",
                 "序列 / 秒", "序列 / CPU 秒", "编码器前向，墙钟（毫秒）", "编码器前向，CPU（毫秒）"),
        "sizes": "批大小 {batch_size}，L = {max_len}，{num_items:,} 个物品，每行都是满长度且每个位置"
                 "都有目标；先热身 {warmup} 步，再取 {steps} 步的中位数；一个 torch 线程。步 / 秒和"
                 "序列 / 秒按墙钟时间计；CPU 列只计本进程自己的 CPU 时间。",
        "load": "运行前的负载均值：{load}。",
    },
}


def render_sequential_bench(lang: str = "en", root: str | Path | None = None) -> str:
    """The Markdown of a ``sequential-bench`` marker, from ``<results>/benchmarks/sequential.json``."""
    import json

    from recnotes import registry

    t, speed = _SEQ_BENCH[lang], _BOARD[lang]
    path = _bench_file("sequential.json", root)
    if not path.exists():
        return f"*{speed['speed_none']}*\n"

    def ms(value: Any) -> str:
        return _num(value * 1000 if isinstance(value, (int, float)) else None, ",.1f")

    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        st, figures = data["settings"], data["figures"]
        lines = ["| " + " | ".join(t["head"]) + " |", "|---|" + "---:|" * 8]
        for name, row in figures.items():
            try:
                label = registry.get(name).display_name
            except registry.UnknownModelError:
                label = name
            lines.append("| " + " | ".join([
                label, _num(row["num_params"], ",d"), ms(row["train_step_s"]),
                ms(row.get("train_step_cpu_s")), _num(row["train_steps_per_s"], ".2f"),
                _num(row["train_sequences_per_s"], ",.0f"),
                _num(row.get("train_sequences_per_cpu_s"), ",.0f"),
                ms(row["encoder_forward_s"]), ms(row.get("encoder_forward_cpu_s"))]) + " |")
        sizes = t["sizes"].format(**{k: st[k] for k in ("batch_size", "max_len", "num_items",
                                                        "steps", "warmup")})
        load = ", ".join(f"{x:.1f}" for x in data["load_average"]["before"])
    except (ValueError, KeyError, TypeError) as err:
        raise MarkerError(f"{path}: cannot read the sequential benchmark ({err!r})") from err
    meta = _bench_meta(data, lang) + " " + t["load"].format(load=load)
    return "\n".join(lines) + "\n\n" + sizes + " " + meta + "\n"


_GEN_COSTS = {
    "en": {
        "head": ("Model", "Item vocabulary (parameters)", "Vocabulary, fp32 (MiB)",
                 "Other parameters", "Training MFLOPs / row", "Targets / row",
                 "Training MFLOPs / target", "Inference MFLOPs / request",
                 "Latency, wall (ms)", "Latency, CPU (ms)"),
        "sizes": "{num_items:,} items, histories of {max_len}; TIGER ids of {length} tokens "
                 "({levels} levels x {codebook_size} codes + a collision token of {collisions}), "
                 "random valid ids, beam {beam}, top-{k}. FLOPs are counted by "
                 "`torch.utils.flop_counter.FlopCounterMode` (matmul-type operations only) on one "
                 "forward and backward of `loss` over {batch_size} full-length rows; latency is "
                 "the median of {users} single-user requests after {warmup} warm-up ones, on one "
                 "torch thread.",
        "lookup": "TIGER also keeps an item -> tokens table of {mib:.2f} MiB (a buffer, not "
                  "parameters), which grows with the catalogue.",
        "load": "Load average before the run: {load}.",
    },
    "zh": {
        "head": ("模型", "物品词表（参数量）", "词表，fp32（MiB）", "其余参数量",
                 "训练 MFLOPs / 行", "目标数 / 行", "训练 MFLOPs / 目标", "推理 MFLOPs / 请求",
                 "延迟，墙钟（毫秒）", "延迟，CPU（毫秒）"),
        "sizes": "{num_items:,} 个物品，历史长度 {max_len}；TIGER 的 ID 为 {length} 个 token"
                 "（{levels} 层 x {codebook_size} 个码字，外加取值 {collisions} 个的防冲突 token），"
                 "使用随机生成的合法 ID，束宽 {beam}，取 top-{k}。FLOPs 由 "
                 "`torch.utils.flop_counter.FlopCounterMode` 统计（只计矩阵乘一类运算），统计对象是 "
                 "{batch_size} 行满长度序列上 `loss` 的一次前向加反向；延迟取 {warmup} 次热身之后 "
                 "{users} 次单用户请求的中位数，一个 torch 线程。",
        "lookup": "TIGER 另有一张物品 -> token 的查找表，占 {mib:.2f} MiB（是缓冲区而非参数），"
                  "随物品库增大而增大。",
        "load": "运行前的负载均值：{load}。",
    },
}


def render_generative_costs(lang: str = "en", root: str | Path | None = None) -> str:
    """The Markdown of a ``generative-costs`` marker, from ``<results>/benchmarks/generative-costs.json``."""
    import json

    from recnotes import registry

    t, speed = _GEN_COSTS[lang], _BOARD[lang]
    path = _bench_file("generative-costs.json", root)
    if not path.exists():
        return f"*{speed['speed_none']}*\n"

    def mega(value: Any) -> str:
        return _num(value / 1e6 if isinstance(value, (int, float)) else None, ",.2f")

    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        st, figures = data["settings"], data["figures"]
        lines = ["| " + " | ".join(t["head"]) + " |", "|---|" + "---:|" * 9]
        for name, row in figures.items():
            try:
                label = registry.get(name).display_name
            except registry.UnknownModelError:
                label = name
            lines.append("| " + " | ".join([
                _cell(label), _num(row["vocabulary_params"], ",d"),
                _num(row["vocabulary_bytes_fp32"] / 2**20, ",.2f"), _num(row["other_params"], ",d"),
                mega(row["train_flops_per_row"]), _num(row["targets_per_row"], "d"),
                mega(row["train_flops_per_target"]), mega(row["inference_flops_per_request"]),
                _num(row["latency_ms_median"], ",.2f"), _num(row.get("latency_cpu_ms_median"), ",.2f"),
            ]) + " |")  # fmt: skip
        tiger = figures.get("tiger", {})
        sizes = t["sizes"].format(length=tiger.get("tokens_per_item", st["levels"] + 1),
                                  **{k: st[k] for k in ("num_items", "max_len", "levels",
                                                        "codebook_size", "collisions", "beam", "k",
                                                        "batch_size", "users", "warmup")})  # fmt: skip
        if tiger.get("item_lookup_bytes"):
            sizes += " " + t["lookup"].format(mib=tiger["item_lookup_bytes"] / 2**20)
        load = ", ".join(f"{x:.1f}" for x in data["load_average"]["before"])
    except (ValueError, KeyError, TypeError) as err:
        raise MarkerError(f"{path}: cannot read the generative cost benchmark ({err!r})") from err
    meta = _bench_meta(data, lang) + " " + t["load"].format(load=load)
    return "\n".join(lines) + "\n\n" + sizes + " " + meta + "\n"


_PIPELINE = {
    "en": {
        "head": ("Stage", "Metric", "Value"),
        "stages": {"recall": "recall", "prerank": "pre-rank", "rank": "rank (its own top-k)",
                   "rerank": "re-rank"},
        "users": "{users:,} test users; protocol `{protocol}`.",
        "bench_head": ("Call", "Users", "p50 (ms)", "p95 (ms)", "mean (ms)", "CPU p50 (ms)",
                       "total (s)", "CPU total (s)"),
        "single": "`recommend_for_user`, one user at a time",
        "batch": "`recommend_for_users`, every user in one call",
        "funnel": "Funnel: {catalogue:,} items -> recall {topk_recall} -> pre-rank {topk_prerank} "
                  "-> re-rank ({reranker}) {topk_final}; {dataset}.",
        "load": "Load average before the run: {load}.",
    },
    "zh": {
        "head": ("阶段", "指标", "数值"),
        "stages": {"recall": "召回", "prerank": "粗排", "rank": "精排（自身的 top-k）",
                   "rerank": "重排"},
        "users": "{users:,} 个测试用户；评测协议 `{protocol}`。",
        "bench_head": ("调用", "用户数", "p50（毫秒）", "p95（毫秒）", "均值（毫秒）",
                       "CPU 时间 p50（毫秒）", "总计（秒）", "CPU 时间总计（秒）"),
        "single": "`recommend_for_user`，逐个用户调用",
        "batch": "`recommend_for_users`，一次调用处理全部用户",
        "funnel": "漏斗：{catalogue:,} 个物品 -> 召回 {topk_recall} -> 粗排 {topk_prerank} "
                  "-> 重排（{reranker}）{topk_final}；数据集 {dataset}。",
        "load": "运行前的负载均值：{load}。",
    },
}


def render_pipeline_metrics(
    args: Mapping[str, str], lang: str = "en", root: str | Path | None = None
) -> str:
    """The Markdown of a ``pipeline-metrics`` marker, from ``<results>/<dataset>/pipeline.json``."""
    import json

    from recnotes import results as R

    unknown = set(args) - {"dataset"}
    if unknown:
        raise MarkerError(f"pipeline-metrics marker: unknown argument(s) {sorted(unknown)}")
    t, speed = _PIPELINE[lang], _BOARD[lang]
    path = Path(R.RESULTS_DIR if root is None else root) / args.get("dataset", "ml-1m") / "pipeline.json"
    if not path.exists():
        return f"*{speed['speed_none']}*\n"
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        lines = ["| " + " | ".join(t["head"]) + " |", "|---|---|---:|"]
        for key, value in data["metrics"].items():
            stage, _, metric = key.partition(".")
            lines.append(f"| {t['stages'].get(stage, stage)} | {_cell(metric)} | {_num(value, '.4f')} |")
        users = t["users"].format(users=data["config"]["test_users"], protocol=data["protocol"])
    except (ValueError, KeyError, TypeError) as err:
        raise MarkerError(f"{path}: cannot read the pipeline results ({err!r})") from err
    return "\n".join(lines) + "\n\n" + users + " " + _bench_meta(data, lang) + "\n"


def render_pipeline_bench(lang: str = "en", root: str | Path | None = None) -> str:
    """The Markdown of a ``pipeline-bench`` marker, from ``<results>/benchmarks/pipeline.json``."""
    import json

    t, speed = _PIPELINE[lang], _BOARD[lang]
    path = _bench_file("pipeline.json", root)
    if not path.exists():
        return f"*{speed['speed_none']}*\n"
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        single, batch = data["figures"]["single_user_ms"], data["figures"]["all_users"]
        lines = ["| " + " | ".join(t["bench_head"]) + " |", "|---|" + "---:|" * 7,
                 f"| {t['single']} | {single['users']:,} | {_num(single['p50'], '.1f')} | "
                 f"{_num(single['p95'], '.1f')} | {_num(single['mean'], '.1f')} | "
                 f"{_num(single.get('cpu_p50'), '.1f')} | – | – |",
                 f"| {t['batch']} | {batch['users']:,} | – | – | – | – | "
                 f"{_num(batch['seconds'], '.1f')} | {_num(batch.get('cpu_seconds'), '.1f')} |"]
        st = data["settings"]
        funnel = t["funnel"].format(catalogue=st["catalogue"], topk_recall=st["topk_recall"],
                                    topk_prerank=st["topk_prerank"], reranker=st["reranker"],
                                    topk_final=st["topk_final"], dataset=st["dataset"])
        load = ", ".join(f"{x:.1f}" for x in data["load_average"]["before"])
    except (ValueError, KeyError, TypeError) as err:
        raise MarkerError(f"{path}: cannot read the pipeline benchmark ({err!r})") from err
    meta = _bench_meta(data, lang) + " " + t["load"].format(load=load)
    return "\n".join(lines) + "\n\n" + funnel + " " + meta + "\n"


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
            if name == "leaderboard":
                return render_leaderboard(args, lang, results_root)
            if name == "speed":
                if args:
                    raise MarkerError(f"speed marker takes no arguments, got {sorted(args)}")
                return render_speed(lang, results_root)
            if name == "rerank-bench":
                if args:
                    raise MarkerError(f"rerank-bench marker takes no arguments, got {sorted(args)}")
                return render_rerank_bench(lang, results_root)
            if name == "pipeline-metrics":
                return render_pipeline_metrics(args, lang, results_root)
            if name == "pipeline-bench":
                if args:
                    raise MarkerError(f"pipeline-bench marker takes no arguments, got {sorted(args)}")
                return render_pipeline_bench(lang, results_root)
            if name == "sequential-bench":
                if args:
                    raise MarkerError(f"sequential-bench marker takes no arguments, got {sorted(args)}")
                return render_sequential_bench(lang, results_root)
            if name == "generative-costs":
                if args:
                    raise MarkerError(f"generative-costs marker takes no arguments, got {sorted(args)}")
                return render_generative_costs(lang, results_root)
            if name == "index-bench":
                if args:
                    raise MarkerError(f"index-bench marker takes no arguments, got {sorted(args)}")
                return render_index_bench(lang, results_root)
            raise MarkerError(
                f"unknown marker 'recnotes:{name}' "
                "(known: model-index, results, leaderboard, speed, index-bench, rerank-bench, "
                "sequential-bench, generative-costs, pipeline-metrics, pipeline-bench)"
            )
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
