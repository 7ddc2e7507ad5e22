"""recnotes.index: exact top-k against torch.topk, seen-item masking, the faiss kinds against the
exact search, multi-interest merging against brute force, bad inputs, the docs snippet and the
benchmark's smoke run."""

from __future__ import annotations

import importlib.util
import json
import re
import runpy
import sys
from pathlib import Path

import pytest
import torch

from recnotes.index import FaissNotInstalledError, build_index

REPO = Path(__file__).resolve().parents[1]
FAISS_KINDS = ("flat", "ivf", "hnsw")
needs_faiss = pytest.mark.skipif(
    importlib.util.find_spec("faiss") is None, reason="faiss is an optional extra (recnotes[ann])"
)


def clustered(n: int, d: int, clusters: int, seed: int) -> torch.Tensor:
    """Items around a few centres, as learned embeddings are, rather than isotropic noise."""
    gen = torch.Generator().manual_seed(seed)
    centres = torch.randn(clusters, d, generator=gen) * 2.0
    return centres[torch.randint(0, clusters, (n,), generator=gen)] + torch.randn(
        n, d, generator=gen
    )


def masked_topk(scores: torch.Tensor, exclude: list[torch.Tensor], k: int):
    """The reference: the full score matrix with excluded items at -inf, then torch.topk."""
    s = scores.clone()
    for row, ids in enumerate(exclude):
        s[row, ids] = float("-inf")
    return torch.topk(s, k, dim=1)


def random_exclude(rows: int, n: int, most: int, seed: int) -> list[torch.Tensor]:
    gen = torch.Generator().manual_seed(seed)
    sizes = torch.randint(0, most + 1, (rows,), generator=gen).tolist()
    return [torch.randperm(n, generator=gen)[:m] for m in sizes]


# -- the exact path ---------------------------------------------------------------------------------
def test_exact_equals_torch_topk_of_the_full_score_matrix():
    """Blocks of 7 queries x 97 items (neither divides the sizes) give torch.topk's answer. With
    continuous random float64 vectors ties have probability zero, so ids must match exactly."""
    gen = torch.Generator().manual_seed(0)
    items = torch.randn(1000, 16, generator=gen, dtype=torch.float64)
    queries = torch.randn(20, 16, generator=gen, dtype=torch.float64)
    index = build_index(items, kind="exact", chunk_size=97, query_batch=7)
    scores, ids = index.search(queries, k=15)
    ref = torch.topk(queries @ items.T, 15, dim=1)
    assert torch.equal(ids, ref.indices)
    torch.testing.assert_close(scores, ref.values)


def test_exact_ties_give_topk_scores_ordered_by_item_id():
    """Integer vectors make many equal scores. The scores equal torch.topk's; among equal scores
    the ids come in increasing order; and each id's score is its true score."""
    gen = torch.Generator().manual_seed(1)
    items = torch.randint(-2, 3, (300, 4), generator=gen).float()
    queries = torch.randint(-2, 3, (10, 4), generator=gen).float()
    full = queries @ items.T
    scores, ids = build_index(items, chunk_size=64, query_batch=3).search(queries, k=40)
    assert torch.equal(scores, torch.topk(full, 40, dim=1).values)
    assert torch.equal(full.gather(1, ids), scores)
    same = scores[:, 1:] == scores[:, :-1]
    assert same.any(), "the test needs ties to be a test of ties"
    assert (ids[:, 1:][same] > ids[:, :-1][same]).all()


def test_exact_never_returns_seen_items_and_still_returns_k():
    """Row 0 excludes all but k items, so exactly those k must come back."""
    gen = torch.Generator().manual_seed(2)
    items = torch.randn(200, 8, generator=gen, dtype=torch.float64)
    queries = torch.randn(6, 8, generator=gen, dtype=torch.float64)
    k = 10
    exclude = random_exclude(6, 200, 150, seed=3)
    exclude[0] = torch.arange(k, 200)
    scores, ids = build_index(items, chunk_size=33, query_batch=4).search(queries, k, exclude)
    assert ids.shape == (6, k)
    for row, seen in enumerate(exclude):
        assert not torch.isin(ids[row], seen).any()
        assert len(set(ids[row].tolist())) == k
    assert sorted(ids[0].tolist()) == list(range(k))
    ref = masked_topk(queries @ items.T, exclude, k)
    assert torch.equal(ids, ref.indices)
    torch.testing.assert_close(scores, ref.values)


