"""DPP: fast greedy MAP against brute-force log-det greedy, the sliding window, the kernel of
Eqs. (3)-(4), the trade-off theta, the stopping rule, bad input, speed and the try-it snippet."""

from __future__ import annotations

import math
import re
import runpy
import time
from pathlib import Path

import pytest
import torch

from recnotes.metrics import ild
from recnotes.rerank import (
    DPPConfig,
    dpp_greedy_map,
    dpp_kernel,
    dpp_rerank,
    naive_greedy_logdet,
)

REPO = Path(__file__).resolve().parents[2]


def random_kernel(seed: int, n: int = 25, rank: int | None = None) -> torch.Tensor:
    """A random PSD kernel ``B B^T / r`` in float64 (full rank unless ``rank`` is given)."""
    gen = torch.Generator().manual_seed(seed)
    b = torch.randn(n, rank or n, generator=gen, dtype=torch.float64)
    return b @ b.T / (rank or n)


def candidates(seed: int, n: int = 30, dim: int = 8) -> tuple[torch.Tensor, torch.Tensor]:
    gen = torch.Generator().manual_seed(seed)
    scores = torch.randn(n, generator=gen, dtype=torch.float64)
    return scores, torch.randn(n, dim, generator=gen, dtype=torch.float64)


# -- Algorithm 1 and 2 against brute force -------------------------------------------------------
@pytest.mark.parametrize("seed", range(5))
def test_fast_greedy_picks_what_naive_log_det_greedy_picks(seed):
    kernel = random_kernel(seed)
    fast = dpp_greedy_map(kernel, 12)
    assert fast.tolist() == naive_greedy_logdet(kernel, 12).tolist()
    assert len(set(fast.tolist())) == 12


@pytest.mark.parametrize("seed", range(3))
@pytest.mark.parametrize("window", [1, 2, 3, 5])
def test_sliding_window_picks_what_naive_windowed_log_det_greedy_picks(seed, window):
    kernel = random_kernel(seed + 10)
    fast = dpp_greedy_map(kernel, 15, window=window)
    assert fast.tolist() == naive_greedy_logdet(kernel, 15, window=window).tolist()


def test_a_window_changes_the_picks():
    """Not a no-op: a short window lets an item that repeats an old pick back in."""
    kernel = random_kernel(0)
    assert dpp_greedy_map(kernel, 15, window=2).tolist() != dpp_greedy_map(kernel, 15).tolist()


@pytest.mark.parametrize("window", [12, 13, 50])
def test_a_window_of_at_least_k_is_the_full_algorithm(window):
    kernel = random_kernel(4)
    assert torch.equal(dpp_greedy_map(kernel, 12, window=window), dpp_greedy_map(kernel, 12))
    scores, vectors = candidates(2)
    full = dpp_rerank(scores, vectors, 8, DPPConfig(theta=0.6))
    assert torch.equal(dpp_rerank(scores, vectors, 8, DPPConfig(theta=0.6, window=window)), full)


def test_window_one_is_top_k_by_score():
    """With w = 1 no pick repels the next, so the gain is L_ii = r_i^2, increasing in the score."""
    scores, vectors = candidates(3)
    order = dpp_rerank(scores, vectors, 10, DPPConfig(theta=0.5, window=1))
    assert torch.equal(order, torch.sort(scores, descending=True).indices[:10])


def test_the_log_det_of_the_chosen_set_matches_its_gains():
    """det(L_Y) is the product of the gains d_j^2 (Eq. 5): check the fast picks are no worse
    than brute force and the set's log-det is what slogdet says."""
    kernel = random_kernel(7)
    order = dpp_greedy_map(kernel, 8)
    sub = kernel[order][:, order]
    sign, logdet = torch.linalg.slogdet(sub)
    assert sign > 0
    gains = [torch.linalg.det(kernel[order[: t + 1]][:, order[: t + 1]]) for t in range(8)]
    ratios = [gains[0]] + [gains[t] / gains[t - 1] for t in range(1, 8)]
    assert all(a >= b - 1e-9 for a, b in zip(ratios, ratios[1:]))  # greedy gains never grow
    torch.testing.assert_close(torch.log(torch.stack(ratios)).sum(), logdet)


