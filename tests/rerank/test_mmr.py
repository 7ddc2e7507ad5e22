"""MMR: the equation of its note against a loop, lambda = 1 is top-k, lambda = 0 on a hand-made
example, the zero-vector rule, bad input and the try-it snippet."""

from __future__ import annotations

import math
import re
import runpy
from pathlib import Path

import pytest
import torch

from recnotes.metrics import ild
from recnotes.rerank import MMRConfig, mmr_rerank

REPO = Path(__file__).resolve().parents[2]


def loop_mmr(scores: list[float], vectors: list[list[float]], k: int, lam: float) -> list[int]:
    """Eq. (1) as written, one candidate at a time, in plain Python (cosine by hand; the first pick
    has an empty list, so its similarity term is 0)."""

    def cos(a: list[float], b: list[float]) -> float:
        na, nb = math.sqrt(sum(x * x for x in a)), math.sqrt(sum(x * x for x in b))
        return 0.0 if na == 0 or nb == 0 else sum(x * y for x, y in zip(a, b)) / (na * nb)

    picked: list[int] = []
    while len(picked) < k:
        best, best_value = -1, -math.inf
        for i in range(len(scores)):
            if i in picked:
                continue
            redundancy = max((cos(vectors[i], vectors[j]) for j in picked), default=0.0)
            value = lam * scores[i] - (1 - lam) * redundancy
            if value > best_value:
                best, best_value = i, value
        picked.append(best)
    return picked


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("lam", [0.2, 0.5, 0.8])
def test_mmr_picks_what_the_formula_picks_one_candidate_at_a_time(seed, lam):
    gen = torch.Generator().manual_seed(seed)
    scores = torch.randn(40, generator=gen, dtype=torch.float64)
    vectors = torch.randn(40, 6, generator=gen, dtype=torch.float64)
    order = mmr_rerank(scores, vectors, 12, MMRConfig(lambda_=lam))
    assert order.tolist() == loop_mmr(scores.tolist(), vectors.tolist(), 12, lam)


def test_lambda_one_is_the_stable_descending_sort_ties_to_the_lower_index():
    scores = torch.tensor([0.5, 0.9, 0.5, 0.1, 0.9, 0.7])
    vectors = torch.ones(6, 3)  # all identical: any similarity penalty would reorder them
    order = mmr_rerank(scores, vectors, 5, MMRConfig(lambda_=1.0))
    assert order.tolist() == [1, 4, 5, 0, 2]  # 0.9, 0.9 (lower index first), 0.7, 0.5, 0.5
    gen = torch.Generator().manual_seed(3)
    scores = torch.randint(0, 5, (50,), generator=gen).float()  # many ties
    vectors = torch.randn(50, 8, generator=gen)
    expected = torch.sort(scores, descending=True, stable=True).indices[:20]
    assert torch.equal(mmr_rerank(scores, vectors, 20, MMRConfig(lambda_=1.0)), expected)


def test_lambda_zero_starts_from_the_best_item_then_takes_the_least_similar():
    scores = torch.tensor([0.9, 0.8, 0.1, 0.2, 0.5])
    vectors = torch.tensor([[1.0, 0.0], [1.0, 0.05], [0.0, 1.0], [-1.0, 0.0], [0.7, 0.7]])
    # By hand: 0 has the best score. Largest cosine to {0}: 1 -> 0.999, 2 -> 0, 3 -> -1, 4 -> 0.707,
    # so 3 (opposite) comes next; adding 3 lowers no maximum, and 2 (0) beats 4 (0.707) and 1.
    # Adding 2 leaves 4 at 0.707 and 1 at 0.999.
    order = mmr_rerank(scores, vectors, 5, MMRConfig(lambda_=0.0))
    assert order.tolist() == [0, 3, 2, 4, 1]


def test_a_zero_vector_is_similar_to_nothing():
    scores = torch.tensor([1.0, 0.9, 0.5])
    vectors = torch.tensor([[1.0, 0.0], [2.0, 0.0], [0.0, 0.0]])
    # lambda 0.5: after 0, the twin 1 scores 0.45 - 0.5 * 1 = -0.05, the zero vector 0.25 - 0 = 0.25
    assert mmr_rerank(scores, vectors, 3).tolist() == [0, 2, 1]


def test_diversity_costs_score_and_buys_ild_on_clusters():
    """Two tight clusters; the better one holds all the top scores."""
    gen = torch.Generator().manual_seed(0)
    a = torch.tensor([1.0, 0.0, 0.0]) + 0.05 * torch.randn(10, 3, generator=gen)
    b = torch.tensor([0.0, 1.0, 0.0]) + 0.05 * torch.randn(10, 3, generator=gen)
    vectors = torch.cat([a, b])
    scores = torch.cat([2.0 + torch.rand(10, generator=gen), torch.rand(10, generator=gen)])
    top = mmr_rerank(scores, vectors, 4, MMRConfig(lambda_=1.0))
    diverse = mmr_rerank(scores, vectors, 4, MMRConfig(lambda_=0.3))
    assert (top < 10).all()  # top-k stays in the better cluster
    assert (diverse >= 10).any() and (diverse < 10).any()
    assert scores[top].sum() > scores[diverse].sum()
    assert ild(vectors[diverse]) > ild(vectors[top]) + 0.2


def test_output_is_k_distinct_long_indices():
    gen = torch.Generator().manual_seed(1)
    order = mmr_rerank(torch.randn(30, generator=gen), torch.randn(30, 4, generator=gen), 30)
    assert order.dtype == torch.long and order.shape == (30,)
    assert sorted(order.tolist()) == list(range(30))


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: mmr_rerank(torch.zeros(0), torch.zeros(0, 3), 1), "empty"),
        (lambda: mmr_rerank(torch.zeros(3), torch.ones(3, 2), 4), "k must be at most"),
        (lambda: mmr_rerank(torch.zeros(3), torch.ones(3, 2), 0), "k must be an integer >= 1"),
        (lambda: mmr_rerank(torch.zeros(3), torch.ones(4, 2), 2), "scores has 3 entries"),
        (lambda: mmr_rerank(torch.tensor([0.1, math.nan]), torch.ones(2, 2), 1), "finite"),
        (lambda: mmr_rerank(torch.tensor([0.1, math.inf]), torch.ones(2, 2), 1), "finite"),
        (lambda: mmr_rerank(torch.zeros(2, 1), torch.ones(2, 2), 1), "scores must be 1-D"),
        (lambda: MMRConfig(lambda_=-0.1), "lambda_ must be between 0 and 1"),
        (lambda: MMRConfig(lambda_=math.nan), "lambda_ must be a finite number"),
    ],
)
def test_bad_input_is_a_named_value_error(call, message):
    with pytest.raises(ValueError, match=message):
        call()


def test_try_it_snippet_runs_and_diversity_grows_as_lambda_falls(capsys):
    runpy.run_path(str(REPO / "docs" / "snippets" / "mmr_try.py"), run_name="__main__")
    lines = capsys.readouterr().out.strip().splitlines()
    rows = [
        re.search(r"mean score ([\d.-]+), ILD@10 ([\d.]+), categories (\d+)", line).groups()
        for line in lines
    ]
    (s1, ild1, c1), (_, ild2, _), (s3, ild3, c3) = [
        (float(a), float(b), int(c)) for a, b, c in rows
    ]
    assert len(lines) == 3 and lines[0].startswith("lambda 1.0")
    assert s1 > s3  # plain top-k has the best mean score
    assert ild1 <= ild2 <= ild3 and ild3 > ild1 + 0.05
    assert c3 > c1
