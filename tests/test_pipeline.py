"""The funnel (recnotes.pipeline): stage shapes, funnel sizes, named errors, the CLI and the scripts.

One quick pipeline (synthetic data, tiny models, seconds) is trained per module and shared.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from recnotes import metrics as M
from recnotes.data.retrieval import retrieval_synthetic
from recnotes.evaluate import full_ranking
from recnotes.pipeline import (
    PipelineConfig,
    PipelineError,
    UnknownUserError,
    evaluate_pipeline,
    load_pipeline,
    merge_candidates,
    quick_config,
    run_funnel,
    train_pipeline,
)

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def pipe():
    torch.manual_seed(0)
    return train_pipeline(retrieval_synthetic(), quick_config(), log=lambda s: None)


@pytest.fixture(scope="module")
def saved(pipe, tmp_path_factory):
    return pipe.save(tmp_path_factory.mktemp("pipeline"), {"name": "synthetic"})


def _seen(pipe, user_id: int) -> set[int]:
    data = pipe.data
    row = int((data.test.user_ids == user_id).nonzero()[0])
    indptr, indices = data.test.seen
    return set(indices[indptr[row] : indptr[row + 1]].tolist())


def test_recommend_for_user_returns_distinct_unseen_items_with_titles_and_stage_scores(pipe):
    user = int(pipe.data.test.user_ids[3])
    rec = pipe.recommend_for_user(user, topk_recall=40, topk_final=8, topk_prerank=25)
    assert rec.funnel == {"catalogue": 300, "recall": 40, "prerank": 25, "rank": 25, "rerank": 8}
    assert (len(rec.recall), len(rec.prerank), len(rec.rank)) == (40, 25, 25)
    ids = [row["item_id"] for row in rec.items]
    assert len(ids) == 8 and len(set(ids)) == 8
    assert not set(ids) & _seen(pipe, user) and 0 not in ids
    assert set(ids) <= set(rec.prerank.item_ids.tolist()) <= set(rec.recall.item_ids.tolist())
    for row in rec.items:
        assert row["title"] == pipe.data.titles[row["item_id"]] and row["title"]
        for key in ("recall_score", "prerank_score", "rank_score"):
            assert isinstance(row[key], float) and torch.isfinite(torch.tensor(row[key]))
    # each stage's list is sorted by its own score
    for stage in (rec.recall, rec.prerank, rec.rank):
        assert bool((stage.scores[:-1] >= stage.scores[1:]).all())
    # the recall score is the retriever's inner product
    item = rec.items[0]["item_id"]
    u = pipe.retrievers["dssm"].user_embedding({k: v[3:4] for k, v in pipe.data.test.users.items()})
    expected = float(u[0].detach() @ pipe.item_vectors["dssm"][item])
    assert rec.items[0]["recall_score"] == pytest.approx(expected, abs=1e-5)


def test_lambda_one_keeps_the_rankers_order(pipe):
    user = int(pipe.data.test.user_ids[5])
    rec = pipe.recommend_for_user(user, lambda_mmr=1.0)
    assert [r["item_id"] for r in rec.items] == rec.rank.item_ids[: len(rec.items)].tolist()
    diverse = pipe.recommend_for_user(user, lambda_mmr=0.0)
    assert [r["item_id"] for r in diverse.items] != [r["item_id"] for r in rec.items]


def test_batched_recommendations_equal_one_at_a_time(pipe):
    users = pipe.data.test.user_ids[:4].tolist()
    batch = pipe.recommend_for_users(users, reranker="dpp")
    for user, rec in zip(users, batch, strict=True):
        single = pipe.recommend_for_user(user, reranker="dpp")
        assert [r["item_id"] for r in rec.items] == [r["item_id"] for r in single.items]


def test_named_errors(pipe):
    user = int(pipe.data.test.user_ids[0])
    with pytest.raises(UnknownUserError, match="unknown user 99999"):
        pipe.recommend_for_user(99999)
    with pytest.raises(PipelineError, match="larger than the catalogue"):
        pipe.recommend_for_user(user, topk_recall=301)
    with pytest.raises(PipelineError, match="lambda"):
        pipe.recommend_for_user(user, lambda_mmr=1.5)
    with pytest.raises(PipelineError, match="funnel must narrow"):
        pipe.recommend_for_user(user, topk_recall=10, topk_final=20)
    with pytest.raises(PipelineError, match="empty"):
        pipe.rerank(torch.empty(0), torch.empty(0, dtype=torch.long), 1)
    view = pipe.view("test")
    with pytest.raises(PipelineError, match="empty"):
        pipe.rank_scores(view, torch.tensor([0]), torch.empty(1, 0, dtype=torch.long))
    with pytest.raises(PipelineError, match="reranker"):
        pipe.recommend_for_user(user, reranker="greedy")
    with pytest.raises(PipelineError, match="funnel must narrow"):
        PipelineConfig(topk_recall=10, topk_prerank=20)


def test_merge_candidates_takes_lists_rank_by_rank_without_repeats():
    a = torch.tensor([[5, 3, 1, 9], [1, 2, 3, 4]])
    b = torch.tensor([[3, 7, 1, 8], [4, 3, 2, 1]])
    merged = merge_candidates([a, b], 4)
    assert merged.tolist() == [[5, 3, 7, 1], [1, 4, 2, 3]]
    with pytest.raises(PipelineError, match="distinct"):
        merge_candidates([torch.tensor([[1, 2]]), torch.tensor([[2, 1]])], 3)


def test_stage_metrics_agree_with_the_evaluation_module(pipe):
    """Recall@K from the funnel equals full ranking (users whose target is not a repeat)."""
    f = run_funnel(pipe, "test")
    metrics = evaluate_pipeline(pipe, "test", funnel=f)
    data = pipe.data
    indptr, indices = data.test.seen
    repeat = torch.tensor([
        bool((indices[indptr[u] : indptr[u + 1]] == data.test.targets[u]).any())
        for u in range(len(data.test))
    ])  # fmt: skip
    targets = torch.where(repeat, -1, data.test.targets)  # full ranking skips negative targets
    users = pipe.retrievers["dssm"].user_embedding(data.test.users)
    k = pipe.config.topk_recall
    ref = full_ranking(users, pipe.item_vectors["dssm"], targets, data.test.seen,
                       exclude_items=torch.tensor([0]), ks=(k,), metrics=("hr", "ndcg"))  # fmt: skip
    hits = (f.ids == f.targets[:, None]).any(1)
    assert hits[~repeat].double().mean().item() == pytest.approx(ref[f"hr@{k}"], abs=1e-9)
    assert metrics[f"recall.hr@{k}"] == pytest.approx(hits.double().mean().item())
    labels = (f.ids == f.targets[:, None]).float().reshape(-1)
    assert metrics["rank.auc"] == pytest.approx(M.auc(labels, f.rank_all.reshape(-1)))
    # both scorers learned something: a random order of the candidates has AUC 0.5
    assert metrics["prerank.auc"] > 0.55 and metrics["rank.auc"] > 0.55
    k = pipe.config.topk_final
    assert 0 <= metrics[f"rerank.precision@{k}"] <= 1 / k and 0 < metrics[f"rerank.ild@{k}"] <= 2


def test_save_and_load_give_the_same_recommendations(pipe, saved):
    again = load_pipeline(saved)
    user = int(pipe.data.test.user_ids[7])
    a, b = pipe.recommend_for_user(user), again.recommend_for_user(user)
    assert [r["item_id"] for r in a.items] == [r["item_id"] for r in b.items]
    assert a.items[0]["rank_score"] == pytest.approx(b.items[0]["rank_score"])


def test_cli_recommend_prints_the_list_and_the_funnel(pipe, saved, capsys, tmp_path):
    from recnotes.__main__ import main

    user = int(pipe.data.test.user_ids[2])
    assert main(["recommend", "--user", str(user), "--pipeline", str(saved), "-k", "5"]) == 0
    out = capsys.readouterr().out
    assert "recall 50 -> pre-rank 30 -> rank 30 -> re-rank 5" in out
    rec = pipe.recommend_for_user(user, topk_final=5)
    assert all(row["title"] in out for row in rec.items)
    assert main(["recommend", "--user", "1", "--pipeline", str(tmp_path / "none")]) == 2
    assert "pipeline train" in capsys.readouterr().err


def test_experiment_and_benchmark_scripts_run_on_the_quick_pipeline(saved, tmp_path, capsys):
    import runpy

    out = tmp_path / "results"
    experiment = runpy.run_path(str(ROOT / "experiments" / "pipeline_ml1m.py"))
    experiment["main"](["--quick", "--load", str(saved), "--out", str(out), "--users", "150",
                        "--sweep-users", "20"])  # fmt: skip
    result = json.loads((out / "synthetic" / "pipeline.json").read_text())
    for key in (
        "command",
        "commit",
        "device",
        "wall_time_s",
        "date",
        "protocol",
        "metrics",
        "notes",
    ):
        assert result[key] not in ("", None)
    assert result["command"].startswith("python experiments/pipeline_ml1m.py --quick --load")
    assert {"recall.hr@50", "rank.auc", "rerank.ndcg@10", "rerank.ild@10"} <= set(result["metrics"])
    sweep = result["config"]["sweep"]
    assert {p["method"] for p in sweep} == {"mmr", "dpp"} and len(sweep) == 21
    assert (out / "synthetic" / "pipeline.png").stat().st_size > 1000
    bench = tmp_path / "bench.json"
    benchmark = runpy.run_path(str(ROOT / "benchmarks" / "bench_pipeline.py"))
    benchmark["main"](["--pipeline", str(saved), "--users", "10", "--warmup", "1",
                       "--batch-users", "20", "--out", str(bench)])  # fmt: skip
    report = json.loads(bench.read_text())
    assert report["figures"]["single_user_ms"]["users"] == 10
    assert report["figures"]["all_users"]["users"] == 20
    assert report["figures"]["single_user_ms"]["p50"] > 0 and report["commit"]
    assert "recommend_for_user: p50" in capsys.readouterr().out


def test_try_snippet_prints_the_funnel_and_five_titled_items(capsys):
    import runpy

    runpy.run_path(str(ROOT / "docs" / "snippets" / "pipeline_try.py"), run_name="__main__")
    lines = capsys.readouterr().out.strip().splitlines()
    assert lines[0] == "catalogue 300 -> recall 50 -> prerank 30 -> rank 30 -> rerank 5"
    assert len(lines) == 6 and all("(category" in line for line in lines[1:])


def test_training_pairs_have_uniform_and_recall_list_negatives(pipe):
    """Per positive: one uniform unseen negative and one from that row's own recall list."""
    from recnotes.pipeline import _implicit_pairs

    config = quick_config(max_rank_rows=300)
    rows, vectors, source, item_ids = _implicit_pairs(pipe, config)
    p = rows.shape[0]
    assert item_ids.shape[0] == 3 * p and torch.equal(source[:p], torch.arange(p))
    train = pipe.data.train.columns
    assert torch.equal(item_ids[:p], train["item_ids"][rows])
    users = train["user_ids"][rows]
    for name, negatives in (("uniform", item_ids[p : 2 * p]), ("recall", item_ids[2 * p :])):
        for user, item in zip(users.tolist(), negatives.tolist(), strict=True):
            assert item != 0, name
            assert not bool(((train["user_ids"] == user) & (train["item_ids"] == item)).any()), name
    # a recall-list negative is among the row's top-K unseen items by the retriever's score
    scores = vectors @ pipe.item_vectors["dssm"].T  # (P, N)
    scores[:, 0] = float("-inf")
    for r, user in enumerate(users.tolist()):
        scores[r, train["item_ids"][train["user_ids"] == user]] = float("-inf")
    hard = item_ids[2 * p :]
    higher = (scores > scores.gather(1, hard[:, None])).sum(1)
    assert bool((higher < config.topk_recall).all())


def test_the_ranker_reads_the_history_by_default(pipe):
    assert "history_ids" in pipe.ranker_features
    view = pipe.view("test")
    rows = torch.tensor([0, 1])
    ids = torch.tensor([[1, 2, 3], [4, 5, 6]])
    before = pipe.rank_scores(view, rows, ids)
    history = view.users["history_ids"]
    saved = history[rows].clone()
    try:  # another user's history in row 0's place: row 0's scores must move, row 1's must not
        history[0] = history[5]
        after = pipe.rank_scores(view, rows, ids)
    finally:
        history[rows] = saved
    assert not torch.allclose(before[0], after[0])
    assert torch.equal(before[1], after[1])