def test_exclude_accepts_a_csr_pair_like_the_evaluation():
    items = torch.eye(5)
    query = torch.tensor([[5.0, 4.0, 3.0, 2.0, 1.0]])
    as_list = build_index(items).search(query, 2, [torch.tensor([0, 2])])
    as_csr = build_index(items).search(query, 2, (torch.tensor([0, 2]), torch.tensor([0, 2])))
    assert as_list[1].tolist() == as_csr[1].tolist() == [[1, 3]]


def test_a_row_left_with_fewer_than_k_items_is_refused():
    items = torch.randn(20, 4)
    with pytest.raises(ValueError, match=r"row 1 leaves 4 items after exclusion, fewer than k=5"):
        build_index(items).search(torch.randn(2, 4), 5, [torch.tensor([0]), torch.arange(16)])


def test_cosine_normalises_items_and_queries():
    """Scaling an item or a query changes inner-product results but not cosine ones; cosine
    scores are the dot products of unit vectors, so at most 1."""
    gen = torch.Generator().manual_seed(4)
    items = torch.randn(50, 6, generator=gen, dtype=torch.float64)
    queries = torch.randn(5, 6, generator=gen, dtype=torch.float64)
    scaled = items.clone()
    scaled[7] *= 1000.0  # a huge norm wins every inner-product search
    cos_scores, cos_ids = build_index(scaled, metric="cosine").search(queries * 3.0, k=5)
    unit = torch.nn.functional.normalize
    ref = torch.topk(unit(queries, dim=1) @ unit(items, dim=1).T, 5, dim=1)
    assert torch.equal(cos_ids, ref.indices)
    torch.testing.assert_close(cos_scores, ref.values)
    assert (cos_scores <= 1.0 + 1e-12).all()
    ip_ids = build_index(scaled, metric="ip").search(queries, k=5)[1]
    assert (ip_ids == 7).any(dim=1).sum() > (cos_ids == 7).any(dim=1).sum()


# -- the faiss kinds --------------------------------------------------------------------------------
@needs_faiss
def test_faiss_flat_equals_exact_with_and_without_exclusion():
    gen = torch.Generator().manual_seed(5)
    items = torch.randn(800, 16, generator=gen)
    queries = torch.randn(12, 16, generator=gen)
    exclude = random_exclude(12, 800, 300, seed=6)
    exact, flat = build_index(items, "exact"), build_index(items, "flat")
    for ex in (None, exclude):
        e_scores, e_ids = exact.search(queries, 25, ex)
        f_scores, f_ids = flat.search(queries, 25, ex)
        assert torch.equal(f_ids, e_ids)
        torch.testing.assert_close(f_scores, e_scores, rtol=1e-5, atol=1e-5)


def recall_at_k(ids: torch.Tensor, ref: torch.Tensor) -> float:
    hits = sum(len(set(a) & set(b)) for a, b in zip(ids.tolist(), ref.tolist()))
    return hits / ref.numel()


@needs_faiss
@pytest.mark.parametrize("kind", ["ivf", "hnsw"])
def test_approximate_kinds_recall_most_of_the_exact_top_k(kind):
    """On 5,000 clustered items, the default IVF and HNSW settings find at least 90% of the exact
    top-20 (measured when this test was written: 0.97 for both)."""
    items = clustered(5000, 32, clusters=50, seed=7)
    queries = clustered(100, 32, clusters=50, seed=8)
    ref = build_index(items).search(queries, 20)[1]
    ids = build_index(items, kind).search(queries, 20)[1]
    assert recall_at_k(ids, ref) >= 0.9
    assert (ids >= 0).all() and all(len(set(row)) == 20 for row in ids.tolist())


