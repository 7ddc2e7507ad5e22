"""Metrics against independent references: scikit-learn where it has the metric, hand-worked
examples, and brute-force enumeration of every tie-break order for the tie rules."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
import torch
from sklearn.metrics import log_loss as sk_log_loss
from sklearn.metrics import ndcg_score, roc_auc_score, top_k_accuracy_score

from recnotes import metrics as M

# ---------------------------------------------------------------------------------------------------
# AUC, GAUC, LogLoss
# ---------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("seed", range(5))
def test_auc_matches_sklearn_with_ties(seed):
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 2, 300)
    scores = np.round(rng.normal(size=300), 1)  # rounding makes many ties
    assert M.auc(torch.tensor(labels), torch.tensor(scores)) == pytest.approx(
        roc_auc_score(labels, scores), abs=1e-12
    )


def test_auc_hand_worked_and_label_types():
    # positives 0.35 and 0.8 vs negatives 0.1 and 0.4: pairs won 1 + 1 + 0 + 1 = 3 of 4
    scores = torch.tensor([0.1, 0.4, 0.35, 0.8])
    for labels in ([0, 0, 1, 1], [False, False, True, True], [0.0, 0.0, 1.0, 1.0]):
        assert M.auc(torch.tensor(labels), scores) == 0.75
    assert M.auc(torch.tensor([1, 0, 1, 0]), torch.zeros(4)) == 0.5  # all tied: chance


def test_gauc_hand_worked_with_a_skipped_group():
    # group 7: positive 0.8 vs negatives 0.3 (won) and 0.8 (tie, half) -> AUC 0.75 over 3 rows
    # group 3: positive 0.1 vs negative 0.9 -> AUC 0 over 2 rows
    # group 5: only positives -> skipped (2 rows)
    labels = torch.tensor([1, 0, 1, 0, 1, 0, 1])
    scores = torch.tensor([0.8, 0.9, 0.2, 0.3, 0.1, 0.8, 0.4])
    groups = torch.tensor([7, 3, 5, 7, 3, 7, 5])
    result = M.gauc(labels, scores, groups)
    assert result.value == pytest.approx((3 * 0.75 + 2 * 0.0) / 5)
    assert (result.groups, result.impressions) == (2, 5)
    assert (result.skipped_groups, result.skipped_impressions) == (1, 2)


def test_gauc_matches_a_loop_over_groups_with_sklearn():
    rng = np.random.default_rng(0)
    n = 2000
    groups = rng.integers(-50, 150, n)  # any integer ids, unsorted
    labels = rng.integers(0, 2, n)
    scores = np.round(rng.normal(size=n), 1)
    weighted, weight, skipped, skipped_rows = 0.0, 0, 0, 0
    for g in np.unique(groups):
        rows = groups == g
        if len(np.unique(labels[rows])) < 2:
            skipped, skipped_rows = skipped + 1, skipped_rows + rows.sum()
            continue
        weighted += rows.sum() * roc_auc_score(labels[rows], scores[rows])
        weight += rows.sum()
    result = M.gauc(torch.tensor(labels), torch.tensor(scores), torch.tensor(groups))
    assert result.value == pytest.approx(weighted / weight, abs=1e-12)
    assert result.impressions == weight
    assert (result.skipped_groups, result.skipped_impressions) == (skipped, skipped_rows)
    assert skipped > 0  # the data really exercises the skipping rule


def test_gauc_with_every_group_single_class_is_an_error():
    with pytest.raises(ValueError, match="single class"):
        M.gauc(torch.tensor([1, 1, 0]), torch.tensor([0.1, 0.2, 0.3]), torch.tensor([0, 0, 1]))


def test_log_loss_matches_sklearn_from_logits_and_from_probabilities():
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 2, 500)
    logits = rng.normal(scale=3.0, size=500)
    probs = 1 / (1 + np.exp(-logits))
    expected = sk_log_loss(labels, probs)
    assert M.log_loss(torch.tensor(labels), torch.tensor(logits)) == pytest.approx(
        expected, rel=1e-9
    )
    assert M.log_loss(
        torch.tensor(labels), torch.tensor(probs), from_logits=False
    ) == pytest.approx(expected, rel=1e-9)


def test_log_loss_is_finite_for_extreme_logits_and_clamps_probabilities():
    # from logits: exact, softplus(800) = 800
    assert M.log_loss(torch.tensor([0, 1]), torch.tensor([800.0, 800.0])) == pytest.approx(400.0)
    # from probabilities: a certain mistake costs -log(eps)
    value = M.log_loss(torch.tensor([1]), torch.tensor([0.0]), from_logits=False, eps=1e-7)
    assert value == pytest.approx(-math.log(1e-7))


# ---------------------------------------------------------------------------------------------------
# Rank counts and the tie rules
# ---------------------------------------------------------------------------------------------------

# One user, five candidates, the target (index 2) tied with two others:
# higher = 1 (the 0.9), ties = 2, so the target is at 0-based position 1, 2 or 3.
TIE_SCORES = torch.tensor([[0.9, 0.5, 0.5, 0.5, 0.1]])
TIE_TARGET = torch.tensor([2])


def test_rank_counts_hand_worked():
    higher, ties = M.target_rank_counts(TIE_SCORES, TIE_TARGET)
    assert higher.tolist() == [1] and ties.tolist() == [2]
    exclude = torch.tensor([[False, True, True, False, False]])  # index 2 is the target: kept
    higher, ties = M.target_rank_counts(TIE_SCORES, TIE_TARGET, exclude)
    assert higher.tolist() == [1] and ties.tolist() == [1]


def test_rank_counts_treat_minus_inf_as_a_score():
    scores = torch.tensor([[float("-inf"), 1.0, float("-inf"), float("-inf")]])
    higher, ties = M.target_rank_counts(scores, torch.tensor([0]))
    assert (higher.item(), ties.item()) == (1, 2)


@pytest.mark.parametrize(
    ("rule", "hr2", "ndcg3", "rr"),
    [
        # average over positions 1, 2, 3
        ("average", 1 / 3, (1 / math.log2(3) + 1 / math.log2(4)) / 3, (1 / 2 + 1 / 3 + 1 / 4) / 3),
        ("optimistic", 1.0, 1 / math.log2(3), 1 / 2),  # position 1
        ("pessimistic", 0.0, 0.0, 1 / 4),  # position 3
    ],
)
def test_tie_rules_hand_worked(rule, hr2, ndcg3, rr):
    higher, ties = M.target_rank_counts(TIE_SCORES, TIE_TARGET)
    assert M.hit_rate_at_k(higher, ties, 2, tie_rule=rule) == pytest.approx(hr2)
    assert M.ndcg_at_k(higher, ties, 3, tie_rule=rule) == pytest.approx(ndcg3)
    assert M.mrr(higher, ties, tie_rule=rule) == pytest.approx(rr)


def _positions_over_all_tie_breaks(scores: list[float], target: int) -> list[int]:
    """0-based position of the target under every strict order that respects the scores."""
    positions = []
    for priority in itertools.permutations(range(len(scores))):
        order = sorted(range(len(scores)), key=lambda j: (-scores[j], priority[j]))
        positions.append(order.index(target))
    return positions


def test_tie_rules_equal_mean_min_and_max_over_every_tie_break():
    rng = np.random.default_rng(1)
    scores = rng.integers(0, 3, size=(12, 6)).astype(float)  # small integers: many ties
    targets = rng.integers(0, 6, size=12)
    higher, ties = M.target_rank_counts(torch.tensor(scores), torch.tensor(targets))
    gains = {
        "hr@2": lambda p: float(p < 2),
        "ndcg@3": lambda p: 1 / math.log2(p + 2) if p < 3 else 0.0,
        "mrr": lambda p: 1 / (p + 1),
    }
    ours = {
        "hr@2": lambda rule: M.hit_rate_at_k(higher, ties, 2, tie_rule=rule, reduction="none"),
        "ndcg@3": lambda rule: M.ndcg_at_k(higher, ties, 3, tie_rule=rule, reduction="none"),
        "mrr": lambda rule: M.mrr(higher, ties, tie_rule=rule, reduction="none"),
    }
    for name, gain in gains.items():
        per_row = [
            [gain(p) for p in _positions_over_all_tie_breaks(list(row), int(t))]
            for row, t in zip(scores, targets)
        ]
        for rule, reduce in (("average", np.mean), ("pessimistic", np.min), ("optimistic", np.max)):
            expected = [reduce(values) for values in per_row]
            np.testing.assert_allclose(ours[name](rule).numpy(), expected, atol=1e-12, err_msg=name)


@pytest.mark.parametrize("k", [1, 3, 10])
def test_ndcg_average_rule_matches_sklearn_tie_averaging(k):
    rng = np.random.default_rng(k)
    users, items = 40, 12
    scores = rng.integers(0, 4, size=(users, items)).astype(float)
    targets = rng.integers(0, items, size=users)
    relevance = np.zeros((users, items))
    relevance[np.arange(users), targets] = 1
    higher, ties = M.target_rank_counts(torch.tensor(scores), torch.tensor(targets))
    expected = ndcg_score(relevance, scores, k=k, ignore_ties=False)
    assert M.ndcg_at_k(higher, ties, k) == pytest.approx(expected, abs=1e-12)


@pytest.mark.parametrize("k", [1, 2, 5])
def test_hit_rate_matches_sklearn_top_k_accuracy_without_ties(k):
    rng = np.random.default_rng(k)
    scores = rng.normal(size=(200, 8))  # continuous: no ties, so tie handling cannot matter
    targets = rng.integers(0, 8, size=200)
    higher, ties = M.target_rank_counts(torch.tensor(scores), torch.tensor(targets))
    expected = top_k_accuracy_score(targets, scores, k=k, labels=np.arange(8))
    assert M.hit_rate_at_k(higher, ties, k) == pytest.approx(expected)


def test_mrr_hand_worked_with_cutoff():
    higher, ties = torch.tensor([0, 1, 4]), torch.tensor([0, 0, 0])
    assert M.mrr(higher, ties) == pytest.approx((1 + 1 / 2 + 1 / 5) / 3)
    assert M.mrr(higher, ties, k=2) == pytest.approx((1 + 1 / 2 + 0) / 3)


def test_random_scores_give_hit_rate_k_over_n():
    gen = torch.Generator().manual_seed(0)
    users, items, k = 20000, 100, 10
    scores = torch.rand(users, items, generator=gen)
    targets = torch.randint(0, items, (users,), generator=gen)
    higher, ties = M.target_rank_counts(scores, targets)
    # binomial standard error sqrt(0.1 * 0.9 / 20000) = 0.0021
    assert M.hit_rate_at_k(higher, ties, k) == pytest.approx(k / items, abs=0.01)


def test_constant_scores_never_look_perfect():
    users, items, k = 5, 100, 10
    higher, ties = M.target_rank_counts(torch.zeros(users, items), torch.arange(users))
    assert M.hit_rate_at_k(higher, ties, k) == pytest.approx(k / items, abs=1e-15)
    expected_ndcg = sum(1 / math.log2(p + 2) for p in range(k)) / items
    assert M.ndcg_at_k(higher, ties, k) == pytest.approx(expected_ndcg, rel=1e-12)
    assert M.mrr(higher, ties) == pytest.approx(sum(1 / p for p in range(1, items + 1)) / items)
    assert M.hit_rate_at_k(higher, ties, k, tie_rule="pessimistic") == 0.0
    assert M.hit_rate_at_k(higher, ties, k, tie_rule="optimistic") == 1.0


# ---------------------------------------------------------------------------------------------------
# Recall@K and Precision@K with several relevant items
# ---------------------------------------------------------------------------------------------------

# Top 3 of [0.9, 0.8, 0.7, 0.7, 0.1]: indices 0 and 1, then one slot for the tie 2/3.
MULTI_SCORES = torch.tensor([[0.9, 0.8, 0.7, 0.7, 0.1]])
MULTI_RELEVANT = torch.tensor([[False, True, True, False, True]])


@pytest.mark.parametrize(
    ("rule", "hits"),
    [("average", 1.5), ("optimistic", 2.0), ("pessimistic", 1.0)],
)
def test_recall_and_precision_hand_worked(rule, hits):
    recall = M.recall_at_k(MULTI_SCORES, MULTI_RELEVANT, 3, tie_rule=rule)
    precision = M.precision_at_k(MULTI_SCORES, MULTI_RELEVANT, 3, tie_rule=rule)
    assert recall == pytest.approx(hits / 3)  # 3 relevant items
    assert precision == pytest.approx(hits / 3)  # K = 3


def test_recall_and_precision_equal_mean_min_max_over_tie_breaks():
    rng = np.random.default_rng(2)
    scores = rng.integers(0, 3, size=(10, 6)).astype(float)
    relevant = rng.random((10, 6)) < 0.4
    relevant[np.arange(10), rng.integers(0, 6, 10)] = True  # every row has a relevant item
    k = 2
    for rule, reduce in (("average", np.mean), ("pessimistic", np.min), ("optimistic", np.max)):
        expected = []
        for row, rel in zip(scores, relevant):
            hits = []
            for priority in itertools.permutations(range(6)):
                top = sorted(range(6), key=lambda j: (-row[j], priority[j]))[:k]
                hits.append(sum(rel[j] for j in top))
            expected.append(reduce(hits))
        ours = M.recall_at_k(
            torch.tensor(scores), torch.tensor(relevant), k, tie_rule=rule, reduction="none"
        )
        np.testing.assert_allclose(ours.numpy(), np.array(expected) / relevant.sum(1), atol=1e-12)
        ours = M.precision_at_k(
            torch.tensor(scores), torch.tensor(relevant), k, tie_rule=rule, reduction="none"
        )
        np.testing.assert_allclose(ours.numpy(), np.array(expected) / k, atol=1e-12)


def test_recall_with_one_relevant_item_is_hit_rate():
    gen = torch.Generator().manual_seed(3)
    scores = torch.randint(0, 5, (50, 20), generator=gen).float()
    targets = torch.randint(0, 20, (50,), generator=gen)
    relevant = torch.zeros(50, 20, dtype=torch.bool)
    relevant[torch.arange(50), targets] = True
    higher, ties = M.target_rank_counts(scores, targets)
    for k in (1, 5, 25):
        assert M.recall_at_k(scores, relevant, k) == pytest.approx(M.hit_rate_at_k(higher, ties, k))


# ---------------------------------------------------------------------------------------------------
# ILD and coverage
# ---------------------------------------------------------------------------------------------------


def test_ild_hand_worked():
    assert M.ild(torch.eye(4)) == pytest.approx(1.0)  # orthogonal
    assert M.ild(torch.ones(3, 5)) == pytest.approx(0.0)  # identical
    assert M.ild(torch.tensor([[1.0, 0.0], [-2.0, 0.0]])) == pytest.approx(2.0)  # opposite
    # (1,0), (0,1), (1,1): distances 1, 1 - 1/sqrt2, 1 - 1/sqrt2
    three = torch.tensor([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]])
    assert M.ild(three) == pytest.approx((3 - 2 / math.sqrt(2)) / 3)


def test_ild_batched_and_scale_invariant():
    lists = torch.stack([torch.eye(3), torch.ones(3, 3), 5 * torch.eye(3)])
    np.testing.assert_allclose(M.ild(lists, reduction="none").numpy(), [1.0, 0.0, 1.0], atol=1e-12)
    assert M.ild(lists) == pytest.approx(2 / 3)


def test_coverage_hand_worked():
    assert M.coverage(torch.tensor([[0, 1], [1, 2], [2, 0]]), num_items=6) == 0.5
    assert M.coverage(torch.arange(4), num_items=4) == 1.0


# ---------------------------------------------------------------------------------------------------
# Bad inputs name the argument
# ---------------------------------------------------------------------------------------------------

H, T = torch.tensor([0, 1]), torch.tensor([0, 0])


@pytest.mark.parametrize(
    ("call", "match"),
    [
        (lambda: M.auc(torch.tensor([0, 1]), torch.tensor([0.1, 0.2, 0.3])), "labels"),
        (lambda: M.auc(torch.tensor([0, 2]), torch.tensor([0.1, 0.2])), "labels must be 0 or 1"),
        (lambda: M.auc(torch.tensor([1, 1]), torch.tensor([0.1, 0.2])), "single class"),
        (lambda: M.auc(torch.tensor([]), torch.tensor([])), "empty"),
        (
            lambda: M.auc(torch.tensor([0, 1]), torch.tensor([0.1, float("nan")])),
            "scores contains NaN",
        ),
        (
            lambda: M.gauc(torch.tensor([0, 1]), torch.tensor([0.1, 0.2]), torch.tensor([0])),
            "groups",
        ),
        (
            lambda: M.gauc(
                torch.tensor([0, 1]), torch.tensor([0.1, 0.2]), torch.tensor([0.5, 1.0])
            ),
            "groups",
        ),
        (
            lambda: M.log_loss(torch.tensor([0, 1]), torch.tensor([0.5, 1.5]), from_logits=False),
            "probabilities",
        ),
        (
            lambda: M.log_loss(
                torch.tensor([0, 1]), torch.tensor([0.5, 0.5]), from_logits=False, eps=0.0
            ),
            "eps",
        ),
        (lambda: M.target_rank_counts(torch.zeros(2, 3), torch.tensor([0, 3])), "targets"),
        (lambda: M.target_rank_counts(torch.zeros(2, 3), torch.tensor([0])), "targets"),
        (lambda: M.target_rank_counts(torch.zeros(3), torch.tensor([0])), "scores"),
        (lambda: M.target_rank_counts(torch.full((1, 2), float("nan")), torch.tensor([0])), "NaN"),
        (
            lambda: M.target_rank_counts(
                torch.zeros(1, 2), torch.tensor([0]), torch.zeros(1, 3, dtype=torch.bool)
            ),
            "exclude",
        ),
        (lambda: M.hit_rate_at_k(H, T, 0), "k must be"),
        (lambda: M.hit_rate_at_k(H, T, 2.0), "k must be"),
        (lambda: M.hit_rate_at_k(H, T, 5, tie_rule="random"), "tie_rule"),
        (lambda: M.hit_rate_at_k(H, T, 5, reduction="sum"), "reduction"),
        (lambda: M.ndcg_at_k(H, torch.tensor([0]), 5), "same shape"),
        (lambda: M.ndcg_at_k(torch.tensor([-1, 0]), T, 5), "higher must be >= 0"),
        (lambda: M.mrr(H.float(), T), "higher must hold integer"),
        (lambda: M.mrr(H, T, k=0), "k must be"),
        (lambda: M.recall_at_k(MULTI_SCORES, MULTI_RELEVANT.int(), 3), "relevant must be a bool"),
        (
            lambda: M.recall_at_k(MULTI_SCORES, MULTI_RELEVANT[:, :4], 3),
            "relevant must have the shape",
        ),
        (
            lambda: M.recall_at_k(MULTI_SCORES, torch.zeros(1, 5, dtype=torch.bool), 3),
            "no relevant",
        ),
        (lambda: M.precision_at_k(MULTI_SCORES, MULTI_RELEVANT, 0), "k must be"),
        (lambda: M.ild(torch.ones(1, 3)), "at least 2"),
        (lambda: M.ild(torch.tensor([[1.0, 0.0], [0.0, 0.0]])), "zero vector"),
        (lambda: M.ild(torch.ones(3)), "item_vectors"),
        (lambda: M.coverage(torch.tensor([0, 6]), num_items=6), "recommended"),
        (lambda: M.coverage(torch.tensor([0.0]), num_items=6), "recommended"),
        (lambda: M.coverage(torch.tensor([0]), num_items=0), "num_items"),
    ],
)
def test_bad_inputs_raise_a_clear_value_error(call, match):
    with pytest.raises(ValueError, match=match):
        call()