# -- the re-ranker: Eqs. (3)-(4) ------------------------------------------------------------------
@pytest.mark.parametrize("theta", [0.0, 0.3, 0.8])
def test_the_reranker_equals_greedy_map_on_the_explicit_kernel(theta):
    scores, vectors = candidates(5, n=40, dim=12)
    scores, by_score = torch.sort(scores, descending=True)  # as ranking hands them over, so that
    vectors = vectors[by_score]  # ties (all r_i = 1 at theta = 0) go to the same item both ways
    vectors[7] = 0.0  # a zero vector: S_77 = 1, orthogonal to the rest
    kernel = dpp_kernel(scores, vectors, theta)
    assert torch.linalg.eigvalsh(kernel).min() > -1e-12  # PSD
    for window in (None, 3):
        ours = dpp_rerank(scores, vectors, 10, DPPConfig(theta=theta, window=window))
        assert ours.tolist() == naive_greedy_logdet(kernel, 10, window=window).tolist()


def test_kernel_log_det_is_the_theta_trade_off():
    """Eq. (4): (1 - theta) log det L_Y = theta sum_Y (s - max s) + (1 - theta) log det S_Y."""
    scores, vectors = candidates(6, n=10, dim=10)
    unit = vectors / vectors.norm(dim=1, keepdim=True)
    y = torch.tensor([0, 3, 4, 8])
    for theta in (0.2, 0.5, 0.9):
        kernel = dpp_kernel(scores, vectors, theta)
        lhs = (1 - theta) * torch.linalg.slogdet(kernel[y][:, y]).logabsdet
        s_y = unit[y] @ unit[y].T
        rhs = (
            theta * (scores[y] - scores.max()).sum()
            + (1 - theta) * torch.linalg.slogdet(s_y).logabsdet
        )
        torch.testing.assert_close(lhs, rhs)


def test_shifting_every_score_changes_no_pick():
    scores, vectors = candidates(8)
    config = DPPConfig(theta=0.7, window=4)
    assert torch.equal(
        dpp_rerank(scores, vectors, 12, config), dpp_rerank(scores + 5.0, vectors, 12, config)
    )


def clusters() -> tuple[torch.Tensor, torch.Tensor]:
    """Three tight clusters of 8 items in 8-D; cluster 0 holds the best scores, cluster 2 the
    worst."""
    gen = torch.Generator().manual_seed(0)
    centres = torch.eye(8, dtype=torch.float64)[:3]
    vectors = torch.cat(
        [c + 0.1 * torch.randn(8, 8, generator=gen, dtype=torch.float64) for c in centres]
    )
    scores = torch.cat(
        [2.0 - 0.05 * torch.arange(8.0), 1.0 - 0.05 * torch.arange(8.0), -0.05 * torch.arange(8.0)]
    )
    return scores.double(), vectors