@needs_faiss
def test_recall_grows_with_the_search_effort():
    """Probing more IVF lists, or widening HNSW's beam, finds more of the exact top-20: inner-product
    neighbours spread over clusters, so 1 of 32 lists misses many."""
    items = clustered(5000, 32, clusters=50, seed=7)
    queries = clustered(100, 32, clusters=50, seed=8)
    ref = build_index(items).search(queries, 20)[1]
    ivf = build_index(items, "ivf", nlist=32)
    hnsw = build_index(items, "hnsw", m=8)
    ivf_recall = []
    for nprobe in (1, 4, 32):
        ivf.params["nprobe"] = nprobe
        ivf_recall.append(recall_at_k(ivf.search(queries, 20)[1], ref))
    hnsw_recall = []
    for ef in (20, 200):
        hnsw.params["ef_search"] = ef
        hnsw_recall.append(recall_at_k(hnsw.search(queries, 20)[1], ref))
    assert ivf_recall[0] < ivf_recall[1] < ivf_recall[2] == 1.0, ivf_recall
    assert hnsw_recall[0] + 0.1 < hnsw_recall[1], hnsw_recall


@needs_faiss
def test_ivf_probing_every_list_is_exact():
    items = clustered(2000, 16, clusters=20, seed=9)
    queries = torch.randn(10, 16)
    ivf = build_index(items, "ivf", nlist=16, nprobe=16)
    assert torch.equal(ivf.search(queries, 30)[1], build_index(items).search(queries, 30)[1])


@needs_faiss
@pytest.mark.parametrize("kind", FAISS_KINDS)
def test_faiss_masking_returns_k_unseen_items_even_when_probing_finds_too_few(kind):
    """With IVF probing 1 of 10 lists (about 40 items) for k=100, faiss returns fewer than k: those
    rows fall back to the exact search, so every kind gives the exact masked top-k here."""
    gen = torch.Generator().manual_seed(10)
    items = torch.randn(400, 8, generator=gen)
    queries = torch.randn(8, 8, generator=gen)
    exclude = random_exclude(8, 400, 250, seed=11)
    params = {"nlist": 10, "nprobe": 1} if kind == "ivf" else {}
    scores, ids = build_index(items, kind, **params).search(queries, 100, exclude)
    assert ids.shape == (8, 100) and (ids >= 0).all()
    for row, seen in enumerate(exclude):
        assert not torch.isin(ids[row], seen).any()
        assert len(set(ids[row].tolist())) == 100
    if kind != "hnsw":  # HNSW is approximate; the others are exact here
        assert torch.equal(ids, masked_topk(queries @ items.T, exclude, 100).indices)


@needs_faiss
def test_faiss_cosine_matches_exact_cosine():
    gen = torch.Generator().manual_seed(12)
    items = torch.randn(300, 8, generator=gen) * torch.rand(300, 1, generator=gen) * 10
    queries = torch.randn(5, 8, generator=gen)
    exact = build_index(items, metric="cosine").search(queries, 10)
    flat = build_index(items, "flat", metric="cosine").search(queries, 10)
    assert torch.equal(flat[1], exact[1])
    torch.testing.assert_close(flat[0], exact[0], rtol=1e-5, atol=1e-5)


def test_a_faiss_kind_without_faiss_says_how_to_install_it(monkeypatch):
    monkeypatch.setitem(sys.modules, "faiss", None)  # `import faiss` now raises ImportError
    with pytest.raises(FaissNotInstalledError, match=r"pip install 'recnotes\[ann\]'"):
        build_index(torch.randn(10, 4), kind="hnsw")
    assert build_index(torch.randn(10, 4), kind="exact").search(torch.randn(1, 4), 3)[1].shape == (
        1,
        3,
    )


