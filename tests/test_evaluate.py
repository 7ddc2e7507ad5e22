"""Evaluation protocols against brute-force references written with plain Python loops."""

from __future__ import annotations

import io
import math
import runpy
from contextlib import redirect_stdout
from pathlib import Path

import numpy as np
import pytest
import torch
from sklearn.metrics import log_loss as sk_log_loss
from sklearn.metrics import roc_auc_score
from torch import nn

from recnotes import evaluate as E

SNIPPET = Path(__file__).resolve().parent.parent / "docs" / "snippets" / "evaluation_example.py"


def brute_force(scores, targets, seen, exclude_items=(), ks=(1, 3, 5)):
    """Reference metrics: count the candidates by hand, then average each metric over every
    position of the target's tie span (a uniformly random tie-break)."""
    per_user = []
    for u, target in enumerate(targets):
        if target < 0:
            continue
        candidates = [
            j
            for j in range(len(scores[u]))
            if j == target or (j not in seen[u] and j not in exclude_items)
        ]
        higher = sum(scores[u][j] > scores[u][target] for j in candidates)
        ties = sum(scores[u][j] == scores[u][target] for j in candidates if j != target)
        span = range(higher, higher + ties + 1)
        row = {"mrr": sum(1 / (p + 1) for p in span) / len(span)}
        for k in ks:
            row[f"hr@{k}"] = sum(p < k for p in span) / len(span)
            row[f"ndcg@{k}"] = sum(1 / math.log2(p + 2) for p in span if p < k) / len(span)
        per_user.append(row)
    return {key: sum(r[key] for r in per_user) / len(per_user) for key in per_user[0]}


def small_problem(seed=0, users=9, items=11, dim=3, interests=None):
    """Integer-valued vectors: dot products are exact in float32 and ties are frequent."""
    gen = torch.Generator().manual_seed(seed)
    shape = (users, dim) if interests is None else (users, interests, dim)
    user_vectors = torch.randint(-2, 3, shape, generator=gen).float()
    item_vectors = torch.randint(-2, 3, (items, dim), generator=gen).float()
    targets = torch.randint(0, items, (users,), generator=gen)
    seen = [
        torch.randperm(items, generator=gen)[: int(torch.randint(0, 5, (), generator=gen))]
        for _ in range(users)
    ]
    return user_vectors, item_vectors, targets, seen


def python_scores(user_vectors, item_vectors):
    """Scores by explicit sums (max over interests for 3-D users)."""
    users = user_vectors.tolist()
    items = item_vectors.tolist()

    def dot(a, b):
        return sum(x * y for x, y in zip(a, b))

    if user_vectors.dim() == 2:
        return [[dot(u, i) for i in items] for u in users]
    return [[max(dot(v, i) for v in u) for i in items] for u in users]


def assert_matches(result, reference):
    for key, value in reference.items():
        assert result[key] == pytest.approx(value, abs=1e-12), key


# ---------------------------------------------------------------------------------------------------
# Full ranking
# ---------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("seed", range(3))
def test_full_ranking_matches_brute_force(seed):
    user_vectors, item_vectors, targets, seen = small_problem(seed)
    reference = brute_force(
        python_scores(user_vectors, item_vectors), targets.tolist(), [s.tolist() for s in seen]
    )
    result = E.full_ranking(
        user_vectors, item_vectors, targets, seen, ks=(1, 3, 5), metrics=("hr", "ndcg", "mrr")
    )
    assert_matches(result, reference)
    assert (result["users"], result["skipped_users"]) == (9, 0)


def test_full_ranking_without_seen_filtering_matches_brute_force():
    user_vectors, item_vectors, targets, _ = small_problem(4)
    reference = brute_force(python_scores(user_vectors, item_vectors), targets.tolist(), [[]] * 9)
    result = E.full_ranking(user_vectors, item_vectors, targets, None, ks=(1, 3, 5))
    assert_matches(result, reference)
    assert result["recall@3"] == result["hr@3"]  # one target per user


def test_seen_filtering_never_removes_the_target():
    user_vectors = torch.tensor([[1.0]])
    item_vectors = torch.tensor([[3.0], [2.0], [1.0]])
    # the user has seen items 0 and 1; item 1 is also the target
    for seen in ([torch.tensor([0, 1])], (torch.tensor([0, 2]), torch.tensor([0, 1]))):
        result = E.full_ranking(user_vectors, item_vectors, torch.tensor([1]), seen, ks=(1,))
        assert result["hr@1"] == 1.0  # item 0 filtered, the target kept and ranked first
    unfiltered = E.full_ranking(user_vectors, item_vectors, torch.tensor([1]), None, ks=(1,))
    assert unfiltered["hr@1"] == 0.0


