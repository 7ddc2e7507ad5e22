"""The MkDocs hooks in docs/hooks/, tested as plain functions (no site build)."""

from __future__ import annotations

import importlib.util
import json
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest
import torch
from mkdocs.exceptions import PluginError

from recnotes import registry
from recnotes.results import Result

HOOKS = Path(__file__).resolve().parents[2] / "docs" / "hooks"


def _load(name: str):
    spec = importlib.util.spec_from_file_location(f"_recnotes_hook_{name}", HOOKS / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


pages = _load("recnotes_pages")
notebooks = _load("notebooks_i18n")
griffe_examples = _load("griffe_examples")
alternates = _load("i18n_alternates")


# --- model index --------------------------------------------------------------------------------


@dataclass(frozen=True)
class _DummyConfig:
    embed_dim: int = 2


class _Dummy(torch.nn.Module):
    def forward(self, batch):  # pragma: no cover - never called
        return batch["x"]


def _dummy_spec(**overrides) -> registry.ModelSpec:
    fields = dict(
        name="zz-hook-dummy",
        display_name="Dummy|Net",
        stage="ranking",
        family="ranking",
        paper=registry.Paper(
            title="A dummy model",
            authors="Doe et al.",
            venue="NoConf",
            year=2042,
            url="https://example.org/dummy",
        ),
        cls=_Dummy,
        config_cls=_DummyConfig,
        tiny=lambda: (_Dummy(), {"x": torch.zeros(1)}),
        note="ranking/dummy.md",
    )
    fields.update(overrides)
    return registry.ModelSpec(**fields)


@pytest.fixture
def dummy_model():
    spec = registry.register(_dummy_spec())
    try:
        yield spec
    finally:
        registry.unregister(spec.name)
    assert spec.name not in registry.names()


def test_model_index_lists_a_registered_model(dummy_model):
    out = pages.replace_markers("Intro\n<!-- recnotes:model-index -->\n", "en/index.md")
    assert "| Model | Stage | Paper | Status |" in out
    row = next(line for line in out.splitlines() if "Dummy" in line)
    # linked to its note, relative to the page; the pipe in the name does not break the table
    assert "[Dummy\\|Net](ranking/dummy.md)" in row
    assert "[Doe et al. (NoConf 2042)](https://example.org/dummy)" in row
    assert "| Ranking |" in row and "| implemented |" in row
    assert "Intro\n\n|" in out  # a blank line keeps the table apart from the paragraph


def test_model_index_in_chinese_and_relative_to_a_section_page(dummy_model):
    out = pages.replace_markers(
        "<!-- recnotes:model-index stage=ranking -->", "zh/ranking/index.md"
    )
    assert "| 模型 | 阶段 | 论文 | 状态 |" in out
    assert "[Dummy\\|Net](dummy.md)" in out  # docs/zh/ranking/index.md -> docs/zh/ranking/dummy.md
    assert "| 精排 |" in out and "| 已实现 |" in out


def test_model_index_filters_by_stage(dummy_model):
    recall = pages.replace_markers(
        "<!-- recnotes:model-index stage=recall -->", "en/recall/index.md"
    )
    assert "Dummy" not in recall


def test_model_without_note_is_not_linked():
    spec = registry.register(_dummy_spec(name="zz-hook-nonote", note=""))
    try:
        out = pages.render_model_index([spec], "en", "index.md")
    finally:
        registry.unregister(spec.name)
    assert "| Dummy\\|Net |" in out and "](ranking" not in out


@pytest.mark.parametrize(
    ("lang", "stage", "sentence"),
    [
        ("en", "rerank", "No models in this stage yet."),
        ("zh", "rerank", "这一阶段暂无模型。"),
        ("en", None, "No models are registered yet."),
        ("zh", None, "暂无已注册的模型。"),
    ],
)
def test_empty_model_index_is_a_sentence(lang, stage, sentence):
    out = pages.render_model_index([], lang, "index.md", stage)
    assert sentence in out and "|" not in out


def test_every_stage_has_a_name_in_both_languages():
    for lang in pages.LANGS:
        assert set(pages._TEXT[lang]["stages"]) == set(registry.STAGES)
        assert set(pages._TEXT[lang]["statuses"]) == set(registry.STATUSES)


# --- markers: where they count, and errors ------------------------------------------------------


def test_marker_inside_code_or_prose_is_left_alone():
    text = (
        "Write `<!-- recnotes:model-index -->` on a line of its own.\n\n"
        "```markdown\n<!-- recnotes:model-index -->\n```\n"
    )
    assert pages.replace_markers(text, "en/index.md") == text


def test_marker_keeps_its_indentation(dummy_model):
    out = pages.replace_markers("!!! note\n\n    <!-- recnotes:model-index -->\n", "en/index.md")
    assert "\n    | Model | Stage | Paper | Status |\n" in out


@pytest.mark.parametrize(
    "marker",
    [
        "<!-- recnotes:model-indx -->",
        "<!-- recnotes:model-index stage=nosuchstage -->",
        "<!-- recnotes:model-index colour=blue -->",
        "<!-- recnotes:model-index stage -->",
        "<!-- recnotes:results group=model -->",
        "<!-- recnotes:results colour=blue -->",
    ],
)
def test_bad_marker_fails_with_the_page_name(marker):
    with pytest.raises(PluginError, match=r"en/some/page\.md"):
        pages.replace_markers(marker, "en/some/page.md")


def test_page_language():
    assert pages.page_language("zh/recall/index.md") == "zh"
    assert pages.page_language("en/index.md") == "en"
    assert pages.page_language("notebooks/x.md") == "en"


# --- results ------------------------------------------------------------------------------------


def _write(root: Path, **fields) -> None:
    result = Result(
        command=f"python -m recnotes train {fields['model']} --dataset {fields['dataset']}",
        commit="0000000",
        device="cpu",
        wall_time_s=1.0,
        **fields,
    )
    result.save(root / fields["dataset"] / f"{fields['model']}-test.json")


@pytest.fixture
def results_root(tmp_path: Path) -> Path:
    _write(
        tmp_path,
        model="alpha",
        dataset="ml-1m",
        protocol="loo-full",
        metrics={"hr@10": 0.5, "ndcg@10": 0.25},
        paper={"hr@10": 0.6},
    )
    _write(tmp_path, model="beta", dataset="ml-1m", protocol="loo-full", metrics={"hr@10": 0.4})
    _write(tmp_path, model="alpha", dataset="synthetic", protocol="ctr", metrics={"auc": 0.7})
    return tmp_path


def test_results_marker_filters_and_picks_columns(results_root):
    out = pages.replace_markers(
        "<!-- recnotes:results dataset=ml-1m model=alpha metrics=hr@10 -->",
        "en/results.md",
        results_root=results_root,
    )
    assert "alpha" in out and "beta" not in out and "synthetic" not in out
    assert "hr@10 (ours)" in out and "ndcg@10" not in out


def test_results_marker_groups_by_dataset_with_anchored_headings(results_root):
    out = pages.replace_markers(
        "<!-- recnotes:results group=dataset -->", "zh/results.md", results_root=results_root
    )
    assert "### ml-1m { #results-ml-1m }" in out
    assert "### synthetic { #results-synthetic }" in out
    assert out.index("ml-1m {") < out.index("synthetic {")
    assert "模型" in out  # headers in the page's language


def test_auc_tables_show_square_loss_runs_only_when_named(tmp_path):
    _board_result(tmp_path, "zz-fm", 0.97)
    _board_result(tmp_path, "zz-fm", 0.98, loss="square", stem="zz-fm-square")
    table = pages.replace_markers("<!-- recnotes:results model=zz-fm metrics=auc -->", "en/x.md",
                                  results_root=tmp_path)  # fmt: skip
    assert "0.9700" in table and "0.9800" not in table
    everything = pages.replace_markers("<!-- recnotes:results model=zz-fm -->", "en/x.md",
                                       results_root=tmp_path)  # fmt: skip
    assert "0.9700" in everything and "0.9800" in everything  # the all-results page keeps both
    named = pages.replace_markers("<!-- recnotes:results model=zz-fm file=zz-fm-square -->",
                                  "en/x.md", results_root=tmp_path)  # fmt: skip
    assert "0.9800" in named and "0.9700" not in named


def test_results_marker_without_results(tmp_path):
    out = pages.replace_markers(
        "<!-- recnotes:results group=dataset -->", "en/results.md", results_root=tmp_path
    )
    assert "No results yet." in out and "###" not in out


def test_malformed_results_file_fails(tmp_path):
    (tmp_path / "bad.json").write_text(json.dumps({"model": "x"}), encoding="utf-8")
    with pytest.raises(PluginError, match="bad.json"):
        pages.replace_markers("<!-- recnotes:results -->", "en/results.md", results_root=tmp_path)


# --- notebooks and docstrings -------------------------------------------------------------------


def test_notebook_html_loses_its_cdn_scripts():
    from mkdocs_jupyter import convert

    notebook = Path(__file__).resolve().parents[2] / "docs" / "en" / "notebooks" / "hello.ipynb"
    raw = convert.nb2html(str(notebook))
    assert "cdnjs.cloudflare.com" in raw  # nbconvert's mermaid import (and MathJax 2 by default)
    cleaned = notebooks.strip_cdn_scripts(raw)
    assert "cdnjs" not in cleaned and "x-mathjax-config" not in cleaned
    assert "jp-RenderedMarkdown" in cleaned and "tensor([0, 1, 4, 9])" in cleaned


def test_example_sections_become_examples():
    doc = "Summary.\n\n    Example:\n        >>> x = [1][0]\n\n    An Example: in prose stays.\n"
    out = griffe_examples.pluralise_example_headers(doc)
    assert "    Examples:\n        >>> x" in out and "An Example: in prose stays." in out


def test_head_alternates_are_dropped_but_the_selector_stays():
    html = (
        '<html><head>\n  <link rel="alternate" href="./" hreflang="en">\n'
        '  <link rel="alternate" href="../zh/x/" hreflang="zh">\n'
        '  <link rel="alternate" type="application/rss+xml" href="feed.xml">\n</head>\n'
        '<body><a href="../zh/x/" hreflang="zh" class="md-select__link">中文</a></body></html>'
    )
    out = alternates.drop_head_alternates(html)
    assert 'hreflang="en">' not in out and '<link rel="alternate" href="../zh/x/"' not in out
    assert "application/rss+xml" in out and '<a href="../zh/x/" hreflang="zh"' in out


def test_results_of_different_protocols_never_share_a_table(tmp_path):
    _write(tmp_path, model="alpha", dataset="ml-1m", protocol="ctr-random-80-10-10", metrics={"auc": 0.89})
    _write(tmp_path, model="gamma", dataset="ml-1m", protocol="ncf-loo-99neg", metrics={"hr@10": 0.7})
    out = pages.replace_markers("<!-- recnotes:results group=dataset -->", "en/results.md", results_root=tmp_path)
    ctr, ncf = out.split("Protocol `ncf-loo-99neg`")
    assert "Protocol `ctr-random-80-10-10`" in ctr and "auc (ours)" in ctr and "hr@10" not in ctr
    assert "hr@10 (ours)" in ncf and "auc" not in ncf


def test_several_results_of_one_model_are_told_apart_by_their_file(tmp_path):
    for factors, hr in ((8, 0.63), (64, 0.70)):
        Result(model="gmf", dataset="ml-1m", protocol="ncf-loo-99neg", metrics={"hr@10": hr},
               command="python x.py", commit="0", device="cpu", wall_time_s=1.0).save(
            tmp_path / "ml-1m" / f"gmf-f{factors}.json")
    out = pages.replace_markers("<!-- recnotes:results group=dataset -->", "en/results.md", results_root=tmp_path)
    assert "gmf (f8)" in out and "gmf (f64)" in out
    one = pages.replace_markers("<!-- recnotes:results model=gmf file=gmf-f64 -->", "en/x.md",
                                results_root=tmp_path)
    assert "0.7000" in one and "0.6300" not in one


def test_a_results_file_not_named_after_its_model_shows_its_variant(tmp_path):
    for stem, ndcg in (("sasrec", 0.041), ("sasrec-bce", 0.031), ("other-name", 0.021)):
        Result(model="sasrec", dataset="beauty", protocol="amazon-loo-full",
               metrics={"ndcg@10": ndcg}, command="python x.py", commit="0", device="cpu",
               wall_time_s=1.0).save(tmp_path / "beauty" / f"{stem}.json")  # fmt: skip
    out = pages.replace_markers("<!-- recnotes:results dataset=beauty -->", "en/x.md",
                                results_root=tmp_path)  # fmt: skip
    rows = {line.split(" | ")[0].lstrip("| "): line for line in out.splitlines() if "0.0" in line}
    assert set(rows) == {"sasrec", "sasrec (bce)", "sasrec (other-name)"}
    assert "0.0310" in rows["sasrec (bce)"] and "0.0410" in rows["sasrec"]
    # alone on a page, the variant is still named: the label does not depend on the other rows
    one = pages.replace_markers("<!-- recnotes:results file=sasrec-bce -->", "zh/x.md",
                                results_root=tmp_path)  # fmt: skip
    assert "| sasrec (bce) | beauty |" in one and "0.0410" not in one


# --- leaderboard and speed ----------------------------------------------------------------------


def _board_result(root: Path, model: str, auc: float, *, loss: str = "bce", paper=None, stem=None,
                  dataset: str = "frappe", protocol: str = "frappe-nfm-x1-rebuilt", seeds=(0, 1, 2),
                  library=None) -> None:
    config = {"loss": loss, "num_params": 12345, "epoch_time_s": 2.5}
    if library:
        config["library"] = library
    Result(model=model, dataset=dataset, protocol=protocol,
           metrics={"auc": auc, "auc_std": 0.001, "logloss": 0.2, "logloss_std": 0.01},
           command=f"python experiments/ctr_benchmark.py --model {model}", commit="0", device="cpu",
           wall_time_s=1.0, paper=paper or {}, source="BARS" if paper else "", seeds=list(seeds),
           config=config).save(root / dataset / f"{stem or model}.json")


def test_leaderboard_sorts_by_auc_and_shows_reference_params_and_time(tmp_path):
    _board_result(tmp_path, "zz-low", 0.91, paper={"auc": 0.95, "logloss": 0.25})
    _board_result(tmp_path, "zz-high", 0.97)
    _board_result(tmp_path, "zz-square", 0.99, loss="square")  # another objective: not ranked
    _board_result(tmp_path, "zz-other", 0.99, protocol="ctr-random-80-10-10")  # another protocol
    out = pages.replace_markers("<!-- recnotes:leaderboard dataset=frappe -->", "en/ranking/leaderboard.md",
                                results_root=tmp_path)
    assert "Protocol `frappe-nfm-x1-rebuilt`" in out
    table = [ln for ln in out.splitlines() if ln.startswith("| zz-")]
    assert [ln.split(" | ")[0] for ln in table] == ["| zz-high", "| zz-low"]
    low = table[1]
    assert "0.9100 ± 0.0010" in low and "| 0.9500 | 0.2500 |" in low and "12,345" in low and "2.50" in low
    assert "zz-square" not in out and "zz-other" not in out
    assert "<svg" in out and "</svg>" in out and "<?xml" not in out
    assert "Not run yet on this dataset:" in out and "`embedding-mlp`" in out  # registered, no result here


def test_two_frappe_leaderboards_on_one_page_keep_their_rows_and_distinct_plot_ids(tmp_path):
    import re

    cut = "frappe-nfm-x1-rebuilt-instance-cut"
    _board_result(tmp_path, "zz-main", 0.95)
    _board_result(tmp_path, "zz-main", 0.96, protocol=cut, stem="zz-main-instance-cut")
    page = ("<!-- recnotes:leaderboard dataset=frappe -->\n\n"
            f"<!-- recnotes:leaderboard dataset=frappe protocol={cut} -->")
    out = pages.replace_markers(page, "en/ranking/leaderboard.md", results_root=tmp_path)
    first, second = out.split(f"Protocol `{cut}`")
    assert "| zz-main | 0.9500" in first and "0.9600" not in first
    assert "| zz-main | 0.9600" in second and "0.9500" not in second
    ids = re.findall(r'id="([^"]+)"', out)
    assert ids and len(ids) == len(set(ids))  # the two inline SVGs share no element id


def test_a_run_trained_by_another_library_is_not_a_leaderboard_row_but_shows_in_the_note(tmp_path):
    _board_result(tmp_path, "zz-afm", 0.95)
    _board_result(tmp_path, "zz-afm", 0.96, stem="zz-afm-fuxictr", library="fuxictr 2.3.10")
    board = pages.replace_markers("<!-- recnotes:leaderboard dataset=frappe -->", "en/ranking/leaderboard.md",
                                  results_root=tmp_path)
    assert "| zz-afm | 0.9500" in board and "0.9600" not in board
    note = pages.replace_markers("<!-- recnotes:results file=zz-afm-fuxictr -->", "en/x.md",
                                 results_root=tmp_path)
    assert "| zz-afm (fuxictr) | frappe |" in note and "0.9600" in note


def test_leaderboard_leaves_out_the_spread_of_a_single_seed(tmp_path):
    _board_result(tmp_path, "zz-one", 0.93, seeds=[0])
    out = pages.replace_markers("<!-- recnotes:leaderboard dataset=frappe -->", "en/ranking/leaderboard.md",
                                results_root=tmp_path)
    row = next(ln for ln in out.splitlines() if ln.startswith("| zz-one"))
    assert "| 0.9300 |" in row and "±" not in row


def test_leaderboard_plot_is_deterministic_and_in_the_page_language(tmp_path):
    _board_result(tmp_path, "zz-a", 0.95, paper={"auc": 0.96})
    marker = "<!-- recnotes:leaderboard dataset=frappe -->"
    first = pages.replace_markers(marker, "zh/ranking/leaderboard.md", results_root=tmp_path)
    second = pages.replace_markers(marker, "zh/ranking/leaderboard.md", results_root=tmp_path)
    assert first == second
    svg = first[first.index("<svg"):first.index("</svg>")]
    assert "测试集 AUC" in svg and "参考值" in svg and "zz-a" in svg
    assert "AUC（本项目）" in first


def test_leaderboard_without_results_and_bad_arguments(tmp_path):
    out = pages.replace_markers("<!-- recnotes:leaderboard dataset=frappe -->", "en/x.md", results_root=tmp_path)
    assert "No results yet." in out and "<svg" not in out
    for marker in ("<!-- recnotes:leaderboard -->", "<!-- recnotes:leaderboard dataset=netflix -->",
                   "<!-- recnotes:leaderboard dataset=frappe colour=blue -->", "<!-- recnotes:speed x=1 -->"):
        with pytest.raises(PluginError, match=r"en/x\.md"):
            pages.replace_markers(marker, "en/x.md", results_root=tmp_path)


def test_speed_table_until_and_after_the_file_exists(tmp_path):
    marker = "<!-- recnotes:speed -->"
    assert "Not measured yet." in pages.replace_markers(marker, "en/x.md", results_root=tmp_path)
    assert "尚未测量。" in pages.replace_markers(marker, "zh/x.md", results_root=tmp_path)
    speed = {"rows": [{"library": "recnotes", "model": "deepfm", "samples_per_s": 123456.7,
                       "peak_mem_mb": 512.4, "test_auc": 0.98123, "epochs": 3, "batch_size": 4096,
                       "embed_dim": 10}],
             "command": "python benchmarks/peer_speed.py", "commit": "abc", "device": "cpu", "date": "2025-01-01"}
    (tmp_path / "benchmarks").mkdir()
    (tmp_path / "benchmarks" / "peer-speed.json").write_text(json.dumps(speed), encoding="utf-8")
    out = pages.replace_markers(marker, "en/x.md", results_root=tmp_path)
    assert "| recnotes | deepfm | 123,457 | 512 | 0.9812 | 3 | 4096 | 10 |" in out
    assert "`python benchmarks/peer_speed.py`" in out and "`abc`" in out
    # the speed file is not a results file: results markers still render
    assert "No results yet." in pages.replace_markers("<!-- recnotes:results -->", "en/x.md", results_root=tmp_path)


def test_rerank_bench_marker_renders_the_benchmark_file(tmp_path):
    import json

    (tmp_path / "benchmarks").mkdir()
    none = pages.replace_markers("<!-- recnotes:rerank-bench -->", "en/rerank/dpp.md", results_root=tmp_path)
    assert "Not measured yet" in none
    (tmp_path / "benchmarks" / "rerank.json").write_text(json.dumps({
        "command": "python benchmarks/bench_rerank.py", "commit": "abc1234", "device": "cpu",
        "date": "2026-11-23", "load_average": {"before": [1.5, 1.0, 0.5]},
        "settings": {"items": 5000, "picks": 1000, "dim": 64, "window": 10, "lambda": 0.5},
        "figures": {"dpp_window": {"seconds": 1.2345, "picks": 1000},
                    "mmr": {"seconds": 0.25, "picks": 1000}}}), encoding="utf-8")
    out = pages.replace_markers("<!-- recnotes:rerank-bench -->", "zh/rerank/dpp.md", results_root=tmp_path)
    assert "窗口 10" in out and "| 1.23 |" in out and "| 0.25 |" in out and "abc1234" in out
    assert "1.5, 1.0, 0.5" in out
    with pytest.raises(PluginError, match="takes no arguments"):
        pages.replace_markers("<!-- recnotes:rerank-bench x=1 -->", "en/a.md", results_root=tmp_path)


def test_sequential_bench_marker_renders_the_benchmark_file(tmp_path):
    import json

    (tmp_path / "benchmarks").mkdir()
    none = pages.replace_markers("<!-- recnotes:sequential-bench -->", "en/generative/hstu.md",
                                 results_root=tmp_path)  # fmt: skip
    assert "Not measured yet" in none
    row = {"num_params": 123456, "train_step_s": 0.5, "train_step_cpu_s": 0.25,
           "train_steps_per_s": 2.0, "train_sequences_per_s": 512.0,
           "train_sequences_per_cpu_s": 1024.0, "encoder_forward_s": 0.0125,
           "encoder_forward_cpu_s": 0.01, "encoder_sequences_per_s": 20480.0}  # fmt: skip
    older = {k: v for k, v in row.items() if "cpu" not in k}  # a file written before CPU times
    (tmp_path / "benchmarks" / "sequential.json").write_text(json.dumps({
        "command": "python benchmarks/bench_sequential.py", "commit": "abc1234", "device": "cpu",
        "date": "2026-11-23", "load_average": {"before": [7.25, 8.0, 9.0]},
        "settings": {"batch_size": 256, "max_len": 20, "num_items": 12101, "steps": 30, "warmup": 5},
        "figures": {"hstu": row, "no-such-model": older}}), encoding="utf-8")  # fmt: skip
    out = pages.replace_markers("<!-- recnotes:sequential-bench -->", "en/generative/hstu.md",
                                results_root=tmp_path)  # fmt: skip
    assert "| HSTU | 123,456 | 500.0 | 250.0 | 2.00 | 512 | 1,024 | 12.5 | 10.0 |" in out
    # an unregistered name is shown as written; missing CPU figures are a dash, not an error
    assert "| no-such-model | 123,456 | 500.0 | – | 2.00 | 512 | – | 12.5 | – |" in out
    assert "12,101 items" in out and "7.2, 8.0, 9.0" in out and "abc1234" in out
    zh = pages.replace_markers("<!-- recnotes:sequential-bench -->", "zh/generative/hstu.md",
                               results_root=tmp_path)  # fmt: skip
    assert "训练一步，CPU（毫秒）" in zh and "12,101 个物品" in zh
    with pytest.raises(PluginError, match="takes no arguments"):
        pages.replace_markers("<!-- recnotes:sequential-bench x=1 -->", "en/a.md",
                              results_root=tmp_path)  # fmt: skip


def test_generative_costs_marker_renders_the_benchmark_file(tmp_path):
    import json

    (tmp_path / "benchmarks").mkdir()
    for lang, none in (("en", "Not measured yet."), ("zh", "尚未测量。")):
        out = pages.replace_markers("<!-- recnotes:generative-costs -->", f"{lang}/generative/index.md",
                                    results_root=tmp_path)  # fmt: skip
        assert none in out
    row = {"vocabulary_params": 774528, "vocabulary_bytes_fp32": 3098112, "other_params": 51840,
           "train_flops_per_row": 99448320, "targets_per_row": 20,
           "train_flops_per_target": 4972416, "inference_flops_per_request": 3515008,
           "latency_ms_median": 2.118, "latency_cpu_ms_median": 2.11}  # fmt: skip
    tiger = {**row, "vocabulary_params": 262656, "vocabulary_bytes_fp32": 1050624,
             "targets_per_row": 1, "tokens_per_item": 4, "item_lookup_bytes": 387264}  # fmt: skip
    del tiger["latency_cpu_ms_median"]  # an older file without CPU times still renders
    (tmp_path / "benchmarks" / "generative-costs.json").write_text(json.dumps({
        "command": "python benchmarks/generative_costs.py", "commit": "abc1234", "device": "cpu",
        "date": "2026-11-23", "load_average": {"before": [4.75, 3.0, 1.0]},
        "settings": {"num_items": 12101, "max_len": 20, "batch_size": 64, "levels": 3,
                     "codebook_size": 256, "collisions": 256, "beam": 20, "k": 10, "users": 40,
                     "warmup": 5},
        "figures": {"sasrec": row, "tiger": tiger}}), encoding="utf-8")  # fmt: skip
    out = pages.replace_markers("<!-- recnotes:generative-costs -->", "en/generative/index.md",
                                results_root=tmp_path)  # fmt: skip
    # 3,098,112 bytes = 2.95 MiB; 99,448,320 FLOPs = 99.45 MFLOPs
    assert "| SASRec | 774,528 | 2.95 | 51,840 | 99.45 | 20 | 4.97 | 3.52 | 2.12 | 2.11 |" in out
    assert "| TIGER | 262,656 | 1.00 | 51,840 | 99.45 | 1 | 4.97 | 3.52 | 2.12 | – |" in out
    assert "12,101 items" in out and "beam 20" in out and "0.37 MiB" in out
    assert "4.8, 3.0, 1.0" in out and "abc1234" in out
    zh = pages.replace_markers("<!-- recnotes:generative-costs -->", "zh/generative/index.md",
                               results_root=tmp_path)  # fmt: skip
    assert "推理 MFLOPs / 请求" in zh and "12,101 个物品" in zh and "束宽 20" in zh
    with pytest.raises(PluginError, match="takes no arguments"):
        pages.replace_markers("<!-- recnotes:generative-costs x=1 -->", "en/a.md",
                              results_root=tmp_path)  # fmt: skip
    (tmp_path / "benchmarks" / "generative-costs.json").write_text("{}", encoding="utf-8")
    with pytest.raises(PluginError, match="generative cost benchmark"):
        pages.replace_markers("<!-- recnotes:generative-costs -->", "en/a.md", results_root=tmp_path)


def test_pipeline_markers_render_the_results_and_benchmark_files(tmp_path):
    import json

    (tmp_path / "benchmarks").mkdir()
    (tmp_path / "ml-1m").mkdir()
    for marker in ("pipeline-metrics", "pipeline-bench"):
        none = pages.replace_markers(f"<!-- recnotes:{marker} -->", "en/pipeline.md", results_root=tmp_path)
        assert "Not measured yet" in none
    (tmp_path / "ml-1m" / "pipeline.json").write_text(json.dumps({
        "command": "python experiments/pipeline_ml1m.py", "commit": "abc1234", "device": "cpu",
        "date": "2026-11-23", "protocol": "ml1m-pipeline-leave-latest-out",
        "metrics": {"recall.hr@200": 0.61234, "rank.auc": 0.8, "rerank.ild@20": 0.5},
        "config": {"test_users": 6040}}), encoding="utf-8")
    out = pages.replace_markers("<!-- recnotes:pipeline-metrics -->", "zh/pipeline.md", results_root=tmp_path)
    assert "| 召回 | hr@200 | 0.6123 |" in out and "| 精排（自身的 top-k） | auc | 0.8000 |" in out
    assert "6,040 个测试用户" in out and "abc1234" in out
    (tmp_path / "benchmarks" / "pipeline.json").write_text(json.dumps({
        "command": "python benchmarks/bench_pipeline.py", "commit": "def5678", "device": "cpu",
        "date": "2026-11-23", "load_average": {"before": [2.0, 1.0, 0.5]},
        "settings": {"dataset": "ml-1m", "catalogue": 3706, "topk_recall": 200, "topk_prerank": 100,
                     "topk_final": 20, "reranker": "mmr"},
        "figures": {"single_user_ms": {"p50": 7.25, "p95": 9.0, "mean": 7.5, "cpu_p50": 6.0,
                                       "users": 300},
                    "all_users": {"seconds": 31.04, "cpu_seconds": 29.0, "users": 6040}}}),
        encoding="utf-8")
    out = pages.replace_markers("<!-- recnotes:pipeline-bench -->", "en/pipeline.md", results_root=tmp_path)
    assert "| 300 | 7.2 | 9.0 | 7.5 | 6.0 | – | – |" in out
    assert "| 6,040 | – | – | – | – | 31.0 | 29.0 |" in out
    assert "3,706 items -> recall 200" in out and "2.0, 1.0, 0.5" in out and "def5678" in out
    with pytest.raises(PluginError, match="takes no arguments"):
        pages.replace_markers("<!-- recnotes:pipeline-bench x=1 -->", "en/a.md", results_root=tmp_path)
    with pytest.raises(PluginError, match="unknown argument"):
        pages.replace_markers("<!-- recnotes:pipeline-metrics model=x -->", "en/a.md", results_root=tmp_path)