# -- multi-interest ---------------------------------------------------------------------------------
@pytest.mark.parametrize("kind", ["exact", pytest.param("flat", marks=needs_faiss)])
def test_multi_interest_retrieval_merges_per_interest_top_k_correctly(kind):
    """The merged top-k equals the top-k of max over interests of <q_K, v> (brute force), with k
    distinct items per user, also with exclusion. Interests 0 and 1 are near each other so their
    top-k lists overlap and the merge must drop duplicates."""
    gen = torch.Generator().manual_seed(13)
    items = torch.randn(600, 8, generator=gen)
    queries = torch.randn(9, 3, 8, generator=gen)
    queries[:, 1] = queries[:, 0] + 0.05 * torch.randn(9, 8, generator=gen)
    exclude = random_exclude(9, 600, 100, seed=14)
    index = build_index(items, kind)
    best = torch.einsum("bkd,nd->bkn", queries, items).amax(1)  # (B, N)
    for ex in (None, exclude):
        scores, ids = index.search_multi(queries, 12, ex)
        ref = masked_topk(best, ex or [torch.tensor([], dtype=torch.long)] * 9, 12)
        assert torch.equal(ids, ref.indices)
        torch.testing.assert_close(scores, ref.values, rtol=1e-5, atol=1e-5)
        assert all(len(set(row)) == 12 for row in ids.tolist())
    per_interest = index.search(queries[:, 0], 12)[1]
    overlap = recall_at_k(index.search(queries[:, 1], 12)[1], per_interest)
    assert overlap > 0.5, "interests 0 and 1 should share items, or duplicates go untested"


# -- bad input --------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "items, kwargs, message",
    [
        (torch.zeros(0, 4), {}, "item_vectors is empty"),
        (torch.randn(5), {}, "item_vectors must be 2-D"),
        (torch.tensor([[1.0, float("nan")]]), {}, "NaN or infinite"),
        (torch.tensor([[1, 2]]), {}, "floating-point"),
        (torch.randn(5, 4), {"kind": "annoy"}, "unknown index kind 'annoy'"),
        (torch.randn(5, 4), {"metric": "l2"}, "unknown metric 'l2'"),
        (torch.randn(5, 4), {"nprobe": 3}, r"kind 'exact' has no parameter \['nprobe'\]"),
        (torch.randn(5, 4), {"chunk_size": 0}, "chunk_size must be an integer >= 1"),
        (torch.zeros(3, 4), {"metric": "cosine"}, "zero vector"),
    ],
)
def test_bad_catalogues_and_options_are_refused_in_plain_words(items, kwargs, message):
    with pytest.raises(ValueError, match=message):
        build_index(items, **kwargs)


@needs_faiss
def test_bad_faiss_parameters_are_refused():
    with pytest.raises(ValueError, match="lists cannot be made from 10 items"):
        build_index(torch.randn(10, 4), "ivf", nlist=20)
    with pytest.raises(ValueError, match="train_size must be between nlist"):
        build_index(torch.randn(100, 4), "ivf", nlist=10, train_size=5)


@pytest.mark.parametrize(
    "queries, k, message",
    [
        (torch.randn(2, 4), 11, r"k=11 is larger than the catalogue \(10 items\)"),
        (torch.randn(2, 4), 0, "k must be an integer >= 1"),
        (torch.randn(2, 4), 2.0, "k must be an integer >= 1"),
        (torch.randn(2, 3), 2, "queries have dim 3 but the indexed items have dim 4"),
        (torch.randn(2, 2, 4), 2, "use search_multi"),
        (torch.tensor([[1.0, 0.0, float("inf"), 0.0]]), 2, "NaN or infinite"),
        (torch.zeros(0, 4), 2, "queries is empty"),
    ],
)
def test_bad_queries_are_refused_in_plain_words(queries, k, message):
    with pytest.raises(ValueError, match=message):
        build_index(torch.randn(10, 4)).search(queries, k)