def test_multi_interest_scores_by_the_best_interest():
    user_vectors, item_vectors, targets, seen = small_problem(5, interests=3)
    reference = brute_force(
        python_scores(user_vectors, item_vectors), targets.tolist(), [s.tolist() for s in seen]
    )
    result = E.full_ranking(user_vectors, item_vectors, targets, seen, ks=(1, 3, 5))
    assert_matches(result, reference)
    # the mean of interests would rank differently on this data: max is really used
    averaged = E.full_ranking(user_vectors.mean(1), item_vectors, targets, seen, ks=(1, 3, 5))
    assert any(averaged[k] != result[k] for k in reference)


def test_chunked_equals_unchunked_and_score_fn_equals_vectors():
    user_vectors, item_vectors, targets, seen = small_problem(6, users=25)
    results = [
        E.full_ranking(user_vectors, item_vectors, targets, seen, batch_size=b)
        for b in (1, 4, 1000)
    ]
    assert results[0] == results[1] == results[2]
    scores = torch.tensor(python_scores(user_vectors, item_vectors))
    via_fn = E.full_ranking_fn(lambda users: scores[users], targets, seen, batch_size=7)
    assert via_fn == results[0]


def test_users_without_target_are_skipped_and_counted():
    user_vectors, item_vectors, targets, seen = small_problem(7)
    targets[[1, 4]] = -1
    reference = brute_force(
        python_scores(user_vectors, item_vectors), targets.tolist(), [s.tolist() for s in seen]
    )
    result = E.full_ranking(user_vectors, item_vectors, targets, seen, ks=(1, 3, 5))
    assert_matches(result, reference)
    assert (result["users"], result["skipped_users"]) == (7, 2)


def test_exclude_items_removes_a_column_for_everyone():
    user_vectors, item_vectors, targets, seen = small_problem(8)
    targets[targets == 0] = 1  # no target may be the excluded padding id 0
    reference = brute_force(
        python_scores(user_vectors, item_vectors),
        targets.tolist(),
        [s.tolist() for s in seen],
        exclude_items=(0,),
    )
    result = E.full_ranking(
        user_vectors, item_vectors, targets, seen, exclude_items=torch.tensor([0]), ks=(1, 3, 5)
    )
    assert_matches(result, reference)


def test_seen_as_csr_equals_seen_as_list():
    user_vectors, item_vectors, targets, seen = small_problem(9)
    users = torch.cat([torch.full((len(s),), u) for u, s in enumerate(seen)])
    csr = E.build_seen(users, torch.cat(seen), len(seen))
    assert E.full_ranking(user_vectors, item_vectors, targets, csr) == E.full_ranking(
        user_vectors, item_vectors, targets, seen
    )


def test_rank_targets_accepts_a_mask_a_csr_and_a_list():
    scores = torch.tensor([[5.0, 4.0, 3.0, 4.0], [1.0, 1.0, 1.0, 1.0]])
    targets = torch.tensor([1, 2])
    mask = torch.tensor([[True, True, False, False], [False, True, False, False]])
    as_list = [torch.tensor([0, 1]), torch.tensor([1])]
    as_csr = (torch.tensor([0, 2, 3]), torch.tensor([0, 1, 1]))
    for exclude in (mask, as_list, as_csr):
        higher, ties = E.rank_targets(scores, targets, exclude)
        assert higher.tolist() == [0, 0] and ties.tolist() == [1, 2]


def test_topk_lists_go_through_the_same_path():
    # user 0's list has the target second; user 1's list misses it (5 unlisted items tie at -inf)
    lists = torch.tensor([[4, 2, 0], [1, 3, -1]])
    scores = E.scores_from_topk(lists, num_items=7)
    result = E.full_ranking_fn(lambda users: scores[users], torch.tensor([2, 6]), None, ks=(1, 2))
    assert result["hr@2"] == pytest.approx((1 + 0) / 2)
    # user 1's target is at positions 2..6 with equal chance
    assert result["mrr"] == pytest.approx((1 / 2 + sum(1 / p for p in range(3, 8)) / 5) / 2)


# ---------------------------------------------------------------------------------------------------
# Sampled and fixed negatives
# ---------------------------------------------------------------------------------------------------