def test_theta_moves_the_list_from_diversity_to_relevance_monotonically():
    scores, vectors = clusters()
    thetas = [0.0, 0.3, 0.6, 0.8, 0.9, 0.95, 0.99]
    picks = [dpp_rerank(scores, vectors, 6, DPPConfig(theta=t)) for t in thetas]
    mean_score = [scores[p].mean().item() for p in picks]
    diversity = [ild(vectors[p]) for p in picks]
    assert all(a <= b + 1e-12 for a, b in zip(mean_score, mean_score[1:]))
    assert all(a >= b - 1e-12 for a, b in zip(diversity, diversity[1:]))
    assert mean_score[-1] > mean_score[0] + 0.5 and diversity[0] > diversity[-1] + 0.3
    assert set(picks[-1].tolist()) == set(range(6))  # theta -> 1: the top six, all in cluster 0
    assert picks[0][0] == 0  # theta = 0: every r = 1, the tie goes to the best score
    assert {int(i) // 8 for i in picks[0][:3]} == {0, 1, 2}  # ... then one item per cluster


# -- stopping, zero vectors -----------------------------------------------------------------------
def test_the_full_algorithm_stops_when_the_vectors_are_spanned_and_the_window_does_not():
    scores, vectors = candidates(9, n=30, dim=4)
    assert len(dpp_rerank(scores, vectors, 10)) == 4  # rank of S is D = 4
    assert len(dpp_rerank(scores, vectors, 10, DPPConfig(window=3))) == 10
    rank3 = random_kernel(1, n=20, rank=3)
    assert len(dpp_greedy_map(rank3, 10)) == 3
    assert naive_greedy_logdet(rank3, 10).tolist() == dpp_greedy_map(rank3, 10).tolist()


def test_a_duplicate_is_never_picked_but_a_zero_vector_is():
    scores = torch.tensor([1.0, 0.9, 0.2])
    vectors = torch.tensor([[1.0, 0.0], [3.0, 0.0], [0.0, 0.0]])
    assert dpp_rerank(scores, vectors, 3).tolist() == [0, 2]  # 1 repeats 0; 2 is orthogonal


def test_large_theta_does_not_underflow_into_an_early_stop():
    scores, vectors = candidates(11, n=50, dim=16)
    scores = scores * 3  # gaps of several units: r_i^2 = exp(2 alpha (s_i - max s)) is tiny
    order = dpp_rerank(scores, vectors, 10, DPPConfig(theta=0.95))
    assert len(order) == 10


# -- bad input ------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: dpp_rerank(torch.zeros(0), torch.zeros(0, 3), 1), "empty"),
        (lambda: dpp_rerank(torch.zeros(3), torch.ones(3, 2), 4), "k must be at most"),
        (lambda: dpp_rerank(torch.zeros(3), torch.ones(3, 2), 0), "k must be an integer >= 1"),
        (lambda: dpp_rerank(torch.zeros(3), torch.ones(2, 2), 1), "scores has 3 entries"),
        (lambda: dpp_rerank(torch.tensor([math.nan, 0.0]), torch.ones(2, 2), 1), "finite"),
        (lambda: DPPConfig(theta=1.0), r"theta must be in \[0, 1\)"),
        (lambda: DPPConfig(theta=-0.2), r"theta must be in \[0, 1\)"),
        (lambda: DPPConfig(window=0), "window must be None or an integer >= 1"),
        (lambda: DPPConfig(epsilon=-1.0), "epsilon must be"),
        (lambda: dpp_greedy_map(torch.ones(3, 2), 1), "kernel must be a non-empty square"),
        (lambda: dpp_greedy_map(torch.eye(3), 4), "k must be an integer between 1"),
    ],
)
def test_bad_input_is_a_named_value_error(call, message):
    with pytest.raises(ValueError, match=message):
        call()


# -- speed and the snippet ------------------------------------------------------------------------
def test_a_thousand_picks_from_five_thousand_stay_fast():
    """Generous bound (the issue's target is 2 s; see benchmarks/bench_rerank.py for the figures)."""
    gen = torch.Generator().manual_seed(0)
    vectors = torch.nn.functional.normalize(torch.randn(5000, 64, generator=gen), dim=1)
    scores = torch.randn(5000, generator=gen)
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        start = time.perf_counter()
        order = dpp_rerank(scores, vectors, 1000, DPPConfig(theta=0.5, window=10))
        elapsed = time.perf_counter() - start
    finally:
        torch.set_num_threads(before)
    assert len(order) == 1000 and elapsed < 20.0


def test_try_it_snippet_runs_and_trades_score_for_diversity(capsys):
    runpy.run_path(str(REPO / "docs" / "snippets" / "dpp_try.py"), run_name="__main__")
    lines = capsys.readouterr().out.strip().splitlines()
    pattern = r"(\d+) items, mean score ([\d.-]+), ILD@10 ([\d.]+), categories (\d+)"
    rows = [[float(x) for x in re.search(pattern, line).groups()] for line in lines]
    assert len(rows) == 4 and all(r[0] == 10 for r in rows)
    (_, s_high, ild_high, cat_high), _, (_, s_low, ild_low, cat_low), _ = rows
    assert s_high > s_low and ild_low > ild_high + 0.05 and cat_low > cat_high