def test_bad_exclusions_and_multi_interest_shapes_are_refused():
    index = build_index(torch.randn(10, 4))
    with pytest.raises(ValueError, match=r"seen item indices must be in \[0, 10\)"):
        index.search(torch.randn(1, 4), 2, [torch.tensor([10])])
    with pytest.raises(ValueError, match="seen has 1 rows but there are 2 users"):
        index.search(torch.randn(2, 4), 2, [torch.tensor([1])])
    with pytest.raises(ValueError, match="queries must be 3-D"):
        index.search_multi(torch.randn(2, 4), 2)


# -- the docs snippet and the benchmark -------------------------------------------------------------
@needs_faiss
def test_try_it_snippet_runs_and_prints_what_the_page_says(capsys):
    runpy.run_path(str(REPO / "docs" / "snippets" / "index_try.py"), run_name="__main__")
    out = capsys.readouterr().out
    assert re.search(r"^exact top-5 of user 0: \[(\d+, ){4}\d+\]$", out, re.M), out
    recall = float(re.search(r"hnsw recall@100 vs exact: ([\d.]+)", out).group(1))
    assert recall >= 0.9, out
    assert "seen items returned: 0" in out
    assert re.search(r"^multi-interest top-5 of user 0: \[(\d+, ){4}\d+\]$", out, re.M), out


@needs_faiss
def test_benchmark_quick_run_writes_the_figures(tmp_path):
    spec = importlib.util.spec_from_file_location(
        "bench_index", REPO / "benchmarks" / "bench_index.py"
    )
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    out = tmp_path / "index.json"
    bench.main(["--quick", "--out", str(out)])
    data = json.loads(out.read_text(encoding="utf-8"))
    for key in ("command", "commit", "device", "date", "wall_time_s", "settings", "catalogues"):
        assert key in data, key
    assert data["command"].startswith("python benchmarks/bench_index.py --quick")
    rows = data["catalogues"][0]["rows"]
    assert [r["kind"] for r in rows] == ["exact", "flat", "ivf", "hnsw"]
    by_kind = {r["kind"]: r for r in rows}
    assert by_kind["flat"]["recall"] == 1.0
    for row in rows:
        assert row["ms_per_query"] > 0 and row["build_s"] >= 0 and row["index_mb"] > 0
        assert 0.0 <= row["recall"] <= 1.0


def test_the_benchmark_table_is_rendered_from_the_json(tmp_path):
    """The page's `index-bench` marker: 'not measured yet' without the file, then the figures."""
    spec = importlib.util.spec_from_file_location(
        "_index_hook", REPO / "docs" / "hooks" / "recnotes_pages.py"
    )
    hook = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(hook)
    marker = "<!-- recnotes:index-bench -->"
    assert "Not measured yet." in hook.replace_markers(marker, "en/x.md", results_root=tmp_path)
    row = {"kind": "ivf", "setting": {"nlist": 1024, "nprobe": 64}, "build_s": 12.34,
           "index_mb": 250.2, "ms_per_query": 1.234, "recall": 0.95678, "meets_target": True}  # fmt: skip
    data = {"command": "python benchmarks/bench_index.py", "commit": "abc", "device": "cpu",
            "date": "2026-01-01", "settings": {"k": 200, "threads": 1},
            "catalogues": [{"name": "mixture", "items": 1000000, "dim": 64, "queries": 1000,
                            "rows": [row]}]}  # fmt: skip
    (tmp_path / "benchmarks").mkdir()
    (tmp_path / "benchmarks" / "index.json").write_text(json.dumps(data), encoding="utf-8")
    en = hook.replace_markers(marker, "en/x.md", results_root=tmp_path)
    assert "| `ivf` | nlist=1024, nprobe=64 | 12.3 | 250 | 1.23 | 0.9568 | yes |" in en
    assert "1,000,000 items x 64 dims, 1,000 queries, top-200" in en and "recall@200" in en
    assert "`python benchmarks/bench_index.py`" in en
    zh = hook.replace_markers(marker, "zh/x.md", results_root=tmp_path)
    assert "| `ivf` | nlist=1024, nprobe=64 | 12.3 | 250 | 1.23 | 0.9568 | 是 |" in zh