def test_fixed_negatives_hand_worked():
    # one-dimensional vectors: the score of item i for user u is user[u] * item[i]
    user_vectors = torch.tensor([[1.0], [-1.0], [1.0]])
    item_vectors = torch.tensor([[0.0], [1.0], [2.0], [3.0], [2.0]])
    targets = torch.tensor([2, 1, 4])
    negatives = torch.tensor([[0, 3, 1], [0, 2, 3], [2, 3, 0]])
    # user 0: target 2 vs {0, 3, 1}: only item 3 is higher          -> position 1
    # user 1: target -1 vs {0, -2, -3}: item 0 (score 0) is higher    -> position 1
    # user 2: target 2 vs {2, 3, 0}: item 3 higher, item 2 tied       -> position 1 or 2
    result = E.sampled_ranking(
        E.dot_scorer(user_vectors, item_vectors),
        targets,
        negatives,
        ks=(1, 2),
        metrics=("hr", "mrr"),
    )
    assert result["hr@1"] == 0.0
    assert result["hr@2"] == pytest.approx((1 + 1 + 0.5) / 3)
    assert result["mrr"] == pytest.approx((1 / 2 + 1 / 2 + (1 / 2 + 1 / 3) / 2) / 3)


def test_sampled_ranking_with_a_python_score_fn_matches_brute_force():
    user_vectors, item_vectors, targets, _ = small_problem(10, users=12)
    gen = torch.Generator().manual_seed(0)
    negatives = torch.stack([torch.randperm(11, generator=gen)[:6] for _ in range(12)])
    negatives = torch.where(negatives == targets[:, None], (targets[:, None] + 1) % 11, negatives)
    table = python_scores(user_vectors, item_vectors)
    # brute force: each user's candidate list is [target, *negatives]; the target is column 0
    # (a negative listed twice counts twice, as in the protocol)
    scored = [
        [table[u][j] for j in [t, *row]]
        for u, (t, row) in enumerate(zip(targets.tolist(), negatives.tolist()))
    ]
    reference = brute_force(scored, [0] * 12, [[]] * 12)

    def score_fn(users, cand):
        return torch.tensor(
            [[table[u][j] for j in row] for u, row in zip(users.tolist(), cand.tolist())]
        )

    result = E.sampled_ranking(score_fn, targets, negatives, ks=(1, 3, 5), batch_size=5)
    assert_matches(result, reference)


def test_sample_negatives_respects_target_seen_and_exclusions():
    users, items, n = 200, 30, 10
    gen = torch.Generator().manual_seed(0)
    targets = torch.randint(1, items, (users,), generator=gen)
    seen = [torch.randperm(items, generator=gen)[:8] for _ in range(users)]
    negatives = E.sample_negatives(targets, items, n, seen, exclude_items=torch.tensor([0]), seed=3)
    assert negatives.shape == (users, n)
    for u in range(users):
        row = set(negatives[u].tolist())
        assert len(row) == n  # without replacement
        assert targets[u].item() not in row and 0 not in row
        assert not row & set(seen[u].tolist())
    again = E.sample_negatives(targets, items, n, seen, exclude_items=torch.tensor([0]), seed=3)
    other = E.sample_negatives(targets, items, n, seen, exclude_items=torch.tensor([0]), seed=4)
    assert torch.equal(negatives, again) and not torch.equal(negatives, other)


def test_sample_negatives_is_uniform():
    users, items, n = 4000, 20, 5
    targets = torch.zeros(users, dtype=torch.long)  # item 0 is never a negative
    counts = torch.bincount(
        E.sample_negatives(targets, items, n, None, seed=0).flatten(), minlength=items
    )
    assert counts[0] == 0
    expected = users * n / (items - 1)  # 1052.6 per item; binomial sd about 31
    assert (counts[1:].float() - expected).abs().max() < 150


def test_sample_negatives_fails_when_too_few_items_are_left():
    with pytest.raises(ValueError, match="user 1 has only"):
        E.sample_negatives(torch.tensor([0, 0]), 5, 3, [torch.tensor([]), torch.tensor([1, 2])])


# ---------------------------------------------------------------------------------------------------
# CTR
# ---------------------------------------------------------------------------------------------------


def test_evaluate_ctr_matches_sklearn_and_reports_gauc_skips():
    rng = np.random.default_rng(0)
    logits = rng.normal(size=400)
    labels = rng.integers(0, 2, 400)
    groups = rng.integers(0, 60, 400)
    result = E.evaluate_ctr(torch.tensor(logits), torch.tensor(labels), torch.tensor(groups))
    assert result["auc"] == pytest.approx(roc_auc_score(labels, logits), abs=1e-12)
    assert result["logloss"] == pytest.approx(
        sk_log_loss(labels, 1 / (1 + np.exp(-logits))), rel=1e-9
    )
    assert result["impressions"] == 400
    single_class = sum(len(set(labels[groups == g])) == 1 for g in np.unique(groups))
    assert result["gauc_skipped_groups"] == single_class
    assert result["gauc_groups"] + single_class == len(np.unique(groups))
    assert "gauc" not in E.evaluate_ctr(torch.tensor(logits), torch.tensor(labels))


# ---------------------------------------------------------------------------------------------------
# Model-level conveniences
# ---------------------------------------------------------------------------------------------------


class TinyRetriever(nn.Module):
    """A recall-family model whose outputs change in training mode (dropout)."""

    def __init__(self, users: int, items: int, dim: int = 4) -> None:
        super().__init__()
        self.users = nn.Embedding(users, dim)
        self.items = nn.Embedding(items, dim)
        self.dropout = nn.Dropout(0.5)

    def user_embedding(self, batch):
        return self.dropout(self.users(batch["user_ids"]))

    def item_embedding(self, batch):
        return self.items(batch["item_ids"])


class TinyRanker(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.weight = nn.Embedding(10, 1)
        self.dropout = nn.Dropout(0.5)

    def forward(self, batch):
        return self.dropout(self.weight(batch["item_ids"]).squeeze(-1))


def test_evaluate_retriever_uses_eval_mode_and_the_vector_path():
    torch.manual_seed(0)
    model = TinyRetriever(users=15, items=12)
    model.train()
    user_batch = {"user_ids": torch.arange(15)}
    item_batch = {"item_ids": torch.arange(12)}
    targets = torch.randint(1, 12, (15,))
    seen = [torch.tensor([0, 3]) for _ in range(15)]
    result = E.evaluate_retriever(model, user_batch, item_batch, targets, seen, batch_size=4)
    assert model.training  # restored
    expected = E.full_ranking(
        model.users.weight.detach(), model.items.weight.detach(), targets, seen
    )
    assert result == expected
    fixed = torch.stack(
        [torch.tensor([i for i in range(12) if i != t][:5]) for t in targets.tolist()]
    )
    result = E.evaluate_retriever(
        model, user_batch, item_batch, targets, None, protocol=E.FIXED, negatives=fixed
    )
    scorer = E.dot_scorer(model.users.weight.detach(), model.items.weight.detach())
    assert result == E.sampled_ranking(scorer, targets, fixed)
    sampled = E.evaluate_retriever(
        model, user_batch, item_batch, targets, seen, protocol=E.SAMPLED, num_negatives=5, seed=1
    )
    negatives = E.sample_negatives(targets, 12, 5, seen, seed=1)
    assert sampled == E.sampled_ranking(scorer, targets, negatives)


def test_evaluate_ranker_matches_evaluate_ctr_in_eval_mode():
    torch.manual_seed(0)
    model = TinyRanker()
    model.train()
    items = torch.arange(10)
    labels = torch.tensor([1, 0, 1, 1, 0, 0, 1, 0, 1, 0])
    users = torch.tensor([0, 0, 1, 1, 1, 2, 2, 3, 3, 3])
    batches = [
        {
            "item_ids": items[i : i + 4],
            "label": labels[i : i + 4].float(),
            "user_ids": users[i : i + 4],
        }
        for i in range(0, 10, 4)
    ]
    result = E.evaluate_ranker(model, batches, group_key="user_ids")
    assert model.training
    logits = model.weight.weight.detach().squeeze(-1)
    assert result == E.evaluate_ctr(logits, labels, users)


# ---------------------------------------------------------------------------------------------------
# Bad inputs
# ---------------------------------------------------------------------------------------------------

UV, IV, TG, SN = small_problem(11)


@pytest.mark.parametrize(
    ("call", "match"),
    [
        (lambda: E.full_ranking(UV[:3], IV, TG, SN), "user_vectors has 3 users"),
        (lambda: E.full_ranking(UV, IV[:, :2], TG, SN), "dim"),
        (lambda: E.full_ranking(UV.long(), IV, TG, SN), "user_vectors"),
        (lambda: E.full_ranking(UV, IV, TG.float(), SN), "targets"),
        (lambda: E.full_ranking(UV, IV, torch.full_like(TG, 11), SN), "targets"),
        (lambda: E.full_ranking(UV, IV, torch.full_like(TG, -1), SN), "no user has a target"),
        (lambda: E.full_ranking(UV, IV, TG, SN[:3]), "seen has 3 rows"),
        (lambda: E.full_ranking(UV, IV, TG, [torch.tensor([11])] * 9), "seen item"),
        (lambda: E.full_ranking(UV, IV, TG, (torch.tensor([0, 1]), torch.tensor([0]))), "indptr"),
        (lambda: E.full_ranking(UV, IV, TG, SN, exclude_items=TG[:1]), "exclude_items"),
        (lambda: E.full_ranking(UV, IV, TG, SN, ks=()), "ks"),
        (lambda: E.full_ranking(UV, IV, TG, SN, ks=(0,)), "ks"),
        (lambda: E.full_ranking(UV, IV, TG, SN, metrics=("auc",)), "metrics"),
        (lambda: E.full_ranking(UV, IV, TG, SN, tie_rule="first"), "tie_rule"),
        (lambda: E.full_ranking(UV, IV, TG, SN, batch_size=0), "batch_size"),
        (
            lambda: E.full_ranking_fn(lambda u: torch.zeros(len(u) + 1, 11), TG, SN),
            "score_fn must return",
        ),
        (
            lambda: E.full_ranking_fn(lambda u: torch.zeros(len(u), 11), TG, SN, num_items=12),
            "num_items",
        ),
        (
            lambda: E.full_ranking_fn(lambda u: torch.full((len(u), 11), float("nan")), TG, SN),
            "NaN",
        ),
        (lambda: E.sampled_ranking(E.dot_scorer(UV, IV), TG, TG[:, None]), "contain its target"),
        (
            lambda: E.sampled_ranking(
                E.dot_scorer(UV, IV), TG, torch.zeros(3, 2, dtype=torch.long)
            ),
            "negatives",
        ),
        (
            lambda: E.sampled_ranking(lambda u, c: c.float()[:, :1], TG, (TG[:, None] + 1) % 11),
            "score_fn must return",
        ),
        (lambda: E.sample_negatives(TG, 11, 0, None), "num_negatives"),
        (lambda: E.scores_from_topk(torch.tensor([[0, 9]]), 5), "num_items"),
        (lambda: E.build_seen(torch.tensor([0, 3]), torch.tensor([1, 1]), 3), "user_ids"),
        (lambda: E.evaluate_ctr(torch.tensor([0.1, 0.2]), torch.tensor([1, 1])), "single class"),
    ],
)
def test_bad_inputs_raise_a_clear_value_error(call, match):
    with pytest.raises(ValueError, match=match):
        call()


def test_model_level_protocol_errors():
    model = TinyRetriever(users=3, items=4)
    ub, ib = {"user_ids": torch.arange(3)}, {"item_ids": torch.arange(4)}
    targets = torch.tensor([0, 1, 2])
    with pytest.raises(ValueError, match="protocol must be one of"):
        E.evaluate_retriever(model, ub, ib, targets, None, protocol="loo")
    with pytest.raises(ValueError, match="'fixed' needs negatives and seen=None"):
        E.evaluate_retriever(model, ub, ib, targets, [torch.tensor([])] * 3, protocol=E.FIXED,
                             negatives=torch.tensor([[1], [2], [3]]))  # fmt: skip
    with pytest.raises(ValueError, match="only used by protocol 'fixed'"):
        E.evaluate_retriever(model, ub, ib, targets, None, negatives=torch.tensor([[1], [2], [3]]))
    with pytest.raises(ValueError, match="negatives must be item indices"):
        E.evaluate_retriever(model, ub, ib, targets, None, protocol=E.FIXED,
                             negatives=torch.tensor([[1], [2], [7]]))  # fmt: skip
    with pytest.raises(ValueError, match="no 'label' column"):
        E.evaluate_ranker(TinyRanker(), [{"item_ids": torch.arange(3)}])


# ---------------------------------------------------------------------------------------------------
# The docs example runs and prints what the page says
# ---------------------------------------------------------------------------------------------------


def test_docs_snippet_runs_and_prints_the_hand_computed_numbers():
    out = io.StringIO()
    with redirect_stdout(out):
        runpy.run_path(str(SNIPPET), run_name="__main__")
    lines = dict(line.split(": ", 1) for line in out.getvalue().strip().splitlines())
    g1 = 1 / math.log2(3)  # NDCG gain of position 1 (position 0 gains 1; at K=2 later ones 0)

    def line(hr, ndcg, rr):
        return f"hr@2={hr:.3f} ndcg@2={ndcg:.3f} mrr={rr:.3f}"

    # seen filtered: user 0 at position 0; users 1 and 2 tie with one item at positions 0-1
    assert lines["full, seen filtered"] == line(
        1, (1 + 2 * (1 + g1) / 2) / 3, (1 + 0.75 + 0.75) / 3
    )
    # unfiltered: user 0 at 1; user 1 at 1-2; user 2 at 2-3
    assert lines["full, unfiltered"] == line(
        (1 + 0.5 + 0) / 3,
        (g1 + g1 / 2) / 3,
        (1 / 2 + (1 / 2 + 1 / 3) / 2 + (1 / 3 + 1 / 4) / 2) / 3,
    )
    # fixed negatives: users 0 and 1 at position 1, user 2 at 0-1
    assert lines["fixed negatives"] == line(1, (2 * g1 + (1 + g1) / 2) / 3, (0.5 + 0.5 + 0.75) / 3)
    # constant scores over 5 items: uniform over positions 0-4
    assert lines["constant model"] == line(2 / 5, (1 + g1) / 5, sum(1 / p for p in range(1, 6)) / 5)
    assert lines["constant model, optimistic"] == line(1, 1, 1)
    logits = [2.0, -1.0, 0.5, 1.0, 0.3, -0.2]
    labels = [1, 0, 0, 1, 1, 1]
    logloss = sum(math.log1p(math.exp(-z if y else z)) for z, y in zip(logits, labels)) / 6
    # AUC: 6 of the 8 (positive, negative) pairs are ordered right
    assert (
        lines["ctr"] == f"auc=0.750 logloss={logloss:.3f} gauc=1.000 skipped=1 groups/2 impressions"
    )


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_evaluation_page_shows_what_the_snippet_prints(lang):
    out = io.StringIO()
    with redirect_stdout(out):
        runpy.run_path(str(SNIPPET), run_name="__main__")
    page = (SNIPPET.parent.parent / lang / "evaluation.md").read_text(encoding="utf-8")
    assert '--8<-- "docs/snippets/evaluation_example.py"' in page
    shown = page.split("```text\n", 1)[1].split("```", 1)[0]
    assert shown == out.getvalue()


def test_seen_items_from_the_data_package_are_accepted_when_ids_line_up():
    from recnotes.data.sampling import SeenItems

    user_vectors, item_vectors, targets, seen = small_problem(12)
    users = torch.cat([torch.full((len(s),), u) for u, s in enumerate(seen)])
    items = torch.cat(seen)
    table = SeenItems.from_pairs(users, items, num_items=11)
    expected = E.full_ranking(user_vectors, item_vectors, targets, seen)
    assert E.full_ranking(user_vectors, item_vectors, targets, table) == expected
    # id 0 as padding: a table of the real ids 1..10 built with first_id=1 stores id - 1, so it
    # covers one item fewer than the 11 item columns and is rejected, never silently shifted
    real = items > 0
    shifted = SeenItems.from_pairs(users[real], items[real], num_items=10, first_id=1)
    with pytest.raises(ValueError, match="seen covers 10 items"):
        E.full_ranking(user_vectors, item_vectors, targets, shifted)


def test_fixed_negatives_containing_the_target_raise_or_are_left_out():
    """NCF's published negatives hold the test item for some users; 'ignore' ranks against the rest."""
    from recnotes.evaluate import dot_scorer, sampled_ranking

    items = torch.tensor([[0.0], [1.0], [2.0], [3.0], [4.0]])
    scorer = dot_scorer(torch.ones(2, 1), items)
    targets = torch.tensor([2, 1])
    negatives = torch.tensor([[2, 4, 0], [0, 3, 4]])  # user 0's negatives contain its target 2
    with pytest.raises(ValueError, match="contain its target"):
        sampled_ranking(scorer, targets, negatives, ks=(1,))
    r = sampled_ranking(scorer, targets, negatives, ks=(1, 2), target_in_negatives="ignore")
    # user 0: target score 2 vs {4, 0} (the copy of 2 is left out) -> 1 higher, no tie: rank 2
    # user 1: target score 1 vs {0, 3, 4} -> 2 higher: rank 3
    assert r["hr@1"] == 0.0 and r["hr@2"] == 0.5
    assert r["mrr"] == pytest.approx((1 / 2 + 1 / 3) / 2)
    with pytest.raises(ValueError, match="target_in_negatives"):
        sampled_ranking(scorer, targets, negatives, target_in_negatives="drop")
